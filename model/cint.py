"""C integer semantics for the model: 32-bit `unsigned int` and `int`.

Python integers are unbounded; the kernel's length fields are not.  Every
conversion the C code makes implicitly is spelled out here so that a negative
errno stored into an unsigned length wraps exactly as it does on x86-64
(two's complement, GCC's implementation-defined narrowing).
"""

from __future__ import annotations

U32_MASK = 0xFFFF_FFFF
INT_MIN = -(1 << 31)
INT_MAX = (1 << 31) - 1

# errno values (include/uapi/asm-generic/errno-base.h, errno.h).
ENOENT = 2
EIO = 5
EEXIST = 17
E2BIG = 7
EAGAIN = 11
ENOMEM = 12
EINVAL = 22
ENOSPC = 28
ENOSYS = 38
EOVERFLOW = 75

ERRNO_NAMES = {
    ENOENT: "ENOENT",
    EIO: "EIO",
    EEXIST: "EEXIST",
    E2BIG: "E2BIG",
    EAGAIN: "EAGAIN",
    ENOMEM: "ENOMEM",
    EINVAL: "EINVAL",
    ENOSPC: "ENOSPC",
    ENOSYS: "ENOSYS",
    EOVERFLOW: "EOVERFLOW",
}


def u32(value: int) -> int:
    """Convert to `unsigned int`: reduce modulo 2**32.

    post: 0 <= __return__ < 2**32
    post: (__return__ - value) % 2**32 == 0
    """
    return value & U32_MASK


def s32(value: int) -> int:
    """Convert to `int`: the 32-bit two's complement reading of the low bits.

    post: -2**31 <= __return__ < 2**31
    post: (__return__ - value) % 2**32 == 0
    """
    value &= U32_MASK
    return value - (1 << 32) if value & 0x8000_0000 else value


def c_or(unsigned_value: int, signed_value: int) -> int:
    """`unsigned int | int`: the int converts to unsigned, the result is unsigned.

    An errno OR-ed into any length reads back as a negative int: v13's
    `sg->length | *errp` keeps the sign, though not the errno.

    post: 0 <= __return__ < 2**32
    post: s32(signed_value) >= 0 or s32(__return__) < 0
    """
    return u32(unsigned_value) | u32(signed_value)


def is_err_value(value: int) -> bool:
    """`IS_ERR_VALUE`: the last 4095 values of the address space hold errnos."""
    return u32(value) >= u32(-4095)


def errno_name(value: int) -> str:
    """`-EINVAL` for -22, the decimal value for anything that is not an errno."""
    if value < 0 and -value in ERRNO_NAMES:
        return f"-{ERRNO_NAMES[-value]}"
    return str(value)


def describe_u32(value: int) -> str:
    """An unsigned length as a debugger would show it, plus its `int` reading."""
    v = u32(value)
    signed = s32(v)
    if signed < 0:
        return f"{v} (int {signed} = {errno_name(signed)})"
    return str(v)

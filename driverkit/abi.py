"""The C driver interface of spec/zswap_acomp_driver.h as ctypes sees it, and
where the kit's own compiled objects (built-in drivers, seeded-bug drivers,
the fault reporter) are installed.

Only the process that runs a driver (`zswap_spec.driverkit.worker`) loads a
shared object; the rest of the kit never maps driver code.
"""

from __future__ import annotations

import ctypes
import re
import importlib.machinery
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ABI_VERSION", "ABI_VERSIONS", "DETERMINISTIC", "SYMBOL", "FORMATS", "MAX_BATCH",
    "PAGE_SIZES", "page_size_mask", "sizes_from_mask",
    "Unit", "DriverStruct", "DriverInfo", "TargetError",
    "compiled_object", "header_path", "load_c_driver",
]

ABI_VERSION = 2  # what the header describes: version 1 plus `page_sizes`
ABI_VERSIONS = (1, 2)  # what the kit reads: a version-1 driver supports every page size
DETERMINISTIC = 0x1
SYMBOL = "zswap_acomp_drivers"
FORMATS = ("lz4", "zstd", "deflate", "none")
MAX_BATCH = 64  # the header's limit; zswap uses up to ZSWAP_MAX_BATCH_SIZE = 8
# The page sizes the spec covers (4, 16 and 64 KiB: x86-64, arm64's 16K and 64K
# kernels); the kit checks a driver at each size it supports.
PAGE_SIZES = (4096, 16384, 65536)
MAX_DRIVERS = 1024  # entries read from a driver array before giving up on its NULL


# The kernel's MAX_ERRNO: an error pointer or errno is in -4095..-1.
MAX_ERRNO = 4095
# What the kit leaves in every unit's `length` before a call (see clauses.py).
UNWRITTEN = 0xA5A5A5A5


class TargetError(Exception):
    """A target that cannot be checked at all; the message names it and the fix."""


class Unit(ctypes.Structure):
    """`struct zswap_acomp_unit`."""

    _fields_ = [
        ("src", ctypes.c_void_p),
        ("slen", ctypes.c_uint),
        ("dst", ctypes.c_void_p),
        ("capacity", ctypes.c_uint),
        ("length", ctypes.c_uint),
    ]


COMPRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(Unit), ctypes.c_uint)
DECOMPRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p,
                              ctypes.POINTER(ctypes.c_uint))
INIT = ctypes.CFUNCTYPE(ctypes.c_int)


class DriverStructV1(ctypes.Structure):
    """`struct zswap_acomp_driver` of ABI version 1."""

    _fields_ = [
        ("abi_version", ctypes.c_uint),
        ("name", ctypes.c_char_p),
        ("format", ctypes.c_char_p),
        ("batch_size", ctypes.c_uint),
        ("flags", ctypes.c_uint),
        ("init", ctypes.c_void_p),
        ("compress", ctypes.c_void_p),
        ("decompress", ctypes.c_void_p),
    ]


class DriverStruct(ctypes.Structure):
    """`struct zswap_acomp_driver` of ABI version 2: version 1, then `page_sizes`."""

    _fields_ = [*DriverStructV1._fields_, ("page_sizes", ctypes.c_uint)]


def page_size_mask(sizes) -> int:
    """The header's encoding of page sizes: bit n set for 2^n bytes."""
    return sum(1 << (s.bit_length() - 1) for s in set(sizes))


def sizes_from_mask(mask: int) -> tuple[int, ...]:
    """The page sizes a `page_sizes` mask declares (0: every size, the empty tuple)."""
    return tuple(1 << n for n in range(32) if mask >> n & 1)


@dataclass(frozen=True)
class DriverInfo:
    """What a driver says about itself."""

    name: str
    format: str
    batch_size: int
    deterministic: bool
    has_decompress: bool
    language: str  # "C" or "Python"
    page_sizes: tuple[int, ...] = ()  # the page sizes it declares; () for every size

    def supports(self, page_size: int) -> bool:
        return not self.page_sizes or page_size in self.page_sizes

    def to_json(self) -> dict:
        return {"name": self.name, "format": self.format, "batch_size": self.batch_size,
                "deterministic": self.deterministic, "has_decompress": self.has_decompress,
                "language": self.language, "page_sizes": list(self.page_sizes) or "all"}


_HERE = Path(__file__).resolve().parent


def compiled_object(stem: str) -> Path:
    """The installed shared object `stem` (e.g. `_builtin`) of this package."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = _HERE / f"{stem}{suffix}"
        if p.is_file():
            return p
    raise TargetError(f"the driver kit's compiled part {stem} is not built in {_HERE}; "
                      f"build it with 'pip install -e .' in the source tree (needs gcc)")


def header_path() -> Path:
    """spec/zswap_acomp_driver.h, as installed."""
    from zswap_spec import spec

    return Path(spec.__file__).with_name("zswap_acomp_driver.h")


def validate_info(where: str, name, fmt, batch_size: int, abi: int,
                  page_sizes: tuple[int, ...] = ()) -> None:
    """Reject a driver description the kit cannot use, naming the field and the fix."""
    if abi not in ABI_VERSIONS:
        raise TargetError(f"{where}: ABI version {abi}, the kit reads versions "
                          f"{' and '.join(map(str, ABI_VERSIONS))}; rebuild the driver against "
                          f"this zswap_acomp_driver.h")
    if not name:
        raise TargetError(f"{where}: the driver has no name; set .name")
    if fmt is not None and not isinstance(fmt, str):
        raise TargetError(f"{where}: format must be a string")
    if not 1 <= batch_size <= MAX_BATCH:
        raise TargetError(f"{where}: batch_size {batch_size} is out of range; use 1 to {MAX_BATCH}")
    unknown = [s for s in page_sizes if s not in PAGE_SIZES]
    if unknown:
        raise TargetError(f"{where}: page_sizes declares {', '.join(_size_text(s) for s in unknown)}"
                          f", which the spec does not cover; declare some of "
                          f"{', '.join(_size_text(s) for s in PAGE_SIZES)} (or none for all)")


def _size_text(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} bytes"

def load_c_driver(path: str, name: str | None):
    """Load the shared object at `path` and pick driver `name` (or the first).

    Returns (the driver struct, every driver name in the object, the page sizes
    it declares: () for every size).  Runs only in
    the worker process: loading runs the object's constructors.
    """
    try:
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
    except OSError as e:
        reason = str(e).split(": ", 1)[-1] if ": " in str(e) else str(e)
        missing = re.search(r"undefined symbol: (\S+)", str(e))
        if missing:
            # It is a shared object; what it calls was not linked in (a compression
            # library left off the link line, say).
            raise TargetError(f"{path}: the driver calls {missing.group(1)}, which is not linked "
                              f"in; link the library that defines it when building (e.g. 'gcc "
                              f"-shared -fPIC driver.c -o driver.so -llz4')") from None
        raise TargetError(f"{path}: not a loadable shared object ({reason}); give a .so built "
                          f"with 'gcc -shared -fPIC'") from None
    try:
        entry = getattr(lib, SYMBOL)
    except AttributeError:
        raise TargetError(f"{path}: no symbol {SYMBOL}; export 'const struct zswap_acomp_driver "
                          f"*const *{SYMBOL}(void)' (see zswap_acomp_driver.h)") from None
    entry.restype = ctypes.POINTER(ctypes.POINTER(DriverStruct))
    entry.argtypes = []
    array = entry()
    if not array:
        raise TargetError(f"{path}: {SYMBOL}() returned NULL; return a NULL-terminated array")
    drivers = []
    for i in range(MAX_DRIVERS):
        if not array[i]:
            break
        drivers.append(ctypes.cast(array[i], ctypes.POINTER(DriverStructV1)).contents)
    if not drivers:
        raise TargetError(f"{path}: {SYMBOL}() lists no driver")
    names = [(d.name or b"").decode(errors="replace") for d in drivers]
    chosen = drivers[0] if name is None else next(
        (d for d, n in zip(drivers, names) if n == name), None)
    if chosen is None:
        raise TargetError(f"{path}: no driver named {name!r}; it has: {', '.join(names)}")
    where = f"{path} driver {(chosen.name or b'?').decode(errors='replace')}"
    validate_info(where, chosen.name, None, chosen.batch_size, chosen.abi_version)
    sizes: tuple[int, ...] = ()
    if chosen.abi_version >= 2:  # only a version-2 struct has the field
        sizes = sizes_from_mask(DriverStruct.from_address(ctypes.addressof(chosen)).page_sizes)
        validate_info(where, chosen.name, None, chosen.batch_size, chosen.abi_version, sizes)
    if not chosen.compress:
        raise TargetError(f"{where}: compress is NULL; set .compress")
    return chosen, names, sizes

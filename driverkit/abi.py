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
    "ABI_VERSION", "DETERMINISTIC", "SYMBOL", "FORMATS", "MAX_BATCH",
    "Unit", "DriverStruct", "DriverInfo", "TargetError",
    "compiled_object", "header_path", "load_c_driver",
]

ABI_VERSION = 1
DETERMINISTIC = 0x1
SYMBOL = "zswap_acomp_drivers"
FORMATS = ("lz4", "zstd", "deflate", "none")
MAX_BATCH = 64  # the header's limit; zswap uses up to ZSWAP_MAX_BATCH_SIZE = 8
MAX_DRIVERS = 1024  # entries read from a driver array before giving up on its NULL


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


class DriverStruct(ctypes.Structure):
    """`struct zswap_acomp_driver`."""

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


@dataclass(frozen=True)
class DriverInfo:
    """What a driver says about itself."""

    name: str
    format: str
    batch_size: int
    deterministic: bool
    has_decompress: bool
    language: str  # "C" or "Python"

    def to_json(self) -> dict:
        return {"name": self.name, "format": self.format, "batch_size": self.batch_size,
                "deterministic": self.deterministic, "has_decompress": self.has_decompress,
                "language": self.language}


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


def validate_info(where: str, name, fmt, batch_size: int, abi: int) -> None:
    """Reject a driver description the kit cannot use, naming the field and the fix."""
    if abi != ABI_VERSION:
        raise TargetError(f"{where}: ABI version {abi}, the kit speaks {ABI_VERSION}; rebuild "
                          f"the driver against this zswap_acomp_driver.h")
    if not name:
        raise TargetError(f"{where}: the driver has no name; set .name")
    if fmt is not None and not isinstance(fmt, str):
        raise TargetError(f"{where}: format must be a string")
    if not 1 <= batch_size <= MAX_BATCH:
        raise TargetError(f"{where}: batch_size {batch_size} is out of range; use 1 to {MAX_BATCH}")


def load_c_driver(path: str, name: str | None):
    """Load the shared object at `path` and pick driver `name` (or the first).

    Returns (the driver struct, every driver name in the object).  Runs only in
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
        drivers.append(array[i].contents)
    if not drivers:
        raise TargetError(f"{path}: {SYMBOL}() lists no driver")
    names = [(d.name or b"").decode(errors="replace") for d in drivers]
    chosen = drivers[0] if name is None else next(
        (d for d, n in zip(drivers, names) if n == name), None)
    if chosen is None:
        raise TargetError(f"{path}: no driver named {name!r}; it has: {', '.join(names)}")
    where = f"{path} driver {(chosen.name or b'?').decode(errors='replace')}"
    validate_info(where, chosen.name, None, chosen.batch_size, chosen.abi_version)
    if not chosen.compress:
        raise TargetError(f"{where}: compress is NULL; set .compress")
    return chosen, names

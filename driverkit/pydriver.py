"""Drivers written in Python: the same protocol as the C interface, named on
the command line as `module:attr` (a module name, or the path of a .py file).

A Python driver is any object (or a class, instantiated with no arguments)
with these attributes, mirroring `struct zswap_acomp_driver`:

- `name` (str), `format` ("lz4", "zstd", "deflate" or "none"),
  `batch_size` (int, 1 to 64), `deterministic` (bool, default False),
  `abi_version` (default 2), `page_sizes` (the page sizes in bytes it
  supports, some of 4096, 16384 and 65536; default (): every size);
- `compress(units) -> int`: `units` is a list of `PyUnit` with `src` (a
  memoryview of the page; must not be written), `slen`, `dst` (a writable
  memoryview of exactly `capacity` bytes), `capacity` and `length`, which the
  driver sets to the compressed length or to a negative errno (as an int;
  the kit stores it in 32 bits as C does); returns 0 or a negative errno;
- optionally `decompress(src: bytes, capacity: int) -> bytes`, raising any
  exception when the input does not decompress.

`PythonDriver` is a base class with those defaults.
"""

from __future__ import annotations

import importlib
import importlib.util
import shlex
import sys
from pathlib import Path

from .abi import ABI_VERSION, TargetError, validate_info

__all__ = ["PythonDriver", "PyUnit", "load_python_driver"]


class PyUnit:
    """One unit of a batch, as a Python driver sees it."""

    __slots__ = ("src", "slen", "dst", "capacity", "length")

    def __init__(self, src: memoryview, dst: memoryview, length: int):
        self.src = src
        self.slen = len(src)
        self.dst = dst
        self.capacity = len(dst)
        self.length = length

    def __repr__(self) -> str:
        return f"PyUnit(slen={self.slen}, capacity={self.capacity}, length={self.length})"


class PythonDriver:
    """Defaults for a Python driver; subclass and implement `compress`."""

    abi_version = ABI_VERSION
    name = "python-driver"
    format = "none"
    batch_size = 1
    deterministic = False
    page_sizes: tuple[int, ...] = ()  # () : every page size

    def compress(self, units: list[PyUnit]) -> int:  # pragma: no cover - abstract
        raise NotImplementedError


def _import(module: str, target: str):
    if module.endswith(".py") or "/" in module:
        path = Path(module)
        if not path.is_file():
            raise TargetError(f"{target}: no such file {module}")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # its neighbours import, as with 'python drv.py'
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = mod
        spec.loader.exec_module(mod)
        return mod
    if "" not in sys.path:
        sys.path.insert(0, "")  # a module in the current folder, as `python -m` finds it
    return importlib.import_module(module)


def _import_command(module: str) -> str:
    """A shell command that imports `module` as the kit does, to see why it fails."""
    if module.endswith(".py") or "/" in module:
        return f"python {shlex.quote(module)}"
    return f'python -c "import {module}"'


def load_python_driver(target: str):
    """The driver object named by `module:attr`; TargetError when it cannot be used."""
    module, _, attr = target.rpartition(":")
    if not module or not attr:
        raise TargetError(f"{target}: a Python driver is named module:attr")
    try:
        obj = _import(module, target)
    except TargetError:
        raise
    except BaseException as e:  # the module's own code failed: report, do not crash the kit
        raise TargetError(f"{target}: importing {module} failed: {type(e).__name__}: {e}; "
                          f"check that it imports with '{_import_command(module)}'") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"{target}: {module} has no attribute {attr}") from None
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as e:
            raise TargetError(f"{target}: {attr}() failed: {type(e).__name__}: {e}") from None
    name = getattr(obj, "name", None)
    fmt = getattr(obj, "format", "none")
    batch_size = getattr(obj, "batch_size", 1)
    if not isinstance(batch_size, int):
        raise TargetError(f"{target}: batch_size must be an int")
    sizes = getattr(obj, "page_sizes", ()) or ()
    try:
        sizes = tuple(sorted({int(s) for s in sizes}))
    except (TypeError, ValueError):
        raise TargetError(f"{target}: page_sizes must be a tuple of page sizes in bytes "
                          f"(4096, 16384, 65536)") from None
    validate_info(target, name, fmt, batch_size, getattr(obj, "abi_version", ABI_VERSION), sizes)
    if not callable(getattr(obj, "compress", None)):
        raise TargetError(f"{target}: no compress(units) method")
    return obj

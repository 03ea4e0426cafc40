"""The optimized core: a Cython implementation of the spec's store, load,
invalidate and writeback (`_core`, built from `_core.pyx` and its include
files), and the loader that opens it with the compression libraries the
model's bindings carry.  Callers use it through the pool API
(`zswap_spec.pool`); this module only says whether it can serve.
"""

from __future__ import annotations

import importlib.util
import os
import struct

__all__ = ["CoreUnavailable", "core_available", "core_libraries", "load_core"]


class CoreUnavailable(RuntimeError):
    """The optimized core is not built, or its compression libraries do not load."""


class _Loaded:
    def __init__(self, module, libraries):
        self.module = module
        self.libraries = libraries


_LOADED: _Loaded | None = None
_LOAD_ERROR: str | None = None
_EXTENSION_PATH: str | None = None  # tests only: load the extension from this file instead
_REBUILD = "rebuild it with `pip install -e .` (needs gcc and Cython)"


def _binding_paths() -> tuple[str | None, str | None]:
    """The lz4 and zstd copies the model's bindings carry (they export the C API)."""
    lz4_path = zstd_path = None
    spec = importlib.util.find_spec("lz4.block._block")
    if spec is not None and spec.origin:
        lz4_path = spec.origin
    spec = importlib.util.find_spec("zstandard._cffi")
    if spec is not None and spec.origin:
        zstd_path = spec.origin
    return lz4_path, zstd_path


def load_core() -> _Loaded:
    """The extension with its libraries loaded, or CoreUnavailable saying why."""
    global _LOADED, _LOAD_ERROR
    if _LOADED is not None:
        return _LOADED
    if _LOAD_ERROR is not None:
        raise CoreUnavailable(_LOAD_ERROR)
    try:
        _core = _import_extension()
    except ImportError as e:
        _LOAD_ERROR = (f"the extension zswap_spec.optimized_core._core is not built ({e}); "
                       f"build it with `pip install -e .` (needs gcc and Cython)")
        raise CoreUnavailable(_LOAD_ERROR) from None
    except _Damaged as e:
        _LOAD_ERROR = f"{e.path}: is damaged ({e}); {_REBUILD}"
        raise CoreUnavailable(_LOAD_ERROR) from None
    lz4_path, zstd_path = _binding_paths()
    try:
        versions = _core.open_libraries(lz4_path, zstd_path, None)
        source = "the lz4 and zstandard packages' own copies; the system's libz.so.1"
    except OSError as first:
        try:
            versions = _core.open_libraries(None, None, None)
        except OSError as e:
            _LOAD_ERROR = (f"the compression libraries do not load ({first}; then {e}); "
                           f"install liblz4-1, libzstd1 and zlib1g")
            raise CoreUnavailable(_LOAD_ERROR) from None
        source = "the system's liblz4.so.1, libzstd.so.1 and libz.so.1"
    _LOADED = _Loaded(_core, dict(versions, source=source,
                                  lz4_path=lz4_path or "liblz4.so.1",
                                  zstd_path=zstd_path or "libzstd.so.1"))
    return _LOADED


class _Damaged(Exception):
    def __init__(self, path: str, why: str):
        super().__init__(why)
        self.path = path


def _import_extension():
    """The extension module, after a look at its file: a shared object cut short
    (a build or copy interrupted, a full disk) is mapped by the dynamic loader
    and kills the process with SIGBUS on the first touch of a missing page, so
    it is refused before it is loaded."""
    if _EXTENSION_PATH is None:
        spec = importlib.util.find_spec(f"{__name__}._core")
        if spec is None or not spec.origin:
            raise ImportError("no file zswap_spec/optimized_core/_core*.so")
        path = spec.origin
    else:
        path = _EXTENSION_PATH
        spec = importlib.util.spec_from_file_location(f"{__name__}._core", path)
    why = elf_damage(path)
    if why is not None:
        raise _Damaged(path, why)
    if _EXTENSION_PATH is None:
        from . import _core

        return _core
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def elf_damage(path: str) -> str | None:
    """Why the ELF file at `path` cannot be whole, or None: every loaded segment
    (PT_LOAD) and the program and section header tables must lie within the file."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(64)
            if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
                return f"not an ELF shared object ({size} bytes)"
            wide, end = head[4] == 2, "<" if head[5] == 1 else ">"
            if wide:
                phoff, shoff = struct.unpack_from(end + "QQ", head, 0x20)
                phentsize, phnum, shentsize, shnum = struct.unpack_from(end + "HHHH", head, 0x36)
            else:
                phoff, shoff = struct.unpack_from(end + "II", head, 0x1C)
                phentsize, phnum, shentsize, shnum = struct.unpack_from(end + "HHHH", head, 0x2A)
            if phoff + phnum * phentsize > size:
                return f"its program headers end past its {size} bytes: cut short"
            f.seek(phoff)
            table = f.read(phnum * phentsize)
    except OSError as e:
        return f"cannot be read: {e.strerror}"
    for i in range(phnum):
        if wide:
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(end + "IIQQQQ", table, i * phentsize)
        else:
            p_type, p_offset, _, _, p_filesz = struct.unpack_from(end + "IIIII", table, i * phentsize)
        if p_type == 1 and p_offset + p_filesz > size:  # PT_LOAD
            return f"a loaded segment ends at byte {p_offset + p_filesz}, past its {size} bytes: cut short"
    if shoff and shoff + shnum * shentsize > size:
        return f"its section headers end at byte {shoff + shnum * shentsize}, past its {size} bytes: cut short"
    return None


def core_available() -> tuple[bool, str]:
    """(True, "") when the extension is built and its libraries load, else (False, why)."""
    try:
        load_core()
    except CoreUnavailable as e:
        return False, str(e)
    return True, ""


def core_libraries() -> dict[str, str]:
    """The compression libraries the core loaded: their versions and paths."""
    return load_core().libraries

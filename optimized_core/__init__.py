"""The optimized core: a Cython implementation of the spec's store, load,
invalidate and writeback (`_core`, built from `_core.pyx` and its include
files), and the loader that opens it with the compression libraries the
model's bindings carry.  Callers use it through the pool API
(`zswap_spec.pool`); this module only says whether it can serve.
"""

from __future__ import annotations

import importlib.util

__all__ = ["CoreUnavailable", "core_available", "core_libraries", "load_core"]


class CoreUnavailable(RuntimeError):
    """The optimized core is not built, or its compression libraries do not load."""


class _Loaded:
    def __init__(self, module, libraries):
        self.module = module
        self.libraries = libraries


_LOADED: _Loaded | None = None
_LOAD_ERROR: str | None = None


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
        from . import _core
    except ImportError as e:
        _LOAD_ERROR = (f"the extension zswap_spec.optimized_core._core is not built ({e}); "
                       f"build it with `pip install -e .` (needs gcc and Cython)")
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

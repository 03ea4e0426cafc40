"""Loading a kernel's compressors, built by `kcomp_build`, with ctypes: each one
as a `KernelAlgorithm`, with the interface of the model's `SoftwareAlgorithm`."""

from __future__ import annotations

import ctypes
from pathlib import Path

from zswap_spec.model.cint import EINVAL, u32

from .kcomp import KernelCompressorError
from .kcomp_build import built_library

__all__ = ["KernelAlgorithm", "kernel_algorithm", "kernel_algorithms"]

_LIBS: dict[str, ctypes.CDLL] = {}
_ENTRY = {
    # name: (compress symbol, decompress symbol, format)
    "lz4": ("kc_lz4_compress", "kc_lz4_decompress", "lz4"),
    "lz4hc": ("kc_lz4hc_compress", "kc_lz4_decompress", "lz4"),
    "lzo": ("kc_lzo_compress", "kc_lzo_decompress", "lzo"),
    "lzo-rle": ("kc_lzorle_compress", "kc_lzo_decompress", "lzo"),
    "zstd": ("kc_zstd_compress", "kc_zstd_decompress", "zstd"),
    "deflate": ("kc_deflate_compress", "kc_deflate_decompress", "deflate"),
}
_SIG = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_uint, ctypes.POINTER(ctypes.c_int)]


def _load(lib: Path) -> ctypes.CDLL:
    key = str(lib)
    if key not in _LIBS:
        try:
            handle = ctypes.CDLL(key)
        except OSError as exc:
            raise KernelCompressorError(
                f"cannot load {lib}: {exc}. Delete {lib.parent} to rebuild it."
            ) from exc
        for fn in ("kc_lz4hc_level", "kc_lzo_safe", "kc_zstd_level", "kc_deflate_level",
                   "kc_deflate_winbits", "kc_deflate_memlevel"):
            if hasattr(handle, fn):
                getattr(handle, fn).restype = ctypes.c_int
                getattr(handle, fn).argtypes = []
        if hasattr(handle, "kc_zstd_srcsize"):
            handle.kc_zstd_srcsize.restype = ctypes.c_ulonglong
            handle.kc_zstd_srcsize.argtypes = []
        if hasattr(handle, "kc_lzo_worst"):
            handle.kc_lzo_worst.restype = ctypes.c_uint
            handle.kc_lzo_worst.argtypes = [ctypes.c_uint]
        _LIBS[key] = handle
    return _LIBS[key]


class KernelAlgorithm:
    """One of a kernel's compressors, with the interface of the model's `SoftwareAlgorithm`.

    The capacity is real: it is the destination size given to the kernel's
    code.  Results follow the crypto wrapper of that kernel: ``compress``
    returns ``(ret, req->dlen afterwards, bytes written)``; ``decompress``
    returns ``(ret, output)`` and never raises.  ``last_detail`` holds the
    library's own status of the last call (e.g. zstd's error code 70,
    "destination too small"); ``last_overrun`` is True when the last
    ``compress`` wrote past its capacity (LZO without the safe variants, or
    LZO-RLE's safe variant given a capacity below 2 bytes), which the kernel
    reports as a success.
    """

    batching = False
    batch_size = 1

    def __init__(self, name: str, lib: Path, manifest: dict):
        if name not in _ENTRY:
            raise KernelCompressorError(f"unknown kernel compressor {name!r}; known: {', '.join(_ENTRY)}")
        self.name = name
        self.library = lib
        self.kernel_version = manifest.get("kernel_version")
        self.source = manifest.get("source")
        csym, dsym, self.format = _ENTRY[name]
        handle = _load(lib)
        self._c = getattr(handle, csym)
        self._d = getattr(handle, dsym)
        for f in (self._c, self._d):
            f.restype = ctypes.c_int
            f.argtypes = _SIG
        params = manifest.get("params", {})
        self.params: dict = {}
        if name == "lz4hc":
            self.params["level"] = handle.kc_lz4hc_level()
        elif name in ("lzo", "lzo-rle"):
            self.params["safe"] = bool(handle.kc_lzo_safe())
        elif name == "zstd":
            self.params["level"] = handle.kc_zstd_level()
            self.params["src_size_hint"] = int(handle.kc_zstd_srcsize())
        elif name == "deflate":
            self.params.update(level=handle.kc_deflate_level(), window_bits=handle.kc_deflate_winbits(),
                               mem_level=handle.kc_deflate_memlevel(), style=params.get("deflate_style"))
        self._lzo_unsafe = name in ("lzo", "lzo-rle") and not self.params["safe"]
        self._worst = handle.kc_lzo_worst if self._lzo_unsafe else None
        self._fail_dlen_zero = name == "zstd" and params.get("zstd_fail_dlen") == "zero"
        self.last_detail: int | None = None
        self.last_overrun = False  # the last compress wrote past its capacity

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} linux-{self.kernel_version}>"

    def _call(self, fn, src: bytes, capacity: int) -> tuple[int, bytes]:
        buf_len = capacity
        if fn is self._c:
            # The buffer always has room for the worst case, past the capacity
            # the C code is told: the non-safe LZO compressors ignore the
            # capacity (the kernel relied on a large enough buffer), and the
            # "safe" LZO-RLE writes its 2-byte header unchecked, so with a
            # capacity below 2 it overruns without limit.  Such an overrun is
            # reported as the kernel would see it: success, dlen > capacity.
            buf_len = max(capacity, 2 * len(src) + 128)
            if self._worst is not None:
                buf_len = max(buf_len, int(self._worst(len(src))))
        dst = ctypes.create_string_buffer(max(buf_len, 1))
        detail = ctypes.c_int(0)
        n = fn(src, len(src), dst, capacity, ctypes.byref(detail))
        self.last_detail = detail.value
        return n, (dst.raw[:n] if n >= 0 else b"")

    def raw_compress(self, src: bytes) -> bytes:
        """The algorithm's output with no practical capacity limit (2 * len + 128)."""
        src = bytes(src)
        n, out = self._call(self._c, src, 2 * len(src) + 128)
        if n < 0:
            raise KernelCompressorError(f"kernel {self.name} failed ({n}, detail {self.last_detail}) with no capacity limit")
        return out

    def compress(self, src: bytes, capacity: int) -> tuple[int, int, bytes]:
        """Compress into `capacity` bytes: (ret, req->dlen afterwards, bytes written)."""
        src = bytes(src)
        if capacity < 0 or capacity > 0xFFFF_FFFF:
            raise ValueError(f"capacity {capacity} is not an unsigned int")
        # A capacity beyond any possible output behaves as unlimited; keep the buffer small.
        eff = min(capacity, 2 * len(src) + 128, 0x7FFF_FFFF)
        n, out = self._call(self._c, src, eff)
        self.last_overrun = n > eff
        if n >= 0:
            return 0, n, out
        if self._fail_dlen_zero:
            return n, 0, b""
        return n, u32(capacity), b""

    def decompress(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        """Decompress into `capacity` bytes: (ret, output).  Never raises."""
        try:
            src = bytes(src)
            if capacity < 0 or capacity > 0x7FFF_FFFF:
                return -EINVAL, b""
            n, out = self._call(self._d, src, capacity)
        except Exception:  # noqa: BLE001 - the interface promises no exceptions
            return -EINVAL, b""
        if n < 0:
            return n, b""
        return 0, out


def kernel_algorithms(source: Path, cache: Path | None = None) -> dict[str, KernelAlgorithm]:
    """The compressors built from `source`, by name ("lz4", "lz4hc", "lzo", "lzo-rle", "zstd", "deflate")."""
    lib, manifest = built_library(source, cache)
    return {name: KernelAlgorithm(name, lib, manifest) for name in manifest["algorithms"]}


def kernel_algorithm(source: Path, name: str, cache: Path | None = None) -> KernelAlgorithm:
    """One compressor built from `source`; a clear error when it could not be built."""
    lib, manifest = built_library(source, cache)
    if name in manifest["algorithms"]:
        return KernelAlgorithm(name, lib, manifest)
    reason = manifest.get("skipped", {}).get(name)
    if reason:
        raise KernelCompressorError(f"the kernel compressor {name!r} of {source} is not available: {reason}")
    raise KernelCompressorError(
        f"unknown kernel compressor {name!r}; {source} provides: {', '.join(manifest['algorithms'])}"
    )

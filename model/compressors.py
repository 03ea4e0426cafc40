"""Real compression algorithms behind the model's acomp layer.

Each algorithm compresses for real, through python-lz4, python-zstandard or
zlib, into a destination of a given capacity, and reports what the kernel's
crypto wrapper of that algorithm reports: a return code (`int`) and the value
left in `req->dlen` (`unsigned int`).  The conventions per algorithm are the
table "Software compressors behind acomp" of the kernel notes, checked against
`crypto/lz4.c`, `crypto/lz4hc.c`, `crypto/zstd.c`, `crypto/deflate.c` and
`crypto/scompress.c` (damonitor/linux 9321810240ec, late 2025).

A capacity is emulated by compressing without a limit and comparing the
length: LZ4, zstd and zlib produce the same bytes in limited-output mode when
the result fits.  The emulation is checked against the C libraries called with
a real capacity in ``tests/model/test_compressors.py``.

These are the user-space libraries, not the kernel's own copies of the
algorithms: compressed sizes differ from a given kernel's by a few bytes,
semantics do not.  (For lz4 one reason is the binding itself: python-lz4
compresses a block through the streaming API on a fresh stream, whose hash
tables differ from `LZ4_compress_default`'s, so a text page of the sample
gives 2405 bytes here and 2379 through `LZ4_compress_default`.)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import lz4.block
import zstandard

from .cint import E2BIG, EINVAL, ENOSPC, u32

__all__ = [
    "ALGORITHMS",
    "SoftwareAlgorithm",
    "BatchingAlgorithm",
    "CompressorError",
    "algorithm",
]

# crypto/lz4hc.c compresses at LZ4HC_DEFAULT_CLEVEL; crypto/zstd.c at
# ZSTD_DEF_LEVEL; crypto/deflate.c uses raw deflate (negative window bits).
LZ4HC_DEFAULT_CLEVEL = 9
ZSTD_DEF_LEVEL = 3
DEFLATE_DEF_LEVEL = zlib.Z_DEFAULT_COMPRESSION
DEFLATE_DEF_WINBITS = 11
# MAX_MEM_LEVEL is 8 in the kernel's include/linux/zconf.h (zlib's own is 9).
DEFLATE_DEF_MEMLEVEL = 8


class CompressorError(ValueError):
    """An unknown compressor name or a misuse of a compressor."""


@dataclass(frozen=True)
class _Conventions:
    """How an algorithm's crypto wrapper reports an output that does not fit."""

    fail_ret: int  # return code when the output does not fit the capacity
    fail_dlen_is_capacity: bool  # True: req->dlen keeps the capacity; False: 0
    exact_fit_ok: bool  # can the output fill the capacity exactly?


class SoftwareAlgorithm:
    """A synchronous, non-batching compressor (scomp), one unit per request."""

    batching = False
    batch_size = 1

    def __init__(self, name: str, conventions: _Conventions, compress, decompress, fmt: str):
        self.name = name
        self.format = fmt
        self._conv = conventions
        self._compress = compress
        self._decompress = decompress

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def raw_compress(self, src: bytes) -> bytes:
        """The algorithm's output with no capacity limit."""
        return self._compress(src)

    def compress(self, src: bytes, capacity: int) -> tuple[int, int, bytes]:
        """Compress into `capacity` bytes: (ret, req->dlen afterwards, bytes written).

        On failure nothing useful is written; `req->dlen` is what the wrapper
        leaves there (scompress copies the algorithm's length back whether or
        not it succeeded).
        """
        out = self._compress(src)
        n = len(out)
        if n < capacity or (n == capacity and self._conv.exact_fit_ok):
            return 0, n, out
        dlen = capacity if self._conv.fail_dlen_is_capacity else 0
        return self._conv.fail_ret, u32(dlen), b""

    def decompress(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        """Decompress into `capacity` bytes: (ret, output).  Never raises."""
        try:
            out = self._decompress(src, capacity)
        except (lz4.block.LZ4BlockError, zstandard.ZstdError, zlib.error, ValueError):
            return -EINVAL, b""
        if len(out) > capacity:
            return -EINVAL, b""
        return 0, out


def _lz4_compress(src: bytes) -> bytes:
    return lz4.block.compress(src, mode="default", acceleration=1, store_size=False)


def _lz4hc_compress(src: bytes) -> bytes:
    return lz4.block.compress(
        src, mode="high_compression", compression=LZ4HC_DEFAULT_CLEVEL, store_size=False
    )


def _lz4_decompress(src: bytes, capacity: int) -> bytes:
    return lz4.block.decompress(src, uncompressed_size=capacity)


_ZSTD_C = zstandard.ZstdCompressor(level=ZSTD_DEF_LEVEL)
_ZSTD_D = zstandard.ZstdDecompressor()


def _zstd_compress(src: bytes) -> bytes:
    return _ZSTD_C.compress(src)


def _zstd_decompress(src: bytes, capacity: int) -> bytes:
    return _ZSTD_D.decompress(src, max_output_size=capacity)


def _deflate_compress(src: bytes, wbits: int = DEFLATE_DEF_WINBITS, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    c = zlib.compressobj(DEFLATE_DEF_LEVEL, zlib.DEFLATED, -wbits, DEFLATE_DEF_MEMLEVEL, strategy)
    return c.compress(src) + c.flush(zlib.Z_FINISH)


def _deflate_decompress(src: bytes, capacity: int) -> bytes:
    d = zlib.decompressobj(-15)
    out = d.decompress(src, capacity)
    if not d.eof:
        raise zlib.error("deflate stream did not end within the destination")
    return out


def _iaa_compress(src: bytes) -> bytes:
    # IAA emits deflate with fixed Huffman codes and a 4 KiB history.
    return _deflate_compress(src, wbits=12, strategy=zlib.Z_FIXED)


class BatchingAlgorithm:
    """A batching accelerator as the v13 iaa_crypto driver presents it.

    One request carries up to `batch_size` units of `unit_size` bytes; each
    destination scatterlist entry receives its unit's compressed length or a
    negative errno (wrapped into the unsigned field); `req->dlen` receives the
    first entry's length; the call returns `-EINVAL` if any unit failed.  A
    unit whose output does not fit fails with `-E2BIG`; there is no software
    fallback on compression.  Source: "[PATCH v13 13/22] crypto: iaa - ..."
    (Kanchana P Sridhar, 2025-11-04), notes in acomp-batching.md.
    """

    batching = True

    def __init__(self, name: str, batch_size: int = 8):
        self.name = name
        self.batch_size = batch_size
        self.format = "deflate"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} x{self.batch_size}>"

    def raw_compress(self, src: bytes) -> bytes:
        return _iaa_compress(src)

    def compress_unit(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        """One unit: (length or negative errno, bytes written)."""
        out = _iaa_compress(src)
        if len(out) > capacity:
            return -E2BIG, b""
        return len(out), out

    def compress_batch(self, req) -> int:
        """Compress every unit of `req` into its destination entry."""
        nr_units = req.slen // req.unit_size if req.unit_size else 1
        if nr_units < 1 or nr_units > self.batch_size or nr_units > len(req.dst):
            return -EINVAL
        unit = req.unit_size if req.unit_size else req.slen
        failed = False
        for k in range(nr_units):
            sg = req.dst[k]
            sg.length = len(sg.buf)  # capacity, written before submission
            result, out = self.compress_unit(req.src[k * unit:(k + 1) * unit], sg.length)
            if result < 0:
                failed = True
            else:
                sg.buf[: len(out)] = out
            sg.length = u32(result)
        req.dlen = req.dst[0].length
        return -EINVAL if failed else 0

    def decompress(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        try:
            out = _deflate_decompress(src, capacity)
        except zlib.error:
            return -EINVAL, b""
        return 0, out


def _make_algorithms() -> dict[str, object]:
    lz4_conv = _Conventions(fail_ret=-EINVAL, fail_dlen_is_capacity=True, exact_fit_ok=True)
    return {
        "lz4": SoftwareAlgorithm("lz4", lz4_conv, _lz4_compress, _lz4_decompress, "lz4"),
        "lz4hc": SoftwareAlgorithm("lz4hc", lz4_conv, _lz4hc_compress, _lz4_decompress, "lz4"),
        "zstd": SoftwareAlgorithm(
            "zstd",
            _Conventions(fail_ret=-EINVAL, fail_dlen_is_capacity=False, exact_fit_ok=True),
            _zstd_compress,
            _zstd_decompress,
            "zstd",
        ),
        # zlib needs room to report the end of the stream: an output that
        # would fill the destination exactly fails with -ENOSPC.
        "deflate": SoftwareAlgorithm(
            "deflate",
            _Conventions(fail_ret=-ENOSPC, fail_dlen_is_capacity=True, exact_fit_ok=False),
            _deflate_compress,
            _deflate_decompress,
            "deflate",
        ),
        "deflate-iaa": BatchingAlgorithm("deflate-iaa", batch_size=8),
    }


ALGORITHMS = _make_algorithms()


def algorithm(name: str):
    """The algorithm registered under `name`, or a CompressorError naming the choices."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise CompressorError(
            f"unknown compressor {name!r}; choose one of: {', '.join(ALGORITHMS)}"
        ) from None

"""The C compression libraries called through ctypes with a real destination
capacity, to check the model's capacity emulation against them."""

from __future__ import annotations

import ctypes
import ctypes.util


def _load(name: str, soname: str):
    path = ctypes.util.find_library(name) or soname
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


LZ4 = _load("lz4", "liblz4.so.1")
ZSTD = _load("zstd", "libzstd.so.1")
ZLIB = _load("z", "libz.so.1")


def lz4_compress(src: bytes, capacity: int) -> bytes | None:
    """LZ4_compress_default into `capacity` bytes; None when it does not fit."""
    dst = ctypes.create_string_buffer(max(capacity, 1))
    n = LZ4.LZ4_compress_default(src, dst, len(src), capacity)
    return dst.raw[:n] if n > 0 else None


def zstd_compress(src: bytes, capacity: int, level: int = 3) -> bytes | None:
    ZSTD.ZSTD_compress.restype = ctypes.c_size_t
    ZSTD.ZSTD_isError.restype = ctypes.c_uint
    dst = ctypes.create_string_buffer(max(capacity, 1))
    n = ZSTD.ZSTD_compress(dst, ctypes.c_size_t(capacity), src, ctypes.c_size_t(len(src)), level)
    return None if ZSTD.ZSTD_isError(ctypes.c_size_t(n)) else dst.raw[:n]


class _ZStream(ctypes.Structure):
    _fields_ = [
        ("next_in", ctypes.c_void_p), ("avail_in", ctypes.c_uint), ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p), ("avail_out", ctypes.c_uint), ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p), ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p), ("zfree", ctypes.c_void_p), ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int), ("adler", ctypes.c_ulong), ("reserved", ctypes.c_ulong),
    ]


Z_FINISH, Z_STREAM_END, Z_DEFLATED = 4, 1, 8


def deflate_compress(src: bytes, capacity: int, wbits: int = -11, mem_level: int = 8,
                     level: int = -1) -> bytes | None:
    """One-shot raw deflate with `capacity` bytes of output, as crypto/deflate.c does."""
    strm = _ZStream()
    version = ZLIB.zlibVersion
    version.restype = ctypes.c_char_p
    rc = ZLIB.deflateInit2_(ctypes.byref(strm), level, Z_DEFLATED, wbits, mem_level, 0,
                            version(), ctypes.sizeof(strm))
    assert rc == 0, rc
    inbuf = ctypes.create_string_buffer(src, len(src))
    out = ctypes.create_string_buffer(max(capacity, 1))
    strm.next_in = ctypes.cast(inbuf, ctypes.c_void_p)
    strm.avail_in = len(src)
    strm.next_out = ctypes.cast(out, ctypes.c_void_p)
    strm.avail_out = capacity
    rc = ZLIB.deflate(ctypes.byref(strm), Z_FINISH)
    n = strm.total_out
    ZLIB.deflateEnd(ctypes.byref(strm))
    return out.raw[:n] if rc == Z_STREAM_END else None

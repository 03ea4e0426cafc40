"""
Class D - kernel self-test vectors (short inputs).

Bug: zstd Python driver (batch 1, deterministic) models a DMA engine that
moves 64-byte bursts: the source is padded with zeros up to a multiple of 64
and the padded buffer is compressed. A page (multiple of 64) is fine; a
self-test vector of, say, 70 bytes comes back as 128 bytes.

Expected clause: C-SELFTEST (and C-ROUNDTRIP/C-FORMAT on any input length
that is not a multiple of 64, if the kit tries one).
"""
import errno

import zstandard

from zswap_spec.driverkit import PythonDriver


class D3Pad64(PythonDriver):
    name = "d3-pad64-zstd"
    format = "zstd"
    batch_size = 1
    deterministic = True

    def __init__(self):
        self.c = zstandard.ZstdCompressor(level=3)
        self.d = zstandard.ZstdDecompressor()

    def compress(self, units):
        ret = 0
        for u in units:
            data = bytes(u.src[: u.slen])
            data += b"\0" * (-len(data) % 64)  # BUG: burst padding kept
            out = self.c.compress(data)
            if len(out) > u.capacity:
                u.length = -errno.EINVAL
                ret = -errno.EINVAL
                continue
            u.dst[: len(out)] = out
            u.length = len(out)
        return ret

    def decompress(self, src, capacity):
        return self.d.decompress(src, max_output_size=capacity)


driver = D3Pad64

"""
Class OK - correct but unusual: declares 64 KiB pages only
(page_sizes = (65536,)). zstd frames at level 5, batch 8, deterministic,
with its own decompressor.

Clauses: conforms.
"""
import errno

import zstandard

from zswap_spec.driverkit import PythonDriver


class OK2Zstd64k(PythonDriver):
    name = "ok2-zstd-64k-only"
    format = "zstd"
    batch_size = 8
    deterministic = True
    page_sizes = (65536,)

    def __init__(self):
        self.c = zstandard.ZstdCompressor(level=5)
        self.d = zstandard.ZstdDecompressor()

    def compress(self, units):
        ret = 0
        for u in units:
            out = self.c.compress(bytes(u.src[: u.slen]))
            if len(out) > u.capacity:
                u.length = -errno.E2BIG
                ret = -errno.EINVAL
                continue
            u.dst[: len(out)] = out
            u.length = len(out)
        return ret

    def decompress(self, src, capacity):
        return self.d.decompress(src, max_output_size=capacity)


driver = OK2Zstd64k

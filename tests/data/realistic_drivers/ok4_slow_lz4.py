"""
Class OK - correct but unusual: slow. lz4 block, batch 1, deterministic,
sleeps 2 ms per call (a slow offload engine's round trip).

Clauses: conforms.
"""
import errno
import time

import lz4.block

from zswap_spec.driverkit import PythonDriver


class OK4Slow(PythonDriver):
    name = "ok4-slow-lz4"
    format = "lz4"
    batch_size = 1
    deterministic = True

    def compress(self, units):
        time.sleep(0.002)
        ret = 0
        for u in units:
            out = lz4.block.compress(bytes(u.src[: u.slen]), store_size=False)
            if len(out) > u.capacity:
                u.length = -errno.EINVAL
                ret = -errno.EINVAL
                continue
            u.dst[: len(out)] = out
            u.length = len(out)
        return ret

    def decompress(self, src, capacity):
        return lz4.block.decompress(src, uncompressed_size=capacity)


driver = OK4Slow

"""
Class A - state carried across calls (error path leaks).

Bug: lz4 Python driver (batch 4, deterministic) takes a bounce buffer from a
pool of 300 for each unit. The success path returns it to the pool; the
failure path (output does not fit the capacity) forgets to. After 300
failed units the pool is empty and every unit fails with -ENOMEM for good.

Expected clause: C-DETERMINISM (same batch, other answer later); possibly
C-INDEPENDENT.
"""
import errno

import lz4.block

from zswap_spec.driverkit import PythonDriver


class A4PoolLeak(PythonDriver):
    name = "a4-pool-leak-300"
    format = "lz4"
    batch_size = 4
    deterministic = True

    def __init__(self):
        self.pool = [bytearray(65536 + 1024) for _ in range(300)]

    def compress(self, units):
        ret = 0
        for u in units:
            if not self.pool:
                u.length = -errno.ENOMEM
                ret = -errno.ENOMEM
                continue
            buf = self.pool.pop()
            out = lz4.block.compress(bytes(u.src[:u.slen]), store_size=False)
            if len(out) > u.capacity:
                u.length = -errno.ENOSPC
                ret = -errno.EINVAL
                continue  # BUG: buf is never returned to the pool
            buf[: len(out)] = out
            u.dst[: len(out)] = buf[: len(out)]
            u.length = len(out)
            self.pool.append(buf)
        return ret

    def decompress(self, src, capacity):
        return lz4.block.decompress(src, uncompressed_size=capacity)


driver = A4PoolLeak

"""
Class C - page sizes.

Bug: lz4 Python driver (batch 2, deterministic, no decompressor) modelled on
an engine that only handles 4 KiB: a larger page is cut into 4 KiB chunks,
each compressed as its own lz4 block, and the blocks are concatenated. A
concatenation of lz4 blocks is not one lz4 block (each block ends with a
literal-only sequence), so a 16 or 64 KiB page's output does not decode
with the reference lz4 block decoder. 4 KiB pages are fine.

Expected clause: C-FORMAT (at 16 and 64 KiB; no own decompressor, so
C-ROUNDTRIP is only a note).
"""
import errno

import lz4.block

from zswap_spec.driverkit import PythonDriver


class C3Chunked(PythonDriver):
    name = "c3-4k-chunked-lz4"
    format = "lz4"
    batch_size = 2
    deterministic = True

    def compress(self, units):
        ret = 0
        for u in units:
            data = bytes(u.src[: u.slen])
            out = b"".join(
                lz4.block.compress(data[o : o + 4096], store_size=False)
                for o in range(0, max(len(data), 1), 4096)
            )  # BUG: one block per 4 KiB
            if len(out) > u.capacity:
                u.length = -errno.EINVAL
                ret = -errno.EINVAL
                continue
            u.dst[: len(out)] = out
            u.length = len(out)
        return ret


driver = C3Chunked

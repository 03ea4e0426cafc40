"""
Class B - inputs shaped like compressed data.

Bug: lz4 Python driver (batch 1, deterministic). A page that starts with the
zlib "best compression" header 78 DA is taken as incompressible and skipped
straight to the "store" path: it emits a literal-only lz4 block by hand. The
hand-written encoder writes the literal-length extension as ONE byte
((len - 15) & 0xFF) instead of a run of 255s and a remainder, so the
literal count is wrong for any page (len >= 270).

Expected clauses: C-FORMAT, C-ROUNDTRIP.
"""
import errno

import lz4.block

from zswap_spec.driverkit import PythonDriver


class B4ZlibLiteral(PythonDriver):
    name = "b4-zlib-max-literal-run"
    format = "lz4"
    batch_size = 1
    deterministic = True

    def compress(self, units):
        ret = 0
        for u in units:
            data = bytes(u.src[: u.slen])
            if len(data) >= 2 and data[0] == 0x78 and data[1] == 0xDA:
                n = len(data)
                if n >= 15:
                    out = bytes([0xF0, (n - 15) & 0xFF]) + data  # BUG: one extension byte
                else:
                    out = bytes([n << 4]) + data
            else:
                out = lz4.block.compress(data, store_size=False)
            if len(out) > u.capacity:
                u.length = -errno.EINVAL
                ret = -errno.EINVAL
                continue
            u.dst[: len(out)] = out
            u.length = len(out)
        return ret

    def decompress(self, src, capacity):
        return lz4.block.decompress(src, uncompressed_size=capacity)


driver = B4ZlibLiteral

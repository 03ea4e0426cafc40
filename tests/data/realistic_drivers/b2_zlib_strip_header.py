"""
Class B - inputs shaped like compressed data.

Bug: raw-deflate Python driver (batch 1, deterministic). A page that starts
with a valid zlib header (78 01 / 78 5E / 78 9C / 78 DA, header checksum
ok) is taken for a zlib stream that is "already deflated": the driver strips
the 2-byte zlib header and the 4-byte Adler-32 trailer and passes the body
through as the raw deflate output (when it fits). For a page that merely
starts with those bytes (or even a real zlib stream: it then decompresses to
the stream's content, not to the page) the output is wrong.

Expected clauses: C-FORMAT, C-ROUNDTRIP.
"""
import errno
import zlib

from zswap_spec.driverkit import PythonDriver


class B2ZlibStrip(PythonDriver):
    name = "b2-zlib-strip-header"
    format = "deflate"
    batch_size = 1
    deterministic = True

    def compress(self, units):
        ret = 0
        for u in units:
            data = bytes(u.src[: u.slen])
            if (len(data) > 6 and data[0] == 0x78 and data[1] in (0x01, 0x5E, 0x9C, 0xDA)
                    and (data[0] * 256 + data[1]) % 31 == 0):
                out = data[2:-4]  # BUG: zlib body reused as raw deflate
            else:
                c = zlib.compressobj(6, zlib.DEFLATED, -11, 8)
                out = c.compress(data) + c.flush()
            if len(out) > u.capacity or len(out) == 0:
                u.length = -errno.ENOSPC
                ret = -errno.ENOSPC
                continue
            u.dst[: len(out)] = out
            u.length = len(out)
        return ret

    def decompress(self, src, capacity):
        d = zlib.decompressobj(-15)
        out = d.decompress(src, capacity)
        if not d.eof:
            raise ValueError("truncated deflate stream")
        return out


driver = B2ZlibStrip

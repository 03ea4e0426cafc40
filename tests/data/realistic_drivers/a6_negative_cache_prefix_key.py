"""
Class A (state: a cache keyed wrongly).
Bug: a "negative cache" remembers pages that recently failed to compress so
zswap's repeated attempts on incompressible pages are cheap.  Its key is a
CRC of the page's first 256 bytes and its length -- not the whole page and
not the capacity -- so once a page fails (e.g. at a small capacity), every
later page with the same prefix (any capacity) fails at once.  The driver
declares itself deterministic.
Expected clause(s): C-DETERMINISM (failures are legal, but the same batch
gets a different answer after history).
"""
import errno
import zlib
from collections import OrderedDict

import zstandard

from zswap_spec.driverkit import PythonDriver


class NegCacheZstd(PythonDriver):
    name = "a1-zstd-negcache"
    format = "zstd"
    batch_size = 1
    deterministic = True

    def __init__(self):
        self._c = zstandard.ZstdCompressor(level=3)
        self._neg = OrderedDict()

    def _key(self, u):
        return (zlib.crc32(u.src[:256]), u.slen)   # BUG: prefix only, no capacity

    def compress(self, units):
        ret = 0
        for u in units:
            k = self._key(u)
            if k in self._neg:
                self._neg.move_to_end(k)
                u.length = -errno.E2BIG
                ret = -errno.E2BIG
                continue
            out = self._c.compress(bytes(u.src))
            if len(out) > u.capacity:
                self._neg[k] = True
                if len(self._neg) > 1024:
                    self._neg.popitem(last=False)
                u.length = -errno.E2BIG
                ret = -errno.E2BIG
                continue
            u.dst[:len(out)] = out
            u.length = len(out)
        return ret

    def decompress(self, src, capacity):
        d = zstandard.ZstdDecompressor().decompressobj()
        out = d.decompress(src)
        if not d.eof or len(out) > capacity:
            raise ValueError("bad frame")
        return out


driver = NegCacheZstd

"""Python drivers for tests/test_driverkit*.py: one that keeps the batch
contract and several that break one clause each."""

import lz4.block

from zswap_spec.driverkit import PythonDriver

EINVAL, E2BIG = 22, 7


class Lz4Batch(PythonDriver):
    """lz4 blocks, batches of 4, -E2BIG per unit that does not fit."""

    name = "py-lz4-batch"
    format = "lz4"
    batch_size = 4
    deterministic = True

    def compress(self, units):
        ret = 0
        for u in units:
            out = lz4.block.compress(bytes(u.src), store_size=False)
            if len(out) > u.capacity:
                u.length = -E2BIG
                ret = -EINVAL
            else:
                u.dst[:len(out)] = out
                u.length = len(out)
        return ret

    def decompress(self, src, capacity):
        return lz4.block.decompress(src, uncompressed_size=capacity)


class ForgetsFailures(Lz4Batch):
    name = "py-forgets-failures"

    def compress(self, units):
        super().compress(units)
        return 0


class RaisesOnZeroPage(Lz4Batch):
    name = "py-raises"

    def compress(self, units):
        if not any(units[0].src):
            raise ZeroDivisionError("no bytes to compress")
        return super().compress(units)


class StringLength(Lz4Batch):
    name = "py-string-length"

    def compress(self, units):
        ret = super().compress(units)
        for u in units:
            u.length = str(u.length)
        return ret


class Stored(PythonDriver):
    """Its own format: the page as is when it fits; no decompressor."""

    name = "py-stored"
    batch_size = 1

    def compress(self, units):
        u = units[0]
        if u.slen > u.capacity:
            u.length = -E2BIG
            return -E2BIG
        u.dst[:u.slen] = u.src
        u.length = u.slen
        return 0


class TaggedByBatch(PythonDriver):
    """Its own format, one tag byte then an lz4 block: the tag says whether the unit was
    compressed in a batch of more than one.  Same lengths in a batch and alone, other
    bytes (C-INDEPENDENT); every output decompresses."""

    name = "py-tagged-by-batch"
    batch_size = 4
    deterministic = True

    def compress(self, units):
        ret = 0
        for u in units:
            out = bytes([len(units) > 1]) + lz4.block.compress(bytes(u.src), store_size=False)
            if len(out) > u.capacity:
                u.length = -E2BIG
                ret = -EINVAL
            else:
                u.dst[:len(out)] = out
                u.length = len(out)
        return ret

    def decompress(self, src, capacity):
        return lz4.block.decompress(src[1:], uncompressed_size=capacity)


class WrongAbi(Lz4Batch):
    abi_version = 3


class FasterAfterManyCalls(Lz4Batch):
    """Declares determinism; from its 1500th call on it compresses in lz4's fast mode
    (valid lz4, other bytes): only a long run of calls shows it (C-DETERMINISM)."""

    name = "py-faster-after-many-calls"
    batch_size = 1
    calls = 0

    def compress(self, units):
        type(self).calls += 1
        if self.calls < 1500:
            return super().compress(units)
        u = units[0]
        out = lz4.block.compress(bytes(u.src), store_size=False, mode="fast", acceleration=9)
        if len(out) > u.capacity:
            u.length = -E2BIG
            return -EINVAL
        u.dst[:len(out)] = out
        u.length = len(out)
        return 0


class FourKibOnly(Lz4Batch):
    """Correct, and declares that it supports 4 KiB pages only."""

    name = "py-4k-only"
    page_sizes = (4096,)


class LeavesFailuresUnwritten(Lz4Batch):
    """Returns 0 and never writes the length of a unit that does not fit."""

    name = "py-leaves-failures-unwritten"

    def compress(self, units):
        for u in units:
            out = lz4.block.compress(bytes(u.src), store_size=False)
            if len(out) <= u.capacity:
                u.dst[:len(out)] = out
                u.length = len(out)
        return 0


class RefusesEverything(PythonDriver):
    """Conforms to the contract, and never compresses: every unit fails."""

    name = "py-refuses-everything"
    format = "lz4"
    batch_size = 1
    deterministic = True

    def compress(self, units):
        for u in units:
            u.length = -28  # -ENOSPC
        return -28


DRIVER = Lz4Batch()


class RaisesOnCall150(Lz4Batch):
    """Raises on its 150th call: only a long run of calls shows it (C-CRASH)."""

    name = "py-raises-on-call-150"
    batch_size = 1
    calls = 0

    def compress(self, units):
        type(self).calls += 1
        if self.calls == 150:
            raise RuntimeError("descriptor ring exhausted")
        return super().compress(units)


class TouchesSourceOnCall500(Lz4Batch):
    """Not declared deterministic; on its 500th call writes into the source page
    (C-SOURCE), in the middle of a run of calls."""

    name = "py-touches-source-on-call-500"
    batch_size = 1
    deterministic = False
    calls = 0

    def compress(self, units):
        type(self).calls += 1
        ret = super().compress(units)
        if self.calls == 500:
            units[0].src[0] ^= 0xFF
        return ret


class PageSizesAsText(Lz4Batch):
    """Correct; declares its page size as text."""

    name = "py-page-sizes-as-text"
    page_sizes = ("4096",)

"""The swap layer around zswap, with the spec's checks after every operation.

`SwapSystem` plays the kernel's callers: `swap_writeout()` keeps zero-filled
folios in the zeromap and never hands them to zswap, stores the rest with
`zswap_store()`, and on failure writes the folio to the swap device if the
cgroup allows writeback, or keeps it in memory if not; `swap_read_folio()`
serves a page from the zeromap, zswap or the swap device.  It remembers what
each swap slot should hold, so every read checks INV-ROUNDTRIP, and it checks
the store invariants after every store.  Replay and the fuzzers drive it.

After every swap-out it runs the pool shrink worker if the store queued it
(`Zswap.run_queued_work`): the kernel's worker runs asynchronously; the
model lets it finish before the next operation.
"""

from __future__ import annotations

from collections import Counter

from .cint import ENOENT, errno_name
from .invariants import Violation, check_global, check_load, check_store
from .memcg import MemCgroup
from .zswap import REJECT_COUNTERS, Folio, Zswap

__all__ = ["SwapSystem", "OUTCOMES"]

# Where a page ends up after its swap-out.
OUTCOMES = ("zero", "compressed", "raw", "rejected")


class SwapSystem:
    """zswap plus the swap layer, the slots' expected contents and the checks."""

    def __init__(self, zswap: Zswap):
        self.zs = zswap
        self.page_size = zswap.page_size
        self._zero_page = bytes(zswap.page_size)
        self.expected: dict[int, bytes] = {}  # slot -> the page swapped out there
        self.zeromap: set[int] = set()
        self.kept: dict[int, bytes] = {}  # rejected with writeback off: still in RAM
        self.violations: list[Violation] = []
        self.outcomes: Counter[str] = Counter()

    def swap_out(self, folio: Folio) -> list[str]:
        """Swap a folio out; the outcome of each of its pages.  Then, if the
        store queued the pool shrink worker, run it to completion (after the
        store's checks, which see the state `zswap_store` returned)."""
        zs = self.zs
        offsets = range(folio.offset, folio.offset + folio.nr_pages)
        for offset, page in zip(offsets, folio.pages):
            if len(page) != self.page_size:
                raise ValueError(f"page at slot {offset} has {len(page)} bytes, not {self.page_size}")
            self.expected[offset] = page
            self.zeromap.discard(offset)
            self.kept.pop(offset, None)
            zs.swap_device.pop(offset, None)
        if all(page == self._zero_page for page in folio.pages):
            self.zeromap.update(offsets)
            for offset in offsets:  # the slot's old zswap copy is stale
                zs.zswap_invalidate(offset)
            result = ["zero"] * folio.nr_pages
        else:
            memcg = folio.memcg or zs.root
            wb_enabled = zs.writeback_enabled(memcg)
            rejects_before = sum(zs.counters[c] for c in REJECT_COUNTERS)
            ok = zs.zswap_store(folio)
            self.violations.extend(check_store(zs, folio, ok, wb_enabled, rejects_before))
            if ok:
                result = [
                    "raw" if zs.tree[o].length == self.page_size else "compressed" for o in offsets
                ]
            else:
                result = ["rejected"] * folio.nr_pages
                if wb_enabled:
                    for offset, page in zip(offsets, folio.pages):
                        zs.swap_device[offset] = page
                else:
                    for offset, page in zip(offsets, folio.pages):
                        self.kept[offset] = page
        self.outcomes.update(result)
        zs.run_queued_work()
        return result

    def swap_in(self, offset: int) -> bytes | None:
        """Read one page back and check it against what was swapped out."""
        expected = self.expected.get(offset)
        if expected is None:
            raise KeyError(f"nothing was swapped out at slot {offset}")
        if offset in self.zeromap:
            got, how = self._zero_page, "the zeromap"
        elif offset in self.kept:
            got, how = self.kept.pop(offset), "memory"
        else:
            ret, got = self.zs.zswap_load(offset)
            how = "zswap"
            if ret == -ENOENT:
                got = self.zs.swap_device.pop(offset, None)
                how = "the swap device"
            elif ret != 0:
                how = f"zswap (zswap_load returned {errno_name(ret)})"
        found = check_load(offset, expected, got, how)
        self.violations.extend(found)
        del self.expected[offset]
        return got

    def swap_free(self, offset: int) -> None:
        """The slot is freed (its page is gone): zswap_invalidate() and forget it."""
        self.zs.zswap_invalidate(offset)
        self.zs.swap_device.pop(offset, None)
        self.zeromap.discard(offset)
        self.kept.pop(offset, None)
        self.expected.pop(offset, None)

    def writeback(self, memcg: MemCgroup | None = None) -> int:
        """One step of the memcg shrinker: `shrink_memcg()`'s return code."""
        return self.zs.shrink_memcg(memcg or self.zs.root)

    def check_global(self) -> list[Violation]:
        found = check_global(self.zs)
        self.violations.extend(found)
        return found

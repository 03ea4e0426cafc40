"""Replay: push a stream of pages through a variant and read every page back.

One run = one variant x compressor x writeback setting.  Pages are grouped
into folios of `folio_pages`, swapped out in order at consecutive swap
slots, then swapped in one by one; the spec's invariants are checked after
every store and every read, and over the whole pool after the swap-out and
after the swap-in, by the one checker (`zswap_spec.model.invariants.check`,
which the model's `SwapSystem` calls).

`ModelRun` is fed chunk by chunk and keeps no copy of a page it swapped
out: the swap layer's note of what each slot should hold
(`SwapSystem.expected`) is dropped after the store and given back, from the
pages handed in again, just before the read; what the model itself holds
(the pool, the swap device, the pages kept in memory) it keeps.
"""

from __future__ import annotations

from zswap_spec.model.memcg import MemCgroup
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.zswap import Folio, Zswap

from .results import OUTCOME_CODES, RunConfig
from .run import Run, run_passes

__all__ = ["ModelRun", "replay_on_model"]

_CODES = {k: v.encode() for k, v in OUTCOME_CODES.items()}


class ModelRun(Run):
    """One configuration on the model (`SwapSystem`), fed chunk by chunk."""

    def __init__(self, config: RunConfig, progress=None, keep_outcomes: bool = True):
        super().__init__(config, progress, keep_outcomes)
        self.zs = Zswap(config.variant, config.compressor, page_size=config.page_size,
                        total_ram_pages=config.total_ram_pages,
                        max_batch_size=config.max_batch_size)
        self.memcg = MemCgroup("/replay", self.zs.root, zswap_writeback=config.writeback)
        self.system = SwapSystem(self.zs)

    def _pages(self, chunk) -> list[bytes]:
        ps = self.config.page_size
        return [bytes(chunk[i:i + ps]) for i in range(0, len(chunk), ps)]

    def store(self, first: int, chunk) -> None:
        pages = self._pages(chunk)
        step = self.config.folio_pages
        system, expected = self.system, self.system.expected
        for at in range(0, len(pages), step):
            folio = Folio(tuple(pages[at:at + step]), first + at, self.memcg)
            self.window += b"".join(_CODES[o] for o in system.swap_out(folio))
            for offset in range(folio.offset, folio.offset + folio.nr_pages):
                expected.pop(offset, None)  # given back before the read
            if self.progress is not None:
                self.progress(folio.nr_pages)

    def snapshot(self):
        return (dict(self.zs.debugfs()), dict(self.memcg.memory_stat(self.zs.page_size)),
                self.zs.zpool.total_bytes)

    def _after_store(self) -> None:
        self.system.check_global()

    def load(self, first: int, chunk) -> None:
        system, expected = self.system, self.system.expected
        for i, page in enumerate(self._pages(chunk)):
            expected[first + i] = page
            system.swap_in(first + i)
            self.loaded_pages += 1
            if self.progress is not None:
                self.progress(1)

    def _after_load(self) -> None:
        self.system.check_global()

    def counters_now(self):
        return dict(self.zs.debugfs()), dict(self.zs.vm_events)

    @property
    def violations(self):
        return self.system.violations

    @violations.setter
    def violations(self, value):
        pass  # the swap layer keeps them


def replay_on_model(pages, config: RunConfig, progress=None):
    """Swap `pages` (a list of pages or a seekable `PageSource`) out through one
    configuration on the model, then back in; the invariants are checked after
    every store and every read."""

    return run_passes(ModelRun, pages, config, progress)

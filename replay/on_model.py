"""Replay: push a stream of pages through a variant and read every page back.

One run = one variant x compressor x writeback setting.  Pages are grouped
into folios of `folio_pages`, swapped out in order at consecutive swap
slots, then swapped in one by one; the spec's invariants are checked after
every store and every read, and over the whole pool after the swap-out and
after the swap-in.
"""

from __future__ import annotations

import time

from zswap_spec.model.memcg import MemCgroup
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.zswap import Folio, Zswap

from .results import OUTCOME_CODES, RunConfig, RunResult

__all__ = ["replay_on_model"]


def replay_on_model(pages, config: RunConfig, progress=None) -> RunResult:
    """Swap `pages` out through one configuration on the model, then back in;
    the invariants are checked after every store and every read."""
    start = time.perf_counter()
    zs = Zswap(config.variant, config.compressor, page_size=config.page_size,
               total_ram_pages=config.total_ram_pages, max_batch_size=config.max_batch_size)
    memcg = MemCgroup("/replay", zs.root, zswap_writeback=config.writeback)
    system = SwapSystem(zs)
    codes = []
    n = len(pages)
    step = config.folio_pages
    for first in range(0, n, step):
        folio = Folio(tuple(pages[first:first + step]), first, memcg)
        codes.extend(OUTCOME_CODES[o] for o in system.swap_out(folio))
        if progress is not None:
            progress(folio.nr_pages)
    system.check_global()
    counters = zs.debugfs()
    memory_stat = memcg.memory_stat(zs.page_size)
    pool_bytes = zs.zpool.total_bytes
    for offset in range(n):
        system.swap_in(offset)
        if progress is not None:
            progress(1)
    system.check_global()
    return RunResult(
        config=config,
        pages=n,
        outcomes="".join(codes),
        counters=counters,
        counters_after_load=zs.debugfs(),
        memory_stat=memory_stat,
        vm_events=dict(zs.vm_events),
        pool_bytes=pool_bytes,
        violations=system.violations,
        seconds=time.perf_counter() - start,
    )

"""Replay through the optimized core: the same run as `replay_pages`, with the
spec's invariants checked after the swap-out and after the swap-in over the
whole run instead of after every folio (the core stores a whole buffer in
one call).  The results agree with the model's field for field
(tests/pool/test_core_conformance.py).  Every finding comes from the pool
API's checks (`audit_violations`, `load_violations`, `counter_violations`),
worded as the model words it (`zswap_spec.model.invariants`).
"""

from __future__ import annotations

import time

from zswap_spec.pool.core_backend import CorePool
from zswap_spec.model.invariants import Violation, reject_counters_moved
from zswap_spec.model.zswap import DEBUGFS_COUNTERS, VM_EVENTS

from .results import RunResult

__all__ = ["replay_on_core"]

CHUNK_PAGES = 4096  # pages per call between progress reports


def _violations_after_swap_out(pool: CorePool, buf: bytes, outcomes: bytes, moved: bytes,
                               config) -> list[Violation]:
    out = pool.alloc_violations()
    out.extend(pool.audit_violations(0, buf, outcomes, config.writeback))
    for first in range(0, len(outcomes), config.folio_pages):
        delta = moved[first]
        if delta != 0xFF and delta != 1:
            out.append(reject_counters_moved(first, delta))
    out.extend(pool.counter_violations())
    return out


def replay_on_core(pages, config, progress=None):
    """`replay_pages` on the core (see the module's docstring)."""
    start = time.perf_counter()
    ps = config.page_size
    pool = CorePool(config.variant, config.compressor, ps, total_ram_pages=config.total_ram_pages,
                    max_batch_size=config.max_batch_size)
    cg = pool.add_cgroup(config.writeback)
    buf = b"".join(pages)
    n = len(pages)
    step = max(config.folio_pages, CHUNK_PAGES // config.folio_pages * config.folio_pages)
    outcomes = bytearray()
    moved = bytearray()
    for first in range(0, n, step):
        chunk = buf[first * ps:min(n, first + step) * ps]
        part = bytearray(len(chunk) // ps)
        outcomes += pool.store_run(chunk, first, config.folio_pages, cg, zeromap=True, moved=part)
        moved += part
        if progress is not None:
            progress(len(chunk) // ps)
    outcomes = bytes(outcomes)
    both = pool.counters()
    counters = {k: both[k] for k in DEBUGFS_COUNTERS}
    violations = _violations_after_swap_out(pool, buf, outcomes, bytes(moved), config) if n else []
    violations.sort(key=lambda v: -1 if v.offset is None else v.offset)
    stat = pool.memcg_stat(cg)
    memory_stat = dict(stat, zswapped=stat["zswapped"] * ps, zswap_incomp=stat["zswap_incomp"] * ps)
    pool_bytes = pool.pool_bytes
    for first in range(0, n, step):
        last = min(n, first + step)
        violations.extend(pool.load_violations(first, buf[first * ps:last * ps], outcomes[first:last]))
        if progress is not None:
            progress(last - first)
    after = pool.counters()
    violations.extend(pool.counter_violations())
    return RunResult(
        config=config,
        pages=n,
        outcomes=outcomes.decode(),
        counters=counters,
        counters_after_load={k: after[k] for k in DEBUGFS_COUNTERS},
        memory_stat=memory_stat,
        vm_events={k: after[k] for k in VM_EVENTS},
        pool_bytes=pool_bytes,
        violations=violations,
        seconds=time.perf_counter() - start,
    )

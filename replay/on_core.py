"""Replay through the optimized core: the same run as `replay_pages`, with the
spec's invariants checked after the swap-out and after the swap-in over the
whole run instead of after every folio (the core stores a whole buffer in
one call).  The results agree with the model's field for field
(tests/pool/test_core_conformance.py).
"""

from __future__ import annotations

import time

from zswap_spec.pool.core_backend import CorePool
from zswap_spec.model.cint import errno_name
from zswap_spec.model.invariants import Violation
from zswap_spec.model.zswap import DEBUGFS_COUNTERS, VM_EVENTS

from .results import RunResult

__all__ = ["replay_on_core"]

CHUNK_PAGES = 4096  # pages per call between progress reports


def _violations_after_swap_out(pool: CorePool, buf: bytes, outcomes: bytes, moved: bytes,
                               config) -> list[Violation]:
    out = []
    ps = config.page_size
    for size in pool.bad_alloc_sizes:
        out.append(Violation("INV-ALLOC", None, f"zs_malloc({size}) called"))
    audit = pool.audit(0, buf, outcomes)
    for offset in audit["extra"]:
        out.append(Violation("INV-ATOMIC", offset, "a rejected or zero-filled page has an entry"))
    for offset in audit["missing"]:
        out.append(Violation("INV-ATOMIC", offset, "a stored page has no entry"))
    for offset, length in audit["bad_length"]:
        out.append(Violation("INV-LEN", offset, f"entry length {length} outside (0, {ps}]"))
    for offset in audit["bad_raw"]:
        out.append(Violation("INV-RAW", offset,
                             f"entry length {ps} (read back as-is) holds bytes that are not the page"))
    if not config.writeback:
        for offset in audit["raw_offsets"]:
            out.append(Violation("INV-WB", offset, "page stored as-is while writeback was disabled"))
    for first in range(0, len(outcomes), config.folio_pages):
        delta = moved[first]
        if delta != 0xFF and delta != 1:
            out.append(Violation("INV-COUNTERS", first,
                                 f"rejected folio moved the reject_* counters by {delta}, not 1"))
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
        for offset, rc, at in pool.load_run(first, buf[first * ps:last * ps], outcomes[first:last]):
            violations.append(Violation(
                "INV-ROUNDTRIP", offset,
                f"page read back from zswap differs from byte {at} on" if rc == 1
                else f"page lost: zswap (zswap_load returned {errno_name(rc)})"))
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

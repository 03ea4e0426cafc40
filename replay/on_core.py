"""Replay through the optimized core: the same run as `replay_pages`, with the
spec's invariants checked after the swap-out and after the swap-in over the
whole run instead of after every folio (the core stores a whole chunk in
one call).  The results agree with the model's field for field
(tests/pool/test_core_conformance.py).  Every finding comes from the one
invariant checker (`zswap_spec.model.invariants.check`) over the pool,
whose per-slot facts the extension computes in C.

`CoreRun` takes its pages a chunk at a time and keeps none of them: the
audit (INV-RAW compares the pages stored as-is) and the read-back are
handed the same pages again (`replay.stream` drives the passes).
"""

from __future__ import annotations

from zswap_spec.pool.core_backend import CorePool
from zswap_spec.model.invariants import StoredRun
from zswap_spec.model.zswap import DEBUGFS_COUNTERS, VM_EVENTS

from .run import PoolLimitAhead, Run, pool_limit_pages, run_passes

__all__ = ["CoreRun", "replay_on_core"]

# zsmalloc pages beyond one per stored page: at most a partly filled zspage
# (up to 4 pages) per size class; 1024 is above that for every page size.
POOL_SLACK_PAGES = 1024
# What is checked over each chunk swapped out (its slots), and over the window once it
# is (its folios rejected past the limit checks, its zs_malloc sizes; at no slot: the
# core stores a chunk in one call); then the whole pool.
CHUNK_IDS = ("INV-ATOMIC", "INV-LEN", "INV-RAW", "INV-WB")
# A pool that keeps sizes only has no bytes to hold a page stored as-is against.
SIZES_ONLY_CHUNK_IDS = ("INV-ATOMIC", "INV-LEN", "INV-WB")
WINDOW_IDS = ("INV-ALLOC", "INV-COUNTERS")


class CoreRun(Run):
    """One configuration on a `CorePool`, fed chunk by chunk (on the threads of the
    shared table it is given, `check_load`; one thread otherwise).  With
    `sizes_only` the pool keeps sizes and counts but no bytes, and the run
    reads nothing back (`reads_back`); INV-RAW cannot be checked there.

    Compress once, decide many (`stream.run_together`): before a chunk is
    stored, `shared` may be set to that chunk's pages compressed once for
    every run of this compressor (`SharedCompression`).  With `share_bytes`,
    the pool keeps its bytes in blobs shared with the other runs of that
    compressor: each stored content held once, and read back once."""

    audits = True

    def __init__(self, config, progress=None, keep_outcomes: bool = True,
                 sizes_only: bool = False, share_bytes: bool = False):
        super().__init__(config, progress, keep_outcomes)
        self.pool = CorePool(config.variant, config.compressor, config.page_size,
                             total_ram_pages=config.total_ram_pages,
                             max_batch_size=config.max_batch_size)
        if sizes_only:
            self.pool.keep_sizes_only()
        elif share_bytes:
            self.pool.share_bytes()
        self.reads_back = not sizes_only
        self.chunk_ids = CHUNK_IDS if self.reads_back else SIZES_ONLY_CHUNK_IDS
        self.cg = self.pool.add_cgroup(config.writeback)
        self.moved = bytearray()  # the window's, one byte per page
        self.limit = pool_limit_pages(config)
        self.allocs_seen = 0
        self.malloc_sizes: list[int] = []  # the window's, out of range
        self.shared = None  # a SharedCompression of the chunk being stored
        self.codes = None  # check_load's answer for the chunk being read back

    def _store(self, first: int, chunk) -> bytes:
        n = len(chunk) // self.config.page_size
        if self.config.writeback and self.pool.pool_pages + n + POOL_SLACK_PAGES >= self.limit:
            # The kernel's shrink worker would write back here; only the model runs it.
            raise PoolLimitAhead(first)
        part = bytearray(n)
        codes = self.pool.store_run(chunk, first, self.config.folio_pages, self.cg,
                                    zeromap=True, moved=part, shared=self.shared)
        self.moved += part
        return codes

    def snapshot(self):
        both = self.pool.counters()
        stat = self.pool.memcg_stat(self.cg)
        ps = self.config.page_size
        return ({k: both[k] for k in DEBUGFS_COUNTERS},
                dict(stat, zswapped=stat["zswapped"] * ps, zswap_incomp=stat["zswap_incomp"] * ps),
                self.pool.pool_bytes)

    def _after_store(self) -> None:
        bad = self.pool.bad_alloc_sizes
        self.malloc_sizes = bad[self.allocs_seen:]
        self.allocs_seen = len(bad)

    def audit(self, first: int, chunk) -> None:
        n = len(chunk) // self.config.page_size
        at = first - self.window_first
        run = StoredRun(first, self.window[at:at + n], chunk, self.config.writeback)
        self.pending.extend(self.pool.check(run, self.chunk_ids))

    def audited(self) -> None:
        out = self.pending
        run = StoredRun(self.window_first, self.window, None, self.config.writeback,
                        moved=self.moved, malloc_sizes=self.malloc_sizes, one_folio=False)
        out.extend(self.pool.check(run, WINDOW_IDS))
        out.extend(self.pool.check())
        out.sort(key=lambda v: -1 if v.offset is None else v.offset)
        self.violations.extend(out)
        self.pending = []
        self.moved = bytearray()

    def check_load(self, first: int, chunk, shared=None) -> None:
        """The read-only half of the chunk's read-back (`CorePool.load_check`), on every
        thread (`shared`'s, a `SharedCompression` of this compressor, when given)."""
        n = len(chunk) // self.config.page_size
        at = first - self.window_first
        self.codes = self.pool.load_check(first, chunk, self.window[at:at + n], shared)

    def _load(self, first: int, chunk) -> None:
        if self.codes is None:
            self.check_load(first, chunk)
        bad = self.pool.load_apply(first, self.codes)
        self.codes = None
        self.violations.extend(self.pool.read_back_violations(bad))

    def _after_load(self) -> None:
        self.violations.extend(self.pool.check())

    def counters_now(self):
        after = self.pool.counters()
        return {k: after[k] for k in DEBUGFS_COUNTERS}, {k: after[k] for k in VM_EVENTS}


def replay_on_core(pages, config, progress=None):
    """`replay_pages` on the core (see the module's docstring): `pages` is a list
    of pages or a seekable `PageSource`."""

    return run_passes(CoreRun, pages, config, progress)

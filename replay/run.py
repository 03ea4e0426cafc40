"""One replay run fed a window of pages at a time, chunk by chunk: what the
model's and the core's runs (`on_model.ModelRun`, `on_core.CoreRun`) share.

A window is swapped out (`store` for each chunk, then `swapped_out`), the
core audits it (`audit` for each chunk again, then `audited`), and it is read
back (`load` for each chunk, then `loaded`, `end_window`).  A file is one
window; a stream is many (`replay.stream`).  The figures "after the
swap-out" (debugfs counters, memory.stat, pool bytes) are, over several
windows, the sum of what each window's swap-out added; the figures after the
read-back are those at the end.
"""

from __future__ import annotations

import time

from .results import RunConfig, RunResult, Violations
from .source import PageSource, pages_source

__all__ = ["Run", "PoolLimitAhead", "pool_limit_pages", "Stopped", "run_passes", "run_needs"]

CODES = b"0crx"


class PoolLimitAhead(Exception):
    """The next chunk may take the pool to its limit, where the kernel's shrink
    worker would write back: only the model runs it (`zswap_spec.pool`)."""


def pool_limit_pages(config) -> int:
    """The pool limit of a run, in pages (`zswap_max_pages`)."""
    from zswap_spec.model.zswap import Zswap

    return config.total_ram_pages * Zswap.DEFAULT_MAX_POOL_PERCENT // 100


def _plus(total, after, before):
    if before is None:
        return dict(after)
    return {k: total[k] + after[k] - before[k] for k in after}


class Run:
    audits = False  # does the run need the window's pages a second time before the read-back?
    reads_back = True  # False: a pool that keeps sizes only (on_core.CoreRun)

    def __init__(self, config, progress=None, keep_outcomes: bool = True):
        self.config = config
        self.progress = progress
        self.keep = keep_outcomes
        self.outcomes = bytearray()  # every page's code, when kept
        self.tally = dict.fromkeys(CODES, 0)
        self.differs: int | None = None
        self.violations = Violations()  # bounded: every one counted
        self.pending: list = []
        self.window = bytearray()  # the current window's codes
        self.window_first = 0
        self.windows = 0  # windows done
        self.pages = 0  # pages of the windows done
        self.loaded_pages = 0  # of the current window
        self.phase = "idle"
        self.before = None
        self.after_out = None  # the sums of the windows done: (counters, memory.stat, pool bytes)
        self.window_out = None  # the same, with the current window
        self.after_load = None  # (counters, vm events) after the last window done
        self.initial = None  # (snapshot(), counters_now()) of the fresh pool
        self.start = time.perf_counter()

    # -- what a subclass gives ------------------------------------------------------
    def snapshot(self):
        raise NotImplementedError

    def counters_now(self):
        raise NotImplementedError

    def _store(self, first: int, chunk) -> bytes:
        raise NotImplementedError

    def _load(self, first: int, chunk) -> None:
        raise NotImplementedError

    def _after_store(self) -> None:
        pass

    def _after_load(self) -> None:
        pass

    def audit(self, first: int, chunk) -> None:
        pass

    def audited(self) -> None:
        pass

    # -- the window's steps ------------------------------------------------------------
    def begin_window(self, first: int) -> None:
        self.window_first = first
        self.window = bytearray()
        self.loaded_pages = 0
        self.before = self.snapshot() if self.windows else None
        if not self.windows:
            self.initial = (self.snapshot(), self.counters_now())
        self.phase = "store"

    def store(self, first: int, chunk) -> None:
        codes = self._store(first, chunk)
        self.window += codes
        if self.progress is not None:
            self.progress(len(codes))

    def swapped_out(self) -> None:
        counters, stat, pool_bytes = self.snapshot()
        if self.after_out is None or self.before is None:
            self.window_out = (dict(counters), dict(stat), pool_bytes)
        else:
            c0, s0, b0 = self.before
            c, s, b = self.after_out
            self.window_out = (_plus(c, counters, c0), _plus(s, stat, s0), b + pool_bytes - b0)
        self._after_store()
        self.phase = "read-back"

    def load(self, first: int, chunk) -> None:
        self._load(first, chunk)
        n = len(chunk) // self.config.page_size
        self.loaded_pages += n
        if self.progress is not None:
            self.progress(n)

    def loaded(self) -> None:
        self._after_load()

    def end_window(self) -> None:
        self.after_out = self.window_out
        self.after_load = self.counters_now()
        for code in CODES:
            self.tally[code] += self.window.count(code)
        if self.keep:
            self.outcomes += self.window
        self.pages += len(self.window)
        self.windows += 1
        self.window = bytearray()
        self.phase = "idle"

    # -- the result ----------------------------------------------------------------------
    def result(self, interrupted: bool = False) -> RunResult:
        """The run's result: every window done, and for a run with its outcomes kept
        (one window: a file) one stopped part way, its `stopped` saying where."""
        stopped = None
        after_out, after_load = self.after_out, self.after_load
        outcomes, pages, tally = self.outcomes, self.pages, dict(self.tally)
        if self.phase != "idle" and self.keep:
            n = len(self.window)
            outcomes = outcomes + self.window
            pages += n
            for code in CODES:
                tally[code] += self.window.count(code)
            if self.phase == "store":
                after_out = self.snapshot()
                stopped = f"stopped during the swap-out after {n} pages; none read back"
            else:
                after_out = self.window_out
                stopped = f"stopped during the read-back after {self.loaded_pages} of {n} pages"
            after_load = self.counters_now()
        elif self.phase != "idle" or (interrupted and not self.keep):
            stopped = (f"stopped after {self.windows} whole windows ({self.pages} pages); "
                       f"the window under way is left out")
        if after_out is None:  # nothing done: the figures of the fresh pool
            after_out, after_load = self.initial or (self.snapshot(), self.counters_now())
        counters, memory_stat, pool_bytes = after_out
        counters_after_load, vm_events = after_load
        return RunResult(
            config=self.config,
            pages=pages,
            outcomes=bytes(outcomes).decode() if self.keep else "",
            counters=dict(counters),
            counters_after_load=dict(counters_after_load),
            memory_stat=dict(memory_stat),
            vm_events=dict(vm_events),
            pool_bytes=pool_bytes,
            violations=self.violations,
            seconds=time.perf_counter() - self.start,
            outcome_counts=None if self.keep else {chr(c): n for c, n in tally.items()},
            differs=self.differs,
            stopped=stopped,
            sizes_only=not self.reads_back,
        )


class Stopped(KeyboardInterrupt):
    """An interrupt, with the results of what was done (`results`)."""

    def __init__(self, results: list[RunResult]):
        super().__init__()
        self.results = results


def as_source(pages, page_size: int) -> PageSource:
    return pages if isinstance(pages, PageSource) else pages_source(pages, page_size)


def run_passes(cls, pages, config: RunConfig, progress=None) -> RunResult:
    """One configuration over a seekable source (or a list of pages), in passes."""
    source = as_source(pages, config.page_size)
    run = cls(config, progress)
    step = source.chunk_pages(config.folio_pages)
    try:
        run.begin_window(0)
        for first, chunk in source.chunks(step):
            run.store(first, chunk)
        run.swapped_out()
        if run.window:
            if run.audits:
                for first, chunk in source.chunks(step):
                    run.audit(first, chunk)
            run.audited()
            for first, chunk in source.chunks(step):
                run.load(first, chunk)
        run.loaded()
        run.end_window()
    except KeyboardInterrupt:
        raise Stopped([run.result()]) from None
    return run.result()


def run_needs(nr_pages: int | None, config: RunConfig) -> list[str]:
    """What a run of `nr_pages` pages needs of the implementation
    (`zswap_spec.pool.resolve_impl`'s features); None: not known yet (the core
    then serves while the pool stays clear of its limit, `stream.replay_one`)."""
    from zswap_spec.pool import SHRINK_WORKER, compressor_feature, variant_feature

    needs = [compressor_feature(config.compressor), variant_feature(config.variant)]
    if nr_pages is not None and config.writeback and _may_reach_pool_limit(nr_pages, config):
        needs.append(SHRINK_WORKER)
    return needs


# zsmalloc pages beyond one per stored page: at most a partly filled zspage
# (up to 4 pages) per size class; 1024 is above that for every page size.
_POOL_SLACK_PAGES = 1024


def _may_reach_pool_limit(nr_pages: int, config: RunConfig) -> bool:
    """Can `nr_pages` stored pages reach the pool limit (`zswap_max_pages`)?
    Each stored page takes at most one pool page, plus the slack above."""
    from zswap_spec.model.zswap import Zswap

    limit = config.total_ram_pages * Zswap.DEFAULT_MAX_POOL_PERCENT // 100
    return nr_pages + _POOL_SLACK_PAGES >= limit

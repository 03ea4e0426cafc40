"""Replay runs driven over a `PageSource`, holding a chunk of the input at a time.

- A *seekable* source (files) is replayed one configuration after another,
  each in passes over the input (`run_passes`): swap every page out, chunk
  by chunk; the core's audit (a second pass); the read-back, each page
  checked against the input read again (the last pass).  The pool holds the
  whole input, as the kernel's would, and the results are those of the
  whole input at once.
- A *stream* (a pipe, a FIFO, /dev/zero) cannot be read twice: it is
  replayed in windows of `WINDOW_BYTES` (`run_windows`).  Each window is
  handed to every configuration in turn, swapped out, audited and read back
  against the window's bytes, which are then dropped; the pool is empty
  again before the next window, so an endless stream runs in constant
  memory until it is stopped.  The figures after the swap-out are the sums
  over the windows (`replay.run`); the code of each page is not kept, only
  the counts and how many differ from the mainline run's.

An interrupt (Ctrl-C, SIGTERM) raises `Stopped`, a KeyboardInterrupt that
carries the results so far: the runs done, and the run under way with its
`stopped` note (a stream's runs: their whole windows).
"""

from __future__ import annotations

from .results import RunConfig, RunResult
from .run import PoolLimitAhead, Stopped, run_needs, run_passes
from .source import PageSource

__all__ = ["Stopped", "WINDOW_BYTES", "run_passes", "run_windows", "replay_source"]

WINDOW_BYTES = 64 << 20


def _diff(a: bytes, b: bytes) -> int:
    return sum(x != y for x, y in zip(a, b))


def run_windows(source: PageSource, configs: list[RunConfig], impls: list[str],
                progress=None, window_bytes: int | None = None) -> list[RunResult]:
    """Every configuration over a stream, window by window (`impls`: "core" or
    "model" for each)."""
    from .on_core import CoreRun
    from .on_model import ModelRun

    runs = [(CoreRun if impl == "core" else ModelRun)(cfg, progress, keep_outcomes=False)
            for cfg, impl in zip(configs, impls)]
    mainline = {}
    for run in runs:
        c = run.config
        if c.variant == "mainline":
            mainline[(c.compressor, c.writeback, c.folio_pages, c.page_size)] = run
    partner = {}
    for run in runs:
        c = run.config
        ref = mainline.get((c.compressor, c.writeback, c.folio_pages, c.page_size))
        if ref is not None and ref is not run:
            partner[id(run)] = ref
            run.differs = 0
    fp = max(c.folio_pages for c in configs)
    window = source.chunk_pages(fp, window_bytes or WINDOW_BYTES)  # folios of up to 512 pages divide it
    try:
        for first, chunk in source.chunks(window):
            for run in runs:
                run.begin_window(first)
                run.store(first, chunk)
                run.swapped_out()
                run.audit(first, chunk)
                run.audited()
                run.load(first, chunk)
                run.loaded()
            for run in runs:
                ref = partner.get(id(run))
                if ref is not None:
                    run.differs += _diff(run.window, ref.window)
            for run in runs:
                run.end_window()
    except KeyboardInterrupt:
        raise Stopped([run.result(interrupted=True) for run in runs]) from None
    return [run.result() for run in runs]


def replay_one(source, config: RunConfig, progress=None, impl: str | None = "model") -> RunResult:
    """One configuration over a seekable source, on the implementation `impl`
    picks (`zswap_spec.pool.resolve_impl`).  The core serves while the pool
    stays clear of its limit; where the kernel's shrink worker might have to
    write back (writeback on), auto hands the run to the model, from the
    start, and an explicit core is refused (PoolInputError)."""
    from zswap_spec.pool import SHRINK_WORKER, resolve_impl

    from . import on_core, on_model

    needs = run_needs(None, config)
    if resolve_impl(impl, needs=needs) == "core":
        try:
            return on_core.replay_on_core(source, config, progress)
        except PoolLimitAhead:
            resolve_impl(impl, needs=needs + [SHRINK_WORKER])  # the model, or refused
    return on_model.replay_on_model(source, config, progress)


def replay_source(source: PageSource, configs: list[RunConfig], impl: str | None = "model",
                  progress=None) -> list[RunResult]:
    """Every configuration over `source`: in passes, one after another, for
    files; in windows, all at once, for a stream."""
    if source.seekable:
        done: list[RunResult] = []
        for cfg in configs:
            try:
                done.append(replay_one(source, cfg, progress, impl))
            except Stopped as e:
                raise Stopped(done + e.results) from None
            except KeyboardInterrupt:
                raise Stopped(done) from None
        return done
    from zswap_spec.pool import resolve_impl

    window_pages = source.chunk_pages(max(c.folio_pages for c in configs), WINDOW_BYTES)
    impls = [resolve_impl(impl, needs=run_needs(window_pages, cfg)) for cfg in configs]
    return run_windows(source, configs, impls, progress)

"""Replay runs driven over a `PageSource`, holding a chunk of the input at a time.

- A *seekable* source (files) is replayed in passes over the input: the
  configurations on the core all together (`run_together`: swap every page
  out chunk by chunk, each chunk compressed once and checked as it is
  stored; then the read-back, each page checked against the input read
  again), those on the model one after another (`run_passes`: the model
  checks each folio as it stores it).  The pool holds the whole input, as
  the kernel's would, and the results are those of the whole input at once.
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

import contextlib
import math
import queue
import threading

from .results import RunConfig, RunResult
from .run import PoolLimitAhead, Stopped, as_source, run_needs, run_passes
from .source import PageSource

__all__ = ["Stopped", "WINDOW_BYTES", "run_passes", "run_windows", "replay_source", "replay_paths"]

WINDOW_BYTES = 64 << 20


def _diff(a: bytes, b: bytes) -> int:
    return sum(x != y for x, y in zip(a, b))


def run_windows(source: PageSource, configs: list[RunConfig], impls: list[str],
                progress=None, window_bytes: int | None = None, threads: int = 1) -> list[RunResult]:
    """Every configuration over a stream, window by window (`impls`: "core" or
    "model" for each).  A window's pages are compressed once per compressor for
    the runs on the core (`SharedCompression`, on `threads` threads), and the
    bytes they store are held once for all of them, until the next window
    (`CorePool.share_bytes`): each run reads its window back before the next
    run stores it, so one window's pool is held at a time, and each stored
    content is decompressed once."""
    from .on_core import CoreRun
    from .on_model import ModelRun

    runs = [CoreRun(cfg, progress, keep_outcomes=False, share_bytes=True) if impl == "core"
            else ModelRun(cfg, progress, keep_outcomes=False) for cfg, impl in zip(configs, impls)]
    tables = _tables([r.config for r in runs if isinstance(r, CoreRun)], threads)
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
            for table in tables.values():
                table.fill(chunk)
            begun: list = []
            for run in runs:
                run.begin_window(first)
                if isinstance(run, CoreRun):
                    run.shared = tables[(run.config.compressor, run.config.page_size)]
                try:
                    run.store(first, chunk)
                finally:
                    run.shared = None
                run.swapped_out()
                run.audit(first, chunk)
                run.audited()
                if isinstance(run, CoreRun):
                    table = tables[(run.config.compressor, run.config.page_size)]
                    if table not in begun:
                        table.begin_read_back(chunk)
                        begun.append(table)
                    run.check_load(first, chunk, table)
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
    return replay_source(as_source(source, config.page_size), [config], impl, progress)[0]


def _tables(configs, threads: int) -> dict:
    """One `SharedCompression` per (compressor, page size) of `configs`."""
    from zswap_spec.pool.core_backend import SharedCompression

    return {key: SharedCompression(*key, threads)
            for key in dict.fromkeys((c.compressor, c.page_size) for c in configs)}


def _read_ahead(source: PageSource, step: int, ahead: bool = False):
    """(first, chunk) for each chunk of `source`.  With `ahead`, the next chunk is read
    on a thread of its own while the caller works on this one (two buffers); an error
    there is raised here.  The caller must be done with a chunk before it asks for
    the one after the next."""
    if not ahead:
        yield from source.chunks(step)
        return
    done = object()
    items: queue.Queue = queue.Queue()
    room = threading.Semaphore(2)  # chunks read and not yet released by the caller
    stop = threading.Event()

    def produce():
        chunks = source.chunks(step, buffers=2)
        try:
            while True:
                room.acquire()
                if stop.is_set():
                    return
                item = next(chunks, done)
                items.put(item)
                if item is done:
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the caller, who raises it
            items.put(e)
        finally:
            chunks.close()

    worker = threading.Thread(target=produce, name="zswap-spec-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            room.release()
    finally:
        stop.set()
        room.release()
        room.release()
        worker.join()


def _compressed(source: PageSource, step: int, turns: list[dict]):
    """(first, chunk, tables) for each chunk of `source`, its pages compressed in the
    tables of its turn.  With two turns (more than one thread), the next chunk's
    compression is started on its tables' workers before this chunk is handed out,
    and finished, this thread taking its share, when the caller asks for the next:
    the caller's work on a chunk and the next chunk's compression share the cores,
    and no more threads than the tables have are busy.  The caller must be done
    with a chunk before it asks for the one after the next."""
    if len(turns) == 1:
        for first, chunk in source.chunks(step):
            for table in turns[0].values():
                table.fill(chunk)
            yield first, chunk, turns[0]
        return
    ready = None
    for i, (first, chunk) in enumerate(source.chunks(step, buffers=2)):
        mine = turns[i % 2]
        started = []
        try:
            for table in mine.values():
                table.fill_start(chunk)
                started.append(table)
            if ready is not None:
                yield ready
        finally:
            for table in started:  # (also when the caller stops: no worker left reading)
                table.fill_finish()
        ready = first, chunk, mine
    if ready is not None:
        yield ready
    source.check_pass()  # the chunks used after the source's own last look


def run_together(source: PageSource, configs: list[RunConfig], progress=None, threads: int = 1,
                 sizes_only: bool = False) -> tuple[list[RunResult], list[RunConfig]]:
    """Every configuration on the core over a seekable source at once, in passes:
    compress once, decide many.

    Each chunk is read once per pass for all the runs.  Before it is stored its
    pages are compressed once per compressor, on `threads` threads
    (`SharedCompression`), and every run of that compressor takes its pages'
    compression from there; its own code decides what to store.  The runs'
    pools hold the bytes they store in blobs they share (`CorePool.share_bytes`):
    a page's compressed output, or the page as-is, is kept once for all of
    them, and read back once, on every thread (`CorePool.load_check`).  Each
    result is field for field that of the configuration run alone
    (tests/replay/test_replay_shared.py).

    Each chunk's slots are checked right after it is stored, while its pages
    are at hand (INV-ATOMIC, INV-LEN, INV-RAW, INV-WB; no later store of the
    run touches them: offsets are not reused and the core runs no writeback),
    so the input is read twice: to swap out, and to read back.  With
    `sizes_only` the pools keep no bytes and nothing is read back: one pass.
    Returns the results, and the configurations that came near the pool limit
    with writeback on (only the model runs the shrink worker there:
    `PoolLimitAhead`), left for the caller."""
    from .on_core import CoreRun

    folios = sorted({c.folio_pages for c in configs})
    if math.lcm(*folios) > max(folios) * 8:
        # A chunk must hold whole folios of every size: far apart sizes go one size at a time.
        done: dict = {}
        limited: list[RunConfig] = []
        for size in folios:
            part = [c for c in configs if c.folio_pages == size]
            try:
                got, left = run_together(source, part, progress, threads, sizes_only)
            except Stopped as e:
                raise Stopped([done[c] for c in configs if c in done] + e.results) from None
            limited += left
            done.update(zip([c for c in part if c not in left], got))
        return [done[c] for c in configs if c in done], limited

    # The runs' pools keep their bytes in blobs shared by the runs of their compressor, and
    # work on the threads of its table; their own threads would only wait.
    runs = [CoreRun(cfg, progress, sizes_only=sizes_only, share_bytes=not sizes_only)
            for cfg in configs]
    tables = _tables(configs, threads)
    step = source.chunk_pages(math.lcm(*(c.folio_pages for c in configs)))
    live = list(runs)
    limited: list[RunConfig] = []

    def key_of(run):
        return (run.config.compressor, run.config.page_size)

    # With more than one thread, the next chunk is compressed on the tables' workers while
    # this thread stores this one, then helps finish it: each of the two buffers has its
    # own tables.
    ahead = threads > 1
    turns = [tables, _tables(configs, threads)] if ahead else [tables]
    try:
        for run in live:
            run.begin_window(0)
        with contextlib.closing(_compressed(source, step, turns)) as chunks:
            for first, chunk, mine in chunks:
                for run in list(live):
                    run.shared = mine[key_of(run)]
                    try:
                        run.store(first, chunk)
                    except PoolLimitAhead:
                        live.remove(run)
                        limited.append(run.config)
                        continue
                    finally:
                        run.shared = None
                    run.audit(first, chunk)
        for run in live:
            run.swapped_out()
        stored = [r for r in live if r.window]
        for run in stored:
            run.audited()
        reading = [r for r in stored if r.reads_back]
        if reading:
            with contextlib.closing(_read_ahead(source, step, ahead)) as chunks:
                for first, chunk in chunks:
                    for table in tables.values():
                        table.begin_read_back(chunk)
                    for run in reading:
                        run.check_load(first, chunk, tables[key_of(run)])
                    for run in reading:
                        run.load(first, chunk)
            if ahead:
                source.check_pass()  # the last chunks were read back after its last look
        for run in live:
            run.loaded()
            run.end_window()
    except KeyboardInterrupt:
        raise Stopped([run.result() for run in live]) from None
    return [run.result() for run in live], limited


def replay_source(source: PageSource, configs: list[RunConfig], impl: str | None = "model",
                  progress=None, threads: int = 1, sizes_only: bool = False,
                  note=None) -> list[RunResult]:
    """Every configuration over `source`, results in the order of `configs`.

    Files: the configurations the core serves run together (`run_together`),
    then, one after another, those on the model (which compresses for each:
    it shares nothing).  A stream: in windows, all at once (`run_windows`).
    `threads` and `sizes_only` are the core's (a run on the model ignores
    `threads`; `sizes_only` needs every run on the core: PoolInputError).
    `note` is told of each run that leaves the core part way (the pool limit)."""
    from zswap_spec.pool import SHRINK_WORKER, PoolInputError, resolve_impl

    from . import on_model

    if not source.seekable:
        if sizes_only:
            raise PoolInputError("sizes only needs a file: a stream is replayed in windows, each "
                                 "read back before the next; replay a file, or drop sizes only")
        window_pages = source.chunk_pages(max(c.folio_pages for c in configs), WINDOW_BYTES)
        impls = [resolve_impl(impl, needs=run_needs(window_pages, cfg)) for cfg in configs]
        return run_windows(source, configs, impls, progress, threads=threads)
    on = {i: resolve_impl(impl, needs=run_needs(None, cfg)) for i, cfg in enumerate(configs)}
    model_only = [configs[i] for i, v in on.items() if v != "core"]
    if sizes_only and model_only:
        raise PoolInputError(f"sizes only runs on the optimized core, and the variant "
                             f"{model_only[0].variant} runs on the model; drop sizes only, or "
                             f"that variant")
    done: dict[int, RunResult] = {}

    def ordered(extra=()):
        return [done[i] for i in sorted(done)] + list(extra)

    core_idx = [i for i, v in on.items() if v == "core"]
    if core_idx:
        try:
            results, limited = run_together(source, [configs[i] for i in core_idx], progress,
                                             threads, sizes_only)
        except Stopped as e:
            raise Stopped(e.results) from None
        left = iter(results)
        for i in core_idx:
            if configs[i] in limited:
                needs = run_needs(None, configs[i]) + [SHRINK_WORKER]
                on[i] = resolve_impl(impl, needs=needs)  # the model, or refused
                if note is not None:
                    note(f"{configs[i].variant}/{configs[i].compressor} with writeback on comes "
                         f"near the pool limit, where the kernel's shrink worker writes back: "
                         f"run again on the model, which runs it (and shares no compression)")
                if sizes_only:
                    raise PoolInputError(
                        f"{configs[i].variant}/{configs[i].compressor} with writeback on comes near "
                        f"the pool limit, where the kernel's shrink worker writes back: only the "
                        f"model runs it, and it keeps every byte; give --writeback off with sizes "
                        f"only, or a smaller input")
            else:
                done[i] = next(left)
    for i, cfg in enumerate(configs):
        if i in done:
            continue
        try:
            done[i] = on_model.replay_on_model(source, cfg, progress)
        except Stopped as e:
            raise Stopped(ordered(e.results)) from None
        except KeyboardInterrupt:
            raise Stopped(ordered()) from None
    return ordered()


def replay_paths(paths, configs: list[RunConfig], impl: str | None = "auto", progress=None,
                 warn=None, threads: int = 1, sizes_only: bool = False) -> list[RunResult]:
    """Every configuration over the files at `paths` (one input, their
    concatenation), as `zswap-spec replay` runs them: what a cluster's
    worker runs for its share (`replay.cluster`).  SourceError names a file
    that cannot be read."""
    from .source import open_source

    page_size = configs[0].page_size
    return replay_source(open_source(paths, page_size, warn), configs, impl, progress, threads,
                         sizes_only)

"""`zswap-spec replay`: Swap files of pages out through variants and compressors, read back, check."""

from __future__ import annotations

import json
import sys

import click

from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.variants import VARIANTS

from .errors import EXIT_CLEAN, EXIT_FINDINGS, InputError
from .options import (Progress, check_names, check_page_size, choice_list, given, page_size_option,
                      read_pages, resolve_impl, signals_held)


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--variant", "variants", multiple=True,
              help=f"Variant to run (repeatable; default all): {choice_list(VARIANTS)}.")
@click.option("--compressor", "compressors", multiple=True,
              help=f"Compressor (repeatable; default lz4): {choice_list(ALGORITHMS)}.")
@click.option("--folio-pages", type=int, default=1, show_default=True,
              help="Pages per folio, 1 to 512.")
@click.option("--writeback", type=click.Choice(["on", "off", "both"]), default="on",
              show_default=True,
              help="memory.zswap.writeback: on, off, or both (every run twice, in one invocation).")
@click.option("--no-writeback", is_flag=True, help="Same as --writeback off.")
@page_size_option
@click.option("--impl", type=click.Choice(["auto", "core", "model"]), default="auto",
              show_default=True,
              help="Implementation: the optimized core, the model, or auto (ZSWAP_SPEC_IMPL if set, "
                   "else the core when it is built and implements the run, else the model).")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Threads of the optimized core, 1 to 8: each chunk's pages are compressed "
                   "and read back on all of them.")
@click.option("--sizes-only", is_flag=True,
              help="Keep sizes and counts, not bytes: outcomes, counters, memory.stat and pool "
                   "bytes, with nothing read back (INV-RAW and INV-ROUNDTRIP not checked); "
                   "for inputs larger than memory.  The optimized core only.")
@click.option("--each-file", is_flag=True,
              help="Replay each FILE as an input of its own (a fleet of dumps), not their "
                   "concatenation; each run names its input.")
@click.option("--cluster", metavar="ADDRESS",
              help="Run on a Dask cluster: its scheduler's address (tcp://HOST:8786); each "
                   "input and compressor is a task.  Every worker must see FILE at the same "
                   "path.  Needs the cluster extra (pip install 'zswap-spec[cluster]').")
@click.option("--json", "as_json", is_flag=True, help="Print {\"runs\": [...]} as JSON.")
def replay(files, variants, compressors, folio_pages, writeback, no_writeback, page_size, impl,
           threads, sizes_only, each_file, cluster, as_json) -> None:
    """Swap FILE... out through each variant and compressor, read it back, check.

    Files are read a chunk at a time, in passes; every configuration runs
    together, each page compressed once per compressor for all of them.  A
    pipe, FIFO or device such as /dev/zero is replayed in windows, each read
    back before the next (the README's replay section)."""
    results: list = []  # the runs done, as they are done
    try:
        stopped = _replay(results, files, variants, compressors, folio_pages, writeback,
                          no_writeback, page_size, impl, threads, sizes_only, each_file, cluster)
    except KeyboardInterrupt as e:  # before the first run, or between runs
        from zswap_spec.replay.stream import Stopped

        stopped = e if isinstance(e, Stopped) else Stopped(list(results))
        results[:] = stopped.results
    from zswap_spec.replay.report import print_runs, runs_json

    with signals_held():  # an interrupt now comes after what was done is printed
        if as_json:
            click.echo(json.dumps(runs_json(results, interrupted=stopped is not None), indent=2))
        else:
            print_runs(results)
    if stopped is not None:
        raise stopped  # exit 130, after what was done
    broken = any(r.violations for r in results)
    sys.exit(EXIT_FINDINGS if broken else EXIT_CLEAN)


def _replay(results: list, files, variants, compressors, folio_pages, writeback, no_writeback,
            page_size, impl, threads, sizes_only, each_file, cluster):
    """Check the request, then run it, appending each run's result to `results`; the
    interrupt that stopped it (None: it ran to the end)."""
    from zswap_spec.pool import PoolInputError
    from zswap_spec.replay import RunConfig, run_needs
    from zswap_spec.replay.source import SourceError
    from zswap_spec.replay.stream import Stopped, replay_source

    if no_writeback and writeback != "off" and given(click.get_current_context(), "writeback"):
        raise InputError(f"--no-writeback contradicts --writeback {writeback}; give one of them")
    if no_writeback:
        writeback = "off"
    settings = {"on": [True], "off": [False], "both": [True, False]}[writeback]
    variants = check_names("variant", variants, VARIANTS) or list(VARIANTS)
    compressors = check_names("compressor", compressors, ALGORITHMS) or ["lz4"]
    if not 1 <= folio_pages <= 512:
        raise InputError(f"--folio-pages {folio_pages} is out of range; use 1 to 512")
    check_page_size(page_size)
    if not 1 <= threads <= 8:
        raise InputError(f"--threads {threads} is out of range; use 1 to 8")
    if cluster is not None and not cluster.strip():
        raise InputError("--cluster: no scheduler address given; start one with `dask "
                         "scheduler` and give the tcp://HOST:8786 address it prints")
    note = lambda msg: click.echo(f"zswap-spec: note: {msg}", err=True)  # noqa: E731
    sources = read_pages(files, page_size, note, each=each_file)
    sources = sources if each_file else [sources]
    names = list(files) if each_file else [None]
    streams = [i.path for s in sources for i in s.inputs if i.size is None]
    if sizes_only and streams:
        raise InputError(f"{streams[0]}: --sizes-only needs a file (a pipe, FIFO or device is "
                         f"replayed in windows, each read back before the next); replay a "
                         f"copy in a file, or drop --sizes-only")
    if cluster and streams:
        raise InputError(f"{streams[0]}: --cluster replays files, and a pipe, FIFO or device "
                         f"can be read only here; copy it to a file every worker can read")
    configs = [RunConfig(v, c, wb, folio_pages, page_size)
               for wb in settings for c in compressors for v in variants]
    # Refuse what the request cannot serve before any run (a compressor the core
    # lacks); near the pool limit each run takes the model as it goes.
    on = [resolve_impl(impl, needs=run_needs(None, cfg)) for cfg in configs]
    if sizes_only and "model" in on:
        why = ("--impl model" if impl == "model" else
               f"the variant {configs[on.index('model')].variant} runs on the model")
        raise InputError(f"--sizes-only runs on the optimized core, and {why}; drop "
                         f"--sizes-only, or {'--impl model' if impl == 'model' else 'that variant'}")
    _say_what_does_not_share(configs, on, threads, sizes_only, note)
    pages = sum(s.nr_pages or 0 for s in sources)
    with Progress(pages * (1 if sizes_only else 2) * len(configs)) as advance:
        try:
            if cluster:
                results += _on_cluster(cluster, files, each_file, configs, impl, threads,
                                       sizes_only)
            else:
                for source, name in zip(sources, names):
                    try:
                        got = replay_source(source, configs, impl, advance, threads, sizes_only,
                                            note=note)
                    except Stopped as e:
                        e.results = results + [r.named(name) for r in e.results]
                        raise
                    results += [r.named(name) for r in got]
        except Stopped as e:
            results[:] = e.results
            return e
        except SourceError as e:
            raise InputError(str(e)) from None
        except PoolInputError as e:
            raise InputError(str(e)) from None
    return None


def _say_what_does_not_share(configs, on, threads: int, sizes_only: bool, note) -> None:
    """Compress once, decide many holds for the runs on the optimized core; say which
    runs leave it (the model compresses every page for each of its runs)."""
    model = [c for c, impl in zip(configs, on) if impl == "model"]
    if model and len(configs) > 1 and not sizes_only:
        names = ", ".join(sorted({c.variant for c in model}))
        note(f"{len(model)} of {len(configs)} runs are on the model ({names}), which shares "
             f"no compression: each compresses every page itself")
    if model and threads > 1:
        note(f"--threads {threads} applies to the optimized core's runs; the model's run on "
             f"one thread")


def _on_cluster(address, files, each_file, configs, impl, threads, sizes_only):
    from zswap_spec.replay.cluster import ClusterError, replay_on_cluster

    inputs = [[f] for f in files] if each_file else [list(files)]
    try:
        got = replay_on_cluster(address, inputs, configs, impl, threads=threads,
                                sizes_only=sizes_only)
    except ClusterError as e:
        raise InputError(str(e)) from None
    names = [f for f in files] if each_file else [None]
    return [r.named(names[i // len(configs)]) for i, r in enumerate(got)]

"""`zswap-spec bench`: The optimized core beside a raw C loop, a Python loop and the model."""

from __future__ import annotations

import json

import click
from rich import box
from rich.table import Table

from zswap_spec.support.console import console

from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.variants import VARIANTS

from .errors import InputError
from .options import check_names, given


@click.command()
@click.option("--compressor", "compressors", multiple=True,
              help="Compressor to measure (repeatable; default: lz4, zstd and deflate).")
@click.option("--pages", type=int, default=4096, show_default=True,
              help="Pages in the fixed mix (the built-in sample, then text, zero and random pages).")
@click.option("--variant", default="uniform", show_default=True,
              help="Variant the model and the core run (uniform gives every compressor batches "
                   "of 8 units, which the second thread can share).")
@click.option("--repeat", type=int, default=5, show_default=True,
              help="Repetitions; the best of them is reported.")
@click.option("--folio-pages", type=int, default=8, show_default=True, help="Pages per folio.")
@click.option("--replay", "replay_bench", is_flag=True,
              help="Measure `zswap-spec replay` end to end instead, beside the raw compress-and-"
                   "decompress loop: one and two threads, one configuration and all, peak "
                   "memory against pool bytes (one compressor; --mib, --repeat).")
@click.option("--mib", type=int, default=1024, show_default=True,
              help="With --replay: MiB of mixed content to replay (written to a temporary file).")
@click.option("--json", "as_json", is_flag=True,
              help='Print the figures and {"ratios": {COMPRESSOR: {...}}} as JSON.')
def bench(compressors, pages, variant, repeat, folio_pages, replay_bench, mib, as_json) -> None:
    """Measure the optimized core beside a raw C loop, a Python loop and the model."""
    from zswap_spec.pool import CoreUnavailable
    from zswap_spec.pool.bench import BENCH_COMPRESSORS, run_bench
    from zswap_spec.support.interrupts import reported_on_interrupt

    ctx = click.get_current_context()
    if not replay_bench and given(ctx, "mib"):
        raise InputError("--mib sizes the input of --replay; give --replay too")
    if replay_bench:
        for name in ("pages", "variant", "folio_pages"):
            if given(ctx, name):
                why = ("it replays the variants the core implements" if name == "variant" else
                       "it replays its own input, a page a folio")
                raise InputError(f"--{name.replace('_', '-')} does not apply to --replay ({why}); "
                                 f"drop it")
        comps = check_names("compressor", compressors, ALGORITHMS) or ["lz4"]
        if len(comps) > 1:
            raise InputError("--replay measures one compressor; give --compressor once")
        if not 16 <= mib <= 1 << 16:
            raise InputError(f"--mib {mib} is out of range; use 16 to {1 << 16}")
        if not 1 <= repeat <= 100:
            raise InputError(f"--repeat {repeat} is out of range; use 1 to 100")
        _replay_bench(comps[0], mib, repeat if given(ctx, "repeat") else 3, as_json)
        return
    compressors = check_names("compressor", compressors, BENCH_COMPRESSORS) or ["lz4", "zstd", "deflate"]
    check_names("variant", [variant], VARIANTS)
    if not 1 <= pages <= 1 << 20:
        raise InputError(f"--pages {pages} is out of range; use 1 to {1 << 20}")
    if not 1 <= repeat <= 100:
        raise InputError(f"--repeat {repeat} is out of range; use 1 to 100")
    if not 1 <= folio_pages <= 512:
        raise InputError(f"--folio-pages {folio_pages} is out of range; use 1 to 512")
    say = None if as_json else (lambda c: click.echo(f"measuring {c} ...", err=True))
    # An interrupt prints the figures of the compressors measured (exit 130).
    with reported_on_interrupt(lambda e: _interrupted(e, compressors, as_json)):
        try:
            result = run_bench(compressors, pages, variant, repeat, folio_pages, progress=say)
        except CoreUnavailable as e:
            raise InputError(f"{e}") from None
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        print_bench(result)


def _interrupted(e: KeyboardInterrupt, compressors, as_json: bool) -> None:
    """What an interrupted bench measured: the figures of the compressors done, the
    names of the others."""
    from zswap_spec.support.interrupts import Interrupted

    result = e.done if isinstance(e, Interrupted) else None
    not_done = e.not_done if isinstance(e, Interrupted) else list(compressors)
    if as_json:
        click.echo(json.dumps({**(result or {}), "interrupted": True,
                               "not_measured": not_done}, indent=2))
        return
    if result and result["compressors"]:
        print_bench(result)
    else:
        console.print("bench: interrupted before any compressor was measured")
    if not_done:
        console.print(f"interrupted: not measured: {', '.join(not_done)}", soft_wrap=True)


_BENCH_ROWS = (("raw_c", "raw C loop (compressor only)"), ("python_loop", "Python loop"),
               ("model", "model"), ("core_1_thread", "core, 1 thread"),
               ("core_2_threads", "core, 2 threads"))


def print_bench(result: dict) -> None:
    """`zswap-spec bench`: one table of throughputs, one of ratios against the targets."""
    cfg = result["config"]
    table = Table(title=f"bench: {cfg['pages']} pages of {cfg['page_size']} bytes, variant "
                        f"{cfg['variant']}, folios of {cfg['folio_pages']}, best of {cfg['repeat']} "
                        f"(MiB/s)", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    table.add_column("row")
    comps = list(result["compressors"])
    for c in comps:
        table.add_column(c, justify="right")
    for key, label in _BENCH_ROWS:
        table.add_row(label, *(f"{result['compressors'][c][key]['mib_per_second']:.1f}" for c in comps))
    console.print(table)
    targets, met = result["targets"], result["met"]
    ratios = Table(title="ratios (target in brackets)", box=box.SIMPLE_HEAD, padding=(0, 1),
                   pad_edge=False)
    ratios.add_column("ratio")
    for c in comps:
        ratios.add_column(c, justify="right")

    def mark(c, key):
        return "" if key not in met[c] else (" ok" if met[c][key] else " MISSED")

    for key, label in (("core_vs_raw", f"core / raw C loop [>= {targets['core_vs_raw']}]"),
                       ("threads_speedup", f"2 threads / 1 thread [>= {targets['threads_speedup']}]"),
                       ("core_vs_model", "core / model"),
                       ("core_vs_python_loop", "core / Python loop"),
                       ("bookkeeping_ratio",
                        f"model / core bookkeeping per page [>= {targets['bookkeeping_ratio']:.0f}]"),
                       ("overhead_us_core", "core bookkeeping, µs per page"),
                       ("overhead_us_model", "model bookkeeping, µs per page"),
                       ("overhead_bytes_per_entry",
                        f"core bytes per entry [<= {targets['overhead_bytes_per_entry']:.0f}]"),
                       ("zsmalloc_bytes_per_entry", "zsmalloc's own bytes per entry (as the kernel's)")):
        ratios.add_row(label, *(f"{result['ratios'][c][key]}{mark(c, key)}" for c in comps))
    console.print(ratios)
    libs = cfg["libraries"]
    console.print(f"libraries: lz4 {libs['lz4']}, zstd {libs['zstd']}, zlib {libs['zlib']} ({libs['source']})")


def _replay_bench(compressor: str, mib: int, repeat: int, as_json: bool) -> None:
    from zswap_spec.pool import CoreUnavailable
    from zswap_spec.replay.bench import BenchInterrupted, run_replay_bench

    from .options import signals_held

    say = None if as_json else (lambda m: click.echo(f"measuring: {m} ...", err=True))
    try:
        result = run_replay_bench(compressor, mib, repeat, progress=say)
    except CoreUnavailable as e:
        raise InputError(str(e)) from None
    except OSError as e:
        raise InputError(f"the benchmark's input ({mib} MiB) does not fit in the temporary "
                         f"folder ({e.strerror or e}); free space there, point TMPDIR at a "
                         f"larger one, or give a smaller --mib") from None
    except BenchInterrupted as e:  # what was measured, then exit 130
        with signals_held():
            if as_json:
                click.echo(json.dumps({**e.partial, "interrupted": True,
                                       "not_measured": e.not_measured}, indent=2))
            else:
                _print_replay_bench(e.partial)
                console.print(f"interrupted: not measured: {', '.join(e.not_measured)}",
                              soft_wrap=True)
        raise KeyboardInterrupt from None
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    _print_replay_bench(result)


_REPLAY_LABELS = {"one_1_thread": "replay, mainline, 1 thread",
                  "one_2_threads": "replay, mainline, 2 threads",
                  "all_1_thread": "replay, 5 variants x writeback on/off, 1 thread",
                  "all_2_threads": "replay, 5 variants x writeback on/off, 2 threads",
                  "one_sizes_only": "replay --sizes-only, mainline",
                  "all_sizes_only": "replay --sizes-only, 5 variants x on/off"}


def _print_replay_bench(result: dict) -> None:
    """`bench --replay`'s tables: what was measured, then the ratios with their targets."""
    cfg = result["config"]
    table = Table(title=f"bench --replay: {cfg['mib']} MiB of mixed content ({cfg['pages']} pages), "
                        f"{cfg['compressor']}, best of {cfg['repeat']}",
                  box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for col in ("what", "runs", "seconds", "MiB/s", "peak MiB", "pool MiB"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for key, label in (("raw_loop", "raw loop: compress and decompress every page (C)"),
                       ("python_loop", "the same loop with the Python bindings")):
        if key in result:
            r = result[key]
            table.add_row(label, "-", f"{r['seconds']:.2f}", f"{r['mib_per_second']:.0f}", "-", "-")
        if key == "raw_loop" and "raw_pair" in result:
            r = result["raw_pair"]
            table.add_row("two raw C loops at once (two processes, twice the work)", "-",
                          f"{r['seconds']:.2f}", f"{r['mib_per_second']:.0f}", "-", "-")
    for key, label in _REPLAY_LABELS.items():
        if key in result["replay"]:
            r = result["replay"][key]
            table.add_row(label, str(r["runs"]), f"{r['seconds']:.2f}",
                          f"{r['mib_per_second']:.0f}", f"{r['peak_mib']:.0f}",
                          f"{r['pool_mib']:.0f}")
    console.print(table)
    ratios, targets, met = result["ratios"], result["targets"], result["met"]

    def mark(key):
        return "" if key not in met else (" ok" if met[key] else " MISSED")

    rows = (("end_to_end_vs_raw", f"replay 1 thread / raw C loop [>= {targets['end_to_end_vs_raw']}]"),
            ("end_to_end_vs_python_loop",
             f"replay 1 thread / the Python bindings' loop [>= {targets['end_to_end_vs_python_loop']}]"),
            ("threads_speedup", f"replay 2 threads / 1 thread [>= {targets['threads_speedup']}]"),
            ("machine_two_cores", "two raw C loops at once / one: what two cores give"),
            ("threads_vs_machine", "replay's 2 threads / 1 thread, over what two cores give"),
            ("all_vs_one", f"time of all 10 runs / one run, 1 thread [<= {targets['all_vs_one']}]"),
            ("all_vs_one_2_threads", "time of all 10 runs / one run, 2 threads"),
            ("extra_over_pool_mib",
             f"peak memory beyond pool bytes, one run, MiB [<= {targets['extra_over_pool_mib']}]"),
            ("sizes_only_peak_mib",
             f"peak memory, --sizes-only, one run, MiB [<= {targets['sizes_only_peak_mib']}]"))
    out = Table(title="ratios (target in brackets)", box=box.SIMPLE_HEAD, padding=(0, 1),
                pad_edge=False)
    out.add_column("ratio")
    out.add_column("value", justify="right")
    for key, label in rows:
        if key in ratios:
            out.add_row(label, f"{ratios[key]}{mark(key)}")
    console.print(out)

"""`zswap-spec bench`: The optimized core beside a raw C loop, a Python loop and the model."""

from __future__ import annotations

import json

import click
from rich import box
from rich.table import Table

from zswap_spec.support.console import console

from zswap_spec.model.variants import VARIANTS

from .errors import InputError
from .options import check_names


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
@click.option("--json", "as_json", is_flag=True,
              help='Print the figures and {"ratios": {COMPRESSOR: {...}}} as JSON.')
def bench(compressors, pages, variant, repeat, folio_pages, as_json) -> None:
    """Measure the optimized core beside a raw C loop, a Python loop and the model."""
    from zswap_spec.pool import CoreUnavailable
    from zswap_spec.pool.bench import BENCH_COMPRESSORS, run_bench
    from zswap_spec.support.interrupts import reported_on_interrupt

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

"""Human-readable tables and JSON documents for the command's results."""

from __future__ import annotations

import sys

from rich.console import Console
from rich import box
from rich.table import Table

from .model.variants import VARIANTS

__all__ = ["print_runs", "runs_json", "print_variants", "print_bench", "console"]

# Piped output is not wrapped to 80 columns: a table must stay one row a run.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _mainline_for(results):
    """The mainline run with the same compressor and settings, for each run."""
    index = {}
    for r in results:
        c = r.config
        if c.variant == "mainline":
            index[(c.compressor, c.writeback, c.folio_pages, c.page_size)] = r
    return lambda r: index.get((r.config.compressor, r.config.writeback,
                                r.config.folio_pages, r.config.page_size))


def runs_json(results) -> dict:
    ref = _mainline_for(results)
    return {"runs": [r.to_json(mainline=ref(r)) for r in results]}


def print_runs(results) -> None:
    ref = _mainline_for(results)
    table = Table(title="replay (wb: writeback; ≠main: outcome differs from mainline's; "
                        "lost: pages not read back intact; broken: invariants broken)", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for col in ("variant", "compressor", "wb", "pages", "zero", "compr.", "raw", "rej.",
                "≠main", "lost", "broken"):
        left = col in ("variant", "compressor")
        table.add_column(col, justify="left" if left else "right", no_wrap=True)
    for r in results:
        j = r.to_json(mainline=ref(r))
        table.add_row(
            j["variant"], j["compressor"], "on" if j["writeback"] else "off", str(j["pages"]),
            str(j["zero_filled"]), str(j["stored_compressed"]), str(j["stored_raw"]),
            str(j["rejected"]), str(j.get("differs_from_mainline", "-")),
            str(j["integrity_violations"]), str(len(j["violations"])),
        )
    console.print(table)
    total = sum(r.seconds for r in results)
    console.print(f"{len(results)} runs, {sum(r.pages for r in results)} pages, {total:.2f} s; "
                  f"--json gives counters, memory.stat, pool bytes and timings per run")
    broken = [r for r in results if r.violations]
    if not broken:
        console.print("no invariant broken")
    for r in broken:
        counts = ", ".join(f"{k}×{n}" for k, n in r.violation_counts().items())
        console.print(f"{r.config.variant}/{r.config.compressor} writeback "
                      f"{'on' if r.config.writeback else 'off'}: {counts}")
        for v in r.violations[:3]:
            console.print(f"  {v.invariant} at slot {v.offset}: {v.detail}")


def print_variants() -> None:
    table = Table(title="variants")
    for col in ("name", "what it is", "crypto layer", "source"):
        table.add_column(col)
    for v in VARIANTS.values():
        table.add_row(v.name, v.title, v.crypto_layer, v.source)
    console.print(table)


def print_kernel_runs(reports) -> None:
    table = Table(title="kernel vs model", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("kernel", "compressor", "wb", "zswap.max", "pages", "boot s", "lost",
                "disagreements", "agree"):
        table.add_column(col, no_wrap=True)
    for r in reports:
        table.add_row(r.release, r.spec.compressor, "on" if r.spec.writeback else "off",
                      "-" if r.spec.zswap_max is None else str(r.spec.zswap_max), str(r.pages),
                      f"{r.boot_seconds:.1f}", str(r.integrity_violations),
                      str(len(r.disagreements)),
                      "[green]yes[/]" if r.agree else "[red]no[/]")
    console.print(table)
    for r in reports:
        label = f"{r.spec.compressor} writeback {'on' if r.spec.writeback else 'off'}"
        if r.error:
            console.print(f"[red]{label}: {r.error}[/]")
        for d in r.disagreements[:20]:
            console.print(f"{label}: {d.stage} {d.source} {d.name}: kernel {d.kernel}, "
                          f"model {d.model} ({d.pages})")
        if len(r.disagreements) > 20:
            console.print(f"{label}: {len(r.disagreements) - 20} more (see --json)")
        for n in r.not_compared:
            console.print(f"{label}: {n}")
        console.print(f"{label}: model compressor {r.model_compressor}; log {r.log_path}")


def print_fuzz(results, findings_dir) -> None:
    table = Table(title="fuzz campaigns", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("variant", "compressor", "faults", "examples", "steps", "steps/s", "seconds",
                "findings"):
        table.add_column(col, no_wrap=True)
    for r in results:
        j = r.to_json()
        table.add_row(r.variant, r.compressor, ",".join(r.faults) or "none", str(r.examples),
                      str(r.steps), f"{j['steps_per_second']:.0f}", f"{r.seconds:.1f}",
                      ", ".join(f.invariant for f in r.findings) or "none")
    console.print(table)
    for r in results:
        for f in r.findings:
            console.print(f"{r.variant}/{r.compressor} ({','.join(r.faults) or 'no faults'}): "
                          f"{f.description} — found in {f.seconds_to_find:.1f} s; reproducer {f.reproducer}")
        if r.error:
            console.print(f"[red]{r.variant}/{r.compressor}: {r.error}[/]")
    console.print(f"findings and campaigns.json in {findings_dir}")


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

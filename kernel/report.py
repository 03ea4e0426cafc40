"""The kernel check's table."""

from __future__ import annotations

from rich import box
from rich.table import Table

from zswap_spec.support.console import console

__all__ = ["print_kernel_runs"]


def print_kernel_runs(reports) -> None:
    table = Table(title="kernel vs model", box=box.SIMPLE_HEAD, pad_edge=False)
    pool = any(r.spec.max_pool_percent is not None or r.spec.accept_threshold is not None
               for r in reports)
    cols = ["kernel", "compressor", "wb", "zswap.max"]
    cols += ["pool %", "accept %", "totalram"] if pool else []
    for col in cols + ["pages", "boot s", "lost", "disagreements", "agree"]:
        table.add_column(col, no_wrap=True)
    dash = lambda v: "-" if v is None else str(v)  # noqa: E731
    for r in reports:
        extra = [dash(r.spec.max_pool_percent), dash(r.spec.accept_threshold),
                 dash(r.totalram_pages)] if pool else []
        table.add_row(r.release, r.spec.compressor, "on" if r.spec.writeback else "off",
                      dash(r.spec.zswap_max), *extra, str(r.pages),
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

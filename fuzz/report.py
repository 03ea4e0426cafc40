"""The fuzz campaigns' table."""

from __future__ import annotations

from rich import box
from rich.table import Table

from zswap_spec.support.console import console

__all__ = ["print_fuzz"]


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

"""The fuzz campaigns' table."""

from __future__ import annotations

from rich import box
from rich.markup import escape
from rich.table import Table

from zswap_spec.support.console import console

__all__ = ["print_fuzz"]


def print_fuzz(results, findings_dir) -> None:
    table = Table(title="fuzz campaigns", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("variant", "compressor", "faults", "status", "examples", "steps", "steps/s",
                "seconds", "findings"):
        table.add_column(col, no_wrap=True)
    for r in results:
        j = r.to_json()
        table.add_row(r.variant, r.compressor, ",".join(r.faults) or "none", r.status,
                      str(r.examples), str(r.steps), f"{j['steps_per_second']:.0f}",
                      f"{r.seconds:.1f}", ", ".join(f.invariant for f in r.findings) or "none")
    console.print(table)
    for r in results:
        where = f"{r.variant}/{r.compressor} ({','.join(r.faults) or 'no faults'})"
        for f in r.findings:
            console.print(escape(f"{where}: {f.description} — found in {f.seconds_to_find:.1f} s; "
                                 f"reproducer {f.reproducer}"), soft_wrap=True)
        if r.error:
            console.print(f"[red]{escape(where)}: {escape(r.error)}[/]", soft_wrap=True)
        if r.note:
            console.print(escape(f"{where}: {r.status}: {r.note}"), soft_wrap=True)
    console.print(escape(f"findings and campaigns.json in {findings_dir}"), soft_wrap=True)

"""Human-readable tables and JSON documents for the command's results."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from .model.variants import VARIANTS

__all__ = ["print_runs", "runs_json", "print_variants", "console"]

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
    table = Table(title="replay", show_lines=False)
    for col in ("variant", "compressor", "writeback", "pages", "zero", "compressed", "raw",
                "rejected", "≠ mainline", "integrity", "violations", "pool bytes", "seconds"):
        table.add_column(col, justify="right" if col not in ("variant", "compressor", "violations") else "left")
    for r in results:
        j = r.to_json(mainline=ref(r))
        viol = ", ".join(f"{k}×{v}" for k, v in j["violations"].items()) or "none"
        table.add_row(
            j["variant"], j["compressor"], "on" if j["writeback"] else "off", str(j["pages"]),
            str(j["zero_filled"]), str(j["stored_compressed"]), str(j["stored_raw"]),
            str(j["rejected"]), str(j.get("differs_from_mainline", "-")),
            str(j["integrity_violations"]), viol, str(j["pool_bytes"]), f"{j['seconds']:.2f}",
        )
    console.print(table)
    examples = [(r, v) for r in results for v in r.violations[:3]]
    if examples:
        console.print("first violations per run:")
        for r, v in examples:
            console.print(f"  {r.config.variant}/{r.config.compressor}: {v.invariant} at slot "
                          f"{v.offset}: {v.detail}")


def print_variants() -> None:
    table = Table(title="variants")
    for col in ("name", "what it is", "crypto layer", "source"):
        table.add_column(col)
    for v in VARIANTS.values():
        table.add_row(v.name, v.title, v.crypto_layer, v.source)
    console.print(table)

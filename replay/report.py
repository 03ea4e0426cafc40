"""The replay table and JSON document."""

from __future__ import annotations

__all__ = ["print_runs", "runs_json"]


def _mainline_for(results):
    """The mainline run with the same compressor and settings, for each run."""
    index = {}
    for r in results:
        c = r.config
        if c.variant == "mainline":
            index[(r.input, c.compressor, c.writeback, c.folio_pages, c.page_size)] = r
    return lambda r: index.get((r.input, r.config.compressor, r.config.writeback,
                                r.config.folio_pages, r.config.page_size))


def runs_json(results, interrupted: bool = False) -> dict:
    """{"runs": [...]}, and "interrupted": true after an interrupt (what was done)."""
    ref = _mainline_for(results)
    out = {"runs": [r.to_json(mainline=ref(r)) for r in results]}
    if interrupted:
        out["interrupted"] = True
    return out


def print_runs(results) -> None:
    from rich import box  # (here: a run printing JSON does not load rich)
    from rich.table import Table
    from zswap_spec.support.console import console

    ref = _mainline_for(results)
    inputs = any(r.input is not None for r in results)
    table = Table(title="replay (wb: writeback; ≠main: outcome differs from mainline's; "
                        "lost: pages not read back intact; broken: invariants broken)", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for col in (("input",) if inputs else ()) + (
            "variant", "compressor", "wb", "pages", "zero", "compr.", "raw", "rej.",
            "≠main", "lost", "broken"):
        left = col in ("input", "variant", "compressor")
        table.add_column(col, justify="left" if left else "right", no_wrap=col != "input")
    for r in results:
        j = r.to_json(mainline=ref(r))
        table.add_row(
            *((str(r.input),) if inputs else ()),
            j["variant"], j["compressor"], "on" if j["writeback"] else "off", str(j["pages"]),
            str(j["zero_filled"]), str(j["stored_compressed"]), str(j["stored_raw"]),
            str(j["rejected"]), str(j.get("differs_from_mainline", "-")),
            "-" if r.sizes_only else str(j["integrity_violations"]), str(len(j["violations"])),
        )
    console.print(table)
    total = sum(r.seconds for r in results)
    console.print(f"{len(results)} runs, {sum(r.pages for r in results)} pages, {total:.2f} s; "
                  f"--json gives counters, memory.stat, pool bytes and timings per run")
    if any(r.sizes_only for r in results):
        console.print("sizes only: nothing was read back, and no bytes kept (INV-ROUNDTRIP and "
                      "INV-RAW not checked)")
    for r in results:
        if r.stopped:
            console.print(f"{r.config.variant}/{r.config.compressor} writeback "
                          f"{'on' if r.config.writeback else 'off'}: {r.stopped}")
    broken = [r for r in results if r.violations]
    if not broken:
        console.print("no invariant broken")
    for r in broken:
        counts = ", ".join(f"{k}×{n}" for k, n in r.violation_counts().items())
        console.print(f"{r.config.variant}/{r.config.compressor} writeback "
                      f"{'on' if r.config.writeback else 'off'}: {counts}")
        for v in r.violations[:3]:
            console.print(f"  {v.message}")
        if getattr(r.violations, "dropped", 0):
            console.print(f"  (counted in full; the first {len(r.violations)} kept)")

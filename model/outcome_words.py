"""A variant's outcome in the words of the spec's decision tables (§6), from the
model: what `zswap-spec variants --decision-tables` prints for a new
variant's column, and what the tests compare every column with."""

from __future__ import annotations

from .memcg import MemCgroup
from .scripted import ScriptedBatching, ScriptedSoftware, marker_page
from .swap import SwapSystem
from .zswap import REJECT_COUNTERS, Folio, Zswap

__all__ = ["store_and_describe", "row_compressor", "decision_cells"]


def store_and_describe(variant: str, alg, npages: int, writeback: bool, page_size: int):
    """Swap out one folio of `npages` marker pages through `variant` with compressor
    `alg` and writeback on or off: (outcome words, the SwapSystem after the store)."""
    zs = Zswap(variant, alg, page_size=page_size)
    memcg = MemCgroup("/t", zs.root, zswap_writeback=writeback)
    system = SwapSystem(zs)
    pages = tuple(marker_page(tag, page_size) for tag in range(1, npages + 1))
    before = {c: zs.counters[c] for c in REJECT_COUNTERS}
    system.swap_out(Folio(pages, 0, memcg))
    words = []
    for i, page in enumerate(pages):
        entry = zs.tree.get(i)
        if entry is None:
            moved = {c.removeprefix("reject_"): zs.counters[c] - before[c]
                     for c in REJECT_COUNTERS if zs.counters[c] != before[c]}
            if not moved:
                return "reject none", system
            (name, n), = moved.items()
            return f"reject {name}" + (f" x{n}" if n != 1 else ""), system
        if entry.length == page_size:
            words.append("raw" if zs.zpool.objects[entry.handle] == page else "corrupt")
        else:
            words.append("compressed")
    return "+".join(words), system


def row_compressor(kind: str, row: dict, page_size: int):
    """The scripted compressor a decision-table row describes (`kind`: software, batching)."""
    from zswap_spec.spec import value

    if kind == "software":
        return ScriptedSoftware(value(row["ret"], page_size), value(row["dlen"], page_size))
    units = {1: value(row["entry0"], page_size), 2: value(row.get("entry1", "L"), page_size)}
    return ScriptedBatching(value(row["ret"], page_size), units, default=value("L", page_size))


def decision_cells(variant: str, kind: str, page_size: int = 4096) -> dict[str, str]:
    """Each row of decision table `kind` (software: one page; batching: two pages in one
    batch) as `variant` answers it: row ID -> "writeback on / writeback off"."""
    from zswap_spec.spec import TABLES

    npages = 1 if kind == "software" else 2
    out = {}
    for row in TABLES[kind]:
        on, _ = store_and_describe(variant, row_compressor(kind, row, page_size), npages, True, page_size)
        off, _ = store_and_describe(variant, row_compressor(kind, row, page_size), npages, False,
                                    page_size)
        out[row["id"]] = f"{on} / {off}"
    return out

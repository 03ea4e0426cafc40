"""Drive one variant with scripted compressor results and describe the outcome
in the words of the spec's decision tables."""

from __future__ import annotations

from zswap_spec.model.memcg import MemCgroup
from zswap_spec.model.scripted import marker_page
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.zswap import REJECT_COUNTERS, Folio, Zswap


def store_and_describe(variant: str, alg, npages: int, writeback: bool, page_size: int):
    """(outcome words, the SwapSystem after the store)."""
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

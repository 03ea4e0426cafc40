"""The spec's invariants, checked on a running model.

Every check carries the invariant's stable ID from spec/zswap-spec.md; the
table of IDs is `zswap_spec.spec.INVARIANTS`.  Checks come in two sizes: the
ones after a store look only at that folio (cheap enough to run after every
operation of a long replay); `check_global` walks the whole pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cint import describe_u32
from .zswap import REJECT_COUNTERS, Folio, Zswap

__all__ = ["Violation", "check_store", "check_global", "check_load"]


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its ID, the swap offset it concerns, and why."""

    invariant: str
    offset: int | None
    detail: str

    def __post_init__(self):
        from zswap_spec.spec import INVARIANTS

        if self.invariant not in INVARIANTS:
            raise ValueError(f"{self.invariant!r} is not an invariant of the spec")

    def to_json(self) -> dict:
        return {"invariant": self.invariant, "offset": self.offset, "detail": self.detail}


def check_store(zs: Zswap, folio: Folio, ok: bool, wb_enabled: bool,
                rejects_before: int) -> list[Violation]:
    """INV-ATOMIC, INV-LEN, INV-RAW, INV-WB, INV-ALLOC, INV-NOLEAK and the
    per-store part of INV-COUNTERS, for the folio just stored."""
    out: list[Violation] = []
    page_size = zs.page_size
    tree = zs.tree
    for size in zs.trace.malloc_sizes:
        if size == 0 or size > page_size:
            out.append(Violation("INV-ALLOC", folio.offset,
                                 f"zs_malloc({describe_u32(size)}) called"))
    present = [folio.offset + i in tree for i in range(folio.nr_pages)]
    if ok and not all(present):
        out.append(Violation("INV-ATOMIC", folio.offset,
                             f"store returned true but {present.count(False)} pages have no entry"))
    if not ok and any(present):
        out.append(Violation("INV-ATOMIC", folio.offset,
                             f"store returned false but {present.count(True)} entries remain"))
    if ok:
        for i, page in enumerate(folio.pages):
            entry = tree.get(folio.offset + i)
            if entry is None:
                continue
            length = entry.length
            if not 0 < length <= page_size:
                out.append(Violation("INV-LEN", entry.offset,
                                     f"entry length {describe_u32(length)} outside (0, {page_size}]"))
            if length == page_size:
                if zs.zpool.objects.get(entry.handle) != page:
                    out.append(Violation(
                        "INV-RAW", entry.offset,
                        f"entry length {page_size} (read back as-is) holds bytes that are not the page"))
                if not wb_enabled:
                    out.append(Violation("INV-WB", entry.offset,
                                         "page stored as-is while writeback was disabled"))
    if zs.trace.stage == "pages" and not ok:
        moved = sum(zs.counters[c] for c in REJECT_COUNTERS) - rejects_before
        if moved != 1:
            out.append(Violation(
                "INV-COUNTERS", folio.offset,
                f"rejected folio moved the reject_* counters by {moved}, not 1"))
    if len(zs.zpool.objects) != len(tree):
        out.append(Violation("INV-NOLEAK", folio.offset,
                             f"{len(zs.zpool.objects)} zsmalloc objects for {len(tree)} entries"))
    return out


def check_load(offset: int, expected: bytes, got: bytes | None, how: str) -> list[Violation]:
    """INV-ROUNDTRIP for one page read back."""
    if got is None:
        return [Violation("INV-ROUNDTRIP", offset, f"page lost: {how}")]
    if got != expected:
        first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        return [Violation("INV-ROUNDTRIP", offset,
                          f"page read back from {how} differs from byte {first} on")]
    return []


def check_global(zs: Zswap) -> list[Violation]:
    """INV-COUNTERS and INV-NOLEAK over the whole pool; INV-LEN of every entry."""
    out: list[Violation] = []
    page_size = zs.page_size
    entries = list(zs.tree.values())
    c = zs.counters
    incomp = sum(1 for e in entries if e.length == page_size)
    if c["stored_pages"] != len(entries):
        out.append(Violation("INV-COUNTERS", None,
                             f"stored_pages {c['stored_pages']} but {len(entries)} entries"))
    if c["stored_incompressible_pages"] != incomp:
        out.append(Violation("INV-COUNTERS", None,
                             f"stored_incompressible_pages {c['stored_incompressible_pages']} "
                             f"but {incomp} entries of length {page_size}"))
    if c["pool_total_size"] != zs.zswap_total_pages() * page_size:
        out.append(Violation("INV-COUNTERS", None, "pool_total_size disagrees with the pool"))
    # memcg stats: each cgroup's figures cover its own entries and its descendants'.
    expected: dict[int, list] = {}
    for e in entries:
        m = e.memcg
        while m is not None:
            rec = expected.setdefault(id(m), [m, 0, 0, 0])
            rec[1] += e.length
            rec[2] += 1
            rec[3] += e.length == page_size
            m = m.parent
    for m in _all_memcgs(zs, entries):
        _, zb, zp, zi = expected.get(id(m), [m, 0, 0, 0])
        got = (m.stat["zswap"], m.stat["zswapped"], m.stat["zswap_incomp"])
        if got != (zb, zp, zi):
            out.append(Violation("INV-COUNTERS", None,
                                 f"memcg {m.name}: zswap/zswapped/zswap_incomp {got}, entries say {(zb, zp, zi)}"))
    handles = {e.handle for e in entries}
    if set(zs.zpool.objects) != handles:
        leaked = len(set(zs.zpool.objects) - handles)
        dangling = len(handles - set(zs.zpool.objects))
        out.append(Violation("INV-NOLEAK", None,
                             f"{leaked} zsmalloc objects no entry owns, {dangling} entries without an object"))
    for e in entries:
        if not 0 < e.length <= page_size:
            out.append(Violation("INV-LEN", e.offset, f"entry length {describe_u32(e.length)}"))
    return out


def _all_memcgs(zs: Zswap, entries) -> list:
    seen = {id(zs.root): zs.root}
    for e in entries:
        m = e.memcg
        while m is not None:
            seen.setdefault(id(m), m)
            m = m.parent
    return list(seen.values())

"""The spec's invariants, checked on a running model, and the one way every
checker reports a broken one.

Every report of a broken invariant is a `Violation`: the invariant's stable
ID from spec/zswap-spec.md §5 (the table is `zswap_spec.spec.INVARIANTS`),
the swap slot it concerns (None: the whole pool) and the detail.  Its
`message` is ``INV-X at slot N: detail`` (``INV-X: detail`` for the whole
pool) and its `statement` is the spec's own sentence for the invariant.

The details are worded here and nowhere else: each kind of finding has one
constructor below (`corrupt_entry`, `page_lost`, ...), which the model's
checks, the pool API's audit on either backend, replay on the optimized
core and the fuzzers' state machines all call, so the same finding reads
the same whichever checker found it.  A page stored with length PAGE_SIZE
whose bytes are not the page is *corrupt*, the spec's outcome word (§6).

Checks come in two sizes: the ones after a store look only at that folio
(cheap enough to run after every operation of a long replay);
`check_global` walks the whole pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cint import describe_u32, errno_name
from .zswap import REJECT_COUNTERS, Folio, Zswap

__all__ = [
    "Violation", "check_store", "check_global", "check_load",
    # one constructor per kind of finding
    "bad_alloc", "stored_without_entry", "rejected_with_entry", "zero_filled_with_entry",
    "unstored_page_loaded", "length_out_of_range", "corrupt_entry", "as_is_without_writeback",
    "reject_counters_moved", "stored_pages_disagree", "incompressible_pages_disagree",
    "pool_total_size_disagrees", "cgroup_stats_disagree", "objects_for_entries",
    "objects_unowned", "page_lost", "page_differs",
]


def _statements() -> dict[str, str]:
    from zswap_spec.spec import INVARIANTS

    return INVARIANTS


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its ID, the swap slot it concerns (None: the
    whole pool) and why."""

    invariant: str
    offset: int | None
    detail: str

    def __post_init__(self):
        if self.invariant not in _statements():
            raise ValueError(f"{self.invariant!r} is not an invariant of the spec")

    @property
    def statement(self) -> str:
        """The invariant as spec/zswap-spec.md §5 states it."""
        return _statements()[self.invariant]

    @property
    def message(self) -> str:
        """``INV-X at slot N: detail``, or ``INV-X: detail`` for the whole pool."""
        where = "" if self.offset is None else f" at slot {self.offset}"
        return f"{self.invariant}{where}: {self.detail}"

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict:
        return {"invariant": self.invariant, "offset": self.offset, "detail": self.detail}


# -- the findings, one constructor each --------------------------------------------

def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def bad_alloc(offset: int | None, size: int) -> Violation:
    """INV-ALLOC: zs_malloc() asked for 0 bytes or more than PAGE_SIZE."""
    return Violation("INV-ALLOC", offset, f"zs_malloc({describe_u32(size)}) called")


def stored_without_entry(offset: int, pages: int | None = None) -> Violation:
    """INV-ATOMIC: the store returned true, but a page (`pages` of the folio) has no entry."""
    where = "the slot has no entry" if pages is None else \
        f"{_n(pages, 'page of the folio has', 'pages of the folio have')} no entry"
    return Violation("INV-ATOMIC", offset, f"store returned true but {where}")


def rejected_with_entry(offset: int, entries: int | None = None) -> Violation:
    """INV-ATOMIC: the store returned false, but an entry (`entries` of the folio's) remains."""
    what = "the slot has an entry" if entries is None else \
        f"{_n(entries, 'entry remains', 'entries remain')}"
    return Violation("INV-ATOMIC", offset, f"store returned false but {what}")


def zero_filled_with_entry(offset: int) -> Violation:
    """INV-ATOMIC: a zero-filled page (kept in the zeromap) still has a zswap entry."""
    return Violation("INV-ATOMIC", offset, "page zero-filled but the slot has an entry")


def unstored_page_loaded(offset: int, rc: int) -> Violation:
    """INV-ATOMIC: zswap_load() found a page that zswap did not store."""
    return Violation("INV-ATOMIC", offset, f"a page zswap did not store loaded "
                                           f"(zswap_load returned {errno_name(rc)})")


def length_out_of_range(offset: int, length: int, page_size: int) -> Violation:
    """INV-LEN."""
    return Violation("INV-LEN", offset,
                     f"entry length {describe_u32(length)} outside (0, {page_size}]")


def corrupt_entry(offset: int, page_size: int) -> Violation:
    """INV-RAW: a corrupt entry (length PAGE_SIZE, so read back as-is, but not the page)."""
    return Violation("INV-RAW", offset, f"stored corrupt: length {page_size} (read back as-is) "
                                        f"but not the page's bytes")


def as_is_without_writeback(offset: int) -> Violation:
    """INV-WB."""
    return Violation("INV-WB", offset, "page stored as-is while writeback was disabled")


def reject_counters_moved(offset: int, moved: int) -> Violation:
    """INV-COUNTERS: a folio rejected while storing its pages moved the reject_* counters by
    `moved`, not one."""
    return Violation("INV-COUNTERS", offset,
                     f"rejected folio moved the reject_* counters by {moved}, not 1")


def stored_pages_disagree(counter: int, entries: int) -> Violation:
    """INV-COUNTERS: stored_pages against the entries."""
    return Violation("INV-COUNTERS", None, f"stored_pages {counter} but {entries} entries")


def incompressible_pages_disagree(counter: int, entries: int, page_size: int) -> Violation:
    """INV-COUNTERS: stored_incompressible_pages against the entries of length PAGE_SIZE."""
    return Violation("INV-COUNTERS", None,
                     f"stored_incompressible_pages {counter} but {entries} entries of length "
                     f"{page_size} (stored as-is)")


def pool_total_size_disagrees(counter: int, pool_bytes: int) -> Violation:
    """INV-COUNTERS: pool_total_size against the pool's pages."""
    return Violation("INV-COUNTERS", None,
                     f"pool_total_size {counter} but the pool's pages make {pool_bytes}")


def cgroup_stats_disagree(cgroup: str, got, entries_say) -> Violation:
    """INV-COUNTERS: a cgroup's zswap, zswapped and zswap_incomp against its entries (and its
    descendants')."""
    return Violation("INV-COUNTERS", None,
                     f"cgroup {cgroup}: zswap/zswapped/zswap_incomp {tuple(got)}, "
                     f"entries say {tuple(entries_say)}")


def objects_for_entries(offset: int | None, objects: int, entries: int) -> Violation:
    """INV-NOLEAK: the number of zsmalloc objects against the number of entries."""
    return Violation("INV-NOLEAK", offset, f"{objects} zsmalloc objects for {entries} entries")


def objects_unowned(unowned: int, without_object: int) -> Violation:
    """INV-NOLEAK: objects no entry owns, entries whose object is gone."""
    return Violation("INV-NOLEAK", None, f"{unowned} zsmalloc objects no entry owns, "
                                         f"{without_object} entries without an object")


def page_lost(offset: int, how: str) -> Violation:
    """INV-ROUNDTRIP: the page did not come back; `how` names where it was looked for."""
    return Violation("INV-ROUNDTRIP", offset, f"page lost: {how}")


def page_differs(offset: int, how: str, first: int) -> Violation:
    """INV-ROUNDTRIP: the page came back from `how` with other bytes, from byte `first` on."""
    return Violation("INV-ROUNDTRIP", offset, f"page read back from {how} differs from byte {first} on")


# -- the model's checks ---------------------------------------------------------------

def check_store(zs: Zswap, folio: Folio, ok: bool, wb_enabled: bool,
                rejects_before: int) -> list[Violation]:
    """INV-ATOMIC, INV-LEN, INV-RAW, INV-WB, INV-ALLOC, INV-NOLEAK and the
    per-store part of INV-COUNTERS, for the folio just stored."""
    out: list[Violation] = []
    page_size = zs.page_size
    tree = zs.tree
    for size in zs.trace.malloc_sizes:
        if size == 0 or size > page_size:
            out.append(bad_alloc(folio.offset, size))
    present = [folio.offset + i in tree for i in range(folio.nr_pages)]
    if ok and not all(present):
        out.append(stored_without_entry(folio.offset, present.count(False)))
    if not ok and any(present):
        out.append(rejected_with_entry(folio.offset, present.count(True)))
    if ok:
        for i, page in enumerate(folio.pages):
            entry = tree.get(folio.offset + i)
            if entry is None:
                continue
            length = entry.length
            if not 0 < length <= page_size:
                out.append(length_out_of_range(entry.offset, length, page_size))
            if length == page_size:
                if (entry.pool or zs.pool).zpool.objects.get(entry.handle) != page:
                    out.append(corrupt_entry(entry.offset, page_size))
                if not wb_enabled:
                    out.append(as_is_without_writeback(entry.offset))
    if zs.trace.stage == "pages" and not ok:
        moved = sum(zs.counters[c] for c in REJECT_COUNTERS) - rejects_before
        if moved != 1:
            out.append(reject_counters_moved(folio.offset, moved))
    if zs.live_objects() != len(tree):
        out.append(objects_for_entries(folio.offset, zs.live_objects(), len(tree)))
    return out


def check_load(offset: int, expected: bytes, got: bytes | None, how: str) -> list[Violation]:
    """INV-ROUNDTRIP for one page read back."""
    if got is None:
        return [page_lost(offset, how)]
    if got != expected:
        first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        return [page_differs(offset, how, first)]
    return []


def check_global(zs: Zswap) -> list[Violation]:
    """INV-COUNTERS and INV-NOLEAK over the whole pool; INV-LEN of every entry."""
    out: list[Violation] = []
    page_size = zs.page_size
    entries = list(zs.tree.values())
    c = zs.counters
    incomp = sum(1 for e in entries if e.length == page_size)
    if c["stored_pages"] != len(entries):
        out.append(stored_pages_disagree(c["stored_pages"], len(entries)))
    if c["stored_incompressible_pages"] != incomp:
        out.append(incompressible_pages_disagree(c["stored_incompressible_pages"], incomp, page_size))
    if c["pool_total_size"] != zs.zswap_total_pages() * page_size:
        out.append(pool_total_size_disagrees(c["pool_total_size"], zs.zswap_total_pages() * page_size))
    # memcg stats: each cgroup's figures cover its own entries and its descendants'.
    expected: dict[int, list] = {}
    for e in entries:
        # An entry of the root cgroup is not charged without `charge_root`.
        m = None if e.memcg is zs.root and not zs.charge_root else e.memcg
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
            out.append(cgroup_stats_disagree(m.name, got, (zb, zp, zi)))
    # Objects by (pool, handle): every pool on the list, each entry's own pool.
    handles = {(id(e.pool or zs.pool), e.handle) for e in entries}
    objects = {(id(p), h) for p in zs.pools for h in p.zpool.objects}
    if objects != handles:
        leaked = len(objects - handles)
        dangling = len(handles - objects)
        out.append(objects_unowned(leaked, dangling))
    for e in entries:
        if not 0 < e.length <= page_size:
            out.append(length_out_of_range(e.offset, e.length, page_size))
    return out


def _all_memcgs(zs: Zswap, entries) -> list:
    seen = {id(zs.root): zs.root}
    for e in entries:
        m = e.memcg
        while m is not None:
            seen.setdefault(id(m), m)
            m = m.parent
    return list(seen.values())

"""The spec's invariants: the one checker, and the one way every report of a
broken invariant reads.

Every report of a broken invariant is a `Violation`: the invariant's stable
ID from spec/zswap-spec.md §5 (the table is `zswap_spec.spec.INVARIANTS`),
the swap slot it concerns (None: the whole pool) and the detail.  Its
`message` is ``INV-X at slot N: detail`` (``INV-X: detail`` for the whole
pool) and its `statement` is the spec's own sentence for the invariant.

Each invariant is decided in one place: its check in `CHECKS` (keyed by
ID), which reads a pool through the facts both implementations give
(`zswap_spec.model.pool_view.PoolView`: the model's `ModelView`, the
optimized core's `CorePool`).  `check(view, event, ids)` runs them over one
of three events: a run of pages just swapped out (`StoredRun`), pages read
back (`ReadBack`, made by `read_back`), or none (the whole pool).  Every
tool calls it: the model's swap layer (`check_store`, `check_load`,
`check_global` below, thus the fuzz pool machine and the model's replay),
the pool API on either backend (`Pool.check`), the lockstep machine and
replay on the core.  A tool chooses which IDs it checks, never how.

The details are worded here and nowhere else: each kind of finding has one
constructor (`corrupt_entry`, `page_lost`, ...), which the checks call, so
the same finding reads the same whichever tool found it.  A page stored
with length PAGE_SIZE whose bytes are not the page is *corrupt*, the spec's
outcome word (§6).

The checks after a store look only at its pages (cheap enough to run after
every folio of a long replay); the whole pool's walk the pool once
(`PoolView.tally`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from .cint import ENOENT, describe_u32, errno_name
from .pool_view import AS_IS_OTHER, AS_IS_PAGE, LENGTH_ZERO, NO_ENTRY, OVERSIZE, SLOT_KINDS, \
    ModelView, PoolView, Tally
from .zswap import REJECT_COUNTERS, Folio, Zswap

__all__ = [
    "Violation",
    # the checker
    "CHECKS", "NOT_ON_A_POOL", "check", "StoredRun", "ReadBack", "read_back", "zswap_source",
    "moved_code", "NO_MOVE",
    # the model's swap layer's calls
    "check_store", "check_global", "check_load",
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

def bad_alloc(offset: int | None, size: int) -> Violation:
    """INV-ALLOC: zs_malloc() asked for 0 bytes or more than PAGE_SIZE."""
    return Violation("INV-ALLOC", offset, f"zs_malloc({describe_u32(size)}) called")


def stored_without_entry(offset: int) -> Violation:
    """INV-ATOMIC: the store returned true, but the slot, one of the folio's, has no entry."""
    return Violation("INV-ATOMIC", offset, "store returned true but the slot has no entry")


def rejected_with_entry(offset: int) -> Violation:
    """INV-ATOMIC: the store returned false, but the slot, one of the folio's, has an entry."""
    return Violation("INV-ATOMIC", offset, "store returned false but the slot has an entry")


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




# -- the checker: what the checks read ---------------------------------------------------

NO_MOVE = 0xFF  # `StoredRun.moved` where no folio was rejected past the limit checks


def moved_code(delta: int) -> int:
    """How far a rejected folio moved the reject_* counters, as `StoredRun.moved` keeps it:
    one byte, 0 to 127 (more reads as 127)."""
    return min(max(delta, 0), 127)


@dataclass
class StoredRun:
    """A run of pages a tool just swapped out, from slot `first` on.

    `outcomes`: one code per page: '0' zero-filled (the swap layer keeps it),
    'c' stored compressed, 'r' stored as-is, 'x' rejected.  `pages`: the
    pages swapped out (None: the checks of the run's slots are skipped).
    `writeback`: whether writeback was enabled for the run's cgroup while it
    was stored.  `moved`: one byte per page; at the first page of a folio
    rejected past the limit checks, how far its store moved the reject_*
    counters (`moved_code`), `NO_MOVE` elsewhere (None: not known).
    `malloc_sizes`: the sizes zs_malloc() was asked for while storing (all,
    or only those out of range).  `one_folio`: the run is one folio, so a
    finding about the whole store is at `first` (else at no slot)."""

    first: int
    outcomes: bytes
    pages: object = None
    writeback: bool = True
    moved: bytes | None = None
    malloc_sizes: Sequence[int] = ()
    one_folio: bool = True


@dataclass(frozen=True)
class ReadBack:
    """One page read back at `offset`, looked for in `source` ("zswap", "the swap
    device", ...).  `differs_at`: the first byte that differs from the page swapped
    out (None: none does); `lost`: nothing came back.  `stored`: whether zswap
    stored the page (None: not known); `rc`: what zswap_load() returned."""

    offset: int
    source: str
    differs_at: int | None = None
    lost: bool = False
    stored: bool | None = None
    rc: int = 0


def zswap_source(rc: int) -> str:
    """Where a page was looked for, after zswap_load() returned `rc`."""
    return "zswap" if rc == 0 else f"zswap (zswap_load returned {errno_name(rc)})"


def read_back(offset: int, expected: bytes, got: bytes | None, source: str, *,
              stored: bool | None = None, rc: int = 0) -> ReadBack:
    """The `ReadBack` of `got` (None: nothing came back) against the page `expected`."""
    if got is None:
        return ReadBack(offset, source, None, True, stored, rc)
    if got == expected:
        return ReadBack(offset, source, None, False, stored, rc)
    first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b),
                 min(len(got), len(expected)))
    return ReadBack(offset, source, first, False, stored, rc)


class Facts:
    """What one `check` call reads: the view, the event, and what is computed
    from them once for every check (the run's slot kinds, the pool's tally)."""

    def __init__(self, view: PoolView | None, event):
        self.view = view
        self.run = event if isinstance(event, StoredRun) else None
        self.reads: Sequence[ReadBack] = () if event is None or self.run else tuple(event)
        self.whole_pool = event is None

    @property
    def page_size(self) -> int:
        return self.view.page_size

    @cached_property
    def kinds(self) -> bytes | None:
        """The run's slot kinds (`pool_view`), or None without its pages."""
        run = self.run
        if run is None or run.pages is None:
            return None
        kinds = self.view.slots(run.first, run.pages)
        if len(kinds) != len(run.outcomes):
            raise ValueError(f"{len(run.outcomes)} outcomes for {len(kinds)} pages")
        return kinds

    @cached_property
    def tally(self) -> Tally:
        return self.view.tally()


@lru_cache(maxsize=None)
def _all_but(wanted: bytes) -> bytes:
    return bytes(b for b in range(256) if b not in wanted)


def _where(codes: bytes, wanted: bytes) -> list[int]:
    """The indices of the bytes of `codes` that are in `wanted`; at C speed when none is."""
    if not codes.translate(None, _all_but(wanted)):
        return []
    return [i for i, c in enumerate(codes) if c in wanted]


# -- the checker: one check per invariant ------------------------------------------------

_PRESENT = bytes.maketrans(SLOT_KINDS, bytes([0] + [1] * (len(SLOT_KINDS) - 1)))
_STORED = bytes.maketrans(b"0crx", b"\x00\x01\x01\x00")


def check_atomic(facts: Facts) -> list[Violation]:
    """INV-ATOMIC: after a store, an entry at exactly the slots the store says it
    stored; on a read, zswap gives no page it did not store."""
    out = []
    kinds, run = facts.kinds, facts.run
    if kinds is not None:
        present, stored = kinds.translate(_PRESENT), bytes(run.outcomes).translate(_STORED)
        if present != stored:
            for i, (has, want) in enumerate(zip(present, stored)):
                if has == want:
                    continue
                offset = run.first + i
                if want:
                    out.append(stored_without_entry(offset))
                elif run.outcomes[i] == ord("0"):
                    out.append(zero_filled_with_entry(offset))
                else:
                    out.append(rejected_with_entry(offset))
    for r in facts.reads:
        if r.stored is False and r.rc != -ENOENT:
            out.append(unstored_page_loaded(r.offset, r.rc))
    return out


def check_len(facts: Facts) -> list[Violation]:
    """INV-LEN: every entry of the run (after a store) or of the pool (whole pool)
    has a length in (0, PAGE_SIZE]."""
    ps = facts.view.page_size if facts.view is not None else 0
    if facts.kinds is not None:
        first = facts.run.first
        return [length_out_of_range(first + i, facts.view.entry_length(first + i), ps)
                for i in _where(facts.kinds, bytes([LENGTH_ZERO, OVERSIZE]))]
    if facts.whole_pool:
        return [length_out_of_range(offset, length, ps)
                for offset, length in sorted(facts.tally.odd_lengths)
                if not 0 < length <= ps]
    return []


def check_raw(facts: Facts) -> list[Violation]:
    """INV-RAW: an entry of the run of length PAGE_SIZE holds the page itself."""
    if facts.kinds is None:
        return []
    first, ps = facts.run.first, facts.view.page_size
    return [corrupt_entry(first + i, ps) for i in _where(facts.kinds, bytes([AS_IS_OTHER]))]


def check_wb(facts: Facts) -> list[Violation]:
    """INV-WB: no entry of the run of length PAGE_SIZE while writeback was disabled."""
    if facts.kinds is None or facts.run.writeback:
        return []
    first = facts.run.first
    return [as_is_without_writeback(first + i)
            for i in _where(facts.kinds, bytes([AS_IS_PAGE, AS_IS_OTHER]))]


def check_alloc(facts: Facts) -> list[Violation]:
    """INV-ALLOC: no zs_malloc() size of the store outside (0, PAGE_SIZE]."""
    run = facts.run
    if run is None or not run.malloc_sizes:
        return []
    ps = facts.view.page_size
    at = run.first if run.one_folio else None
    return [bad_alloc(at, size) for size in run.malloc_sizes if not 0 < size <= ps]


def check_counters(facts: Facts) -> list[Violation]:
    """INV-COUNTERS: a folio of the run rejected past the limit checks moved the
    reject_* counters by exactly one; over the whole pool, stored_pages,
    stored_incompressible_pages, pool_total_size and every cgroup's stats agree
    with the entries."""
    out = []
    run = facts.run
    if run is not None and run.moved is not None:
        moved = bytes(run.moved)
        for i in _where(moved, _all_but(bytes([NO_MOVE, 1]))):
            out.append(reject_counters_moved(run.first + i, moved[i]))
    if facts.whole_pool:
        ps = facts.view.page_size
        c, t = facts.view.counters(), facts.tally
        if c["stored_pages"] != t.entries:
            out.append(stored_pages_disagree(c["stored_pages"], t.entries))
        if c["stored_incompressible_pages"] != t.as_is:
            out.append(incompressible_pages_disagree(c["stored_incompressible_pages"], t.as_is, ps))
        if c["pool_total_size"] != t.pool_pages * ps:
            out.append(pool_total_size_disagrees(c["pool_total_size"], t.pool_pages * ps))
        for name, got, entries_say in t.cgroups:
            if tuple(got) != tuple(entries_say):
                out.append(cgroup_stats_disagree(name, got, entries_say))
    return out


def check_noleak(facts: Facts) -> list[Violation]:
    """INV-NOLEAK: as many zsmalloc objects as entries (after a store); over the whole
    pool, every object owned by an entry and every entry's object there."""
    run = facts.run
    if run is not None:
        objects, entries = facts.view.live_objects, facts.view.live_entries
        if objects != entries:
            return [objects_for_entries(run.first if run.one_folio else None, objects, entries)]
    elif facts.whole_pool:
        t = facts.tally
        if t.unowned or t.without_object:
            return [objects_unowned(t.unowned, t.without_object)]
        if t.objects != t.entries:
            return [objects_for_entries(None, t.objects, t.entries)]
    return []


def check_roundtrip(facts: Facts) -> list[Violation]:
    """INV-ROUNDTRIP: every page zswap (or the swap layer) held reads back byte for byte."""
    out = []
    for r in facts.reads:
        if r.stored is False:
            continue
        if r.lost:
            out.append(page_lost(r.offset, r.source))
        elif r.differs_at is not None:
            out.append(page_differs(r.offset, r.source, r.differs_at))
    return out


# Every invariant of the spec checkable on one pool, in the order findings at one slot are
# reported.
CHECKS: dict[str, Callable[[Facts], list[Violation]]] = {
    "INV-ALLOC": check_alloc,
    "INV-ATOMIC": check_atomic,
    "INV-LEN": check_len,
    "INV-RAW": check_raw,
    "INV-WB": check_wb,
    "INV-COUNTERS": check_counters,
    "INV-NOLEAK": check_noleak,
    "INV-ROUNDTRIP": check_roundtrip,
}
# The invariants one pool cannot show, and where they are checked instead.
NOT_ON_A_POOL = {
    "INV-BATCH": "compares two runs of the same folios (zswap-spec check, model/batching)",
}
_ORDER = {inv_id: i for i, inv_id in enumerate(CHECKS)}


def check(view: PoolView | None, event: StoredRun | Sequence[ReadBack] | None = None,
          ids: Sequence[str] | None = None) -> list[Violation]:
    """The spec's invariants `ids` (default: all of `CHECKS`) over `view` after
    `event`: a `StoredRun`, a sequence of `ReadBack` (then `view` may be None),
    or None (the whole pool).  The findings in slot order (a finding of the
    whole pool first), by `CHECKS`' order at one slot."""
    facts = Facts(view, event)
    out: list[Violation] = []
    for inv_id in CHECKS if ids is None else ids:
        fn = CHECKS.get(inv_id)
        if fn is None:
            why = NOT_ON_A_POOL.get(inv_id)
            raise ValueError(f"{inv_id} is not checked on a pool: it {why}" if why else
                             f"{inv_id!r} is not an invariant of the spec")
        out.extend(fn(facts))
    out.sort(key=lambda v: (-1 if v.offset is None else v.offset, _ORDER[v.invariant]))
    return out


# -- the model's swap layer's calls ---------------------------------------------------------

def check_store(zs: Zswap, folio: Folio, ok: bool, wb_enabled: bool,
                rejects_before: int) -> list[Violation]:
    """Every check after the store of `folio` (it returned `ok`) on the model; the
    reject_* counters summed to `rejects_before` before it."""
    n = folio.nr_pages
    moved = None
    if zs.trace.stage == "pages" and not ok:
        delta = sum(zs.counters[c] for c in REJECT_COUNTERS) - rejects_before
        moved = bytes([moved_code(delta)]) + bytes([NO_MOVE]) * (n - 1)
    run = StoredRun(folio.offset, (b"c" if ok else b"x") * n, b"".join(folio.pages), wb_enabled,
                    moved, tuple(zs.trace.malloc_sizes))
    return check(ModelView(zs), run)


def check_load(offset: int, expected: bytes, got: bytes | None, how: str) -> list[Violation]:
    """INV-ROUNDTRIP for one page read back from `how` (None: nothing came back)."""
    return check(None, [read_back(offset, expected, got, how)], ("INV-ROUNDTRIP",))


def check_global(zs: Zswap) -> list[Violation]:
    """Every check of the whole pool on the model."""
    return check(ModelView(zs))

"""The view of a pool the invariant checker reads (`zswap_spec.model.invariants.check`):
the facts an invariant of spec/zswap-spec.md §5 needs, which the model and
the optimized core both give.

`PoolView` is the protocol.  The model gives it through `ModelView` (over a
`Zswap`; `pool.ModelPool` uses it); the optimized core through
`pool.CorePool`, whose extension computes the facts in C (`Core.slots`,
`Core.tally`), so a replay of gigabytes pays no per-page Python for them.

The view states facts and decides nothing: which of them break an
invariant is the checker's, one check per invariant ID.

Slot kinds: one byte per slot of a run of pages just swapped out, what the
slot holds (the byte is the same in the C core):

====  ==============================================================
``-``  no entry
``z``  an entry of length 0
``c``  an entry of length in (0, PAGE_SIZE)
``p``  an entry of length PAGE_SIZE whose object holds the page's bytes
``q``  an entry of length PAGE_SIZE whose object is not the page's bytes
``o``  an entry of length above PAGE_SIZE
====  ==============================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from .zswap import Zswap

__all__ = ["PoolView", "Tally", "ModelView", "SLOT_KINDS", "NO_ENTRY", "LENGTH_ZERO",
           "COMPRESSED", "AS_IS_PAGE", "AS_IS_OTHER", "OVERSIZE"]

NO_ENTRY = ord("-")
LENGTH_ZERO = ord("z")
COMPRESSED = ord("c")
AS_IS_PAGE = ord("p")
AS_IS_OTHER = ord("q")
OVERSIZE = ord("o")
SLOT_KINDS = bytes([NO_ENTRY, LENGTH_ZERO, COMPRESSED, AS_IS_PAGE, AS_IS_OTHER, OVERSIZE])


class Tally(NamedTuple):
    """The whole pool, walked once (`PoolView.tally`)."""

    entries: int                     # entries in the tree
    as_is: int                       # of them, entries of length PAGE_SIZE
    pool_pages: int                  # pages the zsmalloc pools hold
    objects: int                     # live zsmalloc objects
    unowned: int                     # objects no entry owns
    without_object: int              # entries whose object is gone
    odd_lengths: list                # (slot, length) of entries of length 0 or above PAGE_SIZE
    cgroups: list                    # (name, (zswap, zswapped, zswap_incomp) as the cgroup
                                     #  reports them, the same as its entries and its
                                     #  descendants' make them)


class PoolView(Protocol):
    """What the invariant checker reads of a pool."""

    page_size: int

    @property
    def live_entries(self) -> int:
        """Entries in the tree (cheap: after every store)."""

    @property
    def live_objects(self) -> int:
        """Live zsmalloc objects (cheap: after every store)."""

    def slots(self, first_offset: int, pages) -> bytes:
        """One slot kind (see the module) per page of `pages`, the bytes
        swapped out at `first_offset` on."""

    def entry_length(self, offset: int) -> int:
        """The length of the entry at `offset` (0: none)."""

    def counters(self) -> Mapping[str, int]:
        """The debugfs counters (and perhaps more)."""

    def tally(self) -> Tally:
        """The whole pool's facts."""


class ModelView:
    """`PoolView` over the model.

    `cgroups`: the cgroups to report, named by their index (the pool API's
    numbering); without it, the root and every cgroup an entry is charged
    to (and their ancestors), named by their path."""

    def __init__(self, zs: Zswap, cgroups: Sequence | None = None):
        self.zs = zs
        self.page_size = zs.page_size
        self.cgroups = cgroups

    @property
    def live_entries(self) -> int:
        return len(self.zs.tree)

    @property
    def live_objects(self) -> int:
        return self.zs.live_objects()

    def slots(self, first_offset: int, pages) -> bytes:
        zs, ps = self.zs, self.page_size
        view = memoryview(pages).cast("B")
        out = bytearray()
        for at in range(0, len(view), ps):
            e = zs.tree.get(first_offset + at // ps)
            if e is None:
                out.append(NO_ENTRY)
            elif e.length == 0:
                out.append(LENGTH_ZERO)
            elif e.length < ps:
                out.append(COMPRESSED)
            elif e.length > ps:
                out.append(OVERSIZE)
            else:
                held = (e.pool or zs.pool).zpool.objects.get(e.handle)
                out.append(AS_IS_PAGE if held == view[at:at + ps] else AS_IS_OTHER)
        return bytes(out)

    def entry_length(self, offset: int) -> int:
        e = self.zs.tree.get(offset)
        return 0 if e is None else e.length

    def counters(self) -> Mapping[str, int]:
        return self.zs.counters

    def tally(self) -> Tally:
        zs, ps = self.zs, self.page_size
        entries = list(zs.tree.values())
        # Each cgroup's figures cover its own entries and its descendants'; an
        # entry of the root cgroup is not charged without `charge_root`.
        sums: dict[int, list] = {}
        for e in entries:
            m = None if e.memcg is zs.root and not zs.charge_root else e.memcg
            while m is not None:
                rec = sums.setdefault(id(m), [0, 0, 0])
                rec[0] += e.length
                rec[1] += 1
                rec[2] += e.length == ps
                m = m.parent
        if self.cgroups is not None:
            named = [(str(i), m) for i, m in enumerate(self.cgroups)]
        else:
            named = [(m.name, m) for m in _all_memcgs(zs, entries)]
        cgroups = [(name, (m.stat["zswap"], m.stat["zswapped"], m.stat["zswap_incomp"]),
                    tuple(sums.get(id(m), (0, 0, 0)))) for name, m in named]
        # Objects by (pool, handle): every pool on the list, each entry's own pool.
        handles = {(id(e.pool or zs.pool), e.handle) for e in entries}
        objects = {(id(p), h) for p in zs.pools for h in p.zpool.objects}
        return Tally(
            entries=len(entries), as_is=sum(1 for e in entries if e.length == ps),
            pool_pages=zs.zswap_total_pages(), objects=zs.live_objects(),
            unowned=len(objects - handles), without_object=len(handles - objects),
            odd_lengths=[(e.offset, e.length) for e in entries if not 0 < e.length <= ps],
            cgroups=cgroups)


def _all_memcgs(zs: Zswap, entries) -> list:
    seen = {id(zs.root): zs.root}
    for e in entries:
        m = e.memcg
        while m is not None:
            seen.setdefault(id(m), m)
            m = m.parent
    return list(seen.values())

"""Memory cgroups as zswap consults them: writeback switch, zswap limit, stats.

`mem_cgroup_zswap_writeback_enabled()` is the AND of `memory.zswap.writeback`
over the cgroup and its ancestors, root included (true when zswap is globally
disabled); `obj_cgroup_may_zswap()` checks `memory.zswap.max` at every
ancestor below the root, in whole pages, 0 meaning "never" (mm/memcontrol.c,
damonitor/linux 749decad9675).  The stat names are those of `memory.stat`;
`zswapped` and `zswap_incomp` count pages inside the kernel and are printed in
bytes.
"""

from __future__ import annotations

__all__ = ["MemCgroup", "MEMCG_STATS"]

MEMCG_STATS = ("zswap", "zswapped", "zswap_incomp", "zswpin", "zswpout", "zswpwb")


class MemCgroup:
    """One cgroup: its zswap knobs, its stats, its LRU of zswap entries."""

    def __init__(self, name: str = "/", parent: "MemCgroup | None" = None,
                 zswap_writeback: bool = True, zswap_max: int | None = None):
        self.name = name
        self.parent = parent
        self.zswap_writeback = zswap_writeback
        self.zswap_max = zswap_max  # bytes as written; None is "max"
        # Internal units: `zswap` in bytes, the rest in pages or events.
        self.stat = dict.fromkeys(MEMCG_STATS, 0)
        # LRU of offsets, oldest first, with the second-chance bit.
        self.lru: dict[tuple[int, int], bool] = {}

    def __repr__(self) -> str:
        return f"MemCgroup({self.name!r})"

    def ancestors(self):
        """This cgroup, then its parent, up to the root."""
        memcg = self
        while memcg is not None:
            yield memcg
            memcg = memcg.parent

    def memory_stat(self, page_size: int) -> dict[str, int]:
        """The zswap lines of `memory.stat`, in the units the file prints."""
        out = dict(self.stat)
        out["zswapped"] *= page_size
        out["zswap_incomp"] *= page_size
        return out

    def child(self, name: str, **knobs) -> "MemCgroup":
        return MemCgroup(f"{self.name.rstrip('/')}/{name}", self, **knobs)


def mem_cgroup_zswap_writeback_enabled(memcg: MemCgroup | None, zswap_enabled: bool = True) -> bool:
    """Writeback is allowed only if no cgroup on the way to the root forbids it."""
    if memcg is None or not zswap_enabled:
        return True
    return all(m.zswap_writeback for m in memcg.ancestors())


def obj_cgroup_may_zswap(memcg: MemCgroup | None, page_size: int) -> bool:
    """False when an ancestor below the root has reached its `memory.zswap.max`."""
    if memcg is None:
        return True
    for m in memcg.ancestors():
        if m.parent is None or m.zswap_max is None:
            continue
        max_pages = m.zswap_max // page_size
        if max_pages == 0:
            return False
        if _hierarchical_zswap_bytes(m) // page_size >= max_pages:
            return False
    return True


def _hierarchical_zswap_bytes(memcg: MemCgroup) -> int:
    # memory.stat counts are hierarchical: the cgroup's own plus its
    # descendants'.  The model charges every ancestor, so the cgroup's own
    # figure already is the hierarchical one.
    return memcg.stat["zswap"]

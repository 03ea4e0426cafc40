"""Memory cgroups as zswap consults them: writeback switch, zswap limit, stats.

`mem_cgroup_zswap_writeback_enabled()` is the AND of `memory.zswap.writeback`
over the cgroup and its ancestors, root included (true when zswap is globally
disabled); `obj_cgroup_may_zswap()` checks `memory.zswap.max` at every
ancestor below the root, in whole pages, 0 meaning "never" (mm/memcontrol.c,
damonitor/linux 749decad9675).  The stat names are those of `memory.stat`;
`zswapped` and `zswap_incomp` count pages inside the kernel and are printed in
bytes.

The hierarchy is a tree: every cgroup keeps its children in the order they
were made, as the kernel's sibling lists do, and `mem_cgroup_iter` walks it
in pre-order from the root (the pool shrink worker's round-robin).  The
model never removes a cgroup, so every cgroup is online.
"""

from __future__ import annotations

__all__ = ["MemCgroup", "MEMCG_STATS", "css_next_descendant_pre", "mem_cgroup_iter",
           "mem_cgroup_tryget_online"]

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
        # Children in creation order (the kernel's `children` list, new
        # cgroups added at the tail); a cgroup is made under its parent.
        self.children: list[MemCgroup] = []
        if parent is not None:
            parent.children.append(self)

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


def css_next_descendant_pre(pos: MemCgroup | None, root: MemCgroup) -> MemCgroup | None:
    """The cgroup after `pos` in a pre-order walk of `root`'s subtree: `root`
    itself when `pos` is None, else `pos`'s first child, else the next
    sibling of `pos` or of its nearest ancestor below `root` that has one;
    None when the walk is over.  Siblings come in creation order.

    kernel/cgroup/cgroup.c `css_next_descendant_pre` and `css_next_child`:
    that file is not in the unpacked Linux 7.3.4 sources (Debian
    linux-source-7.3 as unpacked here holds mm/ and include/linux/zswap.h),
    so this follows a public copy of the same functions, unchanged in
    substance for many releases.
    """
    if pos is None:
        return root
    if pos.children:
        return pos.children[0]
    while pos is not root and pos.parent is not None:
        siblings = pos.parent.children
        i = siblings.index(pos)
        if i + 1 < len(siblings):
            return siblings[i + 1]
        pos = pos.parent
    return None


def mem_cgroup_iter(root: MemCgroup, prev: MemCgroup | None) -> MemCgroup | None:
    """A full walk (no reclaim cookie) of `root`'s hierarchy, one cgroup per
    call: `root` first when `prev` is None, then the pre-order successor of
    `prev`, None after the last, which ends the pass (the next call with
    None starts again at `root`).  The kernel's walk skips a cgroup whose
    reference it cannot take (a released one); the model has none.

    mm/memcontrol.c `mem_cgroup_iter`, lines 1248-1350 (Linux 7.3.4, Debian
    linux-source-7.3), the `reclaim == NULL` path, with `root` the root
    cgroup as `shrink_worker` passes it (NULL).
    """
    return css_next_descendant_pre(prev, root)


def mem_cgroup_tryget_online(memcg: MemCgroup | None) -> bool:
    """Whether a reference to an online `memcg` can be taken: always, in the
    model, which never takes a cgroup offline (no rmdir, so no zombie
    cgroups and nothing for `zswap_memcg_offline_cleanup` to do).

    include/linux/memcontrol.h `mem_cgroup_tryget_online` (true for NULL,
    else `css_tryget_online`); that header is not in the unpacked Linux
    7.3.4 sources (Debian linux-source-7.3), so this follows the patch that
    added it.
    """
    return True


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

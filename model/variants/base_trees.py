"""The kernel trees the variants sit on, and what of zswap differs between them.

A variant transcribes `zswap_store()`/`zswap_compress()`; the rest of zswap
around them (the writeback walk `shrink_memcg`, the pool shrink worker
`shrink_worker`, the limits) comes from the tree the variant was written
against.  Each `BaseTree` records the parameters of that surrounding code
that differ between the trees read; everything not named here is the same in
both (spec/zswap-spec.md §6 and §7).

- ``linux-7.3``: mm/zswap.c of Linux 7.3.4 (Debian linux-source-7.3), the
  kernel `zswap-spec kernel-check` boots.  `shrink_memcg` (lines 1290-1317)
  walks up to SWAP_CLUSTER_MAX (32) entries per node; `shrink_worker`
  (1319-1404) ends a pass on a NULL cursor only while memcg is enabled, so
  with memcg disabled it calls `shrink_memcg(NULL)`, the global LRU.
- ``mm-late-2025``: mm/zswap.c of damonitor/linux 9321810240ec (late 2025),
  the readable tree nearest the batching series' base ("[PATCH v13 00/22]",
  2025-11-04, names mm-unstable of 2025-10-24, commit 813c0fa931ce).
  `shrink_memcg` walks one entry per node (`nr_to_walk = 1`); `shrink_worker`
  treats every NULL cursor as the end of a pass, memcg disabled or not, so
  with memcg disabled it never calls `shrink_memcg` and gives up after
  MAX_RECLAIM_RETRIES turns.  (Its `continue` where 7.3 has
  `goto resched` only skips a `cond_resched()`: the loop condition is
  evaluated either way.)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BaseTree", "BASE_TREES", "LINUX_7_3", "MM_LATE_2025", "get_base_tree"]


@dataclass(frozen=True)
class BaseTree:
    """One kernel tree's zswap around `zswap_compress`, as far as it differs."""

    name: str
    source: str
    # `shrink_memcg`: entries `list_lru_walk_one` may visit (nr_to_walk) per call.
    shrink_memcg_walk: int
    # `shrink_worker`, memcg disabled (`mem_cgroup_iter` always NULL): True if
    # the NULL cursor falls through to `shrink_memcg(NULL)` (the global LRU);
    # False if it ends a pass (a failure, as no attempt is ever made).
    worker_shrinks_root_without_memcg: bool


LINUX_7_3 = BaseTree(
    name="linux-7.3",
    source="mm/zswap.c, Linux 7.3.4 (Debian linux-source-7.3)",
    shrink_memcg_walk=32,  # SWAP_CLUSTER_MAX
    worker_shrinks_root_without_memcg=True,
)

MM_LATE_2025 = BaseTree(
    name="mm-late-2025",
    source="mm/zswap.c, damonitor/linux 9321810240ec (late 2025)",
    shrink_memcg_walk=1,
    worker_shrinks_root_without_memcg=False,
)

BASE_TREES: dict[str, BaseTree] = {t.name: t for t in (LINUX_7_3, MM_LATE_2025)}


def get_base_tree(tree: "str | BaseTree") -> BaseTree:
    if isinstance(tree, BaseTree):
        return tree
    try:
        return BASE_TREES[tree]
    except KeyError:
        raise ValueError(f"unknown base tree {tree!r}; choose one of: {', '.join(BASE_TREES)}") from None

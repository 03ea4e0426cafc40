"""zswap's state and the operations every variant shares: store's prologue,
load, invalidate, writeback and the shrinkers.

Transcribed, in the model's own words, from mm/zswap.c of Linux 7.3.4
(Debian's linux-source-7.3, the kernel `zswap-spec kernel-check` boots) and
damonitor/linux 9321810240ec (late 2025), which agree on everything here but
the writeback walk and one branch of the pool shrink worker.  Those come from
the variant's base tree (`zswap_spec.model.variants.base_trees`): 7.3's
`shrink_memcg` walks up to 32 LRU entries, the late-2025 tree's one; with
memcg disabled 7.3's `shrink_worker` shrinks the global LRU where the
late-2025 tree's only counts failures.  What differs between kernel variants
(how a folio's pages are compressed and entered) lives in
``zswap_spec.model.variants``; this module calls the variant's `store_pages`
for the part in between.

Pools: one per compressor (`zswap_spec.model.pools`); a store compresses
with, and allocates in, the current one, and each entry keeps the pool it
was stored in (`set_compressor` is the `compressor` parameter at run time).

The pool shrink worker runs when the model is told to: a store that fails
while the pool is full queues it (`queue_work`), and `run_queued_work`, which
the swap layer (`zswap_spec.model.swap.SwapSystem`) calls after every
swap-out, runs it to completion (see `run_queued_work`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .cint import EAGAIN, EEXIST, EINVAL, EIO, ENOENT
from .compressors import algorithm
from .memcg import (MemCgroup, mem_cgroup_iter, mem_cgroup_tryget_online,
                    mem_cgroup_zswap_writeback_enabled, obj_cgroup_may_zswap)
from .pools import ZswapPool
from .variants import get_base_tree, get_variant

__all__ = [
    "DEBUGFS_COUNTERS",
    "VM_EVENTS",
    "Folio",
    "ShrinkTrace",
    "ZswapEntry",
    "Zswap",
    "SUPPORTED_PAGE_SIZES",
]

DEBUGFS_COUNTERS = (
    "pool_limit_hit",
    "reject_reclaim_fail",
    "reject_alloc_fail",
    "reject_kmemcache_fail",
    "reject_compress_fail",
    "reject_compress_poor",
    "decompress_fail",
    "written_back_pages",
    "pool_total_size",
    "stored_pages",
    "stored_incompressible_pages",
)
REJECT_COUNTERS = tuple(c for c in DEBUGFS_COUNTERS if c.startswith("reject_") and c != "reject_reclaim_fail")
VM_EVENTS = ("zswpin", "zswpout", "zswpwb")
SUPPORTED_PAGE_SIZES = (4096, 16384, 65536)
MAX_RECLAIM_RETRIES = 16
SWAP_CLUSTER_MAX = 32  # Linux 7.3's `shrink_memcg` walk (BaseTree.shrink_memcg_walk)


@dataclass(frozen=True)
class Folio:
    """A folio being swapped out: its pages, first swap offset and cgroup."""

    pages: tuple[bytes, ...]
    offset: int
    memcg: MemCgroup | None = None

    @property
    def nr_pages(self) -> int:
        return len(self.pages)


class ZswapEntry:
    """`struct zswap_entry`: where one page's stored bytes live."""

    __slots__ = ("offset", "handle", "length", "memcg", "referenced", "pool")

    def __init__(self, offset: int):
        self.offset = offset
        self.handle = 0
        self.length = 0
        self.memcg: MemCgroup | None = None
        self.referenced = True
        self.pool: ZswapPool | None = None  # set once the entry is in the tree

    def __repr__(self) -> str:
        return f"ZswapEntry(offset={self.offset}, handle={self.handle}, length={self.length})"


@dataclass
class StoreTrace:
    """Why the last `zswap_store` ended as it did (instrumentation, not kernel state)."""

    stage: str = "none"  # disabled | memcg_limit | pool_limit | pages | stored
    malloc_sizes: list[int] = field(default_factory=list)


@dataclass
class ShrinkTrace:
    """What the last `shrink_worker` run did (instrumentation, not kernel state).

    `steps`: one per turn of its loop, (the cgroup's name, `shrink_memcg`'s
    return) or (None, None) for the end of a pass; `failures` and `attempts`
    as the loop left them; `gave_up`: it stopped at MAX_RECLAIM_RETRIES
    failures rather than at the accept threshold."""

    steps: list[tuple[str | None, int | None]] = field(default_factory=list)
    failures: int = 0
    attempts: int = 0
    gave_up: bool = False


class Zswap:
    """One zswap instance: its pool, tree, counters and parameters."""

    DEFAULT_MAX_POOL_PERCENT = 20  # module parameter max_pool_percent's default (mm/zswap.c)

    def __init__(self, variant="mainline", compressor="lz4", page_size: int = 4096,
                 total_ram_pages: int = 1 << 20, max_pool_percent: int = DEFAULT_MAX_POOL_PERCENT,
                 accept_threshold_percent: int = 90, enabled: bool = True,
                 max_batch_size: int | None = None, base_tree=None,
                 memcg_disabled: bool = False, charge_root: bool = True):
        """`base_tree`: the kernel tree whose writeback walk and shrink worker
        run around the variant (a name of `BASE_TREES` or a `BaseTree`);
        by default the variant's own (`variant.base_tree`).

        `memcg_disabled`: the kernel booted with memcg disabled
        (`cgroup_disable=memory`): stores carry no cgroup (every entry on the
        root's LRU, the global one), `memory.zswap.max` and
        `memory.zswap.writeback` do not exist, and the shrink worker's
        `mem_cgroup_iter` answers NULL every time.

        `charge_root`: whether an entry of a folio charged to the root cgroup
        counts in the root's `zswap`, `zswapped` and `zswap_incomp` (its
        events count either way).  True keeps the pool API's convention
        (cgroup 0 is a cgroup like any other).  False is Linux 7.3: such a
        folio's objcg is the root objcg, and `obj_cgroup_charge_zswap` and
        `obj_cgroup_uncharge_zswap` return at once for it (mm/memcontrol.c
        lines 6091-6139, Linux 7.3.4), while `count_objcg_events` still
        counts ZSWPOUT, ZSWPIN and ZSWPWB at the root
        (include/linux/memcontrol.h line 1802); the root's memory.stat then
        shows only its descendants' zswap memory."""
        if page_size not in SUPPORTED_PAGE_SIZES:
            raise ValueError(
                f"page size {page_size} is not supported; use one of {SUPPORTED_PAGE_SIZES}"
            )
        self.page_size = page_size
        self.variant = get_variant(variant) if isinstance(variant, str) else variant
        self.base_tree = get_base_tree(self.variant.base_tree if base_tree is None else base_tree)
        self.memcg_disabled = memcg_disabled
        self.charge_root = charge_root
        self.max_batch_size = max_batch_size
        # `zswap_pools`: the current pool first, then decommissioned pools
        # that still hold entries (`zswap_spec.model.pools`).
        self.pools: list[ZswapPool] = [ZswapPool(
            algorithm(compressor) if isinstance(compressor, str) else compressor,
            self.variant, page_size, max_batch_size)]
        self.enabled = enabled
        self.total_ram_pages = total_ram_pages
        self.max_pool_percent = max_pool_percent
        self.accept_threshold_percent = accept_threshold_percent
        self.root = MemCgroup("/")
        self.tree: dict[int, ZswapEntry] = {}
        self.counters = dict.fromkeys(DEBUGFS_COUNTERS, 0)
        self.vm_events = dict.fromkeys(VM_EVENTS, 0)
        self.pool_reached_full = False
        # `zswap_shrink_work` is pending on `shrink_wq` (queued, not yet run).
        self.shrink_work_queued = False
        # `zswap_next_shrink`: the shrink worker's cursor, kept across runs.
        self.zswap_next_shrink: MemCgroup | None = None
        self.shrink_trace = ShrinkTrace()  # the last run's steps
        self.shrink_worker_runs = 0  # runs so far (the kernel check compares it)
        self.kmemcache_fail_next = 0  # entry allocations to fail (injection)
        self.xa_store_fail_next = 0  # tree insertions to fail (injection)
        self.swap_device: dict[int, bytes] = {}
        self.trace = StoreTrace()

    # -- pools ----------------------------------------------------------------
    # A store compresses with, and allocates in, the current pool; these name
    # its parts as the variants use them.

    @property
    def pool(self) -> ZswapPool:
        return self.pools[0]

    @property
    def alg(self):
        return self.pools[0].alg

    @property
    def zpool(self):
        return self.pools[0].zpool

    @property
    def buffers(self) -> list[bytearray]:
        return self.pools[0].buffers

    @property
    def sg_outputs(self):
        return self.pools[0].sg_outputs

    @property
    def compr_batch_size(self) -> int:
        return self.pools[0].compr_batch_size

    @property
    def store_batch_size(self) -> int:
        return self.pools[0].store_batch_size

    def set_compressor(self, alg) -> bool:
        """Write the `compressor` parameter: False if it names the current
        pool's compressor (nothing changes), else True with that
        compressor's pool current (see `zswap_spec.model.pools`).

        mm/zswap.c `zswap_compressor_param_set`, line 530, Linux 7.3.4."""
        alg = algorithm(alg) if isinstance(alg, str) else alg
        name = getattr(alg, "name", str(alg))
        old = self.pools[0]
        if name == old.name:
            return False
        found = next((p for p in self.pools[1:] if p.name == name and p.alive), None)
        if found is not None:
            self.pools.remove(found)
            found.current = True  # percpu_ref_resurrect: the base reference again
            pool = found
        else:
            pool = ZswapPool(alg, self.variant, self.page_size, self.max_batch_size)
        self.pools.insert(0, pool)
        old.current = False  # percpu_ref_kill: the base reference dropped
        if not old.alive:
            self.pools.remove(old)  # __zswap_pool_empty
        self._update_pool_size()
        return True

    def _put_pool(self, pool: ZswapPool) -> None:
        """`zswap_pool_put` for an entry freed: a decommissioned pool goes
        with its last entry."""
        pool.entries -= 1
        if not pool.alive and pool in self.pools:
            self.pools.remove(pool)

    def live_objects(self) -> int:
        """zsmalloc objects allocated, over every pool."""
        return sum(len(p.zpool.objects) for p in self.pools)

    # -- limits -------------------------------------------------------------

    def zswap_total_pages(self) -> int:
        """Pages of every pool on the list (`zswap_total_pages`)."""
        return sum(p.zpool.total_pages() for p in self.pools)

    def zswap_max_pages(self) -> int:
        return self.total_ram_pages * self.max_pool_percent // 100

    def zswap_accept_thr_pages(self) -> int:
        return self.zswap_max_pages() * self.accept_threshold_percent // 100

    def zswap_check_limits(self) -> bool:
        """True while the pool is full (with hysteresis): the store is refused."""
        cur_pages = self.zswap_total_pages()
        max_pages = self.zswap_max_pages()
        if cur_pages >= max_pages:
            self.counters["pool_limit_hit"] += 1
            self.pool_reached_full = True
        elif self.pool_reached_full and cur_pages <= self.zswap_accept_thr_pages():
            self.pool_reached_full = False
        return self.pool_reached_full

    def writeback_enabled(self, memcg: MemCgroup | None) -> bool:
        if self.memcg_disabled:
            return True  # no cgroup: mem_cgroup_zswap_writeback_enabled(NULL)
        return mem_cgroup_zswap_writeback_enabled(memcg or self.root, self.enabled)

    # -- store ----------------------------------------------------------------

    def zswap_store(self, folio: Folio) -> bool:
        """Store every page of `folio`, or none of them.

        A store that fails after zswap was found enabled, while the pool is
        full (`pool_reached_full`, as the last `zswap_check_limits` left it),
        queues the pool shrink worker; it does not run it (`run_queued_work`).

        mm/zswap.c `zswap_store`, lines 1490-1574 (Linux 7.3.4, Debian
        linux-source-7.3): the queueing at 1550-1551, which the disabled
        case (1503-1504, straight to the stale-entry cleanup) skips.
        """
        memcg = folio.memcg or self.root
        top = memcg
        while top.parent is not None:
            top = top.parent
        if top is not self.root:
            raise ValueError(f"cgroup {memcg.name!r} is not in this zswap's hierarchy; "
                             f"make it under Zswap.root (the shrink worker walks only that tree)")
        if self.memcg_disabled and memcg is not self.root:
            raise ValueError(f"cgroup {memcg.name!r}: memcg is disabled (memcg_disabled=True), "
                             f"so a folio has no cgroup; give it memcg=None")
        self.trace = StoreTrace()
        ok = False
        if not self.enabled:
            self.trace.stage = "disabled"
        else:
            if (not self.memcg_disabled and not obj_cgroup_may_zswap(memcg, self.page_size)
                    and self.shrink_memcg(memcg) != 0):
                self.trace.stage = "memcg_limit"
            elif self.zswap_check_limits():
                self.trace.stage = "pool_limit"
            else:
                self.trace.stage = "pages"
                wb_enabled = self.writeback_enabled(memcg)
                if self.variant.store_pages(self, folio, memcg, wb_enabled):
                    for m in memcg.ancestors():
                        m.stat["zswpout"] += folio.nr_pages
                    self.vm_events["zswpout"] += folio.nr_pages
                    self.trace.stage = "stored"
                    ok = True
            if not ok and self.pool_reached_full:
                self.queue_work()
        if not ok:
            # Erase every entry of the folio's offsets: this call's and stale
            # ones from an earlier swap-out of the same slots.
            for offset in range(folio.offset, folio.offset + folio.nr_pages):
                entry = self.tree.pop(offset, None)
                if entry is not None:
                    self.zswap_entry_free(entry)
        self._update_pool_size()
        return ok

    def zs_malloc(self, size: int) -> int:
        """Every variant allocates through here, so the sizes are recorded."""
        self.trace.malloc_sizes.append(size)
        return self.zpool.zs_malloc(size)

    def entry_cache_alloc(self, offset: int) -> ZswapEntry | None:
        if self.kmemcache_fail_next:
            self.kmemcache_fail_next -= 1
            return None
        return ZswapEntry(offset)

    def xa_store(self, entry: ZswapEntry) -> tuple[bool, ZswapEntry | None]:
        """Insert into the tree: (ok, the entry it replaced)."""
        if self.xa_store_fail_next:
            self.xa_store_fail_next -= 1
            return False, None
        old = self.tree.get(entry.offset)
        self.tree[entry.offset] = entry
        return True, old

    def charge_and_count(self, entry: ZswapEntry, memcg: MemCgroup) -> None:
        """What `zswap_store_page` does once an entry is in the tree."""
        entry.memcg = memcg
        entry.pool = self.pool  # zswap_pool_get
        self.pool.entries += 1
        incomp = entry.length == self.page_size
        for m in self._charged(memcg):  # obj_cgroup_charge_zswap
            m.stat["zswap"] += entry.length
            m.stat["zswapped"] += 1
            m.stat["zswap_incomp"] += incomp
        self.counters["stored_pages"] += 1
        self.counters["stored_incompressible_pages"] += incomp
        if entry.length:
            memcg.lru[entry.offset] = True  # zswap_lru_add, entry->referenced = true

    def _charged(self, memcg: MemCgroup):
        """The cgroups whose zswap memory an entry of `memcg` counts in."""
        if memcg is self.root and not self.charge_root:
            return ()
        return memcg.ancestors()

    def zswap_entry_free(self, entry: ZswapEntry) -> None:
        pool = entry.pool or self.pool
        if entry.memcg is not None:  # the entry was charged and counted
            incomp = entry.length == self.page_size
            for m in self._charged(entry.memcg):
                m.stat["zswap"] -= entry.length
                m.stat["zswapped"] -= 1
                m.stat["zswap_incomp"] -= incomp
            entry.memcg.lru.pop(entry.offset, None)
            self.counters["stored_pages"] -= 1
            self.counters["stored_incompressible_pages"] -= incomp
        if entry.handle:
            pool.zpool.zs_free(entry.handle)
        if entry.pool is not None:
            self._put_pool(entry.pool)

    def _update_pool_size(self) -> None:
        self.counters["pool_total_size"] = self.zswap_total_pages() * self.page_size

    # -- load, decompress, invalidate -----------------------------------------

    def zswap_decompress(self, entry: ZswapEntry) -> bytes | None:
        """The page's bytes, or None (and `decompress_fail`) on failure; with
        the compressor of the pool the entry was stored in."""
        pool = entry.pool or self.pool
        data = pool.zpool.zs_obj_read(entry.handle)
        if entry.length == self.page_size:
            return bytes(data)  # stored as-is
        ret, out = pool.alg.decompress(data, self.page_size)
        if ret == 0 and len(out) == self.page_size:
            return out
        self.counters["decompress_fail"] += 1
        return None

    def zswap_load(self, offset: int, nr_pages: int = 1) -> tuple[int, bytes | None]:
        """Swap-in of one page: (0, bytes) or (-errno, None)."""
        if nr_pages > 1:
            return -EINVAL, None
        entry = self.tree.get(offset)
        if entry is None:
            return -ENOENT, None
        page = self.zswap_decompress(entry)
        if page is None:
            return -EIO, None
        memcg = entry.memcg or self.root
        for m in memcg.ancestors():
            m.stat["zswpin"] += 1
        self.vm_events["zswpin"] += 1
        del self.tree[offset]  # loads are exclusive
        self.zswap_entry_free(entry)
        self._update_pool_size()
        return 0, page

    def zswap_invalidate(self, offset: int) -> None:
        entry = self.tree.pop(offset, None)
        if entry is not None:
            self.zswap_entry_free(entry)
            self._update_pool_size()

    # -- writeback and shrinking ------------------------------------------------

    def zswap_writeback_entry(self, entry: ZswapEntry) -> int:
        """Decompress an entry and write it to the swap device."""
        if self.tree.get(entry.offset) is not entry:
            return -EEXIST
        page = self.zswap_decompress(entry)
        if page is None:
            return -EIO
        del self.tree[entry.offset]
        memcg = entry.memcg or self.root
        for m in memcg.ancestors():
            m.stat["zswpwb"] += 1
        self.vm_events["zswpwb"] += 1
        self.zswap_entry_free(entry)
        self.swap_device[entry.offset] = page
        self._update_pool_size()
        return 0

    def shrink_memcg(self, memcg: MemCgroup) -> int:
        """Walk up to `base_tree.shrink_memcg_walk` entries of `memcg`'s LRU,
        writing back those without the referenced bit (mm/zswap.c
        `shrink_memcg` and `shrink_memcg_cb`): 32 (SWAP_CLUSTER_MAX) on
        Linux 7.3 (Debian linux-source-7.3 7.3.4, lines 1290-1317), one on
        damonitor/linux 9321810240ec (late 2025), the batching series' base.

        0 if it wrote an entry back; -EAGAIN if it walked entries but wrote
        none back; -ENOENT if the cgroup's writeback is disabled or its LRU
        is empty (nothing walked).  The kernel also answers -ENOENT for an
        offline (zombie) cgroup, which the model never has."""
        if not self.writeback_enabled(memcg):
            return -ENOENT
        lru = memcg.lru
        if not lru:
            return -ENOENT  # nothing scanned
        shrunk = self._list_lru_walk(lru, self.base_tree.shrink_memcg_walk)
        return 0 if shrunk else -EAGAIN

    def _list_lru_walk(self, lru: dict[int, bool], nr_to_walk: int) -> int:
        """`list_lru_walk_one` with `shrink_memcg_cb`: the number of entries removed.

        The walk visits entries from the head, taking each one's successor
        before visiting it (list_for_each_safe), so an entry rotated to the
        tail is met again if the walk goes on, but a single entry is not.  A
        referenced entry loses its bit and is rotated; any other is rotated,
        then written back: removed on success (`written_back_pages`), counted
        in `reject_reclaim_fail` on failure; both restart from the head.
        """
        order = list(lru)
        removed = 0
        pos = 0
        while nr_to_walk > 0 and pos < len(order):
            offset = order[pos]
            successor = order[pos + 1] if pos + 1 < len(order) else None
            nr_to_walk -= 1
            order.append(order.pop(pos))  # rotated to the tail either way
            if lru[offset]:
                lru[offset] = False
                restart = False
            else:
                entry = self.tree[offset]
                if self.zswap_writeback_entry(entry) == 0:  # frees the entry, unlinks it
                    self.counters["written_back_pages"] += 1
                    order.remove(offset)
                    removed += 1
                else:
                    self.counters["reject_reclaim_fail"] += 1
                restart = True
            if restart:
                pos = 0
            elif successor is None:
                break
            else:
                pos = order.index(successor)
        flags = {o: lru[o] for o in order if o in lru}
        lru.clear()
        lru.update(flags)
        return removed

    def queue_work(self) -> bool:
        """`queue_work(shrink_wq, &zswap_shrink_work)`: mark the shrink
        worker pending; False, and nothing done, if it already is."""
        if self.shrink_work_queued:
            return False
        self.shrink_work_queued = True
        return True

    def run_queued_work(self) -> bool:
        """Run the pending shrink worker to completion; False if none is pending.

        The kernel runs `zswap_shrink_work` on a workqueue, asynchronously,
        at a time the model cannot know.  The model fixes the time: whoever
        drives it calls this right after the `zswap_store` call that queued
        the work returns, before the next operation (`SwapSystem.swap_out`
        does, after every swap-out).  So a store never overlaps the worker,
        and a comparison with a real kernel must let the kernel's worker
        finish after every store that could have queued it.  As on a
        workqueue, the work stops being pending when it starts.
        """
        if not self.shrink_work_queued:
            return False
        self.shrink_work_queued = False
        self.shrink_worker()
        return True

    def shrink_worker(self) -> None:
        """The pool shrink worker: write back, round-robin over the cgroups,
        until the pool is at or below the accept threshold.

        Each turn moves the cursor `zswap_next_shrink` one step along
        `mem_cgroup_iter`'s pre-order walk from the root (root included),
        skipping cgroups it cannot get online, and calls `shrink_memcg` on
        the cgroup it lands on; the cursor stays where it is when the worker
        returns, so the next run resumes after it.  The end of a pass (the
        walk's None) counts a failure only if that pass made no attempt
        (`attempts` counts `shrink_memcg` calls that returned 0 or -EAGAIN
        since the last end of a pass, and the count restarts at each run);
        -ENOENT (writeback disabled, empty LRU) counts nothing; -EAGAIN
        counts an attempt and a failure; 0 an attempt.  It gives up at
        MAX_RECLAIM_RETRIES failures, and otherwise stops when
        `zswap_total_pages()` is at or below `zswap_accept_thr_pages()`,
        checked after each turn (so it always takes at least one).

        With memcg disabled (`memcg_disabled`) the walk answers None every
        turn, and the base tree decides: Linux 7.3 then calls `shrink_memcg`
        on the root's LRU (the global one) as on a cgroup; the late-2025 tree
        ends a pass every turn, each a failure since no attempt is made, so it
        gives up after MAX_RECLAIM_RETRIES turns having written nothing back
        (`base_tree.worker_shrinks_root_without_memcg`).

        mm/zswap.c `shrink_worker`, lines 1319-1404, with `shrink_memcg`
        (1282-1317) and `zswap_memcg_offline_cleanup` (722-742, not modelled:
        no cgroup goes offline), Linux 7.3.4, Debian linux-source-7.3; and
        the same function of damonitor/linux 9321810240ec (late 2025), whose
        only other difference, `continue` for 7.3's `goto resched`, skips a
        `cond_resched()` and nothing the model has.
        """
        trace = self.shrink_trace = ShrinkTrace()
        self.shrink_worker_runs += 1
        failures = attempts = 0
        thr = self.zswap_accept_thr_pages()
        shrink_root = self.memcg_disabled and self.base_tree.worker_shrinks_root_without_memcg
        while True:
            memcg = self._mem_cgroup_iter(self.zswap_next_shrink)
            self.zswap_next_shrink = memcg
            while memcg is not None and not mem_cgroup_tryget_online(memcg):
                memcg = self._mem_cgroup_iter(self.zswap_next_shrink)
                self.zswap_next_shrink = memcg
            if memcg is None and shrink_root:
                memcg = self.root  # shrink_memcg(NULL): the global LRU
            if memcg is None:  # a pass is over
                trace.steps.append((None, None))
                if not attempts:
                    failures += 1
                    if failures == MAX_RECLAIM_RETRIES:
                        trace.gave_up = True
                        break
                attempts = 0
            else:
                ret = self.shrink_memcg(memcg)
                trace.steps.append((memcg.name, ret))
                if ret != -ENOENT:
                    attempts += 1
                    if ret:
                        failures += 1
                        if failures == MAX_RECLAIM_RETRIES:
                            trace.gave_up = True
                            break
            if self.zswap_total_pages() <= thr:
                break
        trace.failures, trace.attempts = failures, attempts

    def _mem_cgroup_iter(self, prev: MemCgroup | None) -> MemCgroup | None:
        """`mem_cgroup_iter(NULL, prev, NULL)`: None every time with memcg disabled."""
        if self.memcg_disabled:
            return None
        return mem_cgroup_iter(self.root, prev)

    # -- views ----------------------------------------------------------------

    def debugfs(self) -> dict[str, int]:
        """The files of /sys/kernel/debug/zswap/."""
        return dict(self.counters)

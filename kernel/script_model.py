"""Workload scripts on the model: what Linux 7.3.4 does, step by step, as
the guest's agent drives it.

`ScriptModel` keeps the script's regions page by page and plays the kernel's
memory management around zswap: the page faults that bring pages in, the
MADV_PAGEOUT calls that page them out one folio at a time, munmap, and
memory.reclaim.  zswap itself, the zeromap and the swap device are the
model's (`zswap_spec.model.zswap.Zswap` under
`zswap_spec.model.swap.SwapSystem`, whose checks run at every swap-out and
swap-in).  After every step it gives a record (spec/script-format.md,
"Records").

What each step does, from the Linux 7.3.4 sources (Debian linux-source-7.3):

- A page's life.  A page is *resident* (mapped: a present PTE) or *swapped*
  (its PTE holds a swap entry).  A swapped page is in the zeromap, in zswap,
  on the swap device, or *kept*: rejected by zswap while its cgroup's
  writeback is off, its folio stays in the swap cache, dirty, but it is
  unmapped all the same -- `shrink_folio_list` unmaps a folio before
  `pageout` writes it (mm/vmscan.c lines 1348, then 1396), and
  `swap_writeout` answers AOP_WRITEPAGE_ACTIVATE (mm/page_io.c line 204), so
  pagemap shows the page swapped, not present.
- `store` of a new region: every page is written (write faults) in folios
  of `folio_pages` pages, charged to the cgroup the workload is in; then
  each folio is paged out, one MADV_PAGEOUT call per folio in address
  order.  A call that covers a whole folio pages it out whole
  (mm/madvise.c `madvise_cold_or_pageout_pte_range`, line 362: a large
  folio is split only when the range covers part of it); `shrink_folio_list`
  gives it `nr` contiguous swap slots (mm/vmscan.c line 1279) and
  `swap_writeout` (mm/page_io.c line 204) sends an all-zero folio to the
  zeromap, else tries `zswap_store` (all pages or none), and on failure
  writes the folio to the swap device if the cgroup allows writeback, else
  keeps it as above.  The agent lets the pool shrink worker finish after each
  call, and so does the model (`SwapSystem.swap_out`).
- `store` of an existing region pages out its resident folios the same way,
  one call per folio in address order.  Kept pages are not resident
  (MADV_PAGEOUT skips PTEs that are not present) and stay as they are.
- `load` reads and `redirty` writes every page in address order.  A swapped
  page faults (mm/memory.c `do_swap_page`, line 4882).  The swap device is a
  RAM disk (brd: SWP_SYNCHRONOUS_IO), so `swapin_sync` reads it into a new
  folio in the swap cache (mm/swap_state.c line 700), order 0 because zswap
  has been enabled (`thp_swapin_suitable_orders`, mm/memory.c line 4818);
  `swap_read_folio` takes it from the zeromap, else from zswap
  (`zswap_load`: ZSWPIN, the entry freed, the folio dirtied; mm/zswap.c
  line 1596), else from the device (mm/page_io.c line 452).  A folio already
  in the swap cache (a kept one, or one the shrink worker wrote back) is
  used as it is, and a kept large folio is mapped whole.  Then, the device
  being synchronous, `should_try_to_free_swap` is true on read and write
  faults alike (mm/memory.c line 4663): `folio_free_swap` frees the slots
  (`swap_range_free` -> `zswap_invalidate`, mm/swapfile.c line 1324) and
  dirties the folio (line 2105).  So a page brought back is resident,
  dirty, without a slot, and a later `store` writes it again -- to zswap if
  it is accepted -- whether it came from zswap, the zeromap or the device.
  `redirty` then writes the step's contents into every page.
- `free` unmaps the region: every slot is freed (`zswap_invalidate`).
- `reclaim` writes `bytes` to memory.reclaim (see `_reclaim` for what is
  modelled and what raises `NotModelled`).
- `mkcg`, `enter`, `cgset`, `param`: the cgroup tree, the workload's
  cgroup, memory.zswap.writeback / memory.zswap.max
  (`page_counter_memparse`: whole pages), and zswap's parameters at run time
  (`compressor` makes or takes back that compressor's pool:
  `zswap_spec.model.pools`).  `wait` and `settle` change nothing.

Every page stays charged to the cgroup it was first faulted in: a swap-in
is charged to the cgroup recorded for its slot (mm/memcontrol.c
`mem_cgroup_swapin_charge_folio`, line 5342), and cgroup v2 never moves
charges.  A folio charged to the root has the root objcg, whose zswap
memory `obj_cgroup_charge_zswap` does not count (the model runs with
`charge_root=False`).

What the model assumes of the guest (kernel/session.py and agent.c set it
up so): nothing but the script's steps reclaims memory (no kswapd, no
direct reclaim: the agent's own memory is mlocked, the regions are small
beside the guest's RAM); the swap device (a 64 MiB RAM disk) has room for
contiguous slots for every folio; every folio of a new region has the size
asked (the runner checks the layout the guest reports); memcg's kmem
accounting is on (/init makes a cgroup), so events count at the root;
zswap was enabled before the script started (large folios are never
swapped in).  Swap slot numbers are the model's own: nothing observable
depends on them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from zswap_spec.model.memcg import MemCgroup, obj_cgroup_may_zswap
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.zswap import Folio, Zswap
from .script import PAGE_SIZE, Corpus, Script, Step, page_bytes

__all__ = ["ScriptModel", "NotModelled", "run_script"]

# Where a page is (`_Region.state`).
RESIDENT, ZERO, ZSWAP, DEVICE, KEPT = "resident", "zero", "zswap", "device", "kept"
SWAPPED = (ZERO, ZSWAP, DEVICE, KEPT)
# The kernel's defaults (mm/zswap.c lines 112 and 116, Linux 7.3.4; the
# guest's kernel is built without CONFIG_ZSWAP_SHRINKER_DEFAULT_ON, and its
# /init writes these values and shrinker_enabled=N anyway).
DEFAULT_MAX_POOL_PERCENT = 20
DEFAULT_ACCEPT_THRESHOLD = 90


class NotModelled(Exception):
    """A step whose outcome the model cannot predict exactly.  Raised before
    the step changes anything: the model is as it was before the step (a
    caller may stop comparing there, or go on without the step)."""

    def __init__(self, step_no: int, op: str, reason: str):
        self.step_no, self.op, self.reason = step_no, op, reason
        where = "start" if step_no == 0 else f"step {step_no} ({op})"
        super().__init__(f"{where}: not modelled: {reason}")


@dataclass
class _Region:
    """A region's pages: contents, where each is, its slot and its folio."""

    name: str
    memcg: MemCgroup
    content: list[bytes]
    state: list[str] = field(default_factory=list)
    slot: list[int | None] = field(default_factory=list)
    # The first page of the folio a resident or kept page belongs to; the
    # folio's size by its first page.
    folio: list[int] = field(default_factory=list)
    fsize: dict[int, int] = field(default_factory=dict)
    # Swapped pages whose folio the shrink worker left in the swap cache
    # (clean, written to the device): reclaim drops them, a fault maps them.
    cached: set[int] = field(default_factory=set)

    @property
    def pages(self) -> int:
        return len(self.content)

    def record(self) -> dict:
        swapped = sum(1 for s in self.state if s in SWAPPED)
        return {"pages": self.pages, "swapped": swapped, "resident": self.pages - swapped}

    def folios(self, states) -> list[int]:
        """First pages of the folios whose pages are in `states`, in address order."""
        return sorted(s for s in self.fsize if self.state[s] in states)


class ScriptModel:
    """The model of one script's run, a step at a time."""

    def __init__(self, *, compressor: str, algorithms: dict, total_ram_pages: int,
                 corpus: Corpus | None, base: Path, variant: str = "mainline",
                 start_cursor: str = "none", check: bool = True):
        """`algorithms`: compressor name -> the model's algorithm object (the
        library's, or the kernel's own from `kernel.kcomp_load`); every
        compressor the script names must be there.  `corpus`: the pages the
        corpus content kinds draw from (None if the script uses none).
        `start_cursor`: where the shrink worker's `zswap_next_shrink` is at
        the start, "none" (NULL) or "root".  `check`: run the model's global
        checks (INV-COUNTERS, INV-NOLEAK) after every step; what they find
        is in `violations`."""
        if start_cursor not in ("none", "root"):
            raise ValueError(f"start_cursor {start_cursor!r}: give 'none' or 'root'")
        self.algorithms = algorithms
        self.corpus = corpus
        self.base = Path(base)
        self.check = check
        self.steps = 0
        alg = self._algorithm(compressor, 0, "start")
        self.zs = Zswap(variant, alg, page_size=PAGE_SIZE, total_ram_pages=total_ram_pages,
                        max_pool_percent=DEFAULT_MAX_POOL_PERCENT,
                        accept_threshold_percent=DEFAULT_ACCEPT_THRESHOLD, charge_root=False)
        if start_cursor == "root":
            self.zs.zswap_next_shrink = self.zs.root
        self.system = SwapSystem(self.zs)
        self.shrinker_enabled = False
        self.cgroups: dict[str, MemCgroup] = {"": self.zs.root}  # by path, "" the root
        self.workload = self.zs.root  # the cgroup new pages are charged to
        self.regions: dict[str, _Region] = {}
        self._slots: dict[int, tuple[_Region, int]] = {}  # slot -> its page
        self._in_zswap: set[int] = set()  # slots of pages in state ZSWAP
        self._next_slot = 0
        self._written_back = 0  # `written_back_pages` when last reconciled

    @property
    def violations(self):
        """What the model's own checks found (a model bug if anything)."""
        return self.system.violations

    # -- records ------------------------------------------------------------

    def record(self) -> dict:
        zs = self.zs
        return {
            "counter": zs.debugfs(),
            "vmstat": dict(zs.vm_events),
            "memcg": {"/" + path: cg.memory_stat(PAGE_SIZE) for path, cg in self.cgroups.items()},
            "regions": {name: r.record() for name, r in self.regions.items()},
            "worker": {"shrink_worker_runs": zs.shrink_worker_runs},
        }

    def start_record(self) -> dict:
        return self.record()

    def step(self, step: Step) -> dict:
        """Run one step; its record.  Raises `NotModelled` for a step whose
        outcome the model cannot predict exactly."""
        self.steps += 1
        self._n, self._op = self.steps, step.op
        run = {"mkcg": self._mkcg, "enter": self._enter, "cgset": self._cgset,
               "param": self._param, "store": self._store, "load": self._load,
               "redirty": self._redirty, "free": self._free, "reclaim": self._reclaim,
               "wait": self._wait, "settle": self._wait}.get(step.op)
        if run is None:
            raise ValueError(f"step {self._n}: unknown op {step.op!r}")
        run(step.args, step)
        if self.check:
            self.system.check_global()
        return self.record()

    def _not_modelled(self, reason: str) -> NotModelled:
        return NotModelled(self._n, self._op, reason)

    def _algorithm(self, name: str, n: int, op: str):
        alg = self.algorithms.get(name)
        if alg is None:
            raise NotModelled(n, op, f"the model has no compressor {name!r} (it has "
                                     f"{', '.join(sorted(self.algorithms))}); use the kernel's "
                                     f"compressors (--compressor-source kernel)")
        return alg

    # -- cgroups and parameters ---------------------------------------------

    def _mkcg(self, a, step) -> None:
        path = a["path"]
        parent = self.cgroups[path.rpartition("/")[0]]
        # Made under its parent, after its siblings (the pre-order walk's order).
        self.cgroups[path] = MemCgroup("/" + path, parent)

    def _enter(self, a, step) -> None:
        self.workload = self.cgroups[a["path"]]

    def _cgset(self, a, step) -> None:
        cg = self.cgroups[a["path"]]
        if a["file"] == "memory.zswap.writeback":
            cg.zswap_writeback = bool(a["value"])
        else:  # bytes, kept as written; obj_cgroup_may_zswap compares whole pages
            cg.zswap_max = None if a["value"] == "max" else a["value"]

    def _param(self, a, step) -> None:
        name, value = a["name"], a["value"]
        zs = self.zs
        if name == "enabled":
            zs.enabled = value
        elif name == "max_pool_percent":
            zs.max_pool_percent = value
        elif name == "accept_threshold_percent":
            zs.accept_threshold_percent = value
        elif name == "shrinker_enabled":
            self.shrinker_enabled = value
        else:
            zs.set_compressor(self._algorithm(value, self._n, self._op))

    def _wait(self, a, step) -> None:
        """`wait` and `settle`: the agent waits for the shrink worker (the
        model's has finished) or for memcg's statistics; nothing changes."""

    # -- regions -------------------------------------------------------------

    def _page(self, step: Step, i: int) -> bytes:
        if self.corpus is None and step.args["content"] not in ("zero", "random",
                                                                "mostly-random"):
            raise ValueError(f"content {step.args['content']} needs a corpus; give ScriptModel "
                             f"one (kernel.script.Corpus.build)")
        return page_bytes(self.corpus, step, i, self.base)

    def _store(self, a, step) -> None:
        name = a["region"]
        region = self.regions.get(name)
        if region is None:
            fp = a["folio_pages"]
            content = [self._page(step, i) for i in range(a["pages"])]
            region = _Region(name, self.workload, content, [RESIDENT] * len(content),
                             [None] * len(content), [i - i % fp for i in range(len(content))],
                             {s: fp for s in range(0, len(content), fp)})
            self.regions[name] = region
        for start in region.folios((RESIDENT,)):
            self._pageout(region, start)

    def _pageout(self, region: _Region, start: int) -> list[str]:
        """One folio through `shrink_folio_list` and `swap_writeout`: slots
        (the folio's own if it is kept in the swap cache), then the zeromap,
        zswap, the device or the swap cache again; the shrink worker, if
        queued, runs to completion (`SwapSystem.swap_out`)."""
        nr = region.fsize[start]
        if region.state[start] == KEPT:
            offset = region.slot[start]
        else:
            offset = -(-self._next_slot // nr) * nr  # a naturally aligned cluster run
            self._next_slot = offset + nr
        pages = tuple(region.content[start:start + nr])
        outcomes = self.system.swap_out(Folio(pages, offset, region.memcg))
        kept = outcomes[0] == "rejected" and offset in self.system.kept
        for k, outcome in enumerate(outcomes):
            i, slot = start + k, offset + k
            region.slot[i] = slot
            self._slots[slot] = (region, i)
            if outcome == "zero":
                region.state[i] = ZERO
            elif outcome == "rejected":
                region.state[i] = KEPT if kept else DEVICE
            else:
                region.state[i] = ZSWAP
                self._in_zswap.add(slot)
        if not kept:
            del region.fsize[start]
        self._reconcile_writeback()
        return outcomes

    def _reconcile_writeback(self) -> None:
        """Pages the shrink worker or a memcg limit wrote back: on the device,
        their folio left in the swap cache (mm/zswap.c
        `zswap_writeback_entry`, line 989)."""
        if self.zs.counters["written_back_pages"] == self._written_back:
            return
        self._written_back = self.zs.counters["written_back_pages"]
        gone = [s for s in self._in_zswap if s not in self.zs.tree]
        for slot in gone:
            self._in_zswap.discard(slot)
            region, i = self._slots[slot]
            region.state[i] = DEVICE
            region.cached.add(i)

    def _fault(self, region: _Region, i: int) -> None:
        """Page `i` faulted in: swapped in, mapped, its slot freed."""
        state = region.state[i]
        if state == RESIDENT:
            return
        if state == KEPT:  # the kept folio is mapped whole
            start = region.folio[i]
            pages = range(start, start + region.fsize[start])
        else:  # an order-0 folio
            pages = range(i, i + 1)
            region.folio[i] = i
            region.fsize[i] = 1
        for j in pages:
            slot = region.slot[j]
            self.system.swap_in(slot)  # checked against what was swapped out
            self.system.swap_free(slot)
            del self._slots[slot]
            self._in_zswap.discard(slot)
            region.cached.discard(j)
            region.state[j] = RESIDENT
            region.slot[j] = None

    def _load(self, a, step) -> None:
        region = self.regions[a["region"]]
        for i in range(region.pages):
            self._fault(region, i)

    def _redirty(self, a, step) -> None:
        region = self.regions[a["region"]]
        new = [self._page(step, i) for i in range(region.pages)]  # all, before any change
        for i in range(region.pages):
            self._fault(region, i)
            region.content[i] = new[i]

    def _free(self, a, step) -> None:
        region = self.regions.pop(a["region"])
        for slot in region.slot:
            if slot is not None:
                self.system.swap_free(slot)  # zswap_invalidate, the zeromap bit, the device
                del self._slots[slot]
                self._in_zswap.discard(slot)

    # -- memory.reclaim -------------------------------------------------------

    def _reclaim(self, a, step) -> None:
        """memory.reclaim of `bytes`: `user_proactive_reclaim` (mm/vmscan.c
        line 7965) asks for `bytes / PAGE_SIZE` pages, retrying until it has
        them or 16 tries in a row reclaim nothing.

        Which folios it takes, and in what order, MGLRU decides (Debian's
        7.3.4 has CONFIG_LRU_GEN_ENABLED) from generations and accessed bits
        the model does not keep.  So the model predicts only a reclaim that
        takes everything: when the cgroup's subtree holds no more pages than
        asked for -- resident folios, kept folios and the clean folios the
        shrink worker left in the swap cache -- every one of them goes.  The
        model assumes that nothing else is charged there (the agent's own
        memory is not) and that eviction reaches every folio within the
        retries (a folio that was accessed is promoted once, then evicted).
        A resident or kept folio is paged out as by MADV_PAGEOUT; a clean
        one is dropped (nothing is counted).  The order assumed: regions in
        the order they were made, folios in address order.  It decides only
        the slots and the order of the new entries on the zswap LRU.

        Raises `NotModelled` when the prediction would depend on more than
        that: the zswap shrinker is enabled (reclaim calls it through
        `shrink_slab`); the subtree holds more pages than asked for (which
        ones go depends on MGLRU); the root (everything on the machine);
        or, during the reclaim, a store meets the global pool limit (the
        shrink worker runs concurrently, at times the model cannot know), a
        cgroup reaches its `memory.zswap.max` (which folios were stored
        before depends on the order), a store at the limit would make
        `shrink_memcg` walk a non-empty zswap LRU (which entries it writes
        back or rotates depends on the order), or a folio is rejected with
        writeback off (it is activated and tried again an unknown number of
        times).  A cgroup at its limit from the start whose own zswap LRU
        is empty is modelled: `shrink_memcg` finds nothing (-ENOENT), so
        every store of it is refused, in any order, and goes to the device.
        """
        # Tried on a copy first, so a step that is not modelled leaves the
        # model as it was (a caller may go on without it).
        trial = copy.deepcopy(self, self._shared())
        trial._reclaim_on(a)
        self.__dict__.update(trial.__dict__)

    def _shared(self) -> dict:
        """`deepcopy` memo: what a copy of the model shares with it (the
        compressors, which may hold C libraries, the corpus, the variant)."""
        keep = [self.algorithms, self.corpus, self.zs.variant, self.zs.base_tree,
                *self.algorithms.values(), *(p.alg for p in self.zs.pools)]
        return {id(x): x for x in keep}

    def _reclaim_on(self, a) -> None:
        if self.shrinker_enabled:
            raise self._not_modelled("shrinker_enabled is Y: reclaim runs zswap's shrinker, "
                                     "whose writeback depends on memory pressure the model does "
                                     "not have")
        if a["path"] == "":
            raise self._not_modelled("reclaim at the root takes every process's memory")
        target = self.cgroups[a["path"]]
        want = a["bytes"] // PAGE_SIZE
        regions = [r for r in self.regions.values() if target in r.memcg.ancestors()]
        have = sum(sum(1 for s in r.state if s in (RESIDENT, KEPT)) + len(r.cached)
                   for r in regions)
        if want < have:
            raise self._not_modelled(f"reclaim of {want} pages from /{a['path']}, which holds "
                                     f"{have}: which folios MGLRU evicts first the model does "
                                     f"not know; ask for at least {have * PAGE_SIZE} bytes")
        zs = self.zs
        may_at_start = {id(r.memcg): obj_cgroup_may_zswap(r.memcg, PAGE_SIZE) for r in regions}
        for region in regions:
            for start in region.folios((RESIDENT, KEPT)):
                self._reclaim_folio(region, start, may_at_start[id(region.memcg)])
            region.cached.clear()  # dropped: clean, on the device already

    def _reclaim_folio(self, region: _Region, start: int, may_at_start: bool) -> None:
        """Page one folio out during reclaim; `NotModelled` if its outcome
        could depend on the order of the reclaim or on when the shrink
        worker runs."""
        zs, memcg = self.zs, region.memcg
        nr = region.fsize[start]
        to_zswap = zs.enabled and any(any(p) for p in region.content[start:start + nr])
        if to_zswap:
            may = obj_cgroup_may_zswap(memcg, PAGE_SIZE)
            if may != may_at_start:
                raise self._not_modelled(
                    f"region {region.name}: memory.zswap.max was reached during the reclaim; "
                    f"which folios were stored before it depends on the order of the reclaim")
            if not may and zs.writeback_enabled(memcg) and memcg.lru:
                raise self._not_modelled(
                    f"region {region.name}: a store at memory.zswap.max writes back from "
                    f"{memcg.name}'s zswap LRU; which entries depends on the order of the "
                    f"reclaim")
        before = (zs.counters["written_back_pages"], zs.counters["pool_limit_hit"],
                  zs.shrink_worker_runs)
        wb = zs.writeback_enabled(memcg)
        outcomes = self._pageout(region, start)
        after = (zs.counters["written_back_pages"], zs.counters["pool_limit_hit"],
                 zs.shrink_worker_runs)
        if to_zswap and (after != before or zs.trace.stage == "pool_limit"):
            raise self._not_modelled(
                f"region {region.name}: a store met the pool limit during the reclaim; the "
                f"shrink worker runs meanwhile, at times the model cannot know")
        if outcomes[0] == "rejected" and not wb:
            raise self._not_modelled(
                f"region {region.name}: a folio was rejected with writeback off during the "
                f"reclaim; it is activated and tried again an unknown number of times")


def run_script(script: Script, corpus: Corpus | None, algorithms: dict, total_ram_pages: int,
               variant: str = "mainline") -> list[dict]:
    """Every record of `script` on the model: record 0 is the start, record n
    follows step n."""
    model = ScriptModel(compressor=script.compressor, algorithms=algorithms,
                        total_ram_pages=total_ram_pages, corpus=corpus, base=script.base,
                        variant=variant, start_cursor=script.start_cursor)
    out = [model.start_record()]
    for step in script.steps:
        out.append(model.step(step))
    return out

"""The model's prediction of a kernel run, and the comparison with what the
kernel printed.

The prediction replays the guest's program step by step: every page is an
order-0 folio (transparent huge pages are off), each group is paged out in
address order, the counters are read after each group, then every page is
read back in order.  Counters are compared stage by stage, name by name, in
the units the kernel prints; integrity is compared per group.  Every
difference is a disagreement, reported with the group of pages that shows it.

The pool shrink worker: the guest lets every queued run of the kernel's
worker finish after each MADV_PAGEOUT call (one folio per call in a
pool-limit run), and the model runs its queued worker right after each
swap-out (`Zswap.run_queued_work`, which `SwapSystem.swap_out` calls; the
prediction calls it again at the same point, a no-op when nothing is
pending).  The number of finished runs is compared too (`worker
shrink_worker_runs`).  The model's pool limit is computed from the guest's
own totalram_pages() and the same `max_pool_percent` and
`accept_threshold_percent`.
"""

from __future__ import annotations

from dataclasses import dataclass

from zswap_spec.model.memcg import MemCgroup
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.zswap import Folio, Zswap
from .logparse import GuestLog, Stage
from .streams import Stream

__all__ = ["predict", "compare", "Disagreement", "COMPARED", "Prediction"]

# What is compared: every debugfs file, the memcg lines, the vmstat events.
COMPARED = {
    "counter": ("pool_limit_hit", "reject_reclaim_fail", "reject_alloc_fail",
                "reject_kmemcache_fail", "reject_compress_fail", "reject_compress_poor",
                "decompress_fail", "written_back_pages", "pool_total_size", "stored_pages",
                "stored_incompressible_pages"),
    "memcg": ("zswap", "zswapped", "zswap_incomp", "zswpin", "zswpout", "zswpwb"),
    "vmstat": ("zswpin", "zswpout", "zswpwb"),
    "worker": ("shrink_worker_runs",),
}
# The kernel's defaults for the module parameters (mm/zswap.c, Linux 7.3).
DEFAULT_MAX_POOL_PERCENT = 20
DEFAULT_ACCEPT_THRESHOLD = 90
# Counters that depend on compressed sizes, not only on decisions: they can
# match only when the model compresses with the kernel's own code.
SIZE_DEPENDENT = {("counter", "pool_total_size"), ("memcg", "zswap")}


@dataclass
class Prediction:
    stages: dict[str, Stage]
    integrity_violations: list[int]  # page indexes the model says read back wrong
    outcomes: list[str]  # per page


@dataclass(frozen=True)
class Disagreement:
    stage: str
    source: str  # counter | memcg | vmstat | integrity | group
    name: str
    kernel: object
    model: object
    pages: str  # the pages the stage concerns

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _snapshot(zs: Zswap, memcg: MemCgroup, worker_runs: int) -> Stage:
    return Stage(
        counters=zs.debugfs(),
        memcg=memcg.memory_stat(zs.page_size),
        vmstat=dict(zs.vm_events),
        worker={"shrink_worker_runs": worker_runs},
        totalram_pages=zs.total_ram_pages,
    )


def predict(stream: Stream, alg, *, variant: str = "mainline", writeback: bool = True,
            zswap_max: int | None = None, page_size: int = 4096,
            total_ram_pages: int = 1 << 18,
            max_pool_percent: int | None = None,
            accept_threshold: int | None = None) -> Prediction:
    """What the model says the guest's program will print, stage by stage.

    `total_ram_pages` is the guest kernel's totalram_pages(); the pool
    parameters default to the kernel's (None)."""
    zs = Zswap(variant, alg, page_size=page_size, total_ram_pages=total_ram_pages,
               max_pool_percent=DEFAULT_MAX_POOL_PERCENT if max_pool_percent is None
               else max_pool_percent,
               accept_threshold_percent=DEFAULT_ACCEPT_THRESHOLD if accept_threshold is None
               else accept_threshold)
    memcg = MemCgroup("/zswap-spec", zs.root, zswap_writeback=writeback, zswap_max=zswap_max)
    system = SwapSystem(zs)
    stages = {"setup": _snapshot(zs, memcg, zs.shrink_worker_runs)}
    outcomes: list[str] = [""] * len(stream.pages)
    for name, first, count in stream.groups:
        for i in range(first, first + count):
            # swap_out runs queued work before it returns: where the guest
            # waits for the kernel's worker.
            outcomes[i] = system.swap_out(Folio((stream.pages[i],), i, memcg))[0]
        stages[f"after-{name}"] = _snapshot(zs, memcg, zs.shrink_worker_runs)
    for i in range(len(stream.pages)):
        system.swap_in(i)
    stages["after-readback"] = _snapshot(zs, memcg, zs.shrink_worker_runs)
    lost = sorted({v.offset for v in system.violations if v.invariant == "INV-ROUNDTRIP"})
    return Prediction(stages, lost, outcomes)


def _pages_of(stage: str, stream: Stream) -> str:
    for name, first, count in stream.groups:
        if stage == f"after-{name}":
            return f"{name}: pages {first}-{first + count - 1}"
    return "all pages" if stage == "after-readback" else "none yet"


def compare(log: GuestLog, prediction: Prediction, stream: Stream,
            exact_sizes: bool = True) -> tuple[list[Disagreement], list[str]]:
    """(disagreements, names left out of the comparison and why)."""
    out: list[Disagreement] = []
    skipped: list[str] = []
    for stage, model in prediction.stages.items():
        kernel = log.stages.get(stage)
        pages = _pages_of(stage, stream)
        if kernel is None:
            out.append(Disagreement(stage, "stage", "missing", "absent", "present", pages))
            continue
        for source, names in COMPARED.items():
            k_values = {"counter": kernel.counters, "memcg": kernel.memcg, "vmstat": kernel.vmstat,
                        "worker": kernel.worker}[source]
            m_values = {"counter": model.counters, "memcg": model.memcg, "vmstat": model.vmstat,
                        "worker": model.worker}[source]
            for name in names:
                if (source, name) in SIZE_DEPENDENT and not exact_sizes:
                    note = f"{source} {name}: not compared (the model's compressor is not the kernel's)"
                    if note not in skipped:
                        skipped.append(note)
                    continue
                if name not in k_values:
                    note = (f"{source} {name}: not in the log (the guest could not trace the "
                            f"shrink worker, or its probe predates that)" if source == "worker"
                            else f"{source} {name}: this kernel does not report it")
                    if note not in skipped:
                        skipped.append(note)
                    continue
                if k_values[name] != m_values.get(name):
                    out.append(Disagreement(stage, source, name, k_values[name], m_values.get(name), pages))
    for name, first, count in stream.groups:
        k_bad = sorted(i for i in log.bad_pages if first <= i < first + count)
        m_bad = [i for i in prediction.integrity_violations if first <= i < first + count]
        if name not in log.verify:
            out.append(Disagreement("after-readback", "integrity", name, "not verified", m_bad,
                                    f"{name}: pages {first}-{first + count - 1}"))
        elif k_bad != m_bad or log.verify[name]["bad"] != len(m_bad):
            out.append(Disagreement("after-readback", "integrity", name, k_bad, m_bad,
                                    f"{name}: pages {first}-{first + count - 1}"))
        swapped = log.groups.get(name, {}).get("swapped")
        if swapped is not None and swapped != count:
            out.append(Disagreement(f"after-{name}", "group", "swapped", swapped, count,
                                    f"{name}: pages {first}-{first + count - 1}"))
    return out, skipped

"""Replay: push a stream of pages through a variant and read every page back.

One run = one variant x compressor x writeback setting.  Pages are grouped
into folios of `folio_pages`, swapped out in order at consecutive swap
slots, then swapped in one by one; the spec's invariants are checked after
every store and every read, and over the whole pool after the swap-out and
after the swap-in.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from .model.memcg import MemCgroup
from .model.swap import SwapSystem
from .model.zswap import Folio, Zswap

__all__ = ["RunConfig", "RunResult", "replay_pages", "OUTCOME_CODES"]

OUTCOME_CODES = {"zero": "0", "compressed": "c", "raw": "r", "rejected": "x"}


@dataclass(frozen=True)
class RunConfig:
    variant: str
    compressor: str
    writeback: bool = True
    folio_pages: int = 1
    page_size: int = 4096
    max_batch_size: int | None = None  # None: the variant's own batch size
    total_ram_pages: int = 1 << 22


@dataclass
class RunResult:
    config: RunConfig
    pages: int
    outcomes: str  # one code per page, OUTCOME_CODES
    counters: dict[str, int]  # debugfs after the swap-out
    counters_after_load: dict[str, int]
    memory_stat: dict[str, int]  # the replay cgroup's, after the swap-out
    vm_events: dict[str, int]
    pool_bytes: int
    violations: list = field(default_factory=list)
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return self.outcomes.count(OUTCOME_CODES[outcome])

    @property
    def integrity_violations(self) -> int:
        return len({v.offset for v in self.violations if v.invariant == "INV-ROUNDTRIP"})

    def violation_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(v.invariant for v in self.violations).items()))

    def to_json(self, mainline: "RunResult | None" = None, examples: int = 5) -> dict:
        c = self.config
        out = {
            "variant": c.variant,
            "compressor": c.compressor,
            "writeback": c.writeback,
            "page_size": c.page_size,
            "folio_pages": c.folio_pages,
            "pages": self.pages,
            "zero_filled": self.count("zero"),
            "stored_compressed": self.count("compressed"),
            "stored_raw": self.count("raw"),
            "rejected": self.count("rejected"),
            "integrity_violations": self.integrity_violations,
            "violations": self.violation_counts(),
            "violation_examples": [v.to_json() for v in self.violations[:examples]],
            "counters": self.counters,
            "counters_after_load": self.counters_after_load,
            "memory_stat": self.memory_stat,
            "vm_events": self.vm_events,
            "pool_bytes": self.pool_bytes,
            "seconds": round(self.seconds, 4),
        }
        if mainline is not None and mainline is not self:
            out["differs_from_mainline"] = sum(
                a != b for a, b in zip(self.outcomes, mainline.outcomes))
        return out


def replay_pages(pages, config: RunConfig, progress=None, impl: str | None = "model") -> RunResult:
    """Swap `pages` out through one configuration, then back in; check all the way.

    `impl` picks the implementation: "model" (default), "core", or None for
    the environment's choice (`zswap_spec.core.resolve_impl`)."""
    if impl != "model":
        from .core import resolve_impl

        if resolve_impl(impl) == "core":
            from .replay_core import replay_pages_core

            return replay_pages_core(pages, config, progress)
    start = time.perf_counter()
    zs = Zswap(config.variant, config.compressor, page_size=config.page_size,
               total_ram_pages=config.total_ram_pages, max_batch_size=config.max_batch_size)
    memcg = MemCgroup("/replay", zs.root, zswap_writeback=config.writeback)
    system = SwapSystem(zs)
    codes = []
    n = len(pages)
    step = config.folio_pages
    for first in range(0, n, step):
        folio = Folio(tuple(pages[first:first + step]), first, memcg)
        codes.extend(OUTCOME_CODES[o] for o in system.swap_out(folio))
        if progress is not None:
            progress(folio.nr_pages)
    system.check_global()
    counters = zs.debugfs()
    memory_stat = memcg.memory_stat(zs.page_size)
    pool_bytes = zs.zpool.total_bytes
    for offset in range(n):
        system.swap_in(offset)
        if progress is not None:
            progress(1)
    system.check_global()
    return RunResult(
        config=config,
        pages=n,
        outcomes="".join(codes),
        counters=counters,
        counters_after_load=zs.debugfs(),
        memory_stat=memory_stat,
        vm_events=dict(zs.vm_events),
        pool_bytes=pool_bytes,
        violations=system.violations,
        seconds=time.perf_counter() - start,
    )

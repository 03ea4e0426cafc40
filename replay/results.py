"""What one replay run is and what it gives: the configuration (variant x
compressor x writeback setting x folio and page size) and the result, the
same from the model and the optimized core.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


__all__ = ["RunConfig", "RunResult", "OUTCOME_CODES", "Violations", "KEPT_VIOLATIONS"]

OUTCOME_CODES = {"zero": "0", "compressed": "c", "raw": "r", "rejected": "x"}
# A run keeps this many of its broken invariants and counts the rest: a dump of millions
# of pages through a broken variant can break one on every page.
KEPT_VIOLATIONS = 10_000


class Violations(list):
    """A run's broken invariants as they are found: every one counted by invariant,
    the first KEPT_VIOLATIONS kept (`dropped`: how many were not)."""

    def __init__(self, kept: int = KEPT_VIOLATIONS):
        super().__init__()
        self.kept = kept
        self.counts: Counter = Counter()
        self.dropped = 0

    def append(self, v) -> None:
        self.counts[v.invariant] += 1
        if len(self) < self.kept:
            super().append(v)
        else:
            self.dropped += 1

    def extend(self, found) -> None:
        for v in found:
            self.append(v)

    def __iadd__(self, found):
        self.extend(found)
        return self

    def __reduce__(self):  # a cluster's worker sends a run's result back pickled
        return _violations, (list(self), dict(self.counts), self.dropped, self.kept)


def _violations(kept_list, counts, dropped, kept) -> Violations:
    out = Violations(kept)
    list.extend(out, kept_list)
    out.counts.update(counts)
    out.dropped = dropped
    return out


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
    outcomes: str  # one code per page, OUTCOME_CODES ("" for a stream: see outcome_counts)
    counters: dict[str, int]  # debugfs after the swap-out
    counters_after_load: dict[str, int]
    memory_stat: dict[str, int]  # the replay cgroup's, after the swap-out
    vm_events: dict[str, int]
    pool_bytes: int
    violations: list = field(default_factory=list)
    seconds: float = 0.0
    # A stream's run keeps no code per page: how many pages had each code, and
    # how many differ from the mainline run's (counted window by window).
    outcome_counts: dict[str, int] | None = None
    differs: int | None = None
    stopped: str | None = None  # an interrupted run: what it covers
    sizes_only: bool = False  # sizes and counts only: nothing read back
    input: str | None = None  # replay --each-file: the file this run replayed

    def named(self, name: str | None) -> "RunResult":
        """This result with its input's name (None: the inputs were one)."""
        self.input = name
        return self

    def count(self, outcome: str) -> int:
        if self.outcome_counts is not None:
            return self.outcome_counts.get(OUTCOME_CODES[outcome], 0)
        return self.outcomes.count(OUTCOME_CODES[outcome])

    @property
    def integrity_violations(self) -> int:
        """Pages not read back intact (each page is read back once: one INV-ROUNDTRIP each)."""
        if getattr(self.violations, "dropped", 0):
            return self.violations.counts["INV-ROUNDTRIP"]
        return len({v.offset for v in self.violations if v.invariant == "INV-ROUNDTRIP"})

    def violation_counts(self) -> dict[str, int]:
        counts = getattr(self.violations, "counts", None)
        if counts is None:
            counts = Counter(v.invariant for v in self.violations)
        return dict(sorted((k, n) for k, n in counts.items() if n))

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
            out["differs_from_mainline"] = self.differs if self.differs is not None else sum(
                map(str.__ne__, self.outcomes, mainline.outcomes))
        if self.stopped:
            out["stopped"] = self.stopped
        if self.sizes_only:
            out["sizes_only"] = True
        if self.input is not None:
            out["input"] = self.input
        return out

"""The clauses of the acomp batch contract a driver is checked against, each
under a stable ID (spec/zswap-spec.md §11), and the finding that names one.

C-ENCODING, C-RET, C-ROUNDTRIP and C-INDEPENDENT mean what they mean in the
contract state machine (`zswap_spec.fuzz.contract`); the others exist only
where a driver runs as machine code: its memory accesses, its source, a
crash or a hang.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zswap_spec.model.cint import s32
from zswap_spec.spec import TABLES

__all__ = ["CLAUSES", "Findings", "Violation", "MAX_ERRNO", "UNWRITTEN", "unit_value", "is_errno", "plural"]

# What the kit leaves in every unit's `length` before a call: its `int`
# reading is neither a length nor an errno, so an entry the driver never
# wrote breaks C-ENCODING.
from .abi import MAX_ERRNO, UNWRITTEN  # noqa: E402

# The clauses a driver is checked against: the rows of the clause table in
# spec/zswap-spec.md §11 checked by "kit", in order.
CLAUSES: dict[str, str] = {row["id"]: row["statement"] for row in TABLES["clause"]
                           if "kit" in row["checked_by"]}


def plural(n: int, word: str) -> str:
    """'1 byte', '2 bytes'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def unit_value(length: int) -> int:
    """A unit's `length` field read as the C `int` it encodes."""
    return s32(length)


def is_errno(value: int) -> bool:
    """Is this `int` reading a negative errno of the contract's range?"""
    return -MAX_ERRNO <= value <= -1


class Findings(dict):
    """Findings by clause: the first kept for a clause has its history settled at
    once, while the calls it needs are still in the driver's call log."""

    def setdefault(self, clause, v):
        if clause not in self:
            v.settle_history()
            self[clause] = v
        return self[clause]


@dataclass
class Violation:
    """One broken clause, with the smallest batch found that breaks it."""

    clause: str
    description: str
    case: dict = field(default_factory=dict)  # the batch: pages, capacities, layout
    expected: str = ""
    actual: str = ""
    reproducer: str | None = None  # folder of the saved reproducer
    found_by: str = "vectors"  # the stage: "vectors", "self-test", "sequence" or "search"
    # The calls the driver's process answered before the case, from its start
    # (`history.Call`s), and for a finding that compares two answers to one batch
    # across calls, the index in `history` of the first answer.
    history: list = field(default_factory=list)
    baseline: int | None = None
    reproduces: str = "not re-run"  # "alone", "after its history", "no" or "not re-run"
    page_size: int | None = None
    # Until `history` is filled in (`settle_history`): the log and the mark the
    # history ends at, the mark of the baseline call, and calls to add after it.
    history_ref: tuple | None = field(default=None, repr=False, compare=False)
    baseline_mark: int | None = field(default=None, repr=False, compare=False)
    history_tail: list = field(default_factory=list, repr=False, compare=False)
    baseline_in_tail: int | None = field(default=None, repr=False, compare=False)
    history_complete: bool = True

    def settle_history(self) -> None:
        """Turn the log reference into the list of calls (once, for a kept finding)."""
        if self.history_ref is None:
            head: list = []
        else:
            log, end = self.history_ref
            head = log.between(0, end)
            self.history_complete = log.complete_since(0)
            if self.baseline_mark is not None:
                index = log.index_of(self.baseline_mark)
                self.baseline = index
                if index is None:
                    self.history_complete = False
        self.history = head + list(self.history_tail)
        if self.baseline_in_tail is not None:
            self.baseline = len(head) + self.baseline_in_tail
        elif self.history_ref is None and self.baseline_mark is not None:
            self.baseline = 0
        self.history_ref = None
        self.baseline_mark = self.baseline_in_tail = None
        self.history_tail = []

    def __post_init__(self):
        if self.clause not in CLAUSES:
            raise ValueError(f"unknown clause {self.clause!r}; the clauses are {', '.join(CLAUSES)}")

    def to_json(self) -> dict:
        return {
            "clause": self.clause,
            "description": self.description,
            "expected": self.expected,
            "actual": self.actual,
            "found_by": self.found_by,
            "page_size": self.page_size,
            "history_calls": sum(c.repeat for c in self.history),
            "reproduces": self.reproduces,
            "reproducer": self.reproducer,
        }

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

__all__ = ["CLAUSES", "Violation", "MAX_ERRNO", "UNWRITTEN", "unit_value", "is_errno", "plural"]

# The kernel's MAX_ERRNO: an error pointer or errno is in -4095..-1.
MAX_ERRNO = 4095
# What the kit leaves in every unit's `length` before a call: its `int`
# reading is neither a length nor an errno, so an entry the driver never
# wrote breaks C-ENCODING.
UNWRITTEN = 0xA5A5A5A5

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


@dataclass
class Violation:
    """One broken clause, with the smallest batch found that breaks it."""

    clause: str
    description: str
    case: dict = field(default_factory=dict)  # the batch: pages, capacities, layout
    expected: str = ""
    actual: str = ""
    reproducer: str | None = None  # folder of the saved reproducer
    found_by: str = "vectors"  # "vectors" (the fixed inputs) or "search" (Hypothesis)

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
            "reproducer": self.reproducer,
        }

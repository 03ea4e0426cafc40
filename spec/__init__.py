"""The spec: spec/zswap-spec.md (the reviewers' document) and its
machine-readable tables, spec/tables.toml, which the model and the tests read.

`INVARIANTS` maps each stable invariant ID to its statement; `value()` turns
the tables' symbolic values (P, L, P+1, -EINVAL, 0x80000000) into numbers for
a given page size.
"""

from __future__ import annotations

import tomllib
from importlib import resources

from zswap_spec.model import cint

__all__ = ["TABLES", "INVARIANTS", "EQUIVALENCES", "ASSUMPTION_SETS", "SPEC_TEXT", "value",
           "VALID_LENGTH"]

TABLES = tomllib.loads(resources.files(__name__).joinpath("tables.toml").read_text())
INVARIANTS: dict[str, str] = {row["id"]: row["statement"] for row in TABLES["invariant"]}
EQUIVALENCES: dict[str, str] = {row["id"]: row["statement"] for row in TABLES["equivalence"]}
ASSUMPTION_SETS: dict[str, str] = {row["name"]: row["statement"] for row in TABLES["assumption"]}
SPEC_TEXT = resources.files(__name__).joinpath("zswap-spec.md").read_text()

VALID_LENGTH = 100  # "L" in the tables: any length in (0, P)


def value(symbol: str, page_size: int) -> int:
    """A table symbol as the number it stands for (errnos negative)."""
    s = symbol.strip()
    if s == "P":
        return page_size
    if s == "P+1":
        return page_size + 1
    if s == "L":
        return VALID_LENGTH
    if s.startswith("-E"):
        return -getattr(cint, s[1:])
    return int(s, 0)

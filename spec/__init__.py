"""The spec: spec/zswap-spec.md, the reviewers' document, and its tables, which
the model and the tests read from the document itself (spec/tables.py parses
every table that follows a `<!-- table: NAME -->` marker; a malformed one is
a `TableError` naming the table, the row and the fix).

`TABLES` maps each table's key (`invariant`, `equivalence`, `assumption`,
`tree`, `variant`, `mainline`, `software`, `batching`, `fault`, `clause`, `driver`)
to its rows as dicts; `INVARIANTS` maps each stable invariant ID to its
statement; `value()` turns the tables' symbolic values (P, L, P+1, -EINVAL,
0x80000000) into numbers for a given page size.
"""

from __future__ import annotations

from importlib import resources

from .tables import VALID_LENGTH, TableError, parse, value

__all__ = ["TABLES", "INVARIANTS", "EQUIVALENCES", "ASSUMPTION_SETS", "SPEC_TEXT", "value",
           "VALID_LENGTH", "TableError", "parse"]

SPEC_TEXT = resources.files(__name__).joinpath("zswap-spec.md").read_text()
TABLES: dict[str, list[dict]] = parse(SPEC_TEXT, "spec/zswap-spec.md")
INVARIANTS: dict[str, str] = {row["id"]: row["statement"] for row in TABLES["invariant"]}
EQUIVALENCES: dict[str, str] = {row["id"]: row["statement"] for row in TABLES["equivalence"]}
ASSUMPTION_SETS: dict[str, str] = {row["name"]: row["statement"] for row in TABLES["assumption"]}

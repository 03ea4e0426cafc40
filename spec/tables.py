"""The tables of spec/zswap-spec.md, read from the document itself.

A table the code reads follows a marker line ``<!-- table: NAME -->`` (blank
lines may separate them) and is a plain Markdown table: a header row, a rule
row, then one row per item; a literal ``|`` inside a cell is written ``\\|``.
`TABLE_SPECS` declares each marked table: its header cells, the key of each
column in a row, and what a cell may hold.  `parse()` turns the document into
`{key: [row, ...]}` (the shape `zswap_spec.spec.TABLES` has always had) and
raises `TableError` for anything it cannot read, naming the table, the row
and the fix.

Cells are checked, not only split: IDs must be unique and well formed,
symbolic values must be ones `value()` knows, outcome cells must use the
outcome words §6 defines, the decision tables must have one column per
variant of the `variants` table, in its order, and each variant's base tree
must be a tree of the `trees` table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from zswap_spec.model import cint

__all__ = ["TableError", "Column", "TableSpec", "TABLE_SPECS", "parse", "value", "VALID_LENGTH",
           "REJECT_WORDS", "PAGE_WORDS", "WORKER_WITHOUT_MEMCG"]

VALID_LENGTH = 100  # "L" in the tables: any length in (0, P)

# Outcome words (§6): a stored folio names each page's way of storing, joined
# by "+"; a rejected one names the reject counter that moved ("none": none did),
# with " xN" when it moved by N.
PAGE_WORDS = ("compressed", "raw", "corrupt")
REJECT_WORDS = ("compress_fail", "compress_poor", "alloc_fail", "kmemcache_fail", "none")

_MARKER = re.compile(r"^<!--\s*table:\s*(?P<name>\S+)\s*-->\s*$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_RULE_CELL = re.compile(r"^:?-{3,}:?$")


class TableError(ValueError):
    """A table of the spec that cannot be read: where, what, and the fix."""


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


class _BadCell(Exception):
    def __init__(self, problem: str, fix: str):
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


# --- what a cell may hold ----------------------------------------------------

def _text(cell: str):
    if not cell:
        raise _BadCell("the cell is empty", "write its text")
    return cell


def _symbol(cell: str):
    if cell in ("P", "P+1", "L"):
        ok = True
    elif cell.startswith("-E"):
        ok = cell[1:] in cint.ERRNO_NAMES.values()
    else:
        try:
            int(cell, 0)
            ok = True
        except ValueError:
            ok = False
    if not ok:
        raise _BadCell(f"{cell!r} is not a symbolic value",
                       "write P, P+1, L, a negative errno such as -EINVAL (one of "
                       f"{', '.join('-' + n for n in cint.ERRNO_NAMES.values())}) or an integer "
                       "such as 0 or 0x80000000")
    return cell


def _outcome(pages: int) -> Callable[[str], str]:
    stored = r"\+".join(["(?:" + "|".join(PAGE_WORDS) + ")"] * pages)
    pattern = re.compile(rf"^(?:{stored}|reject (?:{'|'.join(REJECT_WORDS)})(?: x[2-9][0-9]*)?)$")
    example = "+".join(["compressed"] * pages)

    def check(word: str) -> str:
        if not pattern.match(word):
            raise _BadCell(
                f"{word!r} is not an outcome of a folio of {pages} page{'s' if pages > 1 else ''}",
                f"write {' or '.join(PAGE_WORDS)} per page"
                f"{', joined by +' if pages > 1 else ''} (e.g. {example}), or 'reject COUNTER' "
                f"with COUNTER one of {', '.join(REJECT_WORDS)} and ' xN' when it moved by N")
        return word
    return check


def _outcome_pair(pages: int) -> Callable[[str], list[str]]:
    one = _outcome(pages)

    def check(cell: str) -> list[str]:
        parts = cell.split(" / ")
        if len(parts) != 2:
            raise _BadCell(f"{cell!r} is not a pair of outcomes",
                           "write 'WRITEBACK-ON / WRITEBACK-OFF', the two separated by ' / '")
        return [one(p.strip()) for p in parts]
    return check


def _words(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(cell: str) -> str:
        parts = [p.strip() for p in cell.split(",")]
        if not cell or any(p not in allowed for p in parts) or len(set(parts)) != len(parts):
            raise _BadCell(f"{cell!r} is not a list of {' / '.join(allowed)}",
                           f"write one or more of {', '.join(allowed)}, separated by ', '")
        return cell
    return check


def _one_of(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(cell: str) -> str:
        if cell not in allowed:
            raise _BadCell(f"{cell!r} is not allowed here", f"write one of {', '.join(allowed)}")
        return cell
    return check


def _count(cell: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]*", cell):
        raise _BadCell(f"{cell!r} is not a count", "write a positive whole number such as 32")
    return int(cell)


# How a tree's pool shrink worker treats the NULL cursor with memcg disabled.
WORKER_WITHOUT_MEMCG = ("shrinks the global LRU", "counts a failure")

_CLAUSE_ID = r"C-[A-Z]+(?:-[A-Z]+)?"
_FINDS = re.compile(rf"^(?P<clause>{_CLAUSE_ID})(?: \((?P<also>{_CLAUSE_ID}(?:, {_CLAUSE_ID})*)\))?$")


def _finds(cell: str) -> dict:
    """`nothing`, or the clause the kit must find and, in parentheses, those it may."""
    if cell == "nothing":
        return {"clause": "", "also": []}
    m = _FINDS.match(cell)
    if not m:
        raise _BadCell(f"{cell!r} is neither 'nothing' nor a clause",
                       "write 'nothing' or a clause ID such as C-LENGTH, optionally followed by "
                       "the clauses it may also break in parentheses: C-ROUNDTRIP (C-FORMAT)")
    also = m.group("also")
    return {"clause": m.group("clause"), "also": also.split(", ") if also else []}


# --- the tables ---------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    header: str  # the header cell as the document writes it
    key: str  # the key in a row ("" for a cell that yields several keys)
    read: Callable[[str], object] = _text


@dataclass(frozen=True)
class TableSpec:
    marker: str  # NAME in <!-- table: NAME -->
    key: str  # the key of its rows in TABLES
    columns: tuple[Column, ...]
    id_pattern: str  # what the first column, the row's ID, looks like
    id_example: str
    per_variant: Callable[[str], object] | None = None  # one more column per variant


_PAIR1, _PAIR2 = _outcome_pair(1), _outcome_pair(2)

TABLE_SPECS: dict[str, TableSpec] = {s.marker: s for s in (
    # Read before the variants, whose base trees must be its rows.
    TableSpec("trees", "tree",
              (Column("name", "name"), Column("source", "source"),
               Column("shrink_memcg walk", "shrink_memcg_walk", _count),
               Column("shrink worker, memcg disabled", "worker_without_memcg",
                      _one_of(WORKER_WITHOUT_MEMCG))),
              r"[a-z][a-z0-9.-]*", "linux-7.3"),
    # Read first of the rest: the decision tables take their variant columns from it.
    TableSpec("variants", "variant",
              (Column("name", "name"), Column("crypto layer", "crypto_layer"),
               Column("base tree", "base_tree"), Column("source", "source")),
              r"[a-z][a-z0-9]*", "v13"),
    TableSpec("mainline", "mainline",
              (Column("ID", "id"), Column("condition", "condition"),
               Column("writeback on", "writeback_on", _outcome(1)),
               Column("writeback off", "writeback_off", _outcome(1))),
              r"M[0-9]+", "M6"),
    TableSpec("invariants", "invariant", (Column("ID", "id"), Column("statement", "statement")),
              r"INV-[A-Z]+", "INV-NAME"),
    TableSpec("equivalences", "equivalence", (Column("ID", "id"), Column("statement", "statement")),
              r"EQV-[A-Z]+", "EQV-NAME"),
    TableSpec("software", "software",
              (Column("ID", "id"), Column("ret", "ret", _symbol), Column("dlen", "dlen", _symbol)),
              r"S[0-9]+", "S11", per_variant=_PAIR1),
    TableSpec("batching", "batching",
              (Column("ID", "id"), Column("ret", "ret", _symbol), Column("entry0", "entry0", _symbol),
               Column("entry1", "entry1", _symbol)),
              r"B[0-9]+", "B9", per_variant=_PAIR2),
    TableSpec("assumptions", "assumption", (Column("name", "name"), Column("statement", "statement")),
              r"[a-z][a-z0-9-]*", "kernel-sw"),
    TableSpec("faults", "fault",
              (Column("name", "name"), Column("what the compressor does", "description"),
               Column("compressors", "compressors", _one_of(("any", "batching")))),
              r"[a-z][a-z0-9-]*", "zero-length"),
    TableSpec("clauses", "clause",
              (Column("ID", "id"), Column("clause", "statement"),
               Column("checked by", "checked_by", _words(("kit", "machine")))),
              _CLAUSE_ID, "C-NAME"),
    TableSpec("drivers", "driver",
              (Column("name", "name"), Column("what it does", "description"),
               Column("the kit must find", "", _finds)),
              r"[a-z][a-z0-9-]*", "bug-name"),
)}


@dataclass
class _Raw:
    name: str
    marker_line: int
    header: list[str]
    header_line: int
    rows: list[tuple[int, list[str]]]


def _cells(line: str) -> list[str] | None:
    s = line.strip()
    if not (s.startswith("|") and s.endswith("|") and len(s) > 1):
        return None
    return [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(s)[1:-1]]


def _raw_tables(text: str, source: str) -> dict[str, _Raw]:
    lines = text.splitlines()
    found: dict[str, _Raw] = {}
    for i, line in enumerate(lines):
        m = _MARKER.match(line.strip())
        if not m:
            if line.strip().startswith("<!-- table:"):
                raise TableError(f"{source} line {i + 1}: {line.strip()!r} is not a table marker; "
                                 f"fix: write it as <!-- table: NAME --> on a line of its own")
            continue
        name = m.group("name")
        where = f"{source} line {i + 1}: table {name!r}"
        if name not in TABLE_SPECS:
            raise TableError(f"{where}: no such table; fix: use one of "
                             f"{', '.join(TABLE_SPECS)}, or declare the table in spec/tables.py")
        if name in found:
            raise TableError(f"{where}: marked twice (first at line {found[name].marker_line}); "
                             f"fix: remove one of the markers")
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        header = _cells(lines[j]) if j < len(lines) else None
        rule = _cells(lines[j + 1]) if j + 1 < len(lines) else None
        if header is None or rule is None:
            raise TableError(f"{where}: the marker is not followed by a Markdown table; fix: put "
                             f"the table (header row, rule row |---|, rows) right after the marker")
        if len(rule) != len(header) or not all(_RULE_CELL.match(c) for c in rule):
            raise TableError(f"{source} line {j + 2}: table {name!r}, rule row: it must be "
                             f"|---| once per header cell ({len(header)}); fix: write "
                             f"{'|---' * len(header)}|")
        rows = []
        k = j + 2
        while k < len(lines) and lines[k].strip().startswith("|"):
            cells = _cells(lines[k])
            if cells is None:
                raise TableError(f"{source} line {k + 1}: table {name!r}, row {k - j - 1}: the row "
                                 f"does not end with '|'; fix: end it with '|' (write a literal | "
                                 f"in a cell as \\|)")
            rows.append((k + 1, cells))
            k += 1
        found[name] = _Raw(name, i + 1, header, j + 1, rows)
    return found


def parse(text: str, source: str = "spec/zswap-spec.md") -> dict[str, list[dict]]:
    """Every marked table of the document, rows as dicts (see TABLE_SPECS)."""
    raw = _raw_tables(text, source)
    out: dict[str, list[dict]] = {}
    variant_names: list[str] = []
    tree_names: list[str] = []
    for spec in TABLE_SPECS.values():
        t = raw.get(spec.marker)
        if t is None:
            raise TableError(f"{source}: table {spec.marker!r} is missing; fix: put the line "
                             f"<!-- table: {spec.marker} --> right before it")
        columns = list(spec.columns)
        if spec.per_variant is not None:
            columns += [Column(v, v, spec.per_variant) for v in variant_names]
        want = [c.header for c in columns]
        if t.header != want:
            raise TableError(f"{source} line {t.header_line}: table {spec.marker!r}, header row: "
                             f"the columns are {t.header}; fix: make them {want}"
                             + (" (one per variant of the table 'variants', in its order)"
                                if spec.per_variant is not None else ""))
        if not t.rows:
            raise TableError(f"{source} line {t.header_line}: table {spec.marker!r} has no rows; "
                             f"fix: add its rows below the rule row")
        rows, seen = [], {}
        for line, cells in t.rows:
            row_id = cells[0] if cells and cells[0] else f"at line {line}"
            where = f"{source} line {line}: table {spec.marker!r}, row {row_id}"
            if len(cells) != len(columns):
                raise TableError(f"{where}: {len(cells)} cells, the header has {len(columns)}; "
                                 f"fix: give it one cell per column ({', '.join(want)}); write a "
                                 f"literal | inside a cell as \\|")
            if not re.fullmatch(spec.id_pattern, cells[0]):
                raise TableError(f"{where}: {cells[0]!r} is not an ID of this table; fix: write "
                                 f"it like {spec.id_example}")
            if cells[0] in seen:
                raise TableError(f"{where}: the ID {cells[0]} is used again (first at line "
                                 f"{seen[cells[0]]}); fix: give each row its own ID")
            seen[cells[0]] = line
            row: dict = {}
            for col, cell in zip(columns, cells):
                try:
                    v = col.read(cell)
                    if col.key == "base_tree" and v not in tree_names:
                        raise _BadCell(f"{v!r} is not a tree of the table 'trees'",
                                       f"write one of {', '.join(tree_names)}, or add the tree there")
                except _BadCell as e:
                    raise TableError(f"{where}, column {col.header!r}: {e.problem}; fix: {e.fix}") from None
                if col.key:
                    row[col.key] = v
                else:
                    row.update(v)
            rows.append(row)
        out[spec.key] = rows
        if spec.marker == "variants":
            variant_names = [r["name"] for r in rows]
        if spec.marker == "trees":
            tree_names = [r["name"] for r in rows]
    return out

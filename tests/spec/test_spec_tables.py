"""The tables of spec/zswap-spec.md, read from the document itself: the
parser (every table found, cells checked, a malformed table rejected naming
the table, the row and the fix) and the data (IDs unique, every invariant ID
used by the model and the tests, the variants, assumption sets and faults
equal to the code's)."""

import re
from pathlib import Path

import pytest

import zswap_spec
from zswap_spec.model.variants import BASE_TREES, VARIANTS
from zswap_spec.spec import INVARIANTS, SPEC_TEXT, TABLES, TableError, parse
from zswap_spec.spec.tables import TABLE_SPECS

ROOT = Path(__file__).resolve().parents[2]


# --- the parser on the real document -------------------------------------------

def test_the_document_is_the_only_copy_of_its_tables():
    assert not (ROOT / "spec" / "tables.toml").exists()
    assert (ROOT / "spec" / "zswap-spec.md").read_text() == SPEC_TEXT
    assert parse(SPEC_TEXT) == TABLES


def test_every_declared_table_is_read_with_every_column():
    assert set(TABLES) == {s.key for s in TABLE_SPECS.values()}
    for spec in TABLE_SPECS.values():
        rows = TABLES[spec.key]
        assert rows, spec.marker
        keys = {c.key for c in spec.columns if c.key}
        for row in rows:
            assert keys <= set(row), (spec.marker, row)


@pytest.mark.parametrize("marker", list(TABLE_SPECS))
def test_ids_are_unique_in_every_table(marker):
    spec = TABLE_SPECS[marker]
    first = spec.columns[0].key
    ids = [row[first] for row in TABLES[spec.key]]
    assert len(ids) == len(set(ids)), marker
    assert all(re.fullmatch(spec.id_pattern, i) for i in ids), marker


def test_ids_are_unique_across_the_id_tables():
    ids = [r["id"] for key in ("invariant", "equivalence", "mainline", "software", "batching", "clause")
           for r in TABLES[key]]
    assert len(ids) == len(set(ids))


def test_cells_are_read_as_the_code_uses_them():
    s3 = next(r for r in TABLES["software"] if r["id"] == "S3")
    assert (s3["ret"], s3["dlen"], s3["v13"], s3["mainline"]) == (
        "0", "P", ["corrupt", "corrupt"], ["raw", "reject compress_fail"])
    b3 = next(r for r in TABLES["batching"] if r["id"] == "B3")
    assert (b3["entry0"], b3["entry1"], b3["v13"]) == ("-E2BIG", "-E2BIG", ["raw+raw", "reject compress_fail x2"])
    assert all(r["entry1"] == "L" for r in TABLES["batching"] if r["id"] != "B3")
    m4 = next(r for r in TABLES["mainline"] if r["id"] == "M4")
    assert m4["condition"] == "ret == 0 && (dlen == 0 || dlen >= P)"  # \| in the document
    assert {c["id"]: c["checked_by"] for c in TABLES["clause"]}["C-DLEN"] == "machine"
    short = next(d for d in TABLES["driver"] if d["name"] == "bug-short-length")
    assert (short["clause"], short["also"]) == ("C-ROUNDTRIP", ["C-FORMAT", "C-SELFTEST"])
    lz4 = next(d for d in TABLES["driver"] if d["name"] == "lz4")
    assert (lz4["clause"], lz4["also"]) == ("", [])


def test_a_changed_cell_changes_the_data():
    # The code reads the document: one edited cell is one changed answer.
    line = _line("| S3 |")
    edited = SPEC_TEXT.replace(line, line.replace("| corrupt / corrupt |", "| raw / raw |", 1), 1)
    s3 = next(r for r in parse(edited)["software"] if r["id"] == "S3")
    assert s3["v13"] == ["raw", "raw"] and s3["v14"] == ["corrupt", "corrupt"]


# --- planted malformed tables ------------------------------------------------------

def _line(prefix: str) -> str:
    lines = [ln for ln in SPEC_TEXT.splitlines() if ln.startswith(prefix)]
    assert len(lines) == 1, prefix
    return lines[0]


def _replace_line(prefix: str, new: str) -> str:
    return SPEC_TEXT.replace(_line(prefix) + "\n", new + ("\n" if new else ""), 1)


def _cells(prefix: str) -> list[str]:
    return _line(prefix).strip("|").split(" | ")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.strip() for c in cells) + " |"


_S3 = _cells("| S3 |")
_B5 = _cells("| B5 |")

PLANTED = {
    "missing marker": (
        lambda: SPEC_TEXT.replace("<!-- table: software -->\n", "", 1),
        ["table 'software' is missing", "<!-- table: software -->"]),
    "misspelled marker": (
        lambda: SPEC_TEXT.replace("<!-- table: software -->", "<!-- table: sofware -->", 1),
        ["table 'sofware'", "no such table", "software"]),
    "marker twice": (
        lambda: SPEC_TEXT.replace("<!-- table: batching -->", "<!-- table: software -->", 1),
        ["table 'software'", "marked twice", "remove one"]),
    "marker without a table": (
        lambda: SPEC_TEXT.replace("<!-- table: faults -->\n", "<!-- table: faults -->\nThe faults:\n", 1),
        ["table 'faults'", "not followed by a Markdown table", "right after the marker"]),
    "a cell missing": (
        lambda: _replace_line("| S3 |", _row(_S3[:-1])),
        ["table 'software', row S3", f"{len(_S3) - 1} cells, the header has {len(_S3)}",
         "one cell per column"]),
    "a cell too many": (
        lambda: _replace_line("| M2 |", _line("| M2 |") + " extra |"),
        ["table 'mainline', row M2", "5 cells, the header has 4", "\\|"]),
    "an unescaped pipe": (
        lambda: SPEC_TEXT.replace("dlen == 0 \\|\\| dlen >= P", "dlen == 0 || dlen >= P", 1),
        ["table 'mainline', row M4", "6 cells, the header has 4"]),
    "a bad outcome word": (
        lambda: _replace_line("| S3 |", _row(_S3[:4] + ["corupt / corrupt"] + _S3[5:])),
        ["table 'software', row S3, column 'v13'", "'corupt' is not an outcome", "fix:", "reject COUNTER"]),
    "one page in a two-page table": (
        lambda: _replace_line("| B5 |", _row(_B5[:5] + ["corrupt / corrupt"] + _B5[6:])),
        ["table 'batching', row B5, column 'v13'", "folio of 2 pages", "joined by +"]),
    "a single outcome where a pair belongs": (
        lambda: _replace_line("| S3 |", _row(_S3[:4] + ["corrupt"] + _S3[5:])),
        ["table 'software', row S3, column 'v13'", "not a pair", "' / '"]),
    "an unknown reject counter": (
        lambda: _replace_line("| M2 |", "| M2 | ret == -ENOSPC | raw | reject compress_bad |"),
        ["table 'mainline', row M2, column 'writeback off'", "compress_poor"]),
    "a bad symbol": (
        lambda: _replace_line("| S3 |", _row(_S3[:2] + ["Q"] + _S3[3:])),
        ["table 'software', row S3, column 'dlen'", "'Q' is not a symbolic value", "-EINVAL"]),
    "an unknown errno": (
        lambda: _replace_line("| S3 |", _row(_S3[:1] + ["-EFOO"] + _S3[2:])),
        ["table 'software', row S3, column 'ret'", "'-EFOO'"]),
    "a duplicate ID": (
        lambda: _replace_line("| INV-RAW |", _line("| INV-RAW |").replace("INV-RAW", "INV-LEN", 1)),
        ["table 'invariants', row INV-LEN", "used again", "its own ID"]),
    "a malformed ID": (
        lambda: _replace_line("| INV-RAW |", _line("| INV-RAW |").replace("INV-RAW", "INV_RAW", 1)),
        ["table 'invariants', row INV_RAW", "not an ID", "INV-NAME"]),
    "an empty cell": (
        lambda: _replace_line("| INV-RAW |", "| INV-RAW |  |"),
        ["table 'invariants', row INV-RAW, column 'statement'", "empty"]),
    "variant columns out of order": (
        lambda: SPEC_TEXT.replace("| ID | ret | dlen | mainline | v13 | v14 |",
                                  "| ID | ret | dlen | mainline | v14 | v13 |", 1),
        ["table 'software', header row", "one per variant of the table 'variants'"]),
    "a renamed column": (
        lambda: SPEC_TEXT.replace("| ID | clause | checked by |", "| ID | clause | checker |", 1),
        ["table 'clauses', header row", "'checked by'"]),
    "a bad checked-by": (
        lambda: _replace_line("| C-HANG |", _line("| C-HANG |").replace("| kit |", "| kit, human |")),
        ["table 'clauses', row C-HANG, column 'checked by'", "kit, machine"]),
    "a bad expected finding": (
        lambda: _replace_line("| bug-short-length |",
                              _line("| bug-short-length |").replace("C-ROUNDTRIP (C-FORMAT, C-SELFTEST)",
                                                                  "C-ROUNDTRIP, C-FORMAT")),
        ["table 'drivers', row bug-short-length, column 'the kit must find'", "'nothing'"]),
    "a broken rule row": (
        lambda: SPEC_TEXT.replace("| ID | statement |\n|---|---|\n| INV-LEN", "| ID | statement |\n|---|\n| INV-LEN", 1),
        ["table 'invariants', rule row", "|---|---|"]),
    "a base tree the trees table lacks": (
        lambda: _replace_line("| v13 |", _line("| v13 |").replace("| mm-late-2025 |", "| mm-2025 |", 1)),
        ["table 'variants', row v13, column 'base tree'", "'mm-2025' is not a tree",
         "linux-7.3, mm-late-2025"]),
    "a walk that is not a count": (
        lambda: _replace_line("| mm-late-2025 |", _line("| mm-late-2025 |").replace("| 1 |", "| one |", 1)),
        ["table 'trees', row mm-late-2025, column 'shrink_memcg walk'", "not a count"]),
    "an unknown worker behaviour": (
        lambda: _replace_line("| linux-7.3 |", _line("| linux-7.3 |").replace(
            "| shrinks the global LRU |", "| shrinks the root |", 1)),
        ["table 'trees', row linux-7.3, column 'shrink worker, memcg disabled'", "counts a failure"]),
    "a row that does not end": (
        lambda: _replace_line("| EQV-COUNTERS |", _line("| EQV-COUNTERS |").rstrip("|")),
        ["table 'equivalences', row 2", "does not end with '|'"]),
}


@pytest.mark.parametrize("name", list(PLANTED))
def test_a_planted_malformed_table_is_rejected_naming_table_row_and_fix(name):
    plant, needles = PLANTED[name]
    text = plant()
    assert text != SPEC_TEXT, "the planted fault did not change the document"
    with pytest.raises(TableError) as e:
        parse(text, "spec/zswap-spec.md")
    msg = str(e.value)
    assert msg.startswith("spec/zswap-spec.md"), msg
    assert "fix:" in msg, msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_the_error_gives_the_line_of_the_row():
    text = _replace_line("| S3 |", _row(_S3[:-1]))
    line = text.splitlines().index(_row(_S3[:-1])) + 1
    with pytest.raises(TableError, match=rf"^spec/zswap-spec.md line {line}: table 'software', row S3"):
        parse(text)


# --- the data against the code -----------------------------------------------------

def test_variants_table_matches_the_model():
    rows = TABLES["variant"]
    assert [r["name"] for r in rows] == list(VARIANTS)
    for r in rows:
        assert VARIANTS[r["name"]].crypto_layer == r["crypto_layer"], r["name"]
        assert VARIANTS[r["name"]].base_tree == r["base_tree"], r["name"]
    first = {r["name"]: r["base_tree"] for r in rows[:5]}
    assert first == {"mainline": "linux-7.3", "v13": "mm-late-2025", "v14": "mm-late-2025",
                     "explicit": "mm-late-2025", "uniform": "mm-late-2025"}


def test_trees_table_matches_the_model():
    rows = TABLES["tree"]
    assert [r["name"] for r in rows] == list(BASE_TREES)
    for r in rows:
        tree = BASE_TREES[r["name"]]
        assert r["source"].startswith(tree.source), r["name"]
        assert r["shrink_memcg_walk"] == tree.shrink_memcg_walk, r["name"]
        assert (r["worker_without_memcg"] == "shrinks the global LRU") == tree.worker_shrinks_root_without_memcg
    assert {r["name"]: r["shrink_memcg_walk"] for r in rows} == {"linux-7.3": 32, "mm-late-2025": 1}


def test_decision_tables_have_every_variant():
    for key in ("software", "batching"):
        for row in TABLES[key]:
            assert all(len(row[v]) == 2 for v in VARIANTS), row["id"]


COMPONENTS = ("zswap_spec", "cli", "model", "proofs", "replay", "pool", "optimized_core", "fuzz", "kernel",
              "driverkit", "support")


def _source_text(*folders: str) -> str:
    return "\n".join(p.read_text() for f in folders for p in (ROOT / f).rglob("*.py"))


@pytest.mark.parametrize("inv", sorted(INVARIANTS))
def test_every_invariant_id_is_in_spec_model_and_tests(inv):
    assert inv in SPEC_TEXT
    code = _source_text(*COMPONENTS)
    assert inv in code, f"{inv} is checked nowhere in the model"
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    assert inv in tests, f"{inv} is not named by any test"


def test_ids_used_in_code_are_all_in_the_spec():
    code = _source_text(*COMPONENTS)
    used = set(re.findall(r"INV-[A-Z]+", code)) - {"INV-X"}  # INV-X: a placeholder in docstrings
    assert used <= set(INVARIANTS), used - set(INVARIANTS)


def test_public_api_is_listed():
    for name in zswap_spec.__all__:
        assert hasattr(zswap_spec, name)


def test_assumption_sets_are_the_proofs():
    from zswap_spec.proofs.assumptions import ASSUMPTIONS
    from zswap_spec.spec import ASSUMPTION_SETS

    assert list(ASSUMPTION_SETS) == list(ASSUMPTIONS)


def test_every_equivalence_is_used_by_the_proofs():
    from zswap_spec.spec import EQUIVALENCES

    proofs = _source_text("proofs")
    for eqv in EQUIVALENCES:
        assert eqv in SPEC_TEXT and eqv in proofs


def test_fault_catalogue_matches_the_model():
    from zswap_spec.model.faults import FAULTS

    prose = {r["name"]: (r["description"], r["compressors"]) for r in TABLES["fault"]}
    assert prose == {f.name: (f.description, "batching" if f.batching_only else "any")
                     for f in FAULTS.values()}

"""The prose tables of spec/zswap-spec.md and spec/tables.toml say the same
thing, and every invariant ID is used everywhere it must be."""

import re
from pathlib import Path

import pytest

import zswap_spec
from zswap_spec.model.variants import VARIANTS
from zswap_spec.spec import INVARIANTS, SPEC_TEXT, TABLES

ROOT = Path(__file__).resolve().parents[2]


def prose_table(name: str) -> list[list[str]]:
    """The rows of the Markdown table that follows `<!-- table: name -->`."""
    m = re.search(rf"<!-- table: {re.escape(name)} -->\n((?:\|.*\n)+)", SPEC_TEXT)
    assert m, f"spec has no table marked {name!r}"
    lines = m.group(1).strip().splitlines()
    rows = []
    for line in lines[2:]:  # header and rule
        cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
        rows.append([c.strip().replace("\\|", "|") for c in cells])
    return rows


def _pair(cell: str) -> list[str]:
    on, off = (x.strip() for x in cell.split(" / "))
    return [on, off]


def test_invariants_table_matches():
    assert {r[0]: r[1] for r in prose_table("invariants")} == INVARIANTS


def test_variants_table_matches_the_model():
    prose = {r[0]: (r[1], r[2]) for r in prose_table("variants")}
    machine = {v["name"]: (v["crypto_layer"], v["source"]) for v in TABLES["variant"]}
    assert prose == machine
    assert list(prose) == list(VARIANTS)
    for name, (layer, _) in prose.items():
        assert VARIANTS[name].crypto_layer == layer


def test_mainline_table_matches():
    prose = [r for r in prose_table("mainline")]
    machine = [[r["id"], r["condition"], r["writeback_on"], r["writeback_off"]] for r in TABLES["mainline"]]
    assert prose == machine


@pytest.mark.parametrize("table,cols", [("software", ["ret", "dlen"]),
                                        ("batching", ["ret", "entry0", "entry1"])])
def test_variant_decision_tables_match(table, cols):
    prose = prose_table(table)
    machine = TABLES[table]
    assert [r[0] for r in prose] == [r["id"] for r in machine]
    for p, m in zip(prose, machine):
        defaults = {"entry1": "L"}
        assert p[1:1 + len(cols)] == [m.get(c, defaults.get(c)) for c in cols], m["id"]
        for i, variant in enumerate(VARIANTS):
            assert _pair(p[1 + len(cols) + i]) == m[variant], (m["id"], variant)


def test_a_changed_prose_cell_is_caught():
    # The comparison is not vacuous: one edited cell makes it fail.
    row = prose_table("software")[2]
    assert _pair(row[4]) == TABLES["software"][2]["v13"]
    assert _pair("raw / raw") != TABLES["software"][2]["v13"]


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
    used = set(re.findall(r"INV-[A-Z]+", code))
    assert used <= set(INVARIANTS), used - set(INVARIANTS)


def test_public_api_is_listed():
    for name in zswap_spec.__all__:
        assert hasattr(zswap_spec, name)


def test_equivalences_and_assumption_tables_match():
    from zswap_spec.proofs.assumptions import ASSUMPTIONS
    from zswap_spec.spec import ASSUMPTION_SETS, EQUIVALENCES

    assert {r[0]: r[1] for r in prose_table("equivalences")} == EQUIVALENCES
    assert {r[0]: r[1] for r in prose_table("assumptions")} == ASSUMPTION_SETS
    assert list(ASSUMPTION_SETS) == list(ASSUMPTIONS)


def test_every_id_is_used_by_the_proofs_or_named_by_a_test():
    from zswap_spec.spec import EQUIVALENCES

    proofs = _source_text("proofs")
    for eqv in EQUIVALENCES:
        assert eqv in SPEC_TEXT and eqv in proofs


def test_fault_catalogue_matches_the_model():
    from zswap_spec.model.faults import FAULTS

    prose = {r[0]: (r[1], r[2]) for r in prose_table("faults")}
    assert prose == {f.name: (f.description, "batching" if f.batching_only else "any")
                     for f in FAULTS.values()}

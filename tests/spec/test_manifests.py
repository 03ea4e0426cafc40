"""The manifests of spec/ (expected-check.toml, kind "check";
expected-drivers.toml, kind "drivers") follow the one manifest format of
support/manifest.py, and the loader rejects a file that does not, naming the
file, the entry and the field."""

import importlib
import json

import pytest

from zswap_spec.support import manifest
from zswap_spec.support.manifest import FORMAT, ManifestError

check = importlib.import_module("zswap_spec.cli.check")  # registers kind "check"
targets = importlib.import_module("zswap_spec.driverkit.targets")  # registers kind "drivers"

CHECK_ENTRY = {"variant": "v13", "compressor": "lz4", "writeback": True, "folio_pages": 1,
               "page_size": 4096, "invariants": ["INV-RAW", "INV-ROUNDTRIP"]}
DRIVER_ENTRY = {"name": "bug-zero-length", "object": "seeded", "clause": "C-LENGTH",
                "description": "a zero-filled page succeeds with length 0"}


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)  # a string or an int, as TOML writes them


def _text(kind: str, entries: list[dict], fmt: str = FORMAT) -> str:
    out = [f'format = "{fmt}"', f'kind = "{kind}"', ""]
    for e in entries:
        out += ["[[expect]]"] + [f"{k} = {_toml(v)}" for k, v in e.items()] + [""]
    return "\n".join(out)


# --- the real files ---------------------------------------------------------------

def test_the_check_manifest_is_in_the_format():
    entries = manifest.load(check.MANIFEST_PATH, "check")
    assert entries and all(set(e) == set(check.MANIFEST_SCHEMA.fields) for e in entries)
    assert check.MANIFEST_PATH.read_text().startswith("# Expected findings of `zswap-spec check`")
    assert {e["page_size"] for e in entries} == {4096, 16384, 65536}
    assert check.load_manifest() == {
        (e["variant"], e["compressor"], e["writeback"], e["folio_pages"], e["page_size"]): set(e["invariants"])
        for e in entries}


def test_the_driver_manifest_is_in_the_format_and_is_the_catalogue():
    entries = manifest.load(targets.CATALOGUE_PATH, "drivers")
    assert [e["name"] for e in entries] == list(targets.catalogue())
    assert targets.CATALOGUE_PATH.read_text().startswith("# The conformance kit's built-in drivers")


def test_write_manifest_keeps_the_other_page_sizes_and_reads_back(tmp_path):
    path = tmp_path / "expected.toml"
    path.write_text(check.MANIFEST_PATH.read_text())
    before = check.load_manifest(path)
    findings = {k: v for k, v in before.items() if k[4] == 4096}
    check.write_manifest(findings, 4096, path)
    assert check.load_manifest(path) == before
    assert path.read_text() == check.MANIFEST_PATH.read_text()
    # A page size's findings replace that page size's entries only.
    check.write_manifest({("v13", "lz4", True, 1, 4096): {"INV-RAW"}}, 4096, path)
    after = check.load_manifest(path)
    assert {k: v for k, v in after.items() if k[4] == 4096} == {("v13", "lz4", True, 1, 4096): {"INV-RAW"}}
    assert {k: v for k, v in after.items() if k[4] != 4096} == {k: v for k, v in before.items() if k[4] != 4096}


@pytest.mark.parametrize("kind", ["check", "drivers"])
def test_schema_json_describes_the_kind(kind):
    doc = manifest.schema_json(kind)
    assert doc["properties"]["kind"] == {"const": kind}
    item = doc["properties"]["expect"]["items"]
    assert set(item["properties"]) == set(manifest.SCHEMAS[kind].fields)
    json.dumps(doc)


def test_the_check_schema_key_is_the_configuration():
    assert check.MANIFEST_SCHEMA.key == ("variant", "compressor", "writeback", "folio_pages", "page_size")
    assert targets.CATALOGUE_SCHEMA.key == ("name",)


# --- what the loader rejects --------------------------------------------------------

def _drop(entry: dict, field: str) -> dict:
    return {k: v for k, v in entry.items() if k != field}


BAD = {
    # name: (kind, text, what the message must name besides the file)
    "wrong format": ("check", lambda: _text("check", [CHECK_ENTRY], fmt="zswap-spec-manifest/0"),
                     ["format is 'zswap-spec-manifest/0'", FORMAT]),
    "no format": ("drivers", lambda: _text("drivers", [DRIVER_ENTRY]).replace(f'format = "{FORMAT}"\n', ""),
                  ["format is None", FORMAT]),
    "wrong kind": ("check", lambda: _text("drivers", [CHECK_ENTRY]),
                   ["kind is 'drivers', not 'check'"]),
    "unknown field (check)": ("check", lambda: _text("check", [CHECK_ENTRY, dict(CHECK_ENTRY, folio_pages=8,
                                                                                  pages=8)]),
                              ["entry 2", "unknown field 'pages'", "folio_pages"]),
    "unknown field (drivers)": ("drivers", lambda: _text("drivers", [dict(DRIVER_ENTRY, clauses=["C-RET"])]),
                                ["entry 1", "unknown field 'clauses'"]),
    "wrong type (check)": ("check", lambda: _text("check", [dict(CHECK_ENTRY, writeback="yes")]),
                           ["entry 1", "field 'writeback' must be bool", "'yes'"]),
    "wrong type: bool for int": ("check", lambda: _text("check", [dict(CHECK_ENTRY, page_size=True)]),
                                 ["entry 1", "field 'page_size' must be int"]),
    "wrong type (drivers)": ("drivers", lambda: _text("drivers", [dict(DRIVER_ENTRY, also="C-RET")]),
                             ["entry 1", "field 'also' must be list[str]"]),
    "wrong item type": ("check", lambda: _text("check", [dict(CHECK_ENTRY, invariants=["INV-RAW", 3])]),
                        ["entry 1", "field 'invariants' must hold strings"]),
    "value not allowed": ("check", lambda: _text("check", [dict(CHECK_ENTRY, variant="v15")]),
                          ["entry 1", "field 'variant' is 'v15'", "mainline"]),
    "unknown invariant": ("check", lambda: _text("check", [dict(CHECK_ENTRY, invariants=["INV-NOPE"])]),
                          ["entry 1", "field 'invariants' is 'INV-NOPE'", "INV-RAW"]),
    "unknown clause": ("drivers", lambda: _text("drivers", [dict(DRIVER_ENTRY, clause="C-NOPE")]),
                       ["entry 1", "field 'clause' is 'C-NOPE'", "C-LENGTH"]),
    "missing field (check)": ("check", lambda: _text("check", [CHECK_ENTRY, _drop(CHECK_ENTRY, "page_size")]),
                              ["entry 2", "field 'page_size' is missing"]),
    "missing field (drivers)": ("drivers", lambda: _text("drivers", [_drop(DRIVER_ENTRY, "description")]),
                                ["entry 1", "field 'description' is missing"]),
    "duplicate key (check)": ("check", lambda: _text("check", [CHECK_ENTRY, dict(CHECK_ENTRY, invariants=[])]),
                              ["entry 2 repeats entry 1", "variant='v13'", "page_size=4096", "keep one"]),
    "duplicate key (drivers)": ("drivers", lambda: _text("drivers", [DRIVER_ENTRY, DRIVER_ENTRY]),
                                ["entry 2 repeats entry 1", "name='bug-zero-length'"]),
    "not a table": ("check", lambda: f'format = "{FORMAT}"\nkind = "check"\nexpect = [1]\n',
                    ["entry 1 is 1, not a table", "[[expect]]"]),
    "old layout": ("check", lambda: '[[finding]]\nvariant = "v13"\n', ["format is None"]),
}


@pytest.mark.parametrize("name", list(BAD))
def test_the_loader_rejects_naming_file_entry_and_field(tmp_path, name):
    kind, text, needles = BAD[name]
    path = tmp_path / "manifest.toml"
    path.write_text(text())
    with pytest.raises(ManifestError) as e:
        manifest.load(path, kind)
    msg = e.value.message
    assert msg.startswith(f"{path}:"), msg
    assert str(e.value.code).startswith("zswap-spec: error: ")
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_the_good_text_of_each_planted_file_loads(tmp_path):
    # The rejections above come from the planted fault, not from the rest of the file.
    for kind, entries in (("check", [CHECK_ENTRY, dict(CHECK_ENTRY, folio_pages=8)]),
                          ("drivers", [DRIVER_ENTRY, dict(DRIVER_ENTRY, name="x", also=["C-RET"])])):
        path = tmp_path / f"{kind}.toml"
        path.write_text(_text(kind, entries))
        assert manifest.load(path, kind) == entries


def test_a_missing_or_corrupt_file_says_how_to_restore_it(tmp_path):
    with pytest.raises(ManifestError, match="is missing; create it with 'zswap-spec check --update-manifest'"):
        check.load_manifest(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[expect]\nvariant = ")
    with pytest.raises(ManifestError, match=r"is not valid TOML .*restore it from version control"):
        check.load_manifest(bad)


def test_a_seeded_driver_without_its_clause_is_rejected(tmp_path, monkeypatch):
    path = tmp_path / "drivers.toml"
    path.write_text(_text("drivers", [DRIVER_ENTRY, _drop(dict(DRIVER_ENTRY, name="bug-other"), "clause")]))
    monkeypatch.setattr(targets, "CATALOGUE_PATH", path)
    targets.catalogue.cache_clear()
    try:
        with pytest.raises(ManifestError, match=r"entry 2: field 'clause' must be given for a seeded-bug"):
            targets.catalogue()
    finally:
        monkeypatch.undo()
        targets.catalogue.cache_clear()


def test_a_write_that_would_not_read_back_leaves_the_old_file(tmp_path):
    path = tmp_path / "expected.toml"
    path.write_text(check.MANIFEST_PATH.read_text())
    with pytest.raises(ManifestError, match="field 'variant' is 'v99'"):
        manifest.write(path, "check", [dict(CHECK_ENTRY, variant="v99")], ["header"])
    assert path.read_text() == check.MANIFEST_PATH.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["expected.toml"]

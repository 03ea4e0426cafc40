"""The `zswap-spec` command, run as a user runs it: in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zswap_spec.model.variants import VARIANTS
from zswap_spec.replay.sample import boundary_page

SCRIPT = Path(sys.executable).with_name("zswap-spec")


def run(*args, timeout=300):
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "zswap_spec"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def pages_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("pages")
    text = Path(os.__file__).read_bytes()[: 4096 * 6]
    data = text + bytes(4096) + os.urandom(4096) + boundary_page("lz4", 4096) + b"tail"
    path = d / "mem.bin"
    path.write_bytes(data)
    return path


def test_console_script_is_installed():
    assert SCRIPT.exists(), f"{SCRIPT} missing: is the package installed?"


def test_replay_json_has_the_documented_fields(pages_file):
    p = run("replay", str(pages_file), "--variant", "mainline", "--variant", "v13",
            "--compressor", "lz4", "--compressor", "zstd", "--json")
    assert p.returncode == 1, p.stderr  # v13 corrupts the exact-fit page
    assert "not a multiple of 4096" in p.stderr and "zero-padded" in p.stderr
    runs = json.loads(p.stdout)["runs"]
    assert [(r["variant"], r["compressor"]) for r in runs] == [
        ("mainline", "lz4"), ("v13", "lz4"), ("mainline", "zstd"), ("v13", "zstd")]
    for r in runs:
        for key in ("variant", "compressor", "writeback", "pages", "stored_compressed",
                    "stored_raw", "rejected", "integrity_violations", "counters",
                    "pool_bytes", "seconds"):
            assert key in r
        assert r["pages"] == 10 and r["zero_filled"] == 1
        assert set(r["counters"]) >= {"stored_pages", "reject_compress_fail", "pool_total_size"}
    by = {(r["variant"], r["compressor"]): r for r in runs}
    assert by[("v13", "lz4")]["integrity_violations"] == 1
    assert by[("v13", "lz4")]["differs_from_mainline"] == 0  # same outcome class, wrong bytes
    assert by[("mainline", "lz4")]["integrity_violations"] == 0


def test_replay_clean_run_exits_0_and_prints_a_table(pages_file):
    p = run("replay", str(pages_file), "--variant", "explicit", "--no-writeback", "--folio-pages", "4")
    assert p.returncode == 0, p.stderr
    assert "explicit" in p.stdout and "lz4" in p.stdout and "off" in p.stdout


def test_replay_writeback_both_is_each_setting_in_one_run(pages_file):
    p = run("replay", str(pages_file), "--variant", "v14", "--variant", "mainline",
            "--writeback", "both", "--json")
    assert p.returncode in (0, 1), p.stderr
    both = json.loads(p.stdout)["runs"]
    assert sorted((r["variant"], r["writeback"]) for r in both) == \
        sorted((v, wb) for v in ("v14", "mainline") for wb in (True, False))
    for wb_args, wb in ((["--writeback", "on"], True), (["--no-writeback"], False)):
        one = run("replay", str(pages_file), "--variant", "v14", "--variant", "mainline",
                  *wb_args, "--json")
        alone = {r["variant"]: r for r in json.loads(one.stdout)["runs"]}
        for r in both:
            if r["writeback"] == wb:  # field for field, but for the time each took
                assert {**r, "seconds": 0} == {**alone[r["variant"]], "seconds": 0}, \
                    (r["variant"], wb)
    p = run("replay", str(pages_file), "--writeback", "both", "--no-writeback")
    assert p.returncode == 2 and "--no-writeback contradicts --writeback both" in p.stderr


def test_replay_64k_pages(pages_file):
    p = run("replay", str(pages_file), "--page-size", "65536", "--variant", "uniform", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["runs"][0]["pages"] == 1


@pytest.mark.parametrize("args,needle", [
    (["replay", "/no/such/file"], "/no/such/file: no such file"),
    (["replay", "/"], "/: is a directory"),
    (["replay", "EMPTY"], "is empty"),
    (["replay", "/etc/hostname/child"], "cannot be read"),
    (["replay", "FILE", "--variant", "v15"], "unknown variant 'v15'; choose from: mainline, v13"),
    (["replay", "FILE", "--compressor", "lzo"], "unknown compressor 'lzo'; choose from: lz4"),
    (["replay", "FILE", "--folio-pages", "0"], "--folio-pages 0 is out of range; use 1 to 512"),
    (["replay", "FILE", "--folio-pages", "513"], "out of range"),
    (["replay", "FILE", "--page-size", "8192"], "--page-size 8192 is not supported"),
    (["replay", "FILE", "--folio-pages", "many"], "'many' is not a valid integer"),
    (["replay"], "Missing argument"),
    (["frobnicate"], "No such command"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path, pages_file):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    args = [str(empty) if a == "EMPTY" else str(pages_file) if a == "FILE" else a for a in args]
    p = run(*args)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zswap-spec: error:"), p.stderr
    assert needle in lines[0]
    assert "Traceback" not in p.stderr and p.stdout == ""


def _check_manifest():
    import tomllib

    from zswap_spec.cli.check import MANIFEST_PATH
    return tomllib.loads(Path(MANIFEST_PATH).read_text())["expect"]


def test_check_json_runs_replays_proofs_and_fuzzing():
    p = run("check", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["mismatches"] == [] and doc["findings"]
    expected = {e["variant"] for e in _check_manifest() if e["page_size"] == 4096}
    assert {f["variant"] for f in doc["findings"]} == expected and {"v13", "v14"} <= expected
    assert doc["proofs"]["results"] == 8 * 4 * 3 * len(VARIANTS) and doc["proofs"]["mismatches"] == []
    assert [r["variant"] for r in doc["fuzz"]] == ["mainline", "explicit", "uniform"]
    assert all(r["findings"] == [] and r["steps"] > 0 for r in doc["fuzz"])


def test_check_prints_the_tables(capsys):
    from zswap_spec.cli.check import run_check

    assert run_check(proofs=False, fuzz=False) == 0
    out = capsys.readouterr().out
    assert "match the manifest" in out and "mainline" in out and "deflate-iaa" in out


def test_variants_lists_every_variant_with_its_source_and_base_tree():
    from zswap_spec.model.variants import VARIANTS

    p = run("variants")
    assert p.returncode == 0
    for name in ("mainline", "v13", "v14", "explicit", "uniform", "2025-11-04"):
        assert name in p.stdout
    for v in VARIANTS.values():
        row = next(line for line in p.stdout.splitlines() if f" {v.name} " in line)
        assert v.base_tree in row, (v.name, row)


def test_prove_json_for_one_variant_matches_the_manifest():
    p = run("prove", "--variant", "v14", "--assume", "batching", "--page-size", "4096", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["mismatches"] == [] and doc["seconds"] > 0
    statuses = {r["invariant"]: r["status"] for r in doc["results"]}
    assert statuses["INV-WB"] == "counterexample" and statuses["INV-LEN"] == "proved"
    for r in doc["results"]:
        assert set(r) >= {"theorem", "invariant", "variant", "assumption", "status", "seconds",
                          "counterexample"}
        if r["status"] == "counterexample":
            assert r["counterexample"]["units"] and "expected" in r["counterexample"]


def test_prove_table_spells_out_counterexamples():
    p = run("prove", "--variant", "v13", "--assume", "strict", "--page-size", "16384")
    assert p.returncode == 0
    assert "v13 is correct under: no assumption set" in p.stdout
    assert "ret = -EINVAL" in p.stdout and "PAGE_SIZE 16384" in p.stdout


@pytest.mark.parametrize("args,needle", [
    (["prove", "--variant", "v99"], "unknown variant 'v99'"),
    (["prove", "--assume", "lenient"], "unknown assumption set 'lenient'; choose from: any, kernel-sw"),
    (["prove", "--page-size", "8192"], "--page-size 8192 is not supported"),
])
def test_prove_bad_names_exit_2(args, needle):
    p = run(*args)
    assert p.returncode == 2 and needle in p.stderr and p.stderr.count("\n") == 1


@pytest.mark.parametrize("args, says", [
    (["kernel-check", "--timeout", "0"], "--timeout"),
    (["kernel-check", "--timeout", "-1"], "--timeout"),
    (["kernel-check", "--timeout", "nan"], "nan is not a number of seconds"),
    (["kernel-check", "--kernel-source", "/nonexistent"], "does not exist"),
    (["kernel-check", "--writeback", "on", "--no-writeback"], "contradicts"),
    (["kernel-check", "--jobs", "0"], "--jobs"),
    (["kernel-fuzz", "--budget", "nan"], "--budget"),
    (["kernel-fuzz", "--budget", "inf"], "--budget"),
])
def test_kernel_commands_refuse_bad_numbers_before_any_work(args, says):
    proc = run(*args, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_variants_prints_each_decision_table_column_as_the_spec_has_it():
    """`variants --decision-tables` prints what the model answers for each row: for every
    variant it is the spec's column (tests/model/test_decision_tables.py checks the model
    against the spec; this checks the printout a new variant's column is pasted from)."""
    from zswap_spec.spec import TABLES

    p = run("variants", "--decision-tables")
    assert p.returncode == 0, p.stderr
    rows = [ln.strip("|").split("|") for ln in p.stdout.splitlines() if ln.startswith("| ")]
    header, printed = None, {}
    for cells in rows:
        cells = [c.strip() for c in cells]
        if cells[0] == "ID":
            header = cells[1:]
            continue
        printed[cells[0]] = dict(zip(header, cells[1:]))
    assert header == list(VARIANTS)
    for kind in ("software", "batching"):
        for row in TABLES[kind]:
            for v in VARIANTS:
                on, off = row[v]
                assert printed[row["id"]][v] == f"{on} / {off}", (row["id"], v)


def test_variants_lists_each_function_with_its_citation():
    p = run("variants", "--functions", "--variant", "v14len")
    assert p.returncode == 0, p.stderr
    assert "v14len.py zswap_compress:" in p.stdout and "not posted" in p.stdout
    assert "compress_error() in zswap_compress" in p.stdout
    assert "v13.py" not in p.stdout


def test_variants_refuses_two_listings_at_once():
    p = run("variants", "--decision-tables", "--functions")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "--decision-tables and --functions do not go together" in p.stderr
    p = run("variants", "--functions", "--variant", "nonesuch")
    assert p.returncode == 2 and "unknown variant 'nonesuch'" in p.stderr and p.stdout == ""

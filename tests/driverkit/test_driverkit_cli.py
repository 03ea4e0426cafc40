"""`zswap-spec check-driver` as a user runs it (a subprocess): the list, the
whole catalogue as JSON, exit codes, bad targets among good ones, JUnit XML,
--with-variant, and the pytest fixture in a driver author's own test suite."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYDRIVERS = ROOT / "tests" / "data" / "driverkit_pydrivers.py"
QUICK = ["--budget", "0", "--call-timeout", "0.5"]


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default reproducer folders land here, not in the tree


def run(*args):
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "zswap_spec", "check-driver", *args],
                          capture_output=True, text=True, cwd=os.getcwd(), env=env, timeout=300)


def test_list_names_every_builtin_and_seeded_driver():
    from zswap_spec.driverkit.targets import catalogue

    p = run("--list")
    assert p.returncode == 0, p.stderr
    for name, entry in catalogue().items():
        assert name in p.stdout
    assert "C-OVERRUN" in p.stdout and "seeded bug" in p.stdout


def test_all_builtin_as_json(tmp_path):
    p = run("--all-builtin", "--json", *QUICK, "--reproducers", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr
    drivers = json.loads(p.stdout)["drivers"]
    from zswap_spec.driverkit.targets import catalogue

    assert [d["name"] for d in drivers] == list(catalogue())
    for d in drivers:
        assert {"name", "seeded_bug", "conforms", "violations"} <= set(d)
        assert d["conforms"] is (not d["seeded_bug"])
        assert d["as_expected"] is True
        for v in d["violations"]:
            assert v["clause"] in d["expected_clauses"]
            assert Path(v["reproducer"]).is_file() and v["description"]


def test_bad_targets_are_reported_and_the_run_goes_on(tmp_path):
    bogus = tmp_path / "bogus.so"
    bogus.write_bytes(b"\x7fELF but not really")
    p = run("builtin:lz4", str(bogus), "nosuchmodule_xyz:DRIVER", "builtin:nope", *QUICK,
            "--reproducers", str(tmp_path))
    assert p.returncode == 3, (p.returncode, p.stderr)
    out = p.stdout
    assert "builtin:lz4 (C, format lz4" in out and "conforms" in out
    assert f"{bogus}: not a loadable shared object" in out
    assert "nosuchmodule_xyz:DRIVER: importing nosuchmodule_xyz failed" in out
    assert "builtin:nope: no built-in driver 'nope'" in out
    assert "3 targets could not be checked" in out and "Traceback" not in out + p.stderr


def test_json_names_unchecked_targets_on_stderr_too(tmp_path):
    p = run(str(tmp_path / "missing.so"), "builtin:zstd", "--json", *QUICK)
    assert p.returncode == 3
    doc = json.loads(p.stdout)
    assert [d["conforms"] for d in doc["drivers"]] == [False, True]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing.so: no such file" in lines[0]


def test_a_driver_that_breaks_a_clause_exits_1_with_junit(tmp_path):
    junit = tmp_path / "report.xml"
    p = run(f"{PYDRIVERS}:ForgetsFailures", f"{PYDRIVERS}:Lz4Batch", *QUICK,
            "--junit", str(junit), "--reproducers", str(tmp_path / "r"))
    assert p.returncode == 1, p.stderr
    assert "C-RET: the call returned 0 while a unit failed" in p.stdout
    suites = {s.get("name"): s for s in ET.parse(junit).getroot()}
    bad = suites[f"{PYDRIVERS}:ForgetsFailures"]
    failures = [tc.get("name") for tc in bad if tc.find("failure") is not None]
    assert failures == ["C-RET"] and bad.get("failures") == "1"
    assert suites[f"{PYDRIVERS}:Lz4Batch"].get("failures") == "0"


@pytest.mark.parametrize("args,needle", [
    ([], "no target"),
    (["builtin:lz4", "--with-variant", "v99"], "--with-variant 'v99': unknown variant"),
    (["builtin:lz4", "--budget", "-1"], "--budget -1.0"),
    (["builtin:lz4", "--format", "lzo"], "Invalid value for '--format'"),
])
def test_usage_errors_exit_2_with_one_line(args, needle):
    p = run(*args)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], p.stderr


def test_with_variant_reports_what_zswap_does_with_the_driver(tmp_path):
    from zswap_spec.replay import RunConfig, replay_pages
    from zswap_spec.replay.sample import default_sample

    p = run("builtin:lz4", "--with-variant", "v13", "--with-variant", "mainline", "--json", *QUICK,
            "--reproducers", str(tmp_path))
    assert p.returncode == 0, p.stderr
    (d,) = json.loads(p.stdout)["drivers"]
    runs = {(r["variant"], r["writeback"], r["folio_pages"], r["page_size"]): r
            for r in d["variants"]}
    assert set(runs) == {(v, wb, f, p) for v in ("v13", "mainline") for wb in (True, False)
                         for f in (1, 8) for p in (4096, 16384, 65536)}
    for (variant, wb, folio, size), r in runs.items():
        pages = [s.data for s in default_sample(size)]
        model = replay_pages(pages, RunConfig(variant, "lz4", wb, folio, size))
        assert r["violations"] == model.violation_counts(), (variant, wb, folio, size)
        assert (r["stored_compressed"], r["stored_raw"], r["rejected"]) == \
            (model.count("compressed"), model.count("raw"), model.count("rejected"))
        assert not r["nothing_compressed"] and r["stored_compressed"] > 0
    assert runs[("mainline", True, 1, 4096)]["corrupt"] == 0


def test_the_header_folder_is_printed_for_gcc():
    p = run("--header-dir")
    assert p.returncode == 0
    assert (Path(p.stdout.strip()) / "zswap_acomp_driver.h").is_file()


def test_the_pytest_fixture_in_a_driver_authors_suite(tmp_path):
    (tmp_path / "test_my_driver.py").write_text(f'''
def test_good(acomp_driver_check):
    (report,) = acomp_driver_check("builtin:deflate")
    assert report.conforms

def test_bad_is_caught(acomp_driver_check):
    (report,) = acomp_driver_check("builtin:bug-header-underrun", expect_conformance=False)
    assert report.clauses == ["C-OVERRUN"]

def test_bad_fails(acomp_driver_check):
    acomp_driver_check("{PYDRIVERS}:ForgetsFailures")
''')
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--acomp-budget", "0", str(tmp_path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert "1 failed, 2 passed" in p.stdout, p.stdout[-3000:]
    assert "FAILED test_my_driver.py::test_bad_fails" in p.stdout
    assert "breaks C-RET" in p.stdout and "C-RET: the call returned 0 while a unit failed" in p.stdout

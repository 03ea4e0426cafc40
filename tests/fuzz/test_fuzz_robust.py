"""`zswap-spec fuzz` when things go wrong or pile up: findings that would share a
name, runs sharing a findings folder, an unusable findings folder, interrupts,
killed workers, a killed command, the wall-clock budget, options a mode does
not take, and saved findings that are corrupt or crash (issue 13)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from proctree import alive, children, cmdline, descendants, session

from zswap_spec.fuzz.campaign import Campaign, _reproducer
from zswap_spec.fuzz.findings import save_index
from zswap_spec.fuzz.machine import InvariantBroken
from zswap_spec.fuzz.run import plan_campaigns
from zswap_spec.model.invariants import Violation

SCRIPT = Path(sys.executable).with_name("zswap-spec")
# Three real-compressor campaigns that find nothing: they run until stopped.
CLEAN = ["--variant", "mainline", "--variant", "explicit", "--variant", "uniform",
         "--compressor", "lz4"]


def run(*args, timeout=300, env=None):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def start(*args):
    return subprocess.Popen([str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- the process tree, from /proc (tests/proctree.py) -----------------------------------

def workers(main: int) -> set[int]:
    """The pool's workers: the fork server's children (the fork server is the command's)."""
    kids = children()
    servers = [c for c in kids.get(main, []) if b"forkserver" in cmdline(c)]
    return alive(w for s in servers for w in kids.get(s, []))


def end_session(p) -> None:
    """Whatever the test left of the command: killed (it started its own session)."""
    p.kill()
    p.wait()
    for pid in session(p.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for(predicate, timeout=60.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# -- 1. names that two findings never share; the index keeps every run -----------------

def _broken(detail: str) -> InvariantBroken:
    return InvariantBroken(Violation("INV-RAW", 3, detail))


def test_findings_in_the_same_second_get_their_own_files(tmp_path):
    """Two campaigns that differ only by fault, same invariant, same second: two
    files, each naming its fault and case; the same finding again reuses its file;
    a name already taken by another file is never overwritten."""
    config = {"page_size": 4096, "kinds": ["zero"]}
    a = _reproducer(Campaign("v14", "zstd", ("exact-page",)), config, _broken("a"),
                    ["state = PoolMachine()", "state.writeback()"], tmp_path)
    b = _reproducer(Campaign("v14", "zstd", ("zero-length",)), config, _broken("b"),
                    ["state = PoolMachine()", "state.writeback()"], tmp_path)
    assert a != b and a.is_file() and b.is_file()
    assert re.fullmatch(r"test_inv_raw_v14_zstd_exact_page_[0-9a-f]{10}\.py", a.name), a.name
    assert re.fullmatch(r"test_inv_raw_v14_zstd_zero_length_[0-9a-f]{10}\.py", b.name), b.name
    assert "('exact-page',)" in a.read_text() and "('zero-length',)" in b.read_text()
    again = _reproducer(Campaign("v14", "zstd", ("exact-page",)), config, _broken("a"),
                        ["state = PoolMachine()", "state.writeback()"], tmp_path)
    assert again == a
    # Another case whose name is taken (by a file that is not it): a name of its own.
    other_steps = ["state = PoolMachine()", "state.set_writeback(enabled=False)"]
    first = _reproducer(Campaign("v13", "lz4"), config, _broken("c"), other_steps, tmp_path)
    text = first.read_text()
    first.write_text("# someone else's file\n")
    second = _reproducer(Campaign("v13", "lz4"), config, _broken("c"), other_steps, tmp_path)
    assert second.name == first.name[:-3] + "_2.py" and first.read_text() == "# someone else's file\n"
    assert second.read_text() == text.replace(first.name, second.name)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_the_index_keeps_every_run_and_sets_an_unreadable_one_aside(tmp_path):
    from zswap_spec.fuzz.campaign import CampaignResult

    save_index([CampaignResult("v13", "lz4", [])], tmp_path)
    save_index([CampaignResult("v14", "zstd", ["exact-page"])], tmp_path)
    runs = json.loads((tmp_path / "campaigns.json").read_text())["runs"]
    assert [r["variant"] for r in runs] == ["v13", "v14"] and all(r["run"] for r in runs)
    (tmp_path / "campaigns.json").write_text("{not json")
    warned = []
    save_index([CampaignResult("uniform", "lz4", [])], tmp_path, warn=warned.append)
    assert [r["variant"] for r in json.loads((tmp_path / "campaigns.json").read_text())["runs"]] \
        == ["uniform"]
    (aside,) = tmp_path.glob("campaigns.unreadable-*.json")
    assert aside.read_text() == "{not json" and "kept as" in warned[0]


def test_two_runs_in_one_folder_keep_both_indexes_and_every_finding(tmp_path):
    args = ("fuzz", "--variant", "v14", "--compressor", "zstd", "--max-folio", "4", "--seed", "3",
            "--budget", "20", "--workers", "2", "--findings", str(tmp_path), "--db",
            str(tmp_path / "db"), "--json")
    first = run(*args, "--faults", "exact-page,zero-length")
    assert first.returncode == 1, first.stderr
    second = run(*args, "--faults", "oversize-report")
    assert second.returncode == 1, second.stderr
    runs = json.loads((tmp_path / "campaigns.json").read_text())["runs"]
    assert [r["faults"] for r in runs] == [["exact-page"], ["zero-length"], ["oversize-report"]]
    assert len({r["run"] for r in runs}) == 2
    files = [f["reproducer"] for r in runs for f in r["findings"]]
    assert len(files) == len(set(files)) == 3
    for r in runs:
        for f in r["findings"]:  # each listed reproducer is its own finding's file
            fault = r["faults"][0]
            assert fault.replace("-", "_") in Path(f["reproducer"]).name
            assert f"({fault!r},)" in Path(f["reproducer"]).read_text()


# -- 2. an unusable findings folder, refused before any campaign ----------------------

def _read_only_folder(tmp_path) -> str:
    if os.geteuid() == 0:  # root writes through permissions: a read-only file system
        return "/sys/kernel"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return str(ro)


@pytest.mark.parametrize("kind", ["file", "read-only", "uncreatable"])
def test_an_unusable_findings_folder_is_refused_before_any_campaign(kind, tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    folder = {"file": str(afile), "read-only": _read_only_folder(tmp_path),
              "uncreatable": "/proc/no-such/findings"}[kind]
    started = time.monotonic()
    p = run("fuzz", "--budget", "30", *CLEAN, "--findings", folder)
    assert p.returncode == 2 and p.stdout == ""
    assert f"--findings {folder}" in one_line(p.stderr)
    assert time.monotonic() - started < 20  # refused at once, not after 30 s of campaigns


# -- 3. Ctrl-C and SIGTERM ------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_stops_within_2_s_and_keeps_what_was_found(sig, tmp_path):
    """Campaigns that find something every second or so: on the signal the run stops
    within 2 s, writes no finding after it, prints the table and indexes every
    campaign (stopped, not run), and exits 130."""
    p = start("fuzz", "--variant", "v13", "--variant", "v14", "--compressor", "zstd",
              "--faults", "all", "--max-folio", "4", "--budget", "120", "--workers", "2",
              "--db", str(tmp_path / "db"), "--findings", str(tmp_path / "found"))
    try:
        wait_for(lambda: len(list((tmp_path / "found").glob("test_*.py"))) >= 2, 120,
                 "two findings")
        sent = time.time()
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
        took = time.time() - sent
    finally:
        end_session(p)
    assert p.returncode == 130, err
    assert took < 2.0, f"took {took:.1f} s to stop"
    assert "fuzz campaigns" in out and "not run" in out
    assert err.strip().splitlines()[-1].startswith("zswap-spec: interrupted")
    runs = json.loads((tmp_path / "found" / "campaigns.json").read_text())["runs"]
    plan = plan_campaigns(["v13", "v14"], ["zstd"], "all", 120, 2, None, 4)
    assert len(runs) == len(plan)  # every campaign of the plan, in the index
    assert any(r["status"] == "not run" for r in runs)
    listed = {f["reproducer"] for r in runs for f in r["findings"]}
    on_disk = set(map(str, (tmp_path / "found").glob("test_*.py")))
    assert listed and listed <= on_disk
    for path in on_disk:  # nothing written after the signal (a write under way may end)
        assert os.stat(path).st_mtime <= sent + 0.25, path
    time.sleep(1)
    assert set(map(str, (tmp_path / "found").glob("test_*.py"))) == on_disk


# -- 4. a worker killed --------------------------------------------------------------

def _kill_workers(p, times: int) -> None:
    killed: set[int] = set()
    for _ in range(times):
        fresh = wait_for(lambda: workers(p.pid) - killed, 120, "a worker")
        time.sleep(1.0)  # inside a campaign
        for w in fresh:
            os.kill(w, signal.SIGKILL)
        killed |= fresh


def test_campaigns_lost_with_a_killed_worker_run_again(tmp_path):
    p = start("fuzz", "--variant", "mainline", "--variant", "explicit", "--compressor", "lz4",
              "--budget", "8", "--workers", "1", "--findings", str(tmp_path), "--json")
    try:
        _kill_workers(p, 1)
        out, err = p.communicate(timeout=120)
    finally:
        end_session(p)
    assert p.returncode == 0, err
    assert "a worker process died (SIGKILL)" in err and "run again on fresh workers" in err
    runs = json.loads(out)["runs"]
    assert [r["status"] for r in runs] == ["done", "done"] and all(r["steps"] > 0 for r in runs)
    assert any("run again" in (r["note"] or "") for r in runs)


def test_campaigns_lost_twice_are_reported_not_run(tmp_path):
    p = start("fuzz", "--variant", "mainline", "--variant", "explicit", "--compressor", "lz4",
              "--budget", "20", "--workers", "1", "--findings", str(tmp_path), "--json")
    try:
        _kill_workers(p, 2)
        out, err = p.communicate(timeout=120)
    finally:
        end_session(p)
    assert p.returncode == 4, err
    assert "2 of 2 campaigns not run" in err.splitlines()[-1]
    runs = json.loads(out)["runs"]
    assert [r["status"] for r in runs] == ["not run", "not run"]
    assert all("died (SIGKILL) on both tries" in r["note"] for r in runs)
    assert len(json.loads((tmp_path / "campaigns.json").read_text())["runs"]) == 2


# -- 5. no process outlives the command ----------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_no_process_outlives_a_killed_command(sig, tmp_path):
    p = start("fuzz", *CLEAN, "--budget", "60", "--workers", "2", "--findings", str(tmp_path))
    try:
        wait_for(lambda: len(workers(p.pid)) == 2, 120, "two workers")
        tree = descendants(p.pid)
        assert len(tree) >= 3  # the fork server, its workers (and the resource tracker)
        p.send_signal(sig)
        p.wait(timeout=30)
        end = time.monotonic() + 5
        while (alive(tree) or session(p.pid)) and time.monotonic() < end:
            time.sleep(0.1)
        assert not alive(tree) and not session(p.pid), (alive(tree), session(p.pid))
    finally:
        end_session(p)


# -- 6. the budget is wall-clock time for the whole run --------------------------------

def test_the_budget_bounds_the_whole_run_whatever_the_workers(tmp_path):
    started = time.monotonic()
    p = run("fuzz", "--budget", "3", "--workers", "8", "--findings", str(tmp_path), "--json",
            "--db", str(tmp_path / "db"))
    took = time.monotonic() - started
    assert p.returncode in (0, 1), p.stderr
    runs = json.loads(p.stdout)["runs"]
    from zswap_spec.model.variants import VARIANTS

    assert len(runs) == len(VARIANTS) and all(r["status"] == "done" for r in runs)
    assert sum(r["steps"] for r in runs) > 0
    # (a failure found at the deadline is shrunk up to a second longer)
    assert all(r["seconds"] <= 3 + 1.5 for r in runs), ([r["seconds"] for r in runs], p.stderr[-20000:])
    assert took < 3 + 9, f"--budget 3 took {took:.1f} s"  # start-up on a shared machine


@pytest.mark.parametrize("args,needle", [
    (["--budget", "inf"], "--budget inf: give a number of seconds above 0 and at most 604800"),
    (["--budget", "nan"], "--budget nan: give a number of seconds above 0"),
    (["--budget", "1e300"], "--budget 1e+300: give a number of seconds above 0 and at most 604800"),
    (["--budget", "-1"], "--budget -1: give a number of seconds above 0"),
    (["--workers", "1000"], "--workers 1000: give 1 to 64, the most worker processes a run starts"),
])
def test_budgets_and_workers_out_of_range_are_refused(args, needle, tmp_path):
    p = run("fuzz", *args, "--findings", str(tmp_path))
    assert p.returncode == 2 and needle in one_line(p.stderr), p.stderr


# -- 7. options a mode does not take ----------------------------------------------------

@pytest.fixture
def finding(tmp_path) -> Path:
    f = tmp_path / "test_inv_raw_v14_zstd_exact_page_0123456789.py"
    f.write_text('"""zswap-spec finding: INV-RAW ..."""\nRECORDED = "INV-RAW"\n\n\n'
                 "def test_finding():\n    pass\n")
    return f


@pytest.mark.parametrize("args,first,second", [
    (["--per-unit", "--db", "DIR"], "--per-unit", "--db"),
    (["--per-unit", "--workers", "1"], "--per-unit", "--workers"),  # given, if the default
    (["--per-unit", "--compressor", "zstd"], "--per-unit", "--compressor"),
    (["--per-unit", "--faults", "all"], "--per-unit", "--faults"),
    (["--per-unit", "--impl", "model"], "--per-unit", "--impl"),
    (["--backend", "crosshair", "--max-folio", "4"], "--backend crosshair", "--max-folio"),
    (["--replay", "FINDING", "--budget", "5"], "--replay", "--budget"),
    (["--replay", "FINDING", "--workers", "2"], "--replay", "--workers"),
    (["--replay", "FINDING", "--db", "DIR"], "--replay", "--db"),
    (["--replay", "FINDING", "--findings", "DIR"], "--replay", "--findings"),
    (["--replay", "FINDING", "--per-unit"], "--replay", "--per-unit"),
    (["--replay", "FINDING", "--json"], "--replay", "--json"),
])
def test_an_option_the_mode_ignores_is_refused_naming_both(args, first, second, finding,
                                                          tmp_path):
    args = [str(finding) if a == "FINDING" else str(tmp_path / "d") if a == "DIR" else a
            for a in args]
    p = run("fuzz", *args)
    assert p.returncode == 2, p.stderr
    line = one_line(p.stderr)
    assert f"{first} and {second} do not go together" in line and f"drop {second}" in line
    assert not (tmp_path / "d").exists()


def test_the_options_a_mode_takes_are_accepted(finding, tmp_path):
    assert run("fuzz", "--replay", str(finding)).returncode == 0
    p = run("fuzz", "--per-unit", "--variant", "explicit", "--budget", "1", "--seed", "1",
            "--findings", str(tmp_path / "u"), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["runs"][0]["examples"] > 10
    # The per-unit run is indexed too.
    assert json.loads((tmp_path / "u" / "campaigns.json").read_text())["runs"][0]["variant"] \
        == "explicit"


# -- 8. replaying a saved finding -----------------------------------------------------

@pytest.mark.parametrize("text,needle", [
    ("this is not python (\n", "not a readable finding (SyntaxError"),
    ("", "not a readable finding (AttributeError"),
    ('"""zswap-spec finding: INV-RAW under v14."""\n\ndef test_finding():\n    assert 1 == 2\n',
     "the finding's own code fails (AssertionError"),
    ("def test_finding():\n    state.store()\n", "the finding's own code fails (NameError"),
    ('RECORDED = 42\n\ndef test_finding():\n    pass\n', "RECORDED is 42"),
    ('RECORDED = "INV-NOPE"\n\ndef test_finding():\n    pass\n', "RECORDED is 'INV-NOPE'"),
    ('import sys\nsys.exit(0)\n', "not a readable finding (SystemExit"),
    ('RECORDED = "INV-RAW"\n\ndef test_finding():\n    raise SystemExit(0)\n',
     "ends the process"),
    ('from zswap_spec.model.variants import get_variant\nRECORDED = "INV-RAW"\n\n'
     'def test_finding():\n    get_variant("v99")\n', "not a finding this version can run"),
])
def test_a_corrupt_finding_is_one_line_and_exit_2(text, needle, tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text(text)
    p = run("fuzz", "--replay", str(bad))
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert needle in one_line(p.stderr) and "re-run the campaign" in p.stderr


def test_replaying_a_folder_says_it_is_a_folder(tmp_path):
    p = run("fuzz", "--replay", str(tmp_path))
    assert p.returncode == 2
    assert "is a folder; give one finding file from it (test_*.py)" in one_line(p.stderr)


def test_a_crash_that_is_not_the_recorded_finding_is_internal_not_1(tmp_path):
    crash = tmp_path / "test_crash.py"
    crash.write_text('"""zswap-spec finding: INV-RAW under v14."""\n'
                     "from zswap_spec.model.decisions import DECISIONS\n"
                     'RECORDED = "INV-RAW"\n\n\ndef test_finding():\n'
                     '    DECISIONS["mainline"]("not a number", None, None)\n')
    p = run("fuzz", "--replay", str(crash), env={"ZSWAP_SPEC_CACHE": str(tmp_path / "cache")})
    assert p.returncode == 4, (p.stdout, p.stderr)
    assert "internal error" in one_line(p.stderr)
    # The same crash, when it is what the finding records: it still reproduces (1).
    crash.write_text(crash.read_text().replace('RECORDED = "INV-RAW"', 'RECORDED = "ERROR: TypeError"'))
    p = run("fuzz", "--replay", str(crash))
    assert p.returncode == 1 and "still reproduces: TypeError" in p.stdout, p.stderr


# -- 9. the environment --------------------------------------------------------------

def test_an_invalid_zswap_spec_impl_is_refused(tmp_path):
    p = run("fuzz", "--budget", "1", "--findings", str(tmp_path), env={"ZSWAP_SPEC_IMPL": "fast"})
    assert p.returncode == 2 and "ZSWAP_SPEC_IMPL" in one_line(p.stderr)
    assert not (tmp_path / "campaigns.json").exists()

"""An interrupted command prints what it had done, then exits 130 (cli/errors.py):
`check`, `prove`, `bench` and `script`, each run as a user runs it and stopped
with Ctrl-C (SIGINT) or SIGTERM once it has results.  Each test waits for a sign
that the results exist (worker processes, a worker's first answer, a progress
line, CPU time spent), not for a fixed time: the machine is slow and shared.

And a script that draws a few pages from a file of gigabytes (content "file")
reads those pages, not the file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from proctree import descendants, wait_gone

from zswap_spec.model.variants import VARIANTS

RUNS = 20 * len(VARIANTS)  # the check grid: 5 compressors x 2 writeback x 2 folio sizes each

SCRIPT = Path(sys.executable).with_name("zswap-spec")
CMD = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "zswap_spec"]
INTERRUPTED = "zswap-spec: interrupted"
TICK = os.sysconf("SC_CLK_TCK")


def _start(args, cwd=None) -> subprocess.Popen:
    return subprocess.Popen(CMD + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd)


def _wait_for(p: subprocess.Popen, condition, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if p.poll() is not None:
            pytest.fail(f"the command ended (exit {p.returncode}) before {what}")
        if time.monotonic() > deadline:
            p.kill()
            p.wait()
            pytest.fail(f"no sign of {what} within {timeout:.0f} s")
        time.sleep(0.1)


def _stop(p: subprocess.Popen, sig) -> tuple[str, str, float]:
    """Send `sig`; (stdout, stderr, seconds from the signal to the exit)."""
    kids = descendants(p.pid)
    p.send_signal(sig)
    t0 = time.monotonic()
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"still running 60 s after the signal: {err[-2000:]}")
    took = time.monotonic() - t0
    assert not wait_gone(kids), "processes of the command outlived it"
    return out, err, took


def _assert_interrupted(p: subprocess.Popen, err: str, took: float, extra=()) -> None:
    assert p.returncode == 130, err
    lines = [line for line in err.splitlines() if line and not line.startswith(tuple(extra))]
    assert lines == [INTERRUPTED], err
    assert took < 3, f"stopped {took:.1f} s after the signal"


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _workers_answered(pid: int) -> int:
    """How many of the command's pool workers have written anything: a worker writes
    nothing until it sends its first result back.  Workers are the fork server's
    children; the fork server and the resource tracker are the command's."""
    n = 0
    for kid in descendants(pid):
        try:
            ppid = int(Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            io = dict(line.split(": ") for line in Path(f"/proc/{kid}/io").read_text().splitlines())
        except (OSError, ValueError, IndexError):
            continue
        n += ppid != pid and int(io.get("wchar", "0")) > 0
    return n


# --- check ----------------------------------------------------------------------------

def test_check_stopped_by_sigterm_during_the_proofs_prints_the_grid_and_the_comparison():
    """Before: nothing printed, though the grid and its comparison were done."""
    p = _start(["check"])
    _wait_for(p, lambda: len(descendants(p.pid)) >= 2, "the proofs' workers (the grid done)")
    out, err, took = _stop(p, signal.SIGTERM)
    _assert_interrupted(p, err, took)
    assert "writeback enabled: outcomes" in out and "writeback disabled: outcomes" in out
    assert f"all {RUNS} configurations match the manifest" in out
    assert "interrupted during proofs; not run: fuzz, drivers, core" in out


def test_check_interrupted_with_json_gives_what_was_done_and_what_was_not():
    p = _start(["check", "--json"])
    _wait_for(p, lambda: _workers_answered(p.pid) >= 1, "a proved group")
    time.sleep(0.3)  # the answer crosses the pipe
    out, err, took = _stop(p, signal.SIGINT)
    _assert_interrupted(p, err, took)
    doc = json.loads(out)
    assert doc["interrupted"] is True and doc["running"] == "proofs"
    assert doc["not_run"] == ["fuzz", "drivers", "core"]
    assert len(doc["runs"]) == RUNS and doc["mismatches"] == [] and doc["findings"]
    assert doc["proofs"]["results"] >= 32 and doc["proofs"]["mismatches"] == []
    assert 0 < len(doc["proofs"]["not_run"]) < 3 * len(VARIANTS)
    assert doc["fuzz"] is None and doc["drivers"] is None and doc["core"] is None


def test_an_interrupt_in_the_grid_reports_the_configurations_done_and_writes_no_manifest(
        tmp_path, monkeypatch, capsys):
    from zswap_spec.cli import check

    manifest = tmp_path / "expected-check.toml"
    manifest.write_bytes(check.MANIFEST_PATH.read_bytes())
    real, calls = check.replay_pages, []

    def replay_pages(pages, cfg):
        calls.append(cfg)
        if len(calls) == 40:
            raise KeyboardInterrupt
        return real(pages, cfg)

    monkeypatch.setattr(check, "replay_pages", replay_pages)
    with pytest.raises(KeyboardInterrupt):
        check.run_check(as_json=True, update_manifest=True, manifest=manifest)
    assert manifest.read_bytes() == check.MANIFEST_PATH.read_bytes()
    doc = json.loads(capsys.readouterr().out)
    assert doc["interrupted"] is True and doc["running"] == "grid"
    assert doc["not_run"] == ["proofs", "fuzz", "drivers", "core"]
    assert 20 < len(doc["runs"]) < 40 and doc["mismatches"] == []  # compared, those done
    assert doc["proofs"] is None


# --- prove ----------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_prove_prints_the_groups_proved_and_names_the_others(sig):
    """Before: nothing printed (the pool's map gave no result until every group ended)."""
    p = _start(["prove", "--json", "--jobs", "2"])
    _wait_for(p, lambda: _workers_answered(p.pid) >= 1, "a proved group")
    time.sleep(0.3)  # the answer crosses the pipe
    out, err, took = _stop(p, sig)
    _assert_interrupted(p, err, took)
    doc = json.loads(out)
    assert doc["interrupted"] is True
    done = {(r["variant"], r["page_size"]) for r in doc["results"]}
    not_run = {(g["variant"], g["page_size"]) for g in doc["not_run"]}
    assert done and not_run and not done & not_run
    assert len(done | not_run) == 3 * len(VARIANTS)  # every variant at every page size
    per_group = {g: sum(1 for r in doc["results"] if (r["variant"], r["page_size"]) == g)
                 for g in done}
    assert set(per_group.values()) == {32}  # whole groups: 8 theorems x 4 assumption sets
    assert doc["mismatches"] == []


def test_an_interrupted_prove_prints_the_grid_so_far_and_never_rewrites_the_manifest():
    from zswap_spec.proofs.manifest import MANIFEST

    before = MANIFEST.read_bytes()
    p = _start(["prove", "--update-manifest", "--jobs", "2"])
    _wait_for(p, lambda: _workers_answered(p.pid) >= 1, "a proved group")
    time.sleep(0.3)
    out, err, took = _stop(p, signal.SIGINT)
    _assert_interrupted(p, err, took)
    assert "EQV-OUTCOME" in out and "(variant, page size) groups not run:" in out
    assert MANIFEST.read_bytes() == before


# --- bench ----------------------------------------------------------------------------

def _core_built() -> bool:
    from zswap_spec.pool import core_available

    return core_available()[0]


@pytest.mark.skipif(not _core_built(), reason="bench measures the optimized core: not built")
def test_bench_stopped_by_sigterm_prints_the_compressors_measured():
    """Before: nothing printed; the figures were printed when every compressor was done."""
    p = _start(["bench", "--pages", "2048", "--compressor", "lz4", "--compressor", "deflate",
                "--compressor", "zstd"])
    err_lines: list[str] = []
    reader = threading.Thread(target=lambda: err_lines.extend(p.stderr), daemon=True)
    reader.start()
    _wait_for(p, lambda: "measuring deflate ...\n" in err_lines, "lz4 measured")
    kids = descendants(p.pid)
    p.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    out = p.stdout.read()
    p.wait(timeout=60)
    took = time.monotonic() - t0
    reader.join(timeout=10)
    assert not wait_gone(kids)
    _assert_interrupted(p, "".join(err_lines), took, extra=("measuring ",))
    assert "raw C loop (compressor only)" in out and "core / raw C loop" in out
    head = next(line for line in out.splitlines() if line.strip().startswith("row"))
    assert head.split() == ["row", "lz4"]  # the compressor measured, and only it
    assert out.strip().splitlines()[-1] == "interrupted: not measured: deflate, zstd"


# --- script ---------------------------------------------------------------------------

def _long_script(path: Path, rounds: int = 1000) -> Path:
    """3 steps a round; each store 256 pages of (slow to make) random bytes."""
    parts = ['format = "zswap-spec-script/1"\n[start]\ncompressor = "lz4"\n']
    for i in range(rounds):
        parts.append(f'[[step]]\nop = "store"\nregion = "r{i}"\npages = 256\n'
                     f'content = "mostly-random"\nseed = {i}\n')
        parts.append(f'[[step]]\nop = "load"\nregion = "r{i}"\n')
        parts.append(f'[[step]]\nop = "free"\nregion = "r{i}"\n')
    path.write_text("\n".join(parts))
    return path


def test_a_script_stopped_by_sigterm_prints_the_steps_done(tmp_path):
    """Before: nothing printed; the steps were printed only at the end of the script."""
    script = _long_script(tmp_path / "long.toml")
    p = _start(["script", str(script)])
    _wait_for(p, lambda: _cpu_seconds(p.pid) > 4, "steps run")
    out, err, took = _stop(p, signal.SIGTERM)
    _assert_interrupted(p, err, took)
    last = out.strip().splitlines()[-1]
    assert last.startswith("interrupted after step ") and last.endswith(
        "of 3000; the steps before it are printed"), out[-500:]
    n = int(last.split()[3])
    assert 0 < n < 3000
    assert f"{n} steps; pool" in out and "r0 256/256 swapped" in out


def test_a_script_interrupted_with_json_gives_the_records_done(tmp_path):
    script = _long_script(tmp_path / "long.toml")
    p = _start(["script", str(script), "--json"])
    _wait_for(p, lambda: _cpu_seconds(p.pid) > 4, "steps run")
    out, err, took = _stop(p, signal.SIGINT)
    _assert_interrupted(p, err, took)
    doc = json.loads(out)
    assert doc["interrupted"] is True
    ops = [s["op"] for s in doc["steps"]]
    assert ops[0] == "start" and 1 < len(ops) < 3001 and ops[1:4] == ["store", "load", "free"]


def test_a_long_trace_prints_every_step_as_plain_columns_in_the_console_width(tmp_path):
    """Rich lays a table out at ~2 ms a row: a trace of thousands of steps printed after
    an interrupt would take seconds."""
    parts = ['format = "zswap-spec-script/1"\n']
    for i in range(120):
        parts.append(f'[[step]]\nop = "store"\nregion = "r{i}"\npages = 4\ncontent = "text"\n'
                     f'seed = {i}\n[[step]]\nop = "load"\nregion = "r{i}"\n'
                     f'[[step]]\nop = "free"\nregion = "r{i}"\n')
    (tmp_path / "s.toml").write_text("\n".join(parts))
    p = subprocess.run(CMD + ["script", str(tmp_path / "s.toml")], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[1].split() == ["step", "op", "changed", "cgroups", "regions"]
    steps = [line.split()[0] for line in lines[3:-1] if line[:4].strip().isdigit()]
    assert steps == [str(n) for n in range(1, 361)]
    assert max(map(len, lines)) <= 200  # the width of piped output (support/console.py)
    assert lines[-1].startswith("360 steps; pool ")


def test_a_script_reads_only_the_pages_it_uses_of_a_large_sparse_file(tmp_path):
    """Before: the whole file was read (6 GiB in memory, or a MemoryError)."""
    big = tmp_path / "big.img"
    with open(big, "wb") as f:
        f.truncate(6 << 30)
        f.seek((3 << 30) + 5)
        f.write(b"zswap")  # one page of the file that is not zero
    script = tmp_path / "s.toml"
    script.write_text('format = "zswap-spec-script/1"\n[[step]]\nop = "store"\nregion = "r"\n'
                      'pages = 64\ncontent = "file"\nfile = "big.img"\nseed = 7\n'
                      '[[step]]\nop = "load"\nregion = "r"\n')
    # Peak RSS of the command alone, from a parent that runs nothing else.
    rss = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
           "sys.stderr.write(f'\\nRSS {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}"
           " RC {p.returncode}\\n')")
    p = subprocess.run([sys.executable, "-c", rss] + CMD + ["script", str(script), "--json"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    words = p.stderr.strip().splitlines()[-1].split()
    assert words[0] == "RSS" and words[3] == "0", p.stderr
    doc = json.loads(p.stdout)
    assert doc["steps"][1]["record"]["regions"]["r"]["pages"] == 64
    assert int(words[1]) < 200 * 1024, f"peak RSS {int(words[1]) // 1024} MiB"


def test_file_pages_are_read_one_by_one_and_equal_the_files_bytes(tmp_path):
    from zswap_spec.kernel.script import MAX_REGION_PAGES, PAGE_SIZE, Corpus

    data = os.urandom(3 * PAGE_SIZE + 100)
    (tmp_path / "f.bin").write_bytes(data)
    corpus = Corpus({})
    key = corpus.add_file(tmp_path / "f.bin")
    pages = corpus.sections[key]
    assert len(pages) == 4 and pages[3] == data[3 * PAGE_SIZE:] + bytes(PAGE_SIZE - 100)
    assert corpus.blob() == data + bytes(PAGE_SIZE - 100)  # the guest's copy: every page
    assert corpus.index() == f"{key} 0 4\n"
    with open(tmp_path / "big.img", "wb") as f:
        f.truncate((MAX_REGION_PAGES + 10) * PAGE_SIZE)
    assert len(corpus.sections[corpus.add_file(tmp_path / "big.img")]) == MAX_REGION_PAGES

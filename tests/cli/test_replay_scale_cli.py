"""`zswap-spec replay --threads/--sizes-only/--each-file` and `bench --replay`, as a
user runs them: the same results whatever the threads, sizes only keeping every
figure but what needs the bytes, a fleet's runs naming their files, refusals as
one line and exit 2."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zswap_spec.model.variants import VARIANTS
from zswap_spec.replay.sample import boundary_page

SCRIPT = Path(sys.executable).with_name("zswap-spec")
CORE = ["--variant", "mainline", "--variant", "v13", "--variant", "v14", "--variant", "explicit",
        "--variant", "uniform"]


def run(*args, timeout=300, **kw):
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "zswap_spec"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def runs_of(p) -> list[dict]:
    assert p.returncode in (0, 1), p.stderr
    return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(p.stdout)["runs"]]


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    """Two files of mixed pages: text, shared-library code, zero, random, exact fits;
    the first over two chunks of 16 MiB."""
    d = tmp_path_factory.mktemp("dumps")
    rng = random.Random(7)
    text = Path(os.__file__).read_bytes()
    code = Path(sys.executable).resolve().read_bytes()
    out = []
    for mib, name in ((20, "a.bin"), (1, "b.bin")):
        parts = []
        size = 0
        while size < mib << 20:
            kind = rng.random()
            at = rng.randrange(0, max(1, len(code) - 65536))
            part = (text[:65536] if kind < 0.4 else code[at:at + 65536] if kind < 0.7
                    else bytes(65536) if kind < 0.85 else rng.randbytes(65536))
            parts.append(part)
            size += len(part)
        parts += [p for p in (boundary_page("lz4", 4096), boundary_page("zstd", 4095)) if p]
        path = d / name
        path.write_bytes(b"".join(parts))
        out.append(path)
    return out


def test_two_threads_give_one_threads_runs(dumps):
    one = run("replay", dumps[0], *CORE, "--writeback", "both", "--impl", "core", "--json")
    two = run("replay", dumps[0], *CORE, "--writeback", "both", "--impl", "core", "--threads",
              "2", "--json")
    assert runs_of(one) == runs_of(two)
    assert len(runs_of(one)) == 10


def test_sizes_only_gives_every_figure_but_what_needs_the_bytes(dumps):
    full = runs_of(run("replay", dumps[0], *CORE, "--writeback", "off", "--json"))
    sizes = runs_of(run("replay", dumps[0], *CORE, "--writeback", "off", "--sizes-only", "--json"))
    for f, s in zip(full, sizes):
        assert s.pop("sizes_only") is True and "sizes_only" not in f
        for key in ("zero_filled", "stored_compressed", "stored_raw", "rejected", "counters",
                    "memory_stat", "pool_bytes", "differs_from_mainline"):
            assert s.get(key) == f.get(key), (f["variant"], key)
        kept = {k: n for k, n in f["violations"].items() if k not in ("INV-RAW", "INV-ROUNDTRIP")}
        assert s["violations"] == kept
    assert any(f["violations"] for f in full)  # v13 and v14 break something here
    table = run("replay", dumps[1], "--variant", "mainline", "--sizes-only")
    assert table.returncode == 0, table.stderr
    assert "sizes only: nothing was read back" in table.stdout


def test_each_file_replays_a_fleet_and_names_each_runs_file(dumps):
    fleet = runs_of(run("replay", *dumps, "--variant", "mainline", "--variant", "v14",
                        "--each-file", "--json"))
    assert [r["input"] for r in fleet] == [str(dumps[0])] * 2 + [str(dumps[1])] * 2
    for path in dumps:
        alone = runs_of(run("replay", path, "--variant", "mainline", "--variant", "v14", "--json"))
        assert [{k: v for k, v in r.items() if k != "input"} for r in fleet
                if r["input"] == str(path)] == alone
    together = runs_of(run("replay", *dumps, "--variant", "mainline", "--json"))
    assert "input" not in together[0]
    assert together[0]["pages"] == sum(r["pages"] for r in fleet if r["variant"] == "mainline")


def test_a_run_on_the_model_is_said_not_to_share(dumps):
    p = run("replay", dumps[1], "--variant", "mainline", "--variant", "v14len", "--json")
    assert p.returncode in (0, 1), p.stderr
    assert "1 of 2 runs are on the model (v14len), which shares no compression" in p.stderr


@pytest.mark.parametrize("args,needle", [
    (["--threads", "0"], "--threads 0 is out of range; use 1 to 8"),
    (["--threads", "9"], "--threads 9 is out of range; use 1 to 8"),
    (["--sizes-only", "--variant", "v14len"],
     "--sizes-only runs on the optimized core, and the variant v14len runs on the model"),
    (["--sizes-only", "--impl", "model"], "--sizes-only runs on the optimized core"),
    (["--cluster", "not-an-address"], "not-an-address"),
])
def test_bad_options_are_one_line_and_exit_2(dumps, args, needle):
    p = run("replay", dumps[1], *args, timeout=60)
    assert p.returncode == 2, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln and not ln.startswith("zswap-spec: note:")]
    assert len(lines) == 1 and needle in lines[0], p.stderr


def test_sizes_only_refuses_a_stream_in_one_line():
    p = run("replay", "/dev/zero", "--variant", "mainline", "--sizes-only", timeout=60)
    assert p.returncode == 2
    assert "/dev/zero: --sizes-only needs a file" in p.stderr and "Traceback" not in p.stderr


def test_bench_replay_prints_each_figure_beside_the_raw_loops():
    p = run("bench", "--replay", "--mib", "16", "--repeat", "1", "--json", timeout=600)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["config"]["mib"] == 16 and out["raw_loop"]["seconds"] > 0
    assert out["python_loop"]["seconds"] > 0
    # Two loops at once did twice the work: the machine's two-core figure is their
    # throughput over one loop's, and replay's thread speed-up is put beside it.
    pair = out["raw_pair"]["seconds"]
    assert pair > 0
    want = 2 * out["raw_loop"]["seconds"] / pair  # of seconds rounded to the millisecond
    assert abs(out["ratios"]["machine_two_cores"] - want) < 0.05 * want
    assert abs(out["ratios"]["threads_vs_machine"] - out["ratios"]["threads_speedup"]
               / out["ratios"]["machine_two_cores"]) < 0.01
    assert "two raw C loops at once" in run("bench", "--replay", "--mib", "16", "--repeat", "1",
                                            timeout=600).stdout
    rows = out["replay"]
    assert set(rows) == {"one_1_thread", "one_2_threads", "all_1_thread", "all_2_threads",
                         "one_sizes_only", "all_sizes_only"}
    assert rows["all_1_thread"]["runs"] == 10 and rows["one_1_thread"]["runs"] == 1
    assert rows["all_1_thread"]["pool_mib"] > rows["one_1_thread"]["pool_mib"] > 0
    assert rows["one_sizes_only"]["peak_mib"] < rows["one_1_thread"]["peak_mib"] + 1
    for key, value in out["ratios"].items():
        assert value > 0, key
    assert set(out["met"]) <= set(out["ratios"])
    assert not [p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("zswap-spec-bench-*")]


@pytest.mark.parametrize("args,needle", [
    (["--replay", "--pages", "100"], "--pages does not apply to --replay"),
    (["--mib", "64"], "--mib sizes the input of --replay; give --replay too"),
    (["--replay", "--compressor", "lz4", "--compressor", "zstd"], "--replay measures one compressor"),
    (["--replay", "--mib", "1"], "--mib 1 is out of range"),
])
def test_bench_replay_refuses_what_does_not_apply(args, needle):
    p = run("bench", *args, timeout=60)
    assert p.returncode == 2 and needle in p.stderr, p.stderr


def _interrupted(args, after: float, sig=signal.SIGINT):
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "zswap_spec"]
    p = subprocess.Popen(cmd + [str(a) for a in args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    return p, out, err


@pytest.mark.parametrize("after", [0.1, 0.8, 1.5])
def test_an_interrupt_on_two_threads_prints_what_was_done(dumps, after):
    p, out, err = _interrupted(["replay", dumps[0], "--threads", "2", "--writeback", "both",
                                "--json"], after)
    if p.returncode in (0, 1):
        return  # it ended first: nothing to interrupt on this machine
    assert p.returncode == 130, err
    assert "Traceback" not in err and err.strip().endswith("interrupted")
    if out:  # (an interrupt while the command loads says so in one line, and no more)
        doc = json.loads(out)
        pages = -(-dumps[0].stat().st_size // 4096)  # a partial last page is padded
        if "interrupted" in doc:  # what was done when it stopped
            assert doc["interrupted"] is True
            assert all(0 <= r["pages"] <= pages for r in doc["runs"])
        else:  # the run ended as the signal came: the report printed whole, then 130
            assert len(doc["runs"]) == 2 * len(VARIANTS)  # every variant, writeback on and off
            assert all(r["pages"] == pages for r in doc["runs"])
    left = subprocess.run(["pgrep", "-f", f"replay {dumps[0]}"], capture_output=True, text=True)
    assert left.stdout.strip() == ""


def test_an_interrupted_bench_prints_its_figures_and_leaves_nothing(tmp_path):
    env_tmp = tmp_path / "tmp"
    env_tmp.mkdir()
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "zswap_spec"]
    p = subprocess.Popen(cmd + ["bench", "--replay", "--mib", "32", "--repeat", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "TMPDIR": str(env_tmp), "COLUMNS": "200"})
    said = []
    for line in p.stderr:  # its progress: interrupt it once the loops are measured
        said.append(line)
        if "measuring: replay one 2 threads" in line:
            p.send_signal(signal.SIGINT)
            break
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, "".join(said) + err
    assert "raw loop: compress and decompress every page (C)" in out
    assert "replay, mainline, 1 thread" in out
    assert "interrupted: not measured:" in out and "all_sizes_only" in out
    time.sleep(0.5)
    assert list(env_tmp.iterdir()) == []
    left = subprocess.run(["pgrep", "-f", str(env_tmp)], capture_output=True, text=True)
    assert left.stdout.strip() == ""

"""`zswap-spec fuzz` as a user runs it: campaigns, JSON, saved findings and
their replay, the example database in a folder or a real Redis server, and
bad input."""

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("zswap-spec")


def run(*args, timeout=300, cwd=None):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def test_fuzz_json_finds_and_saves_a_replayable_finding(tmp_path):
    findings = tmp_path / "found"
    p = run("fuzz", "--variant", "v14", "--compressor", "zstd", "--faults", "exact-page",
            "--budget", "20", "--seed", "3", "--max-folio", "4", "--db", str(tmp_path / "db"),
            "--findings", str(findings), "--json")
    assert p.returncode == 1, p.stderr
    (r,) = json.loads(p.stdout)["runs"]
    for key in ("variant", "compressor", "faults", "examples", "steps", "seconds", "findings"):
        assert key in r
    assert r["faults"] == ["exact-page"] and r["steps"] > 0
    (f,) = r["findings"]
    assert f["invariant"] == "INV-RAW" and Path(f["reproducer"]).is_file() and f["description"]
    assert (findings / "campaigns.json").is_file()
    assert any((tmp_path / "db").rglob("*"))  # the example database kept it
    again = run("fuzz", "--replay", f["reproducer"])
    assert again.returncode == 1 and "still reproduces: INV-RAW" in again.stdout
    # The saved reproducer is a plain pytest test too.
    t = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f["reproducer"]], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert t.returncode == 1 and "INV-RAW" in t.stdout


def test_clean_campaign_with_two_workers_exits_0(tmp_path):
    p = run("fuzz", "--variant", "explicit", "--variant", "uniform", "--compressor", "lz4",
            "--budget", "4", "--workers", "2", "--findings", str(tmp_path), "--json")
    assert p.returncode == 0, p.stderr
    runs = json.loads(p.stdout)["runs"]
    assert [r["variant"] for r in runs] == ["explicit", "uniform"]
    assert all(r["findings"] == [] and r["steps"] > 100 for r in runs)


@pytest.mark.parametrize("args,needle", [
    (["--variant", "v99"], "unknown variant 'v99'"),
    (["--compressor", "lzo"], "unknown compressor 'lzo'"),
    (["--faults", "gremlins"], "unknown fault 'gremlins'; choose from: zero-length"),
    (["--budget", "0"], "--budget 0: give a number of seconds above 0"),
    (["--budget", "soon"], "'soon' is not a valid float"),
    (["--workers", "0"], "--workers 0: give 1 to 64"),
    (["--db", "http://example/0"], "not a database URL; use redis://HOST:PORT/N"),
    (["--db", "redis://127.0.0.1:notaport/0"], "must be integers"),
    (["--db", "redis://127.0.0.1:1/0"], "cannot reach Redis"),
    (["--faults", "partial-batch"], "need a batching compressor"),
    (["--replay", "/no/such/finding.py"], "no such finding file"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    if "--replay" in args:  # a replay takes no other option
        p = run("fuzz", *args)
    elif "--budget" in args:
        p = run("fuzz", "--findings", str(tmp_path), *args)
    else:
        p = run("fuzz", "--budget", "1", "--findings", str(tmp_path), *args)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.count("\n") == 1 and needle in p.stderr, p.stderr


def test_the_implementation_follows_the_one_rule(tmp_path):
    """auto: the campaigns want memory.zswap.max and the shrinker, so the model
    (said once on stderr); --impl core runs the core's machine; a fault the core
    lacks is refused by name."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "ZSWAP_SPEC_IMPL"}
    args = ("fuzz", "--variant", "mainline", "--budget", "1", "--findings", str(tmp_path), "--json")
    auto = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env)
    assert auto.returncode == 0, auto.stderr
    assert [r["impl"] for r in json.loads(auto.stdout)["runs"]] == ["model"]
    assert auto.stderr.count("the model serves") == 1 and "memory.zswap.max" in auto.stderr
    core = subprocess.run([str(SCRIPT), *args, "--impl", "core"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert core.returncode == 0, core.stderr
    assert [r["impl"] for r in json.loads(core.stdout)["runs"]] == ["core"] and core.stderr == ""
    lacking = run(*args, "--impl", "core", "--faults", "wrong-output")
    assert lacking.returncode == 2 and lacking.stderr.count("\n") == 1
    assert "does not implement the fault 'wrong-output'; use the model (--impl model" in lacking.stderr


def test_a_corrupt_finding_leaves_the_others_untouched(tmp_path):
    good = tmp_path / "test_good.py"
    good.write_text("def test_finding():\n    pass\n")
    bad = tmp_path / "test_bad.py"
    bad.write_text("this is not python (\n")
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    p = run("fuzz", "--replay", str(bad))
    assert p.returncode == 2 and "not a readable finding" in p.stderr
    assert run("fuzz", "--replay", str(good)).returncode == 0
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (./dev.sh test installs it as root)")
    port = _free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        for _ in range(50):
            try:
                client.ping()
                break
            except Exception:
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0", client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_campaigns_share_findings_through_redis(redis_url, tmp_path):
    url, client = redis_url
    args = ("fuzz", "--variant", "v14", "--compressor", "zstd", "--faults", "zero-length",
            "--budget", "20", "--seed", "9", "--max-folio", "4", "--db", url, "--json")
    first = run(*args, "--findings", str(tmp_path / "a"))
    assert first.returncode == 1, first.stderr
    keys = client.keys("zswap-spec:*")
    assert keys, "the counterexample was not stored in Redis"
    # A second machine (here: another run, other findings folder, no seed)
    # starts from the shared database and finds it again at once.
    second = run(*args[:-3], "--db", url, "--json", "--findings", str(tmp_path / "b"))
    (r,) = json.loads(second.stdout)["runs"]
    assert r["findings"] and r["findings"][0]["invariant"] == "INV-ALLOC"
    assert r["findings"][0]["seconds_to_find"] < 20


@pytest.mark.parametrize("backend", ["crosshair", "hypothesis"])
def test_per_unit_properties_with_either_backend(backend, tmp_path):
    p = run("fuzz", "--per-unit", "--backend", backend, "--variant", "v13", "--variant", "explicit",
            "--budget", "8", "--findings", str(tmp_path), "--json")
    assert p.returncode == 1, p.stderr
    runs = {r["variant"]: r for r in json.loads(p.stdout)["runs"]}
    assert runs["explicit"]["findings"] == [] and runs["explicit"]["examples"] > 10
    (f,) = runs["v13"]["findings"]
    assert f["invariant"] in ("EQV-OUTCOME", "EQV-COUNTERS")
    again = run("fuzz", "--replay", f["reproducer"])
    assert again.returncode == 1 and "still reproduces" in again.stdout
    t = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f["reproducer"]], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert t.returncode == 1

"""`zswap-spec fuzz --cluster ADDRESS` as a user runs it, against a Dask cluster of two
worker processes on this machine: the same table, JSON, findings and index as a
run here; bad addresses and options; an interrupt; a worker killed mid-campaign."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster  # noqa: E402

SCRIPT = Path(sys.executable).with_name("zswap-spec")

# v13 with zero-length output finds a broken invariant within a second or two
# (seeded); explicit checks the length and finds nothing.
CAMPAIGNS = ["--variant", "v13", "--variant", "explicit", "--compressor", "lz4",
             "--faults", "zero-length", "--seed", "3", "--max-folio", "2"]


def run(*args, timeout=120):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as c:
        yield c


def _shape(doc):
    """What must agree between a run here and one on the cluster."""
    return [(r["variant"], r["compressor"], r["faults"], r["impl"], r["status"], sorted(r),
             [sorted(f) for f in r["findings"]], bool(r["findings"])) for r in doc["runs"]]


def test_campaigns_on_the_cluster_give_what_a_run_here_gives(cluster, tmp_path):
    here, there, db = tmp_path / "here", tmp_path / "there", tmp_path / "db"
    local = run("fuzz", *CAMPAIGNS, "--budget", "6", "--workers", "2", "--db", str(db),
                "--findings", str(here), "--json")
    remote = run("fuzz", *CAMPAIGNS, "--budget", "6", "--db", str(db), "--findings", str(there),
                 "--json", "--cluster", cluster.scheduler_address)
    assert local.returncode == 1, local.stderr
    assert remote.returncode == 1, remote.stderr
    assert "give --db redis://HOST:PORT/N to share them across machines" in remote.stderr
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert _shape(a) == _shape(b)
    assert [r["variant"] for r in b["runs"]] == ["v13", "explicit"]
    assert b["runs"][0]["steps"] > 0 and b["runs"][1]["steps"] > 100
    # The finding saved here, under the name a run here gives it, and it replays.
    (f,) = b["runs"][0]["findings"]
    path = Path(f["reproducer"])
    assert path.parent == there and path.is_file()
    assert re.fullmatch(r"test_inv_\w+_v13_lz4_zero_length_[0-9a-f]+\.py", path.name), path.name
    assert f"zswap-spec fuzz --replay {path.name}" in path.read_text()
    shown = sorted(p.name for p in there.iterdir() if not p.name.startswith("."))
    assert shown == ["campaigns.json", path.name]
    assert {p.name for p in there.iterdir()} == {p.name for p in here.iterdir()} | {path.name} \
        - {p.name for p in here.glob("test_*")}
    index = json.loads((there / "campaigns.json").read_text())["runs"]
    assert [e["variant"] for e in index] == ["v13", "explicit"] and all("run" in e for e in index)
    again = run("fuzz", "--replay", str(path))
    assert again.returncode == 1 and "still reproduces: INV-" in again.stdout, again.stdout


@pytest.mark.parametrize("args,needle", [
    (["--cluster", "not-an-address"], "--cluster: 'not-an-address' is not a Dask scheduler's "
                                      "address"),
    (["--cluster", ""], "--cluster: no scheduler address given; start one with `dask scheduler`"),
    (["--workers", "3", "--cluster", "tcp://127.0.0.1:8786"],
     "--cluster and --workers 3 do not go together"),
    (["--per-unit", "--cluster", "tcp://127.0.0.1:8786"],
     "--per-unit and --cluster do not go together"),
], ids=["malformed", "empty", "workers", "per-unit"])
def test_bad_cluster_input_is_one_line_and_exit_2(args, needle, tmp_path):
    t = time.monotonic()
    p = run("fuzz", "--budget", "1", "--findings", str(tmp_path), *args)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.count("\n") == 1 and needle in p.stderr, p.stderr
    assert time.monotonic() - t < 12


def test_an_interrupt_stops_the_campaigns_on_the_workers(cluster, tmp_path):
    """SIGINT: exit 130 within seconds, the running campaigns' own counts, the one
    not started said so, the index written, and the workers idle again."""
    p = subprocess.Popen([str(SCRIPT), "fuzz", "--variant", "explicit", "--variant", "uniform",
                          "--variant", "mainline", "--compressor", "lz4", "--budget", "60",
                          "--findings", str(tmp_path), "--json",
                          "--cluster", cluster.scheduler_address],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with Client(cluster.scheduler_address, set_as_default=False) as watcher:
        until = time.monotonic() + 30  # both workers busy with a campaign
        while sum(map(len, watcher.processing().values())) < 2 and time.monotonic() < until:
            time.sleep(0.1)
        time.sleep(1.5)
        t = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - t
        assert p.returncode == 130, err
        assert took < 5, took
        doc = json.loads(out)
        assert doc["interrupted"] is True
        statuses = [r["status"] for r in doc["runs"]]
        assert statuses[:2] == ["stopped", "stopped"], doc
        assert all(r["examples"] > 0 for r in doc["runs"][:2]), doc
        assert doc["runs"][2]["status"] in ("not run", "stopped")
        assert len(json.loads((tmp_path / "campaigns.json").read_text())["runs"]) == 3
        until = time.monotonic() + 5
        while any(watcher.processing().values()) and time.monotonic() < until:
            time.sleep(0.1)
        assert not any(watcher.processing().values())


def test_a_campaign_whose_worker_is_killed_runs_again(tmp_path):
    """A worker process killed during its campaign: the scheduler runs the campaign
    again on a worker, and the run ends as if nothing happened."""
    def executing(dask_worker):
        return [str(ts.key) for ts in dask_worker.state.executing]

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as c, \
            Client(c.scheduler_address, set_as_default=False) as watcher:
        pids = watcher.run(os.getpid)
        killed = []

        def kill_one():
            until = time.monotonic() + 30
            while time.monotonic() < until:
                for worker, keys in watcher.run(executing).items():
                    if any(k.startswith("zswap-fuzz-") for k in keys):
                        time.sleep(1.0)
                        os.kill(pids[worker], signal.SIGKILL)
                        killed.append(worker)
                        return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_one, daemon=True)
        killer.start()
        p = run("fuzz", "--variant", "explicit", "--compressor", "lz4", "--budget", "4",
                "--findings", str(tmp_path), "--json", "--cluster", c.scheduler_address)
        killer.join(5)
    assert killed
    assert p.returncode == 0, p.stderr
    (r,) = json.loads(p.stdout)["runs"]
    assert r["status"] == "done" and r["steps"] > 0 and r["findings"] == []

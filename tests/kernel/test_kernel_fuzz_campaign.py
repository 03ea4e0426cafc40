"""A short kernel-fuzz campaign with a fixed seed on Linux 7.3.4 under qemu:
generated scripts on the kernel and the model agree at every step, and the
campaign reaches what it is built to reach (several operation kinds, folios
of more than one page, cgroups three levels deep).  Longer campaigns:
`zswap-spec kernel-fuzz --budget 600` (README)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ZSWAP_SPEC = Path(sys.executable).with_name("zswap-spec")
BUDGET = os.environ.get("ZSWAP_SPEC_KFUZZ_BUDGET", "90")

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                                 reason="needs qemu-system-x86")]


def test_a_fixed_seed_campaign_finds_no_disagreement(tmp_path):
    proc = subprocess.run([str(ZSWAP_SPEC), "kernel-fuzz", "--kernel", "debian:7.3",
                           "--compressor", "lz4", "--budget", BUDGET, "--seed", "1",
                           "--findings", str(tmp_path), "--json"],
                          capture_output=True, text=True, timeout=float(BUDGET) + 600)
    if proc.returncode == 2:
        pytest.skip(f"kernel-fuzz could not start: {proc.stderr.strip()[-300:]}")
    (run,) = json.loads(proc.stdout)["runs"]
    print(f"campaign: {run['scripts']} scripts, {run['steps']} steps in {run['seconds']} s, "
          f"{run['boots']} boot(s) {run['boot_seconds']} s; ops {run['ops']}; "
          f"folio sizes {run['folio_sizes']}; reaching {run['scripts_reaching']}; "
          f"not compared {run['not_compared_why']}")
    assert proc.returncode == 0, (run["disagreements"], run["guest_failures"], run["error"])
    assert run["disagreements"] == [] and run["guest_failures"] == [] and run["error"] is None
    assert run["steps"] >= 300 and len(run["ops"]) >= 9, run["ops"]
    assert run["cgroup_levels"] >= 3
    assert any(int(size) > 1 for size in run["folio_sizes"]), run["folio_sizes"]


def test_an_interrupted_campaign_reports_what_it_did_and_leaves_no_guest(tmp_path):
    import signal
    import time

    from proctree import descendants, wait_gone

    proc = subprocess.Popen([str(ZSWAP_SPEC), "kernel-fuzz", "--kernel", "debian:7.3",
                             "--compressor", "lz4", "--budget", "600", "--seed", "2",
                             "--findings", str(tmp_path), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if any(_comm(k).startswith("qemu") for k in descendants(proc.pid)):
            break
        time.sleep(1)
    time.sleep(20)  # the guest is running scripts
    kids = descendants(proc.pid)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    if proc.returncode == 2:
        pytest.skip(f"kernel-fuzz could not start: {err.strip()[-300:]}")
    assert proc.returncode == 130, err[-2000:]
    assert took < 5, f"stopped {took:.1f} s after the signal"
    report = json.loads(out)
    assert report["interrupted"] is True and len(report["runs"]) == 1
    assert "Traceback" not in err
    assert any(_comm(k).startswith("qemu") for k in kids), "no guest was running"
    assert not wait_gone(kids), "a worker or qemu outlived kernel-fuzz"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return ""

"""Real kernels under qemu: Debian's current 7.x kernel, fetched and cached,
checked against the model with lz4, zstd and deflate, writeback on and off,
with memory.zswap.max forcing writeback, and with a global pool limit of 1 %
filled past it (the shrink worker's runs included); a hanging guest.

These need qemu-system-x86, busybox-static and the Debian archive (the
README's `./dev.sh test` installs the tools when run as root); without them
they are skipped, saying why.  Downloads and builds are cached
(~/.cache/zswap-spec, or ZSWAP_SPEC_CACHE).
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

MISSING = [t for t in ("qemu-system-x86_64", "busybox", "apt-get", "dpkg", "depmod", "gcc")
           if shutil.which(t) is None]
if MISSING:
    pytest.skip(f"kernel checks need {', '.join(MISSING)} (run ./dev.sh test as root to "
                f"install qemu-system-x86 busybox-static kmod)", allow_module_level=True)

SCRIPT = Path(sys.executable).with_name("zswap-spec")
KERNEL = "debian:7.3"


def kernel_check(*args, timeout=1500):
    p = subprocess.run([str(SCRIPT), "kernel-check", "--kernel", KERNEL, "--json", *args],
                       capture_output=True, text=True, timeout=timeout)
    assert p.stdout, p.stderr
    return p.returncode, json.loads(p.stdout)["runs"], p.stderr


def test_debian_7x_agrees_with_the_model_for_every_compressor_and_writeback():
    rc, runs, err = kernel_check("--compressor", "lz4", "--compressor", "zstd",
                                 "--compressor", "deflate", "--writeback", "both")
    summary = [(r["compressor"], r["writeback"], r["agree"], r["disagreements"][:3], r["error"])
               for r in runs]
    assert rc == 0, (summary, err)
    assert {(r["compressor"], r["writeback"]) for r in runs} == {
        (c, wb) for c in ("lz4", "zstd", "deflate") for wb in (True, False)}
    for r in runs:
        assert r["agree"] and r["release"].startswith("7.")
        assert r["model_compressor"].startswith("kernel"), "exact sizes need the kernel's compressors"
        after = r["kernel_counters"]["after-random"]["counters"]
        if r["writeback"]:  # random pages stored as-is
            assert after["stored_incompressible_pages"] >= 8
        else:  # ... or rejected, with the compressor's counter
            key = "reject_compress_poor" if r["compressor"] == "deflate" else "reject_compress_fail"
            assert after[key] >= 8
        assert r["kernel_counters"]["after-readback"]["counters"]["stored_pages"] == 0


def test_zswap_max_forces_writeback_and_the_model_agrees():
    rc, runs, err = kernel_check("--compressor", "lz4", "--zswap-max", "40000")
    (r,) = runs
    assert rc == 0 and r["agree"], (r["disagreements"][:5], r["error"], err)
    final = r["kernel_counters"]["after-mixed"]["counters"]
    assert final["written_back_pages"] > 0
    assert r["kernel_counters"]["after-mixed"]["memcg"]["zswpwb"] == final["written_back_pages"]


def test_the_global_pool_limit_and_its_shrink_worker_agree_with_the_model():
    from zswap_spec.kernel.compare import compare, predict
    from zswap_spec.kernel.fetch import resolve_kernel
    from zswap_spec.kernel.logparse import parse_log
    from zswap_spec.kernel.run import POOL_LIMIT_MEMORY_MIB, model_algorithms
    from zswap_spec.kernel.streams import add_pool_fill, builtin_stream, pool_fill_pages

    rc, runs, err = kernel_check("--compressor", "lz4", "--max-pool-percent", "1",
                                 "--writeback", "both")
    summary = [(r["writeback"], r["agree"], r["disagreements"][:5], r["error"]) for r in runs]
    assert rc == 0 and {r["writeback"] for r in runs} == {True, False}, (summary, err)
    for r in runs:
        assert r["agree"] and r["memory_mib"] == POOL_LIMIT_MEMORY_MIB, summary
        ram = r["totalram_pages"]
        assert 0 < ram < POOL_LIMIT_MEMORY_MIB * 256
        stages = r["kernel_counters"]
        assert {s["totalram_pages"] for s in stages.values()} == {ram}
        fill = stages["after-poolfill"]
        c, worker = fill["counters"], fill["worker"]
        assert c["pool_limit_hit"] > 0 and worker["shrink_worker_runs"] > 0
        assert worker["shrink_worker_queued"] == worker["shrink_worker_runs"]
        assert all(s["worker"]["shrink_worker_runs"] == 0 for n, s in stages.items()
                   if n not in ("after-poolfill", "after-readback"))
        if r["writeback"]:
            assert c["written_back_pages"] > 0 and fill["memcg"]["zswpwb"] == c["written_back_pages"]
        else:
            assert c["written_back_pages"] == 0
        assert stages["after-readback"]["counters"]["stored_pages"] == 0

    # Not vacuous: the same kernel log against a model told another accept
    # threshold disagrees where the pool was full.
    (on,) = [r for r in runs if r["writeback"]]
    tree = resolve_kernel(KERNEL)
    algs, _ = model_algorithms(tree, "kernel", None, lambda m: None)
    stream = builtin_stream(algs["lz4"])
    add_pool_fill(stream, pool_fill_pages(1, POOL_LIMIT_MEMORY_MIB))
    log = parse_log(Path(on["log"]).read_text())
    kw = dict(writeback=True, total_ram_pages=on["totalram_pages"], max_pool_percent=1)
    assert compare(log, predict(stream, algs["lz4"], **kw), stream)[0] == []
    wrong = compare(log, predict(stream, algs["lz4"], accept_threshold=80, **kw), stream)[0]
    assert "after-poolfill" in {d.stage for d in wrong} <= {"after-poolfill", "after-readback"}


def test_a_hanging_guest_times_out_and_keeps_what_it_printed(tmp_path):
    from zswap_spec.kernel.fetch import resolve_kernel
    from zswap_spec.kernel.run import RunSpec, run_checks

    tree = resolve_kernel(KERNEL)
    (report,) = run_checks(tree, [RunSpec("lz4", True)], variant="mainline", page_size=4096,
                           files=[], timeout=40, jobs=1, model_compressor="library",
                           kernel_source=None, folder=tmp_path, note=lambda m: None,
                           append="zss.hang")
    assert not report.agree
    assert "hung" in report.error and "stages collected: setup" in report.error
    assert list(report.kernel_stages) == ["setup"]
    assert Path(report.log_path).read_text().count("ZSS ") > 5


def test_unknown_debian_version_is_a_one_line_error():
    p = subprocess.run([str(SCRIPT), "kernel-check", "--kernel", "debian:9.99"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "has no amd64 kernel of that version" in p.stderr


def test_an_interrupt_ends_every_guest_at_once_and_says_what_ran():
    import signal
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from proctree import descendants, wait_gone

    def guests(pid):
        out = []
        for k in descendants(pid):
            try:
                if Path(f"/proc/{k}/comm").read_text().startswith("qemu"):
                    out.append(k)
            except OSError:
                pass
        return out

    p = subprocess.Popen([str(SCRIPT), "kernel-check", "--kernel", KERNEL, "--json",
                          "--compressor", "lz4", "--writeback", "both", "--jobs", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and p.poll() is None and len(guests(p.pid)) < 2:
        time.sleep(0.5)
    kids = descendants(p.pid)
    assert len(guests(p.pid)) == 2, "the two guests did not start"
    p.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err[-2000:]
    assert time.monotonic() - t0 < 3
    report = json.loads(out)
    assert report["interrupted"] is True and report["runs"] == []
    assert sorted(report["not_run"]) == ["lz4 writeback off", "lz4 writeback on"]
    assert err.strip().splitlines()[-1] == "zswap-spec: interrupted"
    assert not wait_gone(kids), "a guest outlived kernel-check"

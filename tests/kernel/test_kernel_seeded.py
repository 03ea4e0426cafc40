"""`kernel-check --seeded`: the kernel check shown kernels that are wrong.

The seeded kernel is built once from Debian's linux-source-7.3 with
kernel/patches/seeded-bugs-7.3.patch and the minimal config (cached; a
fresh machine builds it, about two minutes on two cores), then booted once
per seeded bug and once with none.  The options that would make a seeded
run mean something else are refused before any build.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zswap_spec.model.variants.seeded import SEEDED_BUGS

SCRIPT = Path(sys.executable).with_name("zswap-spec")


def run(*args, timeout=60):
    return subprocess.run([str(SCRIPT), "kernel-check", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("extra, named", [
    (["--compressor", "zstd"], "--compressor"),
    (["--writeback", "off"], "--writeback"),
    (["--variant", "v14"], "--variant"),
    (["--pages", "/etc/hostname"], "--pages"),
    (["--script", "x.toml"], "--script"),
    (["--model-compressor", "library"], "--model-compressor"),
])
def test_seeded_refuses_settings_of_its_own_in_one_line(extra, named):
    p = run("--seeded", "all", *extra)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "cannot be combined" in lines[0], p.stderr


def test_an_unknown_seeded_bug_is_named_with_the_choices_before_anything_is_built():
    p = run("--seeded", "exact-fit-compressed", "--seeded", "nope")
    assert p.returncode == 2
    assert "--seeded nope: no such seeded bug; choose all or one of " in p.stderr
    for name in SEEDED_BUGS:
        assert name in p.stderr
    assert "building" not in p.stderr and "Traceback" not in p.stderr


MISSING = [t for t in ("qemu-system-x86_64", "busybox", "apt-get", "dpkg", "gcc", "make",
                       "flex", "bison", "bc", "patch") if shutil.which(t) is None]


@pytest.mark.kernel
@pytest.mark.skipif(bool(MISSING), reason=f"building and booting the seeded kernel needs "
                                          f"{', '.join(MISSING)} (./dev.sh test installs them)")
def test_every_seeded_kernel_bug_is_caught_and_agrees_with_its_variant():
    p = run("--seeded", "all", "--json", timeout=3000)
    assert p.stdout, p.stderr
    out = json.loads(p.stdout)
    seeded = {s["name"]: s for s in out["seeded"]}
    assert list(seeded) == list(SEEDED_BUGS)
    summary = {n: (s["caught"], s["agrees_with_variant"], s["error"],
                   s["disagreements"][:2], s["variant_disagreements"][:2])
               for n, s in seeded.items()}
    for name, s in seeded.items():
        bug = SEEDED_BUGS[name]
        assert s["error"] is None, summary
        assert (s["compressor"], s["writeback"]) == (bug.compressor, bug.writeback)
        # Caught against mainline, each disagreement naming its stage, what and pages ...
        assert s["caught"] and s["disagreements"], summary
        for d in s["disagreements"]:
            assert d["stage"] and d["name"] and d["pages"], d
        # ... and the variant making the same change predicts this kernel exactly.
        assert s["agrees_with_variant"] and not s["variant_disagreements"], summary
        assert s["variant"] == f"seeded-{name}"
    # The patched kernel with no bug switched on is mainline.
    control = out["control"]
    assert control["agree"] and control["seeded"] == "", control
    assert out["release"].startswith("7.3")
    assert p.returncode == 0, (summary, p.stderr[-2000:])
    # Where the bug loses data, the check says which pages read back wrong.
    fit = seeded["exact-fit-compressed"]
    assert fit["lost_pages"] > 0
    assert any(d["source"] == "integrity" and d["name"] == "exact-fit"
               for d in fit["disagreements"]), fit["disagreements"]


# ---- refusing kernels that cannot have the seeded bugs, before or after the boot ----------

def test_debians_kernel_is_refused_for_seeded_runs_before_anything_is_fetched(tmp_path):
    import os

    env = dict(os.environ, ZSWAP_SPEC_CACHE=str(tmp_path))
    p = subprocess.run([str(SCRIPT), "kernel-check", "--seeded", "all", "--kernel", "debian:7.3"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "zswap-spec: error: --kernel debian:7.3: Debian's kernels have no seeded bugs; leave "
        "--kernel out (the seeded kernel is built), or give built:KEY of a build with "
        "seeded-bugs-7.3.patch"]
    assert not (tmp_path / "apt").exists()  # nothing was fetched


def test_a_build_without_the_seeded_patch_is_refused(monkeypatch):
    import hashlib

    from zswap_spec.kernel import built, seeded
    from zswap_spec.kernel.tree import KernelError

    class Build:
        patches = (("other.patch", "0" * 64),)

    monkeypatch.setattr(built, "find_built", lambda spec: Build)
    with pytest.raises(KernelError, match="built:abc: was built without this version of "
                                          "seeded-bugs-7.3.patch"):
        seeded.check_kernel_spec("built:abc")
    Build.patches = (("seeded-bugs-7.3.patch",
                      hashlib.sha256(seeded.SEEDED_PATCH.read_bytes()).hexdigest()),)
    seeded.check_kernel_spec("built:abc")  # the patch as it is now: taken


def test_a_boot_without_the_seeded_parameter_is_an_error_not_a_catch():
    """A kernel lacking the parameter (a bzImage given by path) cannot be called caught,
    and its control boot cannot pass for mainline either."""
    from zswap_spec.kernel.logparse import parse_log
    from zswap_spec.kernel.run import RunReport, RunSpec, _param_problems
    from zswap_spec.kernel.seeded import SeededResult, passed

    without = parse_log("ZSS begin 7.3.4\nZSS param enabled Y\n")
    empty = parse_log("ZSS begin 7.3.4\nZSS param seeded_bug \n")
    named = parse_log("ZSS begin 7.3.4\nZSS param seeded_bug zero-length-malloc\n")
    assert empty.params["seeded_bug"] == ""
    for bug in ("", "zero-length-malloc"):
        spec = RunSpec("lz4", True, seeded=bug)
        assert any("no zswap seeded_bug parameter" in m for m in _param_problems(spec, without))
    assert _param_problems(RunSpec("lz4", True, seeded=""), empty) == []
    assert _param_problems(RunSpec("lz4", True, seeded="zero-length-malloc"), named) == []
    assert _param_problems(RunSpec("lz4", True, seeded="zero-length-malloc"), empty) == [
        "zswap seeded_bug is '', not 'zero-length-malloc'"]
    # A run with an error is neither caught nor agreeing, whatever it compared.
    r = RunReport(RunSpec("lz4", True, seeded="zero-length-malloc"), "k", "7.3.4",
                  disagreements=["something"], error="the guest hung")
    s = SeededResult("zero-length-malloc", r)
    assert not s.caught and not s.agrees_with_variant and not passed([s], None)

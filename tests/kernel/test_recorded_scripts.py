"""The scripts in tests/kernel/scripts against the real kernel's answers.

Each `NAME.toml` there is a workload script; `NAME.kernel.json`, where it
exists, is what Linux 7.3.4 printed when the script ran on it (`kernel-check
--script NAME.toml --keep DIR` writes it as DIR/01-NAME/kernel.json).  The
model must give the same record at every step, with no boot: every
disagreement the kernel fuzzer ever found stays here as one of these pairs,
and so do hand-written scripts for behaviour the fuzzer rarely reaches (the
pool limit).  The second test runs every script on a booted kernel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zswap_spec.kernel.script import Corpus, load_script
from zswap_spec.kernel.script_env import fit_algorithms
from zswap_spec.kernel.script_model import ScriptModel
from zswap_spec.kernel.script_run import compare_records

HERE = Path(__file__).with_name("scripts")
SCRIPTS = sorted(HERE.glob("*.toml"))
RECORDED = [p for p in SCRIPTS if p.with_suffix(".kernel.json").is_file()]
ZSWAP_SPEC = Path(sys.executable).with_name("zswap-spec")

pytestmark = pytest.mark.kernel  # the model compresses with the kernel's own code


@pytest.fixture(scope="module")
def algorithms():
    import os

    from zswap_spec.kernel.fetch import fetch_debian_source
    from zswap_spec.kernel.tree import KernelError

    try:
        found = os.environ.get("ZSWAP_SPEC_KERNEL_SOURCE") or fetch_debian_source("7.3")
    except KernelError as e:
        pytest.skip(f"no kernel source for the kernel's own compressors: {e}")
    from zswap_spec.kernel.kcomp_load import kernel_algorithms
    from zswap_spec.model.compressors import ALGORITHMS

    return {**ALGORITHMS, **kernel_algorithms(Path(found))}


def test_there_are_recorded_scripts():
    assert RECORDED, f"no NAME.kernel.json beside the scripts in {HERE}"


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_the_model_gives_what_the_kernel_printed(path, algorithms):
    script = load_script(path)
    recorded = json.loads(path.with_suffix(".kernel.json").read_text())
    corpus = Corpus.build(fit_algorithms(algorithms))
    assert recorded["corpus"] == corpus.digest(), (
        "the page corpus changed since the trace was recorded (the host's Python sources "
        "make the text pages); record the kernel's trace again")
    model = ScriptModel(compressor=script.compressor, algorithms=algorithms,
                        total_ram_pages=recorded["totalram_pages"], corpus=corpus,
                        base=path.parent, start_cursor=recorded["start_cursor"])
    trace = recorded["trace"]
    found = compare_records(0, "reset", trace[0], model.start_record(),
                            exact_sizes=recorded["exact_sizes"])
    for n, (step, kernel) in enumerate(zip(script.steps, trace[1:]), 1):
        found += compare_records(n, step.op, kernel, model.step(step),
                                 exact_sizes=recorded["exact_sizes"])
    assert not found, [d.to_json() for d in found]
    assert len(trace) >= len(script.steps) + 1, "the recorded run stopped early"


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs qemu")
def test_every_script_agrees_on_a_booted_kernel(tmp_path):
    proc = subprocess.run([str(ZSWAP_SPEC), "kernel-check", "--script", *map(str, SCRIPTS),
                           "--keep", str(tmp_path), "--json"],
                          capture_output=True, text=True, timeout=1200)
    if proc.returncode == 2 and "qemu" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    out = json.loads(proc.stdout)
    bad = [row for row in out["scripts"] if not row["agree"]]
    assert proc.returncode == 0 and not bad, (bad, proc.stderr[-2000:])
    assert len(out["scripts"]) == len(SCRIPTS)

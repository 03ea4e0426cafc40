"""The built wheel installs exactly one top-level import package."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_has_one_top_level_package_with_the_spec_inside(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("zswap_spec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"zswap_spec"}
    for inside in ("zswap_spec/spec/zswap-spec.md", "zswap_spec/spec/expected-drivers.toml",
                   "zswap_spec/spec/expected-check.toml", "zswap_spec/model/zswap.py",
                   "zswap_spec/model/variants/v13.py", "zswap_spec/proofs/__init__.py",
                   "zswap_spec/proofs/expected.toml", "zswap_spec/cli/__init__.py",
                   "zswap_spec/pool/api.py", "zswap_spec/replay/sample.py",
                   "zswap_spec/support/manifest.py", "zswap_spec/kernel/probe.c",
                   "zswap_spec/kernel/csrc/kc_kernel.h", "zswap_spec/kernel/csrc/kc_lz4.c",
                   "zswap_spec/kernel/patches/seeded-bugs-7.3.patch",
                   "zswap_spec/kernel/minimal.config"):
        assert inside in names, inside
    assert not any(n.startswith("zswap_spec/tests") for n in names)
    # the optimized core: the built extension and its typed stub
    assert any(n.startswith("zswap_spec/optimized_core/_core.") and n.endswith(".so") for n in names)
    assert "zswap_spec/optimized_core/_core.pyi" in names
    assert not any(n.endswith(".toml") and "tables" in n for n in names)  # the Markdown is the source

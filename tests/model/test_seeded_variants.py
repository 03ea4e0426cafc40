"""The seeded bugs' model variants (model/variants/seeded.py) and their kernel patch."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

from zswap_spec.kernel.compare import predict
from zswap_spec.kernel.seeded import SEEDED_PATCH, resolve_names, seeded_specs
from zswap_spec.kernel.streams import builtin_stream
from zswap_spec.kernel.tree import KernelError
from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.variants import VARIANTS, VariantError, get_variant, mainline
from zswap_spec.model.variants import seeded as sd


def _differences(a, b) -> list[tuple]:
    out = []
    for stage, snap in a.stages.items():
        ja, jb = snap.to_json(), b.stages[stage].to_json()
        for part, values in ja.items():
            if values != jb[part]:
                out.append((stage, part))
    if a.integrity_violations != b.integrity_violations:
        out.append(("after-readback", "integrity"))
    return out


@pytest.mark.parametrize("bug", list(sd.SEEDED_BUGS))
def test_each_seeded_variant_shows_on_the_built_in_plan_under_its_settings(bug):
    """The plan and settings the kernel check uses for the bug tell its variant from
    mainline in the model itself: else no kernel run could catch it."""
    b = sd.SEEDED_BUGS[bug]
    alg = ALGORITHMS[b.compressor]
    stream = builtin_stream(alg, 4096)
    main = predict(stream, alg, variant="mainline", writeback=b.writeback)
    seeded = predict(stream, alg, variant=f"seeded-{bug}", writeback=b.writeback)
    assert _differences(main, seeded), f"{bug}: the variant behaves as mainline on the plan"


@pytest.mark.parametrize("bug", list(sd.SEEDED_BUGS))
def test_a_seeded_variant_is_mainlines_text_with_its_edits_and_nothing_else(bug):
    v = get_variant(f"seeded-{bug}")
    text = inspect.getsource(mainline)
    for old, new in sd.SEEDED_BUGS[bug].edits:
        text = text.replace(old, new)
    module = inspect.getmodule(v.store_pages)
    assert inspect.getsource(module) == text
    # Each function it runs is that module's, with mainline's citation.
    names = [f.__name__ for f in v.functions]
    assert names == [f.__name__ for f in VARIANTS["mainline"].functions]
    assert all(inspect.getmodule(f) is module for f in v.functions)
    assert v.store_pages is module.zswap_store
    assert f"seeded bug {bug}" in v.source and v.name == f"seeded-{bug}"


def test_seeded_variants_are_found_by_name_but_not_run_by_default():
    assert not any(name.startswith(sd.PREFIX) for name in VARIANTS)
    # Importing the variants (every command does) makes none of them.
    probe = subprocess.run([sys.executable, "-c", "import sys; import zswap_spec.model.variants; "
                            "print(sorted(m for m in sys.modules if 'seeded_' in m))"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"
    assert get_variant("seeded-compress-fail-uncounted") is sd.SEEDED_VARIANTS[
        "seeded-compress-fail-uncounted"]
    with pytest.raises(ValueError, match="unknown variant 'seeded-nope'"):
        get_variant("seeded-nope")


def test_an_edit_that_no_longer_matches_mainline_fails_naming_the_text_and_the_file():
    stale = sd.SeededBug("stale", "x", (("if dlen >= 12345:", "if dlen > 12345:"),))
    with pytest.raises(VariantError, match=r"seeded bug stale: the text 'if dlen >= 12345:' "
                                           r"occurs 0 times in .*mainline\.py"):
        sd._build(stale, 9999)
    twice = sd.SeededBug("twice", "x", (("zs", "ZS"),))
    with pytest.raises(VariantError, match="occurs [0-9]+ times"):
        sd._build(twice, 9998)


def test_the_kernel_patch_switches_exactly_the_catalogues_bugs():
    text = SEEDED_PATCH.read_text()
    added = "\n".join(line for line in text.splitlines() if line.startswith("+"))
    in_patch = set(re.findall(r'zswap_seeded\("([a-z0-9-]+)"\)', added))
    assert in_patch == set(sd.SEEDED_BUGS)
    # The description names each one too.
    for name in sd.SEEDED_BUGS:
        assert re.search(rf"^  {re.escape(name)}\s", text, re.M), name
    # It touches mm/zswap.c only.
    assert set(re.findall(r"^\+\+\+ b/(\S+)", text, re.M)) == {"mm/zswap.c"}


def test_seeded_names_and_runs():
    assert [b.name for b in resolve_names(["all"])] == list(sd.SEEDED_BUGS)
    assert [b.name for b in resolve_names(["zero-length-malloc", "zero-length-malloc"])] == [
        "zero-length-malloc"]
    with pytest.raises(KernelError, match="--seeded nope: no such seeded bug; choose all or"):
        resolve_names(["nope"])
    specs = seeded_specs(resolve_names(["all"]), control=True)
    assert [s.seeded for s in specs] == [*sd.SEEDED_BUGS, ""]
    assert len({s.tag for s in specs}) == len(specs)  # one log folder each
    assert specs[-1].tag.endswith("-seeded-none")


@pytest.mark.kernel
def test_the_kernel_patch_applies_to_debians_7_3_source(tmp_path):
    from zswap_spec.kernel.fetch import fetch_debian_source

    if shutil.which("patch") is None:
        pytest.skip("GNU patch is not installed (dev.sh installs it)")
    tarball = fetch_debian_source("7.3")
    with tarfile.open(tarball) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/mm/zswap.c"))
        member.name = "mm/zswap.c"
        tar.extract(member, tmp_path, filter="data")
    p = subprocess.run(["patch", "-p1", "--dry-run", "-i", str(SEEDED_PATCH)], cwd=tmp_path,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "FAILED" not in p.stdout and "offset" not in p.stdout

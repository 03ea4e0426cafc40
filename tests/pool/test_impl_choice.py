"""Which implementation serves: one rule, `zswap_spec.pool.resolve_impl`, for
`make_pool`, `replay` and `fuzz`.  `auto` takes the core when it is built and
implements everything the job needs and wants, else the model (saying why
once on stderr); an explicit `core` lacking what the job needs is refused,
naming the feature; a bad ZSWAP_SPEC_IMPL is refused alike by every command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import zswap_spec.pool as pool
from zswap_spec.pool import (SHRINKER, ZSWAP_MAX, CoreUnavailable, PoolInputError, compressor_feature,
                             fault_feature, resolve_impl)


@pytest.fixture
def core_built(monkeypatch):
    """A built core, whatever this machine has, and no choice in the environment."""
    monkeypatch.setattr(pool, "core_available", lambda: (True, ""))
    monkeypatch.setattr(pool, "_said", set())
    monkeypatch.delenv("ZSWAP_SPEC_IMPL", raising=False)


def test_auto_without_needs_takes_the_built_core(core_built, capsys):
    assert resolve_impl() == resolve_impl("auto") == resolve_impl(None) == "core"
    assert resolve_impl(None, needs=[fault_feature("exact-page"), compressor_feature("zstd")]) == "core"
    assert capsys.readouterr().err == ""


def test_auto_takes_the_model_for_what_the_core_lacks_and_says_why_once(core_built, capsys):
    assert resolve_impl(None, needs=[fault_feature("wrong-output")]) == "model"
    assert resolve_impl(None, needs=[fault_feature("wrong-output")]) == "model"
    assert resolve_impl(None, wants=[ZSWAP_MAX, SHRINKER]) == "model"
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "zswap-spec: note: the core does not implement the fault 'wrong-output'; "
        "the model serves",
        "zswap-spec: note: the core does not implement memory.zswap.max or the "
        "shrinker's LRU walk; the model serves"]


def test_auto_takes_the_model_when_the_core_is_not_built(core_built, monkeypatch, capsys):
    monkeypatch.setattr(pool, "core_available", lambda: (False, "not built here"))
    assert resolve_impl() == "model" and resolve_impl(needs=[fault_feature("eio")]) == "model"
    assert capsys.readouterr().err.count("not built here") == 1


def test_an_explicit_core_refuses_a_need_it_lacks_naming_it(core_built):
    with pytest.raises(PoolInputError, match=r"does not implement the fault 'wrong-output' or "
                                             r"the fault 'nondeterministic'; use the model"):
        resolve_impl("core", needs=[fault_feature("wrong-output"), fault_feature("nondeterministic")])
    # What the job only wants, an explicit core does without.
    assert resolve_impl("core", needs=[fault_feature("eio")], wants=[ZSWAP_MAX, SHRINKER]) == "core"
    # A compressor object (a driver's) only the model takes.
    driver = type("DriverAlgorithm", (), {"name": "lz4"})()
    with pytest.raises(PoolInputError, match=r"the compressor 'lz4' \(DriverAlgorithm\)"):
        resolve_impl("core", needs=[compressor_feature(driver)])


def test_the_model_serves_anything(core_built):
    assert resolve_impl("model", needs=["anything at all"]) == "model"


def test_the_environment_is_the_request_when_none_is_made(core_built, monkeypatch):
    monkeypatch.setenv("ZSWAP_SPEC_IMPL", "model")
    assert resolve_impl() == resolve_impl("auto") == "model"
    assert resolve_impl("core") == "core"  # a request wins over the environment
    monkeypatch.setenv("ZSWAP_SPEC_IMPL", "core")
    with pytest.raises(PoolInputError, match="the fault 'wrong-output'"):
        resolve_impl(None, needs=[fault_feature("wrong-output")])
    monkeypatch.setenv("ZSWAP_SPEC_IMPL", " Auto ")
    assert resolve_impl() == "core"
    monkeypatch.setenv("ZSWAP_SPEC_IMPL", "fast")
    with pytest.raises(PoolInputError, match="ZSWAP_SPEC_IMPL is 'fast'; use core, model or auto"):
        resolve_impl()
    with pytest.raises(PoolInputError, match="the requested implementation is 'quick'"):
        resolve_impl("quick")


def test_an_explicit_core_that_is_not_built_is_refused(core_built, monkeypatch):
    monkeypatch.setattr(pool, "core_available", lambda: (False, "not built here"))
    with pytest.raises(CoreUnavailable, match="not built here"):
        resolve_impl("core")


def test_replay_passes_its_compressor_as_a_need(core_built, monkeypatch):
    """replay_pages on auto: a driver's compressor object takes the model."""
    from zswap_spec.model.compressors import algorithm
    from zswap_spec.replay import RunConfig, replay_pages
    from zswap_spec.replay import on_model

    ran = []
    monkeypatch.setattr(on_model, "replay_on_model", lambda *a, **k: ran.append("model"))
    replay_pages([bytes(4096)], RunConfig("mainline", algorithm("lz4")), impl=None)
    assert ran == ["model"]


def _cli(*args, env_impl):
    env = dict(os.environ, ZSWAP_SPEC_IMPL=env_impl)
    return subprocess.run([sys.executable, "-m", "zswap_spec", *args], capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.mark.parametrize("args", [
    ["replay", "PAGES"],
    ["fuzz", "--budget", "1"],
    ["fuzz", "--per-unit", "--budget", "1"],
    ["fuzz", "--replay", "FINDING"],
])
def test_a_bad_environment_is_refused_alike_by_replay_and_fuzz(args, tmp_path):
    pages = tmp_path / "pages.bin"
    pages.write_bytes(bytes(4096))
    finding = tmp_path / "test_finding.py"
    finding.write_text("def test_finding():\n    pass\n")
    args = [str(pages) if a == "PAGES" else str(finding) if a == "FINDING" else a for a in args]
    p = _cli(*args, "--findings", str(tmp_path / "found"), env_impl="fast") if args[0] == "fuzz" \
        else _cli(*args, env_impl="fast")
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stderr == "zswap-spec: error: ZSWAP_SPEC_IMPL is 'fast'; use core, model or auto\n"

"""Replay runs over real pages: the built-in sample, boundary pages found by
search, INV-BATCH, and the manifest of expected findings."""

import os
import shutil

import pytest

from zswap_spec.cli.check import collect_findings, load_manifest, run_check, MANIFEST_PATH
from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.replay import RunConfig, replay_pages
from zswap_spec.replay.sample import boundary_page


@pytest.mark.parametrize("compressor", list(ALGORITHMS))
@pytest.mark.parametrize("writeback", [True, False])
def test_mainline_replay_of_the_sample_is_clean(compressor, writeback, sample_4k):
    pages = [p.data for p in sample_4k]
    r = replay_pages(pages, RunConfig("mainline", compressor, writeback, folio_pages=1))
    j = r.to_json()
    assert j["violations"] == {} and j["integrity_violations"] == 0
    assert j["zero_filled"] + j["stored_compressed"] + j["stored_raw"] + j["rejected"] == len(pages)
    assert j["counters"]["stored_pages"] == j["stored_compressed"] + j["stored_raw"]
    assert j["counters"]["stored_incompressible_pages"] == j["stored_raw"]
    assert j["counters_after_load"]["stored_pages"] == 0
    assert j["memory_stat"]["zswapped"] == 4096 * (j["stored_compressed"] + j["stored_raw"])
    if not writeback:
        assert j["stored_raw"] == 0 and j["rejected"] > 0
        rejects = sum(v for k, v in j["counters"].items() if k.startswith("reject_"))
        assert rejects == j["rejected"]  # one counter per rejected one-page folio


@pytest.mark.parametrize("variant,compressor", [("v13", "lz4"), ("v14", "lz4"), ("v13", "lz4hc"),
                                                ("v13", "deflate-iaa")])
def test_exact_fit_page_loads_back_wrong_under_the_batched_variants(variant, compressor):
    # A real page whose real compressed output is exactly PAGE_SIZE bytes.
    page = boundary_page(compressor, 4096)
    assert page is not None
    r = replay_pages([page], RunConfig(variant, compressor, True))
    assert r.outcomes == "r"  # counted as incompressible...
    assert {v.invariant for v in r.violations} == {"INV-RAW", "INV-ROUNDTRIP"}  # ...but corrupt
    assert r.integrity_violations == 1
    clean = replay_pages([page], RunConfig("mainline", compressor, True))
    assert clean.outcomes == "r" and not clean.violations


def test_v14_with_iaa_stores_as_is_with_writeback_off_and_breaks_inv_batch(sample_4k):
    text = [p.data for p in sample_4k if p.kind == "text"][:8]
    rand = [p.data for p in sample_4k if p.kind == "random"][:8]
    pages = [page for pair in zip(text, rand) for page in pair]
    batched = replay_pages(pages, RunConfig("v14", "deflate-iaa", False, folio_pages=8))
    single = replay_pages(pages, RunConfig("v14", "deflate-iaa", False, folio_pages=8, max_batch_size=1))
    assert "INV-WB" in {v.invariant for v in batched.violations}
    assert batched.outcomes != single.outcomes  # INV-BATCH
    assert "r" in batched.outcomes and "r" not in single.outcomes


def test_counters_after_swap_out_match_the_outcomes_for_folios(sample_4k):
    pages = [p.data for p in sample_4k]
    r = replay_pages(pages, RunConfig("mainline", "zstd", True, folio_pages=8))
    assert r.vm_events["zswpout"] == r.count("compressed") + r.count("raw")
    assert r.vm_events["zswpin"] == r.vm_events["zswpout"]
    assert r.pool_bytes > 0 and not r.violations


def test_check_findings_match_the_manifest():
    findings, _, _ = collect_findings(4096)
    expected = {k: v for k, v in load_manifest().items() if k[4] == 4096}
    assert {k: v for k, v in findings.items() if v} == expected
    # The proposals and mainline are clean everywhere.
    for (variant, *_), ids in findings.items():
        if variant in ("mainline", "explicit", "uniform"):
            assert not ids, variant
    # INV-BATCH is found where it should be, and only by the batched code.
    assert any("INV-BATCH" in ids for ids in findings.values())


def test_check_exits_1_when_the_manifest_disagrees(tmp_path):
    manifest = tmp_path / "expected.toml"
    shutil.copy(MANIFEST_PATH, manifest)
    only_replay = dict(proofs=False, fuzz=False, drivers=False, core=False)
    assert run_check(manifest=manifest, **only_replay) == 0
    text = manifest.read_text()
    manifest.write_text(text.replace('invariants = ["INV-RAW", "INV-ROUNDTRIP"]', "invariants = []", 1))
    assert run_check(manifest=manifest, **only_replay) == 1


def test_a_corrupt_or_missing_manifest_is_a_clear_error(tmp_path):
    bad = tmp_path / "expected.toml"
    bad.write_text("[[finding]\nvariant = ")
    with pytest.raises(SystemExit, match="is not valid TOML .*restore it from version control"):
        load_manifest(bad)
    with pytest.raises(SystemExit, match="is missing; create it with 'zswap-spec check --update-manifest'"):
        load_manifest(tmp_path / "none.toml")


def test_a_run_that_can_fill_the_pool_with_writeback_is_served_by_the_model(capsys):
    """Only the model runs the shrink worker the pool limit queues: the core
    would reject where the kernel writes back, so auto takes the model and
    an explicit core is refused naming the feature."""
    from zswap_spec.pool import PoolInputError, core_available

    pages = [bytes([i % 251]) + os.urandom(4095) for i in range(600)]
    small = RunConfig("mainline", "lz4", True, 1, 4096, total_ram_pages=1000)  # limit: 200 pages
    run = replay_pages(pages, small, impl=None)
    assert run.counters["written_back_pages"] > 0 and run.count("raw") > 200
    assert not run.violations
    if core_available()[0]:
        with pytest.raises(PoolInputError, match="shrink worker"):
            replay_pages(pages, small, impl="core")
        roomy = RunConfig("mainline", "lz4", True, 1, 4096)  # the default RAM: far from the limit
        assert replay_pages(pages[:50], roomy, impl="core").counters["written_back_pages"] == 0

"""One conformance suite, run against both implementations of the pool API:
the model and the optimized core.  Each test states what the spec says a
pool does and checks it from outside; neither implementation is the other's
oracle here (tests/optimized_core/test_core_lockstep.py compares them step by step).
"""

from __future__ import annotations

import pytest

from zswap_spec.pool import make_pool
from zswap_spec.model.cint import ENOENT, EIO
from zswap_spec.model.compressors import algorithm
from zswap_spec.replay import RunConfig, replay_pages
from zswap_spec.replay.sample import boundary_page, default_sample

PS = 4096
IMPLS = ("model", "core")


@pytest.fixture(params=IMPLS)
def impl(request):
    return request.param


def pool_of(impl, variant="mainline", compressor="lz4", **kw):
    kw.setdefault("total_ram_pages", 1 << 16)
    return make_pool(variant, compressor, kw.pop("page_size", PS), impl=impl, **kw)


def text_pages(n, page_size=PS):
    pages = [p.data for p in default_sample(page_size) if p.kind == "text"]
    return (pages * (n // len(pages) + 1))[:n]


def random_page(seed, page_size=PS):
    import random

    return random.Random(seed).randbytes(page_size)


def test_the_pool_reports_which_implementation_it_is(impl):
    assert pool_of(impl).impl == impl


@pytest.mark.parametrize("variant", ["mainline", "v13", "v14", "explicit", "uniform"])
@pytest.mark.parametrize("compressor", ["lz4", "zstd", "deflate", "deflate-iaa"])
def test_compressible_folios_round_trip_with_the_counters(impl, variant, compressor):
    pool = pool_of(impl, variant, compressor)
    pages = text_pages(16)
    assert pool.store(100, b"".join(pages))
    c = pool.counters()
    assert c["stored_pages"] == 16 and c["zswpout"] == 16
    assert c["stored_incompressible_pages"] == 0
    assert c["pool_total_size"] == pool.pool_pages * PS > 0
    real = algorithm(compressor)
    for i, page in enumerate(pages):
        length, data, cg = pool.entry(100 + i)
        assert 0 < length < PS and cg == 0
        assert len(data) == length
        assert real.decompress(data, PS) == (0, page)  # the stored bytes are the real output
    for i, page in enumerate(pages):
        assert pool.load(100 + i) == (0, page)
    c = pool.counters()
    assert c["stored_pages"] == 0 and c["zswpin"] == 16 and c["pool_total_size"] == 0
    assert pool.pool_bytes == 0 and pool.live_objects == 0


def test_an_incompressible_page_is_stored_as_is_when_writeback_is_allowed(impl):
    pool = pool_of(impl)
    page = random_page(1)
    assert pool.store(7, page)
    assert pool.entry(7) == (PS, page, 0)
    assert pool.counters()["stored_incompressible_pages"] == 1
    assert pool.memcg_stat(0)["zswap_incomp"] == 1


@pytest.mark.parametrize("compressor,counter", [("lz4", "reject_compress_fail"),
                                                ("zstd", "reject_compress_fail"),
                                                ("deflate", "reject_compress_poor")])
def test_without_writeback_an_incompressible_page_is_rejected_with_its_counter(impl, compressor, counter):
    pool = pool_of(impl, "mainline", compressor)
    cg = pool.add_cgroup(writeback=False)
    assert not pool.store(3, random_page(2), cg)
    assert pool.entry(3) is None
    c = pool.counters()
    assert c[counter] == 1 and c["stored_pages"] == 0 and c["zswpout"] == 0


def test_deflate_cannot_fill_the_page_exactly_so_that_page_goes_as_is(impl):
    page = boundary_page("deflate", PS - 1)
    assert page is not None
    assert len(algorithm("deflate").raw_compress(page)) == PS - 1
    pool = pool_of(impl, "mainline", "deflate")
    assert pool.store(0, page)
    assert pool.entry(0)[0] == PS - 1
    exact = boundary_page("lz4", PS)
    pool = pool_of(impl, "mainline", "lz4")
    assert pool.store(0, exact)
    assert pool.entry(0) == (PS, exact, 0)  # dlen >= PAGE_SIZE: as-is, the page itself


def test_a_failed_allocation_mid_folio_leaves_no_page_of_the_folio(impl):
    pool = pool_of(impl, "v13", "lz4")
    pages = text_pages(8)
    assert pool.store(0, b"".join(pages[:2]))  # an older copy of two slots
    pool.fail_malloc([0, 0, 0, -12])
    assert not pool.store(0, b"".join(pages))
    assert pool.offsets() == []  # the folio's slots, stale ones included, are erased
    c = pool.counters()
    assert c["reject_alloc_fail"] == 1 and c["stored_pages"] == 0
    assert pool.live_objects == 0 and pool.pool_bytes == 0


@pytest.mark.parametrize("variant", ["mainline", "v14"])
def test_entry_and_tree_failures_reject_with_their_counters(impl, variant):
    pool = pool_of(impl, variant)
    pool.fail_entry_alloc(1)
    assert not pool.store(0, text_pages(1)[0])
    assert pool.counters()["reject_kmemcache_fail"] == 1
    pool.fail_xa_store(1)
    assert not pool.store(0, text_pages(1)[0])
    assert pool.counters()["reject_alloc_fail"] == 1
    assert pool.live_objects == 0
    assert pool.store(0, text_pages(1)[0])


def test_the_pool_limit_refuses_stores_until_the_accept_threshold(impl):
    pool = pool_of(impl, total_ram_pages=1000, max_pool_percent=1, accept_threshold_percent=50)
    pages = [random_page(i) for i in range(30)]  # as-is: one pool page each
    stored = [pool.store(i, p) for i, p in enumerate(pages)]
    assert stored[:10] == [True] * 10 and not any(stored[10:])
    assert pool.counters()["pool_limit_hit"] == 20
    # The worker is queued and, through the pool API, never run (either backend).
    assert pool.shrink_work_queued and pool.counters()["written_back_pages"] == 0
    for i in range(4):
        pool.invalidate(i)  # 6 pages: above the threshold of 5, still refused
    assert not pool.store(50, pages[0])
    pool.invalidate(4)
    assert pool.store(50, pages[0])


def test_writeback_moves_the_page_out_and_counts_it(impl):
    pool = pool_of(impl)
    cg = pool.add_cgroup(writeback=True)
    page = text_pages(1)[0]
    assert pool.store(9, page, cg)
    assert pool.writeback(9) == (0, page)
    c = pool.counters()
    assert c["written_back_pages"] == 1 and c["zswpwb"] == 1 and c["stored_pages"] == 0
    assert pool.memcg_stat(cg)["zswpwb"] == 1 and pool.memcg_stat(0)["zswpwb"] == 1
    assert pool.load(9) == (-ENOENT, None)
    assert pool.store(10, page, cg)
    pool.set_writeback(cg, False)
    assert pool.writeback(10) == (-ENOENT, None)  # the shrinker leaves the cgroup alone


def test_an_output_that_does_not_decompress_fails_the_load(impl):
    pool = pool_of(impl, faults=True)
    pool.arm("bad-output", 1)
    page = text_pages(1)[0]
    assert pool.store(0, page)
    assert pool.entry(0)[:2] == (64, b"\xff" * 64)
    assert pool.load(0) == (-EIO, None)
    assert pool.counters()["decompress_fail"] == 1
    assert pool.entry(0) is not None  # the entry stays for the next attempt


def test_cgroup_stats_follow_entries_up_to_the_root(impl):
    pool = pool_of(impl)
    a, b = pool.add_cgroup(), pool.add_cgroup()
    pa, pb = text_pages(3), [random_page(9)]
    assert pool.store(0, b"".join(pa), a) and pool.store(10, pb[0], b)
    la = sum(pool.entry(i)[0] for i in range(3))
    assert pool.memcg_stat(a)["zswap"] == la and pool.memcg_stat(a)["zswapped"] == 3
    assert pool.memcg_stat(b)["zswap"] == PS and pool.memcg_stat(b)["zswap_incomp"] == 1
    root = pool.memcg_stat(0)
    assert root["zswap"] == la + PS and root["zswapped"] == 4 and root["zswpout"] == 4


def test_a_slot_stored_again_replaces_its_old_entry(impl):
    pool = pool_of(impl)
    old, new = text_pages(2)
    assert pool.store(5, old) and pool.store(5, new)
    assert pool.offsets() == [5] and pool.counters()["stored_pages"] == 1
    assert pool.load(5) == (0, new)


def test_disabled_zswap_refuses_and_erases_the_slots(impl):
    pool = pool_of(impl)
    assert pool.store(1, text_pages(1)[0])
    pool.set_enabled(False)
    assert not pool.store(1, text_pages(2)[1])
    assert pool.offsets() == []


@pytest.mark.parametrize("page_size", [16384, 65536])
def test_large_pages_round_trip(impl, page_size):
    pool = pool_of(impl, "uniform", "zstd", page_size=page_size)
    pages = text_pages(4, page_size)
    assert pool.store(0, b"".join(pages))
    assert [pool.load(i) for i in range(4)] == [(0, p) for p in pages]


def test_store_run_reports_one_outcome_per_page(impl):
    pool = pool_of(impl, "mainline", "lz4")
    cg = pool.add_cgroup(writeback=False)
    pages = [text_pages(1)[0], bytes(PS), random_page(3), text_pages(2)[1]]
    out = pool.store_run(b"".join(pages), 0, 1, cg)
    assert out == b"c0xc"
    assert pool.load_run(0, b"".join(pages), out) == []


@pytest.mark.parametrize("variant", ["mainline", "v13", "v14", "explicit", "uniform"])
@pytest.mark.parametrize("compressor", ["lz4", "deflate-iaa"])
@pytest.mark.parametrize("folio", [1, 8])
def test_two_threads_store_what_the_model_stores(variant, compressor, folio):
    """The core's threads (batch units in parallel, compress-ahead in store_run)."""
    pages = b"".join(p.data for p in default_sample(PS)) * 3
    runs = []
    for impl, threads in (("model", 1), ("core", 2)):
        pool = make_pool(variant, compressor, impl=impl, threads=threads, total_ram_pages=1 << 16)
        cg = pool.add_cgroup(writeback=folio == 1)
        out = pool.store_run(pages, 0, folio, cg)
        runs.append((out, pool.snapshot(), pool.load_run(0, pages, out), pool.snapshot()))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("variant", ["mainline", "v13", "v14", "explicit", "uniform"])
@pytest.mark.parametrize("compressor", ["lz4", "zstd", "deflate-iaa"])
@pytest.mark.parametrize("writeback", [True, False], ids=["wb", "nowb"])
def test_replay_on_the_core_gives_the_models_run(sample_4k, variant, compressor, writeback):
    """Field for field, the violations' (invariant, slot) included."""
    pages = [p.data for p in sample_4k]
    for folio in (1, 512):
        cfg = RunConfig(variant, compressor, writeback, folio)
        runs = [replay_pages(pages, cfg, impl=i).to_json(examples=10 ** 6) for i in IMPLS]
        for run in runs:
            run.pop("seconds")
            run["violation_examples"] = sorted((v["invariant"], v["offset"] or -1)
                                               for v in run["violation_examples"])
        assert runs[0] == runs[1]


def test_check_compares_every_replay_run_with_the_core_and_reports_a_difference(sample_4k, monkeypatch):
    from zswap_spec.cli import check as checks
    from zswap_spec.replay import on_core as replay_core

    pages = [p.data for p in sample_4k]
    results = [replay_pages(pages, RunConfig(v, "lz4", True, 1)) for v in ("mainline", "v14")]
    assert checks._core_agrees(results)[0] == []
    real = replay_core.replay_on_core

    def one_counter_off(pages, config, progress=None):
        run = real(pages, config, progress)
        if config.variant == "v14":
            run.counters = dict(run.counters, reject_compress_poor=run.counters["reject_compress_poor"] + 1)
        return run

    monkeypatch.setattr(replay_core, "replay_on_core", one_counter_off)
    bad, note, _, compared = checks._core_agrees(results)
    assert note == "" and compared == 2 and len(bad) == 1 and bad[0].startswith("v14/lz4") and "counters" in bad[0]

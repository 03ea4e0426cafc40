"""Compress once, decide many: replay's runs on the optimized core share each
page's compression (`stream.run_together`, `SharedCompression`) and each
entry's read-back (`CorePool.load_check(like=...)`), on one thread or more,
and may keep sizes only.  Every shared result must be field for field the
result of its configuration run alone, on one thread, keeping its bytes
(`on_core.replay_on_core`, which shares nothing)."""

from __future__ import annotations

import random

import pytest

from zswap_spec.pool import PoolInputError
from zswap_spec.pool.core_backend import CorePool, SharedCompression
from zswap_spec.replay import RunConfig
from zswap_spec.replay.on_core import replay_on_core
from zswap_spec.replay.source import pages_source
from zswap_spec.replay.stream import run_together, run_windows
from zswap_spec.replay.sample import boundary_page

PS = 4096
CORE_VARIANTS = ("mainline", "v13", "v14", "explicit", "uniform")


def fields(result, drop=()):
    """A result as JSON, every violation listed, without its timing."""
    out = result.to_json(examples=10 ** 6)
    out.pop("seconds")
    for key in drop:
        out.pop(key, None)
    return out


@pytest.fixture(scope="module")
def pages(sample_4k):
    """The built-in sample (every page kind, pages whose output is exactly the
    capacity for each compressor), then random and zero pages, and folios
    that are partly zero."""
    rng = random.Random(16)
    out = [p.data for p in sample_4k]
    out += [rng.randbytes(PS) for _ in range(8)] + [bytes(PS)] * 8
    for comp in ("lz4", "zstd", "deflate"):
        for target in (PS - 1, PS, PS + 1):
            page = boundary_page(comp, target)
            if page is not None:
                out.append(page)
    out += [out[0]] * (-len(out) % 4)  # folios of 4 from here on: partly zero ones
    out += [bytes(PS), out[0], bytes(PS), bytes(PS), out[1], bytes(PS), bytes(PS), bytes(PS)]
    return out


def configs_of(compressor, folio=1):
    return [RunConfig(v, compressor, wb, folio) for wb in (True, False) for v in CORE_VARIANTS]


@pytest.mark.parametrize("compressor", ["lz4", "lz4hc", "zstd", "deflate", "deflate-iaa"])
@pytest.mark.parametrize("folio", [1, 4])
def test_every_run_together_is_that_run_alone(pages, compressor, folio):
    configs = configs_of(compressor, folio)
    together, limited = run_together(pages_source(pages, PS), configs)
    assert limited == []
    assert len(together) == len(configs)
    for cfg, got in zip(configs, together):
        alone = replay_on_core(pages, cfg)
        assert fields(got) == fields(alone), cfg


def test_two_threads_give_one_threads_results(pages):
    configs = configs_of("lz4") + configs_of("zstd")
    one, _ = run_together(pages_source(pages, PS), configs, threads=1)
    two, _ = run_together(pages_source(pages, PS), configs, threads=2)
    assert [fields(r) for r in one] == [fields(r) for r in two]


def test_chunks_of_several_compressors_are_each_compressed_for_their_own_runs(pages):
    """Runs of different compressors in one pass: each takes its own table."""
    configs = [RunConfig("mainline", c) for c in ("lz4", "zstd", "deflate-iaa")]
    together, _ = run_together(pages_source(pages, PS), configs)
    for cfg, got in zip(configs, together):
        assert fields(got) == fields(replay_on_core(pages, cfg))
    assert len({r.pool_bytes for r in together}) == 3


def test_sizes_only_keeps_every_figure_but_what_needs_the_bytes(pages):
    configs = configs_of("lz4") + configs_of("zstd", 4)
    full, _ = run_together(pages_source(pages, PS), configs)
    sizes, _ = run_together(pages_source(pages, PS), configs, sizes_only=True)
    without = ("INV-RAW", "INV-ROUNDTRIP")
    compared = 0
    for f, s in zip(full, sizes):
        assert s.sizes_only and not f.sizes_only
        assert s.outcomes == f.outcomes
        assert (s.counters, s.memory_stat, s.pool_bytes) == (f.counters, f.memory_stat,
                                                             f.pool_bytes)
        # nothing read back: the figures after the read-back are those after the swap-out
        assert s.counters_after_load == s.counters
        assert s.vm_events["zswpin"] == 0
        kept = [(v.invariant, v.offset) for v in f.violations if v.invariant not in without]
        assert [(v.invariant, v.offset) for v in s.violations] == kept
        compared += len(kept)
    assert compared > 0  # some run breaks an invariant sizes only can check (v13, INV-WB ...)
    assert fields(sizes[0])["sizes_only"] is True


def test_a_sizes_only_pool_refuses_what_needs_its_bytes():
    pool = CorePool("mainline", "lz4")
    pool.keep_sizes_only()
    page = (b"zswap " * 700)[:PS]
    assert pool.store(0, page)
    for call in (lambda: pool.load(0), lambda: pool.entry(0), lambda: pool.writeback(0),
                 lambda: pool.load_run(0, page, b"c")):
        with pytest.raises((PoolInputError, ValueError), match="sizes only"):
            call()
    stored = CorePool("mainline", "lz4")
    with pytest.raises(PoolInputError, match="already holds"):
        assert stored.store(0, page)
        stored.keep_sizes_only()


def test_a_table_filled_from_other_pages_is_refused():
    table = SharedCompression("lz4", PS)
    a, b = bytearray(PS * 2), bytearray(b"x" * PS * 2)
    table.fill(a)
    pool = CorePool("mainline", "lz4")
    with pytest.raises(PoolInputError, match="another buffer"):
        pool.store_run(b, 0, 1, 0, shared=table)
    with pytest.raises(PoolInputError, match="another compressor"):
        CorePool("mainline", "zstd").store_run(a, 0, 1, 0, shared=table)


def test_pools_sharing_bytes_hold_each_content_once_and_read_it_back_once(pages):
    """Pools sharing their bytes give every answer a pool of their own gives; an
    entry whose length was changed in one pool takes nothing from the blob's answer."""
    data = b"".join(pages[:64])
    table = SharedCompression("lz4", PS, threads=2)
    table.fill(data)
    alone = CorePool("mainline", "lz4")
    out = alone.store_run(data, 0)
    pools = [CorePool(v, "lz4") for v in ("mainline", "uniform")]
    for pool in pools:
        pool.share_bytes()
        assert pool.store_run(data, 0, shared=table) == out
        assert pool.snapshot() == alone.snapshot()  # entries' bytes, counters, pool pages
    a, b = pools
    victim = out.index(b"c")
    b._c._plant_entry_length(victim, b.entry_length(victim) - 1)
    codes_a = a.load_check(0, data, out, shared=table)
    codes_b = b.load_check(0, data, out, shared=table)
    assert list(codes_a) == list(alone.load_check(0, data, out))
    assert list(codes_b) != list(codes_a)  # the planted entry answers for itself
    assert b.load_apply(0, codes_b) == [(victim, -5, -1)]  # -EIO: its bytes cut short
    assert a.load_apply(0, codes_a) == [] == alone.load_apply(0, alone.load_check(0, data, out))
    assert b.counters()["decompress_fail"] == 1


def test_load_check_then_apply_is_load_run(pages):
    data = b"".join(pages)
    outs = []
    for split in (False, True):
        pool = CorePool("v14", "zstd", threads=2)
        out = pool.store_run(data, 0, 1)
        bad = (pool.load_apply(0, pool.load_check(0, data, out)) if split
               else pool.load_run(0, data, out))
        outs.append((out, bad, pool.snapshot()))
    assert outs[0] == outs[1]


def test_a_stream_shares_each_windows_compression(pages):
    configs = configs_of("lz4")
    streamed = run_windows(pages_source(pages, PS), configs, ["core"] * len(configs),
                           window_bytes=32 * PS, threads=2)
    alone = [run_windows(pages_source(pages, PS), [c], ["core"], window_bytes=32 * PS)[0]
             for c in configs]
    drop = ("differs_from_mainline",)
    assert [fields(r, drop) for r in streamed] == [fields(r, drop) for r in alone]


def test_a_run_keeps_the_first_violations_and_counts_them_all(pages):
    """A variant that breaks an invariant on every page of a dump keeps a bounded list."""
    from zswap_spec.replay import results
    from zswap_spec.replay.on_core import CoreRun
    from zswap_spec.replay.run import run_passes

    cfg = RunConfig("v13", "lz4", False)
    full = run_passes(CoreRun, pages, cfg)
    assert len(full.violations) > 4
    few = results.Violations(kept=3)
    few.extend(full.violations)
    bounded = results.RunResult(**{**full.__dict__, "violations": few})
    assert len(bounded.violations) == 3 and few.dropped == len(full.violations) - 3
    assert bounded.violation_counts() == full.violation_counts()
    assert bounded.to_json()["violations"] == full.to_json()["violations"]
    assert bounded.integrity_violations == full.integrity_violations


def test_a_blobs_answer_holds_only_for_its_session_pages_and_offset(pages):
    """Another pool's answer is taken only within one read-back session (the same
    pages) and at the same offset; otherwise each pool reads back for itself."""
    data = b"".join(pages[:8])
    other = b"".join(reversed(pages[:8]))
    table = SharedCompression("lz4", PS)
    table.fill(data)
    a, b, own = (CorePool("mainline", "lz4") for _ in range(3))
    for p in (a, b):
        p.share_bytes()
    outs = [p.store_run(data, 0, shared=table if p is not own else None) for p in (a, b, own)]
    table.begin_read_back(data)
    assert a.load_apply(0, a.load_check(0, data, outs[0], shared=table)) == []
    # b compares with other pages: not the session's, so not a's answers
    got = b.load_apply(0, b.load_check(0, other, outs[1], shared=table))
    assert got == own.load_apply(0, own.load_check(0, other, outs[2])) != []
    # one pool, the same pages stored twice (entries sharing blobs), read back in one call
    p, q = CorePool("mainline", "lz4"), CorePool("mainline", "lz4")
    p.share_bytes()
    o = p.store_run(data, 0, shared=table) + p.store_run(data, 8, shared=table)
    q.store_run(data, 0)
    q.store_run(data, 8)
    table.begin_read_back(data + other)
    assert (p.load_apply(0, p.load_check(0, data + other, o, shared=table))
            == q.load_apply(0, q.load_check(0, data + other, o)) != [])


def test_a_shared_table_in_use_on_another_thread_is_refused(pages):
    import threading

    data = b"".join(pages) * 8
    table = SharedCompression("zstd", PS, threads=2)
    errors, stop = [], threading.Event()

    def fill():
        while not stop.is_set():
            try:
                table.fill(data)
            except PoolInputError as e:
                errors.append(str(e))

    worker = threading.Thread(target=fill)
    worker.start()
    try:
        pool = CorePool("mainline", "zstd")
        for _ in range(200):
            try:
                pool.load_check(0, data, b"c" * (len(data) // PS), shared=table)
            except PoolInputError as e:
                errors.append(str(e))
            if errors:
                break
    finally:
        stop.set()
        worker.join()
    assert errors and "in use by another thread" in errors[0]


def test_far_apart_folio_sizes_run_one_size_at_a_time(pages):
    """A chunk holds whole folios of every size; sizes whose common multiple is huge
    are run apart, each still field for field its run alone."""
    configs = [RunConfig("mainline", "lz4", True, f) for f in (509, 511, 512)]
    together, limited = run_together(pages_source(pages, PS), configs)
    assert limited == [] and len(together) == 3
    for cfg, got in zip(configs, together):
        assert fields(got) == fields(replay_on_core(pages, cfg))


def test_a_pool_shares_its_bytes_once():
    pool = CorePool("mainline", "lz4")
    pool.share_bytes()
    with pytest.raises(PoolInputError, match="shares already"):
        pool.share_bytes()


def test_a_runs_result_with_findings_pickles_whole(pages):
    """What a cluster's worker sends back: the kept violations and every count."""
    import pickle

    from zswap_spec.replay.on_core import CoreRun
    from zswap_spec.replay.run import run_passes

    got = run_passes(CoreRun, pages, RunConfig("v13", "lz4", False))
    assert got.violations
    back = pickle.loads(pickle.dumps(got))
    assert fields(back) == fields(got)
    assert back.violations.counts == got.violations.counts



def test_compress_ahead_skips_a_whole_ring_of_rejected_pages_without_waiting(tmp_path):
    """On two threads without a shared table, pages are compressed ahead in a ring of
    64; a folio rejected before its pages are compressed (here its entries cannot be
    allocated) leaves more than a ring of positions behind.  The store must go on
    (it waited forever once) and give one thread's result."""
    import subprocess
    import sys

    script = tmp_path / "gap.py"
    script.write_text(
        "import os\n"
        "from zswap_spec.pool.core_backend import CorePool\n"
        "text = open(os.__file__, 'rb').read()\n"
        "data = b''.join(text[i * 97:i * 97 + 4096].ljust(4096, b'x') for i in range(512))\n"
        "outs = []\n"
        "for threads in (1, 2):\n"
        "    p = CorePool('uniform', 'lz4', threads=threads)\n"
        "    p.fail_entry_alloc(1)\n"
        "    outs.append((p.store_run(data, 0, 128), p.snapshot()))\n"
        "assert outs[0] == outs[1], 'two threads differ'\n"
        "assert outs[0][0][:128] == b'x' * 128 and b'c' in outs[0][0][128:]\n"
        "print('ok')\n")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


def test_a_chunks_blobs_are_cut_from_one_arena_given_back_when_read_back(pages):
    """The blobs of a table's chunk live in one arena (_shared.pxi): mapped while a pool
    holds one of them or the table is on that chunk, and unmapped once every entry has
    been read back and the table has moved on or gone."""
    import gc

    from zswap_spec.optimized_core import load_core

    live = load_core().module.live_arenas
    gc.collect()
    before = live()
    data = b"".join(pages[:64])
    other = bytes(reversed(data))
    table = SharedCompression("lz4", PS)
    pools = [CorePool(v, "lz4") for v in ("mainline", "v14")]
    table.fill(data)
    assert live() == before + 1
    outs = []
    for pool in pools:
        pool.share_bytes()
        outs.append(pool.store_run(data, 0, shared=table))
    assert b"c" in outs[0] and b"r" in outs[0]  # blobs of both kinds were cut
    table.fill(other)  # the table moves on; the pools still hold the first chunk's blobs
    assert live() == before + 2
    for pool, out in zip(pools, outs):
        assert pool.load_apply(0, pool.load_check(0, data, out)) == []
    assert live() == before + 1  # the first chunk's arena went with its last blob
    del table
    gc.collect()
    assert live() == before


def test_a_table_freed_by_the_cycle_collector_mid_fill_waits_for_its_workers(tmp_path):
    """A table reachable only from a cycle, freed with a fill started: the chunk it holds
    must stay mapped until its workers are done (no gc clear before the wait).  In a
    process of its own: a chunk unmapped under a worker would end it (SIGSEGV)."""
    import subprocess
    import sys

    script = f"""
import gc, os
from zswap_spec.optimized_core import load_core
core = load_core().module
n = 64 << 20
path = {str(tmp_path / "chunk.bin")!r}
with open(path, "wb") as f:
    f.write(os.urandom(n))
fd = os.open(path, os.O_RDONLY)
gc.disable()
table = core.Compressed("zstd", 4096, 0, 2)
table.fill_start(memoryview(core.MappedChunk(fd, 0, n)))  # the table alone holds the chunk
box = [table]
box.append(box)
del table, box
print("collected", gc.collect() > 0)
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "collected True", (p.returncode, p.stderr)

"""Store, load, invalidate and writeback semantics of the model (mainline
unless stated), with real compressors and injected failures."""

import os
import random

import pytest

from zswap_spec.model.cint import EAGAIN, EINVAL, EIO, ENOENT, ENOMEM, ENOSPC
from zswap_spec.model.invariants import check_global
from zswap_spec.model.memcg import MemCgroup, mem_cgroup_iter, mem_cgroup_zswap_writeback_enabled
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.variants import VARIANTS
from zswap_spec.model.zswap import MAX_RECLAIM_RETRIES, Folio, Zswap

TEXT = (b"static int zswap_store(struct folio *folio) { return 0; }\n" * 80)[:4096]


def text_page(i: int, page_size: int = 4096) -> bytes:
    return (f"page {i} ".encode() + TEXT * (page_size // 4096))[:page_size]


def rand_page(page_size: int = 4096) -> bytes:
    return os.urandom(page_size)


def make(variant="mainline", compressor="lz4", writeback=True, **kw):
    zs = Zswap(variant, compressor, **kw)
    memcg = MemCgroup("/t", zs.root, zswap_writeback=writeback)
    return zs, memcg, SwapSystem(zs)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_folio_is_stored_all_or_nothing(variant):
    # INV-ATOMIC: one incompressible page with writeback off rejects the folio,
    # and stale entries of an earlier swap-out at those slots go too.
    zs, memcg, system = make(variant, writeback=False)
    system.swap_out(Folio(tuple(text_page(i) for i in range(4)), 0, memcg))
    assert set(zs.tree) == {0, 1, 2, 3}
    pages = (text_page(10), text_page(11), rand_page(), text_page(13))
    assert system.swap_out(Folio(pages, 0, memcg)) == ["rejected"] * 4
    assert zs.tree == {}
    assert not [v for v in system.violations if v.invariant == "INV-ATOMIC"]
    assert not check_global(zs)
    assert [system.swap_in(i) for i in range(4)] == list(pages)  # from memory


def test_atomicity_check_catches_a_partial_folio():
    zs, memcg, system = make()
    zs.zswap_store(Folio((text_page(0),), 5, memcg))
    from zswap_spec.model.invariants import check_store

    # Pretend a two-page folio at slot 5 failed: its first slot still has an entry.
    found = check_store(zs, Folio((text_page(0), text_page(1)), 5, memcg), False, True, 0)
    assert [v.invariant for v in found] == ["INV-ATOMIC"]


def test_stale_entry_is_replaced_and_freed():
    zs, memcg, system = make()
    system.swap_out(Folio((text_page(1),), 7, memcg))
    old_handle = zs.tree[7].handle
    system.swap_out(Folio((text_page(2),), 7, memcg))
    assert zs.tree[7].handle != old_handle and old_handle not in zs.zpool.objects
    assert zs.counters["stored_pages"] == 1
    assert system.swap_in(7) == text_page(2)
    assert not system.violations and not check_global(zs)


def test_load_is_exclusive_and_counts_zswpin():
    zs, memcg, system = make()
    system.swap_out(Folio((text_page(0),), 0, memcg))
    ret, page = zs.zswap_load(0)
    assert (ret, page) == (0, text_page(0))
    assert zs.vm_events["zswpin"] == 1 and memcg.stat["zswpin"] == 1
    assert zs.zswap_load(0) == (-ENOENT, None)
    assert zs.zpool.objects == {} and zs.counters["stored_pages"] == 0


def test_large_folio_load_is_einval():
    zs, memcg, _ = make()
    zs.zswap_store(Folio((text_page(0),), 0, memcg))
    assert zs.zswap_load(0, nr_pages=2) == (-EINVAL, None)


def test_corrupt_blob_fails_to_decompress_and_the_entry_stays():
    zs, memcg, system = make()
    system.swap_out(Folio((text_page(0),), 0, memcg))
    entry = zs.tree[0]
    zs.zpool.objects[entry.handle] = b"\xff" * entry.length  # a corrupt compressed blob
    assert zs.zswap_load(0) == (-EIO, None)
    assert zs.counters["decompress_fail"] == 1 and 0 in zs.tree
    system.swap_in(0)
    assert [v.invariant for v in system.violations] == ["INV-ROUNDTRIP"]


def test_as_is_entry_is_copied_back_without_decompression():
    zs, memcg, system = make()
    page = rand_page()
    assert system.swap_out(Folio((page,), 0, memcg)) == ["raw"]
    assert zs.tree[0].length == 4096 and zs.zpool.objects[zs.tree[0].handle] == page
    assert zs.counters["stored_incompressible_pages"] == 1
    assert memcg.memory_stat(4096)["zswap_incomp"] == 4096  # printed in bytes
    assert system.swap_in(0) == page and not system.violations


def test_zs_malloc_limits_and_injected_enomem():
    zs, memcg, system = make()
    assert zs.zpool.zs_malloc(0) == -EINVAL
    assert zs.zpool.zs_malloc(4097) == -ENOSPC
    assert zs.zpool.bad_sizes == [0, 4097]
    zs.zpool.fail_next.append(-ENOMEM)
    assert system.swap_out(Folio((text_page(0),), 0, memcg)) == ["rejected"]
    assert zs.counters["reject_alloc_fail"] == 1
    assert not system.violations  # one counter, nothing leaked


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_entry_allocation_failure_counts_kmemcache_fail(variant):
    zs, memcg, system = make(variant)
    zs.kmemcache_fail_next = 1
    assert system.swap_out(Folio((text_page(0), text_page(1)), 0, memcg)) == ["rejected"] * 2
    assert zs.counters["reject_kmemcache_fail"] == 1
    assert not system.violations and not check_global(zs)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_tree_insert_failure_frees_the_handle(variant):
    # INV-NOLEAK: the handle of an entry that never reached the tree is freed.
    zs, memcg, system = make(variant)
    zs.xa_store_fail_next = 1
    system.swap_out(Folio((text_page(0), text_page(1), text_page(2)), 0, memcg))
    assert zs.counters["reject_alloc_fail"] == 1
    assert zs.zpool.objects == {} and zs.tree == {}
    assert not system.violations and not check_global(zs)


def test_leak_and_bad_length_are_caught_by_the_global_check():
    zs, memcg, system = make()
    system.swap_out(Folio((text_page(0),), 0, memcg))
    handle = zs.zpool.zs_malloc(10)
    zs.zpool.zs_obj_write(handle, b"x" * 10)
    zs.tree[0].length = 0
    found = {v.invariant for v in check_global(zs)}
    assert {"INV-NOLEAK", "INV-LEN", "INV-COUNTERS"} <= found


def test_writeback_switch_is_hierarchical():
    root = MemCgroup("/")
    parent = root.child("a", zswap_writeback=False)
    child = parent.child("b")
    assert mem_cgroup_zswap_writeback_enabled(child) is False
    assert mem_cgroup_zswap_writeback_enabled(root.child("c")) is True
    assert mem_cgroup_zswap_writeback_enabled(None) is True
    # zswap globally off: writeback counts as enabled.
    assert mem_cgroup_zswap_writeback_enabled(child, zswap_enabled=False) is True


def test_zswap_max_zero_rejects_every_store():
    zs, memcg, system = make()
    memcg.zswap_max = 0
    assert system.swap_out(Folio((text_page(0),), 0, memcg)) == ["rejected"]
    assert zs.trace.stage == "memcg_limit"
    assert system.swap_in(0) == text_page(0)  # went to the swap device


def test_zswap_max_forces_writeback_before_the_store():
    # Over memory.zswap.max, the store first shrinks the cgroup: the walk
    # clears the referenced bits, meets the rotated entries again and writes
    # them back, and the store then goes ahead (checked against Linux 7.3.4
    # by `zswap-spec kernel-check --zswap-max`).
    zs, memcg, system = make()
    memcg.zswap_max = 2 * 4096
    pages = [rand_page() for _ in range(8)]  # as-is: 4096 bytes each
    outcomes = [system.swap_out(Folio((p,), i, memcg))[0] for i, p in enumerate(pages)]
    assert outcomes == ["raw"] * 8
    assert zs.counters["written_back_pages"] >= 2
    assert memcg.stat["zswpwb"] == zs.counters["written_back_pages"]
    assert [system.swap_in(i) for i in range(8)] == pages
    assert not system.violations and not system.check_global()


def test_a_lone_referenced_entry_only_loses_its_bit():
    # list_for_each_safe: rotating the only entry ends the walk.
    zs, memcg, system = make()
    system.swap_out(Folio((rand_page(),), 0, memcg))
    assert zs.shrink_memcg(memcg) == -EAGAIN
    assert memcg.lru == {0: False} and zs.counters["written_back_pages"] == 0
    assert zs.shrink_memcg(memcg) == 0
    assert zs.counters["written_back_pages"] == 1 and zs.tree == {}
    assert system.swap_in(0) is not None and not system.violations


def test_shrink_with_writeback_disabled_or_empty_is_enoent():
    zs, memcg, system = make(writeback=False)
    system.swap_out(Folio((text_page(0),), 0, memcg))
    assert zs.shrink_memcg(memcg) == -ENOENT
    zs2, memcg2, _ = make()
    assert zs2.shrink_memcg(memcg2) == -ENOENT


def test_failed_writeback_counts_reject_reclaim_fail_and_keeps_the_entry():
    zs, memcg, system = make()
    system.swap_out(Folio((text_page(0),), 0, memcg))
    memcg.lru[0] = False
    entry = zs.tree[0]
    zs.zpool.objects[entry.handle] = b"\xff" * entry.length  # will not decompress
    assert zs.shrink_memcg(memcg) == -EAGAIN
    assert zs.counters["reject_reclaim_fail"] >= 1 and 0 in zs.tree


def rand_pages(n: int, seed: int = 0) -> list[bytes]:
    """Incompressible pages, reproducibly: each is stored as-is (writeback on)
    in an object of PAGE_SIZE bytes, which zsmalloc's last class (one object
    per one-page zspage) holds: one pool page per stored page."""
    rng = random.Random(seed)
    return [rng.randbytes(4096) for _ in range(n)]


def test_pool_limit_hysteresis_without_the_worker():
    # zswap_store alone (no swap layer, so the queued worker never runs).
    # RAM of 200 pages: limit 20% = 40 pages, accept again at 90% of it = 36.
    zs = Zswap("mainline", "lz4", total_ram_pages=200)
    memcg = MemCgroup("/t", zs.root)
    pages = rand_pages(48)
    assert [zs.zswap_store(Folio((p,), i, memcg)) for i, p in enumerate(pages[:40])] == [True] * 40
    assert zs.zswap_total_pages() == 40 and not zs.shrink_work_queued
    assert not zs.zswap_store(Folio((pages[40],), 40, memcg))  # 40 >= 40: full
    assert zs.pool_reached_full and zs.counters["pool_limit_hit"] == 1
    assert zs.shrink_work_queued and zs.trace.stage == "pool_limit"
    assert not zs.queue_work()  # already pending: queue_work does nothing
    for i in range(3):
        zs.zswap_invalidate(i)  # 37 pages: under the limit, over the threshold
    assert not zs.zswap_store(Folio((pages[41],), 41, memcg))
    assert zs.counters["pool_limit_hit"] == 1  # not counted below the limit
    assert zs.pool_reached_full and zs.trace.stage == "pool_limit"
    zs.zswap_invalidate(3)  # 36 pages: at the threshold
    assert zs.zswap_store(Folio((pages[42],), 42, memcg))
    assert not zs.pool_reached_full and zs.zswap_total_pages() == 37
    assert zs.run_queued_work() and not zs.run_queued_work()  # pending once, run once


def test_what_queues_the_shrink_worker():
    # Queued only by a store that fails, zswap enabled, while the pool is full.
    zs = Zswap("mainline", "lz4", total_ram_pages=40)  # limit 8 pages, threshold 7
    memcg = MemCgroup("/t", zs.root, zswap_writeback=False)
    assert not zs.zswap_store(Folio((rand_page(),), 0, memcg))  # poor compression, not full
    assert zs.trace.stage == "pages" and not zs.shrink_work_queued
    memcg.zswap_writeback = True
    for i, p in enumerate(rand_pages(8)):
        assert zs.zswap_store(Folio((p,), 10 + i, memcg)) and not zs.shrink_work_queued
    assert not zs.zswap_store(Folio((text_page(0),), 1, memcg))
    assert zs.trace.stage == "pool_limit" and zs.shrink_work_queued
    memcg.zswap_writeback = False
    assert zs.run_queued_work() and zs.shrink_trace.gave_up  # nothing to write back
    assert zs.pool_reached_full and not zs.shrink_work_queued
    zs.enabled = False
    assert not zs.zswap_store(Folio((text_page(0),), 2, memcg))
    assert zs.trace.stage == "disabled" and not zs.shrink_work_queued  # straight to check_old
    zs.enabled = True
    memcg.zswap_max = 0  # refused before the pool limit is looked at; the flag is stale
    assert not zs.zswap_store(Folio((text_page(0),), 3, memcg))
    assert zs.trace.stage == "memcg_limit" and zs.shrink_work_queued


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_200_page_example_writes_back_and_accepts_again(variant):
    """On Linux 7.3's zswap (mainline's base tree; every variant's store path
    is run on it here).  RAM 200 pages: limit 40 pool pages, accept threshold 36.  400 random
    pages, one per folio, in one cgroup with writeback on; each takes one pool
    page.  By hand, from the rules:

    - offsets 0-39 are stored (40 pages); 40 finds the pool full (hit 1) and
      queues the worker, which runs after the swap-out.  Run 1: root (empty
      LRU: -ENOENT), /t (40 referenced entries: the 32-entry walk only clears
      32 bits: -EAGAIN, attempt and failure 1), end of pass (an attempt was
      made: no failure), root, /t (the 8 still referenced lose their bit, the
      remaining 24 steps write back 24 entries: 0), 16 <= 36: done.
    - the pool is at 16 <= 36: accepted again; 41-64 fill it to 40, 65 is
      refused.  Run 2 starts at the cursor /t: end of pass (no attempt this
      run: failure 1), root, /t: 16 unreferenced entries written back, the
      remaining 16 steps clear 16 new entries.  Pool 24.
    - from then on each cycle stores 16 (pool 24 -> 40), refuses one, and
      the run writes back 16 (8 entries rotated, 16 written back, 8 cleared):
      refusals at 82, 99, ..., 82 + 17k; 66-399 is 334 offsets = 19 cycles
      of 17 plus 11 stored.
    Stored 40 + 24 + 19 * 16 + 11 = 379, refused 2 + 19 = 21 (each one a
    pool_limit_hit), written back 24 + 16 + 19 * 16 = 344, pool 379 - 344 = 35.
    """
    zs, memcg, system = make(variant, total_ram_pages=200, base_tree="linux-7.3")
    assert zs.base_tree.shrink_memcg_walk == 32
    assert (zs.zswap_max_pages(), zs.zswap_accept_thr_pages()) == (40, 36)
    pages = rand_pages(400, seed=200)
    outcomes = [system.swap_out(Folio((p,), i, memcg))[0] for i, p in enumerate(pages)]
    refused = [i for i, o in enumerate(outcomes) if o == "rejected"]
    assert refused == [40, 65] + [82 + 17 * k for k in range(19)]
    assert outcomes.count("raw") == 379 and len(refused) == 21
    assert zs.counters["pool_limit_hit"] == 21
    assert zs.counters["written_back_pages"] == 344 == memcg.stat["zswpwb"]
    assert zs.counters["stored_pages"] == 35 == zs.zswap_total_pages()
    assert not zs.shrink_work_queued and zs.zswap_next_shrink is memcg
    assert zs.shrink_trace.steps == [(None, None), ("/", -ENOENT), ("/t", 0)]
    assert [system.swap_in(i) for i in range(400)] == pages
    assert not system.violations and not system.check_global()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_200_page_example_on_the_late_2025_tree(variant):
    """The same 400 pages on the late-2025 tree (the batching series' base;
    every variant's store path is run on it here), whose `shrink_memcg`
    walks one entry: each call clears one referenced bit (-EAGAIN: an
    attempt and a failure) or writes one entry back (0).  By hand:

    - 0-39 stored; 40 refused (hit).  Run 1 starts at the root: root
      (-ENOENT), /t (clears 0's bit: failure 1), end of pass (an attempt: no
      failure), ... the 16th /t call is failure 16: gave up, 0-15 cleared,
      nothing written back, pool still 40.
    - 41 refused.  Run 2 starts at the cursor /t: end of pass (no attempt yet
      this run: failure 1), then 15 /t calls clear 16-30 (failures 2-16).
    - 42 refused.  Run 3: end of pass (failure 1), 9 /t calls clear 31-39
      (failures 2-10), then 4 calls write back 0-3: pool 36, done.  All 36
      entries left (4-39) are unreferenced.
    - nine cycles: 4 stored (pool 36 -> 40), 1 refused, the run writes back
      the 4 oldest (end of pass, root, /t, four times): refusals at 47, 52,
      ..., 87; then the LRU holds the 36 entries stored in those cycles, all
      referenced.  88-91 stored (40 referenced entries), 92 refused: as at
      40, but the run starts at the cursor, so runs at 92 and 93 clear 15
      each and the run at 94 clears 10 and writes back 4.
    So from b = 40, every 52 offsets: refusals b, b+1, b+2 and b+2+5k for k
    = 1..9; b = 40, 92, ..., 352, whose last refusal is 399.  Seven phases
    of 12 refusals: 84 refused (each a pool_limit_hit), 316 stored, 7 * (4
    + 9 * 4) = 280 written back, pool 316 - 280 = 36.
    """
    zs, memcg, system = make(variant, total_ram_pages=200, base_tree="mm-late-2025")
    assert zs.base_tree.shrink_memcg_walk == 1
    pages = rand_pages(400, seed=200)
    outcomes = [system.swap_out(Folio((p,), i, memcg))[0] for i, p in enumerate(pages)]
    refused = [i for i, o in enumerate(outcomes) if o == "rejected"]
    assert refused == [b + d for b in range(40, 400, 52) for d in [0, 1, 2] + [2 + 5 * k for k in range(1, 10)]]
    assert refused[:6] == [40, 41, 42, 47, 52, 57] and refused[-1] == 399
    assert outcomes.count("raw") == 316 and len(refused) == 84
    assert zs.counters["pool_limit_hit"] == 84
    assert zs.counters["written_back_pages"] == 280 == memcg.stat["zswpwb"]
    assert zs.counters["stored_pages"] == 36 == zs.zswap_total_pages()
    assert zs.zswap_next_shrink is memcg
    assert zs.shrink_trace.steps == [(None, None), ("/", -ENOENT), ("/t", 0)] * 4
    assert [system.swap_in(i) for i in range(400)] == pages
    assert not system.violations and not system.check_global()


def test_the_first_worker_run_on_the_late_2025_tree_gives_up():
    zs, memcg, system = make("v13", total_ram_pages=200)
    assert zs.base_tree.name == "mm-late-2025"
    for i, p in enumerate(rand_pages(41, seed=1)):
        system.swap_out(Folio((p,), i, memcg))
    t = zs.shrink_trace
    per_pass = [("/", -ENOENT), ("/t", -EAGAIN)]
    assert t.steps == (per_pass + [(None, None)]) * (MAX_RECLAIM_RETRIES - 1) + per_pass
    assert (t.failures, t.attempts, t.gave_up) == (MAX_RECLAIM_RETRIES, 1, True)
    assert zs.counters["written_back_pages"] == 0 and zs.zswap_total_pages() == 40
    assert list(memcg.lru) == list(range(16, 40)) + list(range(16))
    assert memcg.lru == {i: i >= 16 for i in range(40)}


def test_the_first_worker_run_of_the_200_page_example():
    zs, memcg, system = make(total_ram_pages=200)
    for i, p in enumerate(rand_pages(41, seed=1)):
        system.swap_out(Folio((p,), i, memcg))
    t = zs.shrink_trace
    assert t.steps == [("/", -ENOENT), ("/t", -EAGAIN), (None, None), ("/", -ENOENT), ("/t", 0)]
    assert (t.failures, t.attempts, t.gave_up) == (1, 1, False)
    assert zs.counters["written_back_pages"] == 24 and sorted(memcg.lru) == list(range(24, 40))


def _fill(system, memcg, n, first, seed):
    for i, p in enumerate(rand_pages(n, seed)):
        assert system.swap_out(Folio((p,), first + i, memcg)) == ["raw"]


def test_the_worker_resumes_round_robin_from_its_cursor():
    # Made A, B, then A1 under A: pre-order from the root is /, A, A1, B.
    # RAM 200 (limit 40, threshold 36).  Each cgroup's entries all fit in
    # one 32-entry walk, which clears their bits, meets them again and
    # writes them all back, so one shrink_memcg brings the pool under the
    # threshold and each run stops on the cgroup after the last one.
    zs = Zswap("mainline", "lz4", total_ram_pages=200)
    system = SwapSystem(zs)
    a = zs.root.child("A")
    b = zs.root.child("B")
    a1 = a.child("A1")
    assert zs.root.children == [a, b] and a.children == [a1]
    _fill(system, a, 14, 0, seed=1)
    _fill(system, a1, 13, 100, seed=2)
    _fill(system, b, 13, 200, seed=3)
    runs = []
    for k, (refill, n) in enumerate([(None, 0), (a, 14), (a1, 13), (b, 13)]):
        if refill is not None:
            _fill(system, refill, n, 1000 * (k + 1), seed=10 + k)
        assert zs.zswap_total_pages() == 40
        assert system.swap_out(Folio((rand_page(),), 900 + k, b)) == ["rejected"]  # runs the worker
        runs.append((zs.shrink_trace.steps, [len(m.lru) for m in (a, a1, b)]))
    assert runs == [
        ([("/", -ENOENT), ("/A", 0)], [0, 13, 13]),
        ([("/A/A1", 0)], [14, 0, 13]),
        ([("/B", 0)], [14, 13, 0]),
        ([(None, None), ("/", -ENOENT), ("/A", 0)], [0, 13, 13]),
    ]
    assert zs.zswap_next_shrink is a


def test_the_worker_skips_a_cgroup_with_writeback_disabled():
    zs = Zswap("mainline", "lz4", total_ram_pages=200)  # limit 40, threshold 36
    system = SwapSystem(zs)
    a = zs.root.child("A")
    b = zs.root.child("B")
    _fill(system, a, 20, 0, seed=1)  # as-is entries, stored while writeback was on
    _fill(system, b, 20, 100, seed=2)
    a.zswap_writeback = False
    assert system.swap_out(Folio((rand_page(),), 500, b)) == ["rejected"]
    t = zs.shrink_trace
    # A: -ENOENT, neither an attempt nor a failure.  B: 20 bits cleared, then
    # 12 of its entries written back (32 steps): 28 pages <= 36.
    assert t.steps == [("/", -ENOENT), ("/A", -ENOENT), ("/B", 0)]
    assert (t.failures, t.attempts) == (0, 1)
    assert len(a.lru) == 20 and all(a.lru.values()) and a.stat["zswpwb"] == 0
    assert b.stat["zswpwb"] == 12 and zs.zswap_total_pages() == 28


def test_the_worker_gives_up_when_no_cgroup_can_write_back():
    # Every pass finds no candidate: a failure per pass, 16 passes.
    zs, memcg, system = make(total_ram_pages=200)
    _fill(system, memcg, 40, 0, seed=1)
    memcg.zswap_writeback = False
    system.swap_out(Folio((text_page(0),), 99, memcg))
    t = zs.shrink_trace
    assert t.steps == [("/", -ENOENT), ("/t", -ENOENT), (None, None)] * MAX_RECLAIM_RETRIES
    assert (t.failures, t.gave_up) == (MAX_RECLAIM_RETRIES, True)
    assert zs.zswap_total_pages() == 40 and zs.counters["written_back_pages"] == 0


def test_the_worker_gives_up_after_failed_writebacks():
    # Ten compressed entries whose objects no longer decompress: every
    # shrink_memcg walks 32 steps and writes nothing back (-EAGAIN), an
    # attempt and a failure each; the ends of passes count nothing (an
    # attempt was made).  Call 1 clears 10 bits and fails 22 writebacks,
    # calls 2-16 fail 32 each: 22 + 15 * 32 = 502.
    zs, memcg, system = make()
    for i in range(10):
        system.swap_out(Folio((text_page(i),), i, memcg))
    for entry in zs.tree.values():
        zs.zpool.objects[entry.handle] = b"\xff" * entry.length
    pool = zs.zswap_total_pages()
    zs.total_ram_pages = pool * 5  # the limit is the pool as it is
    assert zs.zswap_max_pages() == pool
    assert system.swap_out(Folio((text_page(10),), 10, memcg)) == ["rejected"]
    t = zs.shrink_trace
    per_pass = [("/", -ENOENT), ("/t", -EAGAIN)]
    assert t.steps == (per_pass + [(None, None)]) * (MAX_RECLAIM_RETRIES - 1) + per_pass
    assert (t.failures, t.attempts, t.gave_up) == (MAX_RECLAIM_RETRIES, 1, True)
    assert zs.counters["reject_reclaim_fail"] == 502 == zs.counters["decompress_fail"]
    assert zs.counters["written_back_pages"] == 0 and zs.zswap_total_pages() == pool


def test_stores_are_refused_until_the_pool_is_at_the_threshold():
    # Through the swap layer, with nothing the worker can write back: each
    # refused store runs it, it gives up, and stores stay refused until the
    # pool is freed down to the accept threshold.
    zs, memcg, system = make(total_ram_pages=200)  # limit 40, threshold 36
    _fill(system, memcg, 40, 0, seed=1)
    memcg.zswap_writeback = False
    page = text_page(0)
    for freed in range(4):
        assert system.swap_out(Folio((page,), 100 + freed, memcg)) == ["rejected"]
        assert zs.shrink_trace.gave_up and zs.zswap_total_pages() == 40 - freed
        system.swap_free(freed)
    assert zs.counters["pool_limit_hit"] == 1  # only the check at 40 pages
    assert zs.zswap_total_pages() == 36
    assert system.swap_out(Folio((page,), 200, memcg)) == ["compressed"]
    assert not zs.pool_reached_full and not zs.shrink_work_queued


def test_mem_cgroup_iter_is_a_pre_order_walk_in_creation_order():
    root = MemCgroup("/")
    a, b = root.child("a"), root.child("b")
    b1, a1 = b.child("b1"), a.child("a1")
    a2, a1x = a.child("a2"), a1.child("x")
    walk, pos = [], None
    while (pos := mem_cgroup_iter(root, pos)) is not None:
        walk.append(pos)
    assert walk == [root, a, a1, a1x, a2, b, b1]
    assert mem_cgroup_iter(root, None) is root  # after the end: a new pass


def test_disabled_zswap_stores_nothing_and_drops_stale_entries():
    zs, memcg, system = make()
    system.swap_out(Folio((text_page(0),), 0, memcg))
    zs.enabled = False
    assert system.swap_out(Folio((text_page(1),), 0, memcg)) == ["rejected"]
    assert zs.tree == {} and zs.trace.stage == "disabled"
    assert system.swap_in(0) == text_page(1)


def test_zero_filled_folio_never_reaches_zswap():
    zs, memcg, system = make()
    assert system.swap_out(Folio((bytes(4096), bytes(4096)), 0, memcg)) == ["zero", "zero"]
    assert zs.counters["stored_pages"] == 0 and zs.trace.malloc_sizes == []
    assert system.swap_in(1) == bytes(4096)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("compressor", ["lz4", "zstd", "deflate", "deflate-iaa"])
def test_64k_pages_round_trip(variant, compressor):
    zs, memcg, system = make(variant, compressor, page_size=65536)
    pages = (text_page(1, 65536), rand_page(65536), text_page(2, 65536))
    system.swap_out(Folio(pages, 0, memcg))
    assert [system.swap_in(i) for i in range(3)] == list(pages)
    assert not system.violations and not system.check_global()


def test_unsupported_page_size_is_refused():
    with pytest.raises(ValueError, match="page size 8192 is not supported"):
        Zswap("mainline", "lz4", page_size=8192)


def test_counters_agree_with_entries_after_mixed_operations():
    zs, memcg, system = make()
    for i in range(30):
        page = rand_page() if i % 3 == 0 else text_page(i)
        system.swap_out(Folio((page,), i, memcg))
    for i in range(0, 30, 2):
        system.swap_in(i)
    zs.zswap_invalidate(1)
    assert not system.check_global()
    assert zs.counters["stored_pages"] == len(zs.tree)
    assert memcg.stat["zswap"] == sum(e.length for e in zs.tree.values())

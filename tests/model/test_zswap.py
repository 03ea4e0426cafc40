"""Store, load, invalidate and writeback semantics of the model (mainline
unless stated), with real compressors and injected failures."""

import os

import pytest

from zswap_spec.model.cint import EAGAIN, EINVAL, EIO, ENOENT, ENOMEM, ENOSPC
from zswap_spec.model.invariants import check_global
from zswap_spec.model.memcg import MemCgroup, mem_cgroup_zswap_writeback_enabled
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.variants import VARIANTS
from zswap_spec.model.zswap import Folio, Zswap

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


def test_pool_limit_hysteresis():
    # RAM of 40 pages: limit 20% = 8 pages, accept again at 90% of that = 7.
    zs, memcg, system = make(total_ram_pages=40)
    n = 0
    while system.swap_out(Folio((rand_page(),), n, memcg)) != ["rejected"]:
        n += 1
    assert zs.zswap_total_pages() >= zs.zswap_max_pages() == 8
    assert zs.pool_reached_full and zs.counters["pool_limit_hit"] == 1
    system.swap_out(Folio((rand_page(),), n + 1, memcg))
    assert zs.counters["pool_limit_hit"] == 2  # counted at every check while over
    system.swap_in(0)  # 7 pages: at the accept threshold
    assert system.swap_out(Folio((text_page(0),), n + 2, memcg)) == ["compressed"]
    assert not zs.pool_reached_full


def test_shrink_worker_brings_the_pool_under_the_accept_threshold():
    zs, memcg, system = make(total_ram_pages=40)
    for i in range(20):
        system.swap_out(Folio((rand_page(),), i, memcg))
    assert zs.shrink_work_queued
    zs.shrink_worker()
    assert zs.zswap_total_pages() <= zs.zswap_accept_thr_pages()
    for i in range(20):
        system.swap_in(i)
    assert not system.violations


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

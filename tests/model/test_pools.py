"""zswap's pools (model/pools.py, Zswap.set_compressor) and the root objcg's
charges (Zswap(charge_root=False)), as Linux 7.3.4 does them."""

from zswap_spec.model.invariants import check_global
from zswap_spec.model.memcg import MemCgroup
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.zswap import Folio, Zswap

TEXT = (b"static int zswap_store(struct folio *folio) { return 0; }\n" * 80)[:4096]


def page(i: int) -> bytes:
    return (f"page {i} ".encode() + TEXT)[:4096]


def test_the_same_compressor_changes_nothing():
    zs = Zswap("mainline", "lz4")
    pool = zs.pool
    assert zs.set_compressor("lz4") is False and zs.pools == [pool]


def test_entries_keep_their_pool_and_every_pool_counts_in_the_total():
    zs = Zswap("mainline", "lz4")
    system = SwapSystem(zs)
    for i in range(6):
        system.swap_out(Folio((page(i),), i))
    lz4 = zs.pool
    assert zs.set_compressor("zstd") is True
    for i in range(6, 12):
        system.swap_out(Folio((page(i),), i))
    zstd = zs.pool
    assert zs.pools == [zstd, lz4] and not lz4.current and lz4.entries == 6
    assert {zs.tree[i].pool.name for i in range(6)} == {"lz4"}
    assert {zs.tree[i].pool.name for i in range(6, 12)} == {"zstd"}
    assert zs.zswap_total_pages() == lz4.zpool.total_pages() + zstd.zpool.total_pages()
    assert zs.counters["pool_total_size"] == zs.zswap_total_pages() * 4096
    assert check_global(zs) == []
    # Each entry decompresses with its own pool's compressor.
    assert [system.swap_in(i) for i in range(12)] == [page(i) for i in range(12)]
    assert zs.pools == [zstd] and system.violations == [] and check_global(zs) == []


def test_a_decommissioned_pool_is_taken_back_while_it_holds_entries():
    zs = Zswap("mainline", "lz4")
    system = SwapSystem(zs)
    system.swap_out(Folio((page(0),), 0))
    lz4, pages = zs.pool, zs.zswap_total_pages()
    zs.set_compressor("zstd")
    zs.set_compressor("lz4")
    assert zs.pools == [lz4] and lz4.current  # the zstd pool, empty, went at once
    # The same zsmalloc pool: a second object of the class fills the same zspage.
    system.swap_out(Folio((page(1),), 1))
    assert zs.zswap_total_pages() == pages
    system.swap_in(0)
    system.swap_in(1)
    zs.set_compressor("zstd")
    zs.set_compressor("lz4")
    assert zs.pool is not lz4  # emptied and decommissioned: gone, a new pool is made


def test_the_global_check_sees_an_object_leaked_in_an_old_pool():
    zs = Zswap("mainline", "lz4")
    SwapSystem(zs).swap_out(Folio((page(0),), 0))
    old = zs.pool
    zs.set_compressor("zstd")
    old.zpool.zs_malloc(100)
    assert [v.invariant for v in check_global(zs)] == ["INV-NOLEAK"]


def test_the_root_objcg_is_not_charged_but_counts_its_events():
    """7.3: a folio charged to the root has the root objcg; its entries count
    nowhere in memory.stat's zswap lines, a child's count up to the root."""
    for charge_root in (True, False):
        zs = Zswap("mainline", "lz4", charge_root=charge_root)
        child = MemCgroup("/a", zs.root)
        system = SwapSystem(zs)
        system.swap_out(Folio((page(0), page(1)), 0))  # the root's
        system.swap_out(Folio((page(2),), 2, child))
        mine = zs.tree[2].length
        root_own = zs.tree[0].length + zs.tree[1].length
        want = (mine + root_own, 3) if charge_root else (mine, 1)
        assert (zs.root.stat["zswap"], zs.root.stat["zswapped"]) == want
        assert (child.stat["zswap"], child.stat["zswapped"]) == (mine, 1)
        assert zs.root.stat["zswpout"] == 3 and child.stat["zswpout"] == 1
        assert check_global(zs) == []
        system.swap_in(0)
        assert zs.root.stat["zswpin"] == 1 and check_global(zs) == []
        system.swap_free(1)
        system.swap_free(2)
        assert zs.root.stat["zswap"] == zs.root.stat["zswapped"] == 0
        assert check_global(zs) == []

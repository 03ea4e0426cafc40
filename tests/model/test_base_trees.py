"""Each variant runs with the zswap of its base tree: Linux 7.3 for mainline,
the late-2025 tree (the batching series' base) for v13, v14 and the review's
proposals.  The trees differ in `shrink_memcg`'s walk (32 entries against
one) and in the pool shrink worker with memcg disabled."""

import random

import pytest

from zswap_spec.model.cint import EAGAIN
from zswap_spec.model.memcg import MemCgroup
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.variants import BASE_TREES, VARIANTS, get_base_tree
from zswap_spec.spec import TABLES
from zswap_spec.model.zswap import MAX_RECLAIM_RETRIES, SWAP_CLUSTER_MAX, Folio, Zswap

# Each variant's base tree as the spec's `variants` table (§6) states it; the five
# variants read first are pinned here as well, so a change to the table shows.
EXPECTED_BASE = {r["name"]: r["base_tree"] for r in TABLES["variant"]}
assert {v: EXPECTED_BASE[v] for v in ("mainline", "v13", "v14", "explicit", "uniform")} == {
    "mainline": "linux-7.3", "v13": "mm-late-2025", "v14": "mm-late-2025",
    "explicit": "mm-late-2025", "uniform": "mm-late-2025"}
EXPECTED_WALK = {"linux-7.3": SWAP_CLUSTER_MAX, "mm-late-2025": 1}


def rand_pages(n: int, seed: int) -> list[bytes]:
    """Incompressible pages: each is stored as-is (4096 bytes, one pool page)."""
    rng = random.Random(seed)
    return [rng.randbytes(4096) for _ in range(n)]


def test_the_base_trees_and_their_parameters():
    assert set(BASE_TREES) == {"linux-7.3", "mm-late-2025"}
    assert {n: t.shrink_memcg_walk for n, t in BASE_TREES.items()} == EXPECTED_WALK
    assert BASE_TREES["linux-7.3"].worker_shrinks_root_without_memcg is True
    assert BASE_TREES["mm-late-2025"].worker_shrinks_root_without_memcg is False
    assert "9321810240ec" in BASE_TREES["mm-late-2025"].source
    assert "7.3.4" in BASE_TREES["linux-7.3"].source
    with pytest.raises(ValueError, match="unknown base tree"):
        get_base_tree("linux-6.18")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_variant_names_its_base_tree_and_walks_its_length(variant):
    assert VARIANTS[variant].base_tree == EXPECTED_BASE[variant]
    zs = Zswap(variant, "lz4")
    assert zs.base_tree is BASE_TREES[EXPECTED_BASE[variant]]
    # 40 referenced entries: one shrink_memcg clears the bits of the entries
    # it walks (32 or 1) and writes nothing back.
    memcg = MemCgroup("/t", zs.root)
    for i, p in enumerate(rand_pages(40, seed=3)):
        assert zs.zswap_store(Folio((p,), i, memcg))
    assert zs.shrink_memcg(memcg) == -EAGAIN
    walk = EXPECTED_WALK[EXPECTED_BASE[variant]]
    assert sum(not ref for ref in memcg.lru.values()) == walk
    assert list(memcg.lru) == list(range(walk, 40)) + list(range(walk))
    assert zs.counters["written_back_pages"] == 0


def test_the_base_tree_can_be_chosen_apart_from_the_variant():
    assert Zswap("mainline", base_tree="mm-late-2025").base_tree.shrink_memcg_walk == 1
    assert Zswap("v13", base_tree=BASE_TREES["linux-7.3"]).base_tree.shrink_memcg_walk == 32


def _through_zswap_max(variant):
    """Eight incompressible one-page folios into a cgroup whose memory.zswap.max
    is two pages: from the third on, each store finds the cgroup at its
    limit and calls shrink_memcg first (the store goes ahead only if it
    returns 0)."""
    zs = Zswap(variant, "lz4")
    memcg = MemCgroup("/t", zs.root, zswap_max=2 * 4096)
    system = SwapSystem(zs)
    pages = rand_pages(8, seed=8)
    outcomes, stages = [], []
    for i, p in enumerate(pages):
        outcomes += system.swap_out(Folio((p,), i, memcg))
        stages.append(zs.trace.stage)
    return zs, memcg, system, pages, outcomes, stages


@pytest.mark.parametrize("variant", [v for v in VARIANTS if EXPECTED_BASE[v] == "linux-7.3"])
def test_zswap_max_on_linux_7_3_walks_up_to_32_entries(variant):
    # Store 2: LRU [0, 1], both referenced.  The walk clears 0 and 1 (each
    # rotated), meets 0 again and writes it back (restart at the head), then
    # writes 1 back: 4 steps, 2 written back, 0 returned: 2 is stored.  Store
    # 3 fits (one page charged).  Stores 4 and 6 do the same to 2, 3 and 4, 5.
    zs, memcg, system, pages, outcomes, stages = _through_zswap_max(variant)
    assert outcomes == ["raw"] * 8
    assert stages == ["stored"] * 8
    assert zs.counters["written_back_pages"] == 6 == memcg.stat["zswpwb"]
    assert sorted(zs.tree) == [6, 7] and zs.counters["reject_reclaim_fail"] == 0
    assert [system.swap_in(i) for i in range(8)] == pages
    assert not system.violations and not system.check_global()


@pytest.mark.parametrize("variant", [v for v in VARIANTS if EXPECTED_BASE[v] == "mm-late-2025"])
def test_zswap_max_on_the_late_2025_tree_walks_one_entry(variant):
    # Each shrink_memcg visits the head of the LRU only.  Store 2: clears 0
    # (LRU [1, 0]): -EAGAIN, refused.  Store 3: clears 1 ([0, 1]): refused.
    # Store 4: writes 0 back: stored ([1, 4]).  Store 5: writes 1 back:
    # stored ([4, 5]).  Stores 6 and 7 clear 4 and 5 and are refused.
    zs, memcg, system, pages, outcomes, stages = _through_zswap_max(variant)
    assert outcomes == ["raw", "raw", "rejected", "rejected"] * 2
    assert stages == ["stored", "stored", "memcg_limit", "memcg_limit"] * 2
    assert zs.counters["written_back_pages"] == 2 == memcg.stat["zswpwb"]
    assert sorted(zs.tree) == [4, 5] and memcg.lru == {4: False, 5: False}
    assert not any(zs.counters[c] for c in ("reject_reclaim_fail", "reject_compress_poor",
                                            "reject_compress_fail", "reject_alloc_fail"))
    assert [system.swap_in(i) for i in range(8)] == pages
    assert not system.violations and not system.check_global()


def _worker_without_memcg(variant, base_tree=None):
    """memcg disabled: 40 incompressible pages fill the pool of a 200-page
    machine (limit 40, threshold 36); the 41st store is refused and runs the
    shrink worker, whose mem_cgroup_iter answers NULL every turn."""
    zs = Zswap(variant, "lz4", total_ram_pages=200, memcg_disabled=True, base_tree=base_tree)
    system = SwapSystem(zs)
    for i, p in enumerate(rand_pages(41, seed=41)):
        system.swap_out(Folio((p,), i))
    return zs


def test_without_memcg_the_7_3_worker_shrinks_the_global_lru():
    # Turn 1: shrink_memcg(NULL), the root's LRU (40 referenced entries): 32
    # bits cleared, -EAGAIN (an attempt, failure 1).  Turn 2: 32..39 lose
    # their bits, then 0..23 are written back (24 steps): 0, pool 16 <= 36.
    zs = _worker_without_memcg("mainline")
    t = zs.shrink_trace
    assert t.steps == [("/", -EAGAIN), ("/", 0)]
    assert (t.failures, t.attempts, t.gave_up) == (1, 2, False)
    assert zs.counters["written_back_pages"] == 24 and zs.zswap_total_pages() == 16
    assert zs.zswap_next_shrink is None


@pytest.mark.parametrize("variant,base_tree", [("v13", None), ("v14", None), ("explicit", None),
                                               ("uniform", None), ("mainline", "mm-late-2025")])
def test_without_memcg_the_late_2025_worker_only_counts_failures(variant, base_tree):
    # Every turn is the end of a pass with no attempt made: a failure each,
    # MAX_RECLAIM_RETRIES turns, nothing written back.
    zs = _worker_without_memcg(variant, base_tree)
    t = zs.shrink_trace
    assert t.steps == [(None, None)] * MAX_RECLAIM_RETRIES
    assert (t.failures, t.attempts, t.gave_up) == (MAX_RECLAIM_RETRIES, 0, True)
    assert zs.counters["written_back_pages"] == 0 and zs.zswap_total_pages() == 40


def test_without_memcg_a_folio_has_no_cgroup():
    zs = Zswap("mainline", memcg_disabled=True)
    with pytest.raises(ValueError, match="memcg is disabled"):
        zs.zswap_store(Folio((bytes(4096),), 0, MemCgroup("/t", zs.root)))
    assert zs.writeback_enabled(None) and zs.zswap_store(Folio((bytes(4096),), 0))

"""Workload scripts on the model (kernel/script_model.py): each step as Linux
7.3.4 does it, with figures worked out by hand from the kernel's rules (the
docstrings give the working), not read off the model."""

from __future__ import annotations

import json

import pytest

from zswap_spec.kernel.script import FORMAT, Corpus, Step, parse_script
from zswap_spec.kernel.script_model import NotModelled, ScriptModel, run_script
from zswap_spec.model.cint import EAGAIN, ENOENT
from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.memcg import MEMCG_STATS
from zswap_spec.model.zswap import DEBUGFS_COUNTERS, VM_EVENTS

PS = 4096
LIB = dict(ALGORITHMS)


@pytest.fixture(scope="module")
def corpus():
    return Corpus.build({"lz4": ALGORITHMS["lz4"], "zstd": ALGORITHMS["zstd"]}, per_kind=8)


def script(*steps, compressor="lz4", cursor="none"):
    text = f'format = "{FORMAT}"\n[start]\ncompressor = "{compressor}"\n' \
           f'shrink_cursor = "{cursor}"\n'
    for s in steps:
        text += "\n[[step]]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in s.items())
    return parse_script(text + "\n")


def model_of(sc, corpus, total_ram_pages=60000):
    return ScriptModel(compressor=sc.compressor, algorithms=LIB, total_ram_pages=total_ram_pages,
                       corpus=corpus, base=sc.base, start_cursor=sc.start_cursor)


def run(corpus, *steps, total_ram_pages=60000, **kw):
    """(model, records) after every step; the model's own checks must stay clean."""
    sc = script(*steps, **kw)
    model = model_of(sc, corpus, total_ram_pages)
    recs = [model.start_record()] + [model.step(s) for s in sc.steps]
    assert model.violations == []
    return model, recs


def mk(path):
    return {"op": "mkcg", "path": path}


def enter(path):
    return {"op": "enter", "path": path}


def store(region, pages=None, content=None, folio_pages=None, seed=None):
    out = {"op": "store", "region": region}
    for k, v in (("pages", pages), ("content", content), ("folio_pages", folio_pages),
                 ("seed", seed)):
        if v is not None:
            out[k] = v
    return out


def op(name, region):
    return {"op": name, "region": region}


def cgset(path, file, value):
    return {"op": "cgset", "path": path, "file": f"memory.zswap.{file}", "value": value}


def param(name, value):
    return {"op": "param", "name": name, "value": value}


# ---- the pool limit ------------------------------------------------------------------

POOL_LIMIT = [param("max_pool_percent", 20), param("accept_threshold_percent", 90),
              store("r1", 400, "random")]


@pytest.mark.parametrize("where", ["/", "/a"])
def test_the_pool_limit_example_writes_back_and_accepts_again(corpus, where):
    """RAM 200 pages: limit 200 * 20 % = 40 pool pages, accept threshold 36.
    400 random pages, one per folio, writeback on; each is stored as-is, in
    one pool page (zsmalloc's 4096-byte class).  By hand, from mm/zswap.c:

    - 0-39 are stored (pool 40); 40 finds the pool full (`zswap_check_limits`:
      hit 1) and goes to the swap device; the worker it queued runs.  From the
      cursor NULL, `mem_cgroup_iter` gives the root, then (for /a) /a:
      `shrink_memcg` walks 32 of the 40 referenced entries, clearing their
      bits (-EAGAIN: an attempt, failure 1); end of pass (an attempt was made:
      no failure); the workload's cgroup again: 8 bits cleared, then the
      remaining 24 steps write back 24 entries: pool 16 <= 36, done.
    - 41-64 fill the pool to 40, 65 is refused; the second run starts at the
      cursor: end of pass (no attempt yet: failure 1), then 16 unreferenced
      entries written back and 16 bits cleared: pool 24.
    - from then on each cycle stores 16, refuses one and writes 16 back:
      refusals at 82 + 17k; 66-399 is 19 cycles of 17 and 11 stored.
    Stored 40 + 24 + 19 * 16 + 11 = 379; refused 2 + 19 = 21, each a
    pool_limit_hit and a worker run; written back 24 + 16 + 19 * 16 = 344;
    left in the pool 379 - 344 = 35, all as-is.

    The root's zswap figures count only its descendants' entries (7.3 does
    not charge the root objcg); events count wherever the folio is charged."""
    steps = ([mk("a"), enter("a")] if where == "/a" else []) + POOL_LIMIT + [op("load", "r1")]
    model, recs = run(corpus, *steps, total_ram_pages=200)
    zs = model.zs
    assert (zs.zswap_max_pages(), zs.zswap_accept_thr_pages()) == (40, 36)
    after = recs[len(steps) - 1]
    c = after["counter"]
    assert c["pool_limit_hit"] == 21 and after["worker"]["shrink_worker_runs"] == 21
    assert c["written_back_pages"] == 344 and c["stored_pages"] == 35
    assert c["stored_incompressible_pages"] == 35 and c["pool_total_size"] == 35 * PS
    assert sum(c[k] for k in c if k.startswith("reject_")) == 0
    assert after["vmstat"] == {"zswpin": 0, "zswpout": 379, "zswpwb": 344}
    assert after["regions"] == {"r1": {"pages": 400, "swapped": 400, "resident": 0}}
    charged = {"zswap": 35 * PS, "zswapped": 35 * PS, "zswap_incomp": 35 * PS}
    events = {"zswpin": 0, "zswpout": 379, "zswpwb": 344}
    if where == "/a":
        assert after["memcg"] == {"/": {**charged, **events}, "/a": {**charged, **events}}
    else:
        assert after["memcg"] == {"/": {"zswap": 0, "zswapped": 0, "zswap_incomp": 0, **events}}
    # The load reads 35 pages from zswap and 365 from the device (no counter).
    last = recs[-1]
    assert last["vmstat"] == {"zswpin": 35, "zswpout": 379, "zswpwb": 344}
    assert last["counter"]["stored_pages"] == 0 and last["counter"]["pool_total_size"] == 0
    assert last["regions"]["r1"] == {"pages": 400, "swapped": 0, "resident": 400}


def test_the_shrink_cursor_starts_where_the_script_says(corpus):
    """41 random pages in /a (RAM 200: limit 40).  From NULL the first run
    visits the root (empty LRU: -ENOENT), /a (-EAGAIN), the end of a pass,
    the root, /a (writes back); from the root it starts at /a."""
    steps = [mk("a"), enter("a"), store("r", 41, "random")]
    none, _ = run(corpus, *steps, total_ram_pages=200, cursor="none")
    root, _ = run(corpus, *steps, total_ram_pages=200, cursor="root")
    assert none.zs.shrink_trace.steps == [("/", -ENOENT), ("/a", -EAGAIN), (None, None),
                                          ("/", -ENOENT), ("/a", 0)]
    assert root.zs.shrink_trace.steps == [("/a", -EAGAIN), (None, None), ("/", -ENOENT),
                                          ("/a", 0)]
    for m in (none, root):
        assert m.zs.counters["written_back_pages"] == 24 and m.zs.zswap_next_shrink.name == "/a"


# ---- faults, slots and folios --------------------------------------------------------

def test_a_load_frees_entries_and_slots_and_a_store_writes_again(corpus):
    """8 text pages in /a: stored (8 zswpout); the read faults take each from
    zswap (8 zswpin), and with the RAM disk's synchronous I/O the slot is
    freed on a read fault too: nothing stays in zswap or the swap layer.  A
    store then writes all 8 again, into the empty pool as the first time."""
    model, recs = run(corpus, mk("a"), enter("a"), store("r", 8, "text"), op("load", "r"),
                      store("r"))
    first, loaded, again = recs[3], recs[4], recs[5]
    assert first["vmstat"]["zswpout"] == 8 and first["counter"]["stored_pages"] == 8
    assert loaded["vmstat"]["zswpin"] == 8 and loaded["memcg"]["/a"]["zswpin"] == 8
    assert loaded["counter"]["stored_pages"] == 0 and loaded["counter"]["pool_total_size"] == 0
    assert loaded["memcg"]["/a"]["zswap"] == 0
    assert loaded["regions"]["r"] == {"pages": 8, "swapped": 0, "resident": 8}
    assert again["vmstat"]["zswpout"] == 16
    assert again["counter"]["pool_total_size"] == first["counter"]["pool_total_size"]
    assert again["memcg"]["/a"]["zswap"] == first["memcg"]["/a"]["zswap"]
    assert model.zs.tree.keys() == {s for s, _ in model._slots.items()}


def test_zero_pages_go_to_the_zeromap_and_device_pages_come_back_to_zswap(corpus):
    """Zero pages never reach zswap.  With memory.zswap.max 0 and /a's zswap
    LRU empty, `shrink_memcg` finds nothing (-ENOENT): every store is refused
    before compressing (no reject counter) and goes to the device.  Read back
    (no zswpin: not from zswap) the pages are resident without a slot, so
    once the limit is lifted a store puts them in zswap."""
    model, recs = run(corpus, mk("a"), enter("a"), store("z", 4, "zero"), op("load", "z"),
                      cgset("a", "max", 0), store("d", 4, "text"), op("load", "d"),
                      cgset("a", "max", "max"), store("d"), store("z"))
    zero, zero_in, dev, dev_in, back, zero_again = (recs[i] for i in (3, 4, 6, 7, 9, 10))
    assert zero["regions"]["z"]["swapped"] == 4 and zero["vmstat"]["zswpout"] == 0
    assert zero_in["regions"]["z"]["resident"] == 4 and zero_in["vmstat"]["zswpin"] == 0
    assert dev["regions"]["d"]["swapped"] == 4 and dev["counter"] == zero["counter"]
    assert dev["vmstat"]["zswpout"] == 0
    assert dev_in["regions"]["d"]["resident"] == 4 and dev_in["vmstat"]["zswpin"] == 0
    assert back["vmstat"]["zswpout"] == 4 and back["counter"]["stored_pages"] == 4
    assert zero_again["counter"]["stored_pages"] == 4 and zero_again["vmstat"]["zswpout"] == 4
    assert zero_again["regions"] == {"z": {"pages": 4, "swapped": 4, "resident": 0},
                                     "d": {"pages": 4, "swapped": 4, "resident": 0}}


def test_a_folio_refused_with_writeback_off_stays_whole_in_the_swap_cache(corpus):
    """8 random pages in folios of 4, writeback off: each folio's first page
    does not compress, so zswap refuses the folio (one reject counter) and
    `swap_writeout` keeps it in the swap cache, unmapped: swapped, not
    resident.  MADV_PAGEOUT skips it (no present PTE); a read fault finds it
    in the swap cache (no zswpin) and maps it whole, still a 4-page folio;
    with writeback on, each folio is stored whole, as-is."""
    model, recs = run(corpus, mk("a"), enter("a"), cgset("a", "writeback", 0),
                      store("r", 8, "random", folio_pages=4), store("r"), op("load", "r"),
                      cgset("a", "writeback", 1), store("r"))
    kept, again, loaded, stored = recs[4], recs[5], recs[6], recs[8]
    rejects = sum(v for k, v in kept["counter"].items() if k.startswith("reject_"))
    assert rejects == 2 and kept["vmstat"]["zswpout"] == 0
    assert kept["regions"]["r"] == {"pages": 8, "swapped": 8, "resident": 0}
    assert again == kept
    assert loaded["regions"]["r"]["resident"] == 8 and loaded["vmstat"]["zswpin"] == 0
    assert stored["vmstat"]["zswpout"] == 8
    assert stored["counter"]["stored_incompressible_pages"] == 8
    assert stored["memcg"]["/a"]["zswap_incomp"] == 8 * PS


def test_pages_brought_back_from_zswap_are_order_0_folios(corpus):
    model, _ = run(corpus, store("r", 8, "text", folio_pages=4), op("load", "r"))
    assert model.regions["r"].fsize == dict.fromkeys(range(8), 1)
    model, _ = run(corpus, store("r", 8, "text", folio_pages=4))
    assert model.regions["r"].fsize == {}  # every folio swapped out


def test_redirty_faults_pages_in_and_writes_new_contents(corpus):
    """A write fault on a page in zswap loads it (zswpin), then the page is
    rewritten: zero contents go to the zeromap on the next store."""
    _, recs = run(corpus, store("r", 4, "text"), {"op": "redirty", "region": "r",
                                                  "content": "zero"}, store("r"))
    redirtied, stored = recs[2], recs[3]
    assert redirtied["vmstat"] == {"zswpin": 4, "zswpout": 4, "zswpwb": 0}
    assert redirtied["regions"]["r"]["resident"] == 4 and redirtied["counter"]["stored_pages"] == 0
    assert stored["regions"]["r"]["swapped"] == 4 and stored["vmstat"]["zswpout"] == 4


def test_free_invalidates_every_entry_and_drops_the_region(corpus):
    _, recs = run(corpus, store("r", 6, "text"), store("z", 2, "zero"), op("free", "r"),
                  op("free", "z"))
    assert recs[2]["counter"]["stored_pages"] == 6
    assert recs[3]["counter"]["stored_pages"] == 0 and recs[3]["counter"]["pool_total_size"] == 0
    assert list(recs[3]["regions"]) == ["z"] and recs[4]["regions"] == {}
    assert recs[4]["vmstat"] == recs[2]["vmstat"]  # freeing counts no event


# ---- cgroups --------------------------------------------------------------------------

def test_charges_stay_where_pages_were_first_written(corpus):
    """r1 is written in a/b, r2 in c.  a/b's figures show in a and the root;
    after `enter c`, r1's pages (loaded, stored again) still count in a/b."""
    model, recs = run(corpus, mk("a"), mk("a/b"), mk("c"), enter("a/b"), store("r1", 4, "text"),
                      enter("c"), store("r2", 2, "text"), op("load", "r1"), store("r1"))
    rec = recs[7]
    m = rec["memcg"]
    assert list(m) == ["/", "/a", "/a/b", "/c"]
    assert m["/a/b"]["zswpout"] == 4 and m["/c"]["zswpout"] == 2 and m["/"]["zswpout"] == 6
    assert m["/a"] == m["/a/b"]
    assert m["/"]["zswap"] == m["/a"]["zswap"] + m["/c"]["zswap"]
    assert m["/"]["zswapped"] == 6 * PS
    assert recs[8]["memcg"]["/a/b"]["zswpin"] == 4 and recs[8]["memcg"]["/c"]["zswpin"] == 0
    assert recs[9]["memcg"]["/a/b"]["zswpout"] == 8 and recs[9]["memcg"]["/c"]["zswpout"] == 2


def test_zswap_disabled_sends_stores_to_the_device_and_still_loads_entries(corpus):
    _, recs = run(corpus, store("r1", 4, "text"), param("enabled", False), store("r2", 4, "text"),
                  op("load", "r1"), op("load", "r2"), param("enabled", True), store("r2"))
    assert recs[3]["vmstat"]["zswpout"] == 4 and recs[3]["regions"]["r2"]["swapped"] == 4
    assert recs[4]["vmstat"]["zswpin"] == 4  # zswap_load does not look at `enabled`
    assert recs[5]["vmstat"]["zswpin"] == 4  # r2 came from the device
    assert recs[7]["vmstat"]["zswpout"] == 8


# ---- pools ----------------------------------------------------------------------------

def test_entries_keep_the_pool_they_were_stored_in(corpus):
    """After `compressor` changes, the lz4 pool keeps its entries (and counts
    in pool_total_size) until they are gone: the total is the two pools'
    sums, as when each region is stored alone."""
    r1, r2 = store("r1", 16, "text"), store("r2", 16, "code")
    both, recs = run(corpus, r1, param("compressor", "zstd"), r2)
    lz4_alone, a = run(corpus, r1)
    zstd_alone, b = run(corpus, r2, compressor="zstd")
    assert [p.name for p in both.zs.pools] == ["zstd", "lz4"]
    assert recs[3]["counter"]["pool_total_size"] == \
        a[1]["counter"]["pool_total_size"] + b[1]["counter"]["pool_total_size"]
    both.step(Step("load", {"region": "r1"}))
    assert [p.name for p in both.zs.pools] == ["zstd"]  # the old pool went with its last entry
    assert both.violations == []  # every page decompressed with its own pool's compressor


def test_switching_back_takes_the_old_pool_back_while_it_holds_entries(corpus):
    model, _ = run(corpus, store("r1", 4, "text"))
    lz4 = model.zs.pool
    model.step(Step("param", {"name": "compressor", "value": "lz4"}))
    assert model.zs.pools == [lz4]  # the same name: nothing changes
    model.step(Step("param", {"name": "compressor", "value": "zstd"}))
    assert [p.name for p in model.zs.pools] == ["zstd", "lz4"] and model.zs.pools[1] is lz4
    model.step(Step("param", {"name": "compressor", "value": "lz4"}))
    assert model.zs.pools == [lz4]  # taken back; the empty zstd pool is gone
    model, _ = run(corpus, param("compressor", "zstd"), param("compressor", "lz4"))
    assert [p.name for p in model.zs.pools] == ["lz4"] and model.zs.pool.entries == 0


def test_a_compressor_the_model_lacks_is_not_modelled(corpus):
    sc = script(param("compressor", "lzo"))
    with pytest.raises(NotModelled, match=r"^step 1 \(param\): not modelled: the model has no "
                                          r"compressor 'lzo'"):
        model_of(sc, corpus).step(sc.steps[0])
    with pytest.raises(NotModelled, match="^start: not modelled"):
        model_of(script(compressor="842"), corpus)


# ---- memory.reclaim -------------------------------------------------------------------

def test_a_reclaim_of_everything_pages_out_every_folio(corpus):
    """Resident pages go out as by MADV_PAGEOUT; a kept folio is written
    again (now with writeback on: stored as-is); the clean folios the worker
    left in the swap cache are dropped without a count."""
    model, recs = run(corpus, mk("a"), enter("a"), store("t", 8, "text"), op("load", "t"),
                      cgset("a", "writeback", 0), store("k", 4, "random", folio_pages=4),
                      cgset("a", "writeback", 1), {"op": "reclaim", "path": "a"})
    before, after = recs[7], recs[8]
    assert before["regions"]["t"]["resident"] == 8 and before["regions"]["k"]["swapped"] == 4
    assert after["vmstat"]["zswpout"] == before["vmstat"]["zswpout"] + 12
    assert after["regions"] == {"t": {"pages": 8, "swapped": 8, "resident": 0},
                                "k": {"pages": 4, "swapped": 4, "resident": 0}}
    assert after["counter"]["stored_incompressible_pages"] == 4


def test_written_back_pages_in_the_swap_cache_count_toward_the_reclaim(corpus):
    """After the pool-limit store, 344 written-back pages sit in the swap
    cache, charged to /a: a reclaim must ask for them too to be modelled."""
    model, _ = run(corpus, mk("a"), enter("a"), *POOL_LIMIT, total_ram_pages=200)
    assert sum(len(r.cached) for r in model.regions.values()) == 344
    reclaim = script(mk("a"), {"op": "reclaim", "path": "a", "bytes": 343 * PS}).steps[1]
    with pytest.raises(NotModelled, match=r"which holds 344"):
        model.step(reclaim)
    reclaim = script(mk("a"), {"op": "reclaim", "path": "a", "bytes": 344 * PS}).steps[1]
    rec = model.step(reclaim)
    assert rec["vmstat"]["zswpout"] == 379 and rec["counter"]["written_back_pages"] == 344
    assert all(not r.cached for r in model.regions.values())


@pytest.mark.parametrize("case,needle", [
    ("partial", "which folios MGLRU evicts first"),
    ("shrinker", "shrinker_enabled is Y"),
    ("writeback-off", "rejected with writeback off"),
    ("limit-reached", "memory.zswap.max was reached during the reclaim"),
    ("pool-limit", "met the pool limit during the reclaim"),
])
def test_a_reclaim_the_model_cannot_predict_is_refused_and_changes_nothing(corpus, case, needle):
    steps = [mk("a"), enter("a"), store("r", 8, "random"), op("load", "r")]
    bytes_ = 8 * PS
    ram = 60000
    if case == "partial":
        bytes_ = 7 * PS
    elif case == "shrinker":
        steps.append(param("shrinker_enabled", True))
    elif case == "writeback-off":
        steps.append(cgset("a", "writeback", 0))
    elif case == "limit-reached":
        steps.append(cgset("a", "max", 2 * PS))  # 2 pages: reached at the third store
    else:
        ram = 25  # limit 5 pages: reached during the reclaim
    sc = script(*steps, {"op": "reclaim", "path": "a", "bytes": bytes_})
    model = model_of(sc, corpus, ram)
    for s in sc.steps[:-1]:
        before = model.step(s)
    with pytest.raises(NotModelled, match=rf"^step {len(steps) + 1} \(reclaim\): not modelled: "
                                          rf".*{needle}"):
        model.step(sc.steps[-1])
    assert model.record() == before
    assert [r.state for r in model.regions.values()] == [["resident"] * 8]


def test_a_cgroup_at_its_limit_from_the_start_with_an_empty_lru_is_modelled(corpus):
    _, recs = run(corpus, mk("a"), enter("a"), store("r", 4, "text"), op("load", "r"),
                  cgset("a", "max", 0), {"op": "reclaim", "path": "a"})
    assert recs[-1]["regions"]["r"]["swapped"] == 4
    assert recs[-1]["vmstat"]["zswpout"] == recs[-2]["vmstat"]["zswpout"]


# ---- records --------------------------------------------------------------------------

def test_records_have_exactly_the_documented_fields(corpus):
    sc = script(mk("a"), mk("a/b"), enter("a/b"), store("r", 4, "text"), store("s", 4, "zero"),
                op("free", "s"), {"op": "wait"}, {"op": "settle"})
    recs = run_script(sc, corpus, LIB, 60000)
    assert len(recs) == len(sc.steps) + 1
    assert recs[0] == {"counter": dict.fromkeys(DEBUGFS_COUNTERS, 0),
                       "vmstat": dict.fromkeys(VM_EVENTS, 0),
                       "memcg": {"/": dict.fromkeys(MEMCG_STATS, 0)}, "regions": {},
                       "worker": {"shrink_worker_runs": 0}}
    last = recs[-1]
    assert set(last) == {"counter", "vmstat", "memcg", "regions", "worker"}
    assert list(last["memcg"]) == ["/", "/a", "/a/b"]
    assert all(list(v) == list(MEMCG_STATS) for v in last["memcg"].values())
    assert last["regions"] == {"r": {"pages": 4, "swapped": 4, "resident": 0}}
    assert json.loads(json.dumps(recs)) == recs
    assert recs[-1] == recs[-2] == recs[-3]  # wait and settle change nothing


def test_a_long_mixed_script_keeps_every_invariant(corpus):
    steps = [mk("a"), mk("b"), enter("a"), cgset("a", "max", 20 * PS),
             store("r1", 64, "mostly-random", folio_pages=16), enter("b"),
             store("r2", 32, "halfzero", folio_pages=8), op("load", "r1"),
             param("compressor", "zstd"), store("r1"), cgset("b", "writeback", 0),
             {"op": "redirty", "region": "r2", "content": "random"}, store("r2"),
             op("load", "r2"), op("free", "r1"), store("r2"), param("max_pool_percent", 1),
             store("r3", 512, "random", folio_pages=512), op("load", "r3"), op("free", "r2")]
    model, recs = run(corpus, *steps, total_ram_pages=20000)
    assert model.system.check_global() == []
    assert recs[-1]["regions"]["r3"]["resident"] == 512

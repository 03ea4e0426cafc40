"""The same finding reads the same whichever tool finds it: the model's
`SwapSystem` (the fuzz pool machine), the pool API on either backend
(`check`, `audit_violations`, `load_violations`, `counter_violations`),
replay on the core, and the core's and the model's pool state machines.
Each reports a `Violation` (the state machines raise `InvariantBroken`
carrying it), in the one shape, with the spec's statement.  All of them
call the one checker (`zswap_spec.model.invariants.check`): a broken state
planted in the model and in the core is found by the same check, worded the
same."""

from __future__ import annotations

import re

import pytest

from zswap_spec.fuzz.lockstep import make_impl_machine
from zswap_spec.fuzz.machine import InvariantBroken, make_pool_machine
from zswap_spec.model import invariants as inv
from zswap_spec.model.compressors import algorithm
from zswap_spec.model.invariants import CHECKS, StoredRun, check_global
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.zswap import Folio, Zswap
from zswap_spec.pool import CorePool, ModelPool, make_pool
from zswap_spec.replay import RunConfig, replay_pages
from zswap_spec.replay.sample import boundary_page, default_sample
from zswap_spec.spec import INVARIANTS

PS = 4096
IMPLS = ("model", "core")
SHAPE = re.compile(r"^INV-[A-Z]+( at slot \d+)?: \S")


def _check(v) -> None:
    assert v.invariant in INVARIANTS and SHAPE.match(v.message), v.message
    assert v.statement == INVARIANTS[v.invariant]


def _first(machine_cls, steps):
    """Run `steps` on a fresh machine, its invariant checked after each; the
    Violation the first InvariantBroken carries, or None."""
    m = machine_cls()
    try:
        for name, kwargs in steps:
            getattr(m, name)(**kwargs)
            m.spec_holds()
    except InvariantBroken as e:
        assert e.invariant == e.violation.invariant
        text = str(e)
        assert text.splitlines() == [e.violation.message,
                                     f"{e.violation.invariant}: {e.violation.statement}"]
        return e.violation
    return None


TEXT = [("text", 0, 1)]
# (variant, compressor, fault, steps, the Violation every machine reports)
SCENARIOS = {
    "INV-RAW": ("v14", "zstd", "exact-page",
                [("misbehave", dict(fault="exact-page", calls=1)), ("store", dict(group=0, runs=TEXT))],
                inv.corrupt_entry(0, PS)),
    "INV-ALLOC": ("v14", "zstd", "zero-length",
                  [("misbehave", dict(fault="zero-length", calls=1)), ("store", dict(group=1, runs=TEXT))],
                  inv.bad_alloc(512, 0)),
    "INV-WB": ("v14", "deflate-iaa", "partial-batch",
               [("set_writeback", dict(enabled=False)), ("misbehave", dict(fault="partial-batch", calls=8)),
                ("store", dict(group=2, runs=[("text", 0, 8)]))],
               inv.as_is_without_writeback(1024)),
    "INV-ROUNDTRIP": ("mainline", "zstd", "bad-output",
                      [("misbehave", dict(fault="bad-output", calls=1)), ("store", dict(group=3, runs=TEXT)),
                       ("load", dict(pick=0))],
                      inv.page_lost(1536, "zswap (zswap_load returned -EIO)")),
}


@pytest.mark.parametrize("invariant", list(SCENARIOS))
def test_the_pool_machines_report_the_same_violation(invariant):
    """The model's pool machine (SwapSystem) and the pool-API machine on the
    core and on the model: the same steps, the same Violation."""
    variant, compressor, fault, steps, expected = SCENARIOS[invariant]
    machines = {
        "pool machine": make_pool_machine(variant, compressor, (fault,), max_folio=8),
        "core machine": make_impl_machine(variant, compressor, (fault,), max_folio=8, impls=("core",)),
        "model machine": make_impl_machine(variant, compressor, (fault,), max_folio=8, impls=("model",)),
    }
    found = {name: _first(cls, steps) for name, cls in machines.items()}
    assert found == {name: expected for name in machines}
    _check(expected)


class _WritesBackWrong(ModelPool):
    """A pool whose writeback flips the last bit of the page."""

    def writeback(self, offset):
        rc, page = super().writeback(offset)
        return rc, (page[:-1] + bytes([page[-1] ^ 1]) if page else page)


def test_a_roundtrip_through_writeback_reads_like_a_load():
    m = make_impl_machine("mainline", "zstd", (), max_folio=8, impls=(_WritesBackWrong,))
    v = _first(m, [("store", dict(group=0, runs=TEXT)), ("writeback", dict(pick=0))])
    assert v == inv.page_differs(0, "writeback", PS - 1)
    assert v.detail == f"page read back from writeback differs from byte {PS - 1} on"


@pytest.mark.parametrize("impl", IMPLS)
def test_the_pool_apis_checks_word_as_the_model(impl):
    pool = make_pool("v14", "zstd", impl=impl, faults=True)
    page = [p.data for p in default_sample(PS) if p.kind == "text"][0]
    pool.arm("exact-page", 1)
    assert pool.store(0, page)
    assert pool.audit_violations(0, page, b"r", writeback=True) == [inv.corrupt_entry(0, PS)]
    assert pool.audit_violations(0, page, b"r", writeback=False) == [
        inv.corrupt_entry(0, PS), inv.as_is_without_writeback(0)]
    # The audit's other lists: a page the outcomes call rejected or zero-filled has an entry,
    # a stored one has none.
    assert pool.audit_violations(0, page, b"x", writeback=True)[0] == inv.rejected_with_entry(0)
    assert pool.audit_violations(0, page, b"0", writeback=True)[0] == inv.zero_filled_with_entry(0)
    assert pool.audit_violations(1, page, b"c", writeback=True) == [inv.stored_without_entry(1)]
    (lost,) = pool.load_violations(0, page, b"r")
    assert lost.invariant == "INV-ROUNDTRIP" and lost.offset == 0
    assert re.fullmatch(r"page read back from zswap differs from byte \d+ on", lost.detail)
    pool.fail_malloc([0])
    assert pool.alloc_violations(7) == []
    for v in pool.audit_violations(0, page, b"x", writeback=False) + [lost]:
        _check(v)


def test_the_counter_checks_read_the_same_on_the_model_the_pool_api_and_the_core(monkeypatch):
    """One page stored, then stored_pages off by one: the model's global
    check and the pool API's (on either backend) give the same Violation."""
    page = [p.data for p in default_sample(PS) if p.kind == "text"][0]
    zs = Zswap("mainline", algorithm("lz4"), page_size=PS)
    SwapSystem(zs).swap_out(Folio((page,), 0, None))
    zs.counters["stored_pages"] += 1
    expected = [inv.stored_pages_disagree(2, 1)]
    assert check_global(zs) == expected
    found = {}
    for impl in IMPLS:
        pool = make_pool("mainline", "lz4", impl=impl)
        assert pool.store(0, page)
        real = type(pool).counters
        monkeypatch.setattr(type(pool), "counters",
                            lambda self, real=real: dict(real(self), stored_pages=2))
        found[impl] = pool.counter_violations()
    assert found == {"model": expected, "core": expected}


@pytest.mark.parametrize("variant,compressor,writeback,folio", [
    ("v13", "lz4", True, 1),           # the exact-fit page: INV-RAW and INV-ROUNDTRIP
    ("v14", "deflate-iaa", False, 8),  # as-is with writeback off: INV-WB
])
def test_replay_on_the_core_words_every_violation_as_the_model(variant, compressor, writeback, folio):
    if folio == 1:
        pages = [boundary_page(compressor, PS)]
    else:
        sample = default_sample(PS)
        text = [p.data for p in sample if p.kind == "text"][:8]
        rand = [p.data for p in sample if p.kind == "random"][:8]
        pages = [page for pair in zip(text, rand) for page in pair]
    cfg = RunConfig(variant, compressor, writeback, folio)
    runs = {impl: replay_pages(pages, cfg, impl=impl).violations for impl in IMPLS}
    assert runs["model"], "the scenario no longer breaks an invariant"

    def key(v):
        return (-1 if v.offset is None else v.offset, v.invariant, v.detail)

    assert sorted(map(key, runs["model"])) == sorted(map(key, runs["core"]))
    for v in runs["model"] + runs["core"]:
        _check(v)


def test_the_core_backend_is_the_one_under_test():
    assert isinstance(make_pool(impl="core"), CorePool)


# -- one broken state, planted on each backend, found by the same check --------------------

def _text(i: int) -> bytes:
    return [p.data for p in default_sample(PS) if p.kind == "text"][i]


def _plant_length(pool, offset: int, length: int) -> None:
    if pool.impl == "core":
        pool._c._plant_entry_length(offset, length)
    else:
        pool.zs.tree[offset].length = length


def _plant_object(pool, size: int) -> None:
    if pool.impl == "core":
        pool._c._plant_object(size)
    else:
        pool.zs.zpool.zs_malloc(size)


def _len_state(impl):
    """A stored entry whose length says PAGE_SIZE + 1 (and 0 for another)."""
    pool = make_pool("mainline", "lz4", impl=impl)
    cg = pool.add_cgroup()
    data = _text(0) + _text(1) + _text(2)
    assert pool.store_run(data, 8, 1, cg) == b"ccc"
    _plant_length(pool, 9, PS + 1)
    _plant_length(pool, 10, 0)
    return pool, [StoredRun(8, b"ccc", data), None]


def _leak_state(impl):
    """A zsmalloc object no entry owns."""
    pool = make_pool("mainline", "lz4", impl=impl)
    assert pool.store(4, _text(0))
    _plant_object(pool, 100)
    return pool, [StoredRun(4, b"c", _text(0)), None]


def _raw_state(impl):
    """A corrupt entry (exact-page) with writeback off; and INV-ATOMIC's both ways."""
    pool = make_pool("v14", "zstd", impl=impl, faults=True)
    cg = pool.add_cgroup(writeback=False)
    pool.arm("exact-page", 1)
    page = _text(0)
    assert pool.store(0, page, cg)
    return pool, [StoredRun(0, b"r", page, writeback=False), StoredRun(0, b"x", page),
                  StoredRun(0, b"0", page), StoredRun(1, b"c", page), None]


def _alloc_state(impl):
    pool = make_pool("v14", "zstd", impl=impl, faults=True)
    pool.arm("zero-length", 1)
    assert not pool.store(3, _text(0))
    return pool, [StoredRun(3, b"x", _text(0), malloc_sizes=pool.bad_alloc_sizes), None]


def _counters_state(impl, monkeypatch):
    pool = make_pool("mainline", "lz4", impl=impl)
    assert pool.store(0, _text(0))
    real = type(pool).counters
    monkeypatch.setattr(type(pool), "counters",
                        lambda self, real=real: dict(real(self), stored_pages=7,
                                                     pool_total_size=1))
    return pool, [StoredRun(0, b"x", _text(0), moved=b"\x02"), None]


PLANTED = {
    "INV-LEN": (_len_state, {"INV-LEN", "INV-COUNTERS"}),
    "INV-NOLEAK": (_leak_state, {"INV-NOLEAK", "INV-COUNTERS"}),
    "INV-RAW": (_raw_state, {"INV-RAW", "INV-WB", "INV-ATOMIC"}),
    "INV-ALLOC": (_alloc_state, {"INV-ALLOC"}),
    "INV-COUNTERS": (_counters_state, {"INV-COUNTERS", "INV-ATOMIC"}),
}


@pytest.mark.parametrize("planted", list(PLANTED))
def test_a_broken_state_planted_in_model_and_core_reads_the_same(planted, monkeypatch):
    """The same broken state on each backend: the same findings, each made by the check
    of its own ID (asked for alone, it gives exactly the findings of that ID)."""
    plant, ids = PLANTED[planted]
    found = {}
    for impl in IMPLS:
        pool, events = plant(impl, monkeypatch) if plant is _counters_state else plant(impl)
        found[impl] = []
        for event in events:
            everything = pool.check(event)
            by_id = {inv_id: pool.check(event, [inv_id]) for inv_id in CHECKS}
            for inv_id, own in by_id.items():
                assert all(v.invariant == inv_id for v in own), (impl, inv_id, own)
            assert sorted(everything, key=str) == sorted(sum(by_id.values(), []), key=str)
            found[impl].append(everything)
    assert found["model"] == found["core"]
    flat = sum(found["model"], [])
    assert planted in {v.invariant for v in flat}
    assert {v.invariant for v in flat} == ids
    for v in flat:
        _check(v)


def test_the_planted_states_read_as_the_spec_words_them():
    pool, (run, whole) = _len_state("core")
    assert pool.check(run) == [inv.length_out_of_range(9, PS + 1, PS),
                               inv.length_out_of_range(10, 0, PS)]
    assert [v for v in pool.check(whole) if v.invariant == "INV-LEN"] == [
        inv.length_out_of_range(9, PS + 1, PS), inv.length_out_of_range(10, 0, PS)]
    pool, (run, whole) = _leak_state("core")
    assert pool.check(run) == [inv.objects_for_entries(4, 2, 1)]
    assert [v for v in pool.check(whole) if v.invariant == "INV-NOLEAK"] == [
        inv.objects_unowned(1, 0)]
    pool, events = _raw_state("core")
    assert [pool.check(e) for e in events] == [
        [inv.corrupt_entry(0, PS), inv.as_is_without_writeback(0)],
        [inv.rejected_with_entry(0), inv.corrupt_entry(0, PS)],
        [inv.zero_filled_with_entry(0), inv.corrupt_entry(0, PS)],
        [inv.stored_without_entry(1)], []]

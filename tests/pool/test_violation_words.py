"""The same finding reads the same whichever checker finds it: the model's
`SwapSystem` (the fuzz pool machine), the pool API's checks on either
backend (`audit_violations`, `load_violations`, `counter_violations`),
replay on the core, and the core's and the model's pool state machines.
Each reports a `Violation` (the state machines raise `InvariantBroken`
carrying it), in the one shape, with the spec's statement."""

from __future__ import annotations

import re

import pytest

from zswap_spec.fuzz.lockstep import make_impl_machine
from zswap_spec.fuzz.machine import InvariantBroken, make_pool_machine
from zswap_spec.model import invariants as inv
from zswap_spec.model.compressors import algorithm
from zswap_spec.model.invariants import check_global
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

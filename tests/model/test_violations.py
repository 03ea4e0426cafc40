"""One shape for every broken invariant: a `Violation` carries the spec's ID,
the slot, the detail and the spec's own statement; its message is
``INV-X at slot N: detail``.  Every detail is worded in one module
(`zswap_spec.model.invariants`), and each invariant is decided in one place:
its check in `CHECKS`, over a pool's view (`model.pool_view`)."""

from __future__ import annotations

import ast
import pickle
import re
from collections import defaultdict
from pathlib import Path

import pytest

import zswap_spec
from zswap_spec.model import invariants as inv
from zswap_spec.model.compressors import algorithm
from zswap_spec.model.invariants import (CHECKS, NO_MOVE, NOT_ON_A_POOL, StoredRun, Violation,
                                         check, check_global, read_back)
from zswap_spec.model.pool_view import ModelView, Tally
from zswap_spec.model.memcg import MemCgroup
from zswap_spec.model.scripted import ScriptedSoftware
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.zswap import Folio, Zswap
from zswap_spec.spec import INVARIANTS

SHAPE = re.compile(r"^(?P<id>INV-[A-Z]+)(?: at slot (?P<slot>\d+))?: (?P<detail>\S.*)$")
PS = 4096


def assert_shape(v: Violation) -> None:
    m = SHAPE.match(v.message)
    assert m, v.message
    assert m["id"] == v.invariant and m["detail"] == v.detail
    assert (m["slot"] is None) == (v.offset is None)
    assert m["slot"] is None or int(m["slot"]) == v.offset
    assert v.statement == INVARIANTS[v.invariant]
    assert str(v) == v.message


@pytest.mark.parametrize("invariant", list(INVARIANTS))
def test_every_invariant_has_the_one_shape_and_the_specs_statement(invariant):
    at_slot = Violation(invariant, 12, "what broke")
    assert at_slot.message == f"{invariant} at slot 12: what broke"
    whole_pool = Violation(invariant, None, "what broke")
    assert whole_pool.message == f"{invariant}: what broke"
    for v in (at_slot, whole_pool):
        assert_shape(v)
        assert v.to_json() == {"invariant": invariant, "offset": v.offset, "detail": "what broke"}
        assert pickle.loads(pickle.dumps(v)) == v


def test_an_id_the_spec_does_not_have_is_refused():
    with pytest.raises(ValueError, match="not an invariant of the spec"):
        Violation("INV-NOPE", 0, "x")


# Each constructor, with sample arguments, and the invariant it reports.
CONSTRUCTORS = {
    "bad_alloc": ((0, 0), "INV-ALLOC"),
    "stored_without_entry": ((0,), "INV-ATOMIC"),
    "rejected_with_entry": ((0,), "INV-ATOMIC"),
    "zero_filled_with_entry": ((0,), "INV-ATOMIC"),
    "unstored_page_loaded": ((0, 0), "INV-ATOMIC"),
    "length_out_of_range": ((0, 0xFFFFFFEA, PS), "INV-LEN"),
    "corrupt_entry": ((0, PS), "INV-RAW"),
    "as_is_without_writeback": ((0,), "INV-WB"),
    "reject_counters_moved": ((0, 2), "INV-COUNTERS"),
    "stored_pages_disagree": ((3, 2), "INV-COUNTERS"),
    "incompressible_pages_disagree": ((3, 2, PS), "INV-COUNTERS"),
    "pool_total_size_disagrees": ((PS, 0), "INV-COUNTERS"),
    "cgroup_stats_disagree": (("0", [1, 2, 3], [1, 2, 4]), "INV-COUNTERS"),
    "objects_for_entries": ((None, 3, 2), "INV-NOLEAK"),
    "objects_unowned": ((1, 0), "INV-NOLEAK"),
    "page_lost": ((0, "zswap"), "INV-ROUNDTRIP"),
    "page_differs": ((0, "zswap", 7), "INV-ROUNDTRIP"),
}


# The checker's own names, besides the constructors.
CHECKER = ("Violation", "CHECKS", "NOT_ON_A_POOL", "check", "StoredRun", "ReadBack", "read_back",
           "zswap_source", "moved_code", "NO_MOVE", "check_store", "check_global", "check_load")


def test_every_finding_has_one_constructor_and_each_gives_the_one_shape():
    exported = [n for n in inv.__all__ if n not in CHECKER]
    assert sorted(exported) == sorted(CONSTRUCTORS)
    for name, (args, invariant) in CONSTRUCTORS.items():
        v = getattr(inv, name)(*args)
        assert v.invariant == invariant, name
        assert_shape(v)


def test_the_corrupt_entry_uses_the_specs_outcome_word():
    assert "stored corrupt" in inv.corrupt_entry(0, PS).detail


def test_the_checker_has_one_check_for_every_invariant_a_pool_shows():
    assert set(CHECKS).isdisjoint(NOT_ON_A_POOL)
    assert set(CHECKS) | set(NOT_ON_A_POOL) == set(INVARIANTS)
    assert all(callable(fn) for fn in CHECKS.values())
    assert len({fn for fn in CHECKS.values()}) == len(CHECKS)  # one function per ID
    with pytest.raises(ValueError, match="INV-BATCH is not checked on a pool"):
        check(None, None, ["INV-BATCH"])
    with pytest.raises(ValueError, match="not an invariant of the spec"):
        check(None, None, ["INV-NOPE"])


def _project_sources():
    root = Path(zswap_spec.__file__).resolve().parent.parent
    for folder in ("model", "pool", "replay", "fuzz", "cli", "kernel", "driverkit", "proofs",
                   "optimized_core", "support", "zswap_spec"):
        yield from sorted((root / folder).rglob("*.py"))


def _constructor_calls(tree) -> list[tuple[str, str | None]]:
    """(constructor, the top-level function calling it) for every call of one."""
    out = []
    for top in tree.body:
        for node in ast.walk(top):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if name in CONSTRUCTORS:
                    out.append((name, getattr(top, "name", None)))
    return out


def test_each_invariant_is_decided_by_its_check_alone():
    """Each finding is made in the check of its own ID, and in no other code of the
    project: no tool compares for itself."""
    own = Path(inv.__file__).resolve()
    callers = defaultdict(set)
    for name, fn in _constructor_calls(ast.parse(own.read_text())):
        callers[name].add(fn)
    for name, (_, invariant) in CONSTRUCTORS.items():
        assert callers[name] == {CHECKS[invariant].__name__}, name
    elsewhere = [f"{path.name}: {name}" for path in _project_sources() if path.resolve() != own
                 for name, _ in _constructor_calls(ast.parse(path.read_text()))]
    assert elsewhere == []


class _Planted:
    """A pool view whose facts are set by hand: the checker's decisions alone."""

    page_size = PS

    def __init__(self, kinds=b"", lengths=None, counters=None, tally=None, objects=(0, 0)):
        self.kinds, self.lengths = kinds, lengths or {}
        self._counters = counters or {}
        self._tally = tally
        self.live_objects, self.live_entries = objects

    def slots(self, first, pages):
        assert len(pages) == len(self.kinds) * PS
        return self.kinds

    def entry_length(self, offset):
        return self.lengths[offset]

    def counters(self):
        return self._counters

    def tally(self):
        return self._tally


def test_the_checks_decide_from_the_slot_kinds():
    view = _Planted(b"-zcpqo-c", lengths={11: 0, 15: PS + 1}, objects=(5, 4))
    run = StoredRun(10, b"cccccc0x", bytes(8 * PS), writeback=False,
                    moved=bytes([NO_MOVE] * 6 + [0, NO_MOVE]), malloc_sizes=(64, 0, PS + 1))
    assert check(view, run) == [
        inv.bad_alloc(10, 0), inv.bad_alloc(10, PS + 1), inv.stored_without_entry(10),
        inv.objects_for_entries(10, 5, 4),
        inv.length_out_of_range(11, 0, PS),
        inv.as_is_without_writeback(13),
        inv.corrupt_entry(14, PS), inv.as_is_without_writeback(14),
        inv.length_out_of_range(15, PS + 1, PS),
        inv.reject_counters_moved(16, 0),
        inv.rejected_with_entry(17)]
    # With writeback on, a zero-filled page's slot holding an entry, a folio moving the
    # counters by 1, and only some IDs asked for:
    run = StoredRun(10, b"cccrcc0x", bytes(8 * PS), moved=bytes([NO_MOVE] * 6 + [1, NO_MOVE]))
    view.kinds = b"cccpcc-c"
    assert check(view, run, ["INV-ATOMIC", "INV-WB", "INV-COUNTERS"]) == [inv.rejected_with_entry(17)]
    view.kinds = b"cccpccc-"
    assert check(view, run, ["INV-ATOMIC"]) == [inv.zero_filled_with_entry(16)]
    # A run whose slots hold what it says: nothing.
    view.kinds = b"cccpcc--"
    assert check(view, run, ["INV-ATOMIC", "INV-LEN", "INV-RAW", "INV-WB", "INV-COUNTERS"]) == []


def test_the_checks_decide_from_the_whole_pools_tally():
    tally = Tally(entries=3, as_is=1, pool_pages=2, objects=4, unowned=1, without_object=0,
                  odd_lengths=[(9, 0)], cgroups=[("0", (10, 3, 1), (10, 3, 1)),
                                                 ("1", (10, 3, 1), (9, 3, 1))])
    counters = {"stored_pages": 3, "stored_incompressible_pages": 2, "pool_total_size": 2 * PS}
    view = _Planted(counters=counters, tally=tally)
    assert check(view) == [inv.incompressible_pages_disagree(2, 1, PS),
                           inv.cgroup_stats_disagree("1", (10, 3, 1), (9, 3, 1)),
                           inv.objects_unowned(1, 0),
                           inv.length_out_of_range(9, 0, PS)]
    assert check(view, None, ["INV-NOLEAK"]) == [inv.objects_unowned(1, 0)]
    view._tally = tally._replace(unowned=0)
    assert check(view, None, ["INV-NOLEAK"]) == [inv.objects_for_entries(None, 4, 3)]


def test_the_checks_decide_from_the_reads():
    page = bytes(range(256)) * (PS // 256)
    reads = [read_back(1, page, page, "zswap", stored=True),
             read_back(2, page, page[:-1] + b"\0", "writeback", stored=True),
             read_back(3, page, None, "zswap (zswap_load returned -EIO)", stored=True, rc=-5),
             read_back(4, page, page, "zswap", stored=False, rc=0),
             read_back(5, page, None, "zswap", stored=False, rc=-2)]
    assert check(None, reads) == [inv.page_differs(2, "writeback", PS - 1),
                                  inv.page_lost(3, "zswap (zswap_load returned -EIO)"),
                                  inv.unstored_page_loaded(4, 0)]


def test_the_model_view_gives_the_facts_the_core_gives():
    zs = Zswap("mainline", algorithm("lz4"), page_size=PS)
    system = SwapSystem(zs)
    text = b"text " * (PS // 5) + b"x" * (PS % 5)
    system.swap_out(Folio((text, _random_page()), 3, None))
    view = ModelView(zs)
    assert view.slots(2, bytes(PS) + text + _random_page() + bytes(PS)) == b"-cp-"
    assert view.slots(4, bytes(PS)) == b"q"  # not the page's bytes
    assert view.entry_length(3) == zs.tree[3].length and view.entry_length(5) == 0
    t = view.tally()
    assert (t.entries, t.as_is, t.objects, t.unowned, t.without_object, t.odd_lengths) == \
        (2, 1, 2, 0, 0, [])
    zs.tree[3].length = PS + 1  # a broken entry: INV-LEN, and the stats no longer agree
    assert view.slots(3, text) == b"o"
    assert [v.invariant for v in check_global(zs)] == ["INV-COUNTERS", "INV-LEN"]


def _random_page() -> bytes:
    import random

    return random.Random(7).randbytes(PS)


def test_no_checker_words_a_violation_of_its_own():
    """Violations are built by `zswap_spec.model.invariants` and nowhere else."""
    root = Path(zswap_spec.__file__).resolve().parent.parent
    own = root / "model" / "invariants.py"
    offenders = []
    for folder in ("model", "pool", "replay", "fuzz", "cli", "kernel", "driverkit", "proofs"):
        for path in (root / folder).rglob("*.py"):
            if path != own and re.search(r"Violation\(\s*[\"']INV-", path.read_text()):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


def _store(variant, alg, writeback=True, npages=1):
    zs = Zswap(variant, alg, page_size=PS)
    memcg = MemCgroup("/t", zs.root, zswap_writeback=writeback)
    system = SwapSystem(zs)
    pages = tuple(bytes([i + 1]) * 64 + bytes(PS - 64) for i in range(npages))
    system.swap_out(Folio(pages, 0, memcg))
    return system


def test_the_models_checks_use_the_constructors():
    # v13 with a software compressor reporting ret 0, dlen P: stored corrupt (S3).
    system = _store("v13", ScriptedSoftware(0, PS))
    assert system.violations == [inv.corrupt_entry(0, PS)]
    # ...and with writeback off, also INV-WB; reading it back loses the page's bytes.
    system = _store("v13", ScriptedSoftware(0, PS), writeback=False)
    assert system.violations == [inv.corrupt_entry(0, PS), inv.as_is_without_writeback(0)]
    system.swap_in(0)
    assert system.violations[-1].invariant == "INV-ROUNDTRIP"
    assert system.violations[-1].detail.startswith("page read back from zswap differs from byte")
    # v13, ret 0 and dlen 0: zs_malloc(0).
    assert _store("v13", ScriptedSoftware(0, 0)).violations[0] == inv.bad_alloc(0, 0)
    for v in system.violations:
        assert_shape(v)


def test_the_global_check_uses_the_constructors():
    zs = Zswap("mainline", algorithm("lz4"), page_size=PS)
    system = SwapSystem(zs)
    system.swap_out(Folio((b"a" * PS,), 5, None))
    zs.counters["stored_pages"] += 1
    zs.counters["stored_incompressible_pages"] += 2
    found = check_global(zs)
    assert found[:2] == [inv.stored_pages_disagree(2, 1), inv.incompressible_pages_disagree(2, 0, PS)]
    for v in found:
        assert_shape(v)

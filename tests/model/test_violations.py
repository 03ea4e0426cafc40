"""One shape for every broken invariant: a `Violation` carries the spec's ID,
the slot, the detail and the spec's own statement; its message is
``INV-X at slot N: detail``.  Every detail is worded in one module
(`zswap_spec.model.invariants`), and the model's checks use it."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

import zswap_spec
from zswap_spec.model import invariants as inv
from zswap_spec.model.compressors import algorithm
from zswap_spec.model.invariants import Violation, check_global
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
    "stored_without_entry": ((0, 2), "INV-ATOMIC"),
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


def test_every_finding_has_one_constructor_and_each_gives_the_one_shape():
    exported = [n for n in inv.__all__ if n not in ("Violation", "check_store", "check_global",
                                                    "check_load")]
    assert sorted(exported) == sorted(CONSTRUCTORS)
    for name, (args, invariant) in CONSTRUCTORS.items():
        v = getattr(inv, name)(*args)
        assert v.invariant == invariant, name
        assert_shape(v)


def test_the_corrupt_entry_uses_the_specs_outcome_word():
    assert "stored corrupt" in inv.corrupt_entry(0, PS).detail


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

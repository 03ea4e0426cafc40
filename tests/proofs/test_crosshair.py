"""CrossHair: the model's conversion and decision contracts, a behaviour
comparison of each variant's per-page decision with mainline's, and the
contract checker's power on a planted contract."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from outcomes import store_and_describe
from zswap_spec.model.decisions import DECISIONS
from zswap_spec.model.scripted import ScriptedSoftware
from zswap_spec.proofs.cexpr import bv, z3
from zswap_spec.proofs.encode import encode, make_inputs

CROSSHAIR = Path(sys.executable).with_name("crosshair")
DATA = Path(__file__).parents[1] / "data"


def crosshair(*args, timeout=300):
    return subprocess.run([str(CROSSHAIR), *args], capture_output=True, text=True, timeout=timeout)


def _verdict_key(*parts: str) -> str:
    """What a CrossHair verdict depends on: the checked sources, CrossHair's and
    Python's versions, and the arguments."""
    import hashlib
    from importlib.metadata import version

    import zswap_spec.model.cint as cint
    import zswap_spec.model.decisions as decisions

    h = hashlib.sha256()
    for part in (Path(cint.__file__).read_bytes(), Path(decisions.__file__).read_bytes(),
                 version("crosshair-tool").encode(), sys.version.encode(), *map(str.encode, parts)):
        h.update(part + b"\0")
    return h.hexdigest()[:16]


def test_contracts_of_conversions_and_decisions_hold(capsys):
    """About 30 s of symbolic execution; a clean verdict is kept in the cache,
    keyed by everything it depends on, so it is recomputed only when the
    model's conversions or decisions (or CrossHair) change."""
    from zswap_spec.support.cache import cache_dir

    args = ("check", "zswap_spec.model.cint", "zswap_spec.model.decisions", "--per_condition_timeout=2")
    stamp = cache_dir() / "crosshair" / f"clean-{_verdict_key(*args)}"
    if stamp.exists():
        with capsys.disabled():
            print(f"\nCrossHair contracts: clean for these sources before ({stamp})")
        return
    p = crosshair(*args)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip() == ""
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text("crosshair " + " ".join(args) + ": no counterexample\n")


def test_the_verdict_key_changes_with_the_checked_source(tmp_path, monkeypatch):
    import zswap_spec.model.decisions as decisions

    before = _verdict_key("check")
    copy = tmp_path / "decisions.py"
    copy.write_text(Path(decisions.__file__).read_text() + "\n# edited\n")
    monkeypatch.setattr(decisions, "__file__", str(copy))
    assert _verdict_key("check") != before


def test_a_broken_contract_is_found():
    p = crosshair("check", str(DATA / "planted_contract.py"), "--per_condition_timeout=4")
    assert p.returncode != 0
    assert "v13_stores_as_is_only_with_writeback(" in p.stdout and ", False)" in p.stdout


def _z3_differs(variant: str, ret: int, dlen: int, wb: bool) -> bool:
    """Does the Z3 encoding also see `variant` differ from mainline on this page?"""
    inp = make_inputs(4096)
    v, m = encode(variant, inp), encode("mainline", inp)
    s = z3.SolverFor("QF_BV")
    s.add(inp.n == bv(1), z3.Not(inp.batching), inp.wb == wb, inp.ret[0] == bv(ret),
          inp.dlen[0] == bv(dlen), z3.Not(inp.nomem[0]))
    differ = z3.Or(v.ok != m.ok, z3.And(m.ok, z3.Or(v.raw[0] != m.raw[0], v.length[0] != m.length[0])),
                   *[v.counters[c] != m.counters[c] for c in v.counters])
    s.add(differ)
    return s.check() == z3.sat


@pytest.mark.parametrize("variant", ["v13", "v14", "explicit", "uniform"])
def test_diffbehavior_against_mainline_finds_what_z3_finds(variant):
    p = crosshair("diffbehavior", f"zswap_spec.model.decisions.{variant}_page",
                  "zswap_spec.model.decisions.mainline_page", "--per_path_timeout=2",
                  "--max_uninteresting_iterations=40")
    found = [(int(a), int(b), c == "True")
             for a, b, c in re.findall(r"Given: \(ret=(-?\d+), dlen=(-?\d+), wb=(\w+)\)", p.stdout)]
    if variant in ("v13", "v14"):
        assert found, p.stdout
    if variant == "explicit":
        assert not found and "No differences found" in p.stdout
    for ret, dlen, wb in found:
        # Same class of counterexample as Z3's, and real on the stateful model.
        assert DECISIONS[variant](ret, dlen, wb) != DECISIONS["mainline"](ret, dlen, wb)
        assert _z3_differs(variant, ret, dlen, wb), (variant, ret, dlen, wb)


def _model_words(variant, ret, dlen, wb):
    words, system = store_and_describe(variant, ScriptedSoftware(ret, dlen), 1, wb, 4096)
    return words


def _decision_words(decision):
    outcome, length, counter = decision
    if outcome == "reject":
        return f"reject {counter.removeprefix('reject_') or 'none'}"
    return outcome


@pytest.mark.parametrize("variant", list(DECISIONS))
def test_decision_functions_match_the_stateful_model(variant):
    values = [0, 1, 100, 4095, 4096, 4097, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFE4, 0xFFFF_FFEA]
    rets = [0, -22, -28, -7, -5, 3, -(1 << 31)]
    checked = 0
    for ret in rets:
        for dlen in values:
            for wb in (True, False):
                want = _model_words(variant, ret, dlen, wb)
                assert _decision_words(DECISIONS[variant](ret, dlen, wb)) == want, (ret, dlen, wb)
                checked += 1
    assert checked == len(rets) * len(values) * 2

"""CrossHair on the model: the conversion contracts and mainline's guarantees
on the per-page decisions, which run each variant's own code through
`Zswap.zswap_store` (`zswap_spec.model.decisions`); a behaviour comparison of
each variant's decision with mainline's, checked against Z3; and the
contract checker's power: contracts the transcription breaks are refuted."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from outcomes import store_and_describe
from zswap_spec.model import decisions
from zswap_spec.model.cint import s32
from zswap_spec.model.decisions import BREAKS_MAINLINE_CONTRACTS, DECISIONS, entry_point_name
from zswap_spec.model.scripted import ScriptedSoftware
from zswap_spec.model.variants import VARIANTS
from zswap_spec.proofs.cexpr import bv, z3
from zswap_spec.proofs.encode import encode, make_inputs

CROSSHAIR = Path(sys.executable).with_name("crosshair")
DATA = Path(__file__).parents[1] / "data"
MODEL = Path(decisions.__file__).parent


def crosshair(*args, timeout=300):
    return subprocess.run([str(CROSSHAIR), *args], capture_output=True, text=True, timeout=timeout)


def _verdict_key(*parts: str, model: Path = MODEL) -> str:
    """What a CrossHair verdict depends on: every source file of the model (the
    decisions run through the variants, `Zswap`, zsmalloc, the crypto layer...),
    CrossHair's and Python's versions, and the arguments."""
    import hashlib
    from importlib.metadata import version

    h = hashlib.sha256()
    for path in sorted(model.rglob("*.py")):
        h.update(path.relative_to(model).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for part in (version("crosshair-tool").encode(), sys.version.encode(), *map(str.encode, parts)):
        h.update(part + b"\0")
    return h.hexdigest()[:16]


def test_contracts_of_conversions_and_decisions_hold(capsys):
    """About 35 s of symbolic execution through the model's store path; a clean
    verdict is kept in the cache, keyed by everything it depends on, so it is
    recomputed only when a file of the model (or CrossHair) changes.

    A bounded search, not a proof: CrossHair makes concrete the values the
    model turns into byte strings and size classes, so it samples the
    compressed lengths (Z3 proves the per-page decisions: proofs/)."""
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


def test_the_verdict_key_changes_with_any_file_of_the_model(tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(MODEL, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = _verdict_key("check", model=copy)
    assert before == _verdict_key("check")
    variant = next(copy.glob("variants/*.py"))
    variant.write_text(variant.read_text() + "\n# edited\n")
    assert _verdict_key("check", model=copy) != before
    (copy / "variants" / "new_variant.py").write_text("")
    assert _verdict_key("check", model=copy) not in (before, _verdict_key("check"))


def test_every_variant_has_a_decision_and_an_entry_point():
    import inspect

    assert list(DECISIONS) == list(VARIANTS)
    for name, decide in DECISIONS.items():
        assert getattr(decisions, entry_point_name(name)) is decide
        assert decide.__name__ == entry_point_name(name)
        assert ("post:" in inspect.getsource(decide)) == (name not in BREAKS_MAINLINE_CONTRACTS)
    assert "mainline" not in BREAKS_MAINLINE_CONTRACTS and BREAKS_MAINLINE_CONTRACTS <= set(VARIANTS)


def test_a_new_variant_is_picked_up_with_no_edit():
    """A variant registered before the decisions are imported gets its decision
    and its entry point (here a second name for mainline's code)."""
    code = ("from zswap_spec.model.variants import VARIANTS\n"
            "VARIANTS['mainline-again'] = VARIANTS['mainline']\n"
            "from zswap_spec.model import decisions as d\n"
            "f = d.DECISIONS['mainline-again']\n"
            "assert f is d.mainline_again_page\n"
            "cases = [(0, 100, True), (0, 1 << 31, False), (-28, 0, False), (0, 4096, True)]\n"
            "assert [f(*c) for c in cases] == [d.mainline_page(*c) for c in cases]\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_c_int_converts_as_s32():
    values = [0, 1, -1, 22, -22, (1 << 31) - 1, 1 << 31, -(1 << 31), -(1 << 31) - 1, (1 << 32) - 22,
              1 << 32, -(1 << 32), (1 << 40) + 5, -(1 << 40) - 7, 3 << 33]
    assert [decisions.c_int(v) for v in values] == [s32(v) for v in values]


_REFUTED = re.compile(r"false when calling (\w+)\((-?\d+), (-?\d+), (True|False)\) \(which returns \('(\w+)'")


def test_contracts_the_transcription_breaks_are_refuted():
    """The planted contracts are false of the model's v13 and v14: CrossHair
    finds counterexamples by executing the model's store path, and each one
    is real, replayed on the stateful model through the swap layer."""
    p = crosshair("check", str(DATA / "planted_contract.py"), "--per_condition_timeout=30")
    assert p.returncode == 1, p.stdout + p.stderr
    found = {name: (int(ret), int(dlen), wb == "True", outcome)
             for name, ret, dlen, wb, outcome in _REFUTED.findall(p.stdout)}
    assert set(found) == {"v13_stores_as_is_only_with_writeback", "v14_never_stores_a_corrupt_page"}, \
        p.stdout
    ret, dlen, wb, outcome = found["v13_stores_as_is_only_with_writeback"]
    assert outcome == "raw" and not wb
    assert _model_words("v13", ret, dlen, wb) == "raw"
    ret, dlen, wb, outcome = found["v14_never_stores_a_corrupt_page"]
    assert outcome == "corrupt"
    assert _model_words("v14", ret, dlen, wb) == "corrupt"


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


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "mainline"])
def test_diffbehavior_against_mainline_finds_what_z3_finds(variant):
    p = crosshair("diffbehavior", f"zswap_spec.model.decisions.{entry_point_name(variant)}",
                  "zswap_spec.model.decisions.mainline_page", "--per_condition_timeout=6")
    found = [(int(a), int(b), c == "True")
             for a, b, c in re.findall(r"Given: \(ret=(-?\d+), dlen=(-?\d+), wb=(\w+)\)", p.stdout)]
    assert found or "No differences found" in p.stdout, p.stdout + p.stderr
    if variant in ("v13", "v14"):
        assert found, p.stdout
    if variant == "explicit":
        assert not found and "No differences found" in p.stdout
    for ret, dlen, wb in found:
        # Same class of counterexample as Z3's, and real on the stateful model.
        assert DECISIONS[variant](ret, dlen, wb) != DECISIONS["mainline"](ret, dlen, wb)
        assert _z3_differs(variant, ret, dlen, wb), (variant, ret, dlen, wb)


def _model_words(variant, ret, dlen, wb):
    words, system = store_and_describe(variant, ScriptedSoftware(s32(ret), dlen), 1, wb, 4096)
    return words


def _decision_words(decision):
    outcome, length, counter = decision
    if outcome == "reject":
        return f"reject {counter.removeprefix('reject_') or 'none'}"
    return outcome


@pytest.mark.parametrize("variant", list(DECISIONS))
def test_decisions_read_the_outcome_as_the_swap_layer_sees_it(variant):
    """The decision (`zswap_store`, read off the tree, the pool and the counters)
    says what a swap-out through `SwapSystem` leaves, in the spec's words."""
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

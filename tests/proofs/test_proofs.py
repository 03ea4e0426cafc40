"""The Z3 theorems: C-conversion lemmas, vacuity, the manifest, every
counterexample replayed on the executable model, and agreement with the
model where the solver proves equality."""

import random

import pytest

from zswap_spec.model.cint import E2BIG, EINVAL, ENOSPC, c_or, s32, u32
from zswap_spec.model.variants import VARIANTS
from zswap_spec.proofs import manifest, theorems
from zswap_spec.proofs.assumptions import ASSUMPTIONS, domain
from zswap_spec.proofs.catalogue import BEGIN, END, SPEC_PATH, spec_section
from zswap_spec.proofs.cexpr import bv, c_or as z_or, is_neg, sym, uge, z3
from zswap_spec.proofs.encode import make_inputs
from zswap_spec.proofs.replay import replay_mismatches, run_on_model
from zswap_spec.proofs.theorems import PAGE_SIZES, THEOREMS, prove, prove_all, vacuity
from zswap_spec.spec import EQUIVALENCES, INVARIANTS


@pytest.fixture(scope="module")
def results():
    return prove_all(list(VARIANTS), list(ASSUMPTIONS), PAGE_SIZES, jobs=2)


def _valid(claim) -> bool:
    s = z3.SolverFor("QF_BV")
    s.add(z3.Not(claim))
    return s.check() == z3.unsat


def test_lemma_errno_through_an_unsigned_length_keeps_value_and_sign():
    e = sym("e")
    errno = z3.And(e >= bv(1), e <= bv(4095))
    stored = bv(0) - e  # -e assigned to an unsigned int field: the same 32 bits
    assert _valid(z3.Implies(errno, z3.And(is_neg(stored), bv(0) - stored == e)))
    for n in (EINVAL, ENOSPC, E2BIG, 1, 4095):  # the model's conversions agree
        assert s32(u32(-n)) == -n


def test_lemma_an_errno_or_any_length_reads_negative_but_not_as_that_errno():
    e, length = sym("e"), sym("length")
    errno = z3.And(e >= bv(1), e <= bv(4095))
    assert _valid(z3.Implies(errno, is_neg(z_or(length, bv(0) - e))))
    assert not _valid(z3.Implies(errno, z_or(length, bv(0) - e) == bv(0) - e))
    assert s32(c_or(100, -5)) == -1  # the model: 100 | -EIO == -1


def test_lemma_an_errno_compared_as_unsigned_is_larger_than_any_page():
    e = sym("e")
    errno = z3.And(e >= bv(1), e <= bv(4095))
    for P in PAGE_SIZES:
        assert _valid(z3.Implies(errno, uge(bv(0) - e, bv(P))))
    # ...while as int it is below zero: the same bits, opposite answers.
    assert _valid(z3.Implies(errno, (bv(0) - e) < bv(4096)))


@pytest.mark.parametrize("page_size", PAGE_SIZES)
@pytest.mark.parametrize("assumption", list(ASSUMPTIONS))
def test_assumption_sets_are_not_vacuous(assumption, page_size):
    checks = vacuity(assumption, page_size)
    assert all(checks.values()), checks


def test_every_theorem_is_named_by_a_spec_id():
    for t in THEOREMS.values():
        assert t.invariant in INVARIANTS or t.invariant in EQUIVALENCES, t.invariant


def test_results_match_the_manifest_at_every_page_size(results):
    assert len(results) == len(VARIANTS) * len(ASSUMPTIONS) * len(THEOREMS) * len(PAGE_SIZES)
    bad = manifest.mismatches(results, manifest.load())
    assert bad == [], [(r.theorem, r.variant, r.assumption, r.page_size, r.status, w) for r, w in bad]
    assert not any(r.status == "unknown" for r in results)


def test_the_whole_suite_is_fast(results):
    # Measured, not asserted tightly (shared machines): the CPU time summed
    # over every query; `zswap-spec prove` prints the wall time.
    assert sum(r.seconds for r in results) < 120


def test_mainline_and_explicit_are_correct_under_every_assumption(results):
    for r in results:
        if r.variant in ("mainline", "explicit"):
            assert r.status == "proved", (r.theorem, r.variant, r.assumption)


def test_every_counterexample_replays_on_the_model(results):
    cexs = [r for r in results if r.status == "counterexample"]
    assert len(cexs) > 50
    for r in cexs:
        assert r.counterexample["batch_size"] >= 1
        assert replay_mismatches(r) == [], (r.theorem, r.variant, r.assumption, r.page_size)


def test_counterexamples_break_what_they_claim(results):
    # The decoded values really show the property failing.
    for r in results:
        cex = r.counterexample
        if cex is None:
            continue
        a, e = cex["actual"], cex["expected"]
        if r.invariant == "EQV-OUTCOME":
            assert (a["stored"], a["pages"]) != (e["stored"], e["pages"])
        elif r.invariant == "EQV-COUNTERS":
            assert a["counters"] != e["counters"]
        elif r.invariant == "INV-RAW":
            assert "corrupt" in a["pages"]
        elif r.invariant == "INV-WB":
            assert not cex["writeback"] and a["stored"]
        elif r.invariant == "INV-ALLOC":
            assert a["bad_zs_malloc"]
        elif r.invariant == "INV-COUNTERS":
            assert sum(a["counters"].values()) != (0 if a["stored"] else 1)
        elif r.invariant == "INV-BATCH":
            assert (a["stored"], a["pages"]) != (cex["alone"]["stored"], cex["alone"]["pages"])


def _sample_inputs(assumption: str, page_size: int, count: int, seed: int):
    """Diverse inputs satisfying an assumption set, drawn from Z3 with random pins."""
    rng = random.Random(seed)
    inp = make_inputs(page_size)
    out = []
    for _ in range(count * 4):
        s = z3.SolverFor("QF_BV")
        s.add(domain(inp), ASSUMPTIONS[assumption](inp))
        s.add(inp.n == bv(rng.randint(1, 8)), inp.wb == rng.choice([True, False]))
        s.add(inp.batching == rng.choice([True, False]))
        for k in range(8):
            s.add(inp.nomem[k] == (rng.random() < 0.1))
            if rng.random() < 0.5:
                s.add(inp.ret[k] == bv(rng.choice([0, -EINVAL, -ENOSPC, -E2BIG, 5])))
            if rng.random() < 0.5:
                s.add(inp.entry[k] == bv(rng.choice([0, 1, 100, page_size - 1, page_size, -E2BIG])))
        if s.check() == z3.sat:
            m = s.model()
            from zswap_spec.proofs.theorems import decode
            from zswap_spec.proofs.encode import encode

            out.append(decode(m, inp, encode("mainline", inp), encode("mainline", inp), "mainline"))
        if len(out) >= count:
            break
    return out


@pytest.mark.parametrize("assumption", list(ASSUMPTIONS))
def test_model_agrees_with_mainline_where_equality_is_proved(results, assumption):
    proved = {r.variant for r in results if r.page_size == 4096 and r.assumption == assumption
              and r.theorem == "same-outcome-as-mainline" and r.status == "proved"}
    assert "mainline" in proved and "explicit" in proved
    samples = _sample_inputs(assumption, 4096, 25, seed=len(assumption))
    assert len(samples) >= 20
    for cex in samples:
        want = run_on_model(cex, "mainline")
        for variant in proved:
            got = run_on_model(cex, variant)
            assert (got["stored"], got["pages"]) == (want["stored"], want["pages"]), (variant, cex)


def test_unknown_is_a_failure_not_a_pass(monkeypatch):
    monkeypatch.setattr(theorems, "RLIMIT", 1)
    r = prove("same-outcome-as-mainline", "v13", "any")
    assert r.status == "unknown"
    assert manifest.mismatches([r], manifest.load()) == [(r, "counterexample")]


def test_the_spec_shows_the_generated_proof_results(results):
    text = SPEC_PATH.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == spec_section(results), \
        "spec/zswap-spec.md §9 is stale: run 'zswap-spec prove --update-spec'"

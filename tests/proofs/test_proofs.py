"""The Z3 theorems: C-conversion lemmas, vacuity, theorems keyed by the
spec's property IDs, the manifest, every counterexample replayed on the
executable model, agreement with the model where the solver proves
equality, and the reports: the grid, the counterexamples, the spec's §9."""

import json
import random
from dataclasses import replace

import pytest

from zswap_spec.model.cint import E2BIG, EINVAL, ENOSPC, c_or, s32, u32
from zswap_spec.model.variants import VARIANTS
from zswap_spec.proofs import manifest, run, theorems
from zswap_spec.proofs.assumptions import ASSUMPTIONS, domain
from zswap_spec.proofs.catalogue import (ASSUMPTION_LETTER, BEGIN, END, MARK, SPEC_PATH,
                                         counterexample_groups, grid_lines, spec_section)
from zswap_spec.proofs.cexpr import bv, c_or as z_or, is_neg, sym, uge, z3
from zswap_spec.proofs.encode import make_inputs
from zswap_spec.proofs.replay import replay_mismatches, run_on_model
from zswap_spec.proofs.theorems import (PAGE_SIZES, THEOREMS, Theorem, _catalogue, prove,
                                        prove_all, vacuity)
from zswap_spec.spec import EQUIVALENCES, INVARIANTS
from zswap_spec.support.manifest import ManifestError


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


def test_v14_encoding_reads_the_submission_status_not_the_batch_status():
    # [PATCH v14 16/26] and 18/26: a multi-unit batch returns what the driver's
    # submission returned; the batch path's own status (bret) never reaches zswap.
    from zswap_spec.proofs.encode import encode

    inp = make_inputs(4096)
    v14 = encode("v14", inp)
    failed_units = z3.And(inp.batching, inp.n == bv(2), z3.Not(inp.wb),
                          *[inp.entry[k] == bv(-5) for k in range(2)],
                          *[z3.Not(inp.nomem[k]) for k in range(2)])
    assert _valid(z3.Implies(failed_units, v14.ok == (inp.sret == bv(0))))
    # Under `batching` (IAA: units fail at completion) the submission returns 0.
    s = z3.SolverFor("QF_BV")
    s.add(domain(inp), ASSUMPTIONS["batching"](inp), inp.sret != bv(0))
    assert s.check() == z3.unsat


@pytest.mark.parametrize("page_size", PAGE_SIZES)
@pytest.mark.parametrize("assumption", list(ASSUMPTIONS))
def test_assumption_sets_are_not_vacuous(assumption, page_size):
    checks = vacuity(assumption, page_size)
    assert all(checks.values()), checks


def test_theorems_are_keyed_by_the_spec_ids_with_the_spec_wording():
    spec_ids = {**INVARIANTS, **EQUIVALENCES}
    for key, t in THEOREMS.items():
        assert key == t.id and t.id in spec_ids, t.id
        assert t.statement == spec_ids[t.id]
    assert set(EQUIVALENCES) <= set(THEOREMS)  # every equivalence with mainline is a theorem
    assert len(THEOREMS) == 8


def test_two_theorems_cannot_share_an_id():
    with pytest.raises(ValueError, match="two theorems claim INV-LEN"):
        _catalogue(Theorem("INV-LEN", theorems.inv_len), Theorem("INV-LEN", theorems.inv_raw))


def test_results_are_keyed_by_the_spec_ids(results):
    assert {r.theorem for r in results} == set(THEOREMS)
    assert all(r.theorem == r.invariant for r in results)
    assert all(set(r.to_json()) == {"theorem", "invariant", "variant", "assumption", "page_size",
                                    "status", "seconds", "counterexample"} for r in results)


def test_results_match_the_manifest_at_every_page_size(results):
    assert len(results) == len(VARIANTS) * len(ASSUMPTIONS) * len(THEOREMS) * len(PAGE_SIZES)
    bad = manifest.mismatches(results, manifest.load())
    assert bad == [], [(r.theorem, r.variant, r.assumption, r.page_size, r.status, w) for r, w in bad]
    assert not any(r.status == "unknown" for r in results)


def test_the_manifest_is_in_the_project_format_and_complete():
    text = manifest.MANIFEST.read_text()
    assert 'format = "zswap-spec-manifest/1"' in text and 'kind = "proofs"' in text
    expected = manifest.load()
    assert set(expected) == {(t, v, a) for t in THEOREMS for v in VARIANTS for a in ASSUMPTIONS}
    assert set(expected.values()) == {"proved", "counterexample"}


def test_the_manifest_round_trips(results, tmp_path):
    path = tmp_path / "expected.toml"
    at_4k = [r for r in results if r.page_size == 4096]
    manifest.write(at_4k, path)
    assert manifest.load(path) == {(r.theorem, r.variant, r.assumption): r.status for r in at_4k}
    assert path.read_text() == manifest.MANIFEST.read_text()  # the checked-in file is this run's


_GOOD = {"theorem": "INV-WB", "variant": "v14", "assumption": "strict", "status": "counterexample"}


@pytest.mark.parametrize("bad,field,needle", [
    ({"status": "maybe"}, "status", "use one of: proved, counterexample"),
    ({"status": "unknown"}, "status", "use one of: proved, counterexample"),
    ({"theorem": "as-is-only-with-writeback"}, "theorem", "use one of: EQV-OUTCOME"),
    ({"variant": "v15"}, "variant", "use one of: mainline"),
    ({"assumption": "lenient"}, "assumption", "use one of: any, kernel-sw"),
    ({"status": None}, "status", "is missing"),
    ({"page_size": 4096}, "page_size", "unknown field"),
])
def test_the_manifest_loader_names_file_entry_and_field(tmp_path, bad, field, needle):
    entry = {k: v for k, v in {**_GOOD, **bad}.items() if v is not None}
    lines = ['format = "zswap-spec-manifest/1"', 'kind = "proofs"', "",
             "[[expect]]", 'theorem = "INV-LEN"', 'variant = "v13"', 'assumption = "any"',
             'status = "proved"', "", "[[expect]]"]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in entry.items()]
    path = tmp_path / "expected.toml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError) as e:
        manifest.load(path)
    msg = e.value.message
    assert str(path) in msg and "entry 2" in msg and repr(field) in msg and needle in msg, msg


def test_the_manifest_loader_rejects_a_repeated_entry_and_the_old_format(tmp_path):
    path = tmp_path / "expected.toml"
    head = 'format = "zswap-spec-manifest/1"\nkind = "proofs"\n'
    entry = "[[expect]]\n" + "".join(f'{k} = "{v}"\n' for k, v in _GOOD.items())
    path.write_text(head + entry + entry)
    with pytest.raises(ManifestError, match="entry 2 repeats entry 1"):
        manifest.load(path)
    path.write_text('[mainline.any]\nsame-outcome-as-mainline = "proved"\n')
    with pytest.raises(ManifestError, match="format is None"):
        manifest.load(path)


def test_an_unknown_answer_is_never_written_to_the_manifest(tmp_path):
    r = theorems.Result("INV-WB", "INV-WB", "v14", "strict", 4096, "unknown", 0.0)
    path = tmp_path / "expected.toml"
    with pytest.raises(ManifestError, match="INV-WB / v14 / strict at PAGE_SIZE 4096 is unknown"):
        manifest.write([r], path)
    assert not path.exists()


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
              and r.theorem == "EQV-OUTCOME" and r.status == "proved"}
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
    r = prove("EQV-OUTCOME", "v13", "any")
    assert r.status == "unknown"
    assert manifest.mismatches([r], manifest.load()) == [(r, "counterexample")]


def test_the_spec_shows_the_generated_proof_results(results):
    text = SPEC_PATH.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == spec_section(results), \
        "spec/zswap-spec.md §9 is stale: run 'zswap-spec prove --update-spec'"


def _parse_grid(lines: list[str]) -> dict[tuple[str, str, str], str]:
    """(theorem, variant, assumption) -> cell, read back from the grid's text."""
    variants = lines[0].split()
    letters = lines[1].split()
    n = len(letters) // len(variants)
    by_letter = {v: k for k, v in ASSUMPTION_LETTER.items()}
    columns = [(v, by_letter[letters[b * n + j]]) for b, v in enumerate(variants) for j in range(n)]
    out = {}
    for line in lines[2:]:
        theorem, *row = line.split()
        assert len(row) == len(columns), line
        out.update({(theorem, v, a): c for (v, a), c in zip(columns, row)})
    return out


def _expected_cell(rs) -> str:
    statuses = {r.page_size: r.status for r in rs}
    if len(set(statuses.values())) == 1:
        return MARK[next(iter(statuses.values()))]
    return "".join(MARK[s] + ",".join(f"{ps // 1024}K" for ps in sorted(statuses)
                                      if statuses[ps] == s)
                   for s in dict.fromkeys(statuses[ps] for ps in sorted(statuses)) if s != "proved")


def _check_grid(results, lines):
    groups = {}
    for r in results:
        groups.setdefault((r.theorem, r.variant, r.assumption), []).append(r)
    assert _parse_grid(lines) == {k: _expected_cell(rs) for k, rs in groups.items()}


def test_the_printed_grid_shows_every_result(results, capsys):
    run._print(results, list(VARIANTS), [], [], 1.0, long=False)
    out = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(out) if line.split()[:1] == ["mainline"])
    grid = out[start:start + 2 + len(THEOREMS)]
    _check_grid(results, grid)
    # As many ✗ as the manifest expects counterexamples (the answers agree across page sizes).
    assert sum(line.count("✗") for line in grid) == list(manifest.load().values()).count("counterexample")
    assert all(len(line) <= 100 for line in out if not line.startswith(" " * 4)), \
        [line for line in out if len(line) > 100]
    # The statements beside the IDs are the spec's.
    for t in THEOREMS.values():
        assert any(line.startswith(t.id + " ") and t.statement.split()[0] in line for line in out)


def test_the_grid_marks_answers_that_differ_by_page_size(results):
    changed = []
    for r in results:
        if (r.theorem, r.variant, r.assumption) == ("INV-LEN", "mainline", "any") and r.page_size == 4096:
            r = replace(r, status="counterexample")
        elif (r.theorem, r.variant, r.assumption) == ("INV-WB", "v14", "strict") and r.page_size == 65536:
            r = replace(r, status="unknown", counterexample=None)
        elif (r.theorem, r.variant, r.assumption) == ("INV-BATCH", "v13", "any") and r.page_size > 4096:
            r = replace(r, status="proved", counterexample=None)
        changed.append(r)
    lines = grid_lines(changed)
    _check_grid(changed, lines)
    cells = _parse_grid(lines)
    assert cells[("INV-LEN", "mainline", "any")] == "✗4K"
    assert cells[("INV-WB", "v14", "strict")] == "✗4K,16K?64K"
    assert cells[("INV-BATCH", "v13", "any")] == "✗4K"
    assert "the answers differ" in spec_section(changed)
    assert cells != _parse_grid(grid_lines(results))


def test_each_counterexample_is_printed_once(results, capsys):
    run._print(results, list(VARIANTS), [], [], 1.0, long=False)
    out = capsys.readouterr().out
    groups = counterexample_groups(results)
    heads = out.count("software compressor, PAGE_SIZE") + out.count("batching compressor, PAGE_SIZE")
    at_4k = [r for r in results if r.page_size == 4096 and r.counterexample]  # each has one at 4K
    distinct = {(r.variant, json.dumps(r.counterexample, sort_keys=True)) for r in at_4k}
    assert heads == len(groups) == len(distinct) < len(at_4k)
    refuted = {(t, r.variant, a) for r, pairs in groups for t, a in pairs}
    assert refuted == {(r.theorem, r.variant, r.assumption) for r in results if r.counterexample}
    for r, pairs in groups:  # every pair's own counterexample is the one shown
        for t, a in pairs:
            own = next(x for x in results if (x.theorem, x.variant, x.assumption) == (t, r.variant, a)
                       and x.page_size == 4096)
            assert own.counterexample == r.counterexample
    assert "v13 is correct under: no assumption set" in out


def test_long_prints_one_row_per_theorem_variant_and_assumption(results, capsys):
    run._print(results, list(VARIANTS), [], [], 1.0, long=True)
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out if line.split()[:1] and line.split()[0] in THEOREMS
            and len(line.split()) == 5]
    assert len(rows) == len(THEOREMS) * len(VARIANTS) * len(ASSUMPTIONS)
    assert {(t, v, a): c for t, v, a, c, _ in rows} == _parse_grid(grid_lines(results))


@pytest.mark.parametrize("args,needle", [
    (["--variant", "mainline", "--assume", "strict", "--update-spec"], "--update-spec needs every"),
    (["--page-size", "4096", "--update-spec"], "--update-spec needs every"),
    (["--variant", "v13", "--update-manifest"], "--update-manifest needs every"),
])
def test_a_partial_update_is_refused_before_any_proving(monkeypatch, capsys, args, needle):
    from zswap_spec.cli import main

    def must_not_run(*a, **k):
        raise AssertionError("proved before refusing")

    monkeypatch.setattr(run, "prove_all", must_not_run)  # vacuity too runs inside it
    manifest_before = manifest.MANIFEST.read_text()
    with pytest.raises(SystemExit) as e:
        main(["prove", *args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and needle in err and err.count("\n") == 1, err
    assert err.startswith("zswap-spec: error: ")
    assert manifest.MANIFEST.read_text() == manifest_before


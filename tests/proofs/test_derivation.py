"""The proofs' terms come from running the transcriptions (`proofs.symexec`):
they agree with the model run natively on sampled inputs, a slip in a
transcription changes the verdict, the executor refuses what it does not
model (naming the place), and its stand-in for `zs_malloc` answers as the
model's zsmalloc does."""

import random

import pytest

from zswap_spec.model.cint import ENOMEM, s32, u32
from zswap_spec.model.variants import VARIANTS, get_variant
from zswap_spec.model.variants.registry import Variant, transcribes
from zswap_spec.model.zsmalloc import ZsPool
from zswap_spec.proofs import symexec
from zswap_spec.proofs.assumptions import ASSUMPTIONS
from zswap_spec.proofs.cexpr import bv, z3
from zswap_spec.proofs.encode import MAX_UNITS, at_size, encode, make_inputs
from zswap_spec.proofs.replay import run_on_model
from zswap_spec.proofs.theorems import THEOREMS, decode

CASES_PER_VARIANT = 40


def _sample(rng: random.Random, P: int) -> dict:
    lengths = [100, 0, P, P + 1, P - 1, 1, u32(-7), u32(-28), 0x8000_0000, rng.randrange(1 << 32)]
    rets = [0, 0, 0, -22, -28, -7, -5, 1, rng.randrange(-(1 << 31), 1 << 31)]
    n = rng.randrange(1, MAX_UNITS + 1)
    fail = rng.choice([None] * 3 + list(range(n)))
    return {
        "n": n, "batching": rng.random() < 0.5, "wb": rng.random() < 0.6,
        "ret": [rng.choice(rets) for _ in range(MAX_UNITS)],
        "dlen": [rng.choice(lengths) for _ in range(MAX_UNITS)],
        "entry": [rng.choice(lengths + [u32(-7)] * 2) for _ in range(MAX_UNITS)],
        "bret": rng.choice([0, -22, -7]), "sret": rng.choice([0, 0, -22]),
        "nomem": [k == fail for k in range(MAX_UNITS)],
    }


def _pinned_model(inp, values):
    s = z3.Solver()
    s.add(inp.n == bv(values["n"]), inp.batching == values["batching"], inp.wb == values["wb"],
          inp.bret == bv(values["bret"]), inp.sret == bv(values["sret"]))
    for k in range(MAX_UNITS):
        s.add(inp.ret[k] == bv(values["ret"][k]), inp.dlen[k] == bv(values["dlen"][k]),
              inp.entry[k] == bv(values["entry"][k]), inp.nomem[k] == values["nomem"][k])
    assert s.check() == z3.sat
    return s.model()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_derived_outcomes_match_the_model_run_natively(variant, capsys):
    """The terms, evaluated at concrete inputs, say what the model says when it runs the
    same transcription in Python on those inputs (scripted compressors): for the
    variant, for mainline and for the variant with every unit alone."""
    rng = random.Random(f"derivation-{variant}")
    base = make_inputs(4096)
    ran = 0
    for _ in range(CASES_PER_VARIANT):
        values = _sample(rng, 4096)
        inp = at_size(base, values["n"])
        v, m = encode(variant, inp), encode("mainline", inp)
        cex = decode(_pinned_model(inp, values), inp, v, m, variant)
        checks = [("actual", variant, False), ("expected", "mainline", False)]
        if "alone" in cex:
            checks.append(("alone", variant, True))
        for key, name, alone in checks:
            assert run_on_model(cex, name, alone) == cex[key], (key, name, values)
        ran += 1
    with capsys.disabled():
        print(f"\n{variant}: {ran} sampled batches, terms and model agree")
    assert ran == CASES_PER_VARIANT


def _slipped(compare_at_page_size: bool) -> Variant:
    """A one-page-at-a-time store path written as a transcription, with mainline's test;
    `compare_at_page_size` False plants a slip: `dlen > PAGE_SIZE` for `>=`."""
    from zswap_spec.model.acomp import AcompReq, ScatterEntry, crypto_acomp_compress

    @transcribes("tests/proofs/test_derivation.py: a planted store path")
    def store(zs, folio, memcg, wb_enabled):
        for index in range(folio.nr_pages):
            page = folio.pages[index]
            entry = zs.entry_cache_alloc(folio.offset + index)
            req = AcompReq(page, [ScatterEntry(zs.buffers[0], zs.page_size)], dlen=zs.page_size)
            comp_ret = crypto_acomp_compress("legacy", zs.alg, req)
            dlen = req.dlen
            dst = zs.buffers[0]
            too_long = dlen >= zs.page_size if compare_at_page_size else dlen > zs.page_size
            if comp_ret or not dlen or too_long:
                if not wb_enabled:
                    zs.counters["reject_compress_fail"] += 1
                    return False
                dlen = zs.page_size
                dst = page
            handle = zs.zs_malloc(dlen)
            if handle < 0:
                zs.counters["reject_alloc_fail"] += 1
                return False
            zs.zpool.zs_obj_write(handle, bytes(dst[:dlen]))
            entry.handle = handle
            entry.length = dlen
            zs.xa_store(entry)
            zs.charge_and_count(entry, memcg)
        return True

    m = get_variant("mainline")
    return Variant(name=f"planted-{compare_at_page_size}", title="planted", source="tests",
                   crypto_layer="legacy", base_tree=m.base_tree, order=99, store_pages=store,
                   compr_batch_size=m.compr_batch_size, store_batch_size=m.store_batch_size,
                   functions=(store,))


def _holds(variant, theorem: str, assumption: str) -> bool:
    inp = make_inputs(4096)
    v, m = encode(variant, inp), encode("mainline", inp)
    s = z3.SolverFor("QF_BV")
    s.add(inp.n >= bv(1), inp.n <= bv(MAX_UNITS), ASSUMPTIONS[assumption](inp),
          z3.Not(THEOREMS[theorem].check(v, m, inp, variant)))
    return s.check() == z3.unsat


def test_a_slip_in_a_transcription_changes_the_verdict():
    """lz4's exact fit (ret 0, dlen P) is stored as if compressed by the slipped store
    path: INV-RAW fails under the kernel's own compressors; written right, it holds."""
    assert _holds(_slipped(True), "INV-RAW", "kernel-sw")
    assert not _holds(_slipped(False), "INV-RAW", "kernel-sw")
    assert not _holds(_slipped(False), "EQV-OUTCOME", "kernel-sw")


def test_an_unmodelled_construct_is_refused_naming_its_place():
    @transcribes("tests: a loop the executor does not run")
    def loops(zs, folio, memcg, wb_enabled):
        k = 0
        while k < folio.nr_pages:
            k += 1
        return True

    v = _slipped(True)
    bad = Variant(**{**v.__dict__, "name": "unmodelled", "store_pages": loops, "functions": (loops,)})
    with pytest.raises(symexec.SymExecError) as e:
        encode(bad, make_inputs(4096))
    assert "test_derivation.py:" in str(e.value) and "While" in str(e.value)


def test_a_symbolic_value_never_reaches_python_truth_tests():
    with pytest.raises(symexec.SymExecError):
        bool(symexec.sym_int(z3.BitVec("x", 32), True))


@pytest.mark.parametrize("size", [0, 1, 100, 4095, 4096, 4097, u32(-7), s32(u32(-7))])
def test_the_executors_zs_malloc_answers_as_the_model_does(size):
    """The executor's `zs_malloc` (which the store paths call with symbolic sizes) against
    the model's zsmalloc on concrete ones: the same errno or a handle, the same bad size."""
    from zswap_spec.proofs.encode import _SymSoftware, _SymZswap

    for fail in (False, True):
        inp = make_inputs(4096)
        zs = _SymZswap(get_variant("mainline"), _SymSoftware(inp), inp, None)
        model = ZsPool(4096)
        if fail:
            model.fail_next = [-ENOMEM]
        s = z3.Solver()
        s.add(inp.nomem[0] == fail)
        assert s.check() == z3.sat
        mod = s.model()
        got = zs.zs_malloc(size)
        got = got if isinstance(got, int) else mod.eval(got.bv).as_signed_long()
        bad = zs.bad_alloc if isinstance(zs.bad_alloc, bool) else z3.is_true(mod.eval(zs.bad_alloc))
        want = model.zs_malloc(size)
        assert (got < 0, got if got < 0 else None) == (want < 0, want if want < 0 else None)
        assert bad == bool(model.bad_sizes)


def test_a_value_that_could_leave_the_executors_bits_is_refused_not_wrapped():
    import ast

    from zswap_spec.proofs import symvalues

    a = symexec.sym_int(z3.BitVec("a", 32), False)
    b = symexec.sym_int(z3.BitVec("b", 32), True)
    total = symexec.binop(ast.Add(), a, b)  # an unsigned and an int summed: still exact
    assert isinstance(total, symexec.Sym) and total.bound == 2 ** 33
    with pytest.raises(symexec.SymExecError, match=f"{symvalues.WIDTH}-bit"):
        symexec.binop(ast.Mult(), a, b)
    with pytest.raises(symexec.SymExecError, match=f"{symvalues.WIDTH}-bit"):
        symexec.binop(ast.Add(), total, total)
    assert symexec.u32(a) is a and symexec.s32(b) is b  # already of their C type

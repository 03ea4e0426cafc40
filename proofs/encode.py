"""Each variant's batch compress step as Z3 terms over C's 32-bit integers.

The inputs are one folio of `n` pages (1 to 8, symbolic) in one batch: for a
software compressor each page's `ret` (`int`) and `req->dlen` (`unsigned
int`); for a batching one the batch return code, the status its submission
step returns (what v14's crypto layer passes on), and each unit's destination
entry `length` (`unsigned int`, an errno wrapped in it); whether writeback
is enabled; and whether `zs_malloc` fails with -ENOMEM for a page.  The
outcome is what zswap does with the folio: stored or not, for each page the
path it took (as-is or not) and the length stored, the reject counters that
moved, and whether `zs_malloc` was asked for 0 or more than PAGE_SIZE.

Each `encode_*` function follows the code of the variant it names, in
`zswap_spec.model.variants`, statement by statement; tests replay every
counterexample on that executable model so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cexpr import AND, BV, NOT, OR, bv, errno_bv, is_neg, ite, sym, uge, z3

__all__ = ["MAX_UNITS", "Inputs", "Outcome", "make_inputs", "ENCODERS", "encode"]

MAX_UNITS = 8  # ZSWAP_MAX_BATCH_SIZE
EINVAL, ENOSPC = 22, 28
COUNTERS = ("reject_compress_poor", "reject_compress_fail", "reject_alloc_fail")


@dataclass
class Inputs:
    n: BV  # pages in the folio, one batch (a bit-vector: the queries stay QF_BV)
    batching: z3.BoolRef  # the compressor batches (IAA) or not (lz4, zstd, ...)
    ret: list[BV]  # software: each page's return code
    dlen: list[BV]  # software: each page's req->dlen after the call
    bret: BV  # batching: the batch path's return code
    sret: BV  # batching: its submission step's return code (v14: the one that reaches zswap)
    entry: list[BV]  # batching: each unit's entry length
    wb: z3.BoolRef
    nomem: list[z3.BoolRef]  # zs_malloc for page k fails with -ENOMEM
    page_size: int


def make_inputs(page_size: int, prefix: str = "") -> Inputs:
    k = range(MAX_UNITS)
    return Inputs(
        n=z3.BitVec(f"{prefix}n", 32),
        batching=z3.Bool(f"{prefix}batching"),
        ret=[sym(f"{prefix}ret{i}") for i in k],
        dlen=[sym(f"{prefix}dlen{i}") for i in k],
        bret=sym(f"{prefix}bret"),
        sret=sym(f"{prefix}sret"),
        entry=[sym(f"{prefix}entry{i}") for i in k],
        wb=z3.Bool(f"{prefix}wb"),
        nomem=[z3.Bool(f"{prefix}nomem{i}") for i in k],
        page_size=page_size,
    )


@dataclass
class Outcome:
    ok: z3.BoolRef  # zswap_store() returned true
    raw: list[z3.BoolRef]  # page k took the as-is path
    length: list[BV]  # page k's entry length
    counters: dict[str, BV]  # reject counters moved
    bad_alloc: z3.BoolRef  # zs_malloc(0) or zs_malloc(> PAGE_SIZE) happened


class _Folio:
    """Pages processed in order; the first failing one ends the folio."""

    def __init__(self, inp: Inputs):
        self.inp = inp
        self.alive = z3.BoolVal(True)  # no page has failed yet
        self.raw: list = []
        self.length: list = []
        self.counters = {c: bv(0) for c in COUNTERS}
        self.bad_alloc = z3.BoolVal(False)

    def active(self, k: int):
        return AND(bv(k) < self.inp.n, self.alive)

    def count(self, name: str, cond) -> None:
        self.counters[name] = self.counters[name] + ite(cond, bv(1), bv(0))

    def page(self, k: int, ok, raw, length) -> None:
        self.raw.append(raw)
        self.length.append(length)
        self.alive = AND(self.alive, OR(bv(k) >= self.inp.n, ok))

    def outcome(self) -> Outcome:
        return Outcome(self.alive, self.raw, self.length, self.counters, self.bad_alloc)


def _mainline_page(f: _Folio, k: int, comp_ret: BV, dlen: BV, wb, check_wb=None):
    """Mainline `zswap_compress()` for one page, from its `comp_ret` and `dlen`."""
    P = bv(f.inp.page_size)
    act = f.active(k)
    cannot = OR(comp_ret != bv(0), dlen == bv(0), uge(dlen, P))
    wb_now = wb if check_wb is None else check_wb
    reject = AND(cannot, NOT(wb_now))
    final_ret = ite(comp_ret != bv(0), comp_ret, errno_bv(EINVAL))
    raw = AND(cannot, wb_now)
    size = ite(raw, P, dlen)
    nomem = AND(NOT(reject), f.inp.nomem[k])
    f.count("reject_compress_poor", AND(act, reject, final_ret == errno_bv(ENOSPC)))
    f.count("reject_compress_fail", AND(act, reject, final_ret != errno_bv(ENOSPC)))
    f.count("reject_alloc_fail", AND(act, nomem))
    f.page(k, AND(NOT(reject), NOT(nomem)), raw, size)


def _single_unit(v: BV) -> tuple[BV, BV]:
    """A batching driver given one unit of value v: (ret, req->dlen)."""
    return ite(is_neg(v), v, bv(0)), v


def encode_mainline(inp: Inputs, alone: bool = False) -> Outcome:
    f = _Folio(inp)
    for k in range(MAX_UNITS):
        sw_ret, sw_dlen = inp.ret[k], inp.dlen[k]
        b_ret, b_dlen = _single_unit(inp.entry[k])
        _mainline_page(f, k, ite(inp.batching, b_ret, sw_ret), ite(inp.batching, b_dlen, sw_dlen), inp.wb)
    return f.outcome()


def _posted_entry(f: _Folio, k: int, d: BV) -> None:
    """v13/v14: one entry's `int dlen`: as-is if negative, else zs_malloc(dlen)."""
    P = bv(f.inp.page_size)
    act = f.active(k)
    raw = is_neg(d)
    size = ite(raw, P, d)
    zero = AND(NOT(raw), d == bv(0))
    too_big = AND(NOT(raw), d > P)  # positive as int, so the signed test is right
    nomem = AND(NOT(zero), NOT(too_big), f.inp.nomem[k])  # as-is pages are allocated too
    f.bad_alloc = OR(f.bad_alloc, AND(act, OR(zero, too_big)))
    f.count("reject_compress_poor", AND(act, too_big))
    f.count("reject_alloc_fail", AND(act, OR(zero, nomem)))
    f.page(k, NOT(OR(zero, too_big, nomem)), raw, size)


def _compress_error(f: _Folio, cond, entries: list, units) -> None:
    """The `compress_error` label: a counter per entry whose int reading is negative."""
    for k, e in enumerate(entries):
        in_batch = AND(cond, units(k))
        f.count("reject_compress_poor", AND(in_batch, e == errno_bv(ENOSPC)))
        f.count("reject_compress_fail", AND(in_batch, is_neg(e), e != errno_bv(ENOSPC)))


def _posted(inp: Inputs, v14: bool, alone: bool) -> Outcome:
    """v13 22/22 and v14 26/26 (`_PostedBatchedCompress`).

    `alone`: the batching compressor is given one unit per request
    (compr_batch_size forced to 1), the comparison INV-BATCH needs.
    """
    sw = _Folio(inp)
    # Software: one page per request; compr_batch_size == 1, errp = &err.
    for k in range(MAX_UNITS):
        err = inp.ret[k]
        if v14:  # segmentation wrapper: err ?: req->dlen into the entry
            entry = ite(err != bv(0), err, inp.dlen[k])
            d = entry
        else:  # sgl->length = req->dlen; dlen = sg->length | *errp
            entry = inp.dlen[k]
            d = inp.dlen[k] | err
        early = AND(sw.active(k), err != bv(0), NOT(inp.wb))
        _compress_error(sw, early, [entry], lambda _: z3.BoolVal(True))
        sw.alive = AND(sw.alive, NOT(early))
        _posted_entry(sw, k, d)
    if alone:  # every unit takes the driver's single path, page by page
        ba = _Folio(inp)
        for k in range(MAX_UNITS):
            err, _ = _single_unit(inp.entry[k])
            early = AND(ba.active(k), err != bv(0), NOT(inp.wb))
            _compress_error(ba, early, [inp.entry[k]], lambda _: z3.BoolVal(True))
            ba.alive = AND(ba.alive, NOT(early))
            _posted_entry(ba, k, inp.entry[k])
        return _choose(inp, sw.outcome(), ba.outcome())
    # Batching: the whole folio is one request; one unit takes the single path.
    ba = _Folio(inp)
    single = inp.n == bv(1)
    v0_ret, _ = _single_unit(inp.entry[0])
    if v14:
        # acomp_do_req_batch_parallel returns the driver's compress(), which only
        # submits: -EINVAL when a unit could not be submitted, else 0 ([PATCH v14
        # 16/26] and 18/26, 2026-01-24); failures at completion reach only
        # req->slen, an unsigned int its `< 0` test never catches.
        err = ite(single, v0_ret, inp.sret)
    else:
        err = ite(single, v0_ret, inp.bret)
    early = AND(err != bv(0), NOT(inp.wb))
    _compress_error(ba, early, inp.entry, lambda k: bv(k) < inp.n)
    ba.alive = NOT(early)
    for k in range(MAX_UNITS):
        _posted_entry(ba, k, inp.entry[k])  # err_sg is 0 for a batching compressor
    return _choose(inp, sw.outcome(), ba.outcome())


def encode_v13(inp: Inputs, alone: bool = False) -> Outcome:
    return _posted(inp, v14=False, alone=alone)


def encode_v14(inp: Inputs, alone: bool = False) -> Outcome:
    return _posted(inp, v14=True, alone=alone)


def _from_entry(e: BV) -> tuple[BV, BV]:
    """A unit's entry: a negative int reading is its errno, else its length."""
    return ite(is_neg(e), e, bv(0)), ite(is_neg(e), bv(0), e)


def _per_page_test(inp: Inputs, software_reading) -> Outcome:
    f = _Folio(inp)
    for k in range(MAX_UNITS):
        sw_ret, sw_dlen = software_reading(inp.ret[k], inp.dlen[k])
        b_ret, b_dlen = _from_entry(inp.entry[k])
        _mainline_page(f, k, ite(inp.batching, b_ret, sw_ret), ite(inp.batching, b_dlen, sw_dlen),
                       inp.wb, check_wb=inp.wb)
    return f.outcome()


# explicit and uniform read every unit from its own entry: a batch of one
# unit reads the same value, so `alone` changes nothing.
def encode_explicit(inp: Inputs, alone: bool = False) -> Outcome:
    return _per_page_test(inp, lambda ret, dlen: (ret, dlen))


def encode_uniform(inp: Inputs, alone: bool = False) -> Outcome:
    # The uniform crypto layer writes `ret ?: dlen` into each unit's entry.
    return _per_page_test(inp, lambda ret, dlen: _from_entry(ite(ret != bv(0), ret, dlen)))


def _choose(inp: Inputs, sw: Outcome, ba: Outcome) -> Outcome:
    c = inp.batching
    return Outcome(
        ite(c, ba.ok, sw.ok),
        [ite(c, a, b) for a, b in zip(ba.raw, sw.raw)],
        [ite(c, a, b) for a, b in zip(ba.length, sw.length)],
        {name: ite(c, ba.counters[name], sw.counters[name]) for name in COUNTERS},
        ite(c, ba.bad_alloc, sw.bad_alloc),
    )


ENCODERS = {
    "mainline": encode_mainline,
    "v13": encode_v13,
    "v14": encode_v14,
    "explicit": encode_explicit,
    "uniform": encode_uniform,
}


def encode(variant: str, inp: Inputs, alone: bool = False) -> Outcome:
    return ENCODERS[variant](inp, alone)

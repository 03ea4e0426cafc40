"""What a compressor may report: the named assumption sets the theorems are
proved under.  spec/zswap-spec.md §8 states each in prose.

- `any`: anything at all, software or batching.
- `kernel-sw`: the software compressors as the kernel's crypto wrappers
  report (lz4, lz4hc, zstd, deflate; capacity PAGE_SIZE): success is
  `ret == 0` with `0 < dlen <= P`; failure is `-EINVAL` with `dlen` P (lz4,
  deflate's unfinished stream) or 0 (zstd), or `-ENOSPC` with `dlen` P
  (deflate).
- `batching`: the IAA driver of the batching series: each unit's entry is
  its length in (0, P] or -E2BIG; the batch path returns -EINVAL when a
  unit failed, else 0.  Every unit is submitted, so the submission step
  returns 0: -E2BIG (output overflow) comes from the completion record
  (`iaa_comp_poll`, "[PATCH v14 16/26]", 2026-01-24); submission failures
  (-ENODEV, -EIO) are outside this set.
- `strict`: what v13's comment assumes: a success always has
  `0 < length < P`; anything else comes with a negative errno.  For a
  batch: both return codes are 0 or -EINVAL, the batch path's -EINVAL
  exactly when a unit failed, the submission's only then (a unit that could
  not be submitted has failed).
"""

from __future__ import annotations

from .cexpr import AND, OR, NOT, bv, errno_bv, is_neg, ult, z3
from .encode import MAX_UNITS, Inputs

__all__ = ["ASSUMPTIONS", "domain"]

EINVAL, ENOSPC, E2BIG, MAX_ERRNO = 22, 28, 7, 4095


def domain(inp: Inputs):
    """One batch of 1 to 8 pages."""
    return AND(inp.n >= bv(1), inp.n <= bv(MAX_UNITS))


def _each(inp: Inputs, pred):
    return AND(*[z3.Implies(bv(k) < inp.n, pred(k)) for k in range(MAX_UNITS)])


def _some(inp: Inputs, pred):
    return OR(*[AND(bv(k) < inp.n, pred(k)) for k in range(MAX_UNITS)])


def _errno(v):
    """v is a negative errno: -4095 <= (int)v <= -1."""
    return AND(is_neg(v), v >= bv(-MAX_ERRNO))


def _length(v, P, exact_ok: bool):
    return AND(v != bv(0), ult(v, bv(P + 1)) if exact_ok else ult(v, bv(P)))


def any_result(inp: Inputs):
    return z3.BoolVal(True)


def kernel_sw(inp: Inputs):
    P = inp.page_size

    def unit(k):
        ret, dlen = inp.ret[k], inp.dlen[k]
        return OR(
            AND(ret == bv(0), _length(dlen, P, exact_ok=True)),
            AND(ret == errno_bv(EINVAL), OR(dlen == bv(P), dlen == bv(0))),
            AND(ret == errno_bv(ENOSPC), dlen == bv(P)),
        )

    return AND(NOT(inp.batching), _each(inp, unit))


def batching(inp: Inputs):
    P = inp.page_size
    failed = _some(inp, lambda k: inp.entry[k] == errno_bv(E2BIG))
    return AND(
        inp.batching,
        _each(inp, lambda k: OR(_length(inp.entry[k], P, exact_ok=True), inp.entry[k] == errno_bv(E2BIG))),
        inp.bret == z3.If(failed, errno_bv(EINVAL), bv(0)),
        inp.sret == bv(0),
    )


def strict(inp: Inputs):
    P = inp.page_size
    sw = _each(inp, lambda k: OR(AND(inp.ret[k] == bv(0), _length(inp.dlen[k], P, exact_ok=False)),
                                 _errno(inp.ret[k])))
    units_ok = _each(inp, lambda k: OR(_length(inp.entry[k], P, exact_ok=False), _errno(inp.entry[k])))
    failed = _some(inp, lambda k: is_neg(inp.entry[k]))
    submitted = OR(inp.sret == bv(0), AND(failed, inp.sret == errno_bv(EINVAL)))
    ba = AND(units_ok, inp.bret == z3.If(failed, errno_bv(EINVAL), bv(0)), submitted)
    return z3.If(inp.batching, ba, sw)


ASSUMPTIONS = {
    "any": any_result,
    "kernel-sw": kernel_sw,
    "batching": batching,
    "strict": strict,
}

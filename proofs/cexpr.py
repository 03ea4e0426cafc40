"""C integer expressions over Z3 bit-vectors: the only module that touches Z3's
term language directly.

Every value is a 32-bit bit-vector; what differs between `int` and
`unsigned int` is the operation applied to it, exactly as in C: comparisons
are signed for `int` and unsigned for `unsigned int`, `|` is bitwise on the
common unsigned type, and converting between the two keeps the bits.
"""

from __future__ import annotations

import z3

__all__ = ["BV", "bv", "sym", "slt", "sge", "ult", "uge", "is_neg", "c_or", "ite", "AND", "OR",
           "NOT", "errno_bv", "z3"]

BV = z3.BitVecRef
WIDTH = 32

# Z3 installs a Ctrl-C handler of its own around each check, replacing the one
# the proving workers set (ignore: the command stops them itself), and a
# terminal's Ctrl-C then prints a traceback from every worker.
z3.set_param("ctrl_c", False)


_CONSTANTS: dict[int, BV] = {}


def bv(value: int) -> BV:
    """A constant of `int` or `unsigned int`: the 32 bits of `value`."""
    bits = value & 0xFFFF_FFFF
    c = _CONSTANTS.get(bits)
    if c is None:
        c = _CONSTANTS[bits] = z3.BitVecVal(bits, WIDTH)
    return c


def sym(name: str) -> BV:
    return z3.BitVec(name, WIDTH)


def errno_bv(errno: int) -> BV:
    """`-errno` as the bits an `int` holds."""
    return bv(-errno)


def slt(a, b):
    """`(int)a < (int)b`."""
    return a < b  # z3's < on bit-vectors is signed


def sge(a, b):
    return a >= b


def ult(a, b):
    """`(unsigned)a < (unsigned)b`."""
    return z3.ULT(a, b)


def uge(a, b):
    return z3.UGE(a, b)


def is_neg(a):
    """`(int)a < 0`."""
    return a < bv(0)


def c_or(a, b):
    """`a | b` in `unsigned int` (the int operand converted first: same bits)."""
    return a | b


def ite(c, a, b):
    return z3.If(c, a, b)


AND = z3.And
OR = z3.Or
NOT = z3.Not

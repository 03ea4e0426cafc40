"""The values of the symbolic executor (`proofs.symexec`): Python integers whose value
is a Z3 term (`Sym`), objects chosen on a condition (`Choice`), path conditions, the
merge of two values on a condition, Python's operators and truth test over them, and
the builtins and C conversions the transcriptions call, over symbolic values.

Every `Sym` is a 35-bit two's-complement bit-vector holding the Python value (the
model's integers are C `int` and `unsigned int` values, or a few of them summed; each
`Sym` carries a bound on its magnitude, and one that could leave the 35 bits is
refused, never wrapped), so
`cint.s32` and `cint.u32` are the same reductions they are on plain integers, a
comparison is a signed comparison of the values, and `|` is Python's `|`.
"""

from __future__ import annotations

import ast
import builtins
import operator
from dataclasses import dataclass

import z3
from z3 import z3core

from zswap_spec.model import cint

WIDTH = 35  # every value a transcription computes: a C int or unsigned int, or a few summed
_LIMIT = 1 << (WIDTH - 1)


class SymExecError(Exception):
    """The interpreted code does something the executor does not model: where and what."""


# -- guards -------------------------------------------------------------------------------

# Guards and conditions are Python's True and False when they are known, a Z3
# Boolean otherwise (constants are folded where they are made, so a Z3 term
# here is never asked whether it is constant: that costs more than the term).

def is_false(g) -> bool:
    return g is False


def is_true(g) -> bool:
    return g is True


# Terms are made through Z3's C API: the Python layer's argument coercion costs
# more than the terms themselves, and a store path makes thousands.
_CTX = z3.main_ctx()
_REF = _CTX.ref()
_Ast2 = z3core.Ast * 2


def _bool_term(a):
    return z3.BoolRef(a, _CTX)


def _bv_term(a):
    return z3.BitVecRef(a, _CTX)


def _and2(a, b):
    return _bool_term(z3core.Z3_mk_and(_REF, 2, _Ast2(a.as_ast(), b.as_ast())))


def _or2(a, b):
    return _bool_term(z3core.Z3_mk_or(_REF, 2, _Ast2(a.as_ast(), b.as_ast())))


def _ite(c, a, b):
    t = z3core.Z3_mk_ite(_REF, c.as_ast(), a.as_ast(), b.as_ast())
    return _bool_term(t) if isinstance(a, z3.BoolRef) else _bv_term(t)


def AND(a, b):
    if is_false(a) or is_false(b):
        return False
    if is_true(a):
        return b
    if is_true(b):
        return a
    if a is b:
        return a
    return _and2(a, b)


def OR(a, b):
    if is_true(a) or is_true(b):
        return True
    if is_false(a):
        return b
    if is_false(b):
        return a
    if a is b:
        return a
    return _or2(a, b)


def NOT(a):
    if is_true(a):
        return False
    if is_false(a):
        return True
    if z3.is_not(a):
        return a.arg(0)
    return _bool_term(z3core.Z3_mk_not(_REF, a.as_ast()))


def _zbool(b):
    return z3.BoolVal(b) if isinstance(b, bool) else b


# -- values -------------------------------------------------------------------------------

class Sym:
    """A Python integer whose value is a term of WIDTH bits, with a bound on its magnitude
    (`bound`: |value| <= bound) that every operation carries, so that no value can leave
    the range the bits hold unnoticed (`SymExecError`)."""

    __slots__ = ("bv", "bound", "ctype")

    def __init__(self, bv, bound: int, ctype: str | None = None):
        if bound >= _LIMIT:
            raise SymExecError(f"a value that may reach {bound} in magnitude: beyond the "
                               f"executor's {WIDTH}-bit integers")
        self.bv = bv
        self.bound = bound
        self.ctype = ctype  # "int" or "unsigned": the value is known to be one (s32/u32 of it is itself)

    def __repr__(self) -> str:
        return f"Sym({self.bv})"

    def __bool__(self):
        raise SymExecError("a symbolic integer reached Python's own truth test (native code)")

    def __index__(self):
        raise SymExecError("a symbolic integer used as a size or index by native code")


def _const(v: int):
    c = _CONSTS.get(v)
    if c is None:
        if not -_LIMIT <= v < _LIMIT:
            raise SymExecError(f"integer {v} outside the executor's {WIDTH}-bit range")
        c = _CONSTS[v] = z3.BitVecVal(v, WIDTH)
    return c


_ONE = z3.BitVecVal(1, WIDTH)
_ZERO = z3.BitVecVal(0, WIDTH)
_CONSTS: dict[int, object] = {}


def _bv(v):
    if isinstance(v, Sym):
        return v.bv
    if isinstance(v, bool):
        return _const(int(v))
    if isinstance(v, int):
        return _const(v)
    if isinstance(v, z3.BoolRef):
        return _ite(v, _ONE, _ZERO)
    raise SymExecError(f"{type(v).__name__} used as an integer")


def _wrap(bv, bound: int):
    if z3.is_bv_value(bv):
        v = bv.as_long()
        return v - (1 << WIDTH) if v >= _LIMIT else v
    return Sym(bv, bound)


def _bound(v) -> int:
    """The largest magnitude `v` may have."""
    if isinstance(v, Sym):
        return v.bound
    if isinstance(v, z3.BoolRef) or isinstance(v, bool):
        return 1
    return abs(v)


def sym_int(bv32, signed: bool) -> Sym:
    """A C input as a Python value: a 32-bit term read as `int` or `unsigned int`."""
    return Sym(z3.SignExt(WIDTH - 32, bv32) if signed else z3.ZeroExt(WIDTH - 32, bv32), 1 << 32,
               "int" if signed else "unsigned")


def as_bv32(v):
    """The low 32 bits of an integer value (what a C `int`/`unsigned int` field holds)."""
    if isinstance(v, (Sym, int, z3.BoolRef)) and not isinstance(v, Choice):
        return z3.Extract(31, 0, _bv(v))
    raise SymExecError(f"{type(v).__name__} where an integer was expected")


def _is_int(v) -> bool:
    return isinstance(v, (int, Sym)) or isinstance(v, z3.BoolRef)


@dataclass(frozen=True)
class Choice:
    """One object or another, on a symbolic condition."""

    cond: object
    a: object
    b: object


def merge(c, a, b):
    """`a` where `c` holds, else `b`."""
    if is_true(c):
        return a
    if is_false(c):
        return b
    if a is b:
        return a
    if type(a) is type(b) and isinstance(a, (int, bool, str, bytes, type(None))) and a == b:
        return a
    if isinstance(a, (bool, z3.BoolRef)) and isinstance(b, (bool, z3.BoolRef)):
        if a is True and b is False:
            return c
        if a is False and b is True:
            return NOT(c)
        if a is False:
            return AND(NOT(c), b)
        if b is False:
            return AND(c, a)
        if a is True:
            return OR(c, b)
        if b is True:
            return OR(NOT(c), a)
        return _ite(c, a, b)
    if _is_int(a) and _is_int(b):
        return _wrap(_ite(c, _bv(a), _bv(b)), max(_bound(a), _bound(b)))
    if type(a) is tuple and type(b) is tuple and len(a) == len(b):
        return tuple(merge(c, x, y) for x, y in zip(a, b))
    return Choice(c, a, b)


def truthy(v):
    """Python's truth value of `v`: a bool, or a Z3 Boolean when it depends on the inputs."""
    if isinstance(v, Sym):
        return NOT(_bool_term(z3core.Z3_mk_eq(_REF, v.bv.as_ast(), _ZERO.as_ast())))
    if isinstance(v, z3.BoolRef):
        return v
    if isinstance(v, Choice):
        t = merge(v.cond, truthy(v.a), truthy(v.b))
        return t
    if hasattr(v, "sym_truth"):
        return v.sym_truth()
    return bool(v)


def _lift(f, *vals):
    """Apply `f` through every `Choice` among `vals`."""
    if Choice not in map(type, vals):
        return f(*vals)
    for i, v in enumerate(vals):
        if isinstance(v, Choice):
            left = list(vals)
            right = list(vals)
            left[i], right[i] = v.a, v.b
            return merge(v.cond, _lift(f, *left), _lift(f, *right))
    return f(*vals)


_ARITH = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.BitOr: operator.or_, ast.BitAnd: operator.and_, ast.BitXor: operator.xor,
}
_CONCRETE_ONLY = {ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
                  ast.LShift: operator.lshift, ast.RShift: operator.rshift}


_MK_ARITH = {ast.Add: z3core.Z3_mk_bvadd, ast.Sub: z3core.Z3_mk_bvsub, ast.Mult: z3core.Z3_mk_bvmul,
             ast.BitOr: z3core.Z3_mk_bvor, ast.BitAnd: z3core.Z3_mk_bvand,
             ast.BitXor: z3core.Z3_mk_bvxor}
_CMP = {
    ast.Eq: lambda a, b: _bool_term(z3core.Z3_mk_eq(_REF, a, b)),
    ast.NotEq: lambda a, b: NOT(_bool_term(z3core.Z3_mk_eq(_REF, a, b))),
    ast.Lt: lambda a, b: _bool_term(z3core.Z3_mk_bvslt(_REF, a, b)),
    ast.LtE: lambda a, b: _bool_term(z3core.Z3_mk_bvsle(_REF, a, b)),
    ast.Gt: lambda a, b: _bool_term(z3core.Z3_mk_bvsgt(_REF, a, b)),
    ast.GtE: lambda a, b: _bool_term(z3core.Z3_mk_bvsge(_REF, a, b)),
}


def _binop(op, a, b):
    def f(x, y):
        if not isinstance(x, Sym) and not isinstance(y, Sym) and not isinstance(x, z3.BoolRef) \
                and not isinstance(y, z3.BoolRef):
            fn = _ARITH.get(type(op)) or _CONCRETE_ONLY.get(type(op))
            if fn is None:
                raise SymExecError(f"operator {type(op).__name__}")
            return fn(x, y)
        if type(op) in _CONCRETE_ONLY:
            raise SymExecError(f"operator {type(op).__name__} on a symbolic integer")
        if type(op) not in _ARITH:
            raise SymExecError(f"operator {type(op).__name__}")
        bx, by = _bound(x), _bound(y)
        bound = {ast.Add: bx + by, ast.Sub: bx + by, ast.Mult: bx * by}.get(
            type(op), 1 << max(bx.bit_length(), by.bit_length()))  # | & ^: sign-extended bits
        return _wrap(_bv_term(_MK_ARITH[type(op)](_REF, _bv(x).as_ast(), _bv(y).as_ast())), bound)
    return _lift(f, a, b)


def _compare(op, a, b):
    if a is b and isinstance(a, Sym) and type(op) in (ast.Eq, ast.NotEq, ast.LtE, ast.GtE, ast.Lt,
                                                      ast.Gt):
        return type(op) in (ast.Eq, ast.LtE, ast.GtE)  # a value compared with itself

    def f(x, y):
        if isinstance(op, (ast.Is, ast.IsNot)):
            r = x is y
            return r if isinstance(op, ast.Is) else not r
        symbolic = any(isinstance(v, (Sym, z3.BoolRef)) for v in (x, y))
        if not symbolic:
            return {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
                    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
                    ast.In: lambda p, q: p in q, ast.NotIn: lambda p, q: p not in q}[type(op)](x, y)
        if isinstance(op, (ast.Eq, ast.NotEq)) and not (_is_int(x) and _is_int(y)):
            r = False  # an integer never equals an object
            return r if isinstance(op, ast.Eq) else not r
        mk = _CMP.get(type(op))
        if mk is None:
            raise SymExecError(f"comparison {type(op).__name__} on a symbolic integer")
        return mk(_bv(x).as_ast(), _bv(y).as_ast())
    return _lift(f, a, b)


# -- natives: builtins and cint on symbolic values --------------------------------------------

def _low32(x):
    return z3core.Z3_mk_extract(_REF, 31, 0, _bv(x).as_ast())


def _s32(v):
    return _lift(lambda x: x if isinstance(x, Sym) and x.ctype == "int" else
                 Sym(_bv_term(z3core.Z3_mk_sign_ext(_REF, WIDTH - 32, _low32(x))), 1 << 32, "int")
                 if isinstance(x, (Sym, z3.BoolRef)) else cint.s32(x), v)


def _u32(v):
    return _lift(lambda x: x if isinstance(x, Sym) and x.ctype == "unsigned" else
                 Sym(_bv_term(z3core.Z3_mk_zero_ext(_REF, WIDTH - 32, _low32(x))), 1 << 32,
                     "unsigned")
                 if isinstance(x, (Sym, z3.BoolRef)) else cint.u32(x), v)


def _min(*args):
    if len(args) == 1:
        args = tuple(args[0])
    out = args[0]
    for x in args[1:]:
        out = merge(_compare(ast.Lt(), x, out), x, out)
    return out


def _max(*args):
    if len(args) == 1:
        args = tuple(args[0])
    out = args[0]
    for x in args[1:]:
        out = merge(_compare(ast.Gt(), x, out), x, out)
    return out


def _len(v):
    return _lift(lambda x: x.sym_len() if hasattr(x, "sym_len") else len(x), v)


def _bytes(v=b""):
    return _lift(lambda x: x if hasattr(x, "sym_len") else bytes(x), v)


u32, s32, compare, binop = _u32, _s32, _compare, _binop  # for the environment's natives

NATIVES = {
    cint.s32: _s32, cint.u32: _u32, builtins.min: _min, builtins.max: _max,
    builtins.len: _len, builtins.bytes: _bytes,
}
# Calls on objects that change them: refused under a symbolic condition the
# object was not made under (their effect could not be undone on the other path).
_MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault",
             "popitem", "sort", "reverse"}

_guard_stack: list = [True]


def current_guard():
    """The path condition of the native call being made (for the environment's objects)."""
    return _guard_stack[-1]



class SymSlice:
    """The first bytes of a page or buffer, up to a symbolic length: which object, not
    which bytes (the proofs ask whether a stored object is the page itself)."""

    __slots__ = ("origin", "start", "stop")

    def __init__(self, origin, start, stop):
        self.origin = origin
        self.start = start
        self.stop = stop

    def sym_len(self):
        return self.stop

    def sym_truth(self):
        return truthy(self.stop)

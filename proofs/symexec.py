"""Running the model's own Python over symbolic integers: how the proofs get
their terms from the transcription, not from a second encoding.

`run(function, *args)` interprets a function of the model (and every model
function it calls) statement by statement, with some values symbolic: a
`Sym` is a Python integer whose value is a Z3 term.  Python's own integer
semantics are kept exactly (`proofs.symvalues`): every `Sym` is a
two's-complement bit-vector wide enough for the Python value, with a bound
on its magnitude that is checked, so `cint.s32` and `cint.u32` are the same
reductions they are on plain integers, a comparison is a signed comparison
of the values, and `|` is Python's `|`.

A branch on a symbolic condition runs both sides, each under its path
condition (the *guard*), and every store a side makes is merged with the
value before it: ``x = if(guard, new, old)``.  So the result is one set of
terms for every path at once, of a size linear in the code run, not one
run per path.  An early `return`, `break` or `continue` takes its paths out
of the guard of what follows.  Objects chosen on a symbolic condition (the
page or a buffer as a destination) become a `Choice`, which attribute
reads, slices and stores go through.

What runs is what the model runs: functions defined in ``zswap_spec.model``
are interpreted from their source; builtins and the environment's own
objects (the symbolic zswap state and compressors of `proofs.derive`) are
called as they are, told the guard of the call (`current_guard()`).  The
transcriptions keep to the constructs interpreted here (the list is
``model/variants/registry.py``'s); anything else is refused with its file
and line, never run wrongly.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
import types

import z3

from .symvalues import (  # noqa: F401  (the values, re-exported for the environment)
    AND, NATIVES, NOT, OR, Choice, Sym, SymExecError, SymSlice, _MUTATORS, _binop, _bv,
    _compare, _guard_stack, _lift, _wrap, _zbool, as_bv32, binop, compare, current_guard,
    is_false, is_true, merge, s32, sym_int, truthy, u32)

__all__ = ["Sym", "Choice", "SymExecError", "run", "merge", "truthy", "current_guard",
           "AND", "OR", "NOT", "is_false", "as_bv32", "sym_int", "u32", "s32", "compare", "binop",
           "SymSlice", "born"]


# -- the interpreter -------------------------------------------------------------------------

class _Frame:
    __slots__ = ("func", "env", "globals", "closure", "retval", "has_ret", "loops", "entry", "file",
                 "offset")

    def __init__(self, func, env, entry, file, offset):
        self.func = func
        self.env = env
        self.globals = func.__globals__
        self.closure = {name: cell.cell_contents for name, cell in
                        zip(func.__code__.co_freevars, func.__closure__ or ())}
        self.retval = None
        self.has_ret = False
        self.loops: list[list] = []  # [broken, continued] per loop
        self.entry = entry
        self.file = file
        self.offset = offset


_SOURCES: dict = {}
_SIGNATURES: dict = {}


def _function_ast(func):
    code = func.__code__
    if code not in _SOURCES:
        lines, first = inspect.getsourcelines(func)
        tree = ast.parse(textwrap.dedent("".join(lines)))
        node = tree.body[0]
        if not isinstance(node, ast.FunctionDef):
            raise SymExecError(f"{func.__qualname__}: not a plain function definition")
        _SOURCES[code] = (node, inspect.getsourcefile(func), first - 1)
    return _SOURCES[code]


def _interpreted(func) -> bool:
    """The model's own functions, and any function citing what it transcribes (a variant
    kept outside the package), run here; everything else is called."""
    if not isinstance(func, types.FunctionType):
        return False
    mod = getattr(func, "__module__", "") or ""
    return mod.startswith("zswap_spec.model") or hasattr(func, "transcription")


def run(func, *args, guard=True, **kwargs):
    """Call `func` (a model function or bound method) under `guard`: its return value."""
    _BORN.clear()
    try:
        return _call(func, list(args), kwargs, guard, None)
    finally:
        _BORN.clear()


def _call(func, args, kwargs, guard, where):
    if isinstance(func, Choice):
        return merge(func.cond, _call(func.a, args, kwargs, AND(guard, func.cond), where),
                     _call(func.b, args, kwargs, AND(guard, NOT(func.cond)), where))
    if func in NATIVES:
        return NATIVES[func](*args, **kwargs)
    if isinstance(func, types.MethodType) and _interpreted(func.__func__):
        return _interpret(func.__func__, [func.__self__, *args], kwargs, guard)
    if _interpreted(func):
        return _interpret(func, args, kwargs, guard)
    if isinstance(func, type) and _interpreted(getattr(func, "__init__", None)):
        obj = born(func.__new__(func), guard)
        _interpret(func.__init__, [obj, *args], kwargs, guard)
        return obj
    name = getattr(func, "__name__", "")
    if name in _MUTATORS and isinstance(getattr(func, "__self__", None), (list, dict)):
        if not is_true(guard) and where is not None and guard is not where.entry:
            raise SymExecError(f"{name}() on a container under a symbolic condition")
    _guard_stack.append(guard)
    try:
        return func(*args, **kwargs)
    finally:
        _guard_stack.pop()


def _interpret(func, args, kwargs, guard):
    node, file, offset = _function_ast(func)
    sig = _SIGNATURES.get(func)
    if sig is None:
        sig = _SIGNATURES[func] = inspect.signature(func)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise SymExecError(f"{func.__qualname__}: {e}") from None
    bound.apply_defaults()
    frame = _Frame(func, dict(bound.arguments), guard, file, offset)
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    fall = _block(frame, body, guard)
    if frame.has_ret:
        if not is_false(fall):
            frame.retval = merge(fall, None, frame.retval)
        return frame.retval
    return None


def _where(frame, node) -> str:
    return f"{frame.file}:{frame.offset + node.lineno}"


def _block(frame, stmts, g):
    for st in stmts:
        if is_false(g):
            return False
        try:
            g = _stmt(frame, st, g)
        except SymExecError as e:
            if not getattr(e, "located", False):
                e.args = (f"{_where(frame, st)} ({frame.func.__qualname__}): {e.args[0]}",)
                e.located = True
            raise
    return g


def _stmt(frame, st, g):
    t = type(st)
    if t is ast.Expr:
        if isinstance(st.value, ast.Constant):
            return g
        _expr(frame, st.value, g)
        return g
    if t is ast.Assign:
        value = _expr(frame, st.value, g)
        for target in st.targets:
            _assign(frame, target, value, g)
        return g
    if t is ast.AnnAssign:
        if st.value is not None:
            _assign(frame, st.target, _expr(frame, st.value, g), g)
        return g
    if t is ast.AugAssign:
        old = _expr(frame, st.target, g)  # the target read as a value first
        _assign(frame, st.target, _binop(st.op, old, _expr(frame, st.value, g)), g)
        return g
    if t is ast.If:
        c = _test(frame, st.test, g)
        if c is True or c is False:
            return _block(frame, st.body if c else st.orelse, g)
        before = frame.env
        frame.env = dict(before)
        g_then, g_else = AND(g, c), AND(g, NOT(c))
        ga = _block(frame, st.body, g_then)
        after_a = frame.env
        frame.env = dict(before)
        gb = _block(frame, st.orelse, g_else)
        if ga is g_then and gb is g_else:
            # Both sides ran to their end: every path here came through one of them, so
            # the condition alone tells which, and the paths reaching here are `g`'s.
            frame.env = _join([(c, after_a), (True, frame.env)])
            return g
        frame.env = _join([(ga, after_a), (gb, frame.env)])
        return OR(ga, gb)
    if t is ast.Return:
        value = None if st.value is None else _expr(frame, st.value, g)
        frame.retval = merge(g, value, frame.retval) if frame.has_ret else value
        frame.has_ret = True
        return False
    if t is ast.For:
        if st.orelse:
            raise SymExecError("for ... else")
        items = _expr(frame, st.iter, g)
        if isinstance(items, (Sym, Choice)) or isinstance(items, z3.ExprRef):
            raise SymExecError("a loop over a symbolic range")
        broken: list = []  # (guard, locals) of each way out by `break`
        for item in list(items):
            if is_false(g):
                break
            _assign(frame, st.target, item, g)
            frame.loops.append(([], []))
            fall = _block(frame, st.body, g)
            breaks, continues = frame.loops.pop()
            broken += breaks
            ways = [(fall, frame.env), *continues]
            g = _any(ways)
            frame.env = _join(ways)
        ways = [(g, frame.env), *broken]
        frame.env = _join(ways)
        return _any(ways)
    if t is ast.Break:
        frame.loops[-1][0].append((g, dict(frame.env)))
        return False
    if t is ast.Continue:
        frame.loops[-1][1].append((g, dict(frame.env)))
        return False
    if t is ast.Pass:
        return g
    raise SymExecError(f"statement {t.__name__} is not interpreted")


def _any(ways):
    out = False
    for g, _ in ways:
        out = OR(out, g)
    return out


def _join(ways):
    """The locals after paths join: each variable as the path that reaches here set it
    (a path that returned reaches nothing, so its locals are dropped)."""
    ways = [(g, env) for g, env in ways if not is_false(g)]
    if not ways:
        return {}
    if len(ways) == 1:
        return ways[0][1]
    g_last, out = ways[-1]
    out = dict(out)
    for g, env in reversed(ways[:-1]):
        for name in set(env) | set(out):
            if name not in env:
                continue
            if name not in out or env[name] is out[name]:
                out[name] = env[name]
            else:
                out[name] = merge(g, env[name], out[name])
    return out


def _assign(frame, target, value, g):
    t = type(target)
    if t is ast.Name:
        # A local holds the value of the paths running here; where paths join,
        # `_join` merges the values each brings.
        frame.env[target.id] = value
        return
    if t in (ast.Tuple, ast.List):
        if isinstance(value, Choice):
            raise SymExecError("unpacking a value chosen on a symbolic condition")
        values = list(value)
        if len(values) != len(target.elts):
            raise SymExecError("unpacking: wrong number of values")
        for el, v in zip(target.elts, values):
            _assign(frame, el, v, g)
        return
    if t is ast.Attribute:
        obj = _expr(frame, target.value, g)
        _setattr(obj, _mangle(frame, target.attr), value, g)
        return
    if t is ast.Subscript:
        obj = _expr(frame, target.value, g)
        key = _index(frame, target.slice, g)
        _setitem(obj, key, value, g)
        return
    raise SymExecError(f"assignment to {t.__name__}")


def _on_each(store, obj, g, *args) -> bool:
    """A store into `obj` under `g`: done on each object a `Choice` holds, under its own
    condition, and nothing on no path; True if `store` has nothing left to do."""
    if isinstance(obj, Choice):
        store(obj.a, *args, AND(g, obj.cond))
        store(obj.b, *args, AND(g, NOT(obj.cond)))
        return True
    return is_false(g)


def _setattr(obj, name, value, g):
    if _on_each(_setattr, obj, g, name, value):
        return
    if hasattr(obj, "sym_setattr"):
        obj.sym_setattr(name, value, g)
        return
    if not is_true(g) and hasattr(obj, name) and _BORN.get(id(obj), (None, None))[1] is not g:
        value = merge(g, value, getattr(obj, name))
    setattr(obj, name, value)


# Objects made under a path condition, by id: (the object, the condition).  A store
# under that same condition needs no merge: on every other path the object does not
# exist.  Filled by `born`, emptied by `run`.
_BORN: dict[int, tuple] = {}


def born(obj, guard=None):
    """Record that `obj` was made on the paths of `guard` (default: the current call's)."""
    _BORN[id(obj)] = (obj, current_guard() if guard is None else guard)
    return obj


def _setitem(obj, key, value, g):
    if _on_each(_setitem, obj, g, key, value):
        return
    if hasattr(obj, "sym_setitem"):
        obj.sym_setitem(key, value, g)
        return
    if isinstance(key, (Sym, slice)) and not isinstance(obj, dict) or isinstance(key, Choice):
        raise SymExecError(f"store into a {type(obj).__name__} at a symbolic or sliced index")
    if not is_true(g):
        try:
            old = obj[key]
        except (KeyError, IndexError):
            old = None
        else:
            value = merge(g, value, old)
    obj[key] = value


def _mangle(frame, name: str) -> str:
    if name.startswith("__") and not name.endswith("__"):
        parts = frame.func.__qualname__.split(".")
        if len(parts) >= 2:
            return f"_{parts[-2].lstrip('_')}{name}"
    return name


def _index(frame, node, g):
    if isinstance(node, ast.Slice):
        lo = None if node.lower is None else _expr(frame, node.lower, g)
        hi = None if node.upper is None else _expr(frame, node.upper, g)
        if node.step is not None:
            raise SymExecError("a slice with a step")
        return slice(lo, hi)
    return _expr(frame, node, g)


def _getitem(obj, key):
    def f(o, k):
        if hasattr(o, "sym_getitem"):
            return o.sym_getitem(k)
        if isinstance(k, slice) and any(isinstance(b, Sym) for b in (k.start, k.stop)):
            if isinstance(o, (bytes, bytearray)):
                return SymSlice(o, k.start, k.stop)
            raise SymExecError(f"a {type(o).__name__} sliced at a symbolic bound")
        if isinstance(k, Sym):
            raise SymExecError(f"a {type(o).__name__} indexed by a symbolic integer")
        return o[k]
    if isinstance(key, slice):
        return _lift(lambda o: f(o, key), obj)
    if type(obj) is not Choice and type(key) is int and not hasattr(obj, "sym_getitem"):
        return obj[key]
    return _lift(f, obj, key)


def _getattr(obj, name):
    if type(obj) is not Choice:
        return getattr(obj, name)
    return _lift(lambda o: getattr(o, name), obj)


def _test(frame, node, g):
    """The truth of a condition (`if`, a conditional expression): Python's truth test of
    the value, read directly where only the truth is used — `a or b` and `a and b` as the
    disjunction and conjunction of their operands' truths (each evaluated only on the paths
    that reach it, as Python does), `not a` as the negation — rather than through the value
    `or`/`and` would return."""
    t = type(node)
    if t is ast.BoolOp:
        is_or = isinstance(node.op, ast.Or)
        result = _test(frame, node.values[0], g)
        for vnode in node.values[1:]:
            go_on = NOT(result) if is_or else result
            if is_false(go_on):
                break
            nxt = _test(frame, vnode, AND(g, go_on))
            result = OR(result, nxt) if is_or else AND(result, nxt)
        return result
    if t is ast.UnaryOp and isinstance(node.op, ast.Not):
        return NOT(_test(frame, node.operand, g))
    return truthy(_expr(frame, node, g))


def _expr(frame, node, g):
    t = type(node)
    if t is ast.Constant:
        return node.value
    if t is ast.Name:
        name = node.id
        if name in frame.env:
            return frame.env[name]
        if name in frame.closure:
            return frame.closure[name]
        if name in frame.globals:
            return frame.globals[name]
        if hasattr(builtins, name):
            return getattr(builtins, name)
        raise SymExecError(f"name {name!r} is not defined")
    if t is ast.Attribute:
        attr = node.attr
        return _getattr(_expr(frame, node.value, g),
                        _mangle(frame, attr) if attr[:2] == "__" else attr)
    if t is ast.Subscript:
        return _getitem(_expr(frame, node.value, g), _index(frame, node.slice, g))
    if t is ast.Call:
        func = _expr(frame, node.func, g)
        args = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise SymExecError("a call with *args")
            args.append(_expr(frame, a, g))
        kwargs = {}
        for k in node.keywords:
            if k.arg is None:
                raise SymExecError("a call with **kwargs")
            kwargs[k.arg] = _expr(frame, k.value, g)
        return _call(func, args, kwargs, g, frame)
    if t is ast.BinOp:
        return _binop(node.op, _expr(frame, node.left, g), _expr(frame, node.right, g))
    if t is ast.UnaryOp:
        v = _expr(frame, node.operand, g)
        if isinstance(node.op, ast.Not):
            return NOT(truthy(v))  # (`_test` reads `not` in a condition without this value)
        if isinstance(node.op, ast.USub):
            return _lift(lambda x: _wrap(-_bv(x), x.bound) if isinstance(x, Sym) else -x, v)
        if isinstance(node.op, ast.UAdd):
            return v
        raise SymExecError(f"operator {type(node.op).__name__}")
    if t is ast.BoolOp:
        # Python's `a or b`: a if a is true, else b (evaluated only then); `and` the mirror.
        is_or = isinstance(node.op, ast.Or)
        result = _expr(frame, node.values[0], g)
        pending = g
        for vnode in node.values[1:]:
            c = truthy(result)
            go_on = NOT(c) if is_or else c
            if is_false(go_on):
                break
            pending = AND(pending, go_on)
            nxt = _expr(frame, vnode, pending)
            result = merge(go_on, nxt, result)
        return result
    if t is ast.Compare:
        left = _expr(frame, node.left, g)
        result = True
        for op, cnode in zip(node.ops, node.comparators):
            right = _expr(frame, cnode, g)
            r = _compare(op, left, right)
            result = AND(result, r if not isinstance(r, bool) else r)
            if result is False:
                return False
            left = right
        return result
    if t is ast.IfExp:
        c = _test(frame, node.test, g)
        if c is True or c is False:
            return _expr(frame, node.body if c else node.orelse, g)
        return merge(c, _expr(frame, node.body, AND(g, c)), _expr(frame, node.orelse, AND(g, NOT(c))))
    if t is ast.Tuple:
        return tuple(_expr(frame, e, g) for e in node.elts)
    if t is ast.List:
        return [_expr(frame, e, g) for e in node.elts]
    raise SymExecError(f"expression {t.__name__} is not interpreted")

"""The variant modules keep to the constructs a symbolic executor runs
(model/variants/registry.py lists them), and every transcribed function
cites its source."""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import types
from pathlib import Path

import pytest

from zswap_spec.model import variants as variants_pkg
from zswap_spec.model.variants import VARIANTS, VariantModuleError, discover
from zswap_spec.model.variants.registry import (ENTRY_ATTRIBUTES, FOLIO_ATTRIBUTES, ZPOOL_METHODS,
                                                ZS_ATTRIBUTES, ZS_METHODS, transcribes,
                                                transcription_of)

STATEMENTS = (ast.Assign, ast.AugAssign, ast.If, ast.For, ast.Return, ast.Break, ast.Continue,
              ast.Expr)
EXPRESSIONS = (ast.Call, ast.Attribute, ast.Subscript, ast.Slice, ast.BinOp, ast.UnaryOp,
               ast.Compare, ast.BoolOp, ast.IfExp, ast.Name, ast.Constant, ast.Tuple, ast.List,
               ast.keyword)
OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.BitOr, ast.BitAnd, ast.USub,
             ast.Not, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot,
             ast.And, ast.Or, ast.Load, ast.Store)
BUILTIN_CALLS = {"range", "enumerate", "zip", "min", "max", "len", "bytes"}
CRYPTO_CALLS = {"crypto_acomp_compress", "AcompReq", "ScatterEntry"}
LOOP_CALLS = {"range", "enumerate", "zip"}
OTHER_ATTRIBUTES = {"length", "dlen", "dst",  # a scatterlist entry, a request
                    "s32", "u32", "join"}  # cint.s32/u32, b"".join
ATTRIBUTES = (set(ZS_ATTRIBUTES) | set(ZS_METHODS) | {"zpool"} | set(ZPOOL_METHODS)
              | set(FOLIO_ATTRIBUTES) | set(ENTRY_ATTRIBUTES) | OTHER_ATTRIBUTES)


def _is(node, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


class _Checker:
    """The constructs of one function outside the allowed set, as 'file:line: what'."""

    def __init__(self, path: str, module_globals: dict):
        self.path = path
        self.globals = module_globals
        self.errors: list[str] = []

    def bad(self, node, what: str) -> None:
        self.errors.append(f"{self.path}:{getattr(node, 'lineno', '?')}: {what}")

    def function(self, fn: ast.FunctionDef) -> None:
        a = fn.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults:
            self.bad(fn, f"{fn.name}: only plain positional parameters")
        body = fn.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]  # the docstring
        self.block(body)

    def block(self, stmts) -> None:
        for st in stmts:
            self.statement(st)

    def statement(self, st) -> None:
        if not isinstance(st, STATEMENTS):
            self.bad(st, f"statement {type(st).__name__} is not allowed")
            return
        if isinstance(st, ast.Assign):
            for t in st.targets:
                self.target(t)
            self.expr(st.value)
        elif isinstance(st, ast.AugAssign):
            self.target(st.target)
            self.operator(st.op)
            self.expr(st.value)
        elif isinstance(st, ast.If):
            self.expr(st.test)
            self.block(st.body)
            self.block(st.orelse)
        elif isinstance(st, ast.For):
            if st.orelse:
                self.bad(st, "for ... else is not allowed")
            self.target(st.target)
            it = st.iter
            if isinstance(it, ast.Call):
                if not (isinstance(it.func, ast.Name) and it.func.id in LOOP_CALLS):
                    self.bad(it, "a for loop runs over range(), enumerate(), zip(), a list or a slice")
            elif not isinstance(it, (ast.Name, ast.Subscript, ast.Attribute)):
                self.bad(it, "a for loop runs over range(), enumerate(), zip(), a list or a slice")
            self.expr(it)
            self.block(st.body)
        elif isinstance(st, ast.Return):
            if st.value is not None:
                self.expr(st.value)
        elif isinstance(st, ast.Expr):
            if not isinstance(st.value, ast.Call):
                self.bad(st, "an expression statement must be a call")
            self.expr(st.value)

    def target(self, t) -> None:
        if isinstance(t, ast.Name):
            return
        if isinstance(t, ast.Tuple):
            for el in t.elts:
                self.target(el)
            return
        if isinstance(t, ast.Attribute):
            if _is(t.value, "zs") or _is(t.value, "folio"):
                self.bad(t, f"{t.value.id}.{t.attr} is read-only")
            self.expr(t)
            return
        if isinstance(t, ast.Subscript):
            if isinstance(t.value, ast.Attribute) and _is(t.value.value, "zs") \
                    and t.value.attr != "counters":
                self.bad(t, f"zs.{t.value.attr}[...] is read-only")
            self.expr(t)
            return
        self.bad(t, f"assignment to {type(t).__name__} is not allowed")

    def operator(self, op) -> None:
        if not isinstance(op, OPERATORS):
            self.bad(op, f"operator {type(op).__name__} is not allowed")

    def expr(self, e) -> None:
        if not isinstance(e, EXPRESSIONS):
            self.bad(e, f"expression {type(e).__name__} is not allowed")
            return
        for child in ast.iter_child_nodes(e):
            if isinstance(child, (ast.operator, ast.unaryop, ast.cmpop, ast.boolop,
                                  ast.expr_context)):
                self.operator(child)
        if isinstance(e, ast.Constant):
            if not (e.value is None or isinstance(e.value, (str, int, bytes))):
                self.bad(e, f"constant {e.value!r} is not allowed")
            return
        if isinstance(e, ast.Name):
            return
        if isinstance(e, ast.Attribute):
            self.attribute(e)
        if isinstance(e, ast.Call):
            self.call(e)
            return
        for child in ast.iter_child_nodes(e):
            if isinstance(child, ast.expr) or isinstance(child, ast.keyword):
                self.expr(child.value if isinstance(child, ast.keyword) else child)

    def attribute(self, e: ast.Attribute) -> None:
        if e.attr not in ATTRIBUTES:
            self.bad(e, f"attribute .{e.attr} is not in the allowed list")
        if _is(e.value, "zs") and e.attr not in set(ZS_ATTRIBUTES) | set(ZS_METHODS) | {"zpool"}:
            self.bad(e, f"zs.{e.attr} is not in the allowed list")
        if _is(e.value, "folio") and e.attr not in FOLIO_ATTRIBUTES:
            self.bad(e, f"folio.{e.attr} is not in the allowed list")
        if isinstance(e.value, ast.Attribute) and _is(e.value.value, "zs") \
                and e.value.attr == "zpool" and e.attr not in ZPOOL_METHODS:
            self.bad(e, f"zs.zpool.{e.attr} is not in the allowed list")

    def call(self, e: ast.Call) -> None:
        for a in e.args:
            if isinstance(a, ast.Starred):
                self.bad(a, "a call with *args is not allowed")
            else:
                self.expr(a)
        for k in e.keywords:
            if k.arg is None:
                self.bad(k.value, "a call with **kwargs is not allowed")
            self.expr(k.value)
        f = e.func
        if isinstance(f, ast.Name):
            if f.id in BUILTIN_CALLS or f.id in CRYPTO_CALLS:
                return
            target = self.globals.get(f.id)
            if isinstance(target, types.FunctionType) and transcription_of(target) is not None:
                return
            self.bad(e, f"call of {f.id}() is not allowed (not a transcribed function)")
            return
        if isinstance(f, ast.Attribute):
            self.attribute(f)
            if _is(f.value, "cint") and f.attr in ("s32", "u32"):
                return
            if _is(f.value, "zs") and f.attr in ZS_METHODS:
                return
            if isinstance(f.value, ast.Attribute) and _is(f.value.value, "zs") \
                    and f.value.attr == "zpool" and f.attr in ZPOOL_METHODS:
                return
            if isinstance(f.value, ast.Constant) and f.value.value == b"" and f.attr == "join":
                return
            self.bad(e, f"call of .{f.attr}() is not allowed")
            return
        self.bad(e, "a call of a computed function is not allowed")

    def counters(self, fn: ast.FunctionDef) -> None:
        """`zs.counters` only as `zs.counters["NAME"] += 1`."""
        allowed = set()
        for node in ast.walk(fn):
            if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript) \
                    and isinstance(node.target.value, ast.Attribute) \
                    and _is(node.target.value.value, "zs") and node.target.value.attr == "counters":
                allowed.add(id(node.target.value))
                if not (isinstance(node.op, ast.Add) and isinstance(node.value, ast.Constant)
                        and node.value.value == 1 and isinstance(node.target.slice, ast.Constant)
                        and isinstance(node.target.slice.value, str)):
                    self.bad(node, 'zs.counters only as zs.counters["NAME"] += 1')
        for node in ast.walk(fn):
            if isinstance(node, ast.Attribute) and _is(node.value, "zs") \
                    and node.attr == "counters" and id(node) not in allowed:
                self.bad(node, 'zs.counters only as zs.counters["NAME"] += 1')


def check_module_source(source: str, path: str, module_globals: dict, names=None) -> list[str]:
    """The errors of the module's functions (all, or those named)."""
    tree = ast.parse(source)
    checker = _Checker(path, module_globals)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (names is None or node.name in names):
            if isinstance(node, ast.AsyncFunctionDef):
                checker.bad(node, "async functions are not allowed")
                continue
            for inner in ast.walk(node):
                if inner is not node and isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                            ast.Lambda, ast.ClassDef)):
                    checker.bad(inner, f"nested {type(inner).__name__} is not allowed")
            checker.function(node)
            checker.counters(node)
    return checker.errors


def _variant_modules():
    return [sys.modules[v.store_pages.__module__] for v in VARIANTS.values()]


def _transcribed_names(module) -> set[str]:
    return {name for name, obj in vars(module).items()
            if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__
            and transcription_of(obj) is not None}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_transcriptions_use_only_the_allowed_constructs(name):
    variant = VARIANTS[name]
    errors = []
    for fn in variant.functions:
        module = sys.modules[fn.__module__]
        path = Path(module.__file__)
        errors += check_module_source(path.read_text(), str(path.relative_to(Path.cwd()) if
                                                           path.is_relative_to(Path.cwd()) else path),
                                      vars(module), names={fn.__name__})
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_function_is_cited_and_listed(name):
    variant = VARIANTS[name]
    module = sys.modules[variant.store_pages.__module__]
    assert Path(module.__file__).stem == name  # one file per variant, named after it
    assert module.VARIANT is variant
    for fn in variant.functions:
        t = transcription_of(fn)
        assert t is not None and t.source.strip() and t.function.strip(), fn.__qualname__
        assert t.name == fn.__name__
    # every transcription of the module is in the list, and every function the
    # listed ones call by name is listed too
    listed = set(variant.functions)
    assert {vars(module)[n] for n in _transcribed_names(module)} <= listed
    for fn in variant.functions:
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn)))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                target = fn.__globals__.get(node.func.id)
                if isinstance(target, types.FunctionType) and transcription_of(target):
                    assert target in listed, (fn.__name__, node.func.id)
    assert len(variant.citations) == len(variant.functions)


def test_functions_follow_the_module_order():
    for variant in VARIANTS.values():
        module = variant.store_pages.__module__
        own = [fn for fn in variant.functions if fn.__module__ == module]
        lines = [fn.__code__.co_firstlineno for fn in own]
        assert lines == sorted(lines), variant.name


def _body(fn) -> str:
    node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    body = node.body[1:] if isinstance(node.body[0], ast.Expr) and isinstance(
        node.body[0].value, ast.Constant) else node.body
    return ast.dump(ast.Module(body=body, type_ignores=[]))


@pytest.mark.parametrize("proposal", ["explicit", "uniform"])
def test_the_proposals_keep_v13s_text_around_zswap_compress(proposal):
    v13 = sys.modules[VARIANTS["v13"].store_pages.__module__]
    mod = sys.modules[VARIANTS[proposal].store_pages.__module__]
    for name in ("zswap_store_pages", "store_pages_failed", "zswap_store"):
        assert _body(getattr(mod, name)) == _body(getattr(v13, name)), (proposal, name)


def test_variants_come_in_their_order():
    assert list(VARIANTS)[:5] == ["mainline", "v13", "v14", "explicit", "uniform"]
    assert [v.order for v in VARIANTS.values()] == sorted(v.order for v in VARIANTS.values())


def test_transcribes_returns_the_function_itself():
    def f(x):
        return x

    assert transcribes("somewhere", function="g")(f) is f
    assert f.transcription.function == "g" and f.transcription.source == "somewhere"
    assert f.transcription.label == "f"


BAD = '''
def f(zs, folio, entries):
    while True:
        break
    try:
        pass
    except Exception:
        pass
    x = [e for e in entries]
    y = lambda: 0
    assert x
    z = isinstance(x, int)
    zs.counters["reject_alloc_fail"] += 2
    w = zs.tree
    v = folio.swap
    zs.page_size = 1
    g(*entries)
    s = f"{x}"
    for e in sorted(entries):
        pass
    def inner():
        return 0
    return (n := 1)
'''


def test_the_checker_names_file_and_line_of_each_construct_outside_the_list():
    errors = check_module_source(BAD, "bad.py", {})
    text = "\n".join(errors)
    for line, what in ((3, "While"), (5, "Try"), (9, "ListComp"), (10, "Lambda"), (11, "Assert"),
                       (12, "isinstance"), (13, "counters"), (14, "zs.tree"), (15, "folio.swap"),
                       (16, "read-only"), (17, "*args"), (18, "JoinedStr"), (19, "for loop"),
                       (21, "nested FunctionDef"), (23, "NamedExpr")):
        assert any(e.startswith(f"bad.py:{line}: ") and what in e for e in errors), (line, what, text)


def test_the_checker_accepts_the_allowed_constructs():
    good = '''
def f(zs, folio, entries, err):
    """doc"""
    a, b = 1, -2
    for k, sg in enumerate(zs.sg_outputs[:a]):
        if k and not b or sg.length >= zs.page_size:
            continue
        elif cint.s32(sg.length) < 0:
            break
        else:
            zs.counters["reject_compress_fail"] += 1
    src = b"".join(folio.pages[0:2])
    entries[0].handle = zs.zs_malloc(min(a, b) % 3 // 1 | 2 & 1)
    zs.zpool.zs_obj_write(entries[0].handle, bytes(src[:a]))
    c = err if err is not None else 0
    arr = [None] * 8
    return f(zs, folio, arr, c)
'''
    g = {}
    exec(compile("def f(*a):\n    return 0\n", "x", "exec"), g)
    transcribes("here")(g["f"])
    assert check_module_source(good, "good.py", g) == []


def _package(tmp_path, name, modules: dict[str, str]):
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    for mod, text in modules.items():
        (root / f"{mod}.py").write_text(textwrap.dedent(text))
    sys.path.insert(0, str(tmp_path))
    return root


VARIANT_MODULE = '''
from zswap_spec.model.variants.registry import Variant, transcribes

@transcribes("a mail, 2025-01-01")
def zswap_store(zs, folio, memcg, wb_enabled):
    return True

def one(alg, override=None):
    return 1

VARIANT = Variant(name={name!r}, title="t", source="s", crypto_layer="legacy",
                  base_tree="linux-7.3", order={order}, store_pages=zswap_store,
                  compr_batch_size=one, store_batch_size=one{extra})
'''


def test_two_variants_with_one_name_are_refused_naming_the_file(tmp_path):
    pkg = _package(tmp_path, "fakevariants_dup", {
        "a": VARIANT_MODULE.format(name="same", order=0, extra=", functions=(zswap_store,)"),
        "b": VARIANT_MODULE.format(name="same", order=1, extra=", functions=(zswap_store,)"),
    })
    try:
        with pytest.raises(VariantModuleError, match=r"b\.py: variant name 'same' is already taken"):
            discover("fakevariants_dup", [str(pkg)])
    finally:
        sys.path.remove(str(tmp_path))


def test_a_variant_missing_a_field_is_refused_naming_the_file(tmp_path):
    pkg = _package(tmp_path, "fakevariants_missing", {
        "only": VARIANT_MODULE.format(name="x", order=0, extra=""),
    })
    try:
        with pytest.raises(VariantModuleError, match=r"only\.py: TypeError: .*functions"):
            discover("fakevariants_missing", [str(pkg)])
    finally:
        sys.path.remove(str(tmp_path))


def test_an_uncited_function_is_refused_naming_the_file(tmp_path):
    text = VARIANT_MODULE.format(name="x", order=0, extra=", functions=(zswap_store, one)")
    pkg = _package(tmp_path, "fakevariants_uncited", {"only": text})
    try:
        with pytest.raises(VariantModuleError, match=r"only\.py: .*'one' in functions has no "
                                                     r"@transcribes citation"):
            discover("fakevariants_uncited", [str(pkg)])
    finally:
        sys.path.remove(str(tmp_path))


def test_the_package_finds_its_variants_itself():
    found = discover(variants_pkg.__name__, variants_pkg.__path__)
    assert list(found) == list(VARIANTS)
    assert all(found[n] is VARIANTS[n] for n in found)


def test_v14len_is_v14_but_for_the_length_test():
    """v14len is v14's text with one line changed, mainline's length test; the rest of
    its file (the functions around zswap_compress) is v14's, word for word."""
    import difflib

    v14 = sys.modules[VARIANTS["v14"].store_pages.__module__]
    v14len = sys.modules[VARIANTS["v14len"].store_pages.__module__]
    for fn in VARIANTS["v14"].functions:
        if fn.__name__ != "zswap_compress":
            assert _body(getattr(v14len, fn.__name__)) == _body(fn), fn.__name__

    def code(fn):
        node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
        body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
        return ast.unparse(ast.Module(body=body, type_ignores=[])).splitlines()

    changed = [ln.replace(" ", "") for ln in difflib.unified_diff(
        code(v14.zswap_compress), code(v14len.zswap_compress), lineterm="", n=0)
        if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert changed == ["-ifdlen<0:", "+ifdlen<0ornotdlenordlen>=zs.page_size:"], changed

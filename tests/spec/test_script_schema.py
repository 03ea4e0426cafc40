"""spec/script.schema.json and spec/script-format.md against kernel/script.py:
the same ops and fields, content kinds, parameters and ranges; the schema
accepts the scripts the parser accepts (the document's example, the test
scripts) and refuses what a schema can see is malformed."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from zswap_spec.kernel import script as S

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "spec" / "script.schema.json").read_text())
DOC = (ROOT / "spec" / "script-format.md").read_text()
DEFS = SCHEMA["$defs"]


def test_the_schema_has_every_op_with_its_fields():
    ops = SCHEMA["properties"]["step"]["items"]["properties"]["op"]["enum"]
    assert ops == list(S.OPS)
    refs = [b["$ref"].rsplit("/", 1)[1] for b in SCHEMA["properties"]["step"]["items"]["oneOf"]]
    assert refs == list(S.OPS)
    for op, (required, optional) in S.OPS.items():
        d = DEFS[op]
        assert d["properties"]["op"] == {"const": op}
        assert set(d["properties"]) - {"op"} == set(required) | set(optional), op
        assert set(d["required"]) - {"op"} == set(required), op
        assert d["additionalProperties"] is False


def test_the_schema_has_the_kinds_parameters_and_ranges():
    assert DEFS["content"]["enum"] == list(S.KINDS)
    assert DEFS["compressor"]["enum"] == list(S.COMPRESSORS)
    assert SCHEMA["properties"]["start"]["properties"]["shrink_cursor"]["enum"] == ["none", "root"]
    store = DEFS["store"]["properties"]
    assert store["folio_pages"]["enum"] == list(S.FOLIO_PAGES)
    assert store["pages"]["maximum"] == S.MAX_REGION_PAGES
    assert DEFS["reclaim"]["properties"]["bytes"]["default"] == S.MAX_REGION_PAGES * S.PAGE_SIZE
    assert DEFS["reclaim"]["properties"]["bytes"]["minimum"] == S.PAGE_SIZE
    assert DEFS["cgset"]["properties"]["file"]["enum"] == list(S.CGROUP_FILES)
    assert SCHEMA["properties"]["step"]["maxItems"] == S.MAX_STEPS
    param = DEFS["param"]
    assert param["properties"]["name"]["enum"] == list(S.PARAMS)
    for branch in param["oneOf"]:
        name = branch["properties"]["name"]["const"]
        value = branch["properties"]["value"]
        check = S.PARAMS[name]
        if check == "bool":
            assert value == {"type": "boolean"}
        elif isinstance(check[0], int):
            assert (value["minimum"], value["maximum"]) == check
        else:
            assert value == {"$ref": "#/$defs/compressor"} and tuple(check) == S.COMPRESSORS
    assert [b["properties"]["name"]["const"] for b in param["oneOf"]] == list(S.PARAMS)


def test_the_document_describes_every_op_kind_and_parameter():
    ops_table = DOC[DOC.index("## Steps"):DOC.index("## Page contents")]
    assert re.findall(r"^\| `([a-z]+)` \|", ops_table, re.M) == list(S.OPS)
    kinds_table = DOC[DOC.index("## Page contents"):DOC.index("## Records")]
    kinds = [k for row in re.findall(r"^\| (`[^|]+`) \|", kinds_table, re.M)
             for k in re.findall(r"`([^`]+)`", row)]
    assert kinds == list(S.KINDS)
    for name in S.PARAMS:
        assert f"`{name}`" in ops_table
    for name in S.COMPRESSORS:
        assert f"`{name}`" in DOC


# ---- a small validator for the keywords the schema uses ------------------------------

def _resolve(ref: str) -> dict:
    node = SCHEMA
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def valid(x, s) -> bool:  # noqa: C901 - one branch per keyword
    if s is True:
        return True
    if "$ref" in s and not valid(x, _resolve(s["$ref"])):
        return False
    t = s.get("type")
    types = {"object": dict, "array": list, "string": str}
    if t == "integer" and not (isinstance(x, int) and not isinstance(x, bool)):
        return False
    if t == "boolean" and not isinstance(x, bool):
        return False
    if t in types and not isinstance(x, types[t]):
        return False
    if "const" in s and (x != s["const"] or type(x) is not type(s["const"])):
        return False
    if "enum" in s and not any(x == e and type(x) is type(e) for e in s["enum"]):
        return False
    if isinstance(x, int) and not isinstance(x, bool):
        if x < s.get("minimum", x) or x > s.get("maximum", x):
            return False
    if isinstance(x, str):
        if len(x) < s.get("minLength", 0) or ("pattern" in s and not re.search(s["pattern"], x)):
            return False
    if isinstance(x, list):
        if len(x) > s.get("maxItems", len(x)) or not all(valid(i, s.get("items", True))
                                                        for i in x):
            return False
    if isinstance(x, dict):
        props = s.get("properties", {})
        if any(k not in x for k in s.get("required", ())):
            return False
        if s.get("additionalProperties") is False and set(x) - set(props):
            return False
        if not all(valid(v, props[k]) for k, v in x.items() if k in props):
            return False
    if "oneOf" in s and sum(valid(x, b) for b in s["oneOf"]) != 1:
        return False
    if not all(valid(x, b) for b in s.get("allOf", ())):
        return False
    if "not" in s and valid(x, s["not"]):
        return False
    if "if" in s:
        branch = s.get("then", True) if valid(x, s["if"]) else s.get("else", True)
        if not valid(x, branch):
            return False
    return True


def _scripts():
    example = re.search(r"## Example\n\n```toml\n(.*?)```", DOC, re.S).group(1)
    out = [("the document's example", example)]
    for p in sorted((ROOT / "tests" / "kernel" / "scripts").glob("*.toml")):
        out.append((p.name, p.read_text()))
    return out


@pytest.mark.parametrize("name,text", _scripts(), ids=[n for n, _ in _scripts()])
def test_scripts_the_parser_reads_are_valid_under_the_schema(name, text, tmp_path):
    S.parse_script(text, name, base=tmp_path)
    assert valid(tomllib.loads(text), SCHEMA)


EVERY_OP = [
    {"op": "mkcg", "path": "a"}, {"op": "mkcg", "path": "a/b"}, {"op": "mkcg", "path": "c"},
    {"op": "enter", "path": "c"},
    {"op": "cgset", "path": "a/b", "file": "memory.zswap.writeback", "value": False},
    {"op": "cgset", "path": "a/b", "file": "memory.zswap.writeback", "value": 1},
    {"op": "cgset", "path": "a", "file": "memory.zswap.max", "value": "max"},
    {"op": "cgset", "path": "a", "file": "memory.zswap.max", "value": 65536},
    {"op": "param", "name": "enabled", "value": True},
    {"op": "param", "name": "max_pool_percent", "value": 7},
    {"op": "param", "name": "accept_threshold_percent", "value": 0},
    {"op": "param", "name": "shrinker_enabled", "value": False},
    {"op": "param", "name": "compressor", "value": "zstd"},
    {"op": "store", "region": "r1", "pages": 64, "folio_pages": 16, "content": "text",
     "seed": 9},
    {"op": "store", "region": "r2", "content": "fit+1", "fit_for": "deflate"},
    {"op": "store", "region": "r3", "content": "file", "file": "pages.bin", "pages": 2},
    {"op": "store", "region": "r1"}, {"op": "load", "region": "r1"},
    {"op": "redirty", "region": "r1", "content": "halfzero", "seed": 3},
    {"op": "reclaim", "path": "c", "bytes": 8192}, {"op": "reclaim", "path": "c"},
    {"op": "free", "region": "r2"}, {"op": "wait"}, {"op": "settle"},
    {"op": "enter", "path": "/"},
]


def test_the_schema_accepts_every_op_with_every_field(tmp_path):
    (tmp_path / "pages.bin").write_bytes(b"x" * 5000)
    doc = {"format": S.FORMAT, "description": "all",
           "start": {"compressor": "deflate", "shrink_cursor": "root"}, "step": EVERY_OP}
    assert valid(doc, SCHEMA)
    script = S.parse_script(S.dump_script(S.Script("x", [])) + "".join(
        "\n[[step]]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in step.items())
        for step in EVERY_OP), "all.toml", base=tmp_path)
    assert {s.op for s in script.steps} == set(S.OPS)
    assert valid(tomllib.loads(S.dump_script(script)), SCHEMA)


@pytest.mark.parametrize("step", [
    {"op": "frob"},
    {"op": "mkcg"},
    {"op": "mkcg", "path": "Upper"},
    {"op": "mkcg", "path": "a/b/c/d/e"},
    {"op": "wait", "region": "r"},
    {"op": "cgset", "path": "a", "file": "memory.zswap.writeback", "value": 2},
    {"op": "cgset", "path": "a", "file": "memory.zswap.max", "value": "none"},
    {"op": "param", "name": "max_pool_percent", "value": 0},
    {"op": "param", "name": "enabled", "value": 1},
    {"op": "param", "name": "compressor", "value": "lz5"},
    {"op": "store", "region": "r", "pages": 8193},
    {"op": "store", "region": "r", "folio_pages": 2},
    {"op": "store", "region": "r", "content": "random", "fit_for": "lz4"},
    {"op": "store", "region": "r", "content": "file"},
    {"op": "store", "region": "r", "content": "text", "file": "x"},
    {"op": "redirty", "region": "r", "seed": -1},
    {"op": "reclaim", "path": "a", "bytes": 10},
])
def test_the_schema_refuses_what_it_can_see_is_malformed(step):
    assert not valid({"format": S.FORMAT, "step": [step]}, SCHEMA)
    with pytest.raises(S.ScriptError):
        S.parse_script(S.dump_script(S.Script("x", [])) + "\n[[step]]\n" + "\n".join(
            f"{k} = {json.dumps(v)}" for k, v in step.items()))


def test_the_schema_refuses_a_wrong_format_or_unknown_fields():
    assert not valid({"format": "zswap-spec-script/2"}, SCHEMA)
    assert not valid({"format": S.FORMAT, "steps": []}, SCHEMA)
    assert not valid({"format": S.FORMAT, "start": {"zpool": "z3fold"}}, SCHEMA)
    assert valid({"format": S.FORMAT}, SCHEMA)

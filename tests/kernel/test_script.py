"""Workload scripts (kernel/script.py): every malformed script is refused with
the file, the step and the field named; a script dumps to TOML and reads
back the same; every content kind gives the bytes spec/script-format.md
describes."""

from __future__ import annotations

import struct

import pytest

from zswap_spec.kernel.script import (FOLIO_PAGES, KINDS, MAX_REGION_PAGES, OPS, PAGE_SIZE,
                                      Corpus, Script, ScriptError, Step, dump_script,
                                      load_script, page_bytes, parse_script)
from zswap_spec.model.compressors import ALGORITHMS

HEAD = 'format = "zswap-spec-script/1"\n'


def toml(steps: list[dict], head: str = HEAD) -> str:
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v) if isinstance(v, int) else '"' + v + '"'

    out = [head]
    for s in steps:
        out.append("[[step]]")
        out += [f"{k} = {value(v)}" for k, v in s.items()]
    return "\n".join(out) + "\n"


# Two valid steps first, so the bad one is step 3: the number must be its own.
PRELUDE = [{"op": "mkcg", "path": "a"}, {"op": "store", "region": "r1", "pages": 4}]
BAD_STEPS = [
    ({"op": "frob"}, "op"),
    ({"op": "mkcg"}, "path"),
    ({"op": "wait", "region": "r1"}, "region"),
    ({"op": "mkcg", "path": "A"}, "path"),
    ({"op": "mkcg", "path": "a/b/c/d/e"}, "path"),
    ({"op": "mkcg", "path": "a"}, "path"),
    ({"op": "mkcg", "path": "/"}, "path"),
    ({"op": "mkcg", "path": "x/y"}, "path"),
    ({"op": "enter", "path": "b"}, "path"),
    ({"op": "cgset", "path": "/", "file": "memory.zswap.max", "value": 0}, "path"),
    ({"op": "cgset", "path": "a", "file": "memory.max", "value": 0}, "file"),
    ({"op": "cgset", "path": "a", "file": "memory.zswap.writeback", "value": 2}, "value"),
    ({"op": "cgset", "path": "a", "file": "memory.zswap.max", "value": -1}, "value"),
    ({"op": "cgset", "path": "a", "file": "memory.zswap.max", "value": "none"}, "value"),
    ({"op": "param", "name": "zpool", "value": "zsmalloc"}, "name"),
    ({"op": "param", "name": "enabled", "value": "Y"}, "value"),
    ({"op": "param", "name": "max_pool_percent", "value": 0}, "value"),
    ({"op": "param", "name": "accept_threshold_percent", "value": 101}, "value"),
    ({"op": "param", "name": "compressor", "value": "lz5"}, "value"),
    ({"op": "store", "region": "1x", "pages": 1}, "region"),
    ({"op": "store", "region": "r2", "pages": 0}, "pages"),
    ({"op": "store", "region": "r2", "pages": MAX_REGION_PAGES + 1}, "pages"),
    ({"op": "store", "region": "r2", "folio_pages": 3}, "folio_pages"),
    ({"op": "store", "region": "r2", "folio_pages": True}, "folio_pages"),
    ({"op": "store", "region": "r2", "pages": 6, "folio_pages": 4}, "pages"),
    ({"op": "store", "region": "r2", "content": "noise"}, "content"),
    ({"op": "store", "region": "r2", "seed": -1}, "seed"),
    ({"op": "store", "region": "r2", "seed": 2**32}, "seed"),
    ({"op": "store", "region": "r2", "content": "random", "fit_for": "lz4"}, "fit_for"),
    ({"op": "store", "region": "r2", "content": "fit", "fit_for": "lz5"}, "fit_for"),
    ({"op": "store", "region": "r2", "content": "file"}, "file"),
    ({"op": "store", "region": "r2", "content": "file", "file": "no-such-file"}, "file"),
    ({"op": "store", "region": "r2", "content": "text", "file": "x"}, "file"),
    ({"op": "store", "region": "r1", "pages": 4}, "pages"),
    ({"op": "store", "region": "r1", "content": "zero"}, "content"),
    ({"op": "load", "region": "r9"}, "region"),
    ({"op": "free", "region": "r9"}, "region"),
    ({"op": "redirty", "region": "r1", "content": "noise"}, "content"),
    ({"op": "redirty", "region": "r1", "pages": 4}, "pages"),
    ({"op": "reclaim", "path": "a", "bytes": 100}, "bytes"),
    ({"op": "reclaim", "path": "/"}, "path"),
]


@pytest.mark.parametrize("bad,field", BAD_STEPS, ids=[f"{s['op']}-{f}" for s, f in BAD_STEPS])
def test_every_bad_step_names_file_step_and_field(bad, field, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(toml(PRELUDE + [bad]))
    with pytest.raises(ScriptError) as e:
        load_script(path)
    assert str(e.value).startswith(f"{path}: step 3: field {field}: "), str(e.value)


def test_the_cgroup_v2_rules_name_the_step_and_field(tmp_path):
    """No child for the cgroup the workload is in; no entering a cgroup with children."""
    path = tmp_path / "v2.toml"
    path.write_text(toml([{"op": "mkcg", "path": "a"}, {"op": "enter", "path": "a"},
                          {"op": "mkcg", "path": "a/b"}]))
    with pytest.raises(ScriptError, match=rf"^{path}: step 3: field path: "):
        load_script(path)
    path.write_text(toml([{"op": "mkcg", "path": "a"}, {"op": "mkcg", "path": "a/b"},
                          {"op": "enter", "path": "a"}]))
    with pytest.raises(ScriptError, match=rf"^{path}: step 3: field path: "):
        load_script(path)


@pytest.mark.parametrize("text,field", [
    ('format = "zswap-spec-script/2"\n', "field format"),
    ("", "field format"),
    (HEAD + "steps = []\n", "field steps"),
    (HEAD + "[start]\ncompressor = \"lz5\"\n", "[start] field compressor"),
    (HEAD + "[start]\nshrink_cursor = \"a\"\n", "[start] field shrink_cursor"),
    (HEAD + "[start]\nzpool = \"z3fold\"\n", "[start] field zpool"),
    (HEAD + "start = 3\n", "field start"),
    (HEAD + "step = [1, 2]\n", "field step"),
    (HEAD + "[[step]\n", "not valid TOML"),
])
def test_file_level_errors_name_the_file_and_the_field(text, field):
    with pytest.raises(ScriptError) as e:
        parse_script(text, "f.toml")
    assert str(e.value).startswith(f"f.toml: {field}"), str(e.value)


def test_an_unreadable_file_is_a_script_error(tmp_path):
    with pytest.raises(ScriptError, match="cannot read it"):
        load_script(tmp_path / "missing.toml")


def test_defaults_are_filled_in():
    s = parse_script(toml([{"op": "mkcg", "path": "/a/"}, {"op": "store", "region": "r"},
                           {"op": "reclaim", "path": "a"},
                           {"op": "store", "region": "f", "content": "fit"},
                           {"op": "param", "name": "compressor", "value": "zstd"},
                           {"op": "redirty", "region": "f", "content": "fit-1"}]))
    assert (s.compressor, s.start_cursor, s.description) == ("lz4", "none", "")
    assert s.steps[0].args == {"path": "a"}
    assert s.steps[1].args == {"region": "r", "pages": 1, "folio_pages": 1,
                               "content": "random", "seed": 0}
    assert s.steps[2].args == {"path": "a", "bytes": MAX_REGION_PAGES * PAGE_SIZE}
    # fit_for defaults to the compressor current at that step.
    assert s.steps[3].args["fit_for"] == "lz4" and s.steps[5].args["fit_for"] == "zstd"
    assert s.cgroups() == ["/", "/a"]


def every_op_script(tmp_path) -> Script:
    (tmp_path / "pages.bin").write_bytes(b"\x01\x02" * 3000)
    text = toml([
        {"op": "mkcg", "path": "a"}, {"op": "mkcg", "path": "a/b"}, {"op": "mkcg", "path": "c"},
        {"op": "enter", "path": "c"},
        {"op": "cgset", "path": "a/b", "file": "memory.zswap.writeback", "value": False},
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
        {"op": "redirty", "region": "r3", "content": "file", "file": "pages.bin"},
        {"op": "reclaim", "path": "c", "bytes": 8192}, {"op": "free", "region": "r2"},
        {"op": "wait"}, {"op": "settle"}, {"op": "enter", "path": "/"},
    ], head=HEAD + 'description = "every op\\nand a \\"quoted\\" line"\n'
                   '[start]\ncompressor = "deflate"\nshrink_cursor = "root"\n')
    return parse_script(text, "all.toml", base=tmp_path)


def test_dump_and_parse_give_the_same_script(tmp_path):
    s = every_op_script(tmp_path)
    assert {step.op for step in s.steps} == set(OPS)
    again = parse_script(dump_script(s), "again.toml", base=tmp_path)
    assert again.steps == s.steps
    assert (again.compressor, again.start_cursor, again.description) == \
        ("deflate", "root", "every op\nand a \"quoted\" line")
    assert dump_script(again) == dump_script(s)
    assert s.files() == [(tmp_path / "pages.bin").resolve()]


# ---- page contents ------------------------------------------------------------------

def splitmix64(state: int):
    """The reference generator (Steele, Lea, Flood), written out independently."""
    m = (1 << 64) - 1
    while True:
        state = (state + 0x9E3779B97F4A7C15) & m
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        yield z ^ (z >> 31)


@pytest.fixture(scope="module")
def corpus():
    return Corpus.build({"lz4": ALGORITHMS["lz4"], "deflate": ALGORITHMS["deflate"]}, per_kind=6)


def step_of(kind, seed=0, **extra):
    return Step("redirty", {"region": "r", "content": kind, "seed": seed, **extra})


def test_random_pages_are_splitmix64_from_the_documented_state(corpus, tmp_path):
    seed, i = 12345, 7
    gen = splitmix64((seed * 0x9E3779B97F4A7C15 + i * 0xBF58476D1CE4E5B9 + 1) % 2**64)
    want = struct.pack("<512Q", *(next(gen) for _ in range(512)))
    assert page_bytes(corpus, step_of("random", seed), i, tmp_path) == want
    assert page_bytes(corpus, step_of("random", seed), i + 1, tmp_path) != want
    mostly = page_bytes(corpus, step_of("mostly-random", seed), i, tmp_path)
    assert mostly[:3584] == want[:3584] and mostly[3584:] == bytes(512)
    assert page_bytes(corpus, step_of("zero", seed), i, tmp_path) == bytes(PAGE_SIZE)


def test_corpus_kinds_take_page_seed_plus_index(corpus, tmp_path):
    text, code = corpus.sections["text"], corpus.sections["code"]
    assert len(text) == 6 and len(code) == 6
    for i in range(8):
        assert page_bytes(corpus, step_of("text", 5), i, tmp_path) == text[(5 + i) % 6]
        assert page_bytes(corpus, step_of("code", 5), i, tmp_path) == code[(5 + i) % 6]
        half = page_bytes(corpus, step_of("halfzero", 5), i, tmp_path)
        assert half == text[(5 + i) % 6][:2048] + bytes(2048)


@pytest.mark.parametrize("kind,delta", [("fit-1", -1), ("fit", 0), ("fit+1", 1)])
def test_fit_pages_compress_to_the_size_named(corpus, tmp_path, kind, delta):
    page = page_bytes(corpus, step_of(kind, fit_for="lz4"), 0, tmp_path)
    assert len(ALGORITHMS["lz4"].raw_compress(page)) == PAGE_SIZE + delta


def test_a_size_the_compressor_cannot_make_names_its_section(corpus, tmp_path):
    with pytest.raises(ScriptError, match="content fit:zstd: no such pages"):
        page_bytes(corpus, step_of("fit", fit_for="zstd"), 0, tmp_path)


def test_file_pages_wrap_and_are_zero_padded(tmp_path):
    data = bytes(range(256)) * 20  # 5120 bytes: one page and a part
    (tmp_path / "f.bin").write_bytes(data)
    corpus = Corpus({})
    corpus.add_file(tmp_path / "f.bin")
    step = step_of("file", 1, file="f.bin")
    assert page_bytes(corpus, step, 0, tmp_path) == data[4096:] + bytes(3072)
    assert page_bytes(corpus, step, 1, tmp_path) == data[:4096]


def test_every_kind_is_produced(corpus, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"x" * 10)
    corpus.add_file(tmp_path / "f.bin")
    for kind in KINDS:
        extra = {"fit_for": "lz4"} if kind.startswith("fit") else \
            {"file": "f.bin"} if kind == "file" else {}
        assert len(page_bytes(corpus, step_of(kind, **extra), 3, tmp_path)) == PAGE_SIZE
    assert set(FOLIO_PAGES) == {1 << k for k in (0, 2, 3, 4, 5, 6, 7, 8, 9)}

"""The loader of the kernel's compression self-test vectors (crypto/testmgr.h):
C string literals read as C reads them on headers written here, bad entries
refused naming template, entry and file, where the header comes from (a tree,
a tarball, Debian's source in the cache, nothing), the JSON cache; and, with
Debian's linux-source-7.3 when it is in the cache, every real vector against
the model's reference compressors."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest
from zswap_spec.driverkit import testmgr
from zswap_spec.driverkit.testmgr import (
    COMP_BUF_SIZE_DEFAULT,
    FORMAT_TEMPLATES,
    Vector,
    VectorSet,
    VectorsUnavailable,
    kernel_vectors,
)
from zswap_spec.model.compressors import ALGORITHMS

FIX = "give --kernel-source PATH (a kernel tree or source tarball), or --kernel-source none to skip them"
PREFIXES = ("lz4", "zstd", "deflate")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSWAP_SPEC_CACHE", str(tmp_path / "cache"))


def header(entries: dict[str, str] | None = None, buffer_size: str = "512", extra: str = "") -> str:
    """A testmgr.h of our own: every template has one plain entry unless
    `entries` gives a template's body."""
    entries = entries or {}
    out = [f"/* a header written for these tests */\n#define COMP_BUF_SIZE {buffer_size}\n",
           ("struct comp_testvec {\n\tint inlen, outlen;\n\tchar input[COMP_BUF_SIZE];\n"
            "\tchar output[COMP_BUF_SIZE];\n};\n"), extra]
    for p in PREFIXES:
        for kind in ("comp", "decomp"):
            name = f"{p}_{kind}_tv_template"
            body = entries.get(name, '{ .inlen = 3, .outlen = 2, .input = "abc", .output = "de" },')
            out.append(f"static const struct comp_testvec {name}[] = {{\n{body}\n}};\n\n")
    return "".join(out)


def tree(tmp_path: Path, text: str, makefile: str | None = "VERSION = 9\nPATCHLEVEL = 8\n"
         "SUBLEVEL = 7\nEXTRAVERSION = -test\n") -> Path:
    root = tmp_path / "linux"
    (root / "crypto").mkdir(parents=True, exist_ok=True)
    (root / "crypto" / "testmgr.h").write_text(text, encoding="latin-1")
    if makefile is not None:
        (root / "Makefile").write_text(makefile)
    return root


def one_input(tmp_path: Path, entry: str) -> bytes:
    """The input of the only entry of lz4_comp_tv_template `{ entry }`."""
    root = tree(tmp_path, header({"lz4_comp_tv_template": "{ " + entry + " },"}))
    (vector,) = kernel_vectors("lz4", str(root)).comp
    return vector.input


def refusal(tmp_path: Path, entry: str, template: str = "zstd_decomp_tv_template",
            fmt: str = "zstd") -> str:
    good = '{ .inlen = 1, .outlen = 1, .input = "a", .output = "b" },'
    root = tree(tmp_path, header({template: good + "\n" + entry}))
    with pytest.raises(VectorsUnavailable) as e:
        kernel_vectors(fmt, str(root))
    return str(e.value)


# -- C string literals ----------------------------------------------------------

def test_adjacent_literals_concatenate_across_lines_and_comments(tmp_path):
    entry = ('.inlen = 12, .input = "one" /* between */ "two"\n  // a line comment\n'
             '\t"three" "" "\\x21"')
    assert one_input(tmp_path, entry) == b"onetwothree!"


@pytest.mark.parametrize("literal, expected", [
    (r"\x41", b"A"),
    (r"\x0041", b"A"),            # every following hex digit is the escape's, leading zeros too
    (r"\x4g", b"\x04g"),          # the escape ends at the first non-hex character
    (r'\x4" "1', b"\x041"),       # and at the end of its literal: the next one starts afresh
    (r"\101", b"A"),
    (r"\1012", b"A2"),            # octal takes at most three digits
    (r"\18", b"\x018"),
    (r"\7", b"\x07"),
    (r"\0", b"\x00"),
    (r"\377", b"\xff"),
    (r"\n\t\r\\\"\'\a\b\f\v\?", b"\n\t\r\\\"'\x07\x08\x0c\x0b?"),
    (r"\u00e9", "\u00e9".encode()),  # a universal character name, in UTF-8
    ("caf\xe9", b"caf\xe9"),       # a raw byte of the file is that byte
])
def test_each_escape_reads_as_c_reads_it(tmp_path, literal, expected):
    assert one_input(tmp_path, f'.inlen = {len(expected)}, .input = "{literal}"') == expected


@pytest.mark.parametrize("literal, why", [
    (r"\x100", r"'\x100' is more than a byte"),
    (r"\x0000100", r"'\x0000100' is more than a byte"),
    (r"\400", r"'\400' is more than a byte"),
    (r"\xg", r"'\x' with no hex digit"),
    (r"\q", r"'\q' is not a C escape"),
])
def test_an_escape_c_refuses_is_refused(tmp_path, literal, why):
    msg = refusal(tmp_path, f'{{ .inlen = 1, .input = "{literal}" }},')
    assert why in msg and "zstd_decomp_tv_template entry 2" in msg


def test_a_short_literal_is_padded_with_zeros_to_inlen(tmp_path):
    assert one_input(tmp_path, '.inlen = 6, .input = "ab"') == b"ab\0\0\0\0"
    assert one_input(tmp_path, '.inlen = 4') == bytes(4)  # no .input: all zeros, as C fills it


def test_inlen_and_outlen_may_come_before_or_after_the_strings(tmp_path):
    after = '{ .input = "hello", .output = "world!", .inlen = 4, .outlen = 6, },'
    before = '{ .outlen = 3, .inlen = 2, .output = "xyz", .input = "pq" }'
    root = tree(tmp_path, header({"deflate_decomp_tv_template": after + "\n" + before}))
    vs = kernel_vectors("deflate", str(root))
    assert [(v.number, v.input, v.output) for v in vs.decomp] == [
        (1, b"hell", b"world!"), (2, b"pq", b"xyz")]
    assert all(v.template == "deflate_decomp_tv_template" for v in vs.decomp)


def test_the_buffer_size_is_the_headers_define(tmp_path):
    text = header({"lz4_comp_tv_template": '{ .inlen = 64, .input = "x" },'}, buffer_size="(64u)")
    vs = kernel_vectors("lz4", str(tree(tmp_path, text)))
    assert vs.buffer_size == 64 and vs.comp[0].input == b"x" + bytes(63)
    text = header({"lz4_comp_tv_template": '{ .inlen = 65, .input = "x" },'}, buffer_size="64")
    with pytest.raises(VectorsUnavailable, match=r"lz4_comp_tv_template entry 1 .*\.inlen is 65, "
                       r"more than COMP_BUF_SIZE \(64\)"):
        kernel_vectors("lz4", str(tree(tmp_path, text)))


def test_the_define_may_be_indented_commented_and_in_hex(tmp_path):
    text = header({"lz4_comp_tv_template": '{ .inlen = 65, .input = "x" },'}).replace(
        "#define COMP_BUF_SIZE 512", "  #  define COMP_BUF_SIZE 0x40 /* sixty-four */")
    with pytest.raises(VectorsUnavailable, match=r"more than COMP_BUF_SIZE \(64\)"):
        kernel_vectors("lz4", str(tree(tmp_path, text)))


def test_a_template_inside_a_comment_is_not_read(tmp_path):
    fake = ('/* static const struct comp_testvec lz4_decomp_tv_template[] = {\n'
            '   { .inlen = 1, .input = "not this one" } }; */\n')
    vs = kernel_vectors("lz4", str(tree(tmp_path, header(extra=fake))))
    assert vs.decomp[0].input == b"abc"


# -- what is refused, and how it is said ----------------------------------------

@pytest.mark.parametrize("entry, why", [
    ('{ .inlen 1, .input = "a" },', "expected a field as '.inlen = ...'"),
    ('{ .inlenn = 1, .input = "a" },', "struct comp_testvec has no field .inlenn"),
    ('{ .inlen = 1, .inlen = 2 },', "sets .inlen twice"),
    ('{ .inlen = -1 },', ".inlen is '-', not a whole number"),
    ('{ .inlen = 1, .input = 7 },', ".input is '7', not a string literal"),
    ('{ .inlen = 1, .input = "a" .outlen = 1 },', "expected ',' or '}' after .input"),
    ('{ .outlen = 513 },', ".outlen is 513, more than COMP_BUF_SIZE (512)"),
    ('{ .inlen = 1, .input = L"a" },', "a wide string"),
    ('{ .inlen = 1, .input = "a\n" },', "does not end on its line"),
])
def test_a_malformed_entry_names_template_entry_and_file(tmp_path, entry, why):
    msg = refusal(tmp_path, entry)
    assert why in msg
    assert "zstd_decomp_tv_template entry 2 (line " in msg
    assert str(tmp_path / "linux" / "crypto" / "testmgr.h") in msg
    assert FIX in msg and "\n" not in msg


def test_a_line_splice_joins_a_literal_and_lines_are_counted_as_written(tmp_path):
    spliced = '{ .inlen = 4, .input = "ab\\\ncd" },'
    assert one_input(tmp_path, spliced[2:-3]) == b"abcd"
    text = header({"lz4_decomp_tv_template": spliced + "\n\n{ .inlen = x },"})
    line = text.splitlines().index("{ .inlen = x },") + 1
    with pytest.raises(VectorsUnavailable, match=rf"lz4_decomp_tv_template entry 2 \(line {line}\)"):
        kernel_vectors("lz4", str(tree(tmp_path, text)))


def test_a_literal_longer_than_its_array_is_refused(tmp_path):
    msg = refusal(tmp_path, '{ .inlen = 1, .input = "' + "z" * 513 + '" },')
    assert "its .input string is 513 bytes, more than its array of COMP_BUF_SIZE (512) holds" in msg


def test_a_bad_template_spoils_only_its_format(tmp_path):
    root = tree(tmp_path, header({"zstd_comp_tv_template": "{ .nonsense }"}))
    with pytest.raises(VectorsUnavailable, match="zstd_comp_tv_template entry 1"):
        kernel_vectors("zstd", str(root))
    assert kernel_vectors("lz4", str(root)).comp[0].input == b"abc"


def test_a_header_without_the_template_or_the_buffer_size_is_refused(tmp_path):
    text = header().replace("deflate_comp_tv_template", "deflate_other_tv_template")
    with pytest.raises(VectorsUnavailable, match="it defines no deflate_comp_tv_template"):
        kernel_vectors("deflate", str(tree(tmp_path, text)))
    text = header().replace("#define COMP_BUF_SIZE", "#define OTHER_SIZE")
    with pytest.raises(VectorsUnavailable, match="it defines no COMP_BUF_SIZE"):
        kernel_vectors("lz4", str(tree(tmp_path, text)))


@pytest.mark.parametrize("fmt", ["none", "lzo", "LZ4"])
def test_a_format_the_kernel_has_no_vectors_for_is_refused(fmt):
    with pytest.raises(VectorsUnavailable, match=f"no compression self-test vectors for format '{fmt}'"):
        kernel_vectors(fmt, "/nonexistent", fetch=False)


def test_a_path_that_is_no_kernel_source_is_refused(tmp_path):
    with pytest.raises(VectorsUnavailable, match="no such file or folder") as e:
        kernel_vectors("lz4", str(tmp_path / "missing"))
    assert FIX in str(e.value)
    with pytest.raises(VectorsUnavailable, match="a folder without crypto/testmgr.h"):
        kernel_vectors("lz4", str(tmp_path))
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"not a tarball at all" * 100)
    with pytest.raises(VectorsUnavailable, match="cannot be read as a tarball"):
        kernel_vectors("lz4", str(junk))


def test_without_a_source_and_without_fetching_the_fix_is_named():
    for source in (None, "debian:7.3"):
        with pytest.raises(VectorsUnavailable) as e:
            kernel_vectors("lz4", source, fetch=False)
        assert "linux-source-7.3 is not in the cache" in str(e.value) and FIX in str(e.value)


def test_a_failed_fetch_is_said_after_the_note(monkeypatch):
    from zswap_spec.kernel import fetch
    from zswap_spec.kernel.tree import KernelError

    def fail(series):
        raise KernelError(f"Debian has no package linux-source-{series}")

    monkeypatch.setattr(fetch, "fetch_debian_source", fail)
    notes = []
    with pytest.raises(VectorsUnavailable) as e:
        kernel_vectors("zstd", note=notes.append)
    assert notes == ["fetching Debian's linux-source-7.3 once for the kernel's self-test vectors"]
    assert "could not be fetched (Debian has no package linux-source-7.3)" in str(e.value)
    assert FIX in str(e.value)


def test_a_fetched_tarball_is_read(tmp_path, monkeypatch):
    from zswap_spec.kernel import fetch

    tarball = _tarball(tmp_path, "top-folder/")
    monkeypatch.setattr(fetch, "fetch_debian_source", lambda series: tarball)
    vs = kernel_vectors("deflate", "debian:7.3", note=lambda text: None)
    assert vs.source == "crypto/testmgr.h of src.tar.gz (Linux 6.5.4)"


# -- tarballs, trees and the cache ---------------------------------------------

def _tarball(tmp_path: Path, top: str, mode: str = "w:gz", name: str = "src.tar.gz") -> Path:
    path = tmp_path / name
    members = [(f"{top}Documentation/Makefile", b"VERSION = 1\n"),
               (f"{top}Makefile", b"VERSION = 6\nPATCHLEVEL = 5\nSUBLEVEL = 4\nEXTRAVERSION =\n"),
               (f"{top}crypto/Makefile", b"VERSION = 2\n"),
               (f"{top}crypto/testmgr.h", header().encode())]
    with tarfile.open(path, mode) as tar:
        for member, data in members:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("top, mode, name", [("linux-6.5.4/", "w:gz", "src.tar.gz"),
                                             ("", "w:xz", "src.tar.xz"),
                                             ("./", "w", "src.tar")])
def test_a_tarball_with_or_without_a_top_folder_is_read(tmp_path, top, mode, name):
    vs = kernel_vectors("lz4", str(_tarball(tmp_path, top, mode, name)))
    assert vs.source == f"crypto/testmgr.h of {name} (Linux 6.5.4)"
    assert vs.comp == (Vector("lz4_comp_tv_template", 1, b"abc", b"de"),)


def test_the_tarball_is_read_only_up_to_the_two_members(tmp_path):
    # What follows them is cut off: a reader that went on would hit the cut.
    plain = _tarball(tmp_path, "linux/", "w", "plain.tar")
    with tarfile.open(plain, "a") as tar:
        info = tarfile.TarInfo("linux/zz-after")
        info.size = 1 << 20
        tar.addfile(info, io.BytesIO(os.urandom(info.size)))
    packed = gzip.compress(plain.read_bytes())
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(packed[: len(packed) - (1 << 19)])
    with pytest.raises(EOFError):
        gzip.decompress(cut.read_bytes())
    assert kernel_vectors("zstd", str(cut)).decomp[0].output == b"de"


def test_a_tree_names_its_version_and_a_set_describes_what_ran(tmp_path):
    two = ('{ .inlen = 1, .input = "a" }, { .inlen = 1, .input = "b" },'
           '{ .inlen = 1, .input = "c" },')
    root = tree(tmp_path, header({"zstd_decomp_tv_template": two}))
    vs = kernel_vectors("zstd", str(root))
    assert isinstance(vs, VectorSet) and vs.fmt == "zstd"
    assert vs.source == f"{root}/crypto/testmgr.h (Linux 9.8.7-test)"
    assert vs.describe() == (f"zstd_comp_tv_template 1 and zstd_decomp_tv_template 1-3 "
                             f"({root}/crypto/testmgr.h (Linux 9.8.7-test))")
    root2 = tree(tmp_path / "other", header(), makefile=None)
    assert kernel_vectors("zstd", str(root2)).source == f"{root2}/crypto/testmgr.h"


def test_the_cache_serves_every_format_and_a_broken_one_is_rewritten(tmp_path, monkeypatch):
    tarball = _tarball(tmp_path, "linux/")
    first = {fmt: kernel_vectors(fmt, str(tarball)) for fmt in ("lz4",)}
    (cached,) = (tmp_path / "cache" / "testmgr").glob("tar-*.json")
    json.loads(cached.read_text())

    def no_tar(*args, **kwargs):
        raise AssertionError("the tarball was read again")

    monkeypatch.setattr(testmgr.tarfile, "open", no_tar)
    for fmt in FORMAT_TEMPLATES:  # all three from the one read
        assert kernel_vectors(fmt, str(tarball)).comp[0].input == b"abc"
    assert kernel_vectors("lz4", str(tarball)) == first["lz4"]
    for broken in ('{"format": 1, "templates": ', '{"format": 1, "error": null}',
                   cached.read_text().replace('"616263"', '"6g"')):
        cached.write_text(broken)
        with pytest.raises(AssertionError, match="read again"):
            kernel_vectors("lz4", str(tarball))
    monkeypatch.undo()
    monkeypatch.setenv("ZSWAP_SPEC_CACHE", str(tmp_path / "cache"))
    assert kernel_vectors("lz4", str(tarball)) == first["lz4"]
    assert json.loads(cached.read_text())["format"] == 1


def test_a_tree_is_cached_by_its_headers_content(tmp_path, monkeypatch):
    root = tree(tmp_path, header())
    kernel_vectors("lz4", str(root))
    monkeypatch.setattr(testmgr, "parse_testmgr", lambda *a: pytest.fail("parsed again"))
    assert kernel_vectors("deflate", str(root)).decomp[0].output == b"de"
    (root / "crypto" / "testmgr.h").write_text(header().replace('"abc"', '"abd"'))
    with pytest.raises(pytest.fail.Exception, match="parsed again"):
        kernel_vectors("lz4", str(root))


# -- the real vectors ----------------------------------------------------------

_DEBIAN_TARBALL = Path("source/7.3/usr/src/linux-source-7.3.tar.xz")


def _real_tarball() -> Path | None:
    roots = [Path.home() / ".cache" / "zswap-spec"]
    if os.environ.get("ZSWAP_SPEC_CACHE"):
        roots.insert(0, Path(os.environ["ZSWAP_SPEC_CACHE"]).expanduser())
    return next((r / _DEBIAN_TARBALL for r in roots if (r / _DEBIAN_TARBALL).is_file()), None)


_REAL = _real_tarball()  # looked up before the tests point the cache elsewhere


@pytest.fixture(scope="module")
def real_vectors(tmp_path_factory):
    """Every format's vectors from Debian's linux-source-7.3, parsed once into a
    cache of this module's own; also the time the parse took."""
    if _REAL is None:
        pytest.skip(f"Debian's linux-source-7.3 is not in the cache (~/.cache/zswap-spec/"
                    f"{_DEBIAN_TARBALL} or $ZSWAP_SPEC_CACHE/{_DEBIAN_TARBALL}); fetch it with "
                    f"zswap_spec.kernel.fetch.fetch_debian_source('7.3') to run these")
    cache = tmp_path_factory.mktemp("testmgr-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZSWAP_SPEC_CACHE", str(cache))
        start = time.perf_counter()
        first = kernel_vectors("lz4", str(_REAL))
        took = time.perf_counter() - start
        mp.setattr(testmgr.tarfile, "open", lambda *a, **k: pytest.fail("tarball read twice"))
        start = time.perf_counter()
        sets = {fmt: kernel_vectors(fmt, str(_REAL)) for fmt in FORMAT_TEMPLATES}
        cached = time.perf_counter() - start
    assert sets["lz4"] == first
    print(f"linux-source-7.3: first parse {took:.2f} s, all three formats from the cache {cached:.3f} s")
    return sets, took, cached


@pytest.mark.kernel
@pytest.mark.parametrize("fmt", list(FORMAT_TEMPLATES))
def test_every_real_vector_holds_on_the_reference_compressor(real_vectors, fmt):
    sets, _, _ = real_vectors
    vs, alg = sets[fmt], ALGORITHMS[fmt]
    assert vs.buffer_size == COMP_BUF_SIZE_DEFAULT
    assert vs.source == "crypto/testmgr.h of linux-source-7.3.tar.xz (Linux 7.3.4)"
    assert len(vs.comp) > 0 and len(vs.decomp) > 0
    for kind, vectors in (("comp", vs.comp), ("decomp", vs.decomp)):
        assert [v.number for v in vectors] == list(range(1, len(vectors) + 1))
        assert {v.template for v in vectors} == {f"{FORMAT_TEMPLATES[fmt]}_{kind}_tv_template"}
    # crypto/testmgr.c, test_acomp(): the decompression vectors into COMP_BUF_SIZE bytes
    for v in vs.decomp:
        rc, out = alg.decompress(v.input, vs.buffer_size)
        assert (rc, out) == (0, v.output), f"{v.template} {v.number}"
    # and the compression vectors through compress and back, each into COMP_BUF_SIZE bytes
    for v in vs.comp:
        rc, dlen, packed = alg.compress(v.input, vs.buffer_size)
        assert rc == 0 and dlen == len(packed), f"{v.template} {v.number}"
        assert alg.decompress(packed, vs.buffer_size) == (0, v.input), f"{v.template} {v.number}"
        # the kernel's expected output is itself a valid stream of the format
        assert alg.decompress(v.output, vs.buffer_size) == (0, v.input), f"{v.template} {v.number}"


@pytest.mark.kernel
def test_the_real_vectors_come_from_one_read_then_the_cache(real_vectors):
    _, took, cached = real_vectors
    assert cached < 0.5 and cached < took / 5

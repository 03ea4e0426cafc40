"""The Linux kernel's own compression self-test vectors, read from the user's
kernel source so a driver can be run on the inputs the kernel checks an
algorithm with when it registers.

crypto/testmgr.c, test_acomp(): each entry of a `*_comp_tv_template` is
compressed from `input[:inlen]` into COMP_BUF_SIZE bytes, decompressed into
COMP_BUF_SIZE bytes and must come back as the same `inlen` bytes; each entry
of a `*_decomp_tv_template` must decompress from `input[:inlen]` into
COMP_BUF_SIZE bytes to exactly `output[:outlen]`.  The templates are the
initializers of crypto/testmgr.h, read here as C reads them.

The vectors are never part of this project: they come from the kernel tree or
source tarball the user has (Debian's linux-source-7.3 by default) and are kept
as JSON in the cache, since reaching one file of a .tar.xz means decompressing
everything before it.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tarfile
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from zswap_spec.support.cache import CacheError, cache_dir
from zswap_spec.support.files import atomic_write

__all__ = ["COMP_BUF_SIZE_DEFAULT", "FORMAT_TEMPLATES", "Vector", "VectorSet",
           "VectorsUnavailable", "kernel_vectors"]

COMP_BUF_SIZE_DEFAULT = 512
FORMAT_TEMPLATES = {"lz4": "lz4", "zstd": "zstd", "deflate": "deflate"}
DEFAULT_SOURCE = "debian:7.3"
HEADER = "crypto/testmgr.h"
_FIX = "give --kernel-source PATH (a kernel tree or source tarball), or --kernel-source none to skip them"
_CACHE_FORMAT = 1  # bump when the JSON layout or the parser's reading changes


class VectorsUnavailable(Exception):
    """The kernel's vectors cannot be had; the message says why and the fix, on one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


@dataclass(frozen=True)
class Vector:
    """One entry of a template: `input[:inlen]` and `output[:outlen]`."""

    template: str  # e.g. "lz4_comp_tv_template"
    number: int  # 1-based, as testmgr's messages count them ("test 2")
    input: bytes
    output: bytes


@dataclass(frozen=True)
class VectorSet:
    """A format's compression and decompression vectors and where they came from."""

    fmt: str
    source: str
    buffer_size: int  # COMP_BUF_SIZE: the destination of every call
    comp: tuple[Vector, ...]
    decomp: tuple[Vector, ...]

    def describe(self) -> str:
        prefix = FORMAT_TEMPLATES[self.fmt]
        parts = [f"{prefix}_{kind}_tv_template {_numbers(vs)}"
                 for kind, vs in (("comp", self.comp), ("decomp", self.decomp))]
        return f"{' and '.join(parts)} ({self.source})"


def _numbers(vectors: tuple[Vector, ...]) -> str:
    if not vectors:
        return "(no entries)"
    first, last = vectors[0].number, vectors[-1].number
    return str(first) if first == last else f"{first}-{last}"


def _template_names() -> list[str]:
    return [f"{p}_{kind}_tv_template" for p in FORMAT_TEMPLATES.values() for kind in ("comp", "decomp")]


def kernel_vectors(fmt: str, source: str | None = None, *, fetch: bool = True, note=None) -> VectorSet:
    """The kernel's vectors for format `fmt` from `source`.

    `source`: None or "debian:SERIES" (Debian's linux-source-SERIES, fetched
    into the cache once unless `fetch` is False), or the path of a kernel tree
    (PATH/crypto/testmgr.h) or of a source tarball (any compression tar reads;
    a top folder or none).  `note(text)` hears about slow steps before they
    start.  Every failure is a VectorsUnavailable.
    """
    if fmt not in FORMAT_TEMPLATES:
        raise VectorsUnavailable(f"the kernel has no compression self-test vectors for format "
                                 f"{fmt!r}; it has them for {', '.join(FORMAT_TEMPLATES)}")
    source = DEFAULT_SOURCE if source is None else str(source)
    if source == "none":
        raise VectorsUnavailable("--kernel-source none: the kernel's self-test vectors are skipped")
    if source.startswith("debian:"):
        path, origin = _debian_tarball(source.split(":", 1)[1], fetch, note), source
    else:
        path, origin = Path(source).expanduser(), None
        if not path.exists():
            raise VectorsUnavailable(f"--kernel-source {source}: no such file or folder; {_FIX}")
    if path.is_dir():
        parsed, described, where = _from_tree(path)
    else:
        parsed, described, where = _from_tarball(path, origin, note)
    return _vector_set(fmt, parsed, described, where)


def _vector_set(fmt: str, parsed: dict, described: str, where: str) -> VectorSet:
    if parsed["error"]:
        raise VectorsUnavailable(f"{where}: {parsed['error']}; {_FIX}")
    lists = {}
    for kind in ("comp", "decomp"):
        name = f"{FORMAT_TEMPLATES[fmt]}_{kind}_tv_template"
        entry = parsed["templates"][name]
        if "error" in entry:
            raise VectorsUnavailable(f"{where}: {entry['error']}; {_FIX}")
        lists[kind] = tuple(Vector(name, n, bytes.fromhex(i), bytes.fromhex(o))
                            for n, (i, o) in enumerate(entry["vectors"], 1))
    return VectorSet(fmt, described, parsed["buffer_size"], lists["comp"], lists["decomp"])


# -- where the header comes from ------------------------------------------------

def _debian_tarball(series: str, fetch: bool, note) -> Path:
    """Debian's linux-source-SERIES tarball in the cache, fetched if allowed."""
    if not re.fullmatch(r"\d+\.\d+", series):
        raise VectorsUnavailable(f"--kernel-source debian:{series}: SERIES must look like 7.3; {_FIX}")
    name = f"linux-source-{series}"
    try:
        dest = cache_dir() / "source" / series
    except CacheError as e:
        raise VectorsUnavailable(f"Debian's {name} cannot be kept: {e.strerror}; or {_FIX}") from None
    # The layout kernel/fetch.py unpacks the package into; looked up here first
    # because fetch_debian_source() refreshes apt's lists before its own lookup.
    found = sorted(dest.glob("usr/src/linux-source-*.tar.*"))
    if found:
        return found[0]
    if not fetch:
        raise VectorsUnavailable(f"Debian's {name} is not in the cache ({dest}) and fetching is "
                                 f"off; {_FIX}")
    from zswap_spec.kernel import fetch as kernel_fetch
    from zswap_spec.kernel.tree import KernelError

    if note:
        note(f"fetching Debian's {name} once for the kernel's self-test vectors")
    try:
        return kernel_fetch.fetch_debian_source(series)
    except (KernelError, OSError, ValueError, subprocess.SubprocessError) as e:
        # KernelError from apt, CalledProcessError from dpkg -x
        raise VectorsUnavailable(f"Debian's {name} could not be fetched ({e}); {_FIX}") from None


def _from_tree(tree: Path) -> tuple[dict, str, str]:
    header = tree / HEADER
    try:
        data = header.read_bytes()
    except FileNotFoundError:
        raise VectorsUnavailable(f"--kernel-source {tree}: a folder without {HEADER}; give the top "
                                 f"of a kernel source tree (the folder holding crypto/ and "
                                 f"Makefile), a source tarball, or --kernel-source none to skip "
                                 f"them") from None
    except OSError as e:
        raise VectorsUnavailable(f"{header}: cannot be read ({e.strerror}); {_FIX}") from None
    key = "tree-" + hashlib.sha256(b"%d\0" % _CACHE_FORMAT + data).hexdigest()[:32]
    parsed = _cached(key, lambda: _parse(data, None))
    try:
        version = _makefile_version((tree / "Makefile").read_text(errors="replace"))
    except OSError:
        version = None
    return parsed, _described(f"{tree}/{HEADER}", version), str(header)


def _from_tarball(path: Path, origin: str | None, note) -> tuple[dict, str, str]:
    try:
        st = path.resolve().stat()
    except OSError as e:
        raise VectorsUnavailable(f"--kernel-source {path}: cannot be read ({e.strerror}); {_FIX}") from None
    key = "tar-" + hashlib.sha256(
        f"{_CACHE_FORMAT}\0{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:32]

    def parse() -> dict:
        if note:
            note(f"reading {HEADER} from {path.name} once (a compressed tarball is read from its start)")
        data, makefile = _read_tarball(path, origin)
        return _parse(data, _makefile_version(makefile) if makefile is not None else None)

    parsed = _cached(key, parse)
    return (parsed, _described(f"{HEADER} of {path.name}", parsed["kernel_version"]),
            f"{HEADER} of {path}")


def _described(what: str, version: str | None) -> str:
    return f"{what} (Linux {version})" if version else what


def _read_tarball(path: Path, origin: str | None) -> tuple[bytes, str | None]:
    """crypto/testmgr.h and the top Makefile of the tarball, reading it once as a
    stream and stopping when both are in hand (members may sit in a top folder)."""
    found: dict[str, dict[str, bytes]] = {}
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                parts = member.name.split("/")
                while parts and parts[0] in ("", "."):
                    parts.pop(0)
                if parts[-2:] == ["crypto", "testmgr.h"] and len(parts) <= 3:
                    top, what = "/".join(parts[:-2]), "header"
                elif parts[-1:] == ["Makefile"] and len(parts) <= 2:
                    top, what = "/".join(parts[:-1]), "makefile"
                else:
                    continue
                f = tar.extractfile(member) if member.isfile() else None
                if f is None:
                    continue
                got = found.setdefault(top, {})
                got[what] = f.read()
                if len(got) == 2:
                    break
    except (tarfile.TarError, OSError, EOFError, ValueError) as e:
        again = (f"remove {path.parent.parent.parent} so it is fetched again, or "
                 if origin else "")
        raise VectorsUnavailable(f"--kernel-source {origin or path}: {path} cannot be read as a "
                                 f"tarball ({type(e).__name__}: {e}); {again}{_FIX}") from None
    for top in sorted(found, key=lambda t: "makefile" not in found[t]):
        if "header" in found[top]:
            makefile = found[top].get("makefile")
            return found[top]["header"], makefile.decode(errors="replace") if makefile else None
    raise VectorsUnavailable(f"--kernel-source {origin or path}: {path} holds no {HEADER}, so it "
                             f"is not a kernel source tarball; {_FIX}")


def _makefile_version(text: str) -> str | None:
    """VERSION.PATCHLEVEL.SUBLEVEL and EXTRAVERSION of a kernel's top Makefile."""
    vals = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
        m = re.search(rf"^{key}\s*=[ \t]*(\S*)[ \t]*$", text, re.MULTILINE)
        vals[key] = m.group(1) if m else ""
    if not vals["VERSION"].isdigit():
        return None
    v = f"{vals['VERSION']}.{vals['PATCHLEVEL']}"
    return (v + f".{vals['SUBLEVEL']}" if vals["SUBLEVEL"] else v) + vals["EXTRAVERSION"]


# -- parsing and the cache --------------------------------------------------------

def _parse(data: bytes, version: str | None) -> dict:
    """The JSON-ready reading of every format's templates: their vectors, or why
    one cannot be read (kept per template, so one bad template spoils only its format)."""
    try:
        buffer_size, templates = parse_testmgr(data, _template_names())
    except Malformed as e:
        return {"format": _CACHE_FORMAT, "kernel_version": version, "buffer_size": None,
                "error": str(e), "templates": {}}
    out = {}
    for name, result in templates.items():
        if isinstance(result, Malformed):
            out[name] = {"error": str(result)}
        else:
            out[name] = {"vectors": [[i.hex(), o.hex()] for i, o in result]}
    return {"format": _CACHE_FORMAT, "kernel_version": version, "buffer_size": buffer_size,
            "error": None, "templates": out}


def _cached(key: str, parse) -> dict:
    """The parsed vectors under `key` in the cache, or `parse()` written there.

    A cache that cannot be written only costs the next run the parse again."""
    try:
        path = cache_dir() / "testmgr" / f"{key}.json"
    except CacheError:
        return parse()
    try:
        loaded = json.loads(path.read_text())
        if _well_formed(loaded):
            return loaded
    except (OSError, ValueError):
        pass  # absent or not JSON: parse and write it again
    parsed = parse()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(parsed, indent=1))
    except OSError:
        pass
    return parsed


def _well_formed(d) -> bool:
    try:
        if d["format"] != _CACHE_FORMAT or not (d["kernel_version"] is None
                                                or isinstance(d["kernel_version"], str)):
            return False
        if d["error"] is not None:
            return isinstance(d["error"], str)
        if not isinstance(d["buffer_size"], int):
            return False
        for name in _template_names():
            t = d["templates"][name]
            if "error" in t:
                if not isinstance(t["error"], str):
                    return False
                continue
            for pair in t["vectors"]:
                if len(pair) != 2 or not all(isinstance(bytes.fromhex(h), bytes) for h in pair):
                    return False
        return True
    except (KeyError, TypeError, ValueError):
        return False


# -- reading the initializers as C does --------------------------------------------

class Malformed(Exception):
    """Part of crypto/testmgr.h this reader cannot take as C would."""


# One token at a time over the text with its line splices removed (C's
# translation phase 2).  A preprocessor line is one token; comments go.
_TOKEN = re.compile(r"""
    (?P<pp>(?<![^\n])[ \t]*\#[^\n]*)
  | (?P<space>[ \t\r\f\v]+|\n)  # a newline alone: a directive may follow, indented
  | (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<str>(?:u8|[uUL])?"(?:[^"\\\n]|\\.)*")
  | (?P<chr>'(?:[^'\\\n]|\\.)*')
  | (?P<badstr>(?:u8|[uUL])?"[^\n]*)
  | (?P<badcomment>/\*)
  | (?P<id>[A-Za-z_]\w*)
  | (?P<num>\.?\d(?:[eEpP][+-]|[\w.])*)
  | (?P<punct>.)
""", re.VERBOSE | re.DOTALL)
_INT = re.compile(r"(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)(?:[uU](?:ll|LL|[lL])?|(?:ll|LL|[lL])[uU]?)?")
_DEFINE = re.compile(r"[ \t]*#[ \t]*define[ \t]+COMP_BUF_SIZE\b(.*)")
_SIMPLE_ESCAPES = {"n": 10, "t": 9, "r": 13, "\\": 92, '"': 34, "'": 39, "a": 7, "b": 8,
                   "f": 12, "v": 11, "?": 63}
_FIELDS = ("inlen", "outlen", "input", "output")  # struct comp_testvec


class _Source:
    """The spliced text, its tokens, and the original line of a position."""

    def __init__(self, data: bytes):
        raw = data.decode("latin-1")  # one character per byte: string bytes stay as written
        self.splices: list[int] = []  # positions in the spliced text where a splice was
        pieces, start = [], 0
        for m in re.finditer(r"\\\n", raw):
            pieces.append(raw[start:m.start()])
            self.splices.append(m.start() - 2 * len(self.splices))
            start = m.end()
        pieces.append(raw[start:])
        self.text = "".join(pieces)
        self.tokens = [(m.lastgroup, m.group(), m.start()) for m in _TOKEN.finditer(self.text)
                       if m.lastgroup not in ("space", "comment")]
        self.tokens.append(("eof", "", len(self.text)))

    def line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1 + bisect_right(self.splices, pos)


def parse_testmgr(data: bytes, names: list[str]) -> tuple[int, dict]:
    """COMP_BUF_SIZE and, for each template in `names`, its (input, output) pairs
    or the Malformed saying why not.  Raises Malformed when the header as a whole
    cannot be read (no COMP_BUF_SIZE)."""
    src = _Source(data)
    buffer_size = _buffer_size(src)
    starts: dict[str, int | Malformed] = {}
    toks = src.tokens
    for k in range(len(toks) - 3):
        if toks[k][1] != "struct" or toks[k + 1][1] != "comp_testvec" or toks[k + 2][0] != "id":
            continue
        name, j = toks[k + 2][1], k + 3
        if name not in names:
            continue
        if toks[j][1] == "[":
            j += 2 if toks[j + 1][1] == "]" else 3
        if toks[j][1] != "=":
            continue  # a declaration, not the definition
        if toks[j + 1][1] != "{":
            starts[name] = Malformed(f"{name} (line {src.line(toks[j][2])}): its initializer "
                                     f"does not open with '{{'")
        elif name in starts:
            starts[name] = Malformed(f"{name} is defined twice (line {src.line(toks[k][2])}), "
                                     f"under preprocessor conditions this reader does not follow")
        else:
            starts[name] = j + 2
    result: dict = {}
    for name in names:
        at = starts.get(name)
        if at is None:
            result[name] = Malformed(f"it defines no {name}, so this kernel has no such vectors")
        elif isinstance(at, Malformed):
            result[name] = at
        else:
            try:
                result[name] = _template(src, at, name, buffer_size)
            except Malformed as e:
                result[name] = e
    return buffer_size, result


def _buffer_size(src: _Source) -> int:
    values = set()
    for kind, text, _ in src.tokens:
        m = _DEFINE.match(text) if kind == "pp" else None
        if m:
            body = re.sub(r"/\*.*?\*/|//.*", " ", m.group(1)).strip()
            while body.startswith("(") and body.endswith(")"):
                body = body[1:-1].strip()
            if not _INT.fullmatch(body):
                raise Malformed(f"COMP_BUF_SIZE is defined as {body!r}, not a number")
            values.add(_c_int(body))
    if len(values) != 1:
        raise Malformed("it defines no COMP_BUF_SIZE" if not values else
                        f"it defines COMP_BUF_SIZE as each of {sorted(values)}")
    return values.pop()


def _c_int(text: str) -> int:
    digits = text.rstrip("uUlL")
    if digits[:2] in ("0x", "0X"):
        return int(digits, 16)
    return int(digits, 8) if digits.startswith("0") else int(digits)


def _template(src: _Source, i: int, name: str, buffer_size: int) -> list[tuple[bytes, bytes]]:
    """The entries of one template, from the token after its opening brace."""
    toks, vectors, number = src.tokens, [], 0
    while toks[i][1] != "}":
        if toks[i][1] != "{":
            raise Malformed(f"{name} (line {src.line(toks[i][2])}): expected an entry '{{' or the "
                            f"closing '}}', found {toks[i][1] or 'the end of the file'!r}")
        number += 1
        start = toks[i][2]
        try:
            fields, i = _entry(src, i + 1)
            vectors.append(_vector(fields, buffer_size))
        except Malformed as e:
            raise Malformed(f"{name} entry {number} (line {src.line(start)}): {e}") from None
        if toks[i][1] == ",":
            i += 1
        elif toks[i][1] != "}":
            raise Malformed(f"{name} (line {src.line(toks[i][2])}): expected ',' or '}}' after "
                            f"entry {number}, found {toks[i][1] or 'the end of the file'!r}")
    return vectors


def _entry(src: _Source, i: int) -> tuple[dict, int]:
    """`{ .inlen = N, .input = "..." "...", ... }` from the token after its '{'."""
    toks, fields = src.tokens, {}
    while toks[i][1] != "}":
        if toks[i][1] != "." or toks[i + 1][0] != "id" or toks[i + 2][1] != "=":
            raise Malformed(f"expected a field as '.inlen = ...', found {toks[i][1] or 'the end of the file'!r}")
        field = toks[i + 1][1]
        if field not in _FIELDS:
            raise Malformed(f"struct comp_testvec has no field .{field}")
        if field in fields:
            raise Malformed(f"sets .{field} twice")
        i += 3
        if field in ("inlen", "outlen"):
            if toks[i][0] != "num" or not _INT.fullmatch(toks[i][1]):
                raise Malformed(f".{field} is {toks[i][1]!r}, not a whole number")
            fields[field] = _c_int(toks[i][1])
            i += 1
        else:
            value, first = bytearray(), i
            while toks[i][0] == "str":  # adjacent literals are one string
                value += _string(toks[i][1])
                i += 1
            if toks[i][0] == "badstr":
                raise Malformed(f".{field} has a string that does not end on its line")
            if i == first:
                raise Malformed(f".{field} is {toks[i][1]!r}, not a string literal")
            fields[field] = bytes(value)
        if toks[i][1] == ",":
            i += 1
        elif toks[i][1] != "}":
            raise Malformed(f"expected ',' or '}}' after .{field}, found {toks[i][1] or 'the end of the file'!r}")
    return fields, i + 1


def _vector(fields: dict, buffer_size: int) -> tuple[bytes, bytes]:
    """input[:inlen] and output[:outlen] of `char input[COMP_BUF_SIZE]` arrays,
    which C fills with zeros past the string (a missing field is all zeros)."""
    out = []
    for data_field, len_field in (("input", "inlen"), ("output", "outlen")):
        data, n = fields.get(data_field, b""), fields.get(len_field, 0)
        if len(data) > buffer_size:
            raise Malformed(f"its .{data_field} string is {len(data)} bytes, more than its "
                            f"array of COMP_BUF_SIZE ({buffer_size}) holds")
        if n > buffer_size:
            raise Malformed(f".{len_field} is {n}, more than COMP_BUF_SIZE ({buffer_size})")
        out.append(data[:n] + bytes(n - min(n, len(data))))
    return out[0], out[1]


def _string(token: str) -> bytes:
    """The bytes of one narrow string literal, escapes read as C reads them."""
    if not token.startswith('"') and not token.startswith('u8"'):
        raise Malformed(f"a wide string ({token[:12]}...) cannot initialize a char array")
    body = token[token.index('"') + 1:-1]
    out, j = bytearray(), 0
    while j < len(body):
        c = body[j]
        if c != "\\":
            out.append(ord(c))
            j += 1
            continue
        e = body[j + 1]
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            j += 2
        elif e == "x":  # every hex digit that follows belongs to the escape
            m = re.match(r"[0-9a-fA-F]*", body[j + 2:])
            if not m.group():
                raise Malformed("'\\x' with no hex digit after it")
            if int(m.group(), 16) > 0xFF:
                raise Malformed(f"'\\x{m.group()}' is more than a byte")
            out.append(int(m.group(), 16))
            j += 2 + m.end()
        elif e in "01234567":  # at most three octal digits
            m = re.match(r"[0-7]{1,3}", body[j + 1:])
            if int(m.group(), 8) > 0xFF:
                raise Malformed(f"'\\{m.group()}' is more than a byte")
            out.append(int(m.group(), 8))
            j += 1 + m.end()
        elif e in "uU":  # a universal character name, in UTF-8 as GCC writes it
            n = 4 if e == "u" else 8
            digits = body[j + 2:j + 2 + n]
            if not re.fullmatch(rf"[0-9a-fA-F]{{{n}}}", digits):
                raise Malformed(f"'\\{e}' needs {n} hex digits")
            try:
                out += chr(int(digits, 16)).encode("utf-8")
            except (ValueError, UnicodeEncodeError):
                raise Malformed(f"'\\{e}{digits}' is not a character") from None
            j += 2 + n
        else:
            raise Malformed(f"'\\{e}' is not a C escape")
    return bytes(out)

"""Workload scripts: the one language the model and the guest's agent both run.

A script is a TOML file (format `zswap-spec-script/1`, documented in
spec/script-format.md) holding a list of steps: make cgroups, move the
workload between them, change settings, store, load, redirty and free
regions of pages, reclaim, wait for the shrink worker.  This module parses
and checks a script (every problem names the file, the step and the field),
generates the pages a step writes (the guest's agent computes the same bytes
from the same corpus and seed), and turns a script into the agent's command
lines.

Page contents.  A region's page `i` written with kind `k` and seed `s`:

- `zero`: zero bytes.
- `random`: 512 outputs of splitmix64, little-endian, starting from the
  state `s * 0x9E3779B97F4A7C15 + i * 0xBF58476D1CE4E5B9 + 1` (mod 2**64).
- `mostly-random`: `random`'s first 3584 bytes, then 512 zero bytes
  (compresses to 3.5-3.8 KiB: about one pool page each).
- `text`, `code`, `halfzero`: corpus page `(s + i) mod n` of the text or code
  pages (`halfzero`: a text page with its second half zeroed).
- `fit-1`, `fit`, `fit+1`: the corpus page whose output from the compressor
  named by `fit_for` is PAGE_SIZE - 1, PAGE_SIZE, PAGE_SIZE + 1 bytes.
- `file`: page `(s + i) mod n` of a file named by `file` (relative to the
  script), zero-padded to whole pages.
"""

from __future__ import annotations

import hashlib
import re
import struct
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = [
    "FORMAT", "OPS", "KINDS", "FOLIO_PAGES", "PARAMS", "CGROUP_FILES", "PAGE_SIZE",
    "Script", "Step", "StepChecker", "ScriptError", "Corpus", "load_script", "parse_script", "dump_script",
    "page_bytes", "splitmix_page", "agent_line", "parse_agent_line", "MAX_REGION_PAGES", "MAX_CGROUP_DEPTH",
]

FORMAT = "zswap-spec-script/1"
PAGE_SIZE = 4096  # x86-64, the only guest the kernel check boots
# Folio sizes in pages the kernel swaps out on x86-64: base pages and every
# anonymous mTHP order (2..9; order 1 is not offered for anonymous memory).
FOLIO_PAGES = (1, 4, 8, 16, 32, 64, 128, 256, 512)
KINDS = ("zero", "random", "mostly-random", "text", "code", "halfzero",
         "fit-1", "fit", "fit+1", "file")
FIT_KINDS = {"fit-1": -1, "fit": 0, "fit+1": 1}
COMPRESSORS = ("lz4", "lz4hc", "zstd", "deflate", "lzo", "lzo-rle", "842")
# zswap's module parameters a script may set, with their value checks.
PARAMS = {
    "enabled": "bool",
    "max_pool_percent": (1, 100),
    "accept_threshold_percent": (0, 100),
    "shrinker_enabled": "bool",
    "compressor": COMPRESSORS,
}
CGROUP_FILES = ("memory.zswap.writeback", "memory.zswap.max")
MAX_REGION_PAGES = 8192  # 32 MiB: the guest has 256 MiB
MAX_CGROUP_DEPTH = 4
MAX_STEPS = 10_000
_CG_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,15}")
_REGION = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,15}")

# op -> (required fields, optional fields)
OPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mkcg": (("path",), ()),
    "enter": (("path",), ()),
    "cgset": (("path", "file", "value"), ()),
    "param": (("name", "value"), ()),
    "store": (("region",), ("pages", "folio_pages", "content", "seed", "fit_for", "file")),
    "load": (("region",), ()),
    "redirty": (("region",), ("content", "seed", "fit_for", "file")),
    "free": (("region",), ()),
    "reclaim": (("path",), ("bytes",)),
    "wait": ((), ()),
    "settle": ((), ()),
}


class ScriptError(ValueError):
    """A malformed script: names the file, the step and the field."""


@dataclass(frozen=True)
class Step:
    op: str
    args: dict  # the step's fields, checked, defaults filled in

    def get(self, name, default=None):
        return self.args.get(name, default)

    def to_toml(self) -> dict:
        return {"op": self.op, **self.args}


@dataclass
class Script:
    name: str
    steps: list[Step]
    compressor: str = "lz4"  # the pool's compressor at the start
    description: str = ""
    start_cursor: str = "none"  # the shrink worker's cursor: none | root
    base: Path = field(default_factory=Path.cwd)  # where `file` paths are relative to

    def cgroups(self) -> list[str]:
        """Every cgroup of the script, root ("/") first, in creation order."""
        out = ["/"]
        out += ["/" + s.args["path"] for s in self.steps if s.op == "mkcg"]
        return out

    def files(self) -> list[Path]:
        return sorted({(self.base / s.args["file"]).resolve() for s in self.steps
                       if s.args.get("content") == "file"})


# ---- parsing and checking ---------------------------------------------------------

def _fail(where: str, msg: str) -> None:
    raise ScriptError(f"{where}: {msg}")


def _norm_path(where: str, value) -> str:
    """A cgroup path relative to the root: "" is the root."""
    if not isinstance(value, str):
        _fail(where, f"field path: {value!r} is not a string; give a cgroup path "
                     f"such as \"a/b\", or \"/\" for the root")
    path = value.strip("/")
    if path == "":
        return ""
    parts = path.split("/")
    if len(parts) > MAX_CGROUP_DEPTH:
        _fail(where, f"field path: {value!r} is {len(parts)} levels deep; at most "
                     f"{MAX_CGROUP_DEPTH} below the root")
    for p in parts:
        if not _CG_NAME.fullmatch(p):
            _fail(where, f"field path: {p!r} in {value!r} is not a cgroup name; use 1-16 "
                         f"lowercase letters, digits, _ or -, starting with a letter or digit")
    return "/".join(parts)


def _int(where: str, name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"field {name}: {value!r} is not an integer; give {lo}..{hi}")
    if not lo <= value <= hi:
        _fail(where, f"field {name}: {value} is out of range; give {lo}..{hi}")
    return value


def _content(where: str, raw: dict, args: dict, base: Path, compressor: str) -> None:
    kind = raw.get("content", "random")
    if kind not in KINDS:
        _fail(where, f"field content: {kind!r} is not a content kind; choose from "
                     f"{', '.join(KINDS)}")
    args["content"] = kind
    args["seed"] = _int(where, "seed", raw.get("seed", 0), 0, 2**32 - 1)
    if kind in FIT_KINDS:
        fit_for = raw.get("fit_for", compressor)
        if fit_for not in COMPRESSORS:
            _fail(where, f"field fit_for: {fit_for!r} is not a compressor; choose from "
                         f"{', '.join(COMPRESSORS)}")
        args["fit_for"] = fit_for
    elif "fit_for" in raw:
        _fail(where, f"field fit_for: only for content fit-1, fit or fit+1, not {kind}")
    if kind == "file":
        name = raw.get("file")
        if not isinstance(name, str) or not name:
            _fail(where, "field file: content \"file\" needs file = \"PATH\" (relative "
                         "to the script)")
        path = (base / name)
        if not path.is_file() or path.stat().st_size == 0:
            _fail(where, f"field file: {path} is not a readable, non-empty file")
        args["file"] = name
    elif "file" in raw:
        _fail(where, f"field file: only for content \"file\", not {kind}")


def _check_step(where: str, raw: dict, state: dict, base: Path, compressor: str) -> Step:
    op = raw.get("op")
    if op not in OPS:
        _fail(where, f"field op: {op!r} is not an operation; choose from {', '.join(OPS)}")
    required, optional = OPS[op]
    for name in required:
        if name not in raw:
            _fail(where, f"field {name}: missing; {op} needs {', '.join(required)}")
    for name in raw:
        if name != "op" and name not in required + optional:
            _fail(where, f"field {name}: {op} takes no such field; it takes "
                         f"{', '.join(required + optional) or 'none'}")
    args: dict = {}
    cgroups, regions = state["cgroups"], state["regions"]
    if op in ("mkcg", "enter", "cgset", "reclaim"):
        path = _norm_path(where, raw["path"])
        args["path"] = path
        if op == "mkcg":
            if path == "":
                _fail(where, "field path: the root cgroup exists already")
            if path in cgroups:
                _fail(where, f"field path: cgroup {path!r} exists already")
            parent = path.rpartition("/")[0]
            if parent not in cgroups:
                _fail(where, f"field path: the parent {parent!r} of {path!r} does not exist; "
                             f"make it first")
            if parent and state.get("current", "") == parent:
                # cgroup v2 keeps processes out of a cgroup whose children have
                # a controller: the parent cannot enable memory for them.
                _fail(where, f"field path: the workload runs in {parent!r}, which cannot "
                             f"get children while it holds a process (cgroup v2); enter "
                             f"another cgroup first")
            cgroups.add(path)
        elif path not in cgroups:
            _fail(where, f"field path: cgroup {path!r} does not exist; make it with a "
                         f"mkcg step first")
        elif op == "enter":
            if path and any(c.startswith(path + "/") for c in cgroups):
                _fail(where, f"field path: cgroup {path!r} has children; cgroup v2 lets a "
                             f"process run only in the root or a cgroup without children")
            state["current"] = path
        elif op == "cgset":
            if path == "":
                _fail(where, "field path: the root cgroup has no memory.zswap.* files")
            fname = raw["file"]
            if fname not in CGROUP_FILES:
                _fail(where, f"field file: {fname!r} is not settable; choose from "
                             f"{', '.join(CGROUP_FILES)}")
            args["file"] = fname
            value = raw["value"]
            if fname == "memory.zswap.writeback":
                if isinstance(value, bool):
                    value = int(value)
                args["value"] = _int(where, "value", value, 0, 1)
            elif value == "max":
                args["value"] = "max"
            else:
                args["value"] = _int(where, "value", value, 0, 2**40)
        elif op == "reclaim":
            if path == "":
                _fail(where, "field path: reclaim at the root reclaims the whole machine "
                             "(the agent and the shell too); name a cgroup below it")
            args["bytes"] = _int(where, "bytes", raw.get("bytes", MAX_REGION_PAGES * PAGE_SIZE),
                                 PAGE_SIZE, 2**40)
    elif op == "param":
        name, value = raw["name"], raw["value"]
        if name not in PARAMS:
            _fail(where, f"field name: {name!r} is not a zswap parameter a script may "
                         f"set; choose from {', '.join(PARAMS)}")
        check = PARAMS[name]
        if check == "bool":
            if not isinstance(value, bool):
                _fail(where, f"field value: {value!r} is not true or false")
        elif isinstance(check, tuple) and isinstance(check[0], int):
            value = _int(where, "value", value, *check)
        elif value not in check:
            _fail(where, f"field value: {value!r} is not one of {', '.join(check)}")
        args.update(name=name, value=value)
        if name == "compressor":
            state["compressor"] = value
    elif op in ("store", "load", "redirty", "free"):
        region = raw["region"]
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            _fail(where, f"field region: {region!r} is not a region name; use 1-16 "
                         f"letters, digits or _, starting with a letter")
        args["region"] = region
        exists = region in regions
        if op == "store" and not exists:
            args["pages"] = _int(where, "pages", raw.get("pages", 1), 1, MAX_REGION_PAGES)
            fp = raw.get("folio_pages", 1)
            if fp not in FOLIO_PAGES or isinstance(fp, bool):
                _fail(where, f"field folio_pages: {fp!r} is not a folio size; choose from "
                             f"{', '.join(map(str, FOLIO_PAGES))}")
            if args["pages"] % fp:
                _fail(where, f"field pages: {args['pages']} is not a multiple of "
                             f"folio_pages {fp}")
            args["folio_pages"] = fp
            _content(where, raw, args, base, state["compressor"])
            regions.add(region)
        elif op == "store":
            extra = [n for n in ("pages", "folio_pages", "content", "seed", "fit_for", "file")
                     if n in raw]
            if extra:
                _fail(where, f"field {extra[0]}: region {region!r} exists already; a store "
                             f"of an existing region pages out what is resident and takes "
                             f"only `region` (use redirty to change its contents)")
        elif not exists:
            _fail(where, f"field region: region {region!r} does not exist; make it with a "
                         f"store step first")
        elif op == "redirty":
            _content(where, raw, args, base, state["compressor"])
        elif op == "free":
            regions.discard(region)
    return Step(op, args)


class StepChecker:
    """Checks steps one at a time against the state the earlier ones made (the
    fuzzer builds scripts this way; `parse_script` uses it for a file)."""

    def __init__(self, name: str = "<script>", compressor: str = "lz4",
                 base: Path | None = None):
        self.name = name
        self.base = base or Path.cwd()
        self.state = {"cgroups": {""}, "regions": set(), "compressor": compressor}
        self.count = 0

    def add(self, raw: dict) -> Step:
        self.count += 1
        return _check_step(f"{self.name}: step {self.count}", raw, self.state, self.base,
                           self.state["compressor"])


def parse_script(text: str, name: str = "<script>", base: Path | None = None) -> Script:
    """Check a script's text; every problem names `name`, the step and the field."""
    base = base or Path.cwd()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScriptError(f"{name}: not valid TOML ({e}); see spec/script-format.md") from None
    fmt = doc.get("format")
    if fmt != FORMAT:
        raise ScriptError(f"{name}: field format: {fmt!r} is not a script format this "
                          f"version reads; write format = \"{FORMAT}\"")
    for key in doc:
        if key not in ("format", "description", "start", "step"):
            raise ScriptError(f"{name}: field {key}: not a top-level field; use format, "
                              f"description, [start] and [[step]]")
    start = doc.get("start", {})
    if not isinstance(start, dict):
        raise ScriptError(f"{name}: field start: must be a table")
    for key in start:
        if key not in ("compressor", "shrink_cursor"):
            raise ScriptError(f"{name}: [start] field {key}: unknown; use compressor, "
                              f"shrink_cursor")
    compressor = start.get("compressor", "lz4")
    if compressor not in COMPRESSORS:
        raise ScriptError(f"{name}: [start] field compressor: {compressor!r} is not one of "
                          f"{', '.join(COMPRESSORS)}")
    cursor = start.get("shrink_cursor", "none")
    if cursor not in ("none", "root"):
        raise ScriptError(f"{name}: [start] field shrink_cursor: {cursor!r}; give \"none\" "
                          f"or \"root\"")
    raw_steps = doc.get("step", [])
    if not isinstance(raw_steps, list) or not all(isinstance(s, dict) for s in raw_steps):
        raise ScriptError(f"{name}: field step: write each step as a [[step]] table")
    if len(raw_steps) > MAX_STEPS:
        raise ScriptError(f"{name}: {len(raw_steps)} steps; at most {MAX_STEPS}")
    checker = StepChecker(name, compressor, base)
    steps = [checker.add(raw) for raw in raw_steps]
    return Script(Path(name).stem, steps, compressor=compressor,
                  description=str(doc.get("description", "")), start_cursor=cursor, base=base)


def load_script(path: Path) -> Script:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ScriptError(f"{path}: cannot read it ({e})") from None
    return parse_script(text, str(path), base=path.parent)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    # A TOML basic string: backslash, quote and control characters escaped
    # (a description may span lines).
    out = []
    for ch in str(v):
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 and ch != "\t" or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dump_script(script: Script) -> str:
    """The script as TOML text that `parse_script` reads back to the same steps."""
    lines = [f'format = "{FORMAT}"']
    if script.description:
        lines.append(f"description = {_toml_value(script.description)}")
    lines += ["", "[start]", f"compressor = {_toml_value(script.compressor)}"]
    if script.start_cursor != "none":
        lines.append(f"shrink_cursor = {_toml_value(script.start_cursor)}")
    for step in script.steps:
        lines += ["", "[[step]]", f"op = {_toml_value(step.op)}"]
        for k, v in step.args.items():
            if step.op in ("mkcg", "enter", "cgset", "reclaim") and k == "path":
                v = v or "/"
            lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


# ---- page contents ------------------------------------------------------------------

_M64 = (1 << 64) - 1


@lru_cache(maxsize=8192)  # 32 MiB at most; a script draws the same pages again
def splitmix_page(seed: int, index: int, nbytes: int = PAGE_SIZE) -> bytes:
    """`nbytes` of splitmix64 output for page `index` of seed `seed`."""
    x = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + 1) & _M64
    words = []
    for _ in range((nbytes + 7) // 8):
        x = (x + 0x9E3779B97F4A7C15) & _M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        words.append(z ^ (z >> 31))
    return struct.pack(f"<{len(words)}Q", *words)[:nbytes]


class Corpus:
    """The fixed pages content kinds draw from; shipped to the guest as-is.

    Sections: `text`, `code`, `fit-1:C`, `fit:C`, `fit+1:C` for each
    compressor C given, `file:NAME` for each file.  `blob()` and `index()`
    are the two files the guest reads.
    """

    def __init__(self, sections: dict[str, list[bytes]]):
        self.sections = {k: v for k, v in sections.items() if v}

    @classmethod
    def build(cls, algorithms: dict, files: list[Path] = (), per_kind: int = 24) -> "Corpus":
        from zswap_spec.replay.sample import boundary_page

        from .corpus_pages import code_pages, text_pages

        # Made from fixed seeds, never from the host's files: the same bytes
        # on every machine, so a recorded kernel trace stays valid.
        sections = {"text": text_pages(per_kind, PAGE_SIZE),
                    "code": code_pages(per_kind, PAGE_SIZE)}
        for name, alg in sorted(algorithms.items()):
            for kind, delta in FIT_KINDS.items():
                page = boundary_page(alg, PAGE_SIZE + delta, PAGE_SIZE, seeds=16)
                sections[f"{kind}:{name}"] = [page] if page is not None else []
        corpus = cls(sections)
        for path in files:
            corpus.add_file(path)
        return corpus

    def add_file(self, path: Path) -> str:
        """The file's first MAX_REGION_PAGES pages as a section, each read when a step
        uses it (the file may be far larger than the pages a script draws)."""
        from .corpus_pages import FilePages

        key = f"file:{_file_key(path)}"
        self.sections[key] = FilePages(path, PAGE_SIZE, MAX_REGION_PAGES)
        return key

    def page(self, section: str, n: int) -> bytes:
        pages = self.sections.get(section)
        if not pages:
            raise ScriptError(f"content {section}: no such pages in the corpus (no page "
                              f"of that exact compressed size was found)")
        return pages[n % len(pages)]

    def blob(self) -> bytes:
        return b"".join(p for pages in self.sections.values() for p in pages)

    def index(self) -> str:
        out, first = [], 0
        for key, pages in self.sections.items():
            out.append(f"{key} {first} {len(pages)}\n")
            first += len(pages)
        return "".join(out)

    def digest(self) -> str:
        return hashlib.sha256(self.index().encode() + self.blob()).hexdigest()[:16]


def _file_key(path: Path) -> str:
    return hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]


def section_of(step: Step, base: Path) -> str:
    """The corpus section a step's content draws from ("" for generated kinds)."""
    kind = step.args["content"]
    if kind in ("text", "code"):
        return kind
    if kind == "halfzero":
        return "text"
    if kind in FIT_KINDS:
        return f"{kind}:{step.args['fit_for']}"
    if kind == "file":
        return f"file:{_file_key(base / step.args['file'])}"
    return ""


def page_bytes(corpus: Corpus, step: Step, index: int, base: Path) -> bytes:
    """Page `index` of the region a store or redirty step writes."""
    kind, seed = step.args["content"], step.args["seed"]
    if kind == "zero":
        return bytes(PAGE_SIZE)
    if kind == "random":
        return splitmix_page(seed, index)
    if kind == "mostly-random":
        keep = PAGE_SIZE * 7 // 8
        return splitmix_page(seed, index, keep) + bytes(PAGE_SIZE - keep)
    page = corpus.page(section_of(step, base), seed + index)
    if kind == "halfzero":
        return page[: PAGE_SIZE // 2] + bytes(PAGE_SIZE // 2)
    return page


def agent_line(step: Step, base: Path) -> str:
    """The guest agent's command for one step (kernel/agent.c reads it)."""
    a = step.args
    if step.op in ("mkcg", "enter"):
        return f"{step.op} /{a['path']}"
    if step.op == "cgset":
        return f"cgset /{a['path']} {a['file']} {a['value']}"
    if step.op == "param":
        v = a["value"]
        return f"param {a['name']} {('Y' if v else 'N') if isinstance(v, bool) else v}"
    if step.op == "store":
        if "pages" not in a:
            return f"store {a['region']}"
        return (f"store {a['region']} {a['pages']} {a['folio_pages']} {a['content']} "
                f"{a['seed']} {section_of(step, base) or '-'}")
    if step.op == "redirty":
        return (f"redirty {a['region']} {a['content']} {a['seed']} "
                f"{section_of(step, base) or '-'}")
    if step.op in ("load", "free"):
        return f"{step.op} {a['region']}"
    if step.op == "reclaim":
        return f"reclaim /{a['path']} {a['bytes']}"
    return step.op


def parse_agent_line(line: str) -> dict:
    """The step fields an agent command line carries (the inverse of
    `agent_line`, for test doubles of the guest and for reading its logs).
    `file` contents cannot be recovered from their corpus section."""
    words = line.split()
    op, rest = words[0], words[1:]
    if op in ("mkcg", "enter"):
        return {"op": op, "path": rest[0]}
    if op == "cgset":
        value = rest[2] if rest[2] == "max" else int(rest[2])
        return {"op": op, "path": rest[0], "file": rest[1], "value": value}
    if op == "param":
        name, value = rest
        if PARAMS[name] == "bool":
            return {"op": op, "name": name, "value": value == "Y"}
        return {"op": op, "name": name, "value": value if name == "compressor" else int(value)}
    if op in ("load", "free") or (op == "store" and len(rest) == 1):
        return {"op": op, "region": rest[0]}

    def content(kind, seed, section):
        out = {"content": kind, "seed": int(seed)}
        if kind in FIT_KINDS:
            out["fit_for"] = section.split(":", 1)[1]
        return out

    if op == "store":
        return {"op": op, "region": rest[0], "pages": int(rest[1]), "folio_pages": int(rest[2]),
                **content(*rest[3:6])}
    if op == "redirty":
        return {"op": op, "region": rest[0], **content(*rest[1:4])}
    if op == "reclaim":
        return {"op": op, "path": rest[0], "bytes": int(rest[1])}
    return {"op": op}

"""Reading a saved reproducer back (`check-driver --replay`): the case, the
calls before it and the target, checked as the kit saved them, then re-run
on a fresh driver process by `zswap_spec.driverkit.rerun`.

A reproducer is a folder `DRIVER-HASH/CLAUSE/` with `case.json` (see
`conformance.save_reproducer`); every file it names is read from the folder.
Anything malformed is a `ReproducerError` naming the file, what is wrong and
the fix.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .abi import FORMATS, PAGE_SIZES, TargetError
from .clauses import CLAUSES, Violation
from .history import Call
from .inputs import LAYOUTS, Case, UnitSpec

__all__ = ["ReproducerError", "Reproducer", "load_reproducer", "replay"]

SELFTEST_BUFFER_MAX = 1 << 16


class ReproducerError(Exception):
    """A reproducer that cannot be read; the message names the file and the fix."""


@dataclass
class Reproducer:
    path: Path  # its case.json
    doc: dict
    clause: str
    case: Case
    history: list[Call]
    baseline: int | None
    selftest: dict | None
    history_breaks: bool
    format: str | None  # the --format the finding was made with, if any
    kind: str
    location: str
    name: str | None
    target: str


@dataclass
class ReplayResult:
    reproducer: Reproducer
    target: str
    reproduces: bool
    violations: list[Violation] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        r = self.reproducer
        return {"reproducer": str(r.path), "target": self.target, "clause": r.clause,
                "reproduces": self.reproduces, "error": self.error,
                "history_calls": sum(c.repeat for c in r.history),
                "clauses": sorted({v.clause for v in self.violations},
                                  key=list(CLAUSES).index),
                "violations": [v.to_json() for v in self.violations],
                "seconds": round(self.seconds, 3)}


def _bad(path: Path, what: str) -> ReproducerError:
    return ReproducerError(f"{path}: {what}; give a case.json that check-driver wrote (or its "
                           f"folder), unchanged")


def _file(folder: Path, path: Path, name, what: str) -> bytes:
    if not isinstance(name, str) or not name or name.startswith("/") or ".." in Path(name).parts:
        raise _bad(path, f"{what} names {name!r}, not a file in the reproducer's folder")
    try:
        return (folder / name).read_bytes()
    except ValueError:  # a NUL byte in the name
        raise _bad(path, f"{what} names {name!r}, not a file name") from None
    except OSError as e:
        raise _bad(path, f"{what} {name} cannot be read ({e.strerror or e})") from None


def _int(path: Path, value, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise _bad(path, f"{what} is {value!r}, not a whole number in {lo}..{hi}")
    return value


def _batch(folder: Path, path: Path, doc, what: str):
    """(pages, capacities) of one batch of a history call."""
    pages = doc.get("pages") if isinstance(doc, dict) else None
    caps = doc.get("capacities") if isinstance(doc, dict) else None
    if not (isinstance(pages, list) and isinstance(caps, list) and len(pages) == len(caps)
            and 1 <= len(pages) <= 8):
        raise _bad(path, f"{what} does not pair 1 to 8 pages with capacities")
    data = tuple(_file(folder, path, n, f"{what}'s page") for n in pages)
    caps = tuple(_int(path, x, f"{what}'s capacity", 1, 2 * max(PAGE_SIZES)) for x in caps)
    return data, caps


def load_reproducer(given: str) -> Reproducer:
    p = Path(given).expanduser()
    path = p / "case.json" if p.is_dir() else p
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReproducerError(f"{given}: no such reproducer; give the case.json (or the folder) "
                              f"that check-driver printed for a finding") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ReproducerError(f"{path}: cannot be read ({getattr(e, 'strerror', None) or e})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(path, f"not JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(doc, dict):
        raise _bad(path, "not a JSON object")
    folder = path.parent
    clause = doc.get("clause")
    if not isinstance(clause, str) or clause not in CLAUSES:
        raise _bad(path, f"clause {clause!r} is not one of {', '.join(CLAUSES)}")
    for key in ("kind", "location", "target"):
        if not isinstance(doc.get(key), str) or not doc.get(key):
            raise _bad(path, f"field {key!r} is missing (a reproducer written before this version "
                             f"of the kit cannot be re-run; check the driver again)")
    if doc["kind"] not in ("c", "python"):
        raise _bad(path, f"kind {doc['kind']!r} is neither 'c' nor 'python'")
    name = doc.get("name")
    if name is not None and not isinstance(name, str):
        raise _bad(path, "name is not a string")
    layout = doc.get("layout")
    if layout not in LAYOUTS:
        raise _bad(path, f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    selftest = doc.get("selftest")
    units_doc = doc.get("units")
    if not isinstance(units_doc, list) or not 1 <= len(units_doc) <= 8:
        raise _bad(path, "units is not a list of 1 to 8 units")
    if selftest is not None:
        if not isinstance(selftest, dict) or selftest.get("kind") not in ("compression",
                                                                          "decompression"):
            raise _bad(path, "selftest is not a compression or decompression vector")
        buffer = _int(path, selftest.get("buffer_size"), "selftest buffer_size", 1,
                      SELFTEST_BUFFER_MAX)
        selftest = {"kind": selftest["kind"], "label": str(selftest.get("label", "vector")),
                    "input": _file(folder, path, selftest.get("input"), "selftest input"),
                    "output": _file(folder, path, selftest.get("output"), "selftest output"),
                    "buffer_size": buffer}
        page_size = buffer
    else:
        page_size = doc.get("page_size")
        if page_size not in PAGE_SIZES:
            raise _bad(path, f"page_size {page_size!r} is not one of "
                             f"{', '.join(map(str, PAGE_SIZES))}")
    units = []
    for k, u in enumerate(units_doc):
        if not isinstance(u, dict):
            raise _bad(path, f"unit {k} is not an object")
        page = _file(folder, path, u.get("page"), f"unit {k}'s page")
        if selftest is None and len(page) != page_size:
            raise _bad(path, f"unit {k}'s page {u.get('page')} has {len(page)} bytes, not the "
                             f"page size {page_size}")
        rule = u.get("capacity_rule")
        if rule is not None:
            if not (isinstance(rule, list) and len(rule) == 2 and rule[0] == "exact"):
                raise _bad(path, f"unit {k}'s capacity_rule {rule!r} is not [\"exact\", DELTA]")
            cap = ("exact", _int(path, rule[1], f"unit {k}'s capacity_rule delta", -page_size,
                                 page_size))
        else:
            cap = _int(path, u.get("capacity"), f"unit {k}'s capacity", 1, 2 * page_size)
        units.append(UnitSpec(str(u.get("label", f"unit {k}")), page, cap))
    case = Case(tuple(units), layout, page_size)
    history = []
    hist_doc = doc.get("history", [])
    if not isinstance(hist_doc, list):
        raise _bad(path, "history is not a list")
    for i, c in enumerate(hist_doc):
        if not isinstance(c, dict) or c.get("op") not in ("compress", "decompress", "burst"):
            raise _bad(path, f"history call {i} is not a compress, burst or decompress call")
        lay = c.get("layout", "guard")
        if lay not in LAYOUTS:
            raise _bad(path, f"history call {i}'s layout {lay!r} is not one of {', '.join(LAYOUTS)}")
        if c["op"] == "burst":
            batches = c.get("batches")
            if not isinstance(batches, list) or not 1 <= len(batches) <= 16:
                raise _bad(path, f"history call {i} (a burst) has no list of 1 to 16 batches")
            cycle = tuple(_batch(folder, path, b, f"history call {i}'s batch {j}")
                          for j, b in enumerate(batches))
            repeat = _int(path, c.get("repeat"), f"history call {i}'s repeat", 1, 1 << 24)
            history.append(Call("burst", (), (), lay, repeat, cycle))
            continue
        pages, caps = _batch(folder, path, c, f"history call {i}")
        history.append(Call(c["op"], pages, caps, lay))
    baseline = doc.get("baseline")
    if baseline is not None:
        baseline = _int(path, baseline, "baseline", 0, max(0, len(history) - 1))
        if not history or history[baseline].op != "compress" or history[baseline].repeat != 1:
            raise _bad(path, f"baseline {baseline} is not one compress call of the history")
    fmt = doc.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise _bad(path, f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return Reproducer(path, doc, clause, case, history, baseline, selftest,
                      bool(doc.get("history_breaks")), fmt, doc["kind"], doc["location"], name,
                      doc["target"])


def replay(rep: Reproducer, target_text: str | None, options) -> ReplayResult:
    """Re-run `rep` on a fresh process of its driver (or of `target_text`, the
    same driver built elsewhere)."""
    from .conformance import make_sandbox
    from .rerun import Finding, attempt
    from .targets import Target, parse_target

    started = time.monotonic()
    if target_text is not None:
        target = parse_target(target_text)
        if target.kind == "c" and target.name is None:
            target = Target("c", target.location, rep.name, target.label, target.entry)
    elif rep.target.startswith("builtin:"):
        target = parse_target(rep.target)
    else:
        target = Target(rep.kind, rep.location, rep.name, rep.target)
    result = ReplayResult(rep, target.label, False)
    sb = make_sandbox(target, options)
    try:
        info = sb.start()["info"]
    except TargetError as e:
        result.error = str(e)
        return result
    finally:
        sb.close()
    fmt = options.format or rep.format or info.format
    units = max([len(rep.case.units)] + [len(c.pages) for c in rep.history if c.op == "compress"]
                + [len(b[0]) for c in rep.history for b in c.cycle])
    if units > min(info.batch_size, 8):
        result.error = (f"the reproducer sends batches of {units} units and the driver takes "
                        f"{info.batch_size}; give the driver the reproducer was made with")
        return result
    finding = Finding(rep.clause, rep.case, rep.history, rep.baseline, rep.selftest,
                      rep.history_breaks)
    found = attempt(lambda: make_sandbox(target, options), info, fmt, finding)
    if isinstance(found, str):
        result.error = (f"the calls before the case did not run as they did when the finding "
                        f"was made: {found}; the driver's behaviour has changed before the case "
                        f"itself (re-check it: 'zswap-spec check-driver {target.label}')")
    else:
        result.violations = sorted({v.clause: v for v in found}.values(),
                                   key=lambda v: list(CLAUSES).index(v.clause))
        result.reproduces = any(v.clause == rep.clause for v in found)
    result.seconds = time.monotonic() - started
    return result

"""Checking drivers end to end: for each target, start its sandbox, run the
fixed vectors and the Hypothesis search, optionally the zswap variants, save
a reproducer for every broken clause, and return a `DriverReport`.  Several
targets are checked in parallel worker processes (`jobs`).

Reproducers go to `--reproducers/DRIVER-HASH/CLAUSE/`, HASH naming the
target (two drivers of one name in two objects never share a folder); each
clause folder is written whole in a temporary folder, then renamed in place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from zswap_spec.support.files import atomic_write, case_hash

from .abi import FORMATS, DriverInfo, TargetError
from .clauses import CLAUSES, Violation, plural
from .harness import Checker
from .inputs import fixed_vectors
from .sandbox import DEFAULT_CALL_TIMEOUT, DEFAULT_MEMORY_LIMIT, Sandbox
from .targets import Target

__all__ = ["KitOptions", "DriverReport", "check_target", "expand_target"]

MAX_DEATHS = 40  # a driver that dies this often is not checked further
MAX_HANGS = 3  # ... or hangs this often (each hang costs the whole time limit)


@dataclass(frozen=True)
class KitOptions:
    budget: float = 5.0  # seconds of Hypothesis search per driver (0: fixed vectors only)
    seed: int = 0
    # At most this many search cases (None: as many as the budget allows).  The
    # rounds are seeded, so with a cap the cases searched do not depend on the
    # machine's speed, as long as the budget is not spent first.
    max_cases: int | None = None
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    page_size: int = 4096
    format: str | None = None  # overrides the driver's declared format
    variants: tuple[str, ...] = ()
    reproducers: str | None = "zswap-driver-findings"
    vectors: bool = True
    load_timeout: float = 20.0  # seconds for the driver process to load and answer
    memory_limit: int = DEFAULT_MEMORY_LIMIT  # bytes of data a driver's process may map


@dataclass
class DriverReport:
    target: str
    name: str
    seeded_bug: bool = False
    expected: list[str] = field(default_factory=list)  # clauses a seeded bug must break
    info: DriverInfo | None = None
    violations: list[Violation] = field(default_factory=list)
    error: str | None = None  # the target could not be checked at all
    internal: str | None = None  # the kit's own traceback, when a bug of the kit stopped the check
    notes: list[str] = field(default_factory=list)
    cases: int = 0
    search_cases: int = 0
    calls: int = 0
    restarts: int = 0
    seconds: float = 0.0
    variants: list = field(default_factory=list)
    as_expected: bool | None = None  # catalogue drivers: did the kit find what it must?

    @property
    def conforms(self) -> bool:
        return self.error is None and not self.violations

    @property
    def clauses(self) -> list[str]:
        order = list(CLAUSES)
        return sorted({v.clause for v in self.violations}, key=order.index)

    def to_json(self) -> dict:
        return {
            "target": self.target,
            "name": self.name,
            "seeded_bug": self.seeded_bug,
            "conforms": self.conforms,
            "error": self.error,
            "clauses": self.clauses,
            "expected_clauses": self.expected,
            "as_expected": self.as_expected,
            "driver": self.info.to_json() if self.info else None,
            "violations": [v.to_json() for v in self.violations],
            "notes": self.notes,
            "cases": self.cases,
            "search_cases": self.search_cases,
            "calls": self.calls,
            "restarts": self.restarts,
            "seconds": round(self.seconds, 3),
            "variants": [r.to_json() for r in self.variants],
        }


def expand_target(target: Target, options: KitOptions) -> list[Target] | str:
    """A shared object without a driver name: one target per driver it exports.
    An error message instead when it cannot be loaded."""
    if target.kind != "c" or target.name is not None:
        return [target]
    sb = Sandbox(target.kind, target.location, None, target.label, options.call_timeout,
                 load_timeout=options.load_timeout, memory_limit=options.memory_limit)
    try:
        names = sb.start()["names"]
    except TargetError as e:
        return str(e)
    finally:
        sb.close()
    if len(names) == 1:
        return [Target("c", target.location, names[0], target.label)]
    return [Target("c", target.location, n, f"{target.label}@{n}") for n in names]


def _notes(info: DriverInfo, fmt: str) -> list[str]:
    notes = []
    if not info.has_decompress:
        notes.append("C-ROUNDTRIP not checked: the driver has no decompressor")
    if fmt == "none":
        notes.append("C-FORMAT not checked: format 'none' has no reference decompressor")
    if not info.deterministic:
        notes.append("C-DETERMINISM not checked: the driver does not declare determinism "
                     "(C-INDEPENDENT compares success and failure only)")
    if info.batch_size == 1:
        notes.append("C-INDEPENDENT not checked: batch size 1")
    elif info.batch_size > 8:
        notes.append(f"batches of at most 8 units sent (zswap's limit), not {info.batch_size}")
    return notes


def check_target(target: Target, options: KitOptions) -> DriverReport:
    """Check one driver; never raises for anything the driver does."""
    started = time.monotonic()
    report = DriverReport(target.label, target.name or target.label, seeded_bug=target.seeded_bug)
    if target.entry is not None and target.entry.seeded_bug:
        report.expected = [target.entry.clause, *target.entry.also]
    sb = Sandbox(target.kind, target.location, target.name, target.label, options.call_timeout,
                 max_bytes=2 * options.page_size, load_timeout=options.load_timeout,
                 memory_limit=options.memory_limit)
    found: dict[str, Violation] = {}
    state: dict = {}  # what _check has set up so far: the checker
    try:
        _check(sb, target, options, report, found, state)
    except TargetError as e:  # the driver started a process, or cannot be loaded
        report.error = str(e)
    except BaseException:  # an interrupt: end the driver's process now, not in a second
        sb.close(kill=True)
        raise
    finally:
        report.cases = state["checker"].cases if "checker" in state else 0
        report.violations = sorted(found.values(), key=lambda v: list(CLAUSES).index(v.clause))
        report.calls = sb.calls
        report.restarts = sb.restarts
        sb.close()
        report.seconds = time.monotonic() - started
    if target.entry is not None:
        report.as_expected = target.entry.as_expected(set(report.clauses)) and report.error is None
    if options.reproducers:
        root = Path(options.reproducers)
        folder = f"{_slug(report.name)}-{case_hash(target.location, report.name)[:8]}"
        for v in report.violations:
            v.reproducer = save_reproducer(root / folder, report, v, options.page_size)
    return report


def _check(sb: Sandbox, target: Target, options: KitOptions, report: DriverReport,
           found: dict[str, Violation], state: dict) -> None:
    hello = sb.start()
    info: DriverInfo = hello["info"]
    report.info = info
    report.name = info.name
    fmt = options.format or info.format
    if fmt not in FORMATS:
        raise TargetError(f"{target.label}: the driver declares format {fmt!r}, which the kit "
                          f"does not know; declare one of {', '.join(FORMATS)} ('none' for an "
                          f"encoding of its own), or give --format")
    report.notes = _notes(info, fmt)
    checker = Checker(sb, info, options.page_size, fmt)
    state["checker"] = checker
    batch = min(info.batch_size, 8)
    give_up = lambda: sb.deaths >= MAX_DEATHS or sb.hangs >= MAX_HANGS or bool(sb.fatal)  # noqa: E731
    if options.vectors:
        for case in fixed_vectors(options.page_size, fmt, batch):
            if give_up():
                break
            for v in checker.run_case(case):
                found.setdefault(v.clause, v)
    if options.budget > 0 and not give_up():
        from .search import search

        report.search_cases = search(checker, found, options.budget, options.seed, batch,
                                     give_up, max_cases=options.max_cases)
    if sb.fatal:
        raise TargetError(sb.fatal)
    if give_up():
        report.notes.append(f"stopped early: the driver died {plural(sb.deaths, 'time')} "
                            f"({sb.hangs} of them {'a hang' if sb.hangs == 1 else 'hangs'})")
    for variant in options.variants:
        from zswap_spec.replay.sample import default_sample
        from .endtoend import run_variant

        pages = [p.data for p in default_sample(options.page_size)]
        report.variants.extend(run_variant(sb, info, fmt, variant, pages, options.page_size))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60]


def save_reproducer(folder: Path, report: DriverReport, v: Violation, page_size: int) -> str:
    """The batch that broke `v.clause`, in `folder/CLAUSE/`: its pages, capacities,
    expected and actual.  The clause folder is written whole, then put in place."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / v.clause
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{v.clause}-", dir=folder))
    try:
        case = v.case.get("case")
        units = []
        if case is not None:
            for k, u in enumerate(case.units):
                name = f"unit-{k}.page"
                (work / name).write_bytes(u.page)
                caps = v.case.get("capacities", [])
                units.append({"page": name, "label": u.label,
                              "capacity": caps[k] if k < len(caps) else None,
                              "capacity_rule": list(u.capacity) if isinstance(u.capacity, tuple)
                              else None})
        extra = v.case.get("extra", {})
        for key in ("output", "decompressed"):
            if key in extra:
                (work / f"{key}.bin").write_bytes(extra[key])
        doc = {
            "driver": report.name,
            "target": report.target,
            "clause": v.clause,
            "statement": CLAUSES[v.clause],
            "description": v.description,
            "expected": v.expected,
            "actual": v.actual,
            "found_by": v.found_by,
            "page_size": page_size,
            "layout": case.layout if case is not None else None,
            "units": units,
            "files": sorted(p.name for p in work.iterdir()),
        }
        atomic_write(work / "case.json", json.dumps(doc, indent=2) + "\n")
        os.chmod(work, 0o755)
        _replace_folder(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return str(final / "case.json")


def _replace_folder(new: Path, final: Path) -> None:
    """Put folder `new` at `final`, replacing an older one (a reader sees the old
    folder or the new one, or for a moment none, never a mix)."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=".tmp-old-", dir=final.parent))
        try:
            os.replace(final, old / "x")
        except FileNotFoundError:
            pass
    try:
        os.replace(new, final)
    except OSError:  # another writer put one there meanwhile: theirs is as good
        shutil.rmtree(new, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

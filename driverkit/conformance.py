"""Checking drivers end to end: for each target, start its sandbox and run the
stages -- the fixed vectors at every page size, the kernel's own self-test
vectors of the driver's format, the sequence stage, the Hypothesis search --
then re-run every finding from a fresh process (with the calls before it,
when it needs them), optionally run the zswap variants, save a reproducer
for every broken clause, and return a `DriverReport`.  Several targets are
checked in parallel worker processes (`jobs`).

Reproducers go to `--reproducers/DRIVER-HASH/CLAUSE/`, HASH naming the
target (two drivers of one name in two objects never share a folder); each
clause folder is written whole in a temporary folder, then renamed in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from zswap_spec.support.files import atomic_write, case_hash

from .abi import FORMATS, PAGE_SIZES, DriverInfo, TargetError
from .clauses import CLAUSES, Findings, Violation, plural
from .harness import Checker
from .inputs import fixed_vectors
from .sequence import MIN_BURST_CALLS
from .sandbox import DEFAULT_CALL_TIMEOUT, DEFAULT_MEMORY_LIMIT, Sandbox
from .targets import Target

__all__ = ["KitOptions", "DriverReport", "check_target", "expand_target"]

MAX_DEATHS = 40  # a driver that dies this often is not checked further
MAX_HANGS = 3  # ... or hangs this often (each hang costs the whole time limit)


@dataclass(frozen=True)
class KitOptions:
    # Seconds per driver for its stages (the re-runs of findings come on top): the
    # fixed ones always run whole, the sequence stage's bursts go on for a share of
    # it, the Hypothesis search has what is left (0: no search).
    budget: float = 5.0
    seed: int = 0
    # At most this many search cases (None: as many as the budget allows).  The
    # rounds are seeded, so with a cap the cases searched do not depend on the
    # machine's speed, as long as the budget is not spent first.
    max_cases: int | None = None
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    page_sizes: tuple[int, ...] = PAGE_SIZES  # checked where the driver supports them
    format: str | None = None  # overrides the driver's declared format
    variants: tuple[str, ...] = ()
    reproducers: str | None = "zswap-driver-findings"
    vectors: bool = True  # the fixed stages: vectors, kernel self-test, sequences
    load_timeout: float = 20.0  # seconds for the driver process to load and answer
    memory_limit: int = DEFAULT_MEMORY_LIMIT  # bytes of data a driver's process may map
    # Where the kernel's self-test vectors come from: "debian:7.3" (fetched once),
    # a kernel tree or source tarball, or None for no self-test stage.
    kernel_source: str | None = "debian:7.3"
    rerun: bool = True  # re-run every finding from a fresh process
    # The share of `budget` the sequence stage may take beyond its fixed bursts,
    # and the calls of those fixed bursts.
    sequence_share: float = 0.4
    sequence_calls: int = MIN_BURST_CALLS


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
    page_sizes: list[int] = field(default_factory=list)  # the page sizes checked
    stages: list[dict] = field(default_factory=list)  # what each stage ran
    selftest: dict | None = None  # the kernel's self-test vectors: which ran, or why none

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
            "page_sizes": self.page_sizes,
            "stages": self.stages,
            "selftest": self.selftest,
            "variants": [r.to_json() for r in self.variants],
            "variant_runs_nothing_compressed": sum(v.nothing_compressed for v in self.variants),
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
    sb = make_sandbox(target, options)
    found: dict[str, Violation] = Findings()
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
        if (target.entry.clause == "C-SELFTEST" and "C-SELFTEST" not in report.clauses
                and report.error is None and not (report.selftest or {}).get("ran")):
            report.as_expected = None  # its bug shows only where the stage could run
            report.notes.append("not judged: its bug shows only in the kernel's self-test "
                                "vectors, which did not run here")
    if options.reproducers:
        root = Path(options.reproducers)
        folder = f"{_slug(report.name)}-{case_hash(target.location, report.name)[:8]}"
        for v in report.violations:
            v.reproducer = save_reproducer(root / folder, report, v, target, options)
    return report


def make_sandbox(target: Target, options: KitOptions) -> Sandbox:
    """A (not yet started) process for `target`, with room for the largest page."""
    return Sandbox(target.kind, target.location, target.name, target.label, options.call_timeout,
                   max_bytes=2 * max(options.page_sizes), load_timeout=options.load_timeout,
                   memory_limit=options.memory_limit)


def _sizes(target: Target, info: DriverInfo, options: KitOptions) -> list[int]:
    sizes = [p for p in options.page_sizes if info.supports(p)]
    if not sizes:
        declared = ", ".join(f"{p // 1024} KiB" for p in info.page_sizes)
        asked = ", ".join(f"{p // 1024} KiB" for p in options.page_sizes)
        raise TargetError(f"{target.label}: the driver supports {declared} pages and the kit was "
                          f"asked for {asked}; give --page-size with a size it supports")
    return sizes


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
    sizes = _sizes(target, info, options)
    report.page_sizes = sizes
    report.notes = _notes(info, fmt)
    skipped = [p for p in options.page_sizes if p not in sizes]
    if skipped:
        report.notes.append(f"{', '.join(f'{p // 1024} KiB' for p in skipped)} pages not checked: "
                            f"the driver declares only {', '.join(f'{p // 1024} KiB' for p in sizes)}")
    checker = Checker(sb, info, fmt)
    state["checker"] = checker
    batch = min(info.batch_size, 8)
    give_up = lambda: sb.deaths >= MAX_DEATHS or sb.hangs >= MAX_HANGS or bool(sb.fatal)  # noqa: E731

    def stage(name: str, run) -> None:
        began, cases0, calls0 = time.monotonic(), checker.cases, sb.calls
        extra = run() or {}
        report.stages.append({"stage": name, "cases": checker.cases - cases0,
                              "calls": sb.calls - calls0,
                              "seconds": round(time.monotonic() - began, 3), **extra})

    def vectors() -> dict:
        for size in sizes:
            for case in fixed_vectors(size, fmt, batch):
                if give_up():
                    return {}
                for v in checker.run_case(case):
                    found.setdefault(v.clause, v)
        return {"page_sizes": sizes}

    def selftest() -> dict:
        from .selftest import selftest_stage

        report.selftest = selftest_stage(checker, found, fmt, options.kernel_source, give_up)
        if not report.selftest.get("ran"):
            report.notes.append(f"C-SELFTEST not checked: {report.selftest.get('reason')}")
        return {"ran": report.selftest.get("ran", False)}

    def sequences() -> dict:
        from .sequence import sequence_stage

        sequence_stage(checker, found, sizes, fmt, batch, options.budget * options.sequence_share,
                       give_up, min_calls=options.sequence_calls)
        return {}

    budget_start = time.monotonic()  # the budget covers every stage but the re-runs

    def searching() -> dict:
        from .search import search

        # what the budget has left, but never less than a quarter of it
        left = max(options.budget - (time.monotonic() - budget_start), options.budget / 4)
        report.search_cases = search(checker, found, left, options.seed, batch, give_up,
                                     max_cases=options.max_cases, page_sizes=sizes)
        return {"budget_seconds": round(left, 3)}

    if options.vectors:
        stage("vectors", vectors)
        if options.kernel_source is not None and not give_up():
            stage("self-test", selftest)
        elif options.kernel_source is None:
            report.notes.append("C-SELFTEST not checked: no kernel source (--kernel-source none)")
    if options.vectors and not give_up():
        stage("sequence", sequences)
    if options.budget > 0 and not give_up():
        stage("search", searching)
    if sb.fatal:
        raise TargetError(sb.fatal)
    if give_up():
        report.notes.append(f"stopped early: the driver died {plural(sb.deaths, 'time')} "
                            f"({sb.hangs} of them {'a hang' if sb.hangs == 1 else 'hangs'})")
    if options.rerun:
        from .rerun import reproduce

        began = time.monotonic()
        for v in found.values():
            try:
                reproduce(lambda: make_sandbox(target, options), info, fmt, v)
            except TargetError as e:  # the fresh process did not start: the finding stands
                v.reproduces = "not re-run"
                report.notes.append(f"{v.clause} not re-run: {e}")
        report.stages.append({"stage": "re-run", "cases": len(found), "calls": 0,
                              "seconds": round(time.monotonic() - began, 3)})
    for variant in options.variants:
        from zswap_spec.replay.sample import default_sample
        from .endtoend import run_variant

        for size in sizes:
            pages = [p.data for p in default_sample(size)]
            report.variants.extend(run_variant(sb, info, fmt, variant, pages, size))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60]


REPRODUCER_VERSION = 2  # 2: calls before the case ("history"), the target's location


def save_reproducer(folder: Path, report: DriverReport, v: Violation, target: Target,
                    options: KitOptions | None = None) -> str:
    """The batch that broke `v.clause`, in `folder/CLAUSE/`: its pages, capacities,
    expected and actual, and the calls before it (their pages once each, under
    history/).  The clause folder is written whole, then put in place."""
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
                              "capacity": caps[k] if k < len(caps) else
                              (u.capacity if isinstance(u.capacity, int) else None),
                              "capacity_rule": list(u.capacity) if isinstance(u.capacity, tuple)
                              else None})
        extra = v.case.get("extra", {})
        for key, value in extra.items():
            if isinstance(value, bytes):
                (work / f"{key}.bin").write_bytes(value)
        selftest = v.case.get("selftest")
        if selftest is not None:  # the kernel vector itself, to re-run as the stage did
            (work / "selftest-input.bin").write_bytes(selftest["input"])
            (work / "selftest-output.bin").write_bytes(selftest["output"])
            selftest = {"kind": selftest["kind"], "label": selftest["label"],
                        "buffer_size": selftest["buffer_size"], "input": "selftest-input.bin",
                        "output": "selftest-output.bin"}
        history = []
        if v.history:
            (work / "history").mkdir()
        def page_names(pages) -> list[str]:
            names = []
            for page in pages:
                name = f"history/page-{hashlib.sha256(page).hexdigest()}.bin"
                if not (work / name).exists():
                    (work / name).write_bytes(page)
                names.append(name)
            return names

        for call in v.history:
            entry = {"op": call.op, "layout": call.layout, "repeat": call.repeat}
            if call.op == "burst":
                entry["batches"] = [{"pages": page_names(p), "capacities": list(c)}
                                    for p, c in call.cycle]
            else:
                entry.update(pages=page_names(call.pages), capacities=list(call.caps))
            history.append(entry)
        doc = {
            "format_version": REPRODUCER_VERSION,
            "driver": report.name,
            "target": report.target,
            "kind": target.kind,
            "location": target.location,
            "name": target.name,
            "clause": v.clause,
            "statement": CLAUSES[v.clause],
            "description": v.description,
            "expected": v.expected,
            "actual": v.actual,
            "found_by": v.found_by,
            "page_size": v.page_size or (case.page_size if case is not None else None),
            "layout": case.layout if case is not None else None,
            "units": units,
            "history": history,
            "history_complete": v.history_complete,
            "baseline": v.baseline,
            "history_breaks": bool(v.case.get("history_breaks")),
            "selftest": selftest,
            "format": options.format if options is not None else None,
            "call_timeout": options.call_timeout if options is not None else None,
            "memory_limit": options.memory_limit if options is not None else None,
            "reproduces": v.reproduces,
            "replay": f"zswap-spec check-driver --replay {final / 'case.json'}",
            "files": sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file()),
        }
        atomic_write(work / "case.json", json.dumps(doc, indent=2) + "\n")
        for d in (work, *(p for p in work.rglob("*") if p.is_dir())):
            os.chmod(d, 0o755)
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

"""Re-running a finding from a fresh driver process: first alone, then after
the calls that came before it (`Violation.history`), which are then cut down
to the fewest that still reproduce it.  The same code re-runs a saved
reproducer (`check-driver --replay`).

Each attempt starts a new process (about a quarter of a second), so the cut
is bounded: at most `MAX_TRIALS` attempts and `MAX_SECONDS` per finding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .abi import DriverInfo
from .clauses import Violation
from .harness import Checker, _failure, _first_difference
from .history import Call
from .inputs import Case
from .sandbox import DriverFailure, Sandbox

__all__ = ["Finding", "attempt", "reproduce", "MAX_TRIALS", "MAX_SECONDS"]

MAX_TRIALS = 12
MAX_SECONDS = 4.0


@dataclass
class Finding:
    """What re-runs one finding: the case, the calls before it and the clause."""

    clause: str
    case: Case
    history: list[Call]
    baseline: int | None = None  # index in history of the answer the case is compared with
    selftest: dict | None = None  # a kernel self-test vector: run as the self-test stage does
    # the clause broke on the history's last call itself (a crash or hang inside a
    # burst): that call breaking it again is the finding reproduced
    history_breaks: bool = False


def _run_history(sb: Sandbox, history: list[Call], baseline: int | None):
    """Make the calls; the baseline call's answer (or True); a text saying which
    call did not go as it went before (it failed, or a burst stopped short)."""
    base = True
    for i, call in enumerate(history):
        try:
            if call.op == "decompress":
                sb.decompress(list(zip(call.pages, call.caps)))
            elif call.op == "compress":
                ans = sb.compress(list(call.pages), list(call.caps), call.layout)
                if i == baseline:
                    base = ans
            else:
                ans = sb.burst(list(call.cycle), call.layout, call.repeat,
                               60.0 + call.repeat * 1e-3, False)
                if ans["done"] != call.repeat:
                    return f"call {i + 1} of the history ({call.describe()}) stopped after " \
                           f"{ans['done']} calls"
        except DriverFailure as e:
            if i == len(history) - 1:
                return e  # the last call: it may be what the finding is about
            return f"call {i + 1} of the history ({call.describe()}) failed: {e.description}"
    return base


def attempt(make_sandbox, info: DriverInfo, fmt: str, f: Finding) -> list[Violation] | str:
    """The clauses the case breaks after its history, on a new process; a text
    saying why when the history itself could not be replayed."""
    sb: Sandbox = make_sandbox()
    try:
        sb.start()
        base = _run_history(sb, f.history, f.baseline)
        checker = Checker(sb, info, fmt)
        if isinstance(base, DriverFailure):
            if f.history_breaks:
                return [_failure(checker, base, f.case, [u.capacity for u in f.case.units
                                                          if isinstance(u.capacity, int)])]
            return (f"call {len(f.history)} of the history ({f.history[-1].describe()}) failed: "
                    f"{base.description}")
        if isinstance(base, str):
            return base
        if f.history_breaks:  # the history ran through without breaking the clause
            return []
        if f.selftest is not None:
            from .selftest import check_vector

            t = f.selftest
            return check_vector(checker, t["kind"], t["label"], t["input"], t["output"],
                                t["buffer_size"])
        if f.baseline is None:
            return checker.run_case(f.case)
        caps = [u.capacity for u in f.case.units]
        checker.mark_history()
        try:
            ans = sb.compress([u.page for u in f.case.units], caps, f.case.layout)
        except DriverFailure as e:
            return [_failure(checker, e, f.case, caps)]
        found = checker.check_answer(f.case, caps, ans)
        diff = _first_difference(base, ans, len(caps)) if isinstance(base, dict) else None
        if diff is not None:
            found.append(checker._violation(
                "C-DETERMINISM", f.case, caps,
                f"the same batch gave another answer after other calls: unit {diff[0]} of "
                f"{len(caps)} {diff[1]}", diff[2], diff[3]))
        return found
    finally:
        sb.close(kill=True)


def _breaks(make_sandbox, info, fmt, f: Finding) -> bool:
    found = attempt(make_sandbox, info, fmt, f)
    return isinstance(found, list) and any(v.clause == f.clause for v in found)


def _shrink(make_sandbox, info, fmt, f: Finding, trials: list, deadline: float) -> Finding:
    """Fewer calls in the history, and shorter bursts, while the clause still breaks."""
    def ok(candidate: Finding) -> bool:
        if len(trials) >= MAX_TRIALS or time.monotonic() > deadline:
            return False
        trials.append(1)
        return _breaks(make_sandbox, info, fmt, candidate)

    def without(hist, base, drop: set[int]) -> Finding:
        kept = [c for i, c in enumerate(hist) if i not in drop]
        nb = None if base is None else base - sum(1 for i in drop if i < base)
        return Finding(f.clause, f.case, kept, nb, f.selftest, f.history_breaks)

    best = f
    chunks = 2
    while len(trials) < MAX_TRIALS and time.monotonic() < deadline:
        last = len(best.history) - 1
        removable = [i for i in range(len(best.history)) if i != best.baseline
                     and not (best.history_breaks and i == last)]
        if not removable:
            break
        size = max(1, -(-len(removable) // chunks))
        progressed = False
        for start in range(0, len(removable), size):
            cand = without(best.history, best.baseline, set(removable[start:start + size]))
            if ok(cand):
                best, chunks, progressed = cand, max(chunks - 1, 2), True
                break
        if not progressed:
            if size == 1:
                break
            chunks = min(len(removable), chunks * 2)
    for i, call in enumerate(best.history):  # bursts: halve while it still breaks
        while call.repeat > 1 and len(trials) < MAX_TRIALS and time.monotonic() < deadline:
            shorter = best.history[:i] + [call.with_repeat(call.repeat // 2)] + best.history[i + 1:]
            cand = Finding(f.clause, f.case, shorter, best.baseline, f.selftest, f.history_breaks)
            if not ok(cand):
                break
            best, call = cand, shorter[i]
    return best


def reproduce(make_sandbox, info: DriverInfo, fmt: str, v: Violation) -> None:
    """Re-run finding `v` from a fresh process and set `v.reproduces`, cutting
    `v.history` to what it needs ("alone": none of it)."""
    case = v.case.get("case")
    if case is None:
        return
    if v.clause == "C-HANG":  # re-running costs the whole time limit: not done
        v.reproduces = "not re-run"
        return
    deadline = time.monotonic() + MAX_SECONDS
    trials: list = []
    st = v.case.get("selftest")
    breaks = bool(v.case.get("history_breaks"))
    if v.baseline is None:
        alone = Finding(v.clause, case, [], None, st)
    else:
        alone = Finding(v.clause, case, [v.history[v.baseline]], 0)
    trials.append(1)
    if _breaks(make_sandbox, info, fmt, alone):
        v.history, v.baseline = alone.history, alone.baseline
        v.reproduces = "alone" if not alone.history else "after its history"
        return
    full = Finding(v.clause, case, list(v.history), v.baseline, st, breaks)
    trials.append(1)
    if not v.history or not _breaks(make_sandbox, info, fmt, full):
        v.reproduces = "no"
        return
    best = _shrink(make_sandbox, info, fmt, full, trials, deadline)
    v.history, v.baseline = best.history, best.baseline
    v.reproduces = "after its history"
    if v.clause == "C-SELFTEST":  # a freshly loaded driver passes it: say so
        v.description = v.description.replace(
            "the kernel's self-test would refuse the driver when it registers",
            "a freshly loaded driver passes it (the kernel's self-test at registration would "
            "not see it), but not after the calls before it")

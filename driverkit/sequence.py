"""The sequence stage: what a driver does depends on nothing but the batch in
front of it, whatever it answered before.  From a fresh driver process the
kit records its first answer to a few reference batches (at every page size
it checks), then interleaves batches of other content, batches that fail
and repeats, and re-checks every reference after each; then it sends bursts
of calls cycling through a few batches (some succeed, one fails), 16, 64,
256 ... calls long, re-checking the references after each burst.  A deterministic driver must give each reference its first
answer again, byte for byte (C-DETERMINISM); every answer on the way is
checked against the other clauses as well.

A finding keeps the calls that led to it (`Violation.history`, and
`baseline` for the first answer it is compared with), so that it can be
re-run from a fresh process (`zswap_spec.driverkit.rerun`).
"""

from __future__ import annotations

import time

from .clauses import Violation
from .history import Call
from .harness import Checker, _failure, _first_difference
from .inputs import Case, UnitSpec, page_kinds
from .sandbox import DriverFailure

__all__ = ["sequence_stage", "MIN_BURST_CALLS"]

# Burst calls the stage always makes (about 0.15 s for a C driver); more while
# its share of the budget lasts, up to MAX_BURST_CALLS.
MIN_BURST_CALLS = 5456  # 16 + 64 + 256 + 1024 + 4096
MAX_BURST_CALLS = 1 << 20


def _references(sizes, fmt: str, batch: int) -> list[Case]:
    out = []
    for P in sizes:
        k = page_kinds(P, fmt)
        out.append(Case((UnitSpec("text", k["text"], P),), "guard", P))
        if batch > 1:
            kinds = ["code", "zero", "text", "repetitive", "mixed", "partly-zero", "code", "text"]
            out.append(Case(tuple(UnitSpec(x, k[x], P) for x in kinds[:batch]), "canary", P))
        else:
            out.append(Case((UnitSpec("code", k["code"], P),), "canary", P))
    return out


def _others(sizes, fmt: str, batch: int) -> list[Case]:
    """Batches of other content, and batches where units fail (an incompressible
    page at its page's capacity, a text page into 16 bytes)."""
    P = sizes[0]
    k = page_kinds(P, fmt)
    out = [Case((UnitSpec("random", k["random"], P),), "guard", P),
           Case((UnitSpec("text", k["text"], 16),), "canary", P),
           Case((UnitSpec("repetitive", k["repetitive"], P),), "guard", P)]
    if batch > 1:
        mixed = ["text", "random", "zero", "code", "random", "text", "mixed", "zero"]
        out.append(Case(tuple(UnitSpec(x, k[x], P) for x in mixed[:batch]), "guard", P))
    return out


def _cycle(sizes, fmt: str, batch: int) -> list[Case]:
    """What the bursts cycle through: batches that succeed, with other content
    each, and one in which units fail, so that a stale answer shows and both
    the success and the failure paths run many times."""
    P = sizes[0]
    k = page_kinds(P, fmt)
    if batch == 1:
        return [Case((UnitSpec("text", k["text"], P),), "guard", P),
                Case((UnitSpec("random", k["random"], P),), "guard", P),
                Case((UnitSpec("code", k["code"], P),), "guard", P)]
    mixed = ["text", "random", "zero", "code", "random", "text", "mixed", "zero"]
    return [Case(tuple(UnitSpec(x, k[x], P) for x in mixed[:batch]), "guard", P),
            Case(tuple(UnitSpec("text", k["text"], P) for _ in range(batch)), "guard", P),
            Case(tuple(UnitSpec("code", k["code"], P) for _ in range(batch)), "guard", P)]


class _Stage:
    def __init__(self, checker: Checker, found: dict[str, Violation]):
        self.c = checker
        self.sb = checker.sb
        self.found = found
        self.det = checker.info.deterministic
        self.first: dict[int, tuple[dict, int]] = {}  # reference -> (first answer, its mark)

    def add(self, violations) -> None:
        for v in violations:
            v.found_by = "sequence"
            self.found.setdefault(v.clause, v)

    def call(self, case: Case):
        """One batch, checked on its own; its answer (None when the call failed)."""
        caps = [u.capacity for u in case.units]
        self.c.mark_history()
        self.c.cases += 1
        try:
            ans = self.sb.compress([u.page for u in case.units], caps, case.layout)
        except DriverFailure as f:
            self.add([_failure(self.c, f, case, caps)])
            return None
        self.add(self.c.check_answer(case, caps, ans))
        return ans

    def reference(self, i: int, case: Case) -> None:
        old = self.sb.log
        before = old.mark()
        ans = self.call(case)
        if ans is None:
            return
        log = self.sb.log
        if log is not old:  # the process started for this call: it is the first
            before = 0
        if i not in self.first or self.first[i][2] is not log:
            self.first[i] = (ans, before, log)  # the first answer since the process started
            return
        if not self.det:
            return
        first, mark, _ = self.first[i]
        diff = _first_difference(first, ans, len(case.units))
        if diff is None:
            return
        n = len(case.units)
        caps = [u.capacity for u in case.units]
        v = self.c._violation(
            "C-DETERMINISM", case, caps,
            f"the same batch gave another answer after other calls: unit {diff[0]} of {n} "
            f"{diff[1]}", diff[2], diff[3])
        v.history_ref = (log, before)  # every call before this one
        v.baseline_mark = mark
        self.add([v])


def sequence_stage(checker: Checker, found: dict[str, Violation], sizes, fmt: str, batch: int,
                   seconds: float, give_up=lambda: False,
                   min_calls: int = MIN_BURST_CALLS) -> int:
    """Run the stage; the calls it made.  Bursts go on past `min_calls`
    while `seconds` last."""
    st = _Stage(checker, found)
    sb = checker.sb
    calls_before = sb.calls
    sb.close()  # from a fresh process: the history of a finding starts there
    stop = time.monotonic() + seconds
    refs = _references(sizes, fmt, batch)
    others = _others(sizes, fmt, batch)

    def recheck() -> None:
        for i, r in enumerate(refs):
            if give_up():
                return
            st.reference(i, r)

    recheck()  # the first answers
    for o in others:  # other content and failures between the references
        if give_up():
            break
        st.call(o)
        recheck()
    recheck()  # repeats
    cycle = _cycle(sizes, fmt, batch)
    batches = [([u.page for u in c.units], [u.capacity for u in c.units]) for c in cycle]
    count, burst_calls = 16, 0
    # The fixed bursts get a second at most (or the stage's share, if longer),
    # so a slow driver is not held here for its min_calls.
    floor = time.monotonic() + max(min(1.0, min_calls * 1e-4), seconds)
    while not give_up() and burst_calls < MAX_BURST_CALLS:
        now = time.monotonic()
        if now >= max(stop, floor) or (burst_calls >= min_calls and now >= stop):
            break
        left = (max(stop, floor) if burst_calls < min_calls else stop) - now
        if sb.proc is None:  # died on an earlier call: the burst's history starts afresh
            sb.restarts += 1
            sb.start()
        checker.mark_history()
        log = sb.log
        start = log.mark()
        try:
            ans = sb.burst(batches, "guard", count, max(0.05, left), st.det)
        except DriverFailure as f:
            # which call of the burst failed is not known: the finding's history is
            # the calls before the burst and the whole burst, which re-runs it
            v = _failure(checker, f, cycle[0], batches[0][1], f"in a run of {count} calls: ")
            v.history_ref = (log, start)
            v.history_tail = [Call("burst", (), (), "guard", count,
                                   tuple((tuple(p), tuple(c)) for p, c in batches))]
            v.case["history_breaks"] = True
            st.add([v])
            break
        done = ans["done"]
        burst_calls += done
        whole = Call("burst", (), (), "guard", done,
                     tuple((tuple(p), tuple(c)) for p, c in batches))

        def at_call(i: int, violations) -> list:
            """Findings on the burst's call i: its history is the calls before the burst
            and the burst's first i calls."""
            for v in violations:
                v.history_ref = (log, start)
                v.history_tail = [whole.rotated(0, i)] if i else []
            return violations

        for j, (c, a) in enumerate(zip(cycle, ans["firsts"])):
            st.add(at_call(j, checker.check_answer(c, [u.capacity for u in c.units], a)))
        last_case = cycle[(done - 1) % len(cycle)]
        last_caps = [u.capacity for u in last_case.units]
        st.add(at_call(done - 1, checker.check_answer(last_case, last_caps, ans["last"])))
        if ans["differs"] and st.det:
            i = done - 1  # the call that answered otherwise; its batch's first call was j
            j = i % len(cycle)
            n = len(last_case.units)
            diff = _first_difference(ans["firsts"][j], ans["last"], n)
            if diff is not None:
                v = checker._violation(
                    "C-DETERMINISM", last_case, last_caps,
                    f"the same batch answered otherwise at call {i + 1} of a run of calls than at "
                    f"call {j + 1}: unit {diff[0]} of {n} {diff[1]}", diff[2], diff[3])
                # history: the calls before the burst, the burst up to the batch's first
                # call, that call (the baseline), and the burst on to the last call
                one = Call("compress", tuple(batches[j][0]), tuple(batches[j][1]), "guard")
                tail = ([whole.rotated(0, j)] if j else []) + [one]
                if i - j - 1 > 0:
                    tail.append(whole.rotated(j + 1, i - j - 1))
                v.history_ref = (log, start)
                v.baseline_in_tail = 1 if j else 0
                v.history_tail = tail
                st.add([v])
        recheck()
        if done < count:  # the time ran out inside the burst
            break
        count *= 4
    return sb.calls - calls_before

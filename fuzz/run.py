"""`zswap-spec fuzz`: campaigns over variants x compressors x faults, in
worker processes, within one wall-clock budget for the whole run, with a live
progress line.

The budget: the run ends `budget` seconds after it starts, whatever the number
of workers and campaigns.  Campaigns run in waves of `workers`; each, as it
starts, takes an even share of the time left to the waves still to come (one
ending early leaves its time to the others), and stops at its deadline at the
next step.

Workers are stopped by a flag in shared memory, checked at every step: on an
interrupt (Ctrl-C, SIGTERM) the run sets it, waits a moment for the running
campaigns to hand back what they did, and ends the workers.  A worker that
dies (killed, out of memory) loses the campaigns it had: they run once more on
fresh workers, in the time left; what is lost twice is reported as not run.
Workers ignore SIGINT (the run stops them) and end themselves when the
command's process ends, however it ends.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.faults import FAULTS
from zswap_spec.pool.api import CORE_FAULTS
from zswap_spec.support.processes import context, pool_processes, worker_setup

from .campaign import Campaign, CampaignResult, open_database, run_campaign

__all__ = ["plan_campaigns", "run_fuzz", "FuzzRun", "GRACE", "RERUN_FLOOR"]

GRACE = 1.0  # after an interrupt: how long running campaigns may take to hand back results
RERUN_FLOOR = 1.0  # a campaign re-run after its worker died gets at least this long
_QUEUED, _RUNNING, _DONE = 0.0, 1.0, 2.0


def plan_campaigns(variants, compressors, faults: str, budget: float, workers: int, seed,
                   max_folio: int, impl: str = "model") -> list[Campaign]:
    """One campaign per variant x compressor x fault (`none`: the real compressors),
    each with its share of the budget as if the campaigns ran in equal waves of
    `workers` (the run shares the time out as they go: `run_fuzz`).

    On the core (`impl="core"`), `all` means the faults the core implements."""
    if faults == "none":
        fault_sets = [()]
    elif faults == "all":
        fault_sets = [(f,) for f in (CORE_FAULTS if impl == "core" else FAULTS)]
    else:
        fault_sets = [(f,) for f in faults.split(",")]
    plan = []
    for v in variants:
        for c in compressors:
            batching = ALGORITHMS[c].batching
            for fs in fault_sets:
                if fs and FAULTS[fs[0]].batching_only and not batching:
                    continue
                plan.append((v, c, fs))
    share = budget / math.ceil(len(plan) / max(1, min(workers, len(plan)))) if plan else budget
    return [Campaign(v, c, fs, budget=share, seed=seed, max_folio=max_folio, impl=impl)
            for v, c, fs in plan]


@dataclass
class FuzzRun:
    results: list[CampaignResult]
    interrupted: bool = False
    died: list[str] = field(default_factory=list)  # how lost workers ended ("SIGKILL", ...)


class _Shared:
    """Memory the run shares with its workers (handed over when they start)."""

    def __init__(self, ctx, n: int):
        self.stop = ctx.RawValue("b", 0)
        self.started = ctx.Value("i", 0)
        self.progress = ctx.RawArray("d", 4 * max(1, n))  # examples, steps, findings, state


_shared: _Shared | None = None  # in a worker


def _init_worker(shared: _Shared, parent: int) -> None:
    global _shared
    _shared = shared
    worker_setup(parent)  # dies with the fork server and the command; Ctrl-C is the run's


def _work(job) -> CampaignResult:
    index, campaign, db_spec, db_dir, findings_dir, run_deadline, waves, width = job
    shared = _shared
    row = shared.progress
    if shared.stop.value:
        return _unrun(campaign, "interrupted before it started")
    with shared.started.get_lock():
        order = shared.started.value
        shared.started.value += 1
    now = time.monotonic()
    # An even share of the time left among the waves still to come, this one included.
    deadline = now + max(0.0, run_deadline - now) / max(1, waves - order // width)
    row[4 * index + 3] = _RUNNING

    def progress(result):
        row[4 * index], row[4 * index + 1] = result.examples, result.steps
        row[4 * index + 2] = len(result.findings)

    try:
        database = open_database(db_spec, Path(db_dir))
        return run_campaign(campaign, database, Path(findings_dir), progress,
                            deadline=min(deadline, run_deadline), stop=lambda: shared.stop.value)
    finally:
        row[4 * index + 3] = _DONE


def _unrun(c: Campaign, note: str, status: str = "not run") -> CampaignResult:
    return CampaignResult(c.variant, c.compressor, list(c.faults), impl=c.impl, status=status,
                          note=note)


def run_fuzz(campaigns, db_spec, db_dir: Path, findings_dir: Path, workers: int, live: bool,
             budget: float | None = None) -> FuzzRun:
    """Every campaign, `workers` at a time, all within `budget` seconds from now (by
    default the campaigns' own budgets, in waves); results in plan order.  An
    interrupt (KeyboardInterrupt) ends the run within about GRACE seconds:
    `FuzzRun.interrupted`, the campaigns' results as far as they got."""
    n = len(campaigns)
    width = max(1, min(workers, n))
    if budget is None:
        budget = sum(c.budget for c in campaigns[::width]) if campaigns else 0.0
    ctx = context()
    shared = _Shared(ctx, n)
    started = time.monotonic()
    run = FuzzRun([None] * n)
    todo = list(range(n))
    args = (db_spec, str(db_dir), str(findings_dir))

    def died():
        return f"a worker process died ({', '.join(run.died) or 'gone'})"

    try:
        for attempt in (1, 2):
            deadline = started + budget if attempt == 1 else \
                max(started + budget, time.monotonic() + RERUN_FLOOR)
            lost = _run_pool(ctx, shared, todo, campaigns, args, workers, deadline, run, live,
                             started)
            if attempt == 2:
                for i in set(todo) - set(lost):
                    run.results[i].note = f"run again: {died()}"
            todo = lost
            if not todo:
                break
            if attempt == 1:
                sys.stderr.write(f"fuzz: {died()}; {_plural(len(todo), 'campaign')} run again "
                                 f"on fresh workers\n")
        for i in todo:
            run.results[i] = _unrun(campaigns[i], f"{died()} on both tries (killed, or out "
                                    f"of memory)")
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        if live:
            sys.stderr.write("\n")
    for i, r in enumerate(run.results):
        if r is None:
            row = shared.progress[4 * i: 4 * i + 4]
            if row[3] == _QUEUED:
                run.results[i] = _unrun(campaigns[i], "interrupted before it started")
            else:
                r = run.results[i] = _unrun(campaigns[i], "interrupted", status="stopped")
                r.examples, r.steps = int(row[0]), int(row[1])
    return run


def _run_pool(ctx, shared, indexes, campaigns, args, workers, deadline, run, live, started):
    """Run the campaigns `indexes` on a fresh pool; the ones lost to a dead worker."""
    width = max(1, min(workers, len(indexes)))
    waves = math.ceil(len(indexes) / width)
    shared.started.value = 0
    pool = ProcessPoolExecutor(max_workers=width, mp_context=ctx, initializer=_init_worker,
                               initargs=(shared, os.getpid()))
    procs: dict = {}
    futures = {}
    lost = []
    clean = False
    try:
        for i in indexes:
            shared.progress[4 * i + 3] = _QUEUED
            job = (i, campaigns[i], *args, deadline, waves, width)
            futures[pool.submit(_work, job)] = i
        procs.update(pool_processes(pool))
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5)
            procs.update(pool_processes(pool))
            for f in done:
                try:
                    run.results[futures[f]] = f.result()
                except BrokenProcessPool:
                    lost.append(futures[f])
            if live:
                _progress_line(shared, len(campaigns), run, started)
        clean = not lost
        if lost:
            run.died = sorted(set(run.died) | set(_how_they_died(procs.values())))
        return sorted(lost)
    except KeyboardInterrupt:
        shared.stop.value = 1  # every worker stops at its next step
        done, _ = wait(futures, timeout=GRACE)
        for f in done:
            if run.results[futures[f]] is None and not f.cancelled() and f.exception() is None:
                run.results[futures[f]] = f.result()
        raise
    finally:
        procs.update(pool_processes(pool))
        _close(pool, procs.values(), clean)


def _close(pool, procs, clean: bool) -> None:
    """Shut the pool down; unless it ended cleanly, end its workers now."""
    if clean:
        pool.shutdown(wait=True)
        return
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.kill()
    until = time.monotonic() + 1.0
    for p in procs:
        p.join(timeout=max(0.0, until - time.monotonic()))


def _how_they_died(procs) -> list[str]:
    out = []
    until = time.monotonic() + 1.0  # (the pool ends the others of a broken pool)
    for p in procs:
        p.join(timeout=max(0.0, until - time.monotonic()))
        code = p.exitcode
        if code is not None and code < 0:
            try:
                out.append(signal.Signals(-code).name)
            except ValueError:
                out.append(f"signal {-code}")
        elif code not in (None, 0):
            out.append(f"exit {code}")
    if len(set(out)) > 1:  # the pool ends the rest of a broken pool with SIGTERM: not a cause
        out = [o for o in out if o != "SIGTERM"]
    return sorted(set(out))


def _progress_line(shared, n, run, started) -> None:
    rows = shared.progress
    examples = int(sum(rows[4 * i] for i in range(n)))
    steps = sum(rows[4 * i + 1] for i in range(n))
    found = int(sum(rows[4 * i + 2] for i in range(n)))
    done = sum(r is not None for r in run.results)
    elapsed = max(time.monotonic() - started, 1e-9)
    sys.stderr.write(f"\rfuzz: {done}/{_plural(n, 'campaign')}, {_plural(examples, 'example')}, "
                     f"{steps / elapsed:.0f} steps/s, {_plural(found, 'finding')}   ")
    sys.stderr.flush()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"

"""`zswap-spec kernel-fuzz`: Hypothesis writes workload scripts, a live guest
and the model run them step by step, and any step where they differ is a
finding, shrunk to a minimal script and saved as a reproducer.

The state machine (`KernelScriptMachine`) is the script: each rule is one
step (make a cgroup, move the workload, change a setting, store, load,
redirty, free, reclaim, wait, settle), drawn from what the script has made
so far and checked by `script.StepChecker`, then run at once on the guest
and on the model (`ScriptRunner.step`).  An example is one script; between
examples the guest is reset (`GuestSession.reset`).  `target()` steers
generation toward states that are rarely reached by chance: the pool limit
hit, the shrink worker's writeback, memory.zswap.max rejections, large
folios, deep cgroups.

Shrinking re-runs smaller scripts on the same guest.  The smallest failing
script seen is kept by the campaign itself (the example Hypothesis finally
reports may be replaced once the shrink budget is spent), and written to the
findings folder the moment it is found, then again each time a smaller one
fails the same way.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings, strategies as st, target
from hypothesis.stateful import RuleBasedStateMachine, get_state_machine_test, initialize, \
    precondition, rule

from .script import FOLIO_PAGES, Script, ScriptError, Step, StepChecker
from .script_run import GAUGES as GAUGE_NAMES, ScriptDisagreement, ScriptResult, ScriptRunner, \
    save_reproducer

__all__ = ["Campaign", "CampaignRun", "run_campaign", "KernelScriptMachine"]

STEPS_PER_SCRIPT = 24
CHUNK_EXAMPLES = 40  # scripts per Hypothesis run: room for its target phase
SHRINK_SECONDS = 120.0  # per finding; then the smallest script seen so far is kept
_KINDS = ("random", "mostly-random", "text", "code", "halfzero", "zero", "fit-1", "fit", "fit+1")
_FOLIO_WEIGHTS = [1] * 6 + [4, 4, 8, 16, 64, 512]  # mostly base pages, every mTHP size
_MAX_VALUES = ["max", 0, 4096, 16384, 65536, 262144]


class _Disagreed(AssertionError):
    """A step where the kernel and the model differ (what Hypothesis shrinks)."""


class _GuestLost(Exception):
    """The guest panicked, hung or died: the campaign reboots and goes on."""


@dataclass
class CampaignRun:
    """What one campaign did: the figures `--json` prints."""

    kernel: str
    compressor: str
    scripts: int = 0
    steps: int = 0
    ops: Counter = field(default_factory=Counter)
    folio_sizes: Counter = field(default_factory=Counter)
    cgroup_depth: int = 0
    seconds: float = 0.0
    boots: int = 0
    boot_seconds: float = 0.0
    disagreements: list = field(default_factory=list)
    guest_failures: list = field(default_factory=list)
    not_compared: int = 0
    flaky: int = 0  # chunks whose replay went differently (see run_campaign)
    not_compared_why: Counter = field(default_factory=Counter)
    reached: Counter = field(default_factory=Counter)  # counter -> scripts where it moved
    error: str | None = None

    def to_json(self) -> dict:
        return {"kernel": self.kernel, "compressor": self.compressor, "scripts": self.scripts,
                "steps": self.steps, "ops": dict(sorted(self.ops.items())),
                "folio_sizes": {str(k): v for k, v in sorted(self.folio_sizes.items())},
                "cgroup_levels": self.cgroup_depth + 1, "seconds": round(self.seconds, 1),
                "boots": self.boots, "boot_seconds": round(self.boot_seconds, 1),
                "speed": {"steps_per_second": round(self.steps / self.seconds, 1)
                          if self.seconds else 0.0,
                          "steps_per_second_booted": round(
                              self.steps / (self.seconds - self.boot_seconds), 1)
                          if self.seconds > self.boot_seconds else 0.0,
                          "scripts_per_boot": round(self.scripts / self.boots, 1)
                          if self.boots else 0.0,
                          "boot_share": round(self.boot_seconds / self.seconds, 3)
                          if self.seconds else 0.0},
                "scripts_reaching": dict(sorted(self.reached.items())),
                "scripts_not_compared": self.not_compared,
                "not_compared_why": dict(self.not_compared_why.most_common(8)),
                "disagreements": self.disagreements, "guest_failures": self.guest_failures,
                "error": self.error}


@dataclass
class Campaign:
    kernel: str
    compressor: str
    compressors: list[str]  # every compressor a script may switch to
    budget: float
    seed: int | None
    findings: Path
    steps_per_script: int = STEPS_PER_SCRIPT
    focus: bool = True  # start half the scripts aimed at the pool limit or writeback off


class _Context:
    """What the machine's class reads: set by `run_campaign` before each chunk."""

    runner: ScriptRunner | None = None
    campaign: Campaign | None = None
    run: CampaignRun | None = None
    known: set = set()
    best: dict = {}  # signature -> (steps, folder)
    shrink_started: dict = {}
    deadline: float = 0.0
    sections: set = set()  # the corpus's sections: which exact-fit pages exist
    restart_guest = None  # boots a fresh guest for the runner (run_campaign sets it)


class KernelScriptMachine(RuleBasedStateMachine):
    """One script per example, one step per rule, run live."""

    ctx = _Context

    def __init__(self):
        super().__init__()
        self.live = False
        self.steps: list[Step] = []
        self.model_regions: set[str] = set()
        self.cgroups = [""]
        self.nregion = 0
        self.focus = "none"
        self.last_op = None

    # -- running a step --------------------------------------------------------------
    def _do(self, raw: dict) -> bool:
        """Run one step if the script's state allows it; whether it ran."""
        if not self.live:
            return False
        try:
            step = self.checker.add(raw)
        except ScriptError:
            return False  # a draw that the state no longer allows: skip it
        self.steps.append(step)
        self.last_op = step.op
        ctx = self.ctx
        ctx.run.ops[step.op] += 1
        if step.op == "store" and "pages" in step.args:
            fp = step.args["folio_pages"]
            ctx.run.folio_sizes[fp] += step.args["pages"] // fp
        try:
            found = ctx.runner.step(len(self.steps), step)
        except Exception as e:  # noqa: BLE001
            self._lost(e)
            raise
        ctx.run.steps += 1
        if ctx.runner.result.not_compared is not None:
            self.live = False  # e.g. a step the model cannot predict: end this script
            self._end()
            return True
        new = [d for d in found if d.signature() not in ctx.known]
        if new:
            raise _Disagreed("; ".join(f"{d.field}{' ' + d.cgroup if d.cgroup else ''}: "
                                       f"kernel {d.kernel}, model {d.model}" for d in new[:4]))
        return True

    def _lost(self, e: Exception) -> None:
        from .session import GuestDied

        if isinstance(e, GuestDied):
            raise _GuestLost(str(e)) from e

    @initialize(focus=st.sampled_from(["none", "pool", "pool", "writeback-off"]))
    def start(self, focus):
        """A new script; half of them start aimed at the global pool limit or at
        a cgroup without writeback, states random steps rarely reach."""
        ctx = self.ctx
        now = time.monotonic()
        if now > ctx.deadline or any(now - t > SHRINK_SECONDS
                                     for t in ctx.shrink_started.values()):
            # Out of time, or a finding has been shrunk long enough: this
            # example does nothing (the smallest failing script is kept).
            return
        if ctx.runner.needs_fresh_guest:
            ctx.restart_guest()
        script = Script("fuzz", [], compressor=ctx.campaign.compressor)
        self.script = script
        self.steps = script.steps  # one list: a guest that dies mid-step leaves it whole
        self.checker = StepChecker("fuzz", script.compressor, script.base)
        try:
            ctx.runner.begin(script)
        except Exception as e:  # noqa: BLE001
            self._lost(e)
            raise
        self.live = True
        ctx.run.scripts += 1
        self.focus = focus if ctx.campaign.focus else "none"
        if self.focus == "pool":
            self._do({"op": "param", "name": "max_pool_percent", "value": 1})
        elif self.focus == "writeback-off":
            self._do({"op": "mkcg", "path": "w"})
            self.cgroups.append("w")
            self._do({"op": "cgset", "path": "w", "file": "memory.zswap.writeback", "value": 0})
            self._do({"op": "enter", "path": "w"})

    def teardown(self):
        if self.live:
            self._end()

    def _end(self):
        ctx = self.ctx
        self.live = False
        try:
            result = ctx.runner.end()
        except Exception as e:  # noqa: BLE001
            self._lost(e)
            raise
        if result.not_compared:
            ctx.run.not_compared += 1
            reason = result.not_compared.split(": ", 1)[-1]
            ctx.run.not_compared_why[reason[:100]] += 1
        depth = max(c.count("/") + 1 if c else 0 for c in self.cgroups)
        ctx.run.cgroup_depth = max(ctx.run.cgroup_depth, depth)
        last = result.kernel_trace[-1] if result.kernel_trace else {}
        counters = last.get("counter", {})
        # Which states the script reached, by the kernel's own counters.
        for name, value in [*counters.items(), *last.get("worker", {}).items()]:
            if name not in GAUGE_NAMES and value:
                ctx.run.reached[name] += 1
        target(float(counters.get("pool_limit_hit", 0) > 0) + min(
            1.0, counters.get("written_back_pages", 0) / 64), label="pool limit and writeback")
        target(float(counters.get("reject_reclaim_fail", 0) > 0
                     or any(s.op == "cgset" and s.args["file"] == "memory.zswap.max"
                            for s in self.steps)), label="zswap.max")
        target(float(max([s.args.get("folio_pages", 1) for s in self.steps] or [1])),
               label="folio size")
        target(float(depth), label="cgroup depth")
        new = [d for d in result.disagreements if d.signature() not in ctx.known]
        if new:
            _keep(ctx, result, new)
            raise _Disagreed(f"{len(new)} disagreement(s) at the end of the script")
        # A disagreement found in a rule was recorded there; keep it too.

    # -- the rules: one per operation ---------------------------------------------------
    @precondition(lambda self: self.live and len(self.cgroups) < 7)
    @rule(data=st.data())
    def mkcg(self, data):
        current = self.checker.state.get("current", "")
        parents = [c for c in self.cgroups
                   if (c == "" or c.count("/") < 2) and (c == "" or c != current)]
        parent = data.draw(st.sampled_from(parents))
        name = f"c{len(self.cgroups)}"
        path = f"{parent}/{name}" if parent else name
        if self._do({"op": "mkcg", "path": path}):
            self.cgroups.append(path)

    # Not twice in a row: a move is only worth something if a step follows it.
    @precondition(lambda self: self.live and self.last_op != "enter")
    @rule(data=st.data())
    def enter(self, data):
        leaves = [c for c in self.cgroups
                  if c == "" or not any(o.startswith(c + "/") for o in self.cgroups)]
        self._do({"op": "enter", "path": data.draw(st.sampled_from(leaves)) or "/"})

    @precondition(lambda self: self.live and len(self.cgroups) > 1)
    @rule(data=st.data(), writeback=st.booleans())
    def set_writeback(self, data, writeback):
        path = data.draw(st.sampled_from(self.cgroups[1:]))
        self._do({"op": "cgset", "path": path, "file": "memory.zswap.writeback",
                  "value": int(writeback)})

    @precondition(lambda self: self.live and len(self.cgroups) > 1)
    @rule(data=st.data(), value=st.sampled_from(_MAX_VALUES))
    def set_zswap_max(self, data, value):
        path = data.draw(st.sampled_from(self.cgroups[1:]))
        self._do({"op": "cgset", "path": path, "file": "memory.zswap.max", "value": value})

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def param(self, data):
        name = data.draw(st.sampled_from(["max_pool_percent", "max_pool_percent",
                                          "accept_threshold_percent", "enabled",
                                          "compressor", "shrinker_enabled"]))
        if name == "max_pool_percent":
            value = data.draw(st.sampled_from([1, 1, 2, 20]))
        elif name == "accept_threshold_percent":
            value = data.draw(st.sampled_from([0, 50, 90, 100]))
        elif name == "compressor":
            value = data.draw(st.sampled_from(self.ctx.campaign.compressors))
        elif name == "shrinker_enabled":
            value = False  # the memory-pressure shrinker is not modelled (see the README)
        else:
            value = data.draw(st.booleans())
        self._do({"op": "param", "name": name, "value": value})

    @precondition(lambda self: self.live and self.nregion < 8)
    @rule(data=st.data(), kind=st.sampled_from(_KINDS), seed=st.integers(0, 7))
    def store_new(self, data, kind, seed):
        fp = data.draw(st.sampled_from(_FOLIO_WEIGHTS))
        if data.draw(st.integers(0, 1 if self.focus == "pool" else 7)) == 0:
            pages = data.draw(st.sampled_from([256, 512, 768]))  # enough to fill the pool
            pages -= pages % fp
            kind = "mostly-random"
        else:
            pages = fp * data.draw(st.integers(1, max(1, 32 // fp)))
        name = f"r{self.nregion}"
        self.nregion += 1
        if self._do({"op": "store", "region": name, "pages": pages, "folio_pages": fp,
                     "content": self._kind(kind), "seed": seed}):
            self.model_regions.add(name)

    def _kind(self, kind: str) -> str:
        """`kind`, or random where the corpus has no exact-fit page of that size
        for the compressor in use (the search does not always find one)."""
        compressor = self.checker.state["compressor"]
        if kind.startswith("fit") and f"{kind}:{compressor}" not in self.ctx.sections:
            return "random"
        return kind

    # Stores are what the rest of a script works on: drawn twice as often.
    @precondition(lambda self: self.live and self.nregion < 8)
    @rule(data=st.data(), kind=st.sampled_from(_KINDS), seed=st.integers(0, 7))
    def store_new_again(self, data, kind, seed):
        self.store_new(data, kind, seed)

    def _region(self, data):
        return data.draw(st.sampled_from(sorted(self.model_regions)))

    @precondition(lambda self: self.live and self.model_regions)
    @rule(data=st.data())
    def store_again(self, data):
        self._do({"op": "store", "region": self._region(data)})

    @precondition(lambda self: self.live and self.model_regions)
    @rule(data=st.data())
    def load(self, data):
        self._do({"op": "load", "region": self._region(data)})

    @precondition(lambda self: self.live and self.model_regions)
    @rule(data=st.data(), kind=st.sampled_from(_KINDS), seed=st.integers(0, 7))
    def redirty(self, data, kind, seed):
        self._do({"op": "redirty", "region": self._region(data), "content": self._kind(kind),
                  "seed": seed})

    @precondition(lambda self: self.live and self.model_regions)
    @rule(data=st.data())
    def free(self, data):
        region = self._region(data)
        if self._do({"op": "free", "region": region}):
            self.model_regions.discard(region)

    @precondition(lambda self: self.live and len(self.cgroups) > 1)
    @rule(data=st.data())
    def reclaim(self, data):
        self._do({"op": "reclaim", "path": data.draw(st.sampled_from(self.cgroups[1:]))})

    # No precondition: a script that stopped early (a step the model cannot
    # predict, or out of time) still has a rule to run, doing nothing.
    @rule(settle=st.sampled_from([False] * 39 + [True]))  # settle sleeps 2.1 s: rarely
    def wait(self, settle):
        self._do({"op": "settle" if settle else "wait"})


def _keep(ctx, result: ScriptResult, new: list[ScriptDisagreement]) -> None:
    """Save a failing script if it is the first or the smallest of its kind."""
    sig = new[0].signature()
    nsteps = len(result.script.steps)
    best = ctx.best.get(sig)
    ctx.shrink_started.setdefault(sig, time.monotonic())
    if best is not None and best[0] <= nsteps:
        return
    folder = ctx.campaign.findings / f"{ctx.campaign.compressor}-{_slug(sig)}"
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_reproducer(tmp, result, kernel=ctx.campaign.kernel,
                    corpus_digest=getattr(ctx.runner, "corpus_digest", ""),
                    serial_log=getattr(ctx.runner.session, "log_path", None))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)  # a reader sees the old reproducer or the new, never half
    ctx.best[sig] = (nsteps, folder, new[0])


def _slug(sig: tuple) -> str:
    return "-".join(str(s) for s in sig).replace(".", "_").replace(" ", "_")[:60]


# ---- the campaign ---------------------------------------------------------------------

def _machine_settings(c: Campaign):
    return settings(max_examples=CHUNK_EXAMPLES, stateful_step_count=c.steps_per_script,
                    deadline=None, database=None, print_blob=False,
                    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
                    suppress_health_check=list(HealthCheck))


def _finding_json(sig, best, c: Campaign) -> dict:
    nsteps, folder, d = best
    return {"step": d.step, "op": d.op, "field": d.field, "cgroup": d.cgroup,
            "kernel": d.kernel, "model": d.model, "reproducer": str(folder / "script.toml"),
            "script_steps": nsteps}


def _engine_fault(e: BaseException) -> bool:
    """Was `e` raised inside Hypothesis's engine rather than by the machine's steps?"""
    tb = e.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return (last is not None and f"{os.sep}hypothesis{os.sep}internal{os.sep}" in last
            and e.__cause__ is None and e.__context__ is None)


def run_campaign(c: Campaign, setup, progress=None) -> CampaignRun:
    """Fuzz one compressor until the budget (wall-clock seconds) is spent.

    `setup()` gives (start_session, make_model, exact_sizes, corpus):
    `start_session()` boots a fresh guest, `make_model(script, cursor)` a
    fresh model run."""
    from hypothesis.reporting import with_reporter

    run = CampaignRun(c.kernel, c.compressor)
    started = time.monotonic()
    end = started + c.budget
    start_session, make_model, exact, corpus = setup()
    c.findings.mkdir(parents=True, exist_ok=True)
    ctx = _Context
    ctx.campaign, ctx.run, ctx.known, ctx.best = c, run, set(), {}
    ctx.sections = set(corpus.sections)
    session = runner = None
    chunk = 0
    try:
        while time.monotonic() < end - 5:
            if session is None:
                session = start_session()
                run.boots += 1
                run.boot_seconds += session.last_boot_seconds
                runner = ScriptRunner(session, make_model, exact_sizes=exact)
                runner.corpus_digest = corpus.digest()

                def restart_guest():
                    nonlocal session
                    session.close()
                    session = start_session()
                    run.boots += 1
                    run.boot_seconds += session.last_boot_seconds
                    runner.restart(session)

                ctx.restart_guest = restart_guest
            ctx.runner = runner
            ctx.shrink_started = {}
            ctx.deadline = end
            test = get_state_machine_test(KernelScriptMachine, settings=_machine_settings(c))
            if c.seed is not None:
                test._hypothesis_internal_use_seed = c.seed + chunk
            try:
                with with_reporter(lambda *_: None):
                    test()
            except KeyboardInterrupt:
                raise
            except _GuestLost as e:
                run.guest_failures.append(_guest_failure(e, runner, c))
                session.close()
                session = None
            except BaseException as e:  # noqa: BLE001 - a finding, or a crash to report
                from hypothesis.errors import Flaky

                lost = _cause(e, _GuestLost)
                if lost is not None:
                    run.guest_failures.append(_guest_failure(lost, runner, c))
                    session.close()
                    session = None
                elif _cause(e, Flaky) is not None or _engine_fault(e):
                    # A replay that went differently (the deadline made a late
                    # example inert, or a known disagreement stopped counting):
                    # what was kept is kept; the next chunk goes on.  The same for
                    # an error inside Hypothesis's own engine (its target optimiser
                    # can index past a shortened example, seen with 6.170): the
                    # search broke off, nothing of ours failed.
                    run.flaky += 1
                elif not _cause(e, _Disagreed) and not ctx.best.keys() - ctx.known:
                    run.error = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                    break
            for sig in sorted(ctx.best.keys() - ctx.known):
                run.disagreements.append(_finding_json(sig, ctx.best[sig], c))
                ctx.known.add(sig)
            chunk += 1
            run.seconds = time.monotonic() - started
            if progress is not None:
                progress(run)
    finally:
        if session is not None:
            session.close()
        run.seconds = time.monotonic() - started
    return run


def _cause(e: BaseException, kind):
    """`e` or an exception it was raised from (or groups), if of `kind`."""
    seen = set()
    todo = [e]
    while todo:
        x = todo.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, kind):
            return x
        todo += [x.__cause__, x.__context__]
        if isinstance(x, BaseExceptionGroup):
            todo += list(x.exceptions)
    return None


def _guest_failure(e: Exception, runner, c: Campaign) -> dict:
    """A guest that died: the script and step it was running, its serial log kept."""
    result = getattr(runner, "result", None)
    steps = len(result.script.steps) if result is not None else 0
    folder = c.findings / f"{c.compressor}-guest-{len(list(c.findings.glob('*-guest-*')))}"
    log = getattr(runner.session, "log_path", None)
    if result is not None:
        save_reproducer(folder, result, kernel=c.kernel,
                        corpus_digest=getattr(runner, "corpus_digest", ""), serial_log=log)
    last = result.script.steps[-1].op if result is not None and steps else None
    return {"error": str(e), "step": steps, "op": last, "script_steps": steps,
            "reproducer": str(folder / "script.toml") if result is not None else None,
            "serial_log": str(folder / "serial.log") if log else None}

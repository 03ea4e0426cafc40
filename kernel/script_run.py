"""Run workload scripts on a live guest and on the model, step by step, and
compare every step.

What is compared, and how memcg's lazy statistics are handled:

- zswap's debugfs files, the zswap events of /proc/vmstat and the number of
  finished shrink-worker runs are exact at every read (atomics, per-CPU
  event sums folded on read, trace events): compared after every step.
  Cumulative ones count from the script's start: the kernel's are taken as
  differences from the values read right after the reset (`normalize`); the
  gauges (pool_total_size, stored_pages, stored_incompressible_pages) are
  compared as read, so anything a previous script left behind shows.
- memory.stat is folded from per-CPU deltas lazily: a read flushes only
  when more than a batch of updates (64 per CPU) is pending, otherwise a
  periodic flush does within 2 s, so a read can be stale.  After every step
  it is compared; where it differs, the guest is asked to `flush` and it is
  compared again; only a difference that survives is a disagreement.  The
  agent's `flush` faults in and frees 256 pages, hundreds of updates, which
  puts the root cgroup past the batch, and the agent reads the root's
  memory.stat first, whose flush covers the whole hierarchy: every value
  then read is exact (the `settle` step, a 2.1 s sleep past the periodic
  flush, gets the same from the other side).  Every script ends with a
  flushed read compared in full.  A difference that persists is therefore
  always seen, at the latest at the script's final read where every value is
  exact; a stale read that happens to equal the model's hides a difference
  only until that point.
- Regions: pages swapped out and resident (from the guest's pagemap) after
  every step; the kernel's count of pages that read back wrong must be 0.
- Sizes (pool_total_size, memcg `zswap`) are compared only when the model
  compresses with the kernel's own compressor code.

A store whose folios the guest could not get at the size asked (an mTHP
allocation that fell back) makes the rest of that script not comparable:
it is reported as such, never as a disagreement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from zswap_spec.model.memcg import MEMCG_STATS

from .compare import COMPARED, SIZE_DEPENDENT
from .script import Script, Step, agent_line
from .script_model import NotModelled

__all__ = ["normalize", "compare_records", "ScriptDisagreement", "ScriptResult", "ScriptRunner",
           "GAUGES", "layout_of"]

GAUGES = ("pool_total_size", "stored_pages", "stored_incompressible_pages")
VMSTAT = COMPARED["vmstat"]  # the kernel check's names, compared the same way
MEMCG_EVENTS = ("zswpin", "zswpout", "zswpwb")
MEMCG_NAMES = MEMCG_STATS


@dataclass(frozen=True)
class ScriptDisagreement:
    step: int
    op: str
    field: str  # e.g. counter.stored_pages, memcg.zswpwb, region.swapped
    cgroup: str | None  # memcg fields: the cgroup; region fields: the region
    kernel: object
    model: object

    def to_json(self) -> dict:
        return dict(self.__dict__)

    def signature(self) -> tuple:
        """What makes two disagreements the same one for the fuzzer's bookkeeping:
        the field that differs (one cause shows after many kinds of step, and
        shrinking may change which step shows it first)."""
        return (self.field,)


def normalize(raw: dict, baseline: dict) -> dict:
    """A kernel record (session.step's) in the model's terms: cumulative
    values as differences from `baseline` (the record read after the reset)."""
    counter = {k: v if k in GAUGES else v - baseline["counter"].get(k, 0)
               for k, v in raw.get("counter", {}).items()}
    vmstat = {k: raw["vmstat"][k] - baseline["vmstat"].get(k, 0)
              for k in VMSTAT if k in raw.get("vmstat", {})}
    memcg = {}
    for path, values in raw.get("memcg", {}).items():
        if path == "/":  # the only cgroup that outlives a script
            base = baseline.get("memcg", {}).get("/", {})
            memcg[path] = {k: v - base.get(k, 0) if k in MEMCG_EVENTS else v
                           for k, v in values.items() if k in MEMCG_NAMES}
        else:
            memcg[path] = {k: v for k, v in values.items() if k in MEMCG_NAMES}
    worker = raw.get("worker", {})
    runs = worker.get("ended", 0) - baseline.get("worker", {}).get("ended", 0)
    return {"counter": counter, "vmstat": vmstat, "memcg": memcg,
            "regions": {n: dict(r) for n, r in raw.get("regions", {}).items()},
            "worker": {"shrink_worker_runs": runs},
            "pending": worker.get("queued", 0) - worker.get("ended", 0)}


def layout_of(folio_pages: int, pages: int) -> str:
    """The run-length folio layout a store asked for (`agent.c`'s coding)."""
    return f"{pages // folio_pages}x{folio_pages}"


def compare_records(step_no: int, op: str, kernel: dict, model: dict, *, exact_sizes: bool,
                    memcg: bool = True) -> list[ScriptDisagreement]:
    out: list[ScriptDisagreement] = []

    def diff(fieldname, where, k, m):
        if k != m:
            out.append(ScriptDisagreement(step_no, op, fieldname, where, k, m))

    for source in ("counter", "vmstat", "worker"):
        k_vals, m_vals = kernel.get(source, {}), model.get(source, {})
        for name in sorted(set(k_vals) | set(m_vals)):
            if source == "counter" and name not in m_vals:
                continue  # a debugfs file the model does not keep
            if (source, name) in SIZE_DEPENDENT and not exact_sizes:
                continue
            diff(f"{source}.{name}", None, k_vals.get(name), m_vals.get(name))
    if memcg:
        for path in sorted(set(kernel.get("memcg", {})) | set(model.get("memcg", {}))):
            k_vals = kernel.get("memcg", {}).get(path)
            m_vals = model.get("memcg", {}).get(path)
            if k_vals is None or m_vals is None:
                diff("memcg", path, "present" if k_vals else "absent",
                     "present" if m_vals else "absent")
                continue
            for name in MEMCG_NAMES:
                if ("memcg", name) in SIZE_DEPENDENT and not exact_sizes:
                    continue
                if name in k_vals:
                    diff(f"memcg.{name}", path, k_vals[name], m_vals.get(name))
    for region in sorted(set(kernel.get("regions", {})) | set(model.get("regions", {}))):
        k_r = kernel.get("regions", {}).get(region)
        m_r = model.get("regions", {}).get(region)
        if k_r is None or m_r is None:
            diff("region", region, "present" if k_r else "absent", "present" if m_r else "absent")
            continue
        for name in ("pages", "swapped", "resident"):
            diff(f"region.{name}", region, k_r.get(name), m_r.get(name))
        if k_r.get("bad"):
            diff("region.bad", region, k_r["bad"], 0)
    return out


@dataclass
class ScriptResult:
    script: Script
    kernel_trace: list[dict] = field(default_factory=list)
    model_trace: list[dict] = field(default_factory=list)
    disagreements: list[ScriptDisagreement] = field(default_factory=list)
    not_compared: str | None = None  # why the rest of the script was not compared
    steps: int = 0
    seconds: float = 0.0
    session: object = None  # the guest it ran on (release, totalram_pages)
    exact_sizes: bool = True

    @property
    def agree(self) -> bool:
        return not self.disagreements

    def to_json(self) -> dict:
        return {"steps": self.steps, "seconds": round(self.seconds, 3),
                "disagreements": [d.to_json() for d in self.disagreements],
                "not_compared": self.not_compared}


class ScriptRunner:
    """One guest session and the model, run side by side script by script.

    `make_model(script, start_cursor)` gives a fresh `ScriptModel`.  The
    model's shrink-worker cursor is the one piece of zswap state that
    survives the guest's reset: the runner hands the model the cursor the
    previous script left (see `next_cursor`)."""

    def __init__(self, session, make_model, *, exact_sizes: bool):
        self.session = session
        self.make_model = make_model
        self.exact_sizes = exact_sizes
        self.cursor = "none"  # where the kernel's zswap_next_shrink is now: none | root | unknown
        self.steps = 0
        self.scripts = 0

    # The incremental interface the fuzzer drives, one step at a time.
    @property
    def needs_fresh_guest(self) -> bool:
        """The kernel's shrink cursor is unknown (its worker ran in a step the
        model could not predict): only a fresh boot puts it at a known place."""
        return self.cursor == "unknown"

    def restart(self, session) -> None:
        """Carry on with a freshly booted guest (its cursor at NULL)."""
        self.session = session
        self.cursor = "none"

    def begin(self, script: Script) -> ScriptResult:
        self.result = ScriptResult(script, session=self.session, exact_sizes=self.exact_sizes)
        self.result.script = script if script.start_cursor == self.cursor else \
            _with_cursor(script, self.cursor)
        self._started = time.monotonic()
        self.baseline = self.session.reset(script.compressor)
        self.model = self.make_model(script, self.cursor)
        k0 = normalize(self.baseline, self.baseline)
        m0 = self.model.start_record()
        self.result.kernel_trace.append(k0)
        self.result.model_trace.append(m0)
        # Leftovers of an earlier script show in the gauges here.
        self.result.disagreements += compare_records(0, "reset", k0, m0,
                                                     exact_sizes=self.exact_sizes)
        self.scripts += 1
        return self.result

    def step(self, n: int, step: Step) -> list[ScriptDisagreement]:
        """Run step `n` (1-based) on both; its disagreements (also kept)."""
        res = self.result
        if res.not_compared is not None:
            return []
        raw = self.session.step(agent_line(step, res.script.base))
        kernel = normalize(raw, self.baseline)
        try:
            model = self.model.step(step)
        except NotModelled as e:  # the kernel's answer is kept; the rest is not compared
            res.not_compared = str(e)
            before = res.kernel_trace[-1]["worker"]["shrink_worker_runs"]
            if kernel["worker"]["shrink_worker_runs"] != before or kernel.get("pending"):
                # The kernel's shrink worker ran in a step the model did not:
                # where its cursor is now is not known.
                self.cursor = "unknown"
            res.kernel_trace.append(kernel)
            return []
        self.steps += 1
        res.steps += 1
        if step.op == "store" and "pages" in step.args:
            want = layout_of(step.args["folio_pages"], step.args["pages"])
            got = kernel["regions"].get(step.args["region"], {}).get("layout")
            if got is not None and got != want:
                res.not_compared = (f"step {n} (store {step.args['region']}): the guest got "
                                    f"folios {got}, not {want}; the rest is not compared")
                res.kernel_trace.append(kernel)
                res.model_trace.append(model)
                return []
        found = compare_records(n, step.op, kernel, model, exact_sizes=self.exact_sizes)
        if any(d.field.startswith("memcg") for d in found) and step.op != "settle":
            # memory.stat may be stale: read it again once it is exact.
            kernel = normalize(self.session.step("flush"), self.baseline)
            found = compare_records(n, step.op, kernel, model, exact_sizes=self.exact_sizes)
        res.kernel_trace.append(kernel)
        res.model_trace.append(model)
        res.disagreements += found
        return found

    def end(self) -> ScriptResult:
        """The final flushed read, compared in full; the cursor carried on."""
        res = self.result
        if res.not_compared is None:
            n = len(res.script.steps) + 1
            kernel = normalize(self.session.step("flush"), self.baseline)
            model = self.model.step(Step("settle", {}))
            res.kernel_trace.append(kernel)
            res.model_trace.append(model)
            res.disagreements += compare_records(n, "settle (end)", kernel, model,
                                                 exact_sizes=self.exact_sizes)
        if self.cursor != "unknown":
            self.cursor = next_cursor(self.model)
        res.seconds = time.monotonic() - self._started
        return res

    def run(self, script: Script) -> ScriptResult:
        self.begin(script)
        for n, step in enumerate(script.steps, 1):
            self.step(n, step)
            if self.result.not_compared is not None:
                break
        return self.end()


def _with_cursor(script: Script, cursor: str) -> Script:
    """The script as it really ran: from the cursor the guest had (a
    reproducer then says where the worker's walk started)."""
    import copy

    out = copy.copy(script)
    out.start_cursor = cursor
    return out


def next_cursor(model) -> str:
    """Where the kernel's shrink cursor is once the guest's reset has removed
    the script's cgroups: removing the cgroup the cursor is on moves it on
    to the next online cgroup in pre-order (mm/zswap.c
    `zswap_memcg_offline_cleanup`, Linux 7.3.4), and only the root stays
    online, so the cursor ends at the root if it was there, else at NULL."""
    zs = model.zs
    return "root" if zs.zswap_next_shrink is zs.root else "none"


def save_reproducer(folder: Path, result: ScriptResult, *, kernel: str, corpus_digest: str,
                    serial_log: Path | None = None) -> Path:
    """Write the script, both traces and the disagreements into `folder` at once."""
    import json
    import shutil

    from .script import dump_script

    folder.mkdir(parents=True, exist_ok=True)
    script = result.script
    (folder / "script.toml").write_text(dump_script(script))
    session = getattr(result, "session", None)
    meta = {"kernel": kernel, "release": getattr(session, "release", None),
            "totalram_pages": getattr(session, "totalram_pages", None),
            "exact_sizes": result.exact_sizes, "corpus": corpus_digest,
            "start_cursor": script.start_cursor}
    (folder / "kernel.json").write_text(json.dumps({**meta, "trace": result.kernel_trace},
                                                   indent=1))
    (folder / "model.json").write_text(json.dumps({**meta, "trace": result.model_trace},
                                                  indent=1))
    (folder / "disagreements.json").write_text(json.dumps(
        {"kernel": kernel, "corpus": corpus_digest,
         "disagreements": [d.to_json() for d in result.disagreements],
         "run": f"zswap-spec kernel-check --kernel {kernel} --script {folder / 'script.toml'}"},
        indent=1))
    for f in script.files():  # content = "file" pages travel with the script
        shutil.copy(f, folder / f.name)
    if serial_log is not None and Path(serial_log).is_file():
        shutil.copy(serial_log, folder / "serial.log")
    return folder

"""`zswap-spec fuzz --cluster ADDRESS`: the campaigns as tasks of a Dask cluster.

Each campaign is one task.  The run's budget is wall-clock time, as on this
machine: the campaigns are planned in waves of the cluster's worker processes
(`plan_campaigns` with that width) and each, as it starts, takes an even share
of the time left to its wave and the waves after it (the run's deadline goes to
the workers as a wall-clock time, so their clocks should agree, as NTP keeps
them).  A worker process runs one campaign at a time, whatever its threads.

A campaign saves its findings on the worker in a folder of its own, and hands
them back with its result; this machine saves them in the findings folder as a
run here does (`findings.claim_file`: the same names, the same text, a finding
found again reusing its file), so `campaigns.json`, the table and the JSON are
those of a run here.  The example database is opened on each worker: Redis
(`--db redis://...`) is shared by every machine; a folder is opened at the same
path on each worker's machine (by default its own cache's).

A task is pure (a campaign and its database), so the scheduler runs again the
campaigns of a worker that is lost (killed, out of memory); one lost with its
worker every time it ran is reported as not run.  An interrupt raises a stop
flag the campaigns look at every quarter of a second: the running ones hand back
what they did within about GRACE seconds, the others are cancelled.
"""

from __future__ import annotations

import math
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from zswap_spec.replay.cluster import (CONNECT_TIMEOUT, ClusterError, StopFlag, call_within, close,
                                       connect, failed_task, one_task_at_a_time, quiet_dask,
                                       stop_tasks, worker_address)

from .campaign import Campaign, CampaignResult, DatabaseError, open_database, run_campaign
from .findings import claim_file
from .run import GRACE, RERUN_FLOOR, FuzzRun, _plural, _unrun

__all__ = ["FuzzCluster", "ClusterError", "db_note"]

RETRIES = 1  # a campaign task that raises (not a finding: a crash of the task) runs once more

def db_note(db_spec: str | None) -> str | None:
    """What to say about the example database on a cluster (None: nothing)."""
    if db_spec is not None and "://" in db_spec:
        return None
    where = "each worker's own cache" if db_spec is None else f"the folder {db_spec}"
    return (f"the example database is {where}, opened on every worker's machine: workers "
            f"share counterexamples only through a file system they share; give "
            f"--db redis://HOST:PORT/N to share them across machines")


def _worker_db(db_spec: str | None):
    if db_spec is None:
        from zswap_spec.support.cache import cache_dir

        return open_database(None, cache_dir() / "fuzz-db")
    return open_database(db_spec, Path(db_spec))


def _stem(folder: Path, name: str) -> str:
    """The stem `claim_file` was given for `name` in a folder of one campaign's findings:
    `stem_2.py` is the second of `stem`, when `stem.py` is there too."""
    m = re.fullmatch(r"(.+)_(\d+)\.py", name)
    if m and (folder / f"{m[1]}.py").exists():
        return m[1]
    return name[:-3]


def _campaign_task(campaign: Campaign, db_spec: str | None, wave: int, waves: int,
                   run_deadline: float, flag: str):
    """On a worker: one campaign, its findings saved in a folder of its own and handed
    back as (finding index, stem, name, text), with the result."""
    from zswap_spec.pool import CoreUnavailable

    stop = StopFlag(flag)
    with one_task_at_a_time:
        if stop():
            return _unrun(campaign, "interrupted before it started"), []
        left = run_deadline - time.time()
        # An even share of the time left among the waves still to come, this one
        # included; one that starts after the run's deadline (run again after its
        # worker was lost) still gets a moment.
        share = left / max(1, waves - wave) if left > 0 else RERUN_FLOOR
        deadline = time.monotonic() + share
        try:
            database = _worker_db(db_spec)
        except (DatabaseError, ValueError, OSError) as e:
            return _unrun(campaign, f"on the worker at {worker_address()}: {e}"), []
        folder = Path(tempfile.mkdtemp(prefix="zswap-spec-findings-"))
        try:
            try:
                result = run_campaign(campaign, database, folder, deadline=deadline, stop=stop)
            except CoreUnavailable as e:
                return _unrun(campaign, f"on the worker at {worker_address()}: {e}"), []
            files = []
            for k, f in enumerate(result.findings):
                path = Path(f.reproducer)
                if path.parent == folder and path.is_file():
                    files.append((k, _stem(folder, path.name), path.name, path.read_text()))
            return result, files
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _save(result: CampaignResult, files, found: Path) -> None:
    """The campaign's findings saved here, as a run here saves them."""
    for k, stem, name, text in files:
        finding = result.findings[k]
        try:
            path = claim_file(found, stem,
                              lambda new, text=text, name=name: text.replace(name, new))
            finding.reproducer = str(path)
        except OSError as e:  # a full disk, a folder gone: the finding stays in the table
            finding.reproducer = (f"not saved ({e.strerror or e}); the table and JSON hold "
                                  f"what it found")


class FuzzCluster:
    """A connection to a Dask scheduler that runs fuzz campaigns (`with` closes it)."""

    def __init__(self, address: str, connect_timeout: float = CONNECT_TIMEOUT):
        self.address = address
        self.client = connect(address, connect_timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.client is not None:
            close(self.client)
            self.client = None

    @property
    def width(self) -> int:
        """Campaigns the cluster runs at once: one per worker process."""
        try:
            with quiet_dask():
                return max(1, len(self.client.scheduler_info(n_workers=-1).get("workers", {})))
        except TypeError:  # a distributed without n_workers=
            return max(1, len(self.client.scheduler_info().get("workers", {})))

    def run(self, campaigns: list[Campaign], db_spec: str | None, findings_dir: Path,
            live: bool, budget: float | None = None) -> FuzzRun:
        """Every campaign, all within `budget` seconds from now (by default the
        campaigns' own budgets, in waves of `width`); results in plan order.  An
        interrupt (KeyboardInterrupt) ends the run within about GRACE seconds:
        `FuzzRun.interrupted`, the campaigns' results as far as they got."""
        from distributed import as_completed

        n = len(campaigns)
        width = max(1, min(self.width, n))
        waves = math.ceil(n / width) if n else 0
        if budget is None:
            budget = sum(c.budget for c in campaigns[::width]) if campaigns else 0.0
        if db_spec is not None and "://" not in db_spec:
            db_spec = str(Path(db_spec).absolute())
        run = FuzzRun([None] * n)
        client = self.client
        token = uuid.uuid4().hex[:12]
        flag = f"zswap-spec-fuzz-stop-{token}"
        run_deadline = time.time() + budget
        futures: dict = {}
        started = time.monotonic()
        try:
            with quiet_dask():
                for i, c in enumerate(campaigns):
                    f = client.submit(_campaign_task, c, db_spec, i // width, waves, run_deadline,
                                      flag, key=f"zswap-fuzz-{token}-{i}", pure=False,
                                      retries=RETRIES, priority=n - i)
                    futures[f] = i
                if live:
                    _progress_line(run, n, started)
                for f in as_completed(list(futures), loop=client.loop):
                    self._take(f, futures[f], campaigns, run, findings_dir)
                    if live:
                        _progress_line(run, n, started)
        except KeyboardInterrupt:
            run.interrupted = True
            self._interrupted(futures, flag, campaigns, run, findings_dir)
        finally:
            if live:
                sys.stderr.write("\n")
            self.close()
        return run

    def _take(self, f, i: int, campaigns, run: FuzzRun, findings_dir: Path) -> None:
        """The result of campaign i's task, its findings saved here."""
        try:
            result, files = f.result()
        except Exception as e:  # noqa: BLE001 - sorted by failed_task
            c = campaigns[i]
            what = f"the campaign {c.variant}/{c.compressor} ({','.join(c.faults) or 'no faults'})"
            err = failed_task(self.address, e, what)
            if not isinstance(err, ClusterError):
                raise err from None
            run.results[i] = _unrun(c, str(err))
            return
        _save(result, files, findings_dir)
        run.results[i] = result

    def _interrupted(self, futures, flag: str, campaigns, run: FuzzRun, findings_dir: Path):
        """Stop the campaigns, take what the running ones hand back within GRACE, and
        say of each other campaign whether it was under way."""
        from distributed import Event

        client = self.client

        def running_now():
            return {str(k) for keys in client.processing().values() for k in keys}

        def stop_and_wait():
            Event(flag, client=client).set()
            until = time.monotonic() + GRACE
            while time.monotonic() < until and not all(f.done() for f in futures):
                time.sleep(0.05)

        with quiet_dask():
            try:
                running = call_within(running_now, GRACE)
            except BaseException:  # noqa: BLE001 - the scheduler gone: none known to run
                running = set()
            try:
                call_within(stop_and_wait, GRACE + 1.0)
            except BaseException:  # noqa: BLE001 - a timeout, or the scheduler gone
                pass
            for f, i in futures.items():
                if run.results[i] is None and f.status == "finished":
                    try:
                        self._take(f, i, campaigns, run, findings_dir)
                    except Exception:  # noqa: BLE001 - its result lost: reported below
                        pass
            stop_tasks(client, [f for f in futures if not f.done()], None)
        for f, i in futures.items():
            if run.results[i] is None:
                if str(f.key) in running:
                    run.results[i] = _unrun(campaigns[i], "interrupted", status="stopped")
                else:
                    run.results[i] = _unrun(campaigns[i], "interrupted before it started")


def _progress_line(run: FuzzRun, n: int, started: float) -> None:
    done = [r for r in run.results if r is not None]
    found = sum(len(r.findings) for r in done)
    elapsed = time.monotonic() - started
    sys.stderr.write(f"\rfuzz: {len(done)}/{_plural(n, 'campaign')} done on the cluster, "
                     f"{_plural(found, 'finding')}, {elapsed:.0f} s   ")
    sys.stderr.flush()

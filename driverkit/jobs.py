"""Checking several drivers at once: one process per driver, at most `jobs`
at a time, each from the package's fork server and ending with its parent.

Whatever happens to one of them costs that driver's report only: a process
that ends without a report (killed, out of memory) gives a report that says
so, and a bug of the kit's while checking one driver gives a report naming
the bug (its traceback kept in `DriverReport.internal`); the other drivers
are checked.  An interrupt (Ctrl-C, SIGTERM) kills every running check at
once; the reports so far are with the caller, through `on_done`.
"""

from __future__ import annotations

import os
import signal
import traceback
from multiprocessing.connection import wait

from zswap_spec.support.processes import context, worker_setup

from .conformance import DriverReport, KitOptions, check_target
from .targets import Target

__all__ = ["check_targets", "checked_safely"]


def checked_safely(target: Target, options: KitOptions) -> DriverReport:
    """`check_target`, with a bug of the kit's turned into that driver's report."""
    try:
        return check_target(target, options)
    except Exception as e:  # noqa: BLE001 - one driver's report, not the whole run
        report = DriverReport(target.label, target.name or target.label,
                              seeded_bug=target.seeded_bug)
        report.error = (f"{target.label}: the kit failed while checking it "
                        f"({type(e).__name__}: {str(e)[:200]}); a bug in zswap-spec, please "
                        f"report it with the driver")
        report.internal = traceback.format_exc()
        return report


def _job(conn, target: Target, options: KitOptions, command_pid: int) -> None:
    worker_setup(command_pid)  # dies with the command; Ctrl-C is the command's
    conn.send(checked_safely(target, options))
    conn.close()


def _lost(target: Target, exitcode) -> DriverReport:
    how = (f"killed by {signal.Signals(-exitcode).name}" if exitcode is not None and exitcode < 0
           and -exitcode in signal.Signals._value2member_map_ else f"exit code {exitcode}")
    report = DriverReport(target.label, target.name or target.label, seeded_bug=target.seeded_bug)
    report.error = (f"{target.label}: the process checking this driver ended without a report "
                    f"({how}); check it alone to see why")
    return report


def check_targets(targets: list[Target], options: KitOptions, jobs: int = 1,
                  on_done=None) -> list[DriverReport]:
    """Check every target, `jobs` at a time; a report per target, in the targets'
    order.  `on_done(index, report)` is called as each one ends (an interrupt leaves
    the reports so far with the caller that way)."""
    reports: list = [None] * len(targets)

    def done(i: int, report: DriverReport) -> None:
        reports[i] = report
        if on_done:
            on_done(i, report)

    if jobs <= 1 or len(targets) <= 1:
        for i, t in enumerate(targets):
            done(i, checked_safely(t, options))
        return reports
    ctx = context()
    seconds = _durations()
    # Longest first (as far as earlier runs tell): a slow driver started last
    # would leave the other workers idle at the end.
    pending = sorted(enumerate(targets), key=lambda it: -seconds.get(_key(it[1]), 1e9))
    running: dict = {}  # index -> (process, the end its report comes from)
    try:
        while pending or running:
            while pending and len(running) < jobs:
                i, t = pending.pop(0)
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_job, args=(writer, t, options, os.getpid()),
                                   daemon=True)
                proc.start()
                writer.close()
                running[i] = (proc, reader)
            ready = set(wait([r for _, r in running.values()]
                             + [p.sentinel for p, _ in running.values()]))
            for i, (proc, reader) in list(running.items()):
                if reader not in ready and proc.sentinel not in ready:
                    continue
                report = None
                try:
                    report = reader.recv()
                except Exception:  # noqa: BLE001 - ended without a (readable) report
                    pass
                proc.join(5)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
                reader.close()
                del running[i]
                done(i, report if isinstance(report, DriverReport)
                     else _lost(targets[i], proc.exitcode))
    finally:
        for proc, reader in running.values():
            proc.kill()
        for proc, reader in running.values():
            proc.join(2)
            reader.close()
        _remember(targets, reports)
    return reports


def _key(target: Target) -> str:
    return f"{target.label}@{target.name or ''}"


def _durations_file():
    from zswap_spec.support.cache import cache_dir

    return cache_dir() / "driver-check-seconds.json"


def _durations() -> dict:
    import json

    try:
        data = json.loads(_durations_file().read_text())
        return {k: float(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


def _remember(targets: list[Target], reports: list) -> None:
    """Keep how long each check took, to start the longest first next time (a
    hint only: a file that cannot be written is left alone)."""
    import json

    from zswap_spec.support.files import atomic_write

    known = _durations()
    for t, r in zip(targets, reports):
        if isinstance(r, DriverReport) and r.error is None and r.seconds > 0:
            known[_key(t)] = round(r.seconds, 2)
    if len(known) > 4096:
        known = dict(list(known.items())[-4096:])
    try:
        _durations_file().parent.mkdir(parents=True, exist_ok=True)
        atomic_write(_durations_file(), json.dumps(known, indent=0, sort_keys=True))
    except Exception:  # noqa: BLE001 - a hint; never the reason a check fails
        pass

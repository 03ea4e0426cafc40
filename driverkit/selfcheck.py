"""The kit's check of itself, for `zswap-spec check`: every built-in driver
must conform and every seeded-bug driver must be rejected with the clause
spec/expected-drivers.toml names, on the fixed stages alone (no search, a
short time limit per call, 4 and 16 KiB pages, shorter bursts), so that it
takes seconds, not the minute of `check-driver --all-builtin`."""

from __future__ import annotations

import os
import time

from .abi import TargetError
from .conformance import DriverReport, KitOptions
from .jobs import check_targets
from .targets import builtin_targets

__all__ = ["check_catalogue"]


def _expected_text(r: DriverReport) -> str:
    return ", ".join(r.expected) if r.seeded_bug else "nothing"


def check_catalogue(call_timeout: float = 2.0, jobs: int | None = None
                    ) -> tuple[list[str], list[DriverReport], float]:
    """(mismatches with the catalogue, the reports, seconds)."""
    started = time.perf_counter()
    try:
        targets = builtin_targets()
    except TargetError as e:
        return [str(e)], [], time.perf_counter() - started
    options = KitOptions(budget=0, call_timeout=call_timeout, reproducers=None,
                         page_sizes=(4096, 16384), sequence_calls=1360)
    reports = check_targets(targets, options, jobs or min(2, os.cpu_count() or 1))
    bad = [f"{r.name}: found {', '.join(r.clauses) or 'nothing'}, expected {_expected_text(r)}"
           + (f" ({r.error})" if r.error else "")
           for r in reports if r.as_expected is False or (r.as_expected is None and
                                                          (not r.seeded_bug or r.error))]
    return bad, reports, time.perf_counter() - started

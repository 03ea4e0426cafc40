"""`zswap-spec fuzz`: campaigns over variants x compressors x faults, in
worker processes, within a time budget, with a live progress line."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.pool.api import CORE_FAULTS
from zswap_spec.model.faults import FAULTS
from zswap_spec.support.processes import context, process_pool

from .campaign import Campaign, open_database, run_campaign, save_summary

__all__ = ["plan_campaigns", "run_fuzz"]


def plan_campaigns(variants, compressors, faults: str, budget: float, workers: int, seed,
                   max_folio: int, impl: str = "model") -> list[Campaign]:
    """One campaign per variant x compressor x fault (`none`: the real compressors).

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
    per = budget * max(1, workers) / max(1, len(plan))
    return [Campaign(v, c, fs, budget=per, seed=seed, max_folio=max_folio, impl=impl)
            for v, c, fs in plan]


def _work(args):
    campaign, db_spec, db_dir, findings_dir, counters = args
    database = open_database(db_spec, Path(db_dir))

    def progress(result):
        key = (campaign.variant, campaign.compressor, campaign.faults)
        counters[key] = (result.examples, result.steps, len(result.findings))

    return run_campaign(campaign, database, Path(findings_dir), progress)


def run_fuzz(campaigns, db_spec, db_dir: Path, findings_dir: Path, workers: int, live: bool):
    """Every campaign, `workers` at a time; results in plan order."""
    with context().Manager() as manager:
        counters = manager.dict()
        jobs = [(c, db_spec, str(db_dir), str(findings_dir), counters) for c in campaigns]
        started = time.perf_counter()
        with process_pool(max(1, workers)) as pool:
            futures = [pool.submit(_work, j) for j in jobs]
            while live and not all(f.done() for f in futures):
                totals = [sum(x[i] for x in counters.values()) for i in range(3)] if counters else [0, 0, 0]
                elapsed = time.perf_counter() - started
                sys.stderr.write(f"\rfuzz: {sum(f.done() for f in futures)}/{len(futures)} campaigns, "
                                 f"{totals[0]} examples, {totals[1] / max(elapsed, 1e-9):.0f} steps/s, "
                                 f"{totals[2]} findings   ")
                sys.stderr.flush()
                time.sleep(0.5)
            results = [f.result() for f in futures]
        if live:
            sys.stderr.write("\n")
    save_summary(results, findings_dir)
    return results

"""`zswap-spec fuzz`: Fuzz the variants with real and misbehaving compressors."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from pathlib import Path

import click

from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.variants import VARIANTS

from .errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INTERNAL, EXIT_INTERRUPTED, InputError
from .options import check_names, choice_list, given, output_dir, refuse_beside, resolve_impl


@click.command()
@click.option("--variant", "variants", multiple=True,
              help=f"Variant (repeatable; default all): {choice_list(VARIANTS)}.")
@click.option("--compressor", "compressors", multiple=True,
              help=f"Compressor (repeatable; default lz4): {choice_list(ALGORITHMS)}.")
@click.option("--faults", default="none", show_default=True,
              help="none (real compressors), all (one campaign per fault), or NAME,NAME...")
@click.option("--budget", type=float, default=30.0, show_default=True,
              help="Seconds of wall-clock time for the whole run, whatever the workers and "
                   "campaigns (at most a week).")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Worker processes (1 to 64).")
@click.option("--db", "db_spec", help="Example database: a folder or redis://HOST:PORT/N "
              "(default: a folder in the cache).")
@click.option("--findings", "findings_dir", type=click.Path(), default="zswap-findings",
              show_default=True, help="Where findings are saved.")
@click.option("--seed", type=int, help="Seed, for a reproducible campaign.")
@click.option("--max-folio", type=int, default=512, show_default=True, help="Largest folio, in pages.")
@click.option("--replay", "replay_path", type=click.Path(), help="Re-run a saved finding and exit.")
@click.option("--per-unit", is_flag=True,
              help="Run the per-unit properties (each variant's page decision against "
                   "mainline's) instead of the pool state machine.")
@click.option("--backend", type=click.Choice(["hypothesis", "crosshair"]), default="hypothesis",
              show_default=True, help="How --per-unit explores: at random, or symbolically "
                                      "through CrossHair (implies --per-unit).")
@click.option("--impl", type=click.Choice(["auto", "core", "model"]), default="auto",
              show_default=True,
              help="Run the campaigns on the optimized core or on the model; auto: "
                   "ZSWAP_SPEC_IMPL if set, else the core when it implements the campaigns, else "
                   "the model (the pool machine drives memory.zswap.max and the shrinker's LRU "
                   "walk, which only the model implements, so auto takes the model).")
@click.option("--cluster", metavar="ADDRESS",
              help="Run each campaign as a task of the Dask scheduler at ADDRESS "
                   "(tcp://HOST:8786) instead of on local worker processes; needs "
                   "pip install 'zswap-spec[cluster]'.")
@click.option("--json", "as_json", is_flag=True, help='Print {"runs": [...]} as JSON.')
def fuzz(variants, compressors, faults, budget, workers, db_spec, findings_dir, seed, max_folio,
         replay_path, per_unit, backend, impl, cluster, as_json) -> None:
    """Fuzz the variants with real and misbehaving compressors; save every finding."""
    from zswap_spec.fuzz.campaign import DatabaseError, open_database
    from zswap_spec.fuzz.run import plan_campaigns, run_fuzz
    from zswap_spec.support.cache import cache_dir
    from zswap_spec.model.faults import FAULTS

    per_unit = per_unit or backend == "crosshair"
    _refuse_what_does_not_apply(click.get_current_context(), replay_path, per_unit)
    if replay_path:
        _replay(Path(replay_path))
    given_variants = check_names("variant", variants, VARIANTS)
    variants = given_variants or list(VARIANTS)
    compressors = check_names("compressor", compressors, ALGORITHMS) or ["lz4"]
    if faults not in ("none", "all"):
        check_names("fault", [f for f in faults.split(",") if f], FAULTS)
        if not faults.strip(","):
            raise InputError("--faults: give none, all, or fault names separated by commas")
    if not (math.isfinite(budget) and 0 < budget <= MAX_BUDGET):
        raise InputError(f"--budget {budget:g}: give a number of seconds above 0 and at most "
                         f"{MAX_BUDGET} (a week); it is the wall-clock time of the whole run")
    if not 1 <= workers <= MAX_WORKERS:
        raise InputError(f"--workers {workers}: give 1 to {MAX_WORKERS}, the most worker "
                         f"processes a run starts (this machine has {_cores()})")
    if not 1 <= max_folio <= 512:
        raise InputError(f"--max-folio {max_folio}: use 1 to 512")
    if cluster is not None and workers != 1:
        raise InputError(f"--cluster and --workers {workers} do not go together: the cluster's "
                         "worker processes run the campaigns, one each at a time; drop --workers")
    if per_unit:
        found = _findings_folder(findings_dir)
        _per_unit(variants, backend, budget, found, seed, as_json)
    _impl_request(impl)
    db_dir = cache_dir() / "fuzz-db"
    try:
        open_database(db_spec, db_dir)  # fail early on a bad URL or folder
    except DatabaseError as e:
        raise InputError(str(e)) from None
    if not plan_campaigns(variants, compressors, faults, budget, workers, seed, max_folio):
        # (which campaigns run does not depend on the implementation, only their faults)
        raise InputError("no campaign to run: the faults chosen need a batching compressor "
                         "(--compressor deflate-iaa)")
    found = _findings_folder(findings_dir)
    grid = _connect(cluster) if cluster is not None else None
    with grid if grid is not None else contextlib.nullcontext():
        impl = _fuzz_impl(impl, faults, given_variants)
        if impl == "core" and not given_variants:
            variants = _core_variants(variants)
        live = sys.stderr.isatty() and not as_json
        if grid is not None:
            from zswap_spec.fuzz.cluster import db_note

            note = db_note(db_spec)
            if note:
                click.echo(f"zswap-spec: note: {note}", err=True)
            campaigns = plan_campaigns(variants, compressors, faults, budget, grid.width, seed,
                                       max_folio, impl)
            run = grid.run(campaigns, db_spec, found, live=live, budget=budget)
        else:
            campaigns = plan_campaigns(variants, compressors, faults, budget, workers, seed,
                                       max_folio, impl)
            run = run_fuzz(campaigns, db_spec, db_dir, found, workers, live=live, budget=budget)
    _finish(run.results, found, as_json, run.interrupted)


MAX_BUDGET = 7 * 24 * 3600  # seconds: a week
MAX_WORKERS = 64

# The options each mode takes; any other the user gives is refused.
_REPLAY_TAKES = {"replay_path"}
_PER_UNIT_TAKES = {"variants", "budget", "findings_dir", "seed", "per_unit", "backend", "as_json"}


def _connect(address: str):
    """The Dask cluster at `address` (`zswap_spec.fuzz.cluster`), or one line saying why not."""
    from zswap_spec.fuzz.cluster import ClusterError, FuzzCluster

    try:
        return FuzzCluster(address)
    except ClusterError as e:
        raise InputError(f"--cluster: {e}") from None


def _findings_folder(path) -> Path:
    """The findings folder, writable, with room for its index (campaigns.json a file)."""
    found = output_dir("--findings", path)
    index = found / "campaigns.json"
    if index.is_dir() or (index.exists() and not os.access(index, os.W_OK)):
        raise InputError(f"--findings {path}: its index {index} is a folder or cannot be "
                         "written; move it away or give another folder")
    return found


def _refuse_what_does_not_apply(ctx, replay_path, per_unit: bool) -> None:
    """An option the user gave that the mode would ignore: one line naming both."""
    if replay_path:
        refuse_beside(ctx, "--replay", _REPLAY_TAKES,
                      "a replay runs the saved finding once, as saved")
    elif per_unit:
        refuse_beside(ctx, "--per-unit" if given(ctx, "per_unit") else "--backend crosshair",
                      _PER_UNIT_TAKES,
                      "the per-unit properties run one page decision at a time in this process")


def _replay(path: Path) -> None:
    from zswap_spec.fuzz.findings import FindingError, replay

    try:
        replayed = replay(path)
    except FindingError as e:
        raise InputError(str(e)) from None
    error = replayed.error
    if error is None:
        click.echo(f"{path}: no longer reproduces")
        sys.exit(EXIT_CLEAN)
    text = str(error) if getattr(error, "violation", None) is not None or \
        isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
    rec = replayed.recorded
    if rec and rec.startswith(("INV-", "EQV-")) and replayed.shown.startswith("INV-") \
            and rec != replayed.shown:
        text += f"\n(the finding recorded {rec})"
    click.echo(f"{path}: still reproduces: {text or type(error).__name__}")
    sys.exit(EXIT_FINDINGS)


def _per_unit(variants, backend, budget, found: Path, seed, as_json) -> None:
    from zswap_spec.fuzz.campaign import CampaignResult
    from zswap_spec.fuzz.units import run_unit_property

    targets = [v for v in variants if v != "mainline"] or ["mainline"]
    results, interrupted = [], False
    try:
        for v in targets:
            results.append(run_unit_property(v, backend, budget / len(targets), found, seed))
            if results[-1].status == "stopped":
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    for v in targets[len(results):]:
        results.append(CampaignResult(v, "software (per unit)", [f"backend={backend}"],
                                      status="not run", note="interrupted before it started"))
    _finish(results, found, as_json, interrupted)


def _finish(results, found: Path, as_json: bool, interrupted: bool) -> None:
    """Index, table or JSON, exit code: the same whether the run ended or was stopped."""
    from zswap_spec.fuzz.findings import save_index
    from zswap_spec.fuzz.report import print_fuzz

    warn = lambda line: click.echo(f"zswap-spec: warning: {line}", err=True)  # noqa: E731
    for r in results:  # a reproducer removed during the run (its folder deleted, say)
        for f in r.findings:
            if f.reproducer.endswith(".py") and not Path(f.reproducer).is_file():
                f.reproducer = f"lost: {f.reproducer} was removed during the run"
    try:
        save_index(results, found, warn=warn)
    except OSError as e:  # a full disk: the table and JSON below still say everything
        warn(f"{found / 'campaigns.json'}: not written ({e.strerror or e}); free space and "
             "keep this output")
    if as_json:
        doc = {"runs": [r.to_json() for r in results]}
        if interrupted:
            doc["interrupted"] = True
        click.echo(json.dumps(doc, indent=2))
    else:
        print_fuzz(results, found)
    if interrupted:
        click.echo(f"zswap-spec: interrupted; what was found before is in {found}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if any(r.findings for r in results):
        sys.exit(EXIT_FINDINGS)
    unrun = [r for r in results if r.status != "done"]
    if unrun:
        total = f"{len(results)} campaign{'' if len(results) == 1 else 's'}"
        click.echo(f"zswap-spec: error: {len(unrun)} of {total} not run: "
                   f"{unrun[0].note}; see the table", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_CLEAN)


def _cores() -> str:
    n = os.cpu_count() or 1
    return f"{n} core{'' if n == 1 else 's'}"


def _fuzz_impl(impl: str, faults: str, variants=()) -> str:
    """The campaigns' implementation, by `zswap_spec.pool.resolve_impl`'s rule: they need
    the faults named in --faults and the variants fuzzed, and want the whole pool machine
    (memory.zswap.max and the shrinker's LRU walk) and, for --faults all, every fault of the
    catalogue.  So auto takes the model, and an explicit core runs its own machine on the
    faults and variants it implements (a variant it lacks is refused by name)."""
    from zswap_spec.model.faults import FAULTS
    from zswap_spec.pool import SHRINKER, ZSWAP_MAX, fault_feature, variant_feature

    named = [] if faults in ("none", "all") else [f for f in faults.split(",") if f]
    wants = [ZSWAP_MAX, SHRINKER] + ([fault_feature(f) for f in FAULTS] if faults == "all" else [])
    needs = [fault_feature(f) for f in named] + [variant_feature(v) for v in variants]
    return resolve_impl(impl, needs=needs, wants=wants)


def _core_variants(variants: list[str]) -> list[str]:
    """The variants the core implements, out of every variant (no --variant given): the
    others are said once and left out, as the core cannot run them."""
    from zswap_spec.pool import CORE_FEATURES, variant_feature

    kept = [v for v in variants if variant_feature(v) in CORE_FEATURES]
    left = [v for v in variants if v not in kept]
    if left:
        print(f"zswap-spec: note: the core does not implement {', '.join(left)}; fuzzing the "
              f"others (give --variant with --impl model to fuzz them)", file=sys.stderr)
    return kept


def _impl_request(impl: str) -> str:
    """The choice asked for (--impl, else ZSWAP_SPEC_IMPL), refused as every command refuses it."""
    from zswap_spec.pool import PoolInputError, requested_impl

    try:
        return requested_impl(impl)
    except PoolInputError as e:
        raise InputError(str(e)) from None

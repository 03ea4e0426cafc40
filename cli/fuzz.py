"""`zswap-spec fuzz`: Fuzz the variants with real and misbehaving compressors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.variants import VARIANTS

from .errors import EXIT_CLEAN, EXIT_FINDINGS, InputError
from .options import check_names, choice_list, resolve_impl


@click.command()
@click.option("--variant", "variants", multiple=True,
              help=f"Variant (repeatable; default all): {choice_list(VARIANTS)}.")
@click.option("--compressor", "compressors", multiple=True,
              help=f"Compressor (repeatable; default lz4): {choice_list(ALGORITHMS)}.")
@click.option("--faults", default="none", show_default=True,
              help="none (real compressors), all (one campaign per fault), or NAME,NAME...")
@click.option("--budget", type=float, default=30.0, show_default=True,
              help="Seconds of wall time for the whole run.")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
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
@click.option("--json", "as_json", is_flag=True, help='Print {"runs": [...]} as JSON.')
def fuzz(variants, compressors, faults, budget, workers, db_spec, findings_dir, seed, max_folio,
         replay_path, per_unit, backend, impl, as_json) -> None:
    """Fuzz the variants with real and misbehaving compressors; save every finding."""
    from zswap_spec.fuzz.campaign import DatabaseError, FindingError, open_database, replay_finding
    from zswap_spec.fuzz.run import plan_campaigns, run_fuzz
    from zswap_spec.support.cache import cache_dir
    from zswap_spec.model.faults import FAULTS

    # Checked in every mode, as every command checks it (the per-unit properties and a
    # saved finding run no pool; the campaigns resolve it below).
    _impl_request(impl)
    if replay_path:
        try:
            broken = replay_finding(Path(replay_path))
        except FindingError as e:
            raise InputError(str(e)) from None
        if broken is not None:
            click.echo(f"{replay_path}: still reproduces: {str(broken) or type(broken).__name__}")
            sys.exit(EXIT_FINDINGS)
        click.echo(f"{replay_path}: no longer reproduces")
        sys.exit(EXIT_CLEAN)
    variants = check_names("variant", variants, VARIANTS) or list(VARIANTS)
    compressors = check_names("compressor", compressors, ALGORITHMS) or ["lz4"]
    if faults not in ("none", "all"):
        check_names("fault", [f for f in faults.split(",") if f], FAULTS)
        if not faults.strip(","):
            raise InputError("--faults: give none, all, or fault names separated by commas")
    if not budget > 0:
        raise InputError(f"--budget {budget}: give a number of seconds above 0")
    if workers < 1:
        raise InputError(f"--workers {workers}: give 1 or more")
    if not 1 <= max_folio <= 512:
        raise InputError(f"--max-folio {max_folio}: use 1 to 512")
    if per_unit or backend == "crosshair":
        from zswap_spec.fuzz.units import run_unit_property
        from zswap_spec.fuzz.report import print_fuzz

        targets = [v for v in variants if v != "mainline"] or ["mainline"]
        results = [run_unit_property(v, backend, budget / len(targets), Path(findings_dir), seed)
                   for v in targets]
        if as_json:
            click.echo(json.dumps({"runs": [r.to_json() for r in results]}, indent=2))
        else:
            print_fuzz(results, Path(findings_dir))
        sys.exit(EXIT_FINDINGS if any(r.findings for r in results) else EXIT_CLEAN)
    db_dir = cache_dir() / "fuzz-db"
    try:
        open_database(db_spec, db_dir)  # fail early on a bad URL or folder
    except DatabaseError as e:
        raise InputError(str(e)) from None
    if not plan_campaigns(variants, compressors, faults, budget, workers, seed, max_folio):
        # (which campaigns run does not depend on the implementation, only their faults)
        raise InputError("no campaign to run: the faults chosen need a batching compressor "
                         "(--compressor deflate-iaa)")
    impl = _fuzz_impl(impl, faults)
    campaigns = plan_campaigns(variants, compressors, faults, budget, workers, seed, max_folio, impl)
    results = run_fuzz(campaigns, db_spec, db_dir, Path(findings_dir), workers,
                       live=sys.stderr.isatty() and not as_json)
    from zswap_spec.fuzz.report import print_fuzz

    if as_json:
        click.echo(json.dumps({"runs": [r.to_json() for r in results]}, indent=2))
    else:
        print_fuzz(results, Path(findings_dir))
    sys.exit(EXIT_FINDINGS if any(r.findings for r in results) else EXIT_CLEAN)


def _fuzz_impl(impl: str, faults: str) -> str:
    """The campaigns' implementation, by `zswap_spec.pool.resolve_impl`'s rule: they need
    the faults named in --faults, and want the whole pool machine (memory.zswap.max and the
    shrinker's LRU walk) and, for --faults all, every fault of the catalogue.  So auto takes
    the model, and an explicit core runs its own machine on the faults it implements."""
    from zswap_spec.model.faults import FAULTS
    from zswap_spec.pool import SHRINKER, ZSWAP_MAX, fault_feature

    named = [] if faults in ("none", "all") else [f for f in faults.split(",") if f]
    wants = [ZSWAP_MAX, SHRINKER] + ([fault_feature(f) for f in FAULTS] if faults == "all" else [])
    return resolve_impl(impl, needs=[fault_feature(f) for f in named], wants=wants)


def _impl_request(impl: str) -> str:
    """The choice asked for (--impl, else ZSWAP_SPEC_IMPL), refused as every command refuses it."""
    from zswap_spec.pool import PoolInputError, requested_impl

    try:
        return requested_impl(impl)
    except PoolInputError as e:
        raise InputError(str(e)) from None

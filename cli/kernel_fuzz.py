"""`zswap-spec kernel-fuzz`: generated workload scripts on a real kernel and on
the model, step by step, until the budget is spent."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from zswap_spec.model.variants import VARIANTS
from zswap_spec.support.processes import process_pool

from .errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INTERNAL, InputError
from .kernel_check import _finite_seconds
from .options import check_names, output_dir, stderr_console


def _finite(ctx, param, value):
    if value is not None and not (0 < value <= 604800):
        raise click.BadParameter(f"{value}: give a number of seconds above 0 and at most "
                                 "604800 (a week)")
    return value


def _campaign(c, env, progress_file):
    """One compressor's campaign, in its own process (Hypothesis is not thread-safe)."""
    from zswap_spec.kernel.kfuzz import run_campaign
    from zswap_spec.kernel.script_env import prepare

    def progress(run):
        if progress_file:
            tmp = f"{progress_file}.tmp"
            with open(tmp, "w") as f:
                json.dump(run.to_json(), f)
            os.replace(tmp, progress_file)

    return run_campaign(c, lambda: prepare(env), progress)


@click.command("kernel-fuzz")
@click.option("--kernel", "kernel_spec", default="debian:7.3", show_default=True,
              help="debian:VERSION (fetched and cached), built:KEY (from zswap-spec "
                   "kernel-build) or the path of a bzImage.")
@click.option("--modules", type=click.Path(exists=True, file_okay=False),
              help="With a bzImage: its modules folder.")
@click.option("--compressor", "compressors", multiple=True,
              help="A campaign per compressor (repeatable; default lz4).")
@click.option("--budget", type=float, default=600.0, show_default=True, callback=_finite,
              help="Wall-clock seconds for the whole run.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), help="Fixed seed (repeatable runs).")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="Guests at once (default: one per core, at most one per compressor).")
@click.option("--findings", type=click.Path(file_okay=False), default="kernel-findings",
              show_default=True, help="Where reproducers are written.")
@click.option("--variant", default="mainline", show_default=True,
              help="The model variant that predicts the kernel.")
@click.option("--model-compressor", type=click.Choice(["auto", "kernel", "library"]),
              default="auto", show_default=True)
@click.option("--kernel-source", type=click.Path(exists=True),
              help="Kernel source tarball or tree for the kernel's compressors.")
@click.option("--steps", "steps_per_script", type=click.IntRange(1, 200), default=24,
              show_default=True, help="Steps per generated script.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=60.0, show_default=True,
              callback=lambda ctx, param, v: _finite_seconds(v),
              help="Seconds one step may take before the guest counts as hung.")
@click.option("--json", "as_json", is_flag=True, help='Print {"runs": [...]} as JSON.')
def kernel_fuzz(kernel_spec, modules, compressors, budget, seed, jobs, findings, variant,
                model_compressor, kernel_source, steps_per_script, timeout, as_json) -> None:
    """Fuzz a real kernel against the model with generated workload scripts."""
    from zswap_spec.kernel.kcomp import ALGORITHM_NAMES
    from zswap_spec.kernel.kfuzz import Campaign
    from zswap_spec.kernel.script_env import ScriptEnv
    from zswap_spec.support.cache import cache_dir

    compressors = check_names("compressor", compressors, ALGORITHM_NAMES) or ["lz4"]
    check_names("variant", [variant], VARIANTS)
    folder = output_dir("--findings", findings)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    work = cache_dir() / "kfuzz" / run_id
    jobs = jobs or max(1, min(os.cpu_count() or 1, len(compressors)))
    waves = -(-len(compressors) // jobs)
    per = budget / waves
    env = ScriptEnv(kernel=kernel_spec, compressors=tuple(compressors), workdir=work,
                    modules=modules, model_compressor=model_compressor,
                    kernel_source=kernel_source, variant=variant, timeout=timeout)
    campaigns = [Campaign(kernel_spec, c, list(compressors), per,
                          None if seed is None else seed + 1000 * i,
                          folder / run_id, steps_per_script)
                 for i, c in enumerate(compressors)]
    _prepare_or_fail(env)
    progress_files = [str(work / f"progress-{c.compressor}.json") for c in campaigns]
    work.mkdir(parents=True, exist_ok=True)
    runs: dict[int, object] = {}
    try:
        with process_pool(jobs, start="spawn") as pool:
            futures = [pool.submit(_campaign, c, env, p)
                       for c, p in zip(campaigns, progress_files)]
            _show_progress(futures, progress_files, budget)
            for i, (f, c) in enumerate(zip(futures, campaigns)):
                try:
                    runs[i] = f.result()
                except Exception as e:  # noqa: BLE001 - a campaign that could not run at all
                    from zswap_spec.kernel.kfuzz import CampaignRun

                    r = CampaignRun(kernel_spec, c.compressor)
                    r.error = f"{type(e).__name__}: {e}"
                    runs[i] = r
    except KeyboardInterrupt:
        # The campaigns are stopped (their guests die with them); what each had done is
        # in its progress file, and each reproducer was saved when it was found.
        done = [runs.get(i) or _Snapshot.read(p, c)
                for i, (c, p) in enumerate(zip(campaigns, progress_files))]
        _report(done, folder / run_id, as_json, interrupted=True)
        raise
    done = [runs[i] for i in range(len(campaigns))]
    _report(done, folder / run_id, as_json)
    if any(r.disagreements for r in done):
        sys.exit(EXIT_FINDINGS)
    failed = [r for r in done if r.error]
    if failed:  # a campaign that broke off with an exception: not a finding, a bug
        click.echo(f"zswap-spec: internal error: {len(failed)} campaign(s) could not run: "
                   f"{failed[0].error}", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_CLEAN)


class _Snapshot:
    """A campaign's last progress record, for the report of an interrupted run."""

    def __init__(self, record: dict):
        self.record = record
        self.disagreements = record.get("disagreements") or []
        self.error = record.get("error")

    def to_json(self) -> dict:
        return self.record

    @classmethod
    def read(cls, path: str, campaign) -> "_Snapshot":
        from zswap_spec.kernel.kfuzz import CampaignRun

        try:
            with open(path) as f:
                return cls(json.load(f))
        except (OSError, ValueError):
            return cls(CampaignRun(campaign.kernel, campaign.compressor).to_json())


def _report(runs, folder: Path, as_json: bool, interrupted: bool = False) -> None:
    if as_json:
        click.echo(json.dumps({"runs": [r.to_json() for r in runs],
                               **({"interrupted": True} if interrupted else {})}, indent=2))
    else:
        _print_runs(runs, folder)


def _prepare_or_fail(env) -> None:
    """Fetch the kernel and build the model's compressors once, before any
    worker starts, so a bad --kernel is one input error, not one per worker."""
    from zswap_spec.kernel.fetch import resolve_kernel
    from zswap_spec.kernel.guest import needed_modules
    from zswap_spec.kernel.tree import KernelError

    note = lambda msg: click.echo(f"note: {msg}", err=True)  # noqa: E731
    try:
        tree = resolve_kernel(env.kernel, env.modules, progress=note)
        for c in env.compressors:
            needed_modules(tree, c)
        if env.model_compressor != "library":
            from zswap_spec.kernel.run import model_algorithms

            model_algorithms(tree, env.model_compressor,
                             Path(env.kernel_source) if env.kernel_source else None, note)
    except KernelError as e:
        raise InputError(str(e)) from None


def _show_progress(futures, files, budget) -> None:
    """A live line per campaign on a terminal; nothing when piped."""
    if not sys.stderr.isatty():
        return
    err = stderr_console()
    started = time.monotonic()
    while not all(f.done() for f in futures):
        parts = []
        for path in files:
            try:
                r = json.loads(Path(path).read_text())
                parts.append(f"{r['compressor']}: {r['scripts']} scripts, {r['steps']} steps, "
                             f"{len(r['disagreements'])} disagreements")
            except (OSError, ValueError, KeyError):
                parts.append("booting")
        elapsed = time.monotonic() - started
        err.print(f"[{elapsed:5.0f}/{budget:.0f} s] " + " | ".join(parts), end="\r")
        time.sleep(1.0)
    err.print(" " * 100, end="\r")


def _print_runs(runs, folder: Path) -> None:
    from zswap_spec.support.console import console

    for r in runs:
        j = r.to_json()
        console.print(f"{j['kernel']} {j['compressor']}: {j['scripts']} scripts, {j['steps']} steps "
                      f"in {j['seconds']} s ({j['boots']} boots, {j['boot_seconds']} s booting); "
                      f"ops {j['ops']}; folio sizes {j['folio_sizes']}; "
                      f"cgroup levels {j['cgroup_levels']}")
        console.print(f"  scripts where each counter moved: {j['scripts_reaching']}")
        sp = j["speed"]
        console.print(f"  speed: {sp['steps_per_second']} steps/s ({sp['steps_per_second_booted']} "
                      f"while booted), {sp['scripts_per_boot']} "
                      f"scripts per boot, {100 * sp['boot_share']:.1f} % of the time booting"
                      + (f"; {j['scripts_not_compared']} scripts stopped where the model "
                         f"cannot predict: {j['not_compared_why']}"
                         if j["scripts_not_compared"] else ""))
        for d in j["disagreements"]:
            console.print(f"  DISAGREE step {d['step']} {d['op']}: {d['field']}"
                          f"{' ' + d['cgroup'] if d['cgroup'] else ''}: kernel {d['kernel']}, "
                          f"model {d['model']}; reproducer {d['reproducer']}")
        for g in j["guest_failures"]:
            console.print(f"  GUEST {g['error']}; reproducer {g['reproducer']}")
        if j["error"]:
            console.print(f"  ERROR {j['error']}")
    if not any(r.disagreements for r in runs):
        console.print("no disagreement")
    else:
        console.print(f"reproducers in {folder}")

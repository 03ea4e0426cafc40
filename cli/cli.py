"""The `zswap-spec` command: the users' jobs, one subcommand each.

Exit codes (also in the README):
  0  clean: no invariant broken (replay), findings as the manifest expects (check)
  1  replay: an invariant was broken; check: findings differ from the manifest
  2  usage or input error: one line on stderr naming the input and the fix
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .model.compressors import ALGORITHMS
from .model.variants import VARIANTS
from .model.zswap import SUPPORTED_PAGE_SIZES

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class InputError(click.ClickException):
    """Bad input: printed as one line, exit 2."""

    exit_code = EXIT_USAGE


def _choice_list(names) -> str:
    return ", ".join(names)


def _check_names(kind: str, given, known) -> list[str]:
    for name in given:
        if name not in known:
            raise InputError(f"unknown {kind} {name!r}; choose from: {_choice_list(known)}")
    return list(dict.fromkeys(given))


def _page_size_option(f):
    return click.option(
        "--page-size", type=int, default=4096, show_default=True,
        help=f"PAGE_SIZE in bytes: one of {', '.join(map(str, SUPPORTED_PAGE_SIZES))}.")(f)


def _check_page_size(page_size: int) -> None:
    if page_size not in SUPPORTED_PAGE_SIZES:
        raise InputError(f"--page-size {page_size} is not supported; use one of "
                         f"{', '.join(map(str, SUPPORTED_PAGE_SIZES))}")


def read_pages(path: str, page_size: int, warn) -> list[bytes]:
    """A file as whole pages; a last partial page is zero-padded (and said so)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path}: is a directory; give a file whose bytes are the pages")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror}); check its permissions") from None
    if not data:
        raise InputError(f"{path}: is empty; give a file with at least one byte")
    rest = len(data) % page_size
    if rest:
        warn(f"{path}: {len(data)} bytes is not a multiple of {page_size}; "
             f"the last page is zero-padded ({page_size - rest} bytes)")
        data += bytes(page_size - rest)
    mv = memoryview(data)
    return [bytes(mv[i:i + page_size]) for i in range(0, len(data), page_size)]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="zswap-spec")
def cli() -> None:
    """Executable specification of Linux zswap's (batched) compression path."""


@cli.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--variant", "variants", multiple=True,
              help=f"Variant to run (repeatable; default all): {_choice_list(VARIANTS)}.")
@click.option("--compressor", "compressors", multiple=True,
              help=f"Compressor (repeatable; default lz4): {_choice_list(ALGORITHMS)}.")
@click.option("--folio-pages", type=int, default=1, show_default=True,
              help="Pages per folio, 1 to 512.")
@click.option("--no-writeback", is_flag=True, help="Run with memory.zswap.writeback = 0.")
@_page_size_option
@click.option("--impl", type=click.Choice(["auto", "core", "model"]), default="auto",
              show_default=True,
              help="Implementation: the optimized core, the model, or auto (ZSWAP_SPEC_IMPL if set, "
                   "else the core when it is built).")
@click.option("--json", "as_json", is_flag=True, help="Print {\"runs\": [...]} as JSON.")
def replay(files, variants, compressors, folio_pages, no_writeback, page_size, impl, as_json) -> None:
    """Swap FILE... out through each variant and compressor, read it back, check."""
    from .core import CoreUnavailable, PoolInputError, resolve_impl
    from .replay import RunConfig, replay_pages
    from .report import print_runs, runs_json

    try:
        impl = resolve_impl(None if impl == "auto" else impl)
    except (CoreUnavailable, PoolInputError) as e:
        raise InputError(f"--impl: {e}") from None

    variants = _check_names("variant", variants, VARIANTS) or list(VARIANTS)
    compressors = _check_names("compressor", compressors, ALGORITHMS) or ["lz4"]
    if not 1 <= folio_pages <= 512:
        raise InputError(f"--folio-pages {folio_pages} is out of range; use 1 to 512")
    _check_page_size(page_size)
    pages: list[bytes] = []
    for path in files:
        pages.extend(read_pages(path, page_size, lambda msg: click.echo(f"note: {msg}", err=True)))
    configs = [RunConfig(v, c, not no_writeback, folio_pages, page_size)
               for c in compressors for v in variants]
    results = []
    with _Progress(len(pages) * 2 * len(configs)) as advance:
        for cfg in configs:
            results.append(replay_pages(pages, cfg, progress=advance, impl=impl))
    if as_json:
        click.echo(json.dumps(runs_json(results), indent=2))
    else:
        print_runs(results)
    broken = any(r.violations for r in results)
    sys.exit(EXIT_FINDINGS if broken else EXIT_CLEAN)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@_page_size_option
@click.option("--update-manifest", is_flag=True,
              help="Write the findings as the new expected manifest (review the diff).")
def check(as_json, page_size, update_manifest) -> None:
    """The main job: every variant x compressor on the built-in sample, against the manifest."""
    from .checks import run_check

    _check_page_size(page_size)
    sys.exit(run_check(page_size=page_size, as_json=as_json, update_manifest=update_manifest))


@cli.command()
@click.option("--variant", "variants", multiple=True,
              help=f"Variant (repeatable; default all): {_choice_list(VARIANTS)}.")
@click.option("--assume", "assumptions", multiple=True,
              help="Assumption set about the compressor (repeatable; default all): "
                   "any, kernel-sw, batching, strict.")
@click.option("--page-size", "page_sizes", multiple=True, type=int,
              help="PAGE_SIZE (repeatable; default 4096, 16384 and 65536).")
@click.option("--jobs", type=int, default=None, help="Processes (default: cores, at most 2).")
@click.option("--update-manifest", is_flag=True, help="Write the results as proofs/expected.toml.")
@click.option("--update-spec", is_flag=True,
              help="Rewrite the generated proof results section of spec/zswap-spec.md.")
@click.option("--json", "as_json", is_flag=True, help='Print {"results": [...]} as JSON.')
def prove(variants, assumptions, page_sizes, jobs, update_manifest, update_spec, as_json) -> None:
    """Prove or refute every theorem for each variant with Z3, against the manifest."""
    from .proofs.assumptions import ASSUMPTIONS
    from .proofs.run import run_prove
    from .proofs.theorems import PAGE_SIZES

    variants = _check_names("variant", variants, VARIANTS) or list(VARIANTS)
    assumptions = _check_names("assumption set", assumptions, ASSUMPTIONS) or list(ASSUMPTIONS)
    for ps in page_sizes:
        _check_page_size(ps)
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs {jobs}: give 1 or more")
    sys.exit(run_prove(variants, assumptions, list(page_sizes) or list(PAGE_SIZES),
                       jobs or min(2, os.cpu_count() or 1), update_manifest, update_spec, as_json))


@cli.command()
@click.option("--variant", "variants", multiple=True,
              help=f"Variant (repeatable; default all): {_choice_list(VARIANTS)}.")
@click.option("--compressor", "compressors", multiple=True,
              help=f"Compressor (repeatable; default lz4): {_choice_list(ALGORITHMS)}.")
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
@click.option("--impl", type=click.Choice(["core", "model"]), default=None,
              help="Run the campaigns on the optimized core or on the model (default: "
                   "ZSWAP_SPEC_IMPL if set, else model; the model's machine also drives "
                   "memory.zswap.max and the shrinker's LRU walk, which the core does not implement).")
@click.option("--json", "as_json", is_flag=True, help='Print {"runs": [...]} as JSON.')
def fuzz(variants, compressors, faults, budget, workers, db_spec, findings_dir, seed, max_folio,
         replay_path, per_unit, backend, impl, as_json) -> None:
    """Fuzz the variants with real and misbehaving compressors; save every finding."""
    from .fuzz.campaign import DatabaseError, FindingError, open_database, replay_finding
    from .fuzz.run import plan_campaigns, run_fuzz
    from .cache import cache_dir
    from .model.faults import FAULTS

    if replay_path:
        try:
            broken = replay_finding(Path(replay_path))
        except FindingError as e:
            raise InputError(str(e)) from None
        if broken:
            click.echo(f"{replay_path}: still reproduces: {broken}")
            sys.exit(EXIT_FINDINGS)
        click.echo(f"{replay_path}: no longer reproduces")
        sys.exit(EXIT_CLEAN)
    variants = _check_names("variant", variants, VARIANTS) or list(VARIANTS)
    compressors = _check_names("compressor", compressors, ALGORITHMS) or ["lz4"]
    if faults not in ("none", "all"):
        _check_names("fault", [f for f in faults.split(",") if f], FAULTS)
        if not faults.strip(","):
            raise InputError("--faults: give none, all, or fault names separated by commas")
    impl = _fuzz_impl(impl, faults)
    if not budget > 0:
        raise InputError(f"--budget {budget}: give a number of seconds above 0")
    if workers < 1:
        raise InputError(f"--workers {workers}: give 1 or more")
    if not 1 <= max_folio <= 512:
        raise InputError(f"--max-folio {max_folio}: use 1 to 512")
    if per_unit or backend == "crosshair":
        from .fuzz.units import run_unit_property
        from .report import print_fuzz

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
    campaigns = plan_campaigns(variants, compressors, faults, budget, workers, seed, max_folio, impl)
    if not campaigns:
        raise InputError("no campaign to run: the faults chosen need a batching compressor "
                         "(--compressor deflate-iaa)")
    results = run_fuzz(campaigns, db_spec, db_dir, Path(findings_dir), workers,
                       live=sys.stderr.isatty() and not as_json)
    from .report import print_fuzz

    if as_json:
        click.echo(json.dumps({"runs": [r.to_json() for r in results]}, indent=2))
    else:
        print_fuzz(results, Path(findings_dir))
    sys.exit(EXIT_FINDINGS if any(r.findings for r in results) else EXIT_CLEAN)


def _fuzz_impl(impl, faults: str) -> str:
    """fuzz's implementation: --impl, else ZSWAP_SPEC_IMPL, else the model."""
    from .core import CORE_FAULTS, CoreUnavailable, PoolInputError, resolve_impl

    if impl is None:
        env = os.environ.get("ZSWAP_SPEC_IMPL", "").strip().lower()
        impl = env if env in ("core", "model") else "model"
    try:
        impl = resolve_impl(impl)
    except (CoreUnavailable, PoolInputError) as e:
        raise InputError(f"--impl: {e}") from None
    if impl == "core" and faults not in ("none", "all"):
        missing = [f for f in faults.split(",") if f and f not in CORE_FAULTS]
        if missing:
            raise InputError(f"--faults {','.join(missing)}: the core does not implement "
                             f"{'this fault' if len(missing) == 1 else 'these faults'}; "
                             f"use --impl model")
    return impl


@cli.command("kernel-check")
@click.option("--kernel", "kernel_spec", default="debian:7.3", show_default=True,
              help="debian:VERSION (fetched and cached) or the path of a bzImage.")
@click.option("--modules", type=click.Path(), help="With a bzImage: its modules folder.")
@click.option("--compressor", "compressors", multiple=True,
              help="zswap compressor (repeatable; default lz4): lz4 lz4hc zstd deflate.")
@click.option("--writeback", type=click.Choice(["on", "off", "both"]), default="on",
              show_default=True, help="memory.zswap.writeback of the test cgroup.")
@click.option("--no-writeback", is_flag=True, help="Same as --writeback off.")
@click.option("--zswap-max", type=int, help="memory.zswap.max of the test cgroup, in bytes.")
@click.option("--pages", "page_files", multiple=True, type=click.Path(),
              help="A file of pages to add as one more group (repeatable).")
@click.option("--variant", default="mainline", show_default=True,
              help="The model variant that predicts the kernel.")
@click.option("--model-compressor", type=click.Choice(["auto", "kernel", "library"]),
              default="auto", show_default=True,
              help="The model's compressors: the kernel's own code built from its source "
                   "(exact sizes), or the user-space libraries.")
@click.option("--kernel-source", type=click.Path(),
              help="Kernel source tarball or tree for the kernel's compressors.")
@click.option("--timeout", type=float, default=180.0, show_default=True,
              help="Seconds before a guest counts as hung.")
@click.option("--jobs", type=int, default=None, help="Guests booted at once (default: cores).")
@click.option("--keep", type=click.Path(), help="Folder for the serial logs (default: the cache).")
@click.option("--json", "as_json", is_flag=True, help='Print {"runs": [...]} as JSON.')
def kernel_check(kernel_spec, modules, compressors, writeback, no_writeback, zswap_max,
                 page_files, variant, model_compressor, kernel_source, timeout, jobs, keep,
                 as_json) -> None:
    """Boot a real kernel under qemu, push pages through its zswap, compare with the model."""
    from .kernel.fetch import resolve_kernel
    from .kernel.kcomp import ALGORITHM_NAMES
    from .kernel.run import RunSpec, default_jobs, run_checks
    from .kernel.tree import KernelError
    from .report import print_kernel_runs

    # The compressors the model can predict with a kernel's own code.
    compressors = _check_names("compressor", compressors, ALGORITHM_NAMES) or ["lz4"]
    _check_names("variant", [variant], VARIANTS)
    if no_writeback:
        writeback = "off"
    if zswap_max is not None and zswap_max < 0:
        raise InputError(f"--zswap-max {zswap_max}: give a size in bytes, 0 or more")
    files = []
    for f in page_files:
        path = Path(f)
        if not path.is_file() or path.stat().st_size == 0:
            raise InputError(f"--pages {f}: not a non-empty file of pages")
        files.append(path)
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs {jobs}: give 1 or more")
    note = lambda msg: click.echo(f"note: {msg}", err=True)  # noqa: E731
    try:
        tree = resolve_kernel(kernel_spec, modules, progress=note)
        if tree.release.startswith(("5.", "6.")) and variant == "mainline":
            raise KernelError(
                f"{kernel_spec} is Linux {tree.release}: its zswap (zpool, same-filled pages, "
                f"no as-is storage) is not the mainline the model transcribes; check a 7.x kernel")
        wbs = {"on": [True], "off": [False], "both": [True, False]}[writeback]
        specs = [RunSpec(c, wb, zswap_max) for c in compressors for wb in wbs]
        reports = run_checks(tree, specs, variant=variant, page_size=4096, files=files,
                             timeout=timeout, jobs=jobs or default_jobs(),
                             model_compressor=model_compressor,
                             kernel_source=Path(kernel_source) if kernel_source else None,
                             folder=Path(keep) if keep else None, note=note)
    except KernelError as e:
        raise InputError(str(e)) from None
    if as_json:
        click.echo(json.dumps({"runs": [r.to_json() for r in reports]}, indent=2))
    else:
        print_kernel_runs(reports)
    sys.exit(EXIT_CLEAN if all(r.agree for r in reports) else EXIT_FINDINGS)


@cli.command()
def variants() -> None:
    """List the variants, what each transcribes and where from."""
    from .report import print_variants

    print_variants()


class _Progress:
    """A progress bar on stderr for long replays, only when stderr is a terminal."""

    def __init__(self, total: int):
        self.total = total
        self.bar = None

    def __enter__(self):
        if sys.stderr.isatty() and self.total >= 20000 and not os.environ.get("CI"):
            from rich.progress import Progress

            self.bar = Progress(transient=True, console=_stderr_console())
            self.bar.start()
            task = self.bar.add_task("replay", total=self.total)
            return lambda n: self.bar.advance(task, n)
        return None

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


@cli.command()
@click.option("--compressor", "compressors", multiple=True,
              help="Compressor to measure (repeatable; default: lz4, zstd and deflate).")
@click.option("--pages", type=int, default=4096, show_default=True,
              help="Pages in the fixed mix (the built-in sample, then text, zero and random pages).")
@click.option("--variant", default="uniform", show_default=True,
              help="Variant the model and the core run (uniform gives every compressor batches "
                   "of 8 units, which the second thread can share).")
@click.option("--repeat", type=int, default=5, show_default=True,
              help="Repetitions; the best of them is reported.")
@click.option("--folio-pages", type=int, default=8, show_default=True, help="Pages per folio.")
@click.option("--json", "as_json", is_flag=True,
              help='Print the figures and {"ratios": {COMPRESSOR: {...}}} as JSON.')
def bench(compressors, pages, variant, repeat, folio_pages, as_json) -> None:
    """Measure the optimized core beside a raw C loop, a Python loop and the model."""
    from .core import CoreUnavailable
    from .core.bench import BENCH_COMPRESSORS, run_bench
    from .report import print_bench

    compressors = _check_names("compressor", compressors, BENCH_COMPRESSORS) or ["lz4", "zstd", "deflate"]
    _check_names("variant", [variant], VARIANTS)
    if not 1 <= pages <= 1 << 20:
        raise InputError(f"--pages {pages} is out of range; use 1 to {1 << 20}")
    if not 1 <= repeat <= 100:
        raise InputError(f"--repeat {repeat} is out of range; use 1 to 100")
    if not 1 <= folio_pages <= 512:
        raise InputError(f"--folio-pages {folio_pages} is out of range; use 1 to 512")
    say = None if as_json else (lambda c: click.echo(f"measuring {c} ...", err=True))
    try:
        result = run_bench(compressors, pages, variant, repeat, folio_pages, progress=say)
    except CoreUnavailable as e:
        raise InputError(f"{e}") from None
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        print_bench(result)


from .driverkit.command import check_driver  # noqa: E402

cli.add_command(check_driver)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def main(argv=None) -> None:
    """Entry point: click's errors become one line and exit code 2."""
    try:
        cli.main(args=argv, prog_name="zswap-spec", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("zswap-spec: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        msg = e.format_message().replace("\n", " ")
        if isinstance(e, click.UsageError) and e.ctx is not None:
            msg += f" (see '{e.ctx.command_path} --help')"
        click.echo(f"zswap-spec: error: {msg}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_CLEAN)

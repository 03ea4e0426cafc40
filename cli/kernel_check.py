"""`zswap-spec kernel-check`: A real kernel under qemu against the model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from zswap_spec.model.variants import VARIANTS

from .errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_UNCHECKED, InputError
from .options import check_names, given, output_dir


# The built-in plan's settings: a workload script, or a seeded bug's run, sets its own.
_PLAN_SETTINGS = (("--compressor", "compressors"), ("--max-pool-percent", "max_pool_percent"),
                  ("--accept-threshold", "accept_threshold"), ("--zswap-max", "zswap_max"),
                  ("--pages", "page_files"), ("--no-writeback", "no_writeback"),
                  ("--writeback", "writeback"))


def _given(ctx, *more) -> list[str]:
    """The plan's settings (and `more`: (option, parameter) pairs) given on the command line."""
    return [opt for opt, name in (*_PLAN_SETTINGS, *more) if given(ctx, name)]


def _finite_seconds(value: float) -> float:
    """FloatRange lets NaN through (every comparison with it is false)."""
    if value != value:
        raise click.BadParameter("nan is not a number of seconds; give 1 to 3600")
    return value


@click.command("kernel-check")
@click.option("--kernel", "kernel_spec", default="debian:7.3", show_default=True,
              help="debian:VERSION (fetched and cached), built:KEY (from zswap-spec "
                   "kernel-build) or the path of a bzImage.")
@click.option("--modules", type=click.Path(exists=True, file_okay=False),
              help="With a bzImage: its modules folder.")
@click.option("--compressor", "compressors", multiple=True,
              help="zswap compressor (repeatable; default lz4): lz4 lz4hc zstd deflate.")
@click.option("--writeback", type=click.Choice(["on", "off", "both"]), default="on",
              show_default=True, help="memory.zswap.writeback of the test cgroup.")
@click.option("--no-writeback", is_flag=True, help="Same as --writeback off.")
@click.option("--zswap-max", type=click.IntRange(0, 1 << 40),
              help="memory.zswap.max of the test cgroup, in bytes (0 to 2^40, as in scripts).")
@click.option("--max-pool-percent", type=click.IntRange(1, 100),
              help="zswap's max_pool_percent (1-100): a 256 MiB guest fills the pool past "
                   "this global limit, one folio per call, letting the shrink worker finish "
                   "after each.")
@click.option("--accept-threshold", type=click.IntRange(0, 100),
              help="zswap's accept_threshold_percent (0-100) of the pool limit.")
@click.option("--pages", "page_files", multiple=True, type=click.Path(),
              help="A file of pages to add as one more group (repeatable).")
@click.option("--variant", default="mainline", show_default=True,
              help="The model variant that predicts the kernel.")
@click.option("--model-compressor", type=click.Choice(["auto", "kernel", "library"]),
              default="auto", show_default=True,
              help="The model's compressors: the kernel's own code built from its source "
                   "(exact sizes), or the user-space libraries.")
@click.option("--kernel-source", type=click.Path(exists=True),
              help="Kernel source tarball or tree for the kernel's compressors.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=180.0, show_default=True,
              callback=lambda ctx, param, v: _finite_seconds(v),
              help="Seconds before a guest counts as hung.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="Guests booted at once (default: cores).")
@click.option("--keep", type=click.Path(), help="Folder for the serial logs (default: the cache).")
@click.option("--script", "scripts", multiple=True, type=click.Path(),
              help="A workload script (spec/script-format.md) to run on the kernel and the "
                   "model, every step compared (repeatable; replaces the built-in plan).")
@click.option("--seeded", "seeded", multiple=True, metavar="NAME|all",
              help="Boot the kernel with zswap-spec's seeded bugs (built from Debian's 7.3 "
                   "source with kernel/patches/seeded-bugs-7.3.patch unless --kernel names "
                   "one) with bug NAME switched on; the check must disagree with mainline "
                   "and agree with the variant seeded-NAME (repeatable; all: every bug and "
                   "a control boot with none).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"runs": [...]} (with --seeded: {"seeded": [...]}) as JSON.')
@click.argument("more_scripts", nargs=-1, type=click.Path(), metavar="[FILE]...")
def kernel_check(kernel_spec, modules, compressors, writeback, no_writeback, zswap_max,
                 max_pool_percent, accept_threshold, page_files, variant, model_compressor,
                 kernel_source, timeout, jobs, keep, scripts, seeded, as_json,
                 more_scripts) -> None:
    """Boot a real kernel under qemu, push pages through its zswap, compare with the model.

    With --script FILE [FILE]...: run workload scripts instead of the built-in plan.
    With --seeded NAME|all: show the check kernels with seeded bugs."""
    if no_writeback and writeback != "off" and given(click.get_current_context(), "writeback"):
        raise InputError(f"--no-writeback contradicts --writeback {writeback}; give one of them")
    if more_scripts and not scripts:
        raise InputError(f"{more_scripts[0]}: files are workload scripts only after --script; "
                         f"write --script {more_scripts[0]}")
    scripts = tuple(scripts) + tuple(more_scripts)
    if keep is not None:
        keep = str(output_dir("--keep", keep))  # before any download or boot
    ctx = click.get_current_context()
    if modules is not None and not given(ctx, "kernel_spec"):
        raise InputError("--modules goes with --kernel PATH (a bzImage of your own); Debian's "
                         "kernels bring their modules")
    if seeded:
        other = _given(ctx, ("--variant", "variant"), ("--script", "scripts"),
                       ("--model-compressor", "model_compressor")) + (
            ["FILE"] if more_scripts else [])
        if other:
            raise InputError(f"--seeded: {', '.join(other)} cannot be combined with it; each "
                             f"seeded bug is checked under the settings that show it, against "
                             f"mainline and its own variant")
        _run_seeded(seeded, kernel_spec if given(ctx, "kernel_spec") else None, modules,
                    kernel_source, timeout, jobs, keep, as_json)
        return
    if scripts:
        from .kernel_script import run_script_check

        other = _given(ctx, ("--jobs", "jobs"))
        if other:
            raise InputError(f"--script: {', '.join(other)} cannot be combined with scripts; "
                             f"a script sets its own compressor and settings")
        run_script_check(scripts, kernel_spec=kernel_spec, modules=modules, variant=variant,
                         model_compressor=model_compressor, kernel_source=kernel_source,
                         timeout=timeout, keep=keep, as_json=as_json)
        return
    from zswap_spec.kernel.fetch import resolve_kernel
    from zswap_spec.kernel.kcomp import ALGORITHM_NAMES
    from zswap_spec.kernel.run import RunSpec, default_jobs, run_checks
    from zswap_spec.kernel.tree import KernelError
    from zswap_spec.kernel.report import print_kernel_runs

    # The compressors the model can predict with a kernel's own code.
    compressors = check_names("compressor", compressors, ALGORITHM_NAMES) or ["lz4"]
    check_names("variant", [variant], VARIANTS)
    if no_writeback:
        writeback = "off"
    files = []
    for f in page_files:
        path = Path(f)
        if not path.is_file() or path.stat().st_size == 0:
            raise InputError(f"--pages {f}: not a non-empty file of pages")
        files.append(path)
    note = lambda msg: click.echo(f"note: {msg}", err=True)  # noqa: E731
    from zswap_spec.support.interrupts import reported_on_interrupt

    try:
        tree = resolve_kernel(kernel_spec, modules, progress=note)
        if tree.release.startswith(("5.", "6.")) and variant == "mainline":
            raise KernelError(
                f"{kernel_spec} is Linux {tree.release}: its zswap (zpool, same-filled pages, "
                f"no as-is storage) is not the mainline the model transcribes; check a 7.x kernel")
        wbs = {"on": [True], "off": [False], "both": [True, False]}[writeback]
        specs = [RunSpec(c, wb, zswap_max, max_pool_percent, accept_threshold)
                 for c in compressors for wb in wbs]
        with reported_on_interrupt(lambda e: _interrupted(e, as_json)):
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


def _interrupted(e: KeyboardInterrupt, as_json: bool) -> None:
    """The boots that had ended before the interrupt, and the ones that had not."""
    from zswap_spec.kernel.report import print_kernel_runs
    from zswap_spec.support.interrupts import Interrupted

    done = e.done if isinstance(e, Interrupted) else []
    not_done = e.not_done if isinstance(e, Interrupted) else []
    if as_json:
        click.echo(json.dumps({"runs": [r.to_json() for r in done], "interrupted": True,
                               "not_run": not_done}, indent=2))
        return
    if done:
        print_kernel_runs(done)
    click.echo(f"interrupted: {len(done)} boot(s) compared; not run: "
               f"{', '.join(not_done) or 'none'}")


def _run_seeded(names, kernel_spec, modules, kernel_source, timeout, jobs, keep,
                as_json) -> None:
    """`--seeded`: build (or take) the seeded kernel, boot it once per bug, judge.  The
    model compresses with the kernel's own code, so the exact-fit pages are exact."""
    from zswap_spec.kernel import seeded as sd
    from zswap_spec.kernel.fetch import resolve_kernel
    from zswap_spec.kernel.run import default_jobs, run_checks
    from zswap_spec.kernel.tree import KernelError
    from zswap_spec.support.interrupts import reported_on_interrupt

    note = lambda msg: click.echo(f"note: {msg}", err=True)  # noqa: E731
    try:
        bugs = sd.resolve_names(names)
        if kernel_spec is None:
            tree, built = sd.seeded_kernel(progress=_every(note, 20.0), jobs=jobs)
            note(f"seeded kernel {built.name}: "
                 + ("from the cache" if built.cached else f"built in {built.seconds:.0f} s"))
        else:
            sd.check_kernel_spec(kernel_spec)
            tree = resolve_kernel(kernel_spec, modules, progress=note)
        specs = sd.seeded_specs(bugs, control="all" in names)
        with reported_on_interrupt(lambda e: _seeded_interrupted(e, as_json)):
            reports = run_checks(tree, specs, variant="mainline", page_size=4096, files=[],
                                 timeout=timeout, jobs=jobs or default_jobs(),
                                 model_compressor="kernel",
                                 kernel_source=Path(kernel_source) if kernel_source else None,
                                 folder=Path(keep) if keep else None, note=note)
    except KernelError as e:
        from zswap_spec.kernel.build_source import KernelBuildError

        if isinstance(e, KernelBuildError) and e.kind == "build":
            click.echo(f"zswap-spec: error: {e}", err=True)  # as kernel-build says it
            sys.exit(EXIT_UNCHECKED)
        raise InputError(str(e)) from None
    results, control = sd.judge(reports)
    if as_json:
        click.echo(json.dumps({"kernel": tree.name, "release": tree.release,
                               "seeded": [r.to_json() for r in results],
                               "control": control.to_json() if control else None}, indent=2))
    else:
        _print_seeded(results, control)
    sys.exit(EXIT_CLEAN if sd.passed(results, control) else EXIT_FINDINGS)


def _seeded_interrupted(e: KeyboardInterrupt, as_json: bool) -> None:
    """The seeded boots that had ended before the interrupt, judged; the others named."""
    from zswap_spec.kernel import seeded as sd
    from zswap_spec.support.interrupts import Interrupted

    done = e.done if isinstance(e, Interrupted) else []
    not_run = e.not_done if isinstance(e, Interrupted) else []
    results, control = sd.judge(done)
    if as_json:
        click.echo(json.dumps({"seeded": [r.to_json() for r in results],
                               "control": control.to_json() if control else None,
                               "interrupted": True, "not_run": not_run}, indent=2))
        return
    if done:
        _print_seeded(results, control)
    click.echo(f"interrupted: {len(done)} boot(s) judged; not run: {', '.join(not_run) or 'none'}")


def _print_seeded(results, control) -> None:
    from rich import box
    from rich.table import Table

    from zswap_spec.support.console import console

    table = Table(title="seeded kernel bugs: the check against mainline, then against the "
                        "variant making the same change", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("seeded bug", "run", "caught", "first disagreement with mainline",
                "agrees with its variant"):
        table.add_column(col)
    yes, no = "[green]yes[/]", "[red]no[/]"
    for s in results:
        r = s.report
        first = r.disagreements[0] if r.disagreements else None
        what = (f"{first.stage} {first.source} {first.name}: kernel {first.kernel}, "
                f"model {first.model}" if first else (r.error or "none"))
        table.add_row(s.name, f"{r.spec.compressor} wb {'on' if r.spec.writeback else 'off'}",
                      yes if s.caught else no, what, yes if s.agrees_with_variant else no)
    console.print(table)
    for s in results:
        r = s.report
        if r.error:
            console.print(f"[red]{s.name}: {r.error}[/]")
        for d in r.variant_disagreements[:5]:
            console.print(f"{s.name}: with seeded-{s.name}: {d.stage} {d.source} {d.name}: "
                          f"kernel {d.kernel}, model {d.model} ({d.pages})")
    if control is not None:
        console.print("control (the same kernel, no bug switched on) against mainline: "
                      + ("[green]agrees[/]" if control.agree else
                         f"[red]disagrees[/] ({control.error or len(control.disagreements)})"))
    caught = sum(s.caught for s in results)
    agree = sum(s.agrees_with_variant for s in results)
    console.print(f"{caught} of {len(results)} seeded bugs caught; {agree} of {len(results)} "
                  f"agree with their variant")


def _every(say, seconds: float):
    """`say`, with the build's compile lines (one per object) at most every `seconds`."""
    import time

    last = [0.0]

    def out(msg: str) -> None:
        now = time.monotonic()
        if msg.startswith("compiling:"):
            if now - last[0] < seconds:
                return
            last[0] = now
        say(msg)

    return out

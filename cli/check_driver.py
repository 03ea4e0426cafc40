"""`zswap-spec check-driver`: check compression drivers against the acomp
batch contract, clause by clause, and say what zswap would do with them.

Exit codes (also in the command's help and the README):
  0  every driver conforms (a seeded-bug driver: rejected with its expected clause)
  1  a driver breaks a clause of the contract (or a seeded-bug driver was not
     rejected as the catalogue expects)
  2  usage error: one line naming the option and the fix
  3  a target could not be checked at all (not a shared object, no
     zswap_acomp_drivers symbol, wrong ABI version, a Python target that does
     not import, a driver that crashes or hangs while loading); the other
     targets were checked.  3 wins over 1.
  130 interrupted (Ctrl-C, SIGTERM): what was checked is printed and written
     first, the rest marked not checked.

With --replay REPRODUCER: 1 the finding reproduces, 0 it does not (the
case no longer breaks its clause), 2 the reproducer cannot be read, 3 the driver
cannot be loaded or its history cannot be replayed.

Limits on each driver (also in the help and the README): --call-timeout
seconds per call (C-HANG beyond), --memory-limit MiB of data its process may
map (RLIMIT_DATA; beyond: C-CRASH, "ran out of memory"), and what it prints
is kept to its first and last 64 KiB.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_UNCHECKED, InputError
from .options import check_number, given, output_dir, output_file, refuse_beside

MAX_CALL_TIMEOUT = 3600.0  # seconds
MAX_BUDGET = 86400.0  # seconds: a day of search per driver
MAX_JOBS = 64
MIN_MEMORY, MAX_MEMORY = 128, 1 << 20  # MiB: 128 MiB to 1 TiB

_HELP_EPILOG = f"""\b
TARGET is the path of a shared object (every driver it exports; PATH@NAME
for one), a Python driver module:attr (module name or path of a .py file),
or builtin:NAME (see --list).
\b
Limits on each driver: --call-timeout seconds per call (at most
{MAX_CALL_TIMEOUT:g}; beyond it: C-HANG); --memory-limit MiB of data its process
may map (RLIMIT_DATA, {MIN_MEMORY} to {MAX_MEMORY}; reaching it: C-CRASH, ran out
of memory); what it prints is kept to its first and last 64 KiB.  A driver
that starts a process is not checked (exit 3).
\b
Exit codes: 0 every driver conforms (seeded-bug drivers: rejected with their
expected clause); 1 a driver breaks a clause; 2 usage error; 3 a target could
not be checked at all (the others were); 3 wins over 1; 130 interrupted
(what was checked is printed and written first).  With --replay: 1 the
finding reproduces, 0 it does not, 2 an unreadable reproducer, 3 the driver
cannot be loaded or its history not replayed.
"""

PAGE_SIZE_WORDS = {"4k": 4096, "16k": 16384, "64k": 65536}


def _page_size(text: str) -> int:
    from zswap_spec.driverkit.abi import PAGE_SIZES

    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    size = PAGE_SIZE_WORDS.get(t)
    if size is None and t.isdigit():
        size = int(t)
    if size not in PAGE_SIZES:
        raise InputError(f"--page-size {text!r}: use 4K, 16K or 64K (or "
                         f"{', '.join(map(str, PAGE_SIZES))} bytes)")
    return size


class DriverKitBug(Exception):
    """A bug of the kit's while checking one driver (after every report was written)."""


@click.command("check-driver", epilog=_HELP_EPILOG)
@click.argument("targets", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["lz4", "zstd", "deflate", "none"]),
              help="Output format for the reference decompressor (default: what the driver declares).")
@click.option("--page-size", "page_sizes", multiple=True,
              help="Check at this page size only: 4K, 16K or 64K (repeatable; default: all "
                   "three, where the driver supports them).")
@click.option("--kernel-source", default="debian:7.3", show_default=True,
              help="Where the kernel's self-test vectors (crypto/testmgr.h) come from: "
                   "debian:7.3 (fetched once into the cache), a kernel tree or source tarball, "
                   "or 'none' to skip that stage.")
@click.option("--replay", "replay_path", type=click.Path(),
              help="Re-run one saved finding (its case.json or folder), with the calls before "
                   "it, on a fresh process of its driver (or of TARGET, the same driver built "
                   "elsewhere).")
@click.option("--with-variant", "variants", multiple=True,
              help="Also run the built-in sample through this zswap variant with the driver "
                   "(repeatable).")
@click.option("--budget", type=float, default=5.0, show_default=True,
              help=f"Seconds of Hypothesis search per driver after the fixed vectors (0: vectors "
                   f"only; at most {MAX_BUDGET:g}).")
@click.option("--call-timeout", type=float, default=5.0, show_default=True,
              help=f"Seconds one driver call may take before it counts as a hang (C-HANG); "
                   f"above 0, at most {MAX_CALL_TIMEOUT:g}.")
@click.option("--memory-limit", type=int, default=1024, show_default=True,
              help=f"MiB of data a driver's process may map (RLIMIT_DATA); reaching it is "
                   f"C-CRASH (ran out of memory). {MIN_MEMORY} to {MAX_MEMORY}.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the search.")
@click.option("--jobs", type=int, default=None,
              help=f"Drivers checked at once (default: cores, at most 2; at most {MAX_JOBS}).")
@click.option("--reproducers", "reproducers", type=click.Path(), default="zswap-driver-findings",
              show_default=True, help="Folder for the minimal reproducers.")
@click.option("--json", "as_json", is_flag=True, help='Print {"drivers": [...]} as JSON.')
@click.option("--junit", "junit", type=click.Path(), help="Write JUnit XML to this file.")
@click.option("--list", "list_", is_flag=True, help="List the built-in and seeded-bug drivers.")
@click.option("--all-builtin", is_flag=True, help="Check every built-in and seeded-bug driver.")
@click.option("--header-dir", is_flag=True,
              help="Print the folder of zswap_acomp_driver.h (for gcc -I) and exit.")
def check_driver(targets, fmt, page_sizes, kernel_source, replay_path, variants, budget,
                 call_timeout, memory_limit, seed, jobs, reproducers, as_json, junit, list_,
                 all_builtin, header_dir) -> None:
    """Check compression drivers against the acomp batch contract, clause by clause."""
    from zswap_spec.model.variants import VARIANTS
    from zswap_spec.driverkit.abi import header_path

    ctx = click.get_current_context()
    if header_dir:  # an answer, not a check: nothing else it could take
        refuse_beside(ctx, "--header-dir", {"header_dir"}, "it prints a folder and exits")
        click.echo(str(header_path().parent))
        sys.exit(EXIT_CLEAN)
    if list_:
        refuse_beside(ctx, "--list", {"list_"}, "it prints the catalogue and exits")
        from zswap_spec.driverkit.report import print_catalogue

        print_catalogue()
        sys.exit(EXIT_CLEAN)
    for v in variants:
        if v not in VARIANTS:
            raise InputError(f"--with-variant {v!r}: unknown variant; choose from: "
                             f"{', '.join(VARIANTS)}")
    check_number("--budget", budget, minimum=0, maximum=MAX_BUDGET, unit="seconds")
    check_number("--call-timeout", call_timeout, above=0, maximum=MAX_CALL_TIMEOUT,
                 unit="seconds")
    check_number("--memory-limit", memory_limit, minimum=MIN_MEMORY, maximum=MAX_MEMORY,
                 unit="MiB")
    check_number("--jobs", jobs, minimum=1, maximum=MAX_JOBS)
    sizes = tuple(sorted({_page_size(p) for p in page_sizes}))
    if replay_path is not None:
        _replay(ctx, replay_path, targets, fmt, call_timeout, memory_limit, as_json)
    source = None if kernel_source.strip().lower() == "none" else kernel_source
    if source is not None and not source.startswith("debian:") and not Path(source).expanduser().exists():
        raise InputError(f"--kernel-source {kernel_source}: no such file or folder; give a kernel "
                         f"tree or source tarball, debian:7.3, or none")
    if not targets and not all_builtin:
        raise InputError("no target: give a shared object, module:attr or builtin:NAME, or "
                         "--all-builtin (--list shows the built-in drivers)")
    # Every output is shown writable before any driver is checked.
    junit_path = output_file("--junit", junit) if junit else None
    made = not Path(reproducers).expanduser().exists()
    output_dir("--reproducers", reproducers)
    from zswap_spec.driverkit.conformance import KitOptions

    options = KitOptions(budget=budget, seed=seed, call_timeout=call_timeout, format=fmt,
                         variants=tuple(dict.fromkeys(variants)), reproducers=reproducers,
                         memory_limit=memory_limit << 20, kernel_source=source,
                         **({"page_sizes": sizes} if sizes else {}))
    given = (["--all-builtin"] if all_builtin else []) + list(targets)
    reports, interrupted = _check(given, options, jobs or min(2, os.cpu_count() or 1))
    _write(reports, as_json, junit_path)
    if made:
        try:
            Path(reproducers).expanduser().rmdir()  # made for nothing: no finding
        except OSError:
            pass
    if interrupted:
        raise KeyboardInterrupt
    bug = next((r for r in reports if r.internal), None)
    if bug is not None:
        raise DriverKitBug(f"{bug.error}\n\nThe traceback in the process that checked it:\n"
                           f"{bug.internal}")
    sys.exit(exit_code(reports))


def _replay(ctx, path, targets, fmt, call_timeout, memory_limit, as_json) -> None:
    """`--replay`: re-run one finding and exit 1 when it reproduces, 0 when not."""
    from zswap_spec.driverkit.conformance import KitOptions
    from zswap_spec.driverkit.history import history_text
    from zswap_spec.driverkit.reproducer import ReproducerError, load_reproducer, replay
    from zswap_spec.driverkit.abi import TargetError

    refuse_beside(ctx, "--replay", {"replay_path", "targets", "fmt", "call_timeout",
                                     "memory_limit", "as_json"},
                  "it re-runs one saved finding")
    if len(targets) > 1:
        raise InputError("--replay takes at most one TARGET (the same driver, built elsewhere)")
    try:
        rep = load_reproducer(path)
    except ReproducerError as e:
        raise InputError(str(e)) from None
    # every page size: the history may hold pages of any of them; the limits the
    # finding was made with, unless given now
    saved_timeout = rep.doc.get("call_timeout")
    if not given(ctx, "call_timeout") and isinstance(saved_timeout, (int, float)) \
            and 0 < saved_timeout <= MAX_CALL_TIMEOUT:
        call_timeout = float(saved_timeout)
    saved_memory = rep.doc.get("memory_limit")
    memory = memory_limit << 20
    if not given(ctx, "memory_limit") and isinstance(saved_memory, int) \
            and MIN_MEMORY << 20 <= saved_memory <= MAX_MEMORY << 20:
        memory = saved_memory
    options = KitOptions(call_timeout=call_timeout, memory_limit=memory, format=fmt,
                         reproducers=None)
    try:
        result = replay(rep, targets[0] if targets else None, options)
    except TargetError as e:
        result = None
        error = str(e)
    if result is None or result.error:
        msg = error if result is None else f"{result.target}: {result.error}"
        if as_json:
            click.echo(json.dumps({"replay": result.to_json() if result else None,
                                   "error": msg}, indent=2))
        click.echo(f"zswap-spec: {msg}", err=True)
        sys.exit(EXIT_UNCHECKED)
    if as_json:
        click.echo(json.dumps({"replay": result.to_json()}, indent=2))
    else:
        how = history_text(rep.history, rep.baseline)
        head = f"{result.target}: {rep.clause} "
        if result.reproduces:
            v = next(v for v in result.violations if v.clause == rep.clause)
            click.echo(f"{head}reproduces ({how}): {v.description}")
        else:
            click.echo(f"{head}does not reproduce ({how}): the case no longer breaks {rep.clause} "
                       f"(was the driver fixed, or does it depend on time or randomness?)")
        for v in result.violations:
            if v.clause != rep.clause:
                click.echo(f"    also {v.clause}: {v.description}")
    sys.exit(EXIT_FINDINGS if result.reproduces else EXIT_CLEAN)


def _check(given: list[str], options, jobs: int):
    """A report per driver of every target given, and whether an interrupt cut the run
    short (the drivers not checked then say so)."""
    from zswap_spec.driverkit.abi import TargetError
    from zswap_spec.driverkit.conformance import DriverReport, expand_target
    from zswap_spec.driverkit.jobs import check_targets
    from zswap_spec.driverkit.targets import builtin_targets, parse_target

    slots: list = []  # per target given: a report (could not be checked) or drivers to check
    done: dict = {}
    interrupted = False
    try:
        for text in given:
            try:
                expanded = (builtin_targets() if text == "--all-builtin"
                            else expand_target(parse_target(text), options))
            except TargetError as e:
                expanded = str(e)
            slots.append(DriverReport(text, text, error=expanded) if isinstance(expanded, str)
                         else expanded)
        planned = [t for s in slots if isinstance(s, list) for t in s]
        check_targets(planned, options, jobs, on_done=done.__setitem__)
    except KeyboardInterrupt:
        interrupted = True
    cut = "the run was interrupted before this driver's check ended"
    reports, k = [], 0
    for s in slots:
        if not isinstance(s, list):
            reports.append(s)
            continue
        for t in s:
            reports.append(done.get(k) or DriverReport(t.label, t.name or t.label,
                                                       seeded_bug=t.seeded_bug,
                                                       error=f"{t.label}: {cut}"))
            k += 1
    for text in given[len(slots):]:
        reports.append(DriverReport(text, text, error=f"{text}: {cut}"))
    return reports, interrupted


def _write(reports, as_json: bool, junit_path) -> None:
    from zswap_spec.driverkit.report import print_reports, reports_json, write_junit

    if junit_path is not None:
        write_junit(reports, str(junit_path))
    if as_json:
        click.echo(json.dumps(reports_json(reports), indent=2))
        for r in reports:
            if r.error:
                click.echo(f"zswap-spec: not checked: {r.error}", err=True)
    else:
        print_reports(reports)


def exit_code(reports) -> int:
    if any(r.error for r in reports):
        return EXIT_UNCHECKED
    for r in reports:
        if r.as_expected is False or (r.as_expected is None and not r.conforms):
            return EXIT_FINDINGS
    return EXIT_CLEAN

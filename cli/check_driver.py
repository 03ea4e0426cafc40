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
"""

from __future__ import annotations

import json
import os
import sys

import click

from .errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_UNCHECKED, InputError

_HELP_EPILOG = """\b
TARGET is the path of a shared object (every driver it exports; PATH@NAME
for one), a Python driver module:attr (module name or path of a .py file),
or builtin:NAME (see --list).
\b
Exit codes: 0 every driver conforms (seeded-bug drivers: rejected with their
expected clause); 1 a driver breaks a clause; 2 usage error; 3 a target could
not be checked at all (the others were); 3 wins over 1.
"""


@click.command("check-driver", epilog=_HELP_EPILOG)
@click.argument("targets", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["lz4", "zstd", "deflate", "none"]),
              help="Output format for the reference decompressor (default: what the driver declares).")
@click.option("--with-variant", "variants", multiple=True,
              help="Also run the built-in sample through this zswap variant with the driver "
                   "(repeatable).")
@click.option("--budget", type=float, default=5.0, show_default=True,
              help="Seconds of Hypothesis search per driver after the fixed vectors (0: vectors only).")
@click.option("--call-timeout", type=float, default=5.0, show_default=True,
              help="Seconds one driver call may take before it counts as a hang (C-HANG).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the search.")
@click.option("--jobs", type=int, default=None, help="Drivers checked at once (default: cores, at most 2).")
@click.option("--reproducers", "reproducers", type=click.Path(), default="zswap-driver-findings",
              show_default=True, help="Folder for the minimal reproducers.")
@click.option("--json", "as_json", is_flag=True, help='Print {"drivers": [...]} as JSON.')
@click.option("--junit", "junit", type=click.Path(), help="Write JUnit XML to this file.")
@click.option("--list", "list_", is_flag=True, help="List the built-in and seeded-bug drivers.")
@click.option("--all-builtin", is_flag=True, help="Check every built-in and seeded-bug driver.")
@click.option("--header-dir", is_flag=True,
              help="Print the folder of zswap_acomp_driver.h (for gcc -I) and exit.")
def check_driver(targets, fmt, variants, budget, call_timeout, seed, jobs, reproducers, as_json,
                 junit, list_, all_builtin, header_dir) -> None:
    """Check compression drivers against the acomp batch contract, clause by clause."""
    from zswap_spec.model.variants import VARIANTS
    from zswap_spec.driverkit.abi import TargetError, header_path

    if header_dir:
        click.echo(str(header_path().parent))
        sys.exit(EXIT_CLEAN)
    if list_:
        from zswap_spec.driverkit.report import print_catalogue

        print_catalogue()
        sys.exit(EXIT_CLEAN)
    for v in variants:
        if v not in VARIANTS:
            raise InputError(f"--with-variant {v!r}: unknown variant; choose from: "
                             f"{', '.join(VARIANTS)}")
    if not budget >= 0:
        raise InputError(f"--budget {budget}: give seconds, 0 or more")
    if not call_timeout > 0:
        raise InputError(f"--call-timeout {call_timeout}: give seconds above 0")
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs {jobs}: give 1 or more")
    if not targets and not all_builtin:
        raise InputError("no target: give a shared object, module:attr or builtin:NAME, or "
                         "--all-builtin (--list shows the built-in drivers)")
    from zswap_spec.driverkit.conformance import DriverReport, KitOptions, check_targets, expand_target
    from zswap_spec.driverkit.report import print_reports, reports_json, write_junit
    from zswap_spec.driverkit.targets import builtin_targets, parse_target

    options = KitOptions(budget=budget, seed=seed, call_timeout=call_timeout, format=fmt,
                         variants=tuple(dict.fromkeys(variants)), reproducers=reproducers)
    # One slot per target as given: a report (could not be checked) or drivers to check.
    slots: list = []
    if all_builtin:
        try:
            slots.append(builtin_targets())
        except TargetError as e:
            slots.append(DriverReport("--all-builtin", "--all-builtin", error=str(e)))
    for text in targets:
        try:
            expanded = expand_target(parse_target(text), options)
        except TargetError as e:
            expanded = str(e)
        slots.append(DriverReport(text, text, error=expanded) if isinstance(expanded, str)
                     else expanded)
    planned = [t for s in slots if isinstance(s, list) for t in s]
    checked = iter(check_targets(planned, options, jobs or min(2, os.cpu_count() or 1)))
    reports = []
    for s in slots:
        if isinstance(s, list):
            reports.extend(next(checked) for _ in s)
        else:
            reports.append(s)
    if as_json:
        click.echo(json.dumps(reports_json(reports), indent=2))
        for r in reports:
            if r.error:
                click.echo(f"zswap-spec: not checked: {r.error}", err=True)
    else:
        print_reports(reports)
    if junit:
        write_junit(reports, junit)
    sys.exit(exit_code(reports))


def exit_code(reports) -> int:
    if any(r.error for r in reports):
        return EXIT_UNCHECKED
    for r in reports:
        if r.as_expected is False or (r.as_expected is None and not r.conforms):
            return EXIT_FINDINGS
    return EXIT_CLEAN

"""The command's exit codes and its error type (the README's table says the same).

  0    clean: no invariant broken (replay), findings as the manifest expects (check)
  1    findings: an invariant was broken, a disagreement, a driver breaks a clause
  2    usage or input error: one line on stderr naming the input and the fix
  3    check-driver: a target could not be checked at all; kernel-build and
       kernel-check --seeded: the kernel did not build (the line names its log)
  4    internal error: a bug in zswap-spec; one line naming the file that holds the
       traceback (`zswap-spec --debug ...` prints it)
  130  interrupted (Ctrl-C, SIGTERM); what was found before is written first

1 is never a crash: a run that ends in 1 finished and found something.
"""

from __future__ import annotations

import click

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_USAGE", "EXIT_UNCHECKED", "EXIT_INTERNAL",
           "EXIT_INTERRUPTED", "InputError"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_UNCHECKED, EXIT_INTERNAL = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130


class InputError(click.ClickException):
    """Bad input: printed as one line, exit 2."""

    exit_code = EXIT_USAGE

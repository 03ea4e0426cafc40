"""The command's exit codes and its error type (the README's table says the same).

  0  clean: no invariant broken (replay), findings as the manifest expects (check)
  1  replay: an invariant was broken; check: findings differ from the manifest
  2  usage or input error: one line on stderr naming the input and the fix
  3  check-driver: a target could not be checked at all
"""

from __future__ import annotations

import click

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_USAGE", "EXIT_UNCHECKED", "InputError"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_UNCHECKED = 0, 1, 2, 3


class InputError(click.ClickException):
    """Bad input: printed as one line, exit 2."""

    exit_code = EXIT_USAGE

"""The `zswap-spec` command: the users' jobs, one subcommand each, one module
per subcommand in this package.  Exit codes: `errors`.
"""

from __future__ import annotations

import sys

import click

from . import (bench, check, check_driver, fuzz, kernel_check, kernel_fuzz, prove, replay, script,
               variants)
from .errors import EXIT_CLEAN, EXIT_USAGE

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="zswap-spec")
def cli() -> None:
    """Executable specification of Linux zswap's (batched) compression path."""


# Each subcommand's module defines a click command of the module's name.
for _module in (bench, check, check_driver, fuzz, kernel_check, kernel_fuzz, prove, replay,
                script, variants):
    cli.add_command(getattr(_module, _module.__name__.rsplit(".", 1)[1]))


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

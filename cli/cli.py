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
@click.option("--json", "as_json", is_flag=True, help="Print {\"runs\": [...]} as JSON.")
def replay(files, variants, compressors, folio_pages, no_writeback, page_size, as_json) -> None:
    """Swap FILE... out through each variant and compressor, read it back, check."""
    from .replay import RunConfig, replay_pages
    from .report import print_runs, runs_json

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
            results.append(replay_pages(pages, cfg, progress=advance))
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

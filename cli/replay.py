"""`zswap-spec replay`: Swap files of pages out through variants and compressors, read back, check."""

from __future__ import annotations

import json
import sys

import click

from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.variants import VARIANTS

from .errors import EXIT_CLEAN, EXIT_FINDINGS, InputError
from .options import (Progress, check_names, check_page_size, choice_list, page_size_option, read_pages,
                      resolve_impl)


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--variant", "variants", multiple=True,
              help=f"Variant to run (repeatable; default all): {choice_list(VARIANTS)}.")
@click.option("--compressor", "compressors", multiple=True,
              help=f"Compressor (repeatable; default lz4): {choice_list(ALGORITHMS)}.")
@click.option("--folio-pages", type=int, default=1, show_default=True,
              help="Pages per folio, 1 to 512.")
@click.option("--no-writeback", is_flag=True, help="Run with memory.zswap.writeback = 0.")
@page_size_option
@click.option("--impl", type=click.Choice(["auto", "core", "model"]), default="auto",
              show_default=True,
              help="Implementation: the optimized core, the model, or auto (ZSWAP_SPEC_IMPL if set, "
                   "else the core when it is built and implements the run, else the model).")
@click.option("--json", "as_json", is_flag=True, help="Print {\"runs\": [...]} as JSON.")
def replay(files, variants, compressors, folio_pages, no_writeback, page_size, impl, as_json) -> None:
    """Swap FILE... out through each variant and compressor, read it back, check."""
    from zswap_spec.replay import RunConfig, replay_pages, run_needs
    from zswap_spec.replay.report import print_runs, runs_json

    variants = check_names("variant", variants, VARIANTS) or list(VARIANTS)
    compressors = check_names("compressor", compressors, ALGORITHMS) or ["lz4"]
    if not 1 <= folio_pages <= 512:
        raise InputError(f"--folio-pages {folio_pages} is out of range; use 1 to 512")
    check_page_size(page_size)
    pages: list[bytes] = []
    for path in files:
        pages.extend(read_pages(path, page_size, lambda msg: click.echo(f"note: {msg}", err=True)))
    configs = [RunConfig(v, c, not no_writeback, folio_pages, page_size)
               for c in compressors for v in variants]
    # Refuse what the request cannot serve before any run; each run then
    # takes the implementation by the same rule for what it needs.
    for cfg in configs:
        resolve_impl(impl, needs=run_needs(len(pages), cfg))
    results = []
    with Progress(len(pages) * 2 * len(configs)) as advance:
        for cfg in configs:
            results.append(replay_pages(pages, cfg, progress=advance, impl=impl))
    if as_json:
        click.echo(json.dumps(runs_json(results), indent=2))
    else:
        print_runs(results)
    broken = any(r.violations for r in results)
    sys.exit(EXIT_FINDINGS if broken else EXIT_CLEAN)

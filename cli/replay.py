"""`zswap-spec replay`: Swap files of pages out through variants and compressors, read back, check."""

from __future__ import annotations

import json
import sys

import click

from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.variants import VARIANTS

from .errors import EXIT_CLEAN, EXIT_FINDINGS, InputError
from .options import (Progress, check_names, check_page_size, choice_list, given, page_size_option,
                      read_pages, resolve_impl)


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--variant", "variants", multiple=True,
              help=f"Variant to run (repeatable; default all): {choice_list(VARIANTS)}.")
@click.option("--compressor", "compressors", multiple=True,
              help=f"Compressor (repeatable; default lz4): {choice_list(ALGORITHMS)}.")
@click.option("--folio-pages", type=int, default=1, show_default=True,
              help="Pages per folio, 1 to 512.")
@click.option("--writeback", type=click.Choice(["on", "off", "both"]), default="on",
              show_default=True,
              help="memory.zswap.writeback: on, off, or both (every run twice, in one invocation).")
@click.option("--no-writeback", is_flag=True, help="Same as --writeback off.")
@page_size_option
@click.option("--impl", type=click.Choice(["auto", "core", "model"]), default="auto",
              show_default=True,
              help="Implementation: the optimized core, the model, or auto (ZSWAP_SPEC_IMPL if set, "
                   "else the core when it is built and implements the run, else the model).")
@click.option("--json", "as_json", is_flag=True, help="Print {\"runs\": [...]} as JSON.")
def replay(files, variants, compressors, folio_pages, writeback, no_writeback, page_size, impl,
           as_json) -> None:
    """Swap FILE... out through each variant and compressor, read it back, check.

    Files are read a chunk at a time, again for the read-back; a pipe, FIFO or
    device such as /dev/zero is replayed in windows, each read back before the
    next (the README's replay section)."""
    from zswap_spec.pool import PoolInputError
    from zswap_spec.replay import RunConfig, run_needs
    from zswap_spec.replay.report import print_runs, runs_json
    from zswap_spec.replay.source import SourceError
    from zswap_spec.replay.stream import Stopped, replay_source

    if no_writeback and writeback != "off" and given(click.get_current_context(), "writeback"):
        raise InputError(f"--no-writeback contradicts --writeback {writeback}; give one of them")
    if no_writeback:
        writeback = "off"
    settings = {"on": [True], "off": [False], "both": [True, False]}[writeback]
    variants = check_names("variant", variants, VARIANTS) or list(VARIANTS)
    compressors = check_names("compressor", compressors, ALGORITHMS) or ["lz4"]
    if not 1 <= folio_pages <= 512:
        raise InputError(f"--folio-pages {folio_pages} is out of range; use 1 to 512")
    check_page_size(page_size)
    source = read_pages(files, page_size, lambda msg: click.echo(f"note: {msg}", err=True))
    configs = [RunConfig(v, c, wb, folio_pages, page_size)
               for wb in settings for c in compressors for v in variants]
    # Refuse what the request cannot serve before any run (a compressor the core
    # lacks); near the pool limit each run takes the model as it goes.
    for cfg in configs:
        resolve_impl(impl, needs=run_needs(None, cfg))
    pages = source.nr_pages or 0
    stopped = None
    with Progress(pages * 2 * len(configs)) as advance:
        try:
            results = replay_source(source, configs, impl, progress=advance)
        except Stopped as e:
            results, stopped = e.results, e
        except SourceError as e:
            raise InputError(str(e)) from None
        except PoolInputError as e:
            raise InputError(str(e)) from None
    if as_json:
        click.echo(json.dumps(runs_json(results, interrupted=stopped is not None), indent=2))
    else:
        print_runs(results)
    if stopped is not None:
        raise stopped  # exit 130, after what was done
    broken = any(r.violations for r in results)
    sys.exit(EXIT_FINDINGS if broken else EXIT_CLEAN)

"""`zswap-spec prove`: Prove or refute the theorems with Z3."""

from __future__ import annotations

import os
import sys

import click

from zswap_spec.model.variants import VARIANTS

from .errors import InputError
from .options import check_names, check_number, check_page_size, choice_list


@click.command()
@click.option("--variant", "variants", multiple=True,
              help=f"Variant (repeatable; default all): {choice_list(VARIANTS)}.")
@click.option("--assume", "assumptions", multiple=True,
              help="Assumption set about the compressor (repeatable; default all): "
                   "any, kernel-sw, batching, strict.")
@click.option("--page-size", "page_sizes", multiple=True, type=int,
              help="PAGE_SIZE (repeatable; default 4096, 16384 and 65536).")
@click.option("--jobs", type=int, default=None, help="Processes (default: cores, at most 2).")
@click.option("--update-manifest", is_flag=True,
              help="Write the results as proofs/expected.toml (every variant and assumption set).")
@click.option("--update-spec", is_flag=True,
              help="Rewrite the generated proof results section (§9) of spec/zswap-spec.md "
                   "(a full run only).")
@click.option("--json", "as_json", is_flag=True, help='Print {"results": [...]} as JSON.')
@click.option("--long", "long", is_flag=True,
              help="One row per theorem, variant and assumption set instead of the grid.")
def prove(variants, assumptions, page_sizes, jobs, update_manifest, update_spec, as_json,
          long) -> None:
    """Prove or refute every theorem (one per property ID of the spec) for each variant with
    Z3: a grid of the answers, each counterexample once, the comparison with the manifest."""
    from zswap_spec.proofs.assumptions import ASSUMPTIONS
    from zswap_spec.proofs.run import partial_update, run_prove
    from zswap_spec.proofs.theorems import PAGE_SIZES

    variants = check_names("variant", variants, VARIANTS) or list(VARIANTS)
    assumptions = check_names("assumption set", assumptions, ASSUMPTIONS) or list(ASSUMPTIONS)
    for ps in page_sizes:
        check_page_size(ps)
    check_number("--jobs", jobs, minimum=1, maximum=64)
    if as_json and long:
        raise InputError("--long shapes the table; --json prints every result already: "
                         "give one of them")
    page_sizes = list(dict.fromkeys(page_sizes)) or list(PAGE_SIZES)
    why = partial_update(variants, assumptions, page_sizes, update_manifest, update_spec)
    if why:  # before any proving
        raise InputError(why)
    if update_manifest or update_spec:
        _check_targets(update_manifest, update_spec)
    sys.exit(run_prove(variants, assumptions, page_sizes, jobs or min(2, os.cpu_count() or 1),
                       update_manifest, update_spec, as_json, long))


def _check_targets(update_manifest: bool, update_spec: bool) -> None:
    """The files a run will rewrite, shown writable (and the spec's generated section
    present) before any proving, so that no result is lost at the end."""
    from zswap_spec.proofs.catalogue import BEGIN, END, SPEC_PATH
    from zswap_spec.proofs.manifest import MANIFEST

    from .options import output_file

    if update_manifest:
        output_file("--update-manifest", MANIFEST)
    if update_spec:
        output_file("--update-spec", SPEC_PATH)
        try:
            text = SPEC_PATH.read_text()
        except OSError as e:
            raise InputError(f"--update-spec: {SPEC_PATH} cannot be read ({e.strerror}); "
                             "restore it from version control") from None
        if BEGIN not in text or END not in text[text.find(BEGIN):]:
            raise InputError(f"--update-spec: {SPEC_PATH} has no generated proofs section "
                             f"({BEGIN!r} ... {END!r}); restore it from version control")

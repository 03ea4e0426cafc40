"""`zswap-spec variants`: List the variants and their sources."""

from __future__ import annotations

import click
from rich.table import Table

from zswap_spec.model.variants import VARIANTS
from zswap_spec.support.console import console


@click.command()
def variants() -> None:
    """List the variants, what each transcribes and where from."""
    print_variants()


def print_variants() -> None:
    table = Table(title="variants")
    for col in ("name", "what it is", "crypto layer", "base tree", "source"):
        table.add_column(col)
    for v in VARIANTS.values():
        table.add_row(v.name, v.title, v.crypto_layer, v.base_tree, v.source)
    console.print(table)

"""`zswap-spec variants`: List the variants and their sources."""

from __future__ import annotations

import click
from rich.table import Table

from zswap_spec.model.variants import VARIANTS
from zswap_spec.support.console import console


@click.command()
@click.option("--decision-tables", is_flag=True,
              help="Print the spec's decision tables (§6) as the model answers them, one "
                   "column per variant: a new variant's column, to review and paste into the spec.")
@click.option("--functions", is_flag=True,
              help="Print each variant's transcribed functions, in order, with their citations.")
@click.option("--variant", "names", multiple=True, metavar="NAME",
              help="Only this variant (repeatable; default: every variant).")
def variants(decision_tables: bool, functions: bool, names: tuple[str, ...]) -> None:
    """List the variants, what each transcribes and where from."""
    from .options import check_names, refuse_beside

    if decision_tables:
        refuse_beside(click.get_current_context(), "--decision-tables", {"decision_tables", "names"},
                      "it prints the decision tables, not the functions")
    chosen = check_names("variant", list(dict.fromkeys(names)), VARIANTS) or list(VARIANTS)
    if decision_tables:
        print_decision_tables(chosen)
    elif functions:
        print_functions(chosen)
    else:
        print_variants(chosen)


def print_variants(names=None) -> None:
    table = Table(title="variants")
    for col in ("name", "what it is", "crypto layer", "base tree", "source"):
        table.add_column(col)
    for v in VARIANTS.values():
        if names is None or v.name in names:
            table.add_row(v.name, v.title, v.crypto_layer, v.base_tree, v.source)
    console.print(table)


def print_functions(names) -> None:
    """Each variant's transcribed functions with the C function and source each cites."""
    for name in names:
        v = VARIANTS[name]
        console.print(f"[bold]{name}[/]: {v.title}", soft_wrap=True)
        for fn in v.functions:
            t = fn.transcription
            what = t.function if t.function == t.name else f"{t.name}() in {t.function}"
            console.print(f"  {fn.__module__.rsplit('.', 1)[-1]}.py {what}: {t.source}",
                          soft_wrap=True, markup=False)


def print_decision_tables(names) -> None:
    """Markdown: each decision table's rows, the model's answer per variant (4 KiB pages)."""
    from zswap_spec.model.outcome_words import decision_cells
    from zswap_spec.spec import TABLES

    for kind in ("software", "batching"):
        cells = {n: decision_cells(n, kind) for n in names}
        print(f"<!-- {kind}: writeback on / writeback off, as the model answers -->")
        print("| ID | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for row in TABLES[kind]:
            print(f"| {row['id']} | " + " | ".join(cells[n][row['id']] for n in names) + " |")
        print()

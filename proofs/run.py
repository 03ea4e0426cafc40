"""`zswap-spec prove`: run the theorems, compare with the manifest, report.

The report: a grid of every theorem (rows, by property ID) for every variant
and assumption set (columns), one cell over every page size; the statements
of the IDs as the spec words them; each distinct counterexample once, in C
terms; per variant, the assumption sets under which it is correct; the
comparison with the manifest.  `long` prints one row per theorem, variant
and assumption set instead of the grid.
"""

from __future__ import annotations

import json
import textwrap
import time

from zswap_spec.model.variants import VARIANTS
from zswap_spec.support.console import console
from zswap_spec.support.interrupts import Interrupted, reported_on_interrupt
from . import manifest
from .assumptions import ASSUMPTIONS
from .catalogue import (ASSUMPTION_LETTER, cells, correct_under, counterexample_groups,
                        counterexample_text, grid_axes, grid_lines, refutes_text,
                        update_spec as write_spec)
from .theorems import PAGE_SIZES, THEOREMS, prove_all

__all__ = ["run_prove", "partial_update"]

WIDTH = 100  # the report's lines fit in this many columns (the grid's always do)
STYLE = {"✓": "green", "✗": "red", "?": "yellow"}
LEGEND = ("✓ proved, ✗ counterexample, ? unknown, at every page size run "
          "(✗4K: a counterexample at 4096 only)")


def partial_update(variants, assumptions, page_sizes, update_manifest: bool,
                   update_spec: bool) -> str | None:
    """Why a run cannot rewrite the manifest or the spec's §9 (they record every variant
    and assumption set, §9 every page size too), or None when it can."""
    every = set(variants) == set(VARIANTS) and set(assumptions) == set(ASSUMPTIONS)
    if update_manifest and not every:
        return "--update-manifest needs every variant and assumption set; drop --variant and --assume"
    if update_spec and not (every and set(page_sizes) == set(PAGE_SIZES)):
        return ("--update-spec needs every variant, assumption set and page size; "
                "drop --variant, --assume and --page-size")
    return None


def run_prove(variants, assumptions, page_sizes, jobs: int, update_manifest: bool,
              update_spec: bool, as_json: bool, long: bool = False) -> int:
    """Prove, write what was asked (a whole run only), report; the exit code.  An
    interrupt reports the groups of (variant, page size) done, names the others, writes
    nothing, and goes on (exit 130)."""
    why = partial_update(variants, assumptions, page_sizes, update_manifest, update_spec)
    if why:
        raise ValueError(why)  # the command checks first and exits 2
    expected = None if update_manifest else manifest.load()  # a broken manifest fails first
    started = time.perf_counter()
    vac: dict = {}
    every_group = [(v, ps) for ps in page_sizes for v in variants]

    def interrupted(e: KeyboardInterrupt) -> None:
        done, not_run = (e.done, e.not_done) if isinstance(e, Interrupted) else ([], every_group)
        _report(done, vac, variants, _expected_if_readable(expected), time.perf_counter() - started,
                as_json, long, not_run=not_run)

    with reported_on_interrupt(interrupted):
        results = prove_all(variants, assumptions, page_sizes, jobs=jobs,
                            expected=_expected_if_readable(expected) or {}, vacuity_out=vac)
    total = time.perf_counter() - started
    if update_manifest:
        manifest.write([r for r in results if r.page_size == page_sizes[0]])
    if update_spec:
        write_spec(results)
    if expected is None:
        expected = manifest.load()
    return _report(results, vac, variants, expected, total, as_json, long)


def _expected_if_readable(expected):
    """The manifest to compare an interrupted run with: the one loaded, else the file's
    (an --update-manifest run did not load it), else none."""
    if expected is not None:
        return expected
    try:
        return manifest.load()
    except Exception:  # noqa: BLE001 - a broken manifest only costs the comparison here
        return None


def _report(results, vac, variants, expected, total: float, as_json: bool, long: bool,
            not_run=None) -> int:
    """Print the results (JSON or the grid) and their comparison with the manifest;
    `not_run`: the (variant, page size) groups an interrupt left out.  The exit code."""
    bad = manifest.mismatches(results, expected) if expected is not None else []
    vac = {key: vac[key] for key in sorted(vac, key=lambda k: (list(ASSUMPTIONS).index(k[0]), k[1]))}
    vacuous = [(a, ps, k) for (a, ps), checks in vac.items() for k, ok in checks.items() if not ok]
    if as_json:
        doc = {
            "results": [r.to_json() for r in results],
            "vacuity": [{"assumption": a, "page_size": ps, **checks} for (a, ps), checks in vac.items()],
            "mismatches": [{"theorem": r.theorem, "variant": r.variant, "assumption": r.assumption,
                            "page_size": r.page_size, "status": r.status, "expected": want}
                           for r, want in bad],
            "seconds": round(total, 3),
        }
        if not_run is not None:
            doc["interrupted"] = True
            doc["not_run"] = [{"variant": v, "page_size": ps} for v, ps in not_run]
        print(json.dumps(doc, indent=2))
    elif not_run is None:
        _print(results, variants, bad, vacuous, total, long)
    else:
        if results:
            _print(results, [v for v in variants if any(r.variant == v for r in results)],
                   bad, vacuous, total, long)
        else:
            console.print("no (variant, page size) group was proved before the interrupt")
        console.print(f"interrupted: {len(not_run)} (variant, page size) groups not run: "
                      + ", ".join(f"{v} at {ps}" for v, ps in not_run), soft_wrap=True)
    return 1 if bad or vacuous else 0


def _styled(line: str):
    from rich.text import Text

    text = Text(line)
    for i, ch in enumerate(line):
        if ch in STYLE:
            text.stylize(STYLE[ch], i, i + 1)
    return text


def _print_grid(results) -> None:
    theorems, _, assumptions = grid_axes(results)
    letters = ", ".join(f"{ASSUMPTION_LETTER[a]} = {a}" for a in assumptions)
    console.print(LEGEND, soft_wrap=True)
    console.print(f"columns: variant, then assumption set: {letters}", soft_wrap=True)
    console.print()
    for line in grid_lines(results):
        console.print(_styled(line), soft_wrap=True)
    console.print()
    label = max(map(len, theorems)) + 2
    for t in theorems:
        console.print(textwrap.fill(THEOREMS[t].statement, WIDTH, initial_indent=t.ljust(label),
                                    subsequent_indent=" " * label), soft_wrap=True, markup=False)


def _print_long(results) -> None:
    from rich import box
    from rich.table import Table

    console.print(LEGEND, soft_wrap=True)
    console.print("seconds: summed over the page sizes", soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("theorem", "variant", "assumption", "result", "seconds"):
        table.add_column(col, no_wrap=True)
    by_key = cells(results)
    seconds: dict[tuple, float] = {}
    for r in results:
        key = (r.theorem, r.variant, r.assumption)
        seconds[key] = seconds.get(key, 0.0) + r.seconds
    for (theorem, variant, assumption), s in seconds.items():
        table.add_row(theorem, variant, assumption, by_key[(theorem, variant, assumption)], f"{s:.2f}")
    console.print(table)


def _print(results, variants, bad, vacuous, total, long: bool) -> None:
    (_print_long if long else _print_grid)(results)
    groups = counterexample_groups(results)
    if groups:
        console.print("\ncounterexamples, each once (smallest batch, at the smallest PAGE_SIZE "
                      "that has one):", soft_wrap=True)
    for r, refuted in groups:
        console.print(refutes_text(r.variant, refuted), soft_wrap=True, markup=False)
        console.print(counterexample_text(r, indent="    ",
                                          alone=any(t == "INV-BATCH" for t, _ in refuted)),
                      soft_wrap=True, markup=False)
    console.print()
    for variant in variants:  # what fails where is the grid's (or the table's) to show
        ok, _ = correct_under(results, variant)
        console.print(f"[bold]{variant}[/] is correct under: {', '.join(ok) or 'no assumption set'}",
                      soft_wrap=True)
    for a, ps, check in vacuous:
        console.print(f"[red]assumption set {a} at PAGE_SIZE {ps}: '{check}' is impossible: "
                      f"proofs under it would be vacuous[/]")
    for r, want in bad:
        expects = f"the manifest expects {want}" if want else "the manifest has no entry for it"
        console.print(f"[red]{r.theorem} / {r.variant} / {r.assumption} / PAGE_SIZE {r.page_size}: "
                      f"{r.status}, {expects}[/]", soft_wrap=True)
    n = len(results)
    console.print(f"{n} results, {n - len(bad)} as the manifest expects; "
                  f"{'no vacuous assumption set' if not vacuous else f'{len(vacuous)} vacuity failures'}; "
                  f"total {total:.1f} s")

"""`zswap-spec prove`: run the theorems, compare with the manifest, report."""

from __future__ import annotations

import json
import time

from zswap_spec.model.variants import VARIANTS
from zswap_spec.support.console import console
from . import manifest
from .assumptions import ASSUMPTIONS
from .catalogue import correct_under, counterexample_text, update_spec as write_spec
from .theorems import prove_all, vacuity

__all__ = ["run_prove"]


def run_prove(variants, assumptions, page_sizes, jobs: int, update_manifest: bool,
              update_spec: bool, as_json: bool) -> int:
    started = time.perf_counter()
    vac = {(a, ps): vacuity(a, ps) for a in assumptions for ps in page_sizes}
    results = prove_all(variants, assumptions, page_sizes, jobs=jobs)
    total = time.perf_counter() - started
    if update_manifest:
        if set(variants) != set(VARIANTS) or set(assumptions) != set(ASSUMPTIONS):
            raise SystemExit("zswap-spec: error: --update-manifest needs every variant and "
                             "assumption set; drop --variant and --assume")
        manifest.write([r for r in results if r.page_size == page_sizes[0]])
    if update_spec:
        write_spec(results)
    expected = manifest.load()
    bad = manifest.mismatches(results, expected)
    vacuous = [(a, ps, k) for (a, ps), checks in vac.items() for k, ok in checks.items() if not ok]
    if as_json:
        print(json.dumps({
            "results": [r.to_json() for r in results],
            "vacuity": [{"assumption": a, "page_size": ps, **checks} for (a, ps), checks in vac.items()],
            "mismatches": [{"theorem": r.theorem, "variant": r.variant, "assumption": r.assumption,
                            "page_size": r.page_size, "status": r.status, "expected": want}
                           for r, want in bad],
            "seconds": round(total, 3),
        }, indent=2))
    else:
        _print(results, variants, bad, vacuous, total)
    return 1 if bad or vacuous else 0


def _print(results, variants, bad, vacuous, total) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title="theorems (✓ proved, ✗ counterexample, ? unknown; time summed over page sizes)",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("theorem", "invariant", "variant", "assumption", "result", "seconds"):
        table.add_column(col, no_wrap=True)
    groups: dict[tuple, list] = {}
    for r in results:
        groups.setdefault((r.theorem, r.variant, r.assumption), []).append(r)
    mark = {"proved": "✓", "counterexample": "✗"}
    for (theorem, variant, assumption), rs in groups.items():
        statuses = {r.status for r in rs}
        cell = " ".join(mark.get(s, "?") for s in sorted(statuses))
        if len(statuses) > 1:
            cell += " (differs by page size)"
        table.add_row(theorem, rs[0].invariant, variant, assumption, cell,
                      f"{sum(r.seconds for r in rs):.2f}")
    console.print(table)
    for variant in variants:
        ok, failing = correct_under(results, variant)
        why = "; ".join(f"{a}: {', '.join(ids)}" for a, ids in failing.items())
        console.print(f"[bold]{variant}[/] is correct under: {', '.join(ok) or 'no assumption set'}"
                      + (f"  (fails — {why})" if why else ""))
    smallest = min(r.page_size for r in results)
    console.print(f"\ncounterexamples (smallest batch, PAGE_SIZE {smallest}):")
    for (theorem, variant, assumption), rs in groups.items():
        r = next((x for x in rs if x.page_size == smallest and x.counterexample), None)
        if r is not None:
            console.print(f"{r.invariant} {theorem} — {variant} under {assumption}:")
            console.print(counterexample_text(r, indent="    "))
    for a, ps, check in vacuous:
        console.print(f"[red]assumption set {a} at PAGE_SIZE {ps}: '{check}' is impossible: "
                      f"proofs under it would be vacuous[/]")
    for r, want in bad:
        console.print(f"[red]{r.theorem} / {r.variant} / {r.assumption} / PAGE_SIZE {r.page_size}: "
                      f"{r.status}, the manifest expects {want}[/]")
    n = len(results)
    console.print(f"{n} results, {n - len(bad)} as the manifest expects; "
                  f"{'no vacuous assumption set' if not vacuous else f'{len(vacuous)} vacuity failures'}; "
                  f"total {total:.1f} s")

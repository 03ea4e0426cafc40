"""`zswap-spec check`'s report: the tables of the grid, the comparison with the
manifest, one line per later stage; or the same as JSON.  An interrupted run's
report says which stage was under way and which did not run (its JSON:
`"interrupted": true`, `"not_run"`, and null for a stage not run)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.variants import VARIANTS
from zswap_spec.replay.sample import default_sample, page_kinds
from zswap_spec.support.console import console

__all__ = ["report"]

WRITEBACK = (True, False)


def report(run, manifest: Path, as_json: bool, update_manifest: bool = False,
           interrupted: bool = False) -> None:
    """Print what `run` (a cli.check.CheckRun) has done."""
    seconds = time.perf_counter() - run.started
    if as_json:
        print(json.dumps(_json(run, seconds, interrupted), indent=2))
        return
    _print_summary(run.findings, run.results, run.page_size, default_sample(run.page_size),
                   run.batch_details)
    _print_comparison(run, manifest, interrupted)
    _print_stages(run)
    if interrupted:
        if update_manifest and not run.manifest_written:
            console.print(f"--update-manifest: {manifest} not written (the grid did not end)",
                          soft_wrap=True)
        rest = run.not_run()
        console.print(f"interrupted during {run.running}"
                      + (f"; not run: {', '.join(rest)}" if rest else ""), soft_wrap=True)
    console.print(f"check took {seconds:.1f} s")


def _key_json(k) -> dict:
    return {"variant": k[0], "compressor": k[1], "writeback": k[2], "folio_pages": k[3]}


def _json(run, seconds: float, interrupted: bool) -> dict:
    doc = {
        "page_size": run.page_size,
        "sample": page_kinds(default_sample(run.page_size)),
        "runs": [r.to_json() for r in run.results],
        "findings": [dict(_key_json(k), invariants=sorted(v)) for k, v in run.findings.items() if v],
        "mismatches": None if run.mismatches is None else
        [dict(_key_json(k), new=new, gone=gone) for k, new, gone in run.mismatches],
        "proofs": None if run.proofs is None else
        {"results": run.proofs["count"], "mismatches": run.proofs["bad"],
         "seconds": round(run.proofs["seconds"], 3),
         **({"not_run": [{"variant": v, "page_size": ps} for v, ps in run.proofs["not_run"]]}
            if "not_run" in run.proofs else {})},
        "fuzz": None if run.fuzz is None else [r.to_json() for r in run.fuzz],
        "drivers": None if run.drivers is None else
        {"reports": [r.to_json() for r in run.drivers[1]], "mismatches": run.drivers[0],
         "seconds": round(run.drivers[2], 3)},
        "core": None if run.core is None else
        {"runs": run.core[3], "mismatches": run.core[0], "note": run.core[1],
         "seconds": round(run.core[2], 3)},
        "seconds": round(seconds, 3),
    }
    if interrupted:
        doc["interrupted"] = True
        doc["running"] = run.running
        doc["not_run"] = run.not_run()
    return doc


def _print_comparison(run, manifest: Path, interrupted: bool) -> None:
    total = len(VARIANTS) * len(ALGORITHMS) * len(WRITEBACK) * 2
    done = len(run.findings)
    scope = f"{done} configurations" + (f" done (of {total})" if done < total else "")
    if run.mismatches is None:
        if interrupted:
            console.print(f"{scope}: not compared with the manifest {manifest} (it does not load)",
                          soft_wrap=True)
    elif run.mismatches:
        console.print(f"[bold red]{len(run.mismatches)} configurations differ from the manifest "
                      f"{manifest}{f' (of the {done} done)' if done < total else ''}:[/]",
                      soft_wrap=True)
        for (v, c, wb, fp, _), new, gone in run.mismatches:
            console.print(f"  {v}/{c} writeback={'on' if wb else 'off'} folio={fp}: "
                          f"new {new or '-'}, gone {gone or '-'}")
    else:
        console.print(f"all {scope} match the manifest "
                      f"({sum(1 for v in run.findings.values() if v)} with expected findings)",
                      soft_wrap=True)


def _print_stages(run) -> None:
    p = run.proofs
    if p is not None and not p["count"] and "not_run" in p:
        console.print("proofs: interrupted before a (variant, page size) group was proved")
    elif p is not None:
        part = (f"interrupted after {p['count']} results; not run: "
                + ", ".join(f"{v} at {ps}" for v, ps in p["not_run"]) + "; ") if "not_run" in p else ""
        if p["bad"]:
            console.print(f"[bold red]proofs: {part}{len(p['bad'])} proof results differ from "
                          f"proofs/expected.toml (run 'zswap-spec prove' for details):[/]",
                          soft_wrap=True)
            for m in p["bad"][:10]:
                console.print(f"  {m}")
        else:
            console.print(f"proofs: {part}all {p['count']} results match proofs/expected.toml "
                          f"({p['seconds']:.1f} s)", soft_wrap=True)
    if run.fuzz:
        bad = [f"{r.variant}/{r.compressor}: {f.description} ({f.reproducer})"
               for r in run.fuzz for f in r.findings]
        if bad:
            console.print(f"[bold red]fuzz: {len(bad)} findings where none are expected:[/]")
            for line in bad:
                console.print(f"  {line}")
        else:
            console.print(f"fuzz: {sum(r.steps for r in run.fuzz)} state-machine steps over "
                          f"{', '.join(r.variant for r in run.fuzz)} with the real lz4, no finding")
    if run.drivers is not None:
        driver_bad, reports, driver_seconds = run.drivers
        if driver_bad:
            console.print(f"[bold red]drivers: {len(driver_bad)} differ from "
                          f"spec/expected-drivers.toml:[/]")
            for line in driver_bad:
                console.print(f"  {line}")
        else:
            seeded = sum(r.seeded_bug for r in reports)
            unjudged = [r for r in reports if r.seeded_bug and r.as_expected is None]
            console.print(f"drivers: {len(reports) - seeded} built-in drivers conform, "
                          f"{seeded - len(unjudged)} seeded-bug drivers rejected with their "
                          f"clauses ({driver_seconds:.1f} s)")
            for r in unjudged:
                console.print(f"  {r.name} not judged: "
                              f"{(r.selftest or {}).get('reason', 'its stage did not run')}")
    if run.core is not None:
        core_bad, core_note, core_seconds, compared = run.core
        if core_bad:
            console.print(f"[bold red]core: {len(core_bad)} replay runs differ from the model's:[/]")
            for line in core_bad[:10]:
                console.print(f"  {line}")
        elif not compared:
            console.print(f"core: {core_note}")
        else:
            console.print(f"core: the optimized core gives the model's run on all {compared} "
                          f"replay configurations it implements ({core_seconds:.1f} s)"
                          + (f"; {core_note}" if core_note else ""))


def _print_summary(findings, results, page_size, sample, batch_details) -> None:
    """The grid's two tables (writeback on, off); "-" for a configuration not run."""
    from rich.table import Table

    kinds = ", ".join(f"{k} {n}" for k, n in page_kinds(sample).items())
    console.print(f"built-in sample: {len(sample)} pages of {page_size} bytes ({kinds})")
    by_key = {(r.config.variant, r.config.compressor, r.config.writeback, r.config.folio_pages): r
              for r in results}
    for wb in WRITEBACK:
        table = Table(title=f"writeback {'enabled' if wb else 'disabled'}: outcomes "
                            f"(compressed/raw/rejected, folio of 1) and broken invariants")
        table.add_column("variant")
        for c in ALGORITHMS:
            table.add_column(c)
        for v in VARIANTS:
            row = [v]
            for c in ALGORITHMS:
                one, eight = (v, c, wb, 1, page_size), (v, c, wb, 8, page_size)
                if one not in findings:
                    row.append("-")
                    continue
                r = by_key[(v, c, wb, 1)]
                ids = sorted(findings[one] | findings.get(eight, set()))
                cell = f"{r.count('compressed')}/{r.count('raw')}/{r.count('rejected')}"
                cell += "\n" + ("[red]" + " ".join(i.removeprefix("INV-") for i in ids) + "[/]" if ids else "[green]ok[/]")
                if eight not in findings:
                    cell += "\n(folio 8 not run)"
                row.append(cell)
            table.add_row(*row)
        console.print(table)
    for cfg, diff, batched, single in batch_details[:5]:
        i = diff[0]
        console.print(f"INV-BATCH {cfg.variant}/{cfg.compressor} writeback={'on' if cfg.writeback else 'off'}: "
                      f"page {i} is '{batched[i]}' in batches of {cfg.folio_pages} but '{single[i]}' one by one "
                      f"({len(diff)} pages differ)")

"""`zswap-spec check`: every variant x compressor x writeback x folio size on
the built-in sample, INV-BATCH across batch sizes, and the comparison with
the manifest of expected findings (spec/expected-check.toml).

The manifest lists, per configuration, the invariants the built-in sample
breaks.  A configuration not listed is expected to break none.  A change of
answer (a new finding, or one that went away) makes `check` exit 1 and shows
as a diff of the manifest when it is rewritten with `--update-manifest`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from zswap_spec import spec as spec_pkg
from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.variants import VARIANTS
from zswap_spec.replay import RunConfig, replay_pages
from zswap_spec.support.console import console
from zswap_spec.replay.sample import default_sample, page_kinds
from zswap_spec.support import manifest as manifests

from .errors import InputError
from .options import check_page_size, page_size_option

__all__ = ["run_check", "collect_findings", "MANIFEST_PATH", "load_manifest"]

MANIFEST_PATH = Path(spec_pkg.__file__).with_name("expected-check.toml")
FOLIO_SIZES = (1, 8)
WRITEBACK = (True, False)

Key = tuple[str, str, bool, int, int]  # variant, compressor, writeback, folio_pages, page_size


def collect_findings(page_size: int = 4096):
    """Run the grid; (findings by configuration, run results, INV-BATCH details)."""
    pages = [p.data for p in default_sample(page_size)]
    findings: dict[Key, set[str]] = {}
    results = []
    batch_details = []
    for variant in VARIANTS:
        for compressor in ALGORITHMS:
            for wb in WRITEBACK:
                for folio_pages in FOLIO_SIZES:
                    cfg = RunConfig(variant, compressor, wb, folio_pages, page_size)
                    r = replay_pages(pages, cfg)
                    results.append(r)
                    ids = {v.invariant for v in r.violations}
                    if folio_pages > 1:
                        # INV-BATCH: the same folios with one unit per batch.
                        single = replay_pages(pages, RunConfig(variant, compressor, wb, folio_pages,
                                                               page_size, max_batch_size=1))
                        diff = [i for i, (a, b) in enumerate(zip(r.outcomes, single.outcomes)) if a != b]
                        if diff:
                            ids.add("INV-BATCH")
                            batch_details.append((cfg, diff, r.outcomes, single.outcomes))
                    findings[(variant, compressor, wb, folio_pages, page_size)] = ids
    return findings, results, batch_details


MANIFEST_SCHEMA = manifests.register(manifests.Schema(
    kind="check",
    doc="The invariants `zswap-spec check` finds broken on the built-in sample, one entry per "
        "configuration that breaks any; a configuration not listed must break none.",
    fields={
        "variant": manifests.Field("str", choices=tuple(VARIANTS), doc="the variant (spec §6)"),
        "compressor": manifests.Field("str", choices=tuple(ALGORITHMS), doc="the compressor"),
        "writeback": manifests.Field("bool", doc="writeback enabled for the cgroup"),
        "folio_pages": manifests.Field("int", doc="pages per folio"),
        "page_size": manifests.Field("int", doc="PAGE_SIZE in bytes"),
        "invariants": manifests.Field("list[str]", choices=tuple(spec_pkg.INVARIANTS),
                                      doc="the invariant IDs broken (spec §5)"),
    },
    key=("variant", "compressor", "writeback", "folio_pages", "page_size"),
    fix="create it with 'zswap-spec check --update-manifest' (or restore it from version control)",
))

MANIFEST_HEADER = [
    "Expected findings of `zswap-spec check` on the built-in sample.",
    "One entry per configuration that breaks an invariant; any configuration",
    "not listed must break none.  Rewritten by `zswap-spec check --update-manifest`;",
    "review the diff: a changed answer is a changed claim about a variant.",
]


def load_manifest(path: Path = MANIFEST_PATH) -> dict[Key, set[str]]:
    """The expected findings; a configuration absent from the file expects none."""
    return {tuple(item[k] for k in MANIFEST_SCHEMA.key): set(item["invariants"])
            for item in manifests.load(path, "check")}


def _check_manifest_target(path: Path) -> None:
    """Before the run: the manifest can be rewritten, and the entries it keeps (other
    page sizes) can be read; a manifest that does not load is never replaced, since
    that would drop them."""
    from .options import output_file

    output_file("--update-manifest", path)
    if path.exists():
        try:
            load_manifest(path)
        except manifests.ManifestError as e:
            why = e.message.replace(f"; {MANIFEST_SCHEMA.fix}", "")  # its fix is this command
            raise InputError(f"--update-manifest: {why}; it holds the other page sizes' "
                             "entries, so it is not replaced: repair it (or delete it to start "
                             "afresh)") from None


def write_manifest(findings: dict[Key, set[str]], page_size: int, path: Path = MANIFEST_PATH) -> None:
    """Rewrite the entries of one page size, keeping the others (a missing manifest
    starts empty; one that does not load is refused, not replaced)."""
    kept = ({k: v for k, v in load_manifest(path).items() if k[4] != page_size}
            if path.exists() else {})
    kept.update({k: v for k, v in findings.items() if v})
    order = {name: i for i, name in enumerate(VARIANTS)}
    corder = {name: i for i, name in enumerate(ALGORITHMS)}
    entries = [dict(zip(MANIFEST_SCHEMA.key, key), invariants=sorted(kept[key]))
               for key in sorted(kept, key=lambda k: (k[4], order.get(k[0], 99), corder.get(k[1], 99),
                                                      not k[2], k[3]))]
    manifests.write(path, "check", entries, MANIFEST_HEADER)


def run_check(page_size: int = 4096, as_json: bool = False, update_manifest: bool = False,
              manifest: Path = MANIFEST_PATH, proofs: bool = True, fuzz: bool = True,
              drivers: bool = True, core: bool = True) -> int:
    started = time.perf_counter()
    findings, results, batch_details = collect_findings(page_size)
    if update_manifest:
        write_manifest(findings, page_size, manifest)
    expected = {k: v for k, v in load_manifest(manifest).items() if k[4] == page_size}
    mismatches = []
    for key, got in findings.items():
        want = expected.get(key, set())
        if got != want:
            mismatches.append((key, sorted(got - want), sorted(want - got)))
    proof_bad, proof_count, proof_seconds = _proofs() if proofs else ([], 0, 0.0)
    fuzz_runs = _short_campaign() if fuzz else []
    fuzz_bad = [f"{r.variant}/{r.compressor}: {f.description} ({f.reproducer})"
                for r in fuzz_runs for f in r.findings]
    driver_bad, driver_reports, driver_seconds = _drivers() if drivers else ([], [], 0.0)
    core_bad, core_note, core_seconds = _core_agrees(results) if core else ([], "", 0.0)
    seconds = time.perf_counter() - started
    sample = default_sample(page_size)
    if as_json:
        print(json.dumps({
            "page_size": page_size,
            "sample": page_kinds(sample),
            "runs": [r.to_json() for r in results],
            "findings": [
                {"variant": k[0], "compressor": k[1], "writeback": k[2], "folio_pages": k[3],
                 "invariants": sorted(v)} for k, v in findings.items() if v
            ],
            "mismatches": [
                {"variant": k[0], "compressor": k[1], "writeback": k[2], "folio_pages": k[3],
                 "new": new, "gone": gone} for k, new, gone in mismatches
            ],
            "proofs": {"results": proof_count, "mismatches": proof_bad,
                       "seconds": round(proof_seconds, 3)},
            "fuzz": [r.to_json() for r in fuzz_runs],
            "drivers": {"reports": [r.to_json() for r in driver_reports],
                        "mismatches": driver_bad, "seconds": round(driver_seconds, 3)},
            "core": {"runs": len(results) if core else 0, "mismatches": core_bad,
                     "note": core_note, "seconds": round(core_seconds, 3)},
            "seconds": round(seconds, 3),
        }, indent=2))
    else:
        _print_summary(findings, results, page_size, sample, batch_details)
        if mismatches:
            console.print(f"[bold red]{len(mismatches)} configurations differ from the manifest "
                          f"{manifest}:[/]")
            for (v, c, wb, fp, _), new, gone in mismatches:
                console.print(f"  {v}/{c} writeback={'on' if wb else 'off'} folio={fp}: "
                              f"new {new or '-'}, gone {gone or '-'}")
        else:
            console.print(f"all {len(findings)} configurations match the manifest "
                          f"({sum(1 for v in findings.values() if v)} with expected findings)")
        if not proofs:
            pass
        elif proof_bad:
            console.print(f"[bold red]{len(proof_bad)} proof results differ from proofs/expected.toml "
                          f"(run 'zswap-spec prove' for details):[/]")
            for m in proof_bad[:10]:
                console.print(f"  {m}")
        else:
            console.print(f"proofs: all {proof_count} results match proofs/expected.toml "
                          f"({proof_seconds:.1f} s)")
        steps = sum(r.steps for r in fuzz_runs)
        if not fuzz:
            pass
        elif fuzz_bad:
            console.print(f"[bold red]fuzz: {len(fuzz_bad)} findings where none are expected:[/]")
            for line in fuzz_bad:
                console.print(f"  {line}")
        else:
            console.print(f"fuzz: {steps} state-machine steps over "
                          f"{', '.join(r.variant for r in fuzz_runs)} with the real lz4, no finding")
        if driver_bad:
            console.print(f"[bold red]drivers: {len(driver_bad)} differ from "
                          f"spec/expected-drivers.toml:[/]")
            for line in driver_bad:
                console.print(f"  {line}")
        elif drivers:
            seeded = sum(r.seeded_bug for r in driver_reports)
            console.print(f"drivers: {len(driver_reports) - seeded} built-in drivers conform, "
                          f"{seeded} seeded-bug drivers rejected with their clauses "
                          f"({driver_seconds:.1f} s)")
        if core_bad:
            console.print(f"[bold red]core: {len(core_bad)} replay runs differ from the model's:[/]")
            for line in core_bad[:10]:
                console.print(f"  {line}")
        elif core_note:
            console.print(f"core: {core_note}")
        elif core:
            console.print(f"core: the optimized core gives the model's run on all {len(results)} "
                          f"replay configurations ({core_seconds:.1f} s)")
        console.print(f"check took {seconds:.1f} s")
    return 1 if mismatches or proof_bad or fuzz_bad or driver_bad or core_bad else 0


def _core_agrees(results):
    """Every replay run again on the optimized core: (differences, note, seconds).

    Equal means field for field: outcomes, counters, memory.stat, pool bytes,
    and the broken invariants with their slots."""
    from zswap_spec.pool import core_available
    from zswap_spec.replay.on_core import replay_on_core

    ok, why = core_available()
    if not ok:
        return [], f"not built, so not compared ({why})", 0.0
    started = time.perf_counter()
    pages = [p.data for p in default_sample(results[0].config.page_size)] if results else []
    bad = []
    for r in results:
        got = replay_on_core(pages, r.config)
        a, b = _comparable(r), _comparable(got)
        if a != b:
            c = r.config
            fields = sorted(k for k in a if a[k] != b.get(k))
            bad.append(f"{c.variant}/{c.compressor} wb={'on' if c.writeback else 'off'} "
                       f"folio={c.folio_pages}: {', '.join(fields)}")
    return bad, "", time.perf_counter() - started


def _comparable(run) -> dict:
    out = run.to_json(examples=10 ** 9)
    out.pop("seconds")
    out["violation_examples"] = sorted((v["invariant"], v["offset"] if v["offset"] is not None else -1)
                                       for v in out["violation_examples"])
    return out


def _drivers():
    """The driver kit on its built-in and seeded-bug drivers, against spec/expected-drivers.toml."""
    from zswap_spec.driverkit.selfcheck import check_catalogue

    return check_catalogue()


def _short_campaign():
    """A few seconds of pool fuzzing where the spec expects no finding."""
    import tempfile

    from zswap_spec.fuzz.campaign import Campaign, run_campaign

    with tempfile.TemporaryDirectory() as d:
        return [run_campaign(Campaign(v, "lz4", (), budget=1.5, seed=2025, max_folio=64), None, Path(d))
                for v in ("mainline", "explicit", "uniform")]


def _proofs() -> tuple[list[str], int, float]:
    """Every theorem at every page size, against the proofs' manifest."""
    import os

    from zswap_spec.model.variants import VARIANTS
    from zswap_spec.proofs import manifest
    from zswap_spec.proofs.assumptions import ASSUMPTIONS
    from zswap_spec.proofs.theorems import PAGE_SIZES, prove_all

    started = time.perf_counter()
    results = prove_all(list(VARIANTS), list(ASSUMPTIONS), PAGE_SIZES,
                        jobs=min(2, os.cpu_count() or 1))
    bad = [f"{r.theorem} / {r.variant} / {r.assumption} / PAGE_SIZE {r.page_size}: {r.status}, "
           f"expected {want}" for r, want in manifest.mismatches(results, manifest.load())]
    return bad, len(results), time.perf_counter() - started


def _print_summary(findings, results, page_size, sample, batch_details) -> None:
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
                r = by_key[(v, c, wb, 1)]
                ids = sorted(findings[(v, c, wb, 1, page_size)] | findings[(v, c, wb, 8, page_size)])
                cell = f"{r.count('compressed')}/{r.count('raw')}/{r.count('rejected')}"
                cell += "\n" + ("[red]" + " ".join(i.removeprefix("INV-") for i in ids) + "[/]" if ids else "[green]ok[/]")
                row.append(cell)
            table.add_row(*row)
        console.print(table)
    for cfg, diff, batched, single in batch_details[:5]:
        i = diff[0]
        console.print(f"INV-BATCH {cfg.variant}/{cfg.compressor} writeback={'on' if cfg.writeback else 'off'}: "
                      f"page {i} is '{batched[i]}' in batches of {cfg.folio_pages} but '{single[i]}' one by one "
                      f"({len(diff)} pages differ)")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@page_size_option
@click.option("--update-manifest", is_flag=True,
              help="Write the findings as the new expected manifest (review the diff).")
def check(as_json, page_size, update_manifest) -> None:
    """The main job: every variant x compressor on the built-in sample, against the manifest."""
    from .check import run_check

    check_page_size(page_size)
    if update_manifest:
        _check_manifest_target(MANIFEST_PATH)
    sys.exit(run_check(page_size=page_size, as_json=as_json, update_manifest=update_manifest))

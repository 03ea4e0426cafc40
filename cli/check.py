"""`zswap-spec check`: every variant x compressor x writeback x folio size on
the built-in sample, INV-BATCH across batch sizes, and the comparison with
the manifest of expected findings (spec/expected-check.toml).

The manifest lists, per configuration, the invariants the built-in sample
breaks.  A configuration not listed is expected to break none.  A change of
answer (a new finding, or one that went away) makes `check` exit 1 and shows
as a diff of the manifest when it is rewritten with `--update-manifest`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from zswap_spec import spec as spec_pkg
from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.variants import VARIANTS
from zswap_spec.replay import RunConfig, replay_pages
from zswap_spec.replay.sample import default_sample
from zswap_spec.support import manifest as manifests
from zswap_spec.support.interrupts import Interrupted, reported_on_interrupt

from .errors import InputError
from .options import check_page_size, page_size_option

__all__ = ["run_check", "collect_findings", "MANIFEST_PATH", "load_manifest"]

MANIFEST_PATH = Path(spec_pkg.__file__).with_name("expected-check.toml")
FOLIO_SIZES = (1, 8)
WRITEBACK = (True, False)

Key = tuple[str, str, bool, int, int]  # variant, compressor, writeback, folio_pages, page_size


def collect_findings(page_size: int = 4096):
    """Run the grid; (findings by configuration, run results, INV-BATCH details)."""
    run = CheckRun(page_size, ())
    _grid(run)
    return run.findings, run.results, run.batch_details


def _grid(run: "CheckRun") -> None:
    """The grid, each configuration's results put in `run` as it ends (an interrupt
    keeps those of the configurations done)."""
    page_size = run.page_size
    pages = [p.data for p in default_sample(page_size)]
    for variant in VARIANTS:
        for compressor in ALGORITHMS:
            for wb in WRITEBACK:
                for folio_pages in FOLIO_SIZES:
                    cfg = RunConfig(variant, compressor, wb, folio_pages, page_size)
                    r = replay_pages(pages, cfg)
                    ids = {v.invariant for v in r.violations}
                    detail = None
                    if folio_pages > 1:
                        # INV-BATCH: the same folios with one unit per batch.
                        single = replay_pages(pages, RunConfig(variant, compressor, wb, folio_pages,
                                                               page_size, max_batch_size=1))
                        diff = [i for i, (a, b) in enumerate(zip(r.outcomes, single.outcomes)) if a != b]
                        if diff:
                            ids.add("INV-BATCH")
                            detail = (cfg, diff, r.outcomes, single.outcomes)
                    run.results.append(r)
                    if detail is not None:
                        run.batch_details.append(detail)
                    # last: a configuration with findings has its run
                    run.findings[(variant, compressor, wb, folio_pages, page_size)] = ids


@dataclass
class CheckRun:
    """What a check has done: each stage's answer, None until the stage has run, so
    that an interrupt reports what is there.  `running`: the stage under way."""

    page_size: int
    stages: tuple[str, ...]  # after the grid: of proofs, fuzz, drivers, core
    started: float = field(default_factory=time.perf_counter)
    running: str | None = "grid"
    findings: dict[Key, set[str]] = field(default_factory=dict)
    results: list = field(default_factory=list)
    batch_details: list = field(default_factory=list)
    manifest_written: bool = False
    mismatches: list | None = None  # (key, new, gone) against the manifest
    proofs: dict | None = None  # bad, count, seconds (and not_run when interrupted)
    fuzz: list | None = None  # the campaigns done
    drivers: tuple | None = None  # (mismatches, reports, seconds)
    core: tuple | None = None  # (mismatches, note, seconds, runs compared)

    def compare(self, expected: dict[Key, set[str]]) -> None:
        """The configurations done against the manifest."""
        self.mismatches = []
        for key, got in self.findings.items():
            want = expected.get(key, set())
            if got != want:
                self.mismatches.append((key, sorted(got - want), sorted(want - got)))

    def not_run(self) -> list[str]:
        """The stages after the one under way."""
        order = ("grid",) + self.stages
        return list(order[order.index(self.running) + 1:]) if self.running else []

    def failed(self) -> bool:
        return bool(self.mismatches or (self.proofs and self.proofs["bad"])
                    or any(r.findings for r in self.fuzz or ())
                    or (self.drivers and self.drivers[0]) or (self.core and self.core[0]))


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
    """Every stage, then the report; the exit code.  An interrupt reports what was done
    (the grid's configurations done, compared with the manifest; the stages done or
    under way), names the stages not run, and goes on (exit 130)."""
    from .check_report import report

    run = CheckRun(page_size, tuple(name for name, on in (("proofs", proofs), ("fuzz", fuzz),
                                                          ("drivers", drivers), ("core", core))
                                    if on))

    def interrupted(e: KeyboardInterrupt) -> None:
        if run.mismatches is None:
            try:
                run.compare(load_manifest(manifest))
            except manifests.ManifestError:
                pass  # reported as not compared
        report(run, manifest, as_json, update_manifest, interrupted=True)

    with reported_on_interrupt(interrupted):
        _grid(run)
        if update_manifest:
            write_manifest(run.findings, page_size, manifest)
            run.manifest_written = True
        run.compare(load_manifest(manifest))
        for stage in run.stages:
            run.running = stage
            if stage == "proofs":
                run.proofs = _proofs(run)
            elif stage == "fuzz":
                _short_campaign(run)
            elif stage == "drivers":
                run.drivers = _drivers()
            else:
                run.core = _core_agrees(run.results)
        run.running = None
    report(run, manifest, as_json, update_manifest)
    return 1 if run.failed() else 0


def _core_agrees(results):
    """Every replay run again on the optimized core: (differences, note, seconds, runs
    compared); runs of a variant the core does not implement are not compared (the note
    names them).

    Equal means field for field: outcomes, counters, memory.stat, pool bytes,
    and the broken invariants with their slots."""
    from zswap_spec.model.variants import VARIANTS
    from zswap_spec.pool import CORE_FEATURES, core_available, variant_feature
    from zswap_spec.replay.on_core import replay_on_core

    ok, why = core_available()
    if not ok:
        return [], f"not built, so not compared ({why})", 0.0, 0
    started = time.perf_counter()
    pages = [p.data for p in default_sample(results[0].config.page_size)] if results else []
    bad = []
    lacking = sorted({r.config.variant for r in results
                      if variant_feature(r.config.variant) not in CORE_FEATURES},
                     key=list(VARIANTS).index)
    compared = 0
    for r in results:
        if r.config.variant in lacking:
            continue  # a variant the core does not implement: the model's runs only
        compared += 1
        got = replay_on_core(pages, r.config)
        a, b = _comparable(r), _comparable(got)
        if a != b:
            c = r.config
            fields = sorted(k for k in a if a[k] != b.get(k))
            bad.append(f"{c.variant}/{c.compressor} wb={'on' if c.writeback else 'off'} "
                       f"folio={c.folio_pages}: {', '.join(fields)}")
    note = (f"{', '.join(lacking)} not in the core, so not compared" if lacking else "")
    return bad, note, time.perf_counter() - started, compared


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


def _short_campaign(run: CheckRun) -> None:
    """A few seconds of pool fuzzing where the spec expects no finding; each campaign
    put in `run.fuzz` as it ends."""
    import tempfile

    from zswap_spec.fuzz.campaign import Campaign, run_campaign

    run.fuzz = []
    with tempfile.TemporaryDirectory() as d:
        for v in ("mainline", "explicit", "uniform"):
            run.fuzz.append(run_campaign(Campaign(v, "lz4", (), budget=1.5, seed=2025, max_folio=64),
                                         None, Path(d)))


def _proofs(run: CheckRun) -> dict:
    """Every theorem at every page size, against the proofs' manifest: bad (the
    differences), count, seconds.  An interrupt leaves those of the groups proved in
    `run.proofs`, with the (variant, page size) groups not run."""
    import os

    from zswap_spec.proofs import manifest
    from zswap_spec.proofs.assumptions import ASSUMPTIONS
    from zswap_spec.proofs.theorems import PAGE_SIZES, prove_all

    started = time.perf_counter()

    def answer(results) -> dict:
        bad = [f"{r.theorem} / {r.variant} / {r.assumption} / PAGE_SIZE {r.page_size}: "
               f"{r.status}, expected {want}"
               for r, want in manifest.mismatches(results, manifest.load())]
        return {"bad": bad, "count": len(results), "seconds": time.perf_counter() - started}

    try:
        results = prove_all(list(VARIANTS), list(ASSUMPTIONS), PAGE_SIZES,
                            jobs=min(2, os.cpu_count() or 1))
    except Interrupted as e:
        run.proofs = dict(answer(e.done), not_run=e.not_done)
        raise
    return answer(results)


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

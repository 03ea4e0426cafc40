"""The driver kit's power: every built-in driver conforms, every seeded-bug
driver is rejected with the clause the catalogue names (and nothing else),
Hypothesis alone finds seeded bugs and shrinks them to small batches, the
C drivers under zswap behave as the model's compressors, and a changed
expectation is caught by `zswap-spec check`."""

import pytest

from propcount import count
from zswap_spec.driverkit.conformance import KitOptions
from zswap_spec.driverkit.jobs import check_targets
from zswap_spec.driverkit.targets import builtin_targets, catalogue

# What each seeded bug must be found as, spelled out here so that a change
# of the catalogue file alone cannot make the power test pass.
SEEDED = {
    "bug-zero-length": "C-LENGTH",
    "bug-length-over-capacity": "C-LENGTH",
    "bug-overrun": "C-OVERRUN",
    "bug-exact-fit-terminator": "C-OVERRUN",
    "bug-header-underrun": "C-OVERRUN",
    "bug-read-past-source": "C-OVERRUN",
    "bug-errno-shifted": "C-ENCODING",
    "bug-unwritten-failure": "C-ENCODING",
    "bug-ret-ok-on-failure": "C-RET",
    "bug-ret-count": "C-RET",
    "bug-short-length": "C-ROUNDTRIP",
    "bug-own-decompressor": "C-ROUNDTRIP",
    "bug-wrong-format": "C-FORMAT",
    "bug-source-scratch": "C-SOURCE",
    "bug-shared-budget": "C-INDEPENDENT",
    "bug-nondeterministic": "C-DETERMINISM",
    "bug-crash-on-zero": "C-CRASH",
    "bug-hang-on-incompressible": "C-HANG",
    "bug-mode-after-failure": "C-DETERMINISM",
    "bug-magic-passthrough": "C-FORMAT",
    "bug-4k-staging": "C-ROUNDTRIP",
    "bug-whole-pages-only": "C-SELFTEST",
}
BUILTIN = ("lz4", "zstd", "deflate", "deflate-batch")


@pytest.fixture(scope="module")
def catalogue_reports(tmp_path_factory):
    """Every catalogue driver: the fixed vectors, then half a second of search.
    A call may take 3 s before it counts as a hang: a loaded machine (the
    suite runs on every core) slows the threaded drivers' calls well past the
    half second that is enough on a quiet one."""
    folder = tmp_path_factory.mktemp("reproducers")
    options = KitOptions(budget=0.5, call_timeout=3.0, reproducers=str(folder))
    reports = check_targets(builtin_targets(), options, jobs=2)
    count("driver kit: cases over the catalogue (every clause checked on each)",
          sum(r.cases for r in reports))
    return {r.name: r for r in reports}


def test_the_catalogue_is_the_tested_list():
    entries = catalogue()
    assert {n for n, e in entries.items() if e.seeded_bug} == set(SEEDED)
    assert {n for n, e in entries.items() if not e.seeded_bug} == set(BUILTIN)
    assert {n: e.clause for n, e in entries.items() if e.seeded_bug} == SEEDED


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_driver_conforms(catalogue_reports, name):
    r = catalogue_reports[name]
    assert r.error is None and r.conforms, [v.description for v in r.violations]
    assert r.cases > 20 and r.search_cases > 0  # checked, not skipped
    if name == "deflate-batch":
        assert r.info.batch_size == 8 and not any("C-INDEPENDENT" in n for n in r.notes)


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_every_seeded_bug_is_rejected_with_its_clause(catalogue_reports, name):
    r = catalogue_reports[name]
    entry = catalogue()[name]
    assert r.error is None
    assert SEEDED[name] in r.clauses, (r.clauses, [v.description for v in r.violations])
    assert set(r.clauses) <= {SEEDED[name], *entry.also}, r.clauses
    assert r.as_expected and not r.conforms
    for v in r.violations:
        assert v.reproducer and v.case.get("case") is not None


# The search's rounds are seeded, so a cap on cases (rather than the wall
# time, which a loaded machine shrinks) makes what is searched the same on
# every machine; the budget is only a bound.  The multi-unit bug needs the
# most cases (between 250 and 300 here, alone; in some full runs more,
# for a reason not yet found: the cap leaves five times the room).
@pytest.mark.parametrize("name,clause,max_units,cases", [
    ("bug-zero-length", "C-LENGTH", 1, 300),
    ("bug-exact-fit-terminator", "C-OVERRUN", 1, 300),
    ("bug-ret-ok-on-failure", "C-RET", 1, 300),
    ("bug-shared-budget", "C-INDEPENDENT", 8, 1500),
])
def test_search_alone_finds_seeded_bugs_and_shrinks_them(name, clause, max_units, cases, tmp_path):
    (target,) = [t for t in builtin_targets() if t.name == name]
    (r,) = check_targets([target], KitOptions(budget=60, max_cases=cases, call_timeout=0.5, vectors=False,
                                              reproducers=str(tmp_path)))
    count(f"driver kit: search cases on {name} (no fixed vectors)", r.search_cases)
    assert clause in r.clauses, r.clauses
    v = next(v for v in r.violations if v.clause == clause)
    assert v.found_by == "search"
    units = v.case["case"].units
    assert len(units) <= max_units
    if name == "bug-shared-budget":
        assert len(units) >= 2  # needs neighbours to show


def test_the_c_drivers_under_zswap_are_the_models_compressors():
    """lz4, zstd and deflate through the kit's sandbox give every variant the
    outcomes and broken invariants the model's own compressors give it."""
    from zswap_spec.driverkit.endtoend import DriverAlgorithm
    from zswap_spec.driverkit.sandbox import Sandbox
    from zswap_spec.model.variants import VARIANTS
    from zswap_spec.replay import RunConfig, replay_pages
    from zswap_spec.replay.sample import default_sample

    pages = [p.data for p in default_sample(4096)]
    runs = 0
    for t in builtin_targets():
        if t.name not in ("lz4", "zstd", "deflate"):
            continue
        with Sandbox(t.kind, t.location, t.name, t.label) as sb:
            info = sb.start()["info"]
            alg = DriverAlgorithm(sb, info, info.format)
            for variant in VARIANTS:
                for wb in (True, False):
                    ours = replay_pages(pages, RunConfig(variant, alg, wb, 1))
                    model = replay_pages(pages, RunConfig(variant, t.name, wb, 1))
                    assert ours.outcomes == model.outcomes, (t.name, variant, wb)
                    assert ours.violation_counts() == model.violation_counts(), (t.name, variant, wb)
                    runs += 1
    count("driver kit: variant runs of the C drivers against the model", runs)
    assert runs == 3 * len(VARIANTS) * 2


def test_check_catches_a_changed_expectation(monkeypatch):
    from zswap_spec.driverkit import selfcheck
    from zswap_spec.driverkit.targets import CatalogueEntry, Target

    lz4 = next(t for t in builtin_targets() if t.name == "lz4")
    zero = next(t for t in builtin_targets() if t.name == "bug-zero-length")
    wrong = Target(zero.kind, zero.location, zero.name, zero.label,
                   CatalogueEntry(zero.name, "seeded", "wrongly expected", "C-RET"))
    monkeypatch.setattr(selfcheck, "builtin_targets", lambda: [lz4, wrong])
    bad, reports, _ = selfcheck.check_catalogue(jobs=1)
    assert bad == ["bug-zero-length: found C-LENGTH, expected C-RET"]
    assert [r.name for r in reports] == ["lz4", "bug-zero-length"]

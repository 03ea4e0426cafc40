"""Per-unit properties: each variant's decision for one page of a software
compressor against mainline's, over every `ret` and `req->dlen`, explored at
random (Hypothesis) or symbolically (`--backend crosshair`, through
hypothesis-crosshair, which hands the inputs to CrossHair's Z3 engine).  The
decisions are the model's own store path (`zswap_spec.model.decisions`)."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.reporting import with_reporter

from zswap_spec.model.decisions import DECISIONS
from .campaign import CampaignResult, CampaignStopped, Finding, shrinking_until
from .findings import claim_file, finding_stem

__all__ = ["run_unit_property", "BACKENDS"]

BACKENDS = ("hypothesis", "crosshair")


def run_unit_property(variant: str, backend: str, budget: float, findings_dir: Path,
                      seed: int | None = None) -> CampaignResult:
    result = CampaignResult(variant, "software (per unit)", [], error=None)
    seen = {"examples": 0, "failure": None}

    deadline = time.monotonic() + budget

    def prop(ret, dlen, wb):
        # At random the budget is wall-clock time (a failure is still shrunk); CrossHair
        # needs the property deterministic, no clock: there it is a number of examples.
        if backend == "hypothesis" and seen["failure"] is None and time.monotonic() >= deadline:
            raise CampaignStopped()
        seen["examples"] += 1
        got, want = DECISIONS[variant](ret, dlen, wb), DECISIONS["mainline"](ret, dlen, wb)
        if got != want:
            seen["failure"] = (ret, dlen, wb, got, want)
            raise AssertionError(f"{variant} {got} != mainline {want}")

    started = time.perf_counter()
    examples = 10 ** 9 if backend == "hypothesis" else max(10, int(budget * _RATE[backend]))
    test = settings(backend=backend, max_examples=examples,
                    deadline=None, database=None, suppress_health_check=list(HealthCheck))(
        given(ret=st.integers(-(2**31), 2**31 - 1), dlen=st.integers(0, 2**32 - 1),
              wb=st.booleans())(prop))
    if seed is not None:
        test._hypothesis_internal_use_seed = seed
    try:
        # (Hypothesis's notes, such as the seed of a run the clock stopped, are not ours
        # to print: stdout carries the table or the JSON)
        with with_reporter(lambda note: None), shrinking_until(deadline):
            test()
    except CampaignStopped:
        pass  # the budget is spent
    except KeyboardInterrupt:  # interrupted: nothing more is saved
        result.status, result.note = "stopped", "interrupted"
    except AssertionError:
        ret, dlen, wb, got, want = seen["failure"]
        inv = "EQV-OUTCOME" if got[:2] != want[:2] else "EQV-COUNTERS"
        path = _reproducer(variant, ret, dlen, wb, inv, findings_dir)
        result.findings.append(Finding(inv, f"ret={ret}, req->dlen={dlen}, writeback={wb}: "
                                            f"{variant} {got}, mainline {want}", str(path),
                                       round(time.perf_counter() - started, 3)))
    result.examples = seen["examples"]
    result.steps = seen["examples"]
    result.seconds = round(time.perf_counter() - started, 3)
    result.faults = [f"backend={backend}"]
    return result


# Examples per second, roughly, on 2 cores: each runs two variants' store paths
# (`Zswap.zswap_store`) symbolically.
_RATE = {"crosshair": 10}


def _reproducer(variant, ret, dlen, wb, inv, folder: Path) -> Path:
    stem = finding_stem(inv, variant, "unit", (), ret, dlen, wb)

    def render(name: str) -> str:
        return f'''"""zswap-spec finding: {inv}: {variant} decides one page differently from mainline.

Re-run with `zswap-spec fuzz --replay {name}` or `pytest {name}`.
"""

from zswap_spec.model.decisions import DECISIONS

RECORDED = {inv!r}  # what this finding shows; `fuzz --replay` checks it still does


def test_finding():
    assert DECISIONS[{variant!r}]({ret}, {dlen}, {wb}) == DECISIONS["mainline"]({ret}, {dlen}, {wb})
'''

    return claim_file(folder, stem, render)

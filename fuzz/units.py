"""Per-unit properties: each variant's decision for one page of a software
compressor against mainline's, over every `ret` and `req->dlen`, explored at
random (Hypothesis) or symbolically (`--backend crosshair`, through
hypothesis-crosshair, which hands the inputs to CrossHair's Z3 engine)."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zswap_spec.model.decisions import DECISIONS
from .campaign import CampaignResult, Finding

__all__ = ["run_unit_property", "BACKENDS"]

BACKENDS = ("hypothesis", "crosshair")


def run_unit_property(variant: str, backend: str, budget: float, findings_dir: Path,
                      seed: int | None = None) -> CampaignResult:
    result = CampaignResult(variant, "software (per unit)", [], error=None)
    seen = {"examples": 0, "failure": None}

    def prop(ret, dlen, wb):
        seen["examples"] += 1
        got, want = DECISIONS[variant](ret, dlen, wb), DECISIONS["mainline"](ret, dlen, wb)
        if got != want:
            seen["failure"] = (ret, dlen, wb, got, want)
            raise AssertionError(f"{variant} {got} != mainline {want}")

    started = time.perf_counter()
    # The budget becomes a number of examples (no clock inside the property:
    # CrossHair needs it deterministic).
    test = settings(backend=backend, max_examples=max(10, int(budget * _RATE[backend])),
                    deadline=None, database=None, suppress_health_check=list(HealthCheck))(
        given(ret=st.integers(-(2**31), 2**31 - 1), dlen=st.integers(0, 2**32 - 1),
              wb=st.booleans())(prop))
    if seed is not None:
        test._hypothesis_internal_use_seed = seed
    try:
        test()
    except AssertionError:
        ret, dlen, wb, got, want = seen["failure"]
        inv = "EQV-OUTCOME" if got[:2] != want[:2] else "EQV-COUNTERS"
        path = _reproducer(variant, ret, dlen, wb, findings_dir)
        result.findings.append(Finding(inv, f"ret={ret}, req->dlen={dlen}, writeback={wb}: "
                                            f"{variant} {got}, mainline {want}", str(path),
                                       round(time.perf_counter() - started, 3)))
    result.examples = seen["examples"]
    result.steps = seen["examples"]
    result.seconds = round(time.perf_counter() - started, 3)
    result.faults = [f"backend={backend}"]
    return result


_RATE = {"hypothesis": 2000, "crosshair": 40}  # examples per second, roughly, on 2 cores


def _reproducer(variant, ret, dlen, wb, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"test_unit_{variant}_{time.strftime('%Y%m%d%H%M%S')}.py"
    path.write_text(f'''"""zswap-spec finding: {variant} decides one page differently from mainline."""

from zswap_spec.model.decisions import DECISIONS


def test_finding():
    assert DECISIONS[{variant!r}]({ret}, {dlen}, {wb}) == DECISIONS["mainline"]({ret}, {dlen}, {wb})
''')
    return path

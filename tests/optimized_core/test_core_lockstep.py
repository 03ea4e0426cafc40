"""The model and the core in lockstep: a differential state machine applies
the same stores, loads, invalidations, writebacks, writeback switches, pool
limits, allocation failures and compressor faults to both and compares the
results, the counters, the cgroup stats and every stored byte after every
step.  Then its power: planted differences must be found.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from propcount import count
from zswap_spec.pool import CORE_FAULTS, CorePool, ModelPool
from zswap_spec.fuzz.lockstep import ImplsDiverged, make_impl_machine
from zswap_spec.model.variants import VARIANTS
from zswap_spec.pool.api import VARIANT_IDS


def _run(machine, examples, steps=30, shrink=True):
    machine.total_steps = 0
    phases = list(Phase) if shrink else [Phase.generate]  # a power test needs the find only
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
        report_multiple_bugs=False, phases=phases, suppress_health_check=list(HealthCheck)))
    return machine.total_steps


CONFIGS = [(v, c, t) for v in VARIANTS if v in VARIANT_IDS  # the variants the core implements
           for c in ("lz4", "zstd", "deflate", "deflate-iaa")
           for t in ((1, 2) if c in ("lz4", "deflate-iaa") else (1,))]


@pytest.mark.parametrize("variant,compressor,threads", CONFIGS)
def test_model_and_core_agree_step_by_step_with_faults(variant, compressor, threads):
    machine = make_impl_machine(variant, compressor, CORE_FAULTS, max_folio=16, threads=threads)
    steps = _run(machine, examples=50)
    count(f"lockstep {variant}/{compressor}/{threads} thread(s): steps", steps)
    assert steps >= 25


@pytest.mark.parametrize("variant", ["v13", "uniform"])
def test_model_and_core_agree_on_real_compressors_and_large_folios(variant):
    machine = make_impl_machine(variant, "lz4", (), max_folio=512, threads=2)
    steps = _run(machine, examples=15, steps=20)
    count(f"lockstep {variant}/lz4 large folios: steps", steps)
    assert steps >= 15


def _core_as(variant):
    """A core that runs another variant than the one asked for."""
    def factory(_variant, compressor, page_size, **kw):
        return CorePool(variant, compressor, page_size, **kw)
    factory.__name__ = f"core-running-{variant}"
    return factory


class _IgnoresTreeFailures(ModelPool):
    """A model that forgets injected tree-insertion failures."""

    def fail_xa_store(self, n=1):
        pass


def _planted_finds(machine):
    with pytest.raises(ImplsDiverged) as info:
        _run(machine, examples=200, shrink=False)
    return str(info.value)


def test_power_a_core_running_v14_is_told_apart_from_the_v13_model():
    machine = make_impl_machine("v13", "lz4", ("fail-stale-length", "zero-length"), max_folio=8,
                                impls=("model", _core_as("v14")))
    assert _planted_finds(machine).startswith("LOCKSTEP")


def test_power_an_ignored_allocation_failure_is_found():
    machine = make_impl_machine("mainline", "lz4", (), max_folio=4,
                                impls=(_IgnoresTreeFailures, "core"))
    message = _planted_finds(machine)
    assert "store" in message or "state" in message


def test_the_core_alone_fuzzes_and_finds_v14s_lost_errors():
    """`fuzz --impl core`'s machine: the spec's invariants on the core alone."""
    from zswap_spec.fuzz.machine import InvariantBroken

    machine = make_impl_machine("v14", "deflate-iaa", ("partial-batch",), max_folio=16,
                                impls=("core",))
    with pytest.raises(InvariantBroken) as info:
        _run(machine, examples=300, shrink=False)
    v = info.value.violation
    assert v.invariant in ("INV-WB", "INV-RAW", "INV-ROUNDTRIP")
    assert str(info.value).startswith(v.message) and v.statement in str(info.value)

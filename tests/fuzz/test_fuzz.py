"""The fuzzers: the pool state machine with real and misbehaving compressors,
the suite's power (every fault in the catalogue is found, because of the
fault), the contract state machine, saved findings and their replay."""

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from propcount import count
from zswap_spec.fuzz.campaign import Campaign, replay_finding, run_campaign
from zswap_spec.fuzz.contract import ContractBroken, make_contract_machine
from zswap_spec.fuzz.machine import make_pool_machine
from zswap_spec.fuzz.pages import COMPRESSIBLE
from zswap_spec.model.faults import FAULTS

# For each fault: a variant and compressor that break an invariant because
# of it (pages limited to compressible kinds, so the real compressor never
# fails on its own), and the invariant.  `nondeterministic` breaks nothing:
# zswap never compresses a page twice, so it cannot tell.
POWER = {
    "zero-length": ("v14", "zstd", "INV-ALLOC"),
    "oversize-report": ("v14", "zstd", "INV-ALLOC"),
    "oversize-write": ("v14", "zstd", "INV-ALLOC"),
    "exact-page": ("v14", "zstd", "INV-RAW"),
    "fail-stale-length": ("v13", "zstd", "INV-COUNTERS"),
    "enospc": ("v13", "zstd", "INV-COUNTERS"),
    "einval": ("v13", "zstd", "INV-COUNTERS"),
    "e2big": ("v13", "zstd", "INV-COUNTERS"),
    "eio": ("v13", "zstd", "INV-COUNTERS"),
    "bad-output": ("mainline", "zstd", "INV-ROUNDTRIP"),
    "wrong-output": ("mainline", "zstd", "INV-ROUNDTRIP"),
    "fail-all-valid": ("v13", "deflate-iaa", "INV-COUNTERS"),
    "negative-entry-ret0": ("v14", "deflate-iaa", "INV-WB"),
    "partial-batch": ("v14", "deflate-iaa", "INV-WB"),
    "unwritten-entry": ("v14", "deflate-iaa", "INV-ALLOC"),
    "nondeterministic": ("mainline", "zstd", None),
}
FAST = settings(max_examples=25, stateful_step_count=30, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def test_the_power_table_covers_the_catalogue():
    assert set(POWER) == set(FAULTS)


@pytest.mark.parametrize("variant", ["mainline", "explicit", "uniform"])
@pytest.mark.parametrize("compressor", ["lz4", "zstd", "deflate", "deflate-iaa"])
def test_real_compressors_keep_every_invariant(variant, compressor):
    machine = make_pool_machine(variant, compressor, max_folio=16)
    run_state_machine_as_test(machine, settings=FAST)
    count(f"pool machine steps, real compressors, {variant} (every invariant after each)",
          machine.total_steps)
    assert machine.total_steps > 100


def test_v13_breaks_with_a_real_compressor(tmp_path):
    result = run_campaign(Campaign("v13", "lz4", (), budget=30, seed=1, max_folio=4), None, tmp_path)
    assert result.findings and result.findings[0].invariant.startswith("INV-")
    assert "misbehave" not in Path(result.findings[0].reproducer).read_text()


def _without_faults(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "state.misbehave(" not in line)


@pytest.mark.parametrize("fault", list(POWER))
def test_every_fault_is_found_because_of_the_fault(fault, tmp_path):
    variant, compressor, invariant = POWER[fault]
    c = Campaign(variant, compressor, (fault,), budget=6 if invariant is None else 30, seed=11,
                 max_folio=8, kinds=COMPRESSIBLE)
    result = run_campaign(c, None, tmp_path)
    if invariant is None:
        assert result.findings == [] and result.steps > 1000
        return
    assert [f.invariant for f in result.findings] == [invariant], result.to_json()
    finding = result.findings[0]
    path = Path(finding.reproducer)
    assert replay_finding(path).violation.invariant == invariant  # the saved test reproduces it
    text = path.read_text()
    assert "state.misbehave(" in text
    clean = tmp_path / "without_faults.py"
    clean.write_text(_without_faults(text))
    assert replay_finding(clean) is None  # ...and only because of the fault


@pytest.mark.parametrize("compressor", ["lz4", "zstd", "deflate", "deflate-iaa"])
def test_real_compressors_keep_the_batch_contract(compressor):
    run_state_machine_as_test(make_contract_machine(compressor), settings=FAST)


@pytest.mark.parametrize("compressor,fault,clause", [
    ("lz4", "zero-length", "C-LENGTH"),
    ("zstd", "oversize-report", "C-LENGTH"),
    ("lz4", "bad-output", "C-ROUNDTRIP"),
    ("deflate-iaa", "fail-all-valid", "C-RET"),
    ("deflate-iaa", "negative-entry-ret0", "C-RET"),
    ("deflate-iaa", "wrong-output", "C-ROUNDTRIP"),
])
def test_a_misbehaving_compressor_breaks_the_right_clause(compressor, fault, clause):
    machine = make_contract_machine(compressor, (fault,), kinds=COMPRESSIBLE)
    with pytest.raises(ContractBroken) as info:
        run_state_machine_as_test(machine, settings=settings(FAST, max_examples=200))
    assert str(info.value).startswith(clause)


def test_a_corrupt_finding_is_a_clear_error(tmp_path):
    from zswap_spec.fuzz.campaign import FindingError

    bad = tmp_path / "test_broken.py"
    bad.write_text("def test_finding(:\n")
    with pytest.raises(FindingError, match="not a readable finding"):
        replay_finding(bad)
    with pytest.raises(FindingError, match="no such finding file"):
        replay_finding(tmp_path / "missing.py")


def test_reproducer_is_a_pytest_test(tmp_path):
    result = run_campaign(Campaign("v14", "zstd", ("exact-page",), budget=20, seed=5, max_folio=4,
                                   kinds=COMPRESSIBLE), None, tmp_path)
    (finding,) = result.findings
    text = Path(finding.reproducer).read_text()
    assert re.search(r"^def test_finding\(\):$", text, re.M)
    assert "make_pool_machine('v14', 'zstd', ('exact-page',)" in text

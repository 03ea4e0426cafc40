"""Shared fixtures and Hypothesis profiles.

Profiles: `default` (the plain `pytest` run, a few minutes on 2 cores),
`ci` (same budget, no deadline, printed statistics), `campaign` (long
searches: HYPOTHESIS_PROFILE=campaign pytest -m slow).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("campaign", max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "20000")), deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def sample_4k():
    from zswap_spec.replay.sample import default_sample

    return default_sample(4096)


@pytest.fixture(params=[4096, 65536], ids=["4K", "64K"])
def page_size(request):
    return request.param


def pytest_sessionfinish(session):
    """On a pytest-xdist worker: hand the property counts to the controller."""
    from propcount import CASES

    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["property_cases"] = dict(CASES)


def pytest_testnodedown(node, error):
    """On the controller: add up what each worker counted."""
    from propcount import CASES

    CASES.update(getattr(node, "workeroutput", {}).get("property_cases", {}))


def pytest_terminal_summary(terminalreporter):
    from propcount import CASES

    if CASES:
        terminalreporter.section("property cases run")
        for name, n in sorted(CASES.items()):
            terminalreporter.write_line(f"{name}: {n} cases")

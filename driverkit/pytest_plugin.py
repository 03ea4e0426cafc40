"""pytest plugin of the driver conformance kit, installed with the package
(entry point `pytest11`): a driver author's test suite gets the fixture
`acomp_driver_check` and two options.

    def test_my_driver_keeps_the_contract(acomp_driver_check):
        acomp_driver_check("build/mydriver.so")           # fails naming each broken clause

    def test_the_bad_one_is_caught(acomp_driver_check):
        (report,) = acomp_driver_check("tests/bad.so", expect_conformance=False)
        assert "C-OVERRUN" in report.clauses

Options: `--acomp-budget SECONDS` (search time per driver, default 2) and
`--acomp-reproducers DIR` (default: the test's temporary folder).
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("zswap-spec driver kit")
    group.addoption("--acomp-budget", type=float, default=2.0,
                    help="seconds of Hypothesis search per driver in acomp_driver_check (default 2)")
    group.addoption("--acomp-reproducers", default=None,
                    help="folder for the kit's reproducers (default: the test's tmp_path)")


@pytest.fixture
def acomp_driver_check(request, tmp_path):
    """check(target, expect_conformance=True, **options) -> list of DriverReport."""
    from . import check_driver, failure_text

    budget = request.config.getoption("--acomp-budget")
    folder = request.config.getoption("--acomp-reproducers") or str(tmp_path / "reproducers")

    def check(target: str, expect_conformance: bool = True, **options):
        options.setdefault("budget", budget)
        options.setdefault("reproducers", folder)
        reports = check_driver(target, **options)
        if expect_conformance:
            bad = [r for r in reports if not r.conforms]
            if bad:
                pytest.fail("\n".join(failure_text(r) for r in bad), pytrace=False)
        return reports

    return check

"""The driver conformance kit: checks a compression driver, in C or Python,
against the acomp batch contract clause by clause (spec/zswap-spec.md §11),
in a separate process, and says what each zswap variant would do with it.

Public API::

    from zswap_spec.driverkit import check_driver, assert_conforms
    reports = check_driver("./mydriver.so", budget=5)   # one DriverReport per driver
    assert_conforms("mypackage.driver:DRIVER")           # AssertionError naming the clauses

The command is `zswap-spec check-driver`; the pytest fixture
`acomp_driver_check` comes with the package (`zswap_spec.driverkit.pytest_plugin`).
"""

from __future__ import annotations

from .abi import DriverInfo, TargetError
from .pydriver import PythonDriver, PyUnit

__all__ = ["CLAUSES", "DriverInfo", "DriverReport", "KitOptions", "PyUnit", "PythonDriver",
           "TargetError", "Violation", "assert_conforms", "check_driver", "failure_text"]


def __getattr__(name: str):
    # The checking side (Hypothesis, the model) loads only when asked for, so
    # the process that runs a driver starts fast.
    if name in ("CLAUSES", "Violation"):
        from . import clauses

        return getattr(clauses, name)
    if name in ("DriverReport", "KitOptions"):
        from . import conformance

        return getattr(conformance, name)
    raise AttributeError(name)


def check_driver(target: str, *, budget: float = 5.0, format: str | None = None,
                 variants: tuple[str, ...] = (), call_timeout: float = 5.0, seed: int = 0,
                 reproducers: str | None = "zswap-driver-findings", jobs: int = 1,
                 vectors: bool = True, load_timeout: float = 20.0,
                 memory_limit: int = 1 << 30, page_sizes: tuple[int, ...] | None = None,
                 kernel_source: str | None = "debian:7.3") -> list:
    """Check every driver `target` names (a .so path, module:attr or builtin:NAME).

    A target that cannot be checked at all gives one report whose `error` says why.
    `memory_limit`: bytes of data the driver's process may map (RLIMIT_DATA).
    `page_sizes`: some of 4096, 16384 and 65536 (None: all three, where the
    driver supports them).  `kernel_source`: where the kernel's self-test
    vectors come from ("debian:7.3", a tree or tarball; None: no self-test)."""
    from .conformance import DriverReport, KitOptions, expand_target
    from .jobs import check_targets
    from .targets import parse_target

    options = KitOptions(budget=budget, seed=seed, call_timeout=call_timeout, format=format,
                         variants=tuple(variants), reproducers=reproducers, vectors=vectors,
                         load_timeout=load_timeout, memory_limit=memory_limit,
                         kernel_source=kernel_source,
                         **({"page_sizes": tuple(sorted(set(page_sizes)))} if page_sizes else {}))
    try:
        expanded = expand_target(parse_target(target), options)
    except TargetError as e:
        expanded = str(e)
    if isinstance(expanded, str):
        return [DriverReport(target, target, error=expanded)]
    return check_targets(expanded, options, jobs)


def failure_text(report) -> str:
    """What a failed check says: the target, then one line per broken clause."""
    if report.error:
        return f"{report.target}: not checked: {report.error}"
    lines = [f"{report.target}: breaks {', '.join(report.clauses)}"]
    for v in report.violations:
        lines.append(f"  {v.clause}: {v.description}")
        if v.reproducer:
            lines.append(f"    reproducer: {v.reproducer}")
    return "\n".join(lines)


def assert_conforms(target: str, **options) -> list:
    """`check_driver`, then AssertionError unless every driver conforms."""
    reports = check_driver(target, **options)
    bad = [r for r in reports if not r.conforms]
    if bad:
        raise AssertionError("\n".join(failure_text(r) for r in bad))
    return reports

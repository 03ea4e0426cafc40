"""Fuzzing campaigns: the pool state machine run for a time budget, findings
saved the moment they are found, as a JSON record and a runnable pytest
test, and counterexamples kept in Hypothesis's example database (a local
folder, or Redis so campaigns on several machines share them)."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import hashlib

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import get_state_machine_test

from zswap_spec.model.invariants import Violation

from .machine import make_pool_machine

__all__ = ["Campaign", "Finding", "CampaignResult", "run_campaign", "open_database",
           "DatabaseError", "replay_finding", "FindingError"]

CHUNK_EXAMPLES = 100
# No `explain` phase: its coverage tracing costs more than the search.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
STEPS_PER_EXAMPLE = 50


class DatabaseError(ValueError):
    """A database URL that is malformed or unreachable."""


class FindingError(ValueError):
    """A saved finding that cannot be read or run."""


@dataclass(frozen=True)
class Campaign:
    variant: str
    compressor: str
    faults: tuple[str, ...] = ()
    budget: float = 10.0
    seed: int | None = None
    max_folio: int = 512
    page_size: int = 4096
    kinds: tuple[str, ...] | None = None  # None: every page kind
    impl: str = "model"  # "core": the pool machine over the optimized core


@dataclass
class Finding:
    invariant: str
    description: str
    reproducer: str
    seconds_to_find: float

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class CampaignResult:
    variant: str
    compressor: str
    faults: list[str]
    examples: int = 0
    steps: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    impl: str = "model"

    def to_json(self) -> dict:
        out = asdict(self)
        out["findings"] = [f.to_json() for f in self.findings]
        out["steps_per_second"] = round(self.steps / self.seconds, 1) if self.seconds else 0.0
        return out


def open_database(spec: str | None, default_dir: Path):
    """`None` -> a local folder; a folder path; or redis://HOST:PORT/N."""
    if spec is None:
        return DirectoryBasedExampleDatabase(str(default_dir))
    if "://" not in spec:
        path = Path(spec)
        if path.exists() and not path.is_dir():
            raise DatabaseError(f"--db {spec}: exists and is not a folder; give a folder or "
                                f"redis://HOST:PORT/N")
        return DirectoryBasedExampleDatabase(str(path))
    url = urlparse(spec)
    if url.scheme != "redis" or not url.hostname:
        raise DatabaseError(f"--db {spec}: not a database URL; use redis://HOST:PORT/N or a folder")
    try:
        db_index = int(url.path.strip("/") or 0)
        port = url.port or 6379
    except ValueError:
        raise DatabaseError(f"--db {spec}: the port and database number must be integers, "
                            f"as in redis://127.0.0.1:6379/0") from None
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError:
        raise DatabaseError("--db redis://...: the redis client is not installed "
                            "(pip install redis)") from None
    client = redis.Redis(host=url.hostname, port=port, db=db_index, socket_connect_timeout=3)
    try:
        client.ping()
    except Exception as e:
        raise DatabaseError(f"--db {spec}: cannot reach Redis ({e}); start redis-server or "
                            f"give a folder") from None
    return RedisExampleDatabase(client, key_prefix=b"zswap-spec:")


def _steps_from(error: BaseException, reported: list[str]) -> list[str]:
    """The failing example's statements, as Hypothesis prints them (a statement
    may span lines)."""
    notes = [str(n) for n in getattr(error, "__notes__", [])] + [str(r) for r in reported]
    statements = [n for n in notes if n.startswith("state = ") or n.startswith("state.")]
    if "state = PoolMachine()" in statements:  # keep the last complete run
        last = len(statements) - 1 - statements[::-1].index("state = PoolMachine()")
        statements = statements[last:]
    return [re.sub(r"\s*# or any other generated value", "", s) for s in statements]


def _machine_source(c: Campaign, machine_config: dict) -> str:
    """The reproducer's lines that rebuild the campaign's machine."""
    if c.impl == "core":
        return f"""from zswap_spec.fuzz.lockstep import make_impl_machine

PoolMachine = make_impl_machine({c.variant!r}, {c.compressor!r}, {tuple(c.faults)!r},
                                page_size={machine_config["page_size"]}, max_folio={c.max_folio},
                                kinds={tuple(machine_config["kinds"])!r}, impls=("core",))"""
    return f"""from zswap_spec.fuzz.machine import make_pool_machine

PoolMachine = make_pool_machine({c.variant!r}, {c.compressor!r}, {tuple(c.faults)!r},
                                page_size={machine_config["page_size"]}, max_folio={c.max_folio},
                                kinds={tuple(machine_config["kinds"])!r})"""


def _make_machine(c: Campaign):
    kinds = {"kinds": c.kinds} if c.kinds else {}
    if c.impl == "core":
        from .lockstep import make_impl_machine

        return make_impl_machine(c.variant, c.compressor, c.faults, page_size=c.page_size,
                                 max_folio=c.max_folio, impls=("core",), **kinds)
    return make_pool_machine(c.variant, c.compressor, c.faults, page_size=c.page_size,
                             max_folio=c.max_folio, **kinds)


def _broken_invariant(error: BaseException) -> str | None:
    """The ID of the invariant a step broke (an `InvariantBroken`), or None."""
    violation = getattr(error, "violation", None)
    return violation.invariant if isinstance(violation, Violation) else None


def _reproducer(c: Campaign, machine_config: dict, error: BaseException, steps: list[str],
                folder: Path, stamp: str) -> Path:
    inv = _broken_invariant(error) or "ERROR"
    # An InvariantBroken's message, then the spec's statement; any other error's first line.
    summary = str(error) if inv != "ERROR" else str(error).splitlines()[0]
    name = f"test_{inv.lower().replace('-', '_')}_{c.variant}_{c.compressor.replace('-', '_')}_{stamp}.py"
    body = "\n".join("    " + s.replace("\n", "\n    ") for s in steps) if steps else \
        "    raise AssertionError('no steps were printed')"
    text = f'''"""zswap-spec finding: {inv} under {c.variant} with {c.compressor}, faults {list(c.faults) or 'none'}, on the {c.impl}.

{summary}

Re-run with `zswap-spec fuzz --replay {name}` or `pytest {name}`.
"""

{_machine_source(c, machine_config)}


def test_finding():
{body}
'''
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # a finding is either whole on disk or absent
    return path


def run_campaign(c: Campaign, database, findings_dir: Path, progress=None) -> CampaignResult:
    """Run until the budget is spent or an invariant breaks; save what is found."""
    machine = _make_machine(c)
    result = CampaignResult(c.variant, c.compressor, list(c.faults), impl=c.impl)
    started = time.perf_counter()
    chunk = 0
    key = hashlib.sha256(repr(sorted(machine.configuration.items())).encode()).digest()
    while time.perf_counter() - started < c.budget:
        reported: list[str] = []
        before = machine.total_steps
        try:
            from hypothesis.reporting import with_reporter

            test = get_state_machine_test(machine, settings=settings(
                max_examples=CHUNK_EXAMPLES, stateful_step_count=STEPS_PER_EXAMPLE,
                deadline=None, database=database, print_blob=False,
                phases=PHASES, suppress_health_check=list(HealthCheck)),
                _flaky_state={"selecting_rule": False})
            # One example-database key per configuration, so campaigns of
            # different variants, compressors or faults never mix.
            test._hypothesis_internal_database_key = key
            if c.seed is not None:
                # As @hypothesis.seed does, but keeping the database: a seeded
                # campaign still saves what it finds.
                test._hypothesis_internal_use_seed = c.seed + chunk
            with with_reporter(reported.append):
                test()
        except BaseException as e:  # noqa: BLE001 - a finding, or a crash to report
            if isinstance(e, KeyboardInterrupt):
                raise
            errors = list(e.exceptions) if isinstance(e, BaseExceptionGroup) else [e]
            for err in errors:
                steps = _steps_from(err, reported)
                path = _reproducer(c, machine.configuration, err, steps, findings_dir,
                                   time.strftime("%Y%m%d%H%M%S") + f"_{len(result.findings)}")
                inv = _broken_invariant(err)
                if inv is None:
                    result.error = f"{type(err).__name__}: {err}"
                result.findings.append(Finding(inv or "ERROR", str(err).splitlines()[0][:300],
                                               str(path), round(time.perf_counter() - started, 3)))
            break
        finally:
            result.steps += machine.total_steps - before
            result.examples += CHUNK_EXAMPLES
            if progress is not None:
                progress(result)
        chunk += 1
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def replay_finding(path: Path) -> AssertionError | None:
    """Run a saved finding: what it still breaks (an `InvariantBroken`, carrying the
    `Violation`, or a per-unit property's AssertionError), or None if it passes now."""
    if not path.is_file():
        raise FindingError(f"{path}: no such finding file")
    try:
        spec = importlib.util.spec_from_file_location(f"zswap_finding_{abs(hash(str(path)))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        test = module.test_finding
    except Exception as e:  # a corrupt or foreign file
        raise FindingError(f"{path}: not a readable finding ({type(e).__name__}: {e}); "
                           f"re-run the campaign to save it again") from None
    try:
        test()
    except AssertionError as e:  # an invariant (InvariantBroken) or a per-unit property
        return e
    return None


def save_summary(results, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "campaigns.json"
    path.write_text(json.dumps({"runs": [r.to_json() for r in results]}, indent=2))
    return path

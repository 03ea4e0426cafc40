"""Fuzzing campaigns: the pool state machine run until a deadline (checked at
every step), findings saved the moment they are found, as a JSON record and a
runnable pytest test (`findings`), and counterexamples kept in Hypothesis's
example database (a local folder, or Redis so campaigns on several machines
share them)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import HypothesisException
from hypothesis.stateful import get_state_machine_test, invariant

from zswap_spec.model.invariants import Violation

from .findings import FindingError, claim_file, finding_stem, replay_finding, save_index
from .machine import make_pool_machine

__all__ = ["Campaign", "Finding", "CampaignResult", "run_campaign", "open_database",
           "DatabaseError", "replay_finding", "FindingError", "save_index"]

CHUNK_EXAMPLES = 100
# No `explain` phase: its coverage tracing costs more than the search.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
STEPS_PER_EXAMPLE = 50
# A failure found just before the deadline is shrunk this much longer, at most.
SHRINK_FLOOR = 1.0
CLOCK = "campaign_clock"  # the campaign's invariant that reads the clock (not a step)


class DatabaseError(ValueError):
    """A database URL that is malformed or unreachable."""


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
    status: str = "done"  # "stopped": interrupted part-way; "not run": never started
    note: str | None = None  # why a campaign stopped or did not run

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
    statements = [n for n in notes if (n.startswith("state = ") or n.startswith("state."))
                  and n != f"state.{CLOCK}()"]
    # The reproducer names its machine class PoolMachine, whichever machine it is.
    statements = [re.sub(r"^state = \w+\(\)$", "state = PoolMachine()", s) for s in statements]
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
                folder: Path) -> Path:
    inv = _broken_invariant(error) or "ERROR"
    recorded = inv if inv != "ERROR" else f"ERROR: {type(error).__name__}"
    # An InvariantBroken's message, then the spec's statement; any other error's first line.
    summary = str(error) if inv != "ERROR" else f"{type(error).__name__}: " + \
        (str(error).splitlines() or [""])[0]
    body = "\n".join("    " + s.replace("\n", "\n    ") for s in steps) if steps else \
        "    raise AssertionError('no steps were printed')"
    stem = finding_stem(inv, c.variant, c.compressor, c.faults, c.impl, c.page_size, c.max_folio,
                        tuple(machine_config["kinds"]), body)

    def render(name: str) -> str:
        return f'''"""zswap-spec finding: {inv} under {c.variant} with {c.compressor}, faults {list(c.faults) or 'none'}, on the {c.impl}.

{summary}

Re-run with `zswap-spec fuzz --replay {name}` or `pytest {name}`.
"""

{_machine_source(c, machine_config)}

RECORDED = {recorded!r}  # what this finding shows; `fuzz --replay` checks it still does


def test_finding():
{body}
'''

    return claim_file(folder, stem, render)


class CampaignStopped(KeyboardInterrupt):
    """Raised from a step to end a campaign's search: its time is up, or the run was
    interrupted.  A KeyboardInterrupt, so Hypothesis neither records nor shrinks it."""


class _OutOfTime(CampaignStopped):
    pass


class _Interrupted(CampaignStopped):
    pass


def _clocked(machine, deadline: float, stop, tick):
    """`machine` with the campaign's clock: after every step, stop when `stop()` says
    so, or at `deadline` (time.monotonic) unless a failure is being shrunk; `tick`
    hears the counts twice a second."""

    class Clocked(machine):
        failing = False  # a step failed in this chunk: Hypothesis is shrinking it
        examples = 0
        next_tick = 0.0

        def __init__(self):
            super().__init__()
            type(self).examples += 1

        @invariant()
        def campaign_clock(self):
            cls = type(self)
            if stop is not None and stop():
                raise _Interrupted()
            now = time.monotonic()
            if now >= deadline and not cls.failing:
                raise _OutOfTime()
            if tick is not None and now >= cls.next_tick:
                cls.next_tick = now + 0.5
                tick(cls.examples, cls.total_steps)

        def teardown(self):
            error = sys.exc_info()[1]
            # A step failed (not Hypothesis's own ending of an example, StopTest and
            # the like): what follows is shrinking it.
            if isinstance(error, Exception) and not isinstance(error, HypothesisException):
                type(self).failing = True
            super().teardown()

    Clocked.__name__ = Clocked.__qualname__ = machine.__name__
    assert CLOCK == Clocked.campaign_clock.__name__
    Clocked.total_steps = 0
    return Clocked


class _ShrinkUntil:
    """Stands for Hypothesis's shrinking time limit (`now + MAX_SHRINKING_SECONDS`):
    the campaign's deadline, or SHRINK_FLOOR from now if that is later."""

    def __init__(self, deadline: float):
        self.deadline = deadline

    def __radd__(self, now: float) -> float:
        return now + max(self.deadline - time.monotonic(), SHRINK_FLOOR)


@contextlib.contextmanager
def shrinking_until(deadline: float):
    from hypothesis.internal.conjecture import engine

    old = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    engine.MAX_SHRINKING_SECONDS = _ShrinkUntil(deadline)
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = old


def run_campaign(c: Campaign, database, findings_dir: Path, progress=None, *,
                 deadline: float | None = None, stop=None) -> CampaignResult:
    """Search until `deadline` (time.monotonic(); default: `c.budget` seconds from now)
    or until an invariant breaks; save what is found.  `stop()`, checked at every
    step, ends the search at once with status "stopped" and saves nothing more."""
    deadline = time.monotonic() + c.budget if deadline is None else deadline
    result = CampaignResult(c.variant, c.compressor, list(c.faults), impl=c.impl)
    started = time.perf_counter()

    def tick(examples, steps):
        result.examples, result.steps = examples, steps
        if progress is not None:
            progress(result)

    machine = _clocked(_make_machine(c), deadline, stop, tick)
    chunk = 0
    key = hashlib.sha256(repr(sorted(machine.configuration.items())).encode()).digest()
    while time.monotonic() < deadline:
        if stop is not None and stop():
            result.status = "stopped"
            break
        reported: list[str] = []
        machine.failing = False
        try:
            from hypothesis.reporting import with_reporter

            test = get_state_machine_test(machine, settings=settings(
                max_examples=CHUNK_EXAMPLES, stateful_step_count=STEPS_PER_EXAMPLE,
                deadline=None, database=database, print_blob=False,
                # One bug per chunk: with several, Hypothesis goes on generating
                # after the first, past the deadline (the clock waits for a failure
                # being handled); the next run finds the others.
                report_multiple_bugs=False,
                phases=PHASES, suppress_health_check=list(HealthCheck)),
                _flaky_state={"selecting_rule": False})
            # One example-database key per configuration, so campaigns of
            # different variants, compressors or faults never mix.
            test._hypothesis_internal_database_key = key
            if c.seed is not None:
                # As @hypothesis.seed does, but keeping the database: a seeded
                # campaign still saves what it finds.
                test._hypothesis_internal_use_seed = c.seed + chunk
            with with_reporter(reported.append), shrinking_until(deadline):
                test()
        except _OutOfTime:
            break
        except _Interrupted:
            result.status = "stopped"
            break
        except BaseException as e:  # noqa: BLE001 - a finding, or a crash to report
            if isinstance(e, KeyboardInterrupt):
                raise
            if stop is not None and stop():  # found as the run was interrupted: not saved
                result.status = "stopped"
                break
            errors = list(e.exceptions) if isinstance(e, BaseExceptionGroup) else [e]
            for err in errors:
                try:
                    path = _reproducer(c, machine.configuration, err,
                                       _steps_from(err, reported), findings_dir)
                except OSError as save_error:  # a full disk, a folder gone: the finding stays
                    path = (f"not saved ({save_error.strerror or save_error}); the table and "
                            f"JSON hold what it found")
                inv = _broken_invariant(err)
                if inv is None:
                    result.error = f"{type(err).__name__}: {err}"
                result.findings.append(Finding(inv or "ERROR", str(err).splitlines()[0][:300]
                                               if str(err) else type(err).__name__,
                                               str(path), round(time.perf_counter() - started, 3)))
            break
        finally:
            result.examples, result.steps = machine.examples, machine.total_steps
            if progress is not None:
                progress(result)
        chunk += 1
    result.seconds = round(time.perf_counter() - started, 3)
    return result

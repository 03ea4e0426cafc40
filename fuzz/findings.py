"""What the campaigns leave in the findings folder, and reading it back.

A finding is a runnable pytest test named after what it found and where
(`test_<invariant>_<variant>_<compressor>_<fault>_<hash>.py`, the hash taken
over the case's configuration and steps), claimed exclusively and written
atomically: two findings never share a name, a reader never sees half a file,
and the same finding found again reuses its file.  `campaigns.json` is the
folder's index: every run's campaigns, each run's entries added to the
earlier ones (under a lock, written atomically).  `replay_finding` runs a
saved finding and says what it shows.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from zswap_spec.support.files import atomic_write, case_hash

__all__ = ["FindingError", "claim_file", "finding_stem", "save_index", "replay_finding",
           "replay", "Replayed", "INDEX"]

INDEX = "campaigns.json"


class FindingError(ValueError):
    """A saved finding that cannot be read or run (an input error)."""


def _ident(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def finding_stem(invariant: str, variant: str, compressor: str, faults, *case) -> str:
    """`test_<invariant>_<variant>_<compressor>_<fault>_<hash>`: what, where, and which case."""
    fault = "_".join(_ident(f) for f in faults) or "nofault"
    return (f"test_{_ident(invariant)}_{_ident(variant)}_{_ident(compressor)}_{fault}_"
            f"{case_hash(invariant, variant, compressor, tuple(faults), *case)}")


def claim_file(folder: Path, stem: str, render) -> Path:
    """Write `render(name)` to `folder/stem.py`, else `stem_2.py`, `stem_3.py` ...: the
    name is taken only if free (a hard link of a complete temporary file, so the
    file appears whole or not at all); a file of that name with the same text is
    the same finding, found again, and is reused."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        name = f"{stem}{'' if n == 1 else f'_{n}'}.py"
        path = folder / name
        text = render(name)
        if path.exists():
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if path.read_text() == text:
                    return path
            n += 1
            continue
        if _link_new(path, text):
            return path
        n += 1  # taken between the look and the link: the next name


def _link_new(path: Path, text: str) -> bool:
    """Create `path` holding `text`, atomically and only if it does not exist."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".py", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: claim the name, then replace
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                return False
            os.replace(tmp, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# -- the index ------------------------------------------------------------------

@contextlib.contextmanager
def _locked(folder: Path):
    import fcntl

    with open(folder / ".campaigns.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def save_index(results, folder: Path, warn=None) -> Path:
    """Add this run's campaigns to `folder/campaigns.json` (earlier runs' entries kept;
    an index that does not read is kept aside, never overwritten).  Each entry gets
    `run`: when this run started and its process id."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / INDEX
    run = time.strftime("%Y-%m-%dT%H:%M:%S") + f"-{os.getpid()}"
    with _locked(folder):
        earlier = []
        try:
            doc = json.loads(path.read_text())
            earlier = doc["runs"]
            if not isinstance(earlier, list):
                raise TypeError("runs is not a list")
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            aside = folder / f"campaigns.unreadable-{time.strftime('%Y%m%d%H%M%S')}.json"
            os.replace(path, aside)
            earlier = []
            if warn is not None:
                warn(f"{path}: did not read as an index; kept as {aside.name}, a new one started")
        entries = earlier + [{**r.to_json(), "run": run} for r in results]
        atomic_write(path, json.dumps({"runs": entries}, indent=2) + "\n")
    return path


# -- replay ---------------------------------------------------------------------

@dataclass
class Replayed:
    """What a saved finding did when run again: `error` is None when it passes now."""
    error: BaseException | None
    recorded: str | None  # what the finding records: INV-X, EQV-X, ERROR: Type, or None

    @property
    def shown(self) -> str | None:
        """What the run broke: an invariant's ID, or an exception's type."""
        if self.error is None:
            return None
        violation = getattr(self.error, "violation", None)
        return getattr(violation, "invariant", None) or type(self.error).__name__


def _recorded(module, text: str, path: Path) -> str | None:
    """What the finding says it shows: a property ID of the spec, or ERROR[: type]."""
    from zswap_spec.spec import EQUIVALENCES, INVARIANTS

    if hasattr(module, "RECORDED"):
        rec = module.RECORDED
        if not isinstance(rec, str) or not (rec in INVARIANTS or rec in EQUIVALENCES
                                            or rec == "ERROR" or rec.startswith("ERROR:")):
            raise FindingError(f"--replay {path}: RECORDED is {rec!r}, not a property ID of the "
                               "spec or ERROR; re-run the campaign to save it again")
        return rec
    m = re.search(r"zswap-spec finding: (\S+)", text)
    if m and m.group(1).startswith(("INV-", "EQV-", "ERROR")):
        return m.group(1)
    if "decides one page differently" in text:  # a per-unit finding of an older version
        return "EQV-OUTCOME"
    return None


def replay_finding(path: Path) -> BaseException | None:
    """Run a saved finding: what it still shows (`replay`), or None if it passes now."""
    return replay(path).error


def replay(path: Path) -> Replayed:
    """Run a saved finding.  It reproduces (`error` set) when it breaks an invariant
    (an `InvariantBroken`), fails the per-unit property it records, or raises the
    exception it records; code of the finding's own that fails otherwise is a
    `FindingError`; anything else raised from zswap-spec is re-raised (an internal
    error: it is not what the finding found)."""
    path = Path(path)
    if path.is_dir():
        raise FindingError(f"--replay {path}: is a folder; give one finding file from it "
                           f"(test_*.py)")
    if not path.is_file():
        raise FindingError(f"--replay {path}: no such finding file; give a test_*.py file from "
                           f"the findings folder")
    try:
        text = path.read_text()
        spec = importlib.util.spec_from_file_location(f"zswap_finding_{abs(hash(str(path)))}", path)
        if spec is None:
            raise ImportError("not a Python file")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        test = module.test_finding
        if not callable(test):
            raise TypeError("test_finding is not a function")
    except (Exception, SystemExit) as e:  # a corrupt or foreign file
        raise FindingError(f"--replay {path}: not a readable finding ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}); re-run the campaign to "
                           f"save it again") from None
    recorded = _recorded(module, text, path)
    try:
        test()
    except SystemExit:
        raise FindingError(f"--replay {path}: the finding ends the process instead of running "
                           "its steps; re-run the campaign to save it again") from None
    except Exception as e:  # noqa: BLE001 - sorted below
        return Replayed(_judge(e, recorded, path), recorded)
    return Replayed(None, recorded)


def _judge(e: Exception, recorded: str | None, path: Path) -> Exception:
    if getattr(e, "violation", None) is not None:  # InvariantBroken: an invariant broken
        return e
    if isinstance(e, AssertionError) and recorded and recorded.startswith("EQV-"):
        return e  # the per-unit property the finding records
    if recorded and recorded.startswith("ERROR"):
        want = recorded.partition(":")[2].strip()
        if not want or want == type(e).__name__:
            return e  # the crash the finding records
    from zswap_spec.model.compressors import CompressorError
    from zswap_spec.model.variants import UnknownVariant
    from zswap_spec.pool import PoolInputError

    if isinstance(e, (UnknownVariant, CompressorError, PoolInputError)):
        # The finding names a variant, compressor or setting this version does not have.
        raise FindingError(f"--replay {path}: not a finding this version can run "
                           f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})"
                           f"; re-run the campaign to save it again") from None
    if _raised_in(e, path):
        raise FindingError(f"--replay {path}: the finding's own code fails ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:200] if str(e) else ''}), which is not what "
                           f"it records ({recorded or 'nothing'}); re-run the campaign to save it "
                           f"again") from None
    raise e  # from zswap-spec itself: an internal error, not the finding


def _raised_in(e: BaseException, path: Path) -> bool:
    """Was `e` raised by the finding file's own code (its innermost frame there)?"""
    tb = e.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    return last is not None and Path(last.tb_frame.f_code.co_filename).resolve() == path.resolve()

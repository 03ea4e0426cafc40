"""What several subcommands check the same way: names, page sizes, input
files, and the progress bar on a terminal."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import sys
from pathlib import Path

import click

from zswap_spec.model.zswap import SUPPORTED_PAGE_SIZES

from .errors import InputError

__all__ = ["choice_list", "check_names", "page_size_option", "check_page_size", "read_pages",
           "resolve_impl", "Progress", "stderr_console", "check_number", "output_dir",
           "output_file", "check_environment", "given", "refuse_beside"]


def choice_list(names) -> str:
    return ", ".join(names)


def check_names(kind: str, given, known) -> list[str]:
    for name in given:
        if name not in known:
            raise InputError(f"unknown {kind} {name!r}; choose from: {choice_list(known)}")
    return list(dict.fromkeys(given))


def page_size_option(f):
    return click.option(
        "--page-size", type=int, default=4096, show_default=True,
        help=f"PAGE_SIZE in bytes: one of {', '.join(map(str, SUPPORTED_PAGE_SIZES))}.")(f)


def check_page_size(page_size: int) -> None:
    if page_size not in SUPPORTED_PAGE_SIZES:
        raise InputError(f"--page-size {page_size} is not supported; use one of "
                         f"{', '.join(map(str, SUPPORTED_PAGE_SIZES))}")


def read_pages(paths, page_size: int, warn, each: bool = False):
    """The input files as a `zswap_spec.replay.source.PageSource` (with `each`: one
    per file): checked now, read a chunk at a time later; a last partial page is
    zero-padded (and said so).  One that cannot serve is an input error naming it."""
    from zswap_spec.replay.source import SourceError, open_source

    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    _refuse_streams_twice(paths)
    try:
        if each:
            return [open_source([p], page_size, warn) for p in paths]
        return open_source(paths, page_size, warn)
    except SourceError as e:
        raise InputError(str(e)) from None


def _refuse_streams_twice(paths) -> None:
    """A pipe, FIFO or device can be read once: the same one given twice would give
    the second nothing (or wait for a writer that never comes).  `-` is not read as
    standard input (a file may be called that): /dev/stdin is."""
    import stat

    seen: dict = {}
    for p in paths:
        if str(p) == "-":
            raise InputError("-: give /dev/stdin to replay standard input (./- for a file "
                             "named -)")
        try:
            st = os.stat(p)
        except OSError:
            continue  # the source names what is wrong with it
        if stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode):
            continue  # read in passes: may be given twice
        key = (st.st_dev, st.st_ino)
        if key in seen:
            raise InputError(f"{p}: is given twice (as {seen[key]} too); a pipe, FIFO or "
                             "device can be read only once: give it once")
        seen[key] = p


class Progress:
    """A progress bar on stderr for long replays, only when stderr is a terminal."""
    def __init__(self, total: int):
        self.total = total
        self.bar = None

    def __enter__(self):
        if sys.stderr.isatty() and self.total >= 20000 and not os.environ.get("CI"):
            from rich.progress import Progress

            self.bar = Progress(transient=True, console=stderr_console())
            self.bar.start()
            task = self.bar.add_task("replay", total=self.total)
            return lambda n: self.bar.advance(task, n)
        return None

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


@contextlib.contextmanager
def signals_held():
    """Ctrl-C, SIGTERM and SIGHUP held back while the block runs (a report being
    printed is not cut short), and taken as it ends: KeyboardInterrupt then."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list = []
    held = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    if got:
        raise KeyboardInterrupt


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def resolve_impl(requested: str | None, needs=(), wants=()) -> str:
    """`zswap_spec.pool.resolve_impl`, its refusals as input errors."""
    from zswap_spec.pool import CoreUnavailable, PoolInputError
    from zswap_spec.pool import resolve_impl as resolve

    try:
        return resolve(requested, needs=needs, wants=wants)
    except (CoreUnavailable, PoolInputError) as e:
        raise InputError(str(e)) from None


def given(ctx, name: str) -> bool:
    """Whether the user gave the parameter `name` (on the command line or from the
    environment), not its default."""
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT,
                                                  ParameterSource.DEFAULT_MAP)


def refuse_beside(ctx, mode: str, takes: set[str], why: str) -> None:
    """`mode` takes only the parameters `takes`: any other the user gave is one line
    naming both (it would be ignored)."""
    for param in ctx.command.params:
        if param.name not in takes and given(ctx, param.name):
            name = param.opts[0] if getattr(param, "opts", None) else param.name.upper()
            raise InputError(f"{mode} and {name} do not go together: {why}; drop {name}")


def check_number(option: str, value, *, above=None, minimum=None, maximum=None, unit: str = ""):
    """`value` of `option`, refused unless finite and in range (None passes: an
    option not given).  `above` is exclusive, `minimum` and `maximum` inclusive."""
    import math

    if value is None:
        return None
    bounds = []
    if above is not None:
        bounds.append(f"above {above}")
    if minimum is not None:
        bounds.append(f"{minimum} or more")
    if maximum is not None:
        bounds.append(f"at most {maximum}")
    want = f"give a number{' of ' + unit if unit else ''}, " + " and ".join(bounds) if bounds \
        else "give a finite number"
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{option} {value}: {want}")
    if ((above is not None and not value > above) or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)):
        raise InputError(f"{option} {value}: {want}")
    return value


def _probe_writable(folder: Path, what: str) -> None:
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=".probe-", dir=folder)
    except OSError as e:
        raise InputError(f"{what}: cannot write in {folder} ({e.strerror}); choose a folder "
                         "you can write to") from None
    try:  # a byte written and synced: a full disk shows now, not after the work
        os.write(fd, b"\0")
        os.fsync(fd)
    except OSError as e:
        raise InputError(f"{what}: cannot write in {folder} ({e.strerror}); free space or "
                         "choose another folder") from None
    finally:
        os.close(fd)
        os.unlink(tmp)


def _kind(what: str, p: Path) -> str:
    """"folder", "file" or "missing"; a path the system refuses to look at (too long,
    a folder above it unreadable) is an input error naming it."""
    try:
        if p.is_dir():
            return "folder"
        return "file" if p.exists() else "missing"
    except OSError as e:
        raise InputError(f"{what}: cannot be looked at ({e.strerror}); check the path and the "
                         "permissions of the folders above it") from None


def _folder(what: str, path, fix: str) -> Path:
    """The folder `path`, created if missing and shown writable; `fix` ends each refusal."""
    if not str(path).strip():
        raise InputError(f"{what.split(' ')[0]} is empty; {fix}")
    p = Path(path).expanduser()
    if _kind(what, p) == "file":
        raise InputError(f"{what}: is a file, not a folder; {fix} (it is created if missing)")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{what}: cannot be created ({e.strerror}); {fix}") from None
    _probe_writable(p, what)
    return p


def output_dir(option: str, path) -> Path:
    """The folder an option names for results, created and shown writable now,
    before any work whose results would go there."""
    return _folder(f"{option} {path}", path, "give a folder you can write to")


def output_file(option: str, path) -> Path:
    """The file an option names for results, shown writable now (its folder
    exists and takes a new file; the file itself is not a folder), before any work."""
    if not str(path).strip():
        raise InputError(f"{option} is empty; give a file name")
    p = Path(path).expanduser()
    what = f"{option} {path}"
    kind = _kind(what, p)
    if kind == "folder":
        raise InputError(f"{what}: is a folder; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if _kind(what, parent) != "folder":
        raise InputError(f"{what}: the folder {parent} does not exist; create it or choose "
                         "another file")
    if kind == "file":
        try:  # opened to append, nothing written: refused for read-only and immutable files
            with open(p, "ab"):
                pass
        except OSError as e:
            raise InputError(f"{what}: cannot be written ({e.strerror}); make it writable or "
                             "choose another file") from None
    _probe_writable(parent, what)
    return p


def check_environment() -> None:
    """The environment variables every command reads, checked the same way for all
    of them before any work: ZSWAP_SPEC_CACHE names a folder that can be created and
    written; ZSWAP_SPEC_IMPL is core, model or auto."""
    from zswap_spec.pool import PoolInputError, requested_impl

    try:
        requested_impl(None)
    except PoolInputError as e:
        raise InputError(str(e)) from None
    cache = os.environ.get("ZSWAP_SPEC_CACHE")
    if cache is not None:
        if not cache.strip():
            raise InputError("ZSWAP_SPEC_CACHE is empty or blank; unset it or name a folder")
        _folder(f"ZSWAP_SPEC_CACHE={cache}", cache, "name a folder you can write to or unset it")

"""What several subcommands check the same way: names, page sizes, input
files, and the progress bar on a terminal."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from zswap_spec.model.zswap import SUPPORTED_PAGE_SIZES

from .errors import InputError

__all__ = ["choice_list", "check_names", "page_size_option", "check_page_size", "read_pages",
           "resolve_impl", "Progress", "stderr_console"]


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


def read_pages(path: str, page_size: int, warn) -> list[bytes]:
    """A file as whole pages; a last partial page is zero-padded (and said so)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path}: is a directory; give a file whose bytes are the pages")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror}); check its permissions") from None
    if not data:
        raise InputError(f"{path}: is empty; give a file with at least one byte")
    rest = len(data) % page_size
    if rest:
        warn(f"{path}: {len(data)} bytes is not a multiple of {page_size}; "
             f"the last page is zero-padded ({page_size - rest} bytes)")
        data += bytes(page_size - rest)
    mv = memoryview(data)
    return [bytes(mv[i:i + page_size]) for i in range(0, len(data), page_size)]


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

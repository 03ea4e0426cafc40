"""The processes a command started, read from /proc: for the tests that no
worker, driver or qemu outlives the command."""

from __future__ import annotations

import time
from pathlib import Path


def _stat(pid) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children() -> dict[int, list[int]]:
    """Parent process id -> its children, for every process now."""
    out: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (st := _stat(d.name)):
            out.setdefault(int(st[1]), []).append(int(d.name))
    return out


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def session(sid: int) -> set[int]:
    """Every live process of session `sid` (a command started with its own session)."""
    return {int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()
            and (st := _stat(d.name)) and int(st[3]) == sid and st[0] != "Z"}


def descendants(pid: int) -> set[int]:
    """Every living process below `pid`."""
    kids, out, todo = children(), set(), [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def alive(pids) -> set[int]:
    """Those of `pids` still running (zombies count as gone)."""
    return {p for p in pids if (st := _stat(p)) and st[0] != "Z"}


def wait_gone(pids, seconds: float = 5.0) -> set[int]:
    """Wait up to `seconds` for `pids` to end; those still alive."""
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)

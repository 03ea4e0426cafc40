"""Standard output as the commands write it.  Whatever writes (click, rich, a
print of JSON), a failed write — the reader closed the pipe, /dev/full, a full
disk — becomes one `StdoutError`, which the entry point turns into one line and
exit 2.  It is not an OSError on purpose: no command's own ``except OSError``
around a file it writes can mistake it for a fault of that file, and neither
click nor rich turns it into an exit code of their own (both exit 1 on a
broken pipe, the code for findings)."""

from __future__ import annotations

import io
import os
import sys

__all__ = ["StdoutError", "guard_stdout", "silence_stdout"]


class StdoutError(Exception):
    """A write to standard output failed; `strerror` says why."""

    def __init__(self, strerror: str):
        super().__init__(strerror)
        self.strerror = strerror


class _GuardedRaw(io.RawIOBase):
    """File descriptor 1, raising StdoutError on a failed write, then swallowing
    every later write (so no flush at exit prints an error of its own)."""

    def __init__(self, fd: int):
        super().__init__()
        self._fd = fd
        self.dead = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        try:
            return os.isatty(self._fd)
        except OSError:
            return False

    def write(self, b) -> int:
        if self.dead:
            return len(b)
        try:
            return os.write(self._fd, b)
        except OSError as e:
            self.dead = True
            raise StdoutError(e.strerror or str(e)) from None


_raw: _GuardedRaw | None = None


def guard_stdout() -> None:
    """Put the guarded descriptor behind sys.stdout, keeping its encoding and line
    buffering; characters it cannot encode become escapes.  Left alone when
    standard output is not descriptor 1 (a test's capture, an embedding caller)."""
    global _raw
    old = sys.stdout
    try:
        if not isinstance(old, io.TextIOWrapper) or old.fileno() != 1:
            return
        old.flush()
    except (OSError, ValueError, io.UnsupportedOperation):
        return
    _raw = _GuardedRaw(1)
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(_raw), encoding=old.encoding,
                                  errors="backslashreplace", line_buffering=old.line_buffering)


def silence_stdout() -> None:
    """After a failed write: every later write is dropped."""
    if _raw is not None:
        _raw.dead = True

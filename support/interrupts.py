"""An interrupted command still shows what it did: the one pattern for it.

`cli.main` turns an interrupt (Ctrl-C; SIGTERM and SIGHUP arrive as one) into the line
"zswap-spec: interrupted" and exit 130.  A command that has results when the
interrupt comes prints them first and then lets the interrupt go on:

    with reported_on_interrupt(lambda e: print_what_was_done(state, e)):
        do_the_work(state)

Work that runs below the command (a process pool, a loop over compressors)
and holds results the command cannot see raises `Interrupted`, a
KeyboardInterrupt carrying what was done (`done`) and what was not
(`not_done`), in place of the bare interrupt.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Callable, Iterator

__all__ = ["Interrupted", "reported_on_interrupt", "interrupts_held"]

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                 if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """An interrupt, with what was done before it and what was not."""

    def __init__(self, done=None, not_done=()):
        super().__init__()
        self.done = done
        self.not_done = list(not_done)


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP ignored inside the block (the main thread only can change
    them; elsewhere the block runs as it is): a second interrupt while what was done is
    being printed does not cut the printing short.  The command is ending anyway."""
    try:
        old = [(s, signal.signal(s, signal.SIG_IGN)) for s in _SIGNALS]
    except ValueError:  # not the main thread
        old = []
    try:
        yield
    finally:
        for s, handler in old:
            signal.signal(s, handler)


@contextmanager
def reported_on_interrupt(report: Callable[[KeyboardInterrupt], None]) -> Iterator[None]:
    """Run the block; on an interrupt, call `report(interrupt)` (print what was done;
    further interrupts held off), then re-raise the interrupt, so the command exits 130
    after its results."""
    try:
        yield
    except KeyboardInterrupt as e:
        with interrupts_held():
            report(e)
        raise

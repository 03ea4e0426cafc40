"""Imported by the fork server before it forks any worker (support/processes.py):
a worker that cannot even start because the command is already ending (Ctrl-C
or SIGTERM while the worker was being forked: the pool's semaphores are gone
when it unpickles them) ends silently instead of printing a traceback under the
command's one line.  The command sees the lost worker as a broken pool and
reports that itself; once a worker runs its task, its errors travel back to the
command as before."""

from __future__ import annotations

import os
import multiprocessing.spawn as _spawn

_start = _spawn._main


def _quiet_start(fd, parent_sentinel):
    try:
        return _start(fd, parent_sentinel)
    except Exception:  # noqa: BLE001 - before the task: nothing of the user's is lost
        os._exit(1)


_spawn._main = _quiet_start

"""Worker processes for the commands that fan out (proofs, fuzz campaigns,
driver checks): one way to start them.

Workers come from a fork server, not from a fork of the caller: forking a
process that runs threads (a test runner's worker, an IDE, a web service
calling the API) copies locks that other threads held, and the child can
hang on them for ever.  The fork server is a fresh single-threaded process
that forks each worker; it is started once per command and imports the
package before forking, so workers start in milliseconds.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

__all__ = ["context", "process_pool", "pool_processes", "stop_pool", "worker_setup", "die_with",
           "die_with_parent", "dies_with_parent"]

# What workers run; imported once in the fork server, so no worker pays for
# it (z3 and Hypothesis take a second or more to import).
_PRELOAD = ["zswap_spec.support.worker_start", "zswap_spec", "zswap_spec.proofs.theorems",
            "zswap_spec.fuzz.campaign", "zswap_spec.driverkit.conformance"]


def context():
    """The multiprocessing context every worker of the package is started from."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    _start_fork_server()
    return ctx


def _start_fork_server() -> None:
    """Start the fork server with Ctrl-C ignored, which it keeps: a terminal's Ctrl-C
    reaches the whole process group, the command answers it, and the fork server
    (importing the package for a second or more) must not print a traceback of its
    own.  Only the start is covered, a few milliseconds, not its imports."""
    import signal
    import threading
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, old)


class _Pool(ProcessPoolExecutor):
    """A process pool that, left by an exception (an interrupt above all), stops at
    once: queued work is cancelled and running workers are killed, instead of the
    standard pool's wait for every running task."""

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            return super().__exit__(exc_type, exc, tb)
        stop_pool(self)
        return False


def pool_processes(pool: ProcessPoolExecutor) -> dict:
    """The pool's worker processes now, by pid (the standard pool keeps them in a
    private attribute; this is the one place that reads it)."""
    return dict(getattr(pool, "_processes", None) or {})


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and kill the workers now (they hold no result worth
    waiting for once the command is ending)."""
    processes = list(pool_processes(pool).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        try:
            p.kill()
        except (OSError, AttributeError, ValueError):
            pass
    for p in processes:
        try:
            p.join(timeout=1)
        except (OSError, AssertionError, ValueError):
            pass


def process_pool(max_workers: int, start: str = "forkserver") -> ProcessPoolExecutor:
    """A process pool whose workers come from the fork server (or `start`: "spawn"
    for work that must not share the fork server's imports).  Its workers die with
    the command, ignore Ctrl-C (the command stops them), and are killed at once when
    the pool is left by an exception."""
    ctx = context() if start == "forkserver" else multiprocessing.get_context(start)
    return _Pool(max_workers=max_workers, mp_context=ctx, initializer=worker_setup,
                 initargs=(os.getpid(),))


def die_with(pid: int) -> None:
    """End this process when process `pid` (the command) ends, however it ends.
    Workers come from the fork server, so the parent-death signal only covers the
    fork server's death; and the fork server itself waits for its workers (they
    hold its liveness pipe), so after a SIGKILL of the command nobody would go.  A
    thread waits on a pidfd for the command (polls its existence where there is
    none) and ends the worker."""
    import select
    import threading
    import time

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        fd = None

    def watch():
        if fd is not None:
            select.select([fd], [], [])
        else:
            while True:
                time.sleep(0.5)
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
        os._exit(1)

    threading.Thread(target=watch, name="die-with-command", daemon=True).start()


def worker_setup(command_pid: int) -> None:
    """What every worker process does first: die with the fork server and with the
    command, and leave Ctrl-C to the command (a terminal's Ctrl-C reaches the whole
    process group; the command answers it and stops the workers)."""
    import signal

    die_with_parent()
    die_with(command_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent dies (Linux's parent-death
    signal), so that no worker outlives the command that started it, even when that
    command is killed with SIGKILL.  Used as every pool's worker initializer; a no-op
    where prctl is not available."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request: go now
        os._exit(1)


def dies_with_parent(cmd: list[str]) -> list[str]:
    """`cmd` run so that it is killed when the process (thread) that started it dies:
    through util-linux's `setpriv --pdeathsig`, which sets the parent-death signal and
    then runs the command (no Python code between fork and exec).  Unchanged where
    setpriv is missing."""
    import shutil

    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *cmd] if setpriv else list(cmd)

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
from concurrent.futures import ProcessPoolExecutor

__all__ = ["context", "process_pool", "die_with_parent"]

# What workers run; imported once in the fork server, so no worker pays for
# it (z3 and Hypothesis take a second or more to import).
_PRELOAD = ["zswap_spec", "zswap_spec.proofs.theorems", "zswap_spec.fuzz.campaign",
            "zswap_spec.driverkit.conformance"]


def context():
    """The multiprocessing context every worker of the package is started from."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def process_pool(max_workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers come from the fork server."""
    return ProcessPoolExecutor(max_workers=max_workers, mp_context=context(),
                               initializer=die_with_parent)


def die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent dies (Linux's parent-death
    signal), so that no worker outlives the command that started it, even when that
    command is killed with SIGKILL.  Used as every pool's worker initializer; a no-op
    where prctl is not available."""
    import ctypes
    import os
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request: go now
        os._exit(1)

"""The small process between the kit and a driver, so that nothing a driver
does reaches the kit and no process a driver starts outlives the check.

The kit starts `python -m zswap_spec.driverkit.worker` in a session (and so
a process group) of its own.  That process becomes the supervisor: it forks
the driver's process (the worker proper), which is therefore a grandchild
of the kit, and then only waits:

- a signal the driver sends to its process group (`kill(0, ...)`,
  `kill(-getpgrp(), ...)`) reaches the supervisor and the worker, never the
  kit; one sent to its parent (`kill(getppid(), ...)`) reaches the
  supervisor, which ignores every signal it can while the kit lives;
- the supervisor is a child subreaper: whatever the driver forks stays
  below it, and when the worker ends the supervisor kills every process
  left below it before it ends with the worker's own status;
- both carry a parent-death signal: the supervisor learns of the kit's
  death (even by SIGKILL) and kills everything below it; the worker dies
  with the supervisor.

What a driver can still do, running with the user's rights, is reach a
process it names outright: `kill(-1, ...)`, a pid it reads from /proc,
ptrace.  The kit is a conformance checker, not a security sandbox.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal

__all__ = ["supervise", "descendants", "kill_descendants"]

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# Signals the supervisor ignores while the kit lives (SIGKILL and SIGSTOP cannot be).
_SHIELDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
             "SIGPIPE", "SIGVTALRM", "SIGPROF", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGXCPU",
             "SIGXFSZ", "SIGPWR", "SIGIO", "SIGSYS", "SIGTRAP", "SIGWINCH", "SIGURG")


def _prctl(option: int, value: int) -> int:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        return -1


def descendants(root: int) -> list[int]:
    """The pids of every process below `root`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), ()):
            out.append(pid)
            todo.append(pid)
    return out


def kill_descendants() -> None:
    """SIGKILL every process below this one and reap them (a subreaper inherits
    the orphans, so every one of them ends up a child to reap)."""
    me = os.getpid()
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return  # a subreaper with no child has nothing below it
    for _ in range(20):  # a process may fork while the others are being killed
        pids = descendants(me)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap(block=False)
    _reap(block=True)


def _reap(block: bool) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        if pid == 0:
            return


def supervise(kit: int) -> None:
    """Split into the supervisor, which never returns, and the driver's
    process, which returns and goes on as the worker.  `kit` is the pid of the
    process that started this one."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != kit:  # the kit died before the request took effect
        os._exit(1)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crashing driver leaves no core file
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    me = os.getpid()
    worker = os.fork()
    if worker == 0:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != me:
            os._exit(1)
        return
    # The supervisor: hold no end of the kit's pipes, so the kit sees the
    # worker's death as the end of its answers.
    for fd in (0, 1):
        try:
            os.close(fd)
        except OSError:
            pass

    def on_signal(signum, frame):
        if os.getppid() != kit:  # the parent-death signal: the kit is gone
            _end(None)

    for name in _SHIELDED:
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, on_signal)
    status = None
    while status is None:
        try:
            pid, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == worker:
            status = st
    _end(status)


def _end(status) -> None:
    """Kill what is left below, then end as the worker ended."""
    for name in _SHIELDED:
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    kill_descendants()
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
            os.kill(os.getpid(), sig)
        except (OSError, ValueError):
            pass
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if status is not None else 1)

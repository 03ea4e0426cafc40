"""The kit's side of the driver process: start it, send it batches, enforce a
time limit per call, and turn a crash, a hang or a fault in a guard page into
a finding instead of a crash of the kit.

A `Sandbox` restarts its process on the next call after the driver died, so
one crashing input does not end the check.  `DriverFailure` carries the
clause a death breaks: C-OVERRUN when the faulting address is in a guard
page next to a unit's buffer, C-CRASH for any other death, C-HANG when the
call did not return in time.

The driver's process runs below a supervisor in a session of its own
(`supervise`), with a limit on its data (`memory_limit`, RLIMIT_DATA): a
driver that reaches it is reported as out of memory, naming the limit.
What it prints (stdout and stderr) is read through a pipe and kept to its
first and last `STDERR_KEEP` bytes.  A driver that starts a process cannot
be checked: `TargetError`, and the sandbox stays unusable (`fatal`).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time

from .abi import TargetError
from .clauses import plural
from .history import Call, CallLog

__all__ = ["Sandbox", "DriverFailure", "DEFAULT_CALL_TIMEOUT", "DEFAULT_MEMORY_LIMIT",
           "STDERR_KEEP", "mib"]

DEFAULT_CALL_TIMEOUT = 5.0
DEFAULT_MEMORY_LIMIT = 1 << 30  # bytes of data a driver's process may map (RLIMIT_DATA)
LOAD_TIMEOUT = 20.0
STDERR_KEEP = 64 * 1024  # bytes kept from the start and from the end of what a driver prints
MAX_FRAME = 64 << 20  # a larger frame is no answer of the worker's
NEAR_LIMIT = 0.75  # a crash with this share of the memory limit mapped: out of memory
_FAULTS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE)


def mib(n: int) -> str:
    """Bytes as the README writes a memory limit: '256 MiB', '1 GiB'."""
    if n >= 1 << 30 and n % (1 << 30) == 0:
        return f"{n >> 30} GiB"
    return f"{n / (1 << 20):.0f} MiB"


class DriverFailure(Exception):
    """A call that did not return an answer: the clause it breaks and why."""

    def __init__(self, clause: str, description: str):
        super().__init__(f"{clause}: {description}")
        self.clause = clause
        self.description = description


class _Dead(Exception):
    pass


class _Capped:
    """What a driver printed: its first and last STDERR_KEEP bytes, and how many were cut."""

    def __init__(self):
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = STDERR_KEEP - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            del self.tail[:-STDERR_KEEP]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        mark = f"\n[... {plural(cut, 'byte')} cut ...]\n".encode() if cut else b""
        return (bytes(self.head) + mark + bytes(self.tail)).decode(errors="replace")

    def last_line(self) -> str:
        for part in (self.tail, self.head):
            lines = [ln for ln in bytes(part[-2000:]).decode(errors="replace").splitlines()
                     if ln.strip()]
            if lines:
                return lines[-1].strip()[:200]
        return ""


class Sandbox:
    """One driver in its own process, restarted after each death."""

    def __init__(self, kind: str, location: str, name: str | None, label: str,
                 call_timeout: float = DEFAULT_CALL_TIMEOUT, max_bytes: int = 2 * 65536,
                 load_timeout: float = LOAD_TIMEOUT, memory_limit: int = DEFAULT_MEMORY_LIMIT):
        self.kind, self.location, self.name, self.label = kind, location, name, label
        self.call_timeout = call_timeout
        self.load_timeout = load_timeout
        self.max_bytes = max_bytes
        self.memory_limit = memory_limit
        self.proc: subprocess.Popen | None = None
        self.hello: dict | None = None
        self.calls = 0
        self.restarts = 0
        self.hangs = 0
        self.deaths = 0  # calls that ended the process: crashes and hangs
        self.fatal: str | None = None  # why this driver cannot be checked further
        self._err = _Capped()
        self._err_fd: int | None = None
        self.log = CallLog()  # the calls the current process has answered

    # -- process ----------------------------------------------------------

    def start(self) -> dict:
        """Start the driver process; its hello (driver info, guard pages).  TargetError
        when the target cannot be loaded, crashes or hangs while loading."""
        if self.fatal:
            raise TargetError(self.fatal)
        self._err = _Capped()
        self.log = CallLog()
        cmd = [sys.executable, "-m", "zswap_spec.driverkit.worker", self.kind, self.location,
               self.name or "", str(self.max_bytes), str(os.getpid()), str(self.memory_limit)]
        self.hello = None
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, close_fds=True,
                                     start_new_session=True)
        self._err_fd = self.proc.stderr.fileno()
        os.set_blocking(self._err_fd, False)
        try:
            hello = self._receive(time.monotonic() + self.load_timeout)
        except _Dead as e:
            self.close()
            raise TargetError(f"{self.label}: the driver died while loading ({e.args[1]})") from None
        except TimeoutError:
            self.close(kill=True)
            raise TargetError(f"{self.label}: loading did not finish within {self.load_timeout:g} s "
                              f"(does init() or a constructor hang?)") from None
        if not isinstance(hello, dict) or not hello.get("ok"):
            self.close()
            raise TargetError(hello.get("error") if isinstance(hello, dict) and hello.get("error")
                              else f"{self.label}: the driver's process sent no valid greeting")
        self.hello = hello
        return hello

    def close(self, kill: bool = False) -> None:
        if self.proc is not None:
            if self.proc.poll() is None and not kill:
                try:
                    self._send({"op": "exit"}, time.monotonic() + 1)
                    self.proc.wait(timeout=1)
                except Exception:
                    pass
            if self.proc.poll() is None:
                self._kill()
            self._drain(time.monotonic() + 0.2)
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if f:
                    try:
                        f.close()
                    except OSError:
                        pass
            self.proc = None
            self._err_fd = None

    def _kill(self) -> None:
        """End the driver's process; the supervisor then kills what the driver
        started and ends; the whole session's group is killed if it does not."""
        pid = (self.hello or {}).get("pid")
        if isinstance(pid, int) and pid > 1:
            try:
                os.kill(pid, signal.SIGKILL)
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
            self.proc.wait()

    def stderr_text(self) -> str:
        """What the driver printed, its first and last STDERR_KEEP bytes."""
        self._drain(time.monotonic())
        return self._err.text()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- calls ------------------------------------------------------------

    def compress(self, srcs: list[bytes], caps: list[int], layout: str = "guard") -> dict:
        """One batch: the driver's answer, or DriverFailure."""
        n = len(srcs)
        call = Call("compress", tuple(srcs), tuple(caps), layout)
        ans = self._call({"op": "compress", "srcs": srcs, "caps": caps, "layout": layout},
                         f"compressing a batch of {n}", call)
        if not _valid_compress(ans, n):
            raise self._garbled(f"compressing a batch of {n}")
        return ans

    def burst(self, batches: list, layout: str, count: int, seconds: float,
              compare: bool) -> dict:
        """`count` calls cycling through `batches` ((sources, capacities) each), in
        the driver's process, for at most about `seconds` once every batch had its
        first call.  The answer: `done` (calls made), `firsts` (each batch's first
        answer) and `last` (the last call's); with `compare`, the burst ends at the
        first answer that differs from its batch's first, and `differs` says so."""
        batches = [(list(p), list(c)) for p, c in batches]
        call = Call("burst", (), (), layout, count,
                    tuple((tuple(p), tuple(c)) for p, c in batches))
        ans = self._call({"op": "burst", "batches": batches, "layout": layout, "count": count,
                          "seconds": seconds, "compare": compare},
                         f"compressing {count} batches in a row", call, extra_time=seconds)
        done = ans.get("done")
        firsts = ans.get("firsts")
        if not (isinstance(done, int) and 1 <= done <= count and isinstance(firsts, list)
                and len(firsts) == min(done, len(batches))
                and all(_valid_compress(a, len(b[0])) for a, b in zip(firsts, batches))
                and _valid_compress(ans.get("last"), len(batches[(done - 1) % len(batches)][0]))):
            raise self._garbled("compressing batches repeatedly")
        if done != count:  # log and count what the driver saw: fewer calls than asked
            self.log.calls[-1] = call.with_repeat(done)
            self.calls -= count - done
        return ans

    def decompress(self, items: list[tuple[bytes, int]]) -> list[tuple[int | None, bytes | None]]:
        """The driver's own decompressor on each (data, capacity): (ret, output)."""
        call = Call("decompress", tuple(bytes(d) for d, _ in items), tuple(c for _, c in items))
        ans = self._call({"op": "decompress", "items": items}, "decompressing", call)
        results = ans.get("results")
        if not (isinstance(results, list) and len(results) == len(items)
                and all(isinstance(r, tuple) and len(r) == 2 for r in results)):
            raise self._garbled("decompressing")
        return results

    def _garbled(self, what: str) -> DriverFailure:
        self.close(kill=True)
        self.deaths += 1
        return DriverFailure("C-CRASH", f"the driver's process answered with something that is "
                                        f"not its answer while {what} (did the driver write to "
                                        f"the kit's pipe?)")

    def _call(self, request: dict, what: str, call: Call | None = None,
              extra_time: float = 0.0) -> dict:
        if self.fatal:
            raise TargetError(self.fatal)
        if self.proc is None:
            self.restarts += 1
            self.start()
        self.calls += call.repeat if call is not None else 1
        if call is not None:
            self.log.add(call)
        deadline = time.monotonic() + self.call_timeout + extra_time
        try:
            self._send(request, deadline)
            answer = self._receive(deadline)
        except TimeoutError:
            self.close(kill=True)
            self.hangs += 1
            self.deaths += 1
            raise DriverFailure("C-HANG", f"no answer within {self.call_timeout:g} s while "
                                          f"{what}") from None
        except _Dead as e:
            self.close()
            self.deaths += 1
            clause, description = e.args
            raise DriverFailure(clause, f"{description} while {what}") from None
        if not isinstance(answer, dict):
            raise self._garbled(what)
        if answer.get("forked"):
            self.fatal = (f"{self.label}: the driver started a process while {what}; the kit "
                          f"checks only drivers that start none (zswap calls a driver in the "
                          f"kernel, where it cannot fork): remove the fork")
            self.close(kill=True)
            raise TargetError(self.fatal)
        if "memory" in answer:
            self.close(kill=True)
            self.deaths += 1
            used = answer["memory"] if isinstance(answer["memory"], int) else 0
            raise DriverFailure("C-CRASH", f"ran out of memory while {what}: "
                                           f"{self._memory_text(used)}")
        if "exception" in answer:
            raise DriverFailure("C-CRASH", f"raised {answer['exception']} while {what}")
        return answer

    def _memory_text(self, used: int) -> str:
        return (f"{mib(used)} of data mapped, at its memory limit of {mib(self.memory_limit)} "
                f"(--memory-limit); does it free what it allocates?")

    # -- the pipes --------------------------------------------------------

    def _send(self, msg: dict, deadline: float) -> None:
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        data = struct.pack("<I", len(data)) + data
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            if fd not in self._wait([], [fd], deadline):
                continue
            try:
                n = os.write(fd, view[:65536])
            except BrokenPipeError:
                raise _Dead(*self._death(None)) from None
            view = view[n:]

    def _wait(self, rfds: list[int], wfds: list[int], deadline: float) -> set[int]:
        """Descriptors ready among `rfds` and `wfds`, reading the driver's
        stderr meanwhile; TimeoutError at the deadline."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            err = [self._err_fd] if self._err_fd is not None else []
            r, w, _ = select.select(rfds + err, wfds, [], left)
            if err and err[0] in r:
                self._drain(0)
            ready = (set(r) - set(err)) | set(w)
            if ready:
                return ready

    def _drain(self, until: float) -> None:
        """Read what the driver printed, until EOF, nothing more to read, or `until`."""
        while self._err_fd is not None:
            try:
                chunk = os.read(self._err_fd, 1 << 16)
            except BlockingIOError:
                left = until - time.monotonic()
                if left <= 0 or not select.select([self._err_fd], [], [], left)[0]:
                    return
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self._err_fd = None  # EOF: every writer is gone
                return
            self._err.add(chunk)

    def _read(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        while len(buf) < n:
            self._wait([fd], [], deadline)
            chunk = os.read(fd, min(n - len(buf), 1 << 20))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _receive(self, deadline: float):
        try:
            head = self._read(5, deadline)
            (n,) = struct.unpack("<I", head[1:])
            if head[:1] not in (b"P", b"F") or n > MAX_FRAME:
                return None  # not a frame of the worker's
            payload = self._read(n, deadline)
        except EOFError:
            raise _Dead(*self._death(None)) from None
        if head[:1] == b"F":
            if len(payload) < 16:
                return None
            sig, addr = struct.unpack("<QQ", payload[:16])
            code, data = struct.unpack("<qQ", payload[16:32]) if len(payload) >= 32 else (1, 0)
            raise _Dead(*self._death((sig, addr, code, data)))
        try:
            return pickle.loads(payload)
        except Exception:  # noqa: BLE001 - bytes the driver wrote into the pipe
            return None

    # -- deaths -----------------------------------------------------------

    def _death(self, fault) -> tuple[str, str]:
        """(clause, description) of the process's death."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()
            code = self.proc.wait()
        self._drain(time.monotonic() + 0.5)
        if fault is not None:
            sig, addr, si_code, data = fault
            name = _signame(sig)
            if self.memory_limit and data >= NEAR_LIMIT * self.memory_limit:
                return "C-CRASH", (f"ran out of memory ({_signal_text(sig, addr, si_code)}): "
                                   f"{self._memory_text(data)}{self._tail()}")
            where = self._guard_at(addr) if si_code > 0 else None
            if where and sig in (signal.SIGSEGV, signal.SIGBUS):
                return "C-OVERRUN", f"{name}: touched the guard page {where} (address {addr:#x})"
            return "C-CRASH", f"{_signal_text(sig, addr, si_code)}{self._tail()}"
        if code < 0:
            return "C-CRASH", f"killed by {_signame(-code)}{self._tail()}"
        return "C-CRASH", f"the driver process exited with code {code}{self._tail()}"

    def _guard_at(self, addr: int) -> str | None:
        for kind, unit, side, lo, hi in (self.hello or {}).get("guards", []):
            if lo <= addr < hi:
                return f"{side} unit {unit}'s {kind}"
        return None

    def _tail(self) -> str:
        """The last line the driver printed, if any."""
        line = self._err.last_line()
        return f"; it printed: {line}" if line else ""


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _signal_text(sig: int, addr: int, si_code: int) -> str:
    """A fatal signal as what it is: a fault at an address, an abort, or a signal
    sent by a process (si_code <= 0, where the 'address' is the sender's pid)."""
    name = _signame(sig)
    if sig == signal.SIGABRT:
        return "aborted (SIGABRT)"
    if si_code > 0 and sig in _FAULTS:
        return f"{name} at address {addr:#x}"
    return f"killed by {name}"


def _valid_compress(ans, n: int) -> bool:
    if not isinstance(ans, dict):
        return False
    try:
        return (all(len(ans[k]) == n for k in ("lengths", "outputs", "canary_before",
                                                "canary_after", "source_changed"))
                and "ret" in ans and all(isinstance(o, bytes) for o in ans["outputs"]))
    except (KeyError, TypeError):
        return False

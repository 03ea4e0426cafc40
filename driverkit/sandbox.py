"""The kit's side of the driver process: start it, send it batches, enforce a
time limit per call, and turn a crash, a hang or a fault in a guard page into
a finding instead of a crash of the kit.

A `Sandbox` restarts its process on the next call after the driver died, so
one crashing input does not end the check.  `DriverFailure` carries the
clause a death breaks: C-OVERRUN when the faulting address is in a guard
page next to a unit's buffer, C-CRASH for any other death, C-HANG when the
call did not return in time.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time

from .abi import TargetError

__all__ = ["Sandbox", "DriverFailure", "DEFAULT_CALL_TIMEOUT"]

DEFAULT_CALL_TIMEOUT = 5.0
LOAD_TIMEOUT = 20.0


class DriverFailure(Exception):
    """A call that did not return an answer: the clause it breaks and why."""

    def __init__(self, clause: str, description: str):
        super().__init__(f"{clause}: {description}")
        self.clause = clause
        self.description = description


class _Dead(Exception):
    pass


class Sandbox:
    """One driver in its own process, restarted after each death."""

    def __init__(self, kind: str, location: str, name: str | None, label: str,
                 call_timeout: float = DEFAULT_CALL_TIMEOUT, max_bytes: int = 2 * 65536,
                 load_timeout: float = LOAD_TIMEOUT):
        self.kind, self.location, self.name, self.label = kind, location, name, label
        self.call_timeout = call_timeout
        self.load_timeout = load_timeout
        self.max_bytes = max_bytes
        self.proc: subprocess.Popen | None = None
        self.hello: dict | None = None
        self.calls = 0
        self.restarts = 0
        self.hangs = 0
        self.deaths = 0  # calls that ended the process: crashes and hangs
        self._stderr = None

    # -- process ----------------------------------------------------------

    def start(self) -> dict:
        """Start the driver process; its hello (driver info, guard pages).  TargetError
        when the target cannot be loaded, crashes or hangs while loading."""
        self._stderr = tempfile.TemporaryFile()
        cmd = [sys.executable, "-m", "zswap_spec.driverkit.worker", self.kind, self.location,
               self.name or "", str(self.max_bytes)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, close_fds=True)
        try:
            hello = self._receive(time.monotonic() + self.load_timeout)
        except _Dead as e:
            self.close()
            raise TargetError(f"{self.label}: the driver died while loading ({e.args[1]})") from None
        except TimeoutError:
            self.close()
            raise TargetError(f"{self.label}: loading did not finish within {self.load_timeout:g} s "
                              f"(does init() or a constructor hang?)") from None
        if not hello.get("ok"):
            self.close()
            raise TargetError(hello["error"])
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
                self.proc.kill()
                self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                if f:
                    f.close()
            self.proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- calls ------------------------------------------------------------

    def compress(self, srcs: list[bytes], caps: list[int], layout: str = "guard") -> dict:
        """One batch: the driver's answer, or DriverFailure."""
        return self._call({"op": "compress", "srcs": srcs, "caps": caps, "layout": layout},
                          f"compressing a batch of {len(srcs)}")

    def decompress(self, items: list[tuple[bytes, int]]) -> list[tuple[int | None, bytes | None]]:
        """The driver's own decompressor on each (data, capacity): (ret, output)."""
        return self._call({"op": "decompress", "items": items}, "decompressing")["results"]

    def _call(self, request: dict, what: str) -> dict:
        if self.proc is None:
            self.restarts += 1
            self.start()
        self.calls += 1
        deadline = time.monotonic() + self.call_timeout
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
        if "exception" in answer:
            raise DriverFailure("C-CRASH", f"raised {answer['exception']} while {what}")
        return answer

    def _send(self, msg: dict, deadline: float) -> None:
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        data = struct.pack("<I", len(data)) + data
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise TimeoutError
            try:
                n = os.write(fd, view[:65536])
            except BrokenPipeError:
                raise _Dead(*self._death(None)) from None
            view = view[n:]

    def _read(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _receive(self, deadline: float) -> dict:
        try:
            head = self._read(5, deadline)
            (n,) = struct.unpack("<I", head[1:])
            payload = self._read(n, deadline)
        except EOFError:
            raise _Dead(*self._death(None)) from None
        if head[:1] == b"F":
            sig, addr = struct.unpack("<QQ", payload[:16])
            raise _Dead(*self._death((sig, addr)))
        return pickle.loads(payload)

    def _death(self, fault) -> tuple[str, str]:
        """(clause, description) of the process's death."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if fault is not None:
            sig, addr = fault
            where = self._guard_at(addr)
            name = _signame(sig)
            if where and sig in (signal.SIGSEGV, signal.SIGBUS):
                return "C-OVERRUN", f"{name}: touched the guard page {where} (address {addr:#x})"
            return "C-CRASH", f"{name} at address {addr:#x}{self._tail()}"
        if code < 0:
            return "C-CRASH", f"killed by {_signame(-code)}{self._tail()}"
        return "C-CRASH", f"the driver process exited with code {code}{self._tail()}"

    def _guard_at(self, addr: int) -> str | None:
        for kind, unit, side, lo, hi in (self.hello or {}).get("guards", []):
            if lo <= addr < hi:
                return f"{side} unit {unit}'s {kind}"
        return None

    def _tail(self) -> str:
        """The last line the driver printed on stderr, if any."""
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            lines = [ln for ln in self._stderr.read()[-2000:].decode(errors="replace").splitlines()
                     if ln.strip()]
        except OSError:
            return ""
        return f"; it printed: {lines[-1].strip()[:200]}" if lines else ""


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"

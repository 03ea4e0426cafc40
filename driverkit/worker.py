"""The process that runs a driver for the kit: it loads one C or Python driver,
then answers compress and decompress requests on a pipe, each unit's source
and destination in memory fenced by guard pages and canaries.

Run as `python -m zswap_spec.driverkit.worker KIND LOCATION [NAME]`.  The
parent (`zswap_spec.driverkit.sandbox`) speaks to it in frames: one type byte,
a 4-byte little-endian length, the payload; 'P' frames carry pickled dicts.
A fatal signal inside the driver makes the fault reporter (guard.c) write an
'F' frame with the signal and the faulting address before the process dies.
What the driver prints goes to stderr, never into the pipe.

The process first splits in two (`supervise`): the driver runs in a child
of the process the kit started, in a session of its own, with a limit on
its data (`RLIMIT_DATA`, the kit's `--memory-limit`).  A driver that starts
a process is refused (the answer is a 'forked' frame) and a copy of this
process made by a fork inside the driver ends at once, before it can speak
on the pipe.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import pickle
import resource
import struct
import sys
import time
import traceback

from .abi import (COMPRESS, DECOMPRESS, DETERMINISTIC, INIT, MAX_ERRNO, UNWRITTEN, DriverInfo, TargetError,
                  Unit, compiled_object, load_c_driver)
from .supervise import supervise

PAGE = mmap.PAGESIZE
CANARY_TAIL = 64  # bytes of canary between a destination and its guard page ("canary" layout)
MAX_UNITS = 8  # zswap's ZSWAP_MAX_BATCH_SIZE: the kit never sends more units in one call
NEAR_LIMIT = 0.9  # data above this share of the memory limit after a call: out of memory


def _pattern(n: int) -> bytes:
    return bytes((i * 7 + 0x3B) & 0xFF for i in range(n))


class _Region:
    """An anonymous mapping: a guard page, `data` bytes, a guard page."""

    def __init__(self, data: int, libc):
        self.data = -(-data // PAGE) * PAGE
        self.mm = mmap.mmap(-1, self.data + 2 * PAGE)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.mm))
        for off in (0, PAGE + self.data):
            if libc.mprotect(ctypes.c_void_p(self.base + off), PAGE, 0) != 0:
                raise OSError(ctypes.get_errno(), "mprotect failed")
        self.start = PAGE  # first data byte, as an offset into mm
        self.end = PAGE + self.data  # one past the last data byte: the trailing guard page

    def guard(self) -> tuple[int, int]:
        """Address range of the trailing guard page."""
        return self.base + self.end, self.base + self.end + PAGE

    def lead_guard(self) -> tuple[int, int]:
        return self.base, self.base + PAGE


class Worker:
    def __init__(self, kind: str, location: str, name: str | None, max_bytes: int, out):
        self.out = out
        self.pid = os.getpid()
        self.kind = kind
        self.names: list[str] = []
        if kind == "c":
            drv, self.names, sizes = load_c_driver(location, name)
            if drv.init:
                rc = INIT(drv.init)()
                if rc != 0:
                    raise TargetError(f"{location} driver {drv.name.decode()}: init() returned "
                                      f"{rc}; the driver cannot start on this machine")
            fmt = (drv.format or b"none").decode(errors="replace")
            self.info = DriverInfo(drv.name.decode(errors="replace"), fmt, drv.batch_size,
                                   bool(drv.flags & DETERMINISTIC), bool(drv.decompress), "C",
                                   sizes)
            self._compress = COMPRESS(drv.compress)
            self._decompress = DECOMPRESS(drv.decompress) if drv.decompress else None
        else:
            from .pydriver import load_python_driver

            self.obj = load_python_driver(location)
            self.names = [str(self.obj.name)]
            self.info = DriverInfo(str(self.obj.name), str(getattr(self.obj, "format", "none")),
                                   int(self.obj.batch_size),
                                   bool(getattr(self.obj, "deterministic", False)),
                                   callable(getattr(self.obj, "decompress", None)), "Python",
                                   tuple(sorted({int(x) for x in
                                                 getattr(self.obj, "page_sizes", ()) or ()})))
        libc = ctypes.CDLL(None, use_errno=True)
        units = min(self.info.batch_size, MAX_UNITS)
        self.src = [_Region(max_bytes, libc) for _ in range(units)]
        self.dst = [_Region(max_bytes + CANARY_TAIL, libc) for _ in range(units)]
        self.canary = _pattern(self.dst[0].data)
        self._canary_at = ctypes.cast(ctypes.c_char_p(self.canary), ctypes.c_void_p).value
        self._memcmp = libc.memcmp
        self._memcmp.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        self._memcmp.restype = ctypes.c_int
        # destination k's buffer (start, end) when its canaries were found intact
        # after the last call: the next call with the same buffer need not write
        # them again
        self._intact: dict[int, int] = {}

    def hello(self) -> dict:
        guards = []
        for kind, regions in (("source", self.src), ("destination", self.dst)):
            for k, r in enumerate(regions):
                guards.append((kind, k, "past", *r.guard()))
                guards.append((kind, k, "before", *r.lead_guard()))
        return {"ok": True, "info": self.info, "names": self.names, "guards": guards,
                "pid": self.pid}

    def _forked_copy(self) -> None:
        """End at once in a copy of this process that a fork in the driver made."""
        if os.getpid() != self.pid:
            os._exit(0)

    # -- compress ---------------------------------------------------------

    def _place(self, k: int, src: bytes, capacity: int, layout: str):
        s, d = self.src[k], self.dst[k]
        s_off = s.end - len(src)
        s.mm[s_off:s.end] = src
        tail = CANARY_TAIL if layout == "canary" else 0
        d_off = d.end - tail - capacity
        if self._intact.pop(k, None) != (d_off, d_off + capacity):
            d.mm[d.start:d.end] = self.canary
        return s_off, d_off

    def _same(self, addr: int, data_at: int, n: int) -> bool:
        return n <= 0 or self._memcmp(addr, data_at, n) == 0

    def compress(self, srcs: list[bytes], caps: list[int], layout: str) -> dict:
        n = len(srcs)
        if not 1 <= n <= len(self.dst):
            raise ValueError(f"batch of {n} units; this worker has {len(self.dst)}")
        places = [self._place(k, srcs[k], caps[k], layout) for k in range(n)]
        lengths: list = []
        started = time.perf_counter()
        if self.kind == "c":
            units = (Unit * n)()
            for k, (s_off, d_off) in enumerate(places):
                units[k].src = self.src[k].base + s_off
                units[k].slen = len(srcs[k])
                units[k].dst = self.dst[k].base + d_off
                units[k].capacity = caps[k]
                units[k].length = UNWRITTEN
            ret = self._compress(units, n)
            self._forked_copy()
            lengths = [units[k].length for k in range(n)]
        else:
            from .pydriver import PyUnit

            views = [PyUnit(memoryview(self.src[k].mm)[s_off:s_off + len(srcs[k])],
                            memoryview(self.dst[k].mm)[d_off:d_off + caps[k]], UNWRITTEN)
                     for k, (s_off, d_off) in enumerate(places)]
            try:
                ret = self.obj.compress(views)
            except MemoryError:
                return {"memory": data_bytes()}
            except Exception as e:
                return {"exception": _exception_line(e)}
            finally:
                self._forked_copy()
                for v in views:
                    v.src.release()
                    v.dst.release()
            ret = ret if isinstance(ret, int) and not isinstance(ret, bool) else repr(ret)
            for v in views:
                x = v.length
                ok = isinstance(x, int) and not isinstance(x, bool) and -(1 << 31) <= x < (1 << 32)
                lengths.append(x & 0xFFFFFFFF if ok else repr(x))
        seconds = time.perf_counter() - started
        outputs, before, after, src_changed = [], [], [], []
        for k, (s_off, d_off) in enumerate(places):
            s, d = self.src[k], self.dst[k]
            end = d_off + caps[k]
            outputs.append(bytes(d.mm[d_off:end]))
            # memcmp first: a whole destination mapping is compared on every call
            if self._same(d.base + d.start, self._canary_at, d_off - d.start):
                before.append(None)
            else:
                before.append(_changed(d.mm[d.start:d_off], self.canary[:d_off - d.start],
                                       d_off - d.start))
            if self._same(d.base + end, self._canary_at + (end - d.start), d.end - end):
                after.append(None)
            else:
                after.append(_changed(d.mm[end:d.end], self.canary[end - d.start:], 0, forward=True))
            if before[-1] is None and after[-1] is None:
                self._intact[k] = (d_off, end)
            src_at = ctypes.cast(ctypes.c_char_p(srcs[k]), ctypes.c_void_p).value
            src_changed.append(not self._same(s.base + s_off, src_at, len(srcs[k])))
        return {"ret": ret, "lengths": lengths, "outputs": outputs, "canary_before": before,
                "canary_after": after, "source_changed": src_changed, "seconds": seconds}

    def burst(self, batches: list, layout: str, count: int, seconds: float,
              compare: bool) -> dict:
        """`count` calls cycling through `batches` ((sources, capacities) each), for
        at most `seconds` once each batch has had its first call: the first answer
        of each batch and the last answer; with `compare`, the burst ends at the
        first answer that differs from its batch's first."""
        k = len(batches)
        firsts: list = []
        keys: list = []
        last, done, differs = None, 0, False
        stop = time.perf_counter() + seconds
        while done < count and (done < k or time.perf_counter() < stop):
            srcs, caps = batches[done % k]
            ans = self.compress(srcs, caps, layout)
            if "ret" not in ans:  # a Python driver's exception or memory: that answer
                return ans
            if done < k:
                firsts.append(ans)
                keys.append(_answer_key(ans) if compare else None)
            elif (compare and _answer_key(ans) != keys[done % k]) or _broken(ans, caps):
                last, done, differs = ans, done + 1, True
                break
            last = ans
            done += 1
        return {"done": done, "firsts": firsts, "last": last, "differs": differs}

    # -- decompress -------------------------------------------------------

    def decompress(self, items: list[tuple[bytes, int]]) -> dict:
        results = []
        for data, capacity in items:
            if self.kind == "c":
                if self._decompress is None:
                    results.append((None, b""))
                    continue
                s_off, d_off = self._place(0, data, capacity, "guard")
                dlen = ctypes.c_uint(capacity)
                rc = self._decompress(self.src[0].base + s_off, len(data),
                                      self.dst[0].base + d_off, ctypes.byref(dlen))
                self._forked_copy()
                n = dlen.value
                out = bytes(self.dst[0].mm[d_off:d_off + min(n, capacity)]) if rc == 0 else b""
                results.append((rc, out if n <= capacity else None))
            else:
                fn = getattr(self.obj, "decompress", None)
                if fn is None:
                    results.append((None, b""))
                    continue
                try:
                    out = bytes(fn(bytes(data), capacity))
                except MemoryError:
                    return {"memory": data_bytes()}
                except Exception:
                    results.append((-22, b""))
                    continue
                results.append((0, out if len(out) <= capacity else None))
        return {"results": results}


def _broken(ans: dict, caps: list[int]) -> bool:
    """Does this answer break a clause by itself (memory, source, a length that is
    neither a length that fits nor an errno, a return code that does not match)?
    The kit checks such an answer in full; a burst ends at it."""
    if any(ans["canary_before"]) or any(ans["canary_after"]) or any(ans["source_changed"]):
        return True
    failed = False
    for raw, cap in zip(ans["lengths"], caps):
        if not isinstance(raw, int):
            return True
        v = raw - (1 << 32) if raw >= 1 << 31 else raw
        if v < 0:
            if v < -MAX_ERRNO:
                return True
            failed = True
        elif not 0 < v <= cap:
            return True
    ret = ans["ret"]
    return not isinstance(ret, int) or (ret != 0 if not failed else not -MAX_ERRNO <= ret <= -1)


def _answer_key(ans: dict):
    """What must repeat in a deterministic driver's answers: the return code, the
    lengths, each output as far as its length says, the canaries and sources."""
    outs = []
    for raw, out in zip(ans["lengths"], ans["outputs"]):
        n = raw if isinstance(raw, int) and raw < 0x80000000 else 0
        outs.append(out[:n])
    return (ans["ret"], tuple(ans["lengths"]), tuple(outs), tuple(ans["canary_before"]),
            tuple(ans["canary_after"]), tuple(ans["source_changed"]))


def _changed(actual, expected: bytes, base: int, forward: bool = False):
    """(first changed offset, count) in a canary area, None when intact.  Offsets
    are relative to the buffer: negative before it, from 0 past its end."""
    a = bytes(actual)
    if a == expected:
        return None
    first, count, step = None, 0, 256
    for at in range(0, len(a), step):  # whole blocks compare at memcmp speed
        block, want = a[at:at + step], expected[at:at + step]
        if block == want:
            continue
        for i, (x, y) in enumerate(zip(block, want)):
            if x != y:
                count += 1
                if first is None:
                    first = at + i
    if forward:
        return first, count
    return first - base, count


def _exception_line(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    where = f" at {tb[-1].filename}:{tb[-1].lineno}" if tb else ""
    return f"{type(e).__name__}: {e}{where}"


def _send(out, msg: dict) -> None:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(b"P" + struct.pack("<I", len(data)) + data)
    out.flush()


def _read_exactly(inp, n: int) -> bytes | None:
    """n bytes from the pipe (a read returns at most what one write put there)."""
    parts, got = [], 0
    while got < n:
        chunk = inp.read(n - got)
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _recv(inp):
    head = _read_exactly(inp, 4)
    if head is None:
        return None
    (n,) = struct.unpack("<I", head)
    data = _read_exactly(inp, n)
    return None if data is None else pickle.loads(data)


def data_bytes() -> int:
    """The bytes of data and stack this process has mapped (what RLIMIT_DATA counts)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[5]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _has_children() -> bool:
    """Did the driver start a process (one still running, or ended and now reaped)?"""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return False
    return True


def _answer(worker: Worker, req: dict, memory_limit: int) -> dict:
    try:
        if req["op"] == "compress":
            ans = worker.compress(req["srcs"], req["caps"], req["layout"])
        elif req["op"] == "burst":
            ans = worker.burst(req["batches"], req["layout"], req["count"], req["seconds"],
                               req["compare"])
        elif req["op"] == "decompress":
            ans = worker.decompress(req["items"])
        else:
            return {"exception": f"unknown request {req['op']!r}"}
    except MemoryError:
        return {"memory": data_bytes()}
    if _has_children():
        return {"forked": True}
    if memory_limit and "memory" not in ans:
        used = data_bytes()
        if used > NEAR_LIMIT * memory_limit:
            return {"memory": used}
    return ans


def main(argv: list[str]) -> int:
    kind, location = argv[0], argv[1]
    name = argv[2] if len(argv) > 2 and argv[2] else None
    max_bytes = int(argv[3]) if len(argv) > 3 else 2 * 65536
    kit = int(argv[4]) if len(argv) > 4 else os.getppid()
    memory_limit = int(argv[5]) if len(argv) > 5 else 0
    supervise(kit)  # from here on: the driver's process, below the supervisor
    me = os.getpid()
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_limit, memory_limit))
    proto = os.dup(1)
    os.dup2(2, 1)  # the driver's printf goes to stderr, not into the pipe
    out = os.fdopen(proto, "wb", buffering=0)
    inp = os.fdopen(0, "rb", buffering=0)
    try:
        guard = ctypes.CDLL(str(compiled_object("_guard")))
        if guard.zdk_guard_install(proto) != 0:
            raise TargetError("cannot install the fault reporter")
        worker = Worker(kind, location, name, max_bytes, out)
    except TargetError as e:
        if os.getpid() != me:
            os._exit(0)
        _send(out, {"ok": False, "error": str(e)})
        return 0
    except BaseException as e:
        if os.getpid() != me:
            os._exit(0)
        _send(out, {"ok": False, "error": f"{location}: loading failed: {_exception_line(e)}"})
        return 0
    if os.getpid() != me:  # a copy made by a fork while loading
        os._exit(0)
    if _has_children():
        _send(out, {"ok": False, "error": f"{location}: the driver started a process while "
                    "loading; the kit checks drivers that start no process (remove the fork)"})
        return 0
    _send(out, worker.hello())
    while True:
        req = _recv(inp)
        if req is None or req["op"] == "exit":
            return 0
        _send(out, _answer(worker, req, memory_limit))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

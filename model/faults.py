"""Compressor misbehaviour: a catalogue of named faults wrapped around the
real compressors, for the fuzzers.

A `FaultyCompressor` wraps a real algorithm (software or batching) and, while
a fault is armed, makes the matching calls misbehave in that fault's way; the
rest of the time the real compressor answers.  Faults compose: several can be
armed at once, each for a number of calls (or units), at chosen unit indexes
of a batch.  Every fault here is something the acomp API does not forbid or
that a real driver has been seen to do; `spec/zswap-spec.md` §2 says which
channel each one lies in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .cint import E2BIG, EINVAL, EIO, ENOSPC, u32

__all__ = ["FAULTS", "Fault", "FaultyCompressor"]


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    batching_only: bool = False


FAULTS = {f.name: f for f in (
    Fault("zero-length", "success with length 0"),
    Fault("oversize-report", "success with a length above the capacity, nothing written past it"),
    Fault("oversize-write", "success with a length above the capacity, bytes written past it"),
    Fault("exact-page", "success with length exactly PAGE_SIZE (output padded to the capacity)"),
    Fault("fail-stale-length", "failure whose length channel holds a positive, stale length"),
    Fault("fail-all-valid", "a failing batch return code while every entry holds a valid length",
          batching_only=True),
    Fault("negative-entry-ret0", "a unit's entry holds an errno while the batch returns 0",
          batching_only=True),
    Fault("partial-batch", "some units of a batch fail, the others succeed", batching_only=True),
    Fault("enospc", "failure with -ENOSPC"),
    Fault("einval", "failure with -EINVAL"),
    Fault("e2big", "failure with -E2BIG"),
    Fault("eio", "failure with another errno (-EIO)"),
    Fault("bad-output", "success whose output does not decompress"),
    Fault("wrong-output", "success whose output decompresses to other bytes"),
    Fault("unwritten-entry", "a unit's entry is left as the previous batch left it",
          batching_only=True),
    Fault("nondeterministic", "the same page compresses to different bytes on each call"),
)}

_ERRNO = {"enospc": -ENOSPC, "einval": -EINVAL, "e2big": -E2BIG, "eio": -EIO}


class FaultyCompressor:
    """A real compressor with armed faults.  `arm(name, calls)` makes the next
    `calls` compress calls (units, for a batching compressor) misbehave."""

    def __init__(self, real):
        self.real = real
        self.name = f"{real.name}+faults"
        self.batching = real.batching
        self.batch_size = real.batch_size
        self.format = real.format
        self.armed: dict[str, int] = {}
        self.fired: dict[str, int] = {}
        self.overruns = 0  # bytes written past a destination (oversize-write)

    def arm(self, name: str, calls: int = 1) -> None:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; choose from: {', '.join(FAULTS)}")
        if FAULTS[name].batching_only and not self.batching:
            return  # meaningless for a compressor without batches
        self.armed[name] = self.armed.get(name, 0) + calls

    def _take(self) -> str | None:
        for name, left in self.armed.items():
            if left > 0:
                self.armed[name] = left - 1
                self.fired[name] = self.fired.get(name, 0) + 1
                return name
        return None

    def raw_compress(self, src: bytes) -> bytes:
        return self.real.raw_compress(src)

    def decompress(self, src: bytes, capacity: int):
        if src[:4] == b"\xde\xad\xbe\xef":  # wrong-output's marker: other bytes
            ret, out = self.real.decompress(src[4:], capacity)
            return ret, bytes(b ^ 0xFF for b in out) if ret == 0 else out
        if src[:4] == b"\xfe\xed\xfa\xce":  # nondeterministic: marker, pad length, pad
            return self.real.decompress(src[5 + src[4]:], capacity)
        return self.real.decompress(src, capacity)

    # -- software ---------------------------------------------------------------

    def compress(self, src: bytes, capacity: int) -> tuple[int, int, bytes]:
        fault = self._take()
        ret, dlen, out = self.real.compress(src, capacity)
        if fault is None:
            return ret, dlen, out
        value, data = self._unit(fault, src, capacity, ret if ret else dlen, out)
        if value < 0:
            stale = 100 if fault == "fail-stale-length" else dlen
            return value, u32(stale), b""
        return 0, u32(value), data

    def _unit(self, fault: str, src: bytes, capacity: int, value: int, out: bytes) -> tuple[int, bytes]:
        """(length or -errno, bytes) for a unit hit by `fault`; `value`/`out` the real result."""
        real_len = len(self.real.raw_compress(src))
        if fault == "zero-length":
            return 0, b""
        if fault in ("oversize-report", "oversize-write"):
            size = capacity + 1 + real_len % 64
            data = self.real.raw_compress(src)
            if fault == "oversize-write":
                self.overruns += max(0, len(data.ljust(size, b"\0")) - capacity)
                return size, data.ljust(size, b"\0")[:capacity]
            return size, data[:capacity]
        if fault == "exact-page":
            data = self.real.raw_compress(src)
            return capacity, data.ljust(capacity, b"\0")[:capacity]
        if fault in _ERRNO:
            return _ERRNO[fault], b""
        if fault == "fail-stale-length":
            return -EINVAL, b""
        if fault == "bad-output":
            return 64, b"\xff" * 64
        if fault == "wrong-output":
            data = b"\xde\xad\xbe\xef" + self.real.raw_compress(src)
            return (len(data), data) if len(data) < capacity else (value, out)
        if fault == "nondeterministic":
            pad = os.urandom(1)[0] % 16
            data = b"\xfe\xed\xfa\xce" + bytes([pad]) + os.urandom(pad) + self.real.raw_compress(src)
            return (len(data), data) if len(data) < capacity else (value, out)
        return value, out  # batching-only faults are handled by the batch path

    # -- batching -----------------------------------------------------------------

    def compress_unit(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        fault = self._take()
        result, out = self.real.compress_unit(src, capacity)
        if fault is None or FAULTS[fault].batching_only:
            return result, out
        return self._unit(fault, src, capacity, result, out)

    def compress_batch(self, req) -> int:
        unit = req.unit_size or req.slen
        n = req.slen // unit
        stale = [sg.length for sg in req.dst[:n]]
        failed = False
        forced_ret = None
        for k in range(n):
            sg = req.dst[k]
            fault = self._take()
            value, out = self.real.compress_unit(req.src[k * unit:(k + 1) * unit], len(sg.buf))
            if fault == "unwritten-entry":
                sg.length = stale[k]
                continue
            if fault == "fail-all-valid":
                forced_ret = -EINVAL
            elif fault == "negative-entry-ret0":
                value, out, forced_ret = -E2BIG, b"", 0
            elif fault == "partial-batch":
                value, out = -E2BIG, b""
            elif fault is not None:
                value, out = self._unit(fault, req.src[k * unit:(k + 1) * unit], len(sg.buf), value, out)
            if value < 0:
                failed = True
            elif out:
                sg.buf[: min(len(out), len(sg.buf))] = out[: len(sg.buf)]
            sg.length = u32(value)
        req.dlen = req.dst[0].length
        if forced_ret is not None:
            return forced_ret
        return -EINVAL if failed else 0

"""A driver under zswap: the built-in sample swapped out through a variant of
the model with the driver as its compressor, then read back, to say what
zswap would store, reject or corrupt with it (`check-driver --with-variant`).

The driver keeps running in its sandbox; `DriverAlgorithm` presents it to
the model's crypto layers (`zswap_spec.model.acomp`) the way
`zswap_spec.model.scripted` presents scripted results:

- batch size 1: a software (scomp) algorithm; `ret` is the driver's return
  code and `req->dlen` its unit's length when the field holds one, else the
  capacity left in place (a software algorithm never writes an errno into
  `req->dlen`; crypto/lz4.c and crypto/deflate.c leave it untouched on
  failure, spec/zswap-spec.md §2);
- batch size > 1: a batching algorithm; every entry receives its unit's
  length field, `req->dlen` the first entry's, and the call returns the
  driver's return code.

Pages read back through the driver's own decompressor, or the reference one
of its format when it has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zswap_spec.model.cint import EINVAL, s32, u32
from .abi import DriverInfo
from .harness import reference_decompress
from .sandbox import DriverFailure, Sandbox

__all__ = ["DriverAlgorithm", "VariantRun", "run_variant"]


class DriverAlgorithm:
    """A sandboxed driver as the model's compressor."""

    def __init__(self, sandbox: Sandbox, info: DriverInfo, fmt: str):
        self.sb = sandbox
        self.name = info.name
        self.format = fmt
        self.batch_size = min(info.batch_size, 8)
        self.batching = self.batch_size > 1
        self._own = info.has_decompress

    def _units(self, srcs, caps):
        ans = self.sb.compress(list(srcs), list(caps))
        ret = ans["ret"] if isinstance(ans["ret"], int) else -EINVAL
        lengths = [x if isinstance(x, int) else u32(-EINVAL) for x in ans["lengths"]]
        return ret, lengths, ans["outputs"]

    # scomp interface
    def compress(self, src: bytes, capacity: int) -> tuple[int, int, bytes]:
        ret, lengths, outputs = self._units([src], [capacity])
        v = s32(lengths[0])
        dlen = lengths[0] if v >= 0 else u32(capacity)
        return ret, dlen, outputs[0][:v] if 0 < v <= capacity else b""

    # batching interface
    def compress_unit(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        _, lengths, outputs = self._units([src], [capacity])
        v = s32(lengths[0])
        return v, outputs[0][:v] if 0 < v <= capacity else b""

    def compress_batch(self, req) -> int:
        unit = req.unit_size or req.slen
        n = max(1, req.slen // unit)
        srcs = [req.src[k * unit:(k + 1) * unit] for k in range(n)]
        ret, lengths, outputs = self._units(srcs, [len(sg.buf) for sg in req.dst[:n]])
        for k in range(n):
            sg = req.dst[k]
            v = s32(lengths[k])
            if 0 < v <= len(sg.buf):
                sg.buf[:v] = outputs[k][:v]
            sg.length = lengths[k]
        req.dlen = req.dst[0].length
        return ret

    def decompress(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        if self._own:
            ((rc, out),) = self.sb.decompress([(bytes(src), capacity)])
            return (rc, out) if rc == 0 and out is not None else (rc or -EINVAL, b"")
        if self.format == "none":
            return -EINVAL, b""
        return reference_decompress(self.format, bytes(src), capacity)


@dataclass
class VariantRun:
    variant: str
    writeback: bool
    folio_pages: int
    pages: int = 0
    zero_filled: int = 0
    stored_compressed: int = 0
    stored_raw: int = 0
    rejected: int = 0
    corrupt: int = 0  # pages that did not read back (INV-ROUNDTRIP)
    violations: dict = field(default_factory=dict)
    examples: list = field(default_factory=list)
    error: str | None = None
    page_size: int = 4096

    @property
    def nothing_compressed(self) -> bool:
        """Pages that were not zero-filled, and not one stored compressed."""
        return self.error is None and self.pages > self.zero_filled and not self.stored_compressed

    def to_json(self) -> dict:
        return {**self.__dict__, "nothing_compressed": self.nothing_compressed}


def run_variant(sandbox: Sandbox, info: DriverInfo, fmt: str, variant: str, pages: list[bytes],
                page_size: int = 4096) -> list[VariantRun]:
    """The pages through `variant` with writeback on and off, in folios of 1 and of
    the driver's batch size; one VariantRun each."""
    from zswap_spec.replay import RunConfig, replay_pages

    alg = DriverAlgorithm(sandbox, info, fmt)
    runs = []
    folio_sizes = sorted({1, alg.batch_size} if alg.batching else {1, 8})
    for wb in (True, False):
        for folio in folio_sizes:
            run = VariantRun(variant, wb, folio, page_size=page_size)
            try:
                r = replay_pages(pages, RunConfig(variant, alg, wb, folio, page_size))
            except DriverFailure as f:
                run.error = f"{f.clause}: {f.description}"
                runs.append(run)
                continue
            run.pages = r.pages
            run.zero_filled = r.count("zero")
            run.stored_compressed = r.count("compressed")
            run.stored_raw = r.count("raw")
            run.rejected = r.count("rejected")
            run.corrupt = r.integrity_violations
            run.violations = r.violation_counts()
            run.examples = [f"{v.invariant} at slot {v.offset}: {v.detail}" for v in r.violations[:3]]
            runs.append(run)
    return runs

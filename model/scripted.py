"""Compressors that report exactly what they are told to.

They drive the variants through the rows of the spec's decision tables (and,
later, through the fuzzers' misbehaviour catalogue).  Each page is told apart
by its first byte; a "compressed" output is that byte followed by zeros, and
the matching decompressor turns it back into the page, so a page stored
compressed loads back intact and only a wrong decision shows up as a broken
invariant.
"""

from __future__ import annotations

from .cint import EINVAL, s32, u32

__all__ = ["ScriptedSoftware", "ScriptedBatching", "marker_page"]


def marker_page(tag: int, page_size: int) -> bytes:
    """A page whose every byte is `tag` (1..255): distinct, and easy to check."""
    return bytes([tag]) * page_size


def _marker_output(src: bytes, n: int) -> bytes:
    return bytes([src[0]]) + bytes(max(0, n - 1)) if n > 0 else b""


def _marker_decompress(src: bytes, capacity: int) -> tuple[int, bytes]:
    if not src or src[0] == 0 or any(src[1:]):
        return -EINVAL, b""
    return 0, bytes([src[0]]) * capacity


class ScriptedSoftware:
    """A software (scomp) compressor returning `(ret, dlen)` for every page, or
    for each page by its tag (`per_tag`)."""

    batching = False
    batch_size = 1
    format = "scripted"

    def __init__(self, ret: int, dlen: int, name: str = "scripted",
                 per_tag: dict[int, tuple[int, int]] | None = None):
        self.name = name
        self.ret = ret
        self.dlen = u32(dlen)
        self.per_tag = per_tag or {}

    def raw_compress(self, src: bytes) -> bytes:
        return _marker_output(src, 1)

    def compress(self, src: bytes, capacity: int) -> tuple[int, int, bytes]:
        ret, dlen = self.per_tag.get(src[0], (self.ret, self.dlen))
        dlen = u32(dlen)
        written = _marker_output(src, min(dlen, capacity)) if ret == 0 else b""
        return ret, dlen, written

    def decompress(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        return _marker_decompress(src, capacity)


class ScriptedBatching:
    """A batching driver: per-unit values by page tag, and a batch return code.

    `units` maps a page's tag to the value its destination entry receives (a
    length, or a negative errno); tags not listed get `default`.  In its batch
    path the driver returns `ret`; given a single unit it returns
    `v < 0 ? v : 0` and reports `v` in the entry and `req->dlen`.

    `submit_ret` is what its submission step returns for a multi-unit batch,
    the status v14's crypto layer passes on (`AcompReq.submit_ret`;
    "[PATCH v14 16/26]": -EINVAL when a unit could not be submitted).  The
    default, 0, is a batch whose units were all submitted: any failure came
    at completion.
    """

    batching = True
    format = "scripted"

    def __init__(self, ret: int, units: dict[int, int], default: int, batch_size: int = 8,
                 name: str = "scripted-batching", submit_ret: int = 0):
        self.name = name
        self.ret = ret
        self.units = units
        self.default = default
        self.batch_size = batch_size
        self.submit_ret = submit_ret

    def raw_compress(self, src: bytes) -> bytes:
        return _marker_output(src, 1)

    def _value(self, src: bytes) -> int:
        # A unit's result is a C int: a length, or a negative errno.
        return s32(self.units.get(src[0], self.default))

    def compress_unit(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        v = self._value(src)
        return v, _marker_output(src, min(v, capacity)) if v > 0 else b""

    def compress_batch(self, req) -> int:
        unit = req.unit_size
        for k in range(req.slen // unit):
            src = req.src[k * unit:(k + 1) * unit]
            sg = req.dst[k]
            v, out = self.compress_unit(src, len(sg.buf))
            sg.buf[: len(out)] = out
            sg.length = u32(v)
        req.dlen = req.dst[0].length
        req.submit_ret = self.submit_ret
        return self.ret

    def decompress(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        return _marker_decompress(src, capacity)

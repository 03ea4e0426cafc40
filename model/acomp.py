"""The crypto layer's acomp requests and the three ways it has served batches.

A request carries a source (one or more units of `unit_size` bytes), a
destination scatterlist with one entry per unit, `slen` and `dlen`.  After a
call the caller can observe three channels: the return code (`int`),
`req->dlen` (`unsigned int`) and each destination entry's `length`
(`unsigned int`).  Which channels are filled depends on the crypto layer:

- ``legacy``: mainline and v13.  A software algorithm fills `req->dlen` only;
  the batching driver fills every channel.  (crypto/acompress.c,
  crypto/scompress.c; "[PATCH v13 13/22]", 2025-11-04.)
- ``segmented``: v14, Herbert Xu's segmentation API ("[PATCH 0/3] crypto:
  acomp - Add segmentation API for compression", 2025-12-26).  An algorithm
  without `CRYPTO_ALG_REQ_SEG` given `unit_size` accepts one segment only
  (`slen > unit_size` is `-ENOSYS`) and on completion the wrapper writes
  `err ?: req->dlen` into the destination entry.  A batching algorithm's
  multi-unit request returns only its submission status (see
  `compress_segmented`).
- ``uniform``: the review's proposal (Herbert Xu and Yosry Ahmed, Nov-Dec
  2025): the crypto layer splits a multi-unit request for a non-batching
  algorithm and reports every unit's length or errno in its entry.  No code
  was posted; the spec's reading is documented in spec/zswap-spec.md.
"""

from __future__ import annotations

from .cint import EINVAL, ENOSYS, u32

__all__ = ["ScatterEntry", "AcompReq", "CRYPTO_LAYERS", "crypto_acomp_compress"]


class ScatterEntry:
    """One destination `struct scatterlist` entry: a buffer and its `length`."""

    __slots__ = ("buf", "length")

    def __init__(self, buf: bytearray, length: int):
        self.buf = buf
        self.length = u32(length)

    def __repr__(self) -> str:
        return f"ScatterEntry(capacity={len(self.buf)}, length={self.length})"


class AcompReq:
    """`struct acomp_req`: `slen`, `dlen` and `unit_size` are `unsigned int`.

    `submit_ret` is not a field of the kernel's request: it is where a
    batching driver of the model reports what its submission step returned
    for a multi-unit batch, the one status v14's crypto layer hands back
    (`compress_segmented`).  In "[PATCH v14 16/26]" (2026-01-24)
    `iaa_comp_submit_acompress_batch()` returns -EINVAL when a unit could not
    be submitted (its errno then in that unit's entry), else 0.  Drivers that
    do not set it fail units only at completion (0).
    """

    __slots__ = ("src", "slen", "dst", "dlen", "unit_size", "submit_ret")

    def __init__(self, src: bytes, dst: list[ScatterEntry], dlen: int, unit_size: int = 0):
        self.src = src
        self.slen = u32(len(src))
        self.dst = dst
        self.dlen = u32(dlen)
        self.unit_size = u32(unit_size)
        self.submit_ret = 0


def _software_one(alg, req: AcompReq) -> int:
    """scomp: compress the whole source into the first entry, set `req->dlen`."""
    sg = req.dst[0]
    ret, dlen, out = alg.compress(req.src, req.dlen)
    if out:
        sg.buf[: len(out)] = out
    req.dlen = u32(dlen)
    return ret


def _batching_one(alg, req: AcompReq) -> int:
    """A batching driver given one unit: `ret ?: dlen` into the entry and `req->dlen`.

    iaa_crypto's single-request path ("[PATCH v13 11/22]", `iaa_to_acomp`).
    """
    sg = req.dst[0]
    result, out = alg.compress_unit(req.src, req.dlen)
    if result >= 0:
        sg.buf[: len(out)] = out
    sg.length = req.dlen = u32(result)
    return min(result, 0)


def compress_legacy(alg, req: AcompReq) -> int:
    """Mainline and v13: software fills `req->dlen`; batching fills every channel.

    The batching driver takes its batch path only when `unit_size` is set and
    differs from `slen` ("[PATCH v13 13/22]"); it then returns -EINVAL if any
    unit failed.
    """
    if alg.batching:
        if req.unit_size and req.slen != req.unit_size:
            return alg.compress_batch(req)
        return _batching_one(alg, req)
    return _software_one(alg, req)


def compress_segmented(alg, req: AcompReq) -> int:
    """v14: the segmentation wrapper, and batching through `batch_completed`.

    For a REQ_SEG algorithm (IAA) with more than one unit,
    `acomp_do_req_batch_parallel` ("[PATCH v14 18/26] crypto: acomp, iaa -
    crypto_acomp integration of IAA Batching.", 2026-01-24) returns what the
    driver's `compress()` returned, and in v14 that call only submits the
    batch: `iaa_crypto_acomp_acompress_main` returns the status of
    `iaa_comp_submit_acompress_batch` ("[PATCH v14 16/26] crypto: iaa - IAA
    Batching for parallel compressions/decompressions.", 2026-01-24), -EINVAL
    when a unit could not be submitted (no work queue or descriptor:
    -ENODEV; DMA mapping: -EIO; that errno in the unit's entry), else 0.
    The wrapper then waits for the driver's `batch_completed` hook, which
    polls the submitted units and reports a failure among them (IAA's output
    overflow, -E2BIG) only in the unit's entry and by storing -EINVAL into
    `req->slen`; the wrapper's `req->slen < 0` test never holds for an
    `unsigned int`.  So the call returns -EINVAL exactly when a submission
    failed, and 0 when every unit was submitted, however many then failed.
    """
    if alg.batching:
        if req.unit_size and req.slen > req.unit_size:
            status = alg.compress_batch(req)  # submission, then the polling
            ret = req.submit_ret  # what tfm->compress() returned
            if status != 0:
                # batch_completed; the model's drivers report one status for
                # both steps, stored here for any failure: it is never read back.
                req.slen = u32(-EINVAL)
            if req.slen < 0:  # unsigned: never true  # noqa: SIM108
                ret |= -EINVAL
            return ret
        return _batching_one(alg, req)
    if req.unit_size and req.slen > req.unit_size:
        return -ENOSYS
    err = _software_one(alg, req)
    req.dst[0].length = u32(err if err else req.dlen)
    return err


def compress_uniform(alg, req: AcompReq) -> int:
    """The uniform API: every unit's length or errno lands in its entry.

    For a non-batching algorithm the crypto layer compresses unit by unit,
    each into its own entry with that entry's capacity; the call returns the
    first failing unit's errno, or 0.
    """
    if alg.batching:
        if req.unit_size and req.slen != req.unit_size:
            return alg.compress_batch(req)
        return _batching_one(alg, req)
    unit = req.unit_size or req.slen
    nr_units = max(1, req.slen // unit)
    first_err = 0
    for k in range(nr_units):
        sg = req.dst[k]
        ret, dlen, out = alg.compress(req.src[k * unit:(k + 1) * unit], len(sg.buf))
        if out:
            sg.buf[: len(out)] = out
        sg.length = u32(ret if ret else dlen)
        if ret and not first_err:
            first_err = ret
    req.dlen = req.dst[0].length
    return first_err


CRYPTO_LAYERS = {
    "legacy": compress_legacy,
    "segmented": compress_segmented,
    "uniform": compress_uniform,
}


def crypto_acomp_compress(layer: str, alg, req: AcompReq) -> int:
    """`crypto_acomp_compress()` then `crypto_wait_req()` under a crypto layer."""
    return CRYPTO_LAYERS[layer](alg, req)

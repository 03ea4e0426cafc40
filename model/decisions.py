"""Each variant's decision for one page of a software compressor, as a pure
function: what CrossHair checks contracts on and compares variant against
mainline (`crosshair diffbehavior`).

Input: the compressor's `ret` (`int`) and `req->dlen` (`unsigned int`), any
Python integers (converted as C converts them), writeback on or off.
Output: (outcome, stored length, reject counter), outcome one of the spec's
words (§6): "compressed", "raw" (stored as-is: length PAGE_SIZE, the page's
bytes), "corrupt" (stored with length PAGE_SIZE but not the page's bytes,
which INV-RAW forbids) or "reject"; the counter "" when none moves.
Allocation never fails here.

The functions restate, for a folio of one page, the paths of the variants in
`zswap_spec.model.variants`; tests check them against those variants on
sampled inputs, so they cannot drift apart.
"""

from __future__ import annotations

from .cint import EINVAL, ENOSPC, s32, u32

__all__ = ["mainline_page", "v13_page", "v14_page", "explicit_page", "uniform_page", "DECISIONS"]

Decision = tuple[str, int, str]
PAGE_SIZE = 4096  # the proofs cover 16K and 64K pages; these functions are for CrossHair


def _alloc(size: int, page_size: int) -> Decision:
    """zs_malloc(size) then store: posted variants pass any length through."""
    if size == 0:
        return ("reject", 0, "reject_alloc_fail")
    if size > page_size:
        return ("reject", 0, "reject_compress_poor")
    return ("corrupt" if size == page_size else "compressed", size, "")


def _mainline_test(comp_ret: int, dlen: int, wb: bool, page_size: int) -> Decision:
    if comp_ret != 0 or dlen == 0 or dlen >= page_size:
        if not wb:
            final = comp_ret if comp_ret != 0 else -EINVAL
            return ("reject", 0, "reject_compress_poor" if final == -ENOSPC else "reject_compress_fail")
        return ("raw", page_size, "")
    return ("compressed", dlen, "")


def mainline_page(ret: int, dlen: int, wb: bool) -> Decision:
    """Mainline `zswap_compress()`.

    post: __return__[0] in ("compressed", "raw", "reject")
    post: __return__[0] != "raw" or wb
    post: __return__[0] == "reject" or 0 < __return__[1] <= PAGE_SIZE
    post: (__return__[0] == "reject") == (__return__[2] != "")
    """
    return _mainline_test(s32(ret), u32(dlen), wb, PAGE_SIZE)


def v13_page(ret: int, dlen: int, wb: bool) -> Decision:
    """v13 22/22 for a software compressor (errp = &err)."""
    err, length = s32(ret), u32(dlen)  # sgl->length = req->dlen
    if err and not wb:  # compress_error: a counter only if the entry reads negative
        entry = s32(length)
        return ("reject", 0, ("reject_compress_poor" if entry == -ENOSPC else "reject_compress_fail")
                if entry < 0 else "")
    d = s32(length | u32(err))
    if d < 0:
        return ("raw", PAGE_SIZE, "")
    return _alloc(d, PAGE_SIZE)


def v14_page(ret: int, dlen: int, wb: bool) -> Decision:
    """v14 26/26 for a software compressor behind the segmentation wrapper."""
    err = s32(ret)
    entry = u32(err) if err else u32(dlen)  # the wrapper writes err ?: req->dlen
    if err and not wb:
        e = s32(entry)
        return ("reject", 0, ("reject_compress_poor" if e == -ENOSPC else "reject_compress_fail")
                if e < 0 else "")
    d = s32(entry)
    if d < 0:
        return ("raw", PAGE_SIZE, "")
    return _alloc(d, PAGE_SIZE)


def explicit_page(ret: int, dlen: int, wb: bool) -> Decision:
    """The review's proposal: `ret` and `req->dlen` read explicitly.

    post: __return__[0] in ("compressed", "raw", "reject")
    post: __return__[0] != "raw" or wb
    post: __return__[0] == "reject" or 0 < __return__[1] <= PAGE_SIZE
    """
    return _mainline_test(s32(ret), u32(dlen), wb, PAGE_SIZE)


def uniform_page(ret: int, dlen: int, wb: bool) -> Decision:
    """The uniform API: the unit's entry holds `ret ?: dlen`.

    post: __return__[0] in ("compressed", "raw", "reject")
    post: __return__[0] != "raw" or wb
    post: __return__[0] == "reject" or 0 < __return__[1] <= PAGE_SIZE
    """
    entry = u32(s32(ret)) if s32(ret) else u32(dlen)
    value = s32(entry)
    if value < 0:
        return _mainline_test(value, 0, wb, PAGE_SIZE)
    return _mainline_test(0, entry, wb, PAGE_SIZE)


DECISIONS = {
    "mainline": mainline_page,
    "v13": v13_page,
    "v14": v14_page,
    "explicit": explicit_page,
    "uniform": uniform_page,
}

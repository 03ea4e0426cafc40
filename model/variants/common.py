"""Pieces of zswap's store path that several variants share verbatim."""

from __future__ import annotations

from zswap_spec.model.cint import ENOSPC

ZSWAP_MAX_BATCH_SIZE = 8


def count_compress_result(zs, comp_ret: int, alloc_ret: int) -> bool:
    """The end of mainline `zswap_compress`: one reject counter, first match wins."""
    if comp_ret == -ENOSPC or alloc_ret == -ENOSPC:
        zs.counters["reject_compress_poor"] += 1
    elif comp_ret:
        zs.counters["reject_compress_fail"] += 1
    elif alloc_ret:
        zs.counters["reject_alloc_fail"] += 1
    return comp_ret == 0 and alloc_ret == 0


def store_bytes(zs, entry, dlen: int, data) -> int:
    """`zs_malloc(dlen)`, then write `dlen` bytes of `data`: the handle or -errno."""
    handle = zs.zs_malloc(dlen)
    if handle < 0:
        return handle
    zs.zpool.zs_obj_write(handle, bytes(data[:dlen]))
    entry.handle = handle
    entry.length = dlen
    return handle

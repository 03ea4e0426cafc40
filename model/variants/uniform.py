"""The uniform API asked for in review of v13 (Herbert Xu, 2025-11-26 and
2025-12-08/09; Yosry Ahmed, 2025-11-14): the crypto layer reports every
unit's length or errno in its destination entry, for every compressor, and
splits batches for those that do not batch, so zswap has one code path,
with mainline's per-page test.  No code was posted: `zswap_compress` and
`__zswap_compress` write out the proposal's text (spec/zswap-spec.md §6
and §2.5 state the reading); the rest is v13's text, which it keeps.

Conventions as in mainline.py; `nid` is not modelled (one node).
"""

from __future__ import annotations

from zswap_spec.model import cint
from zswap_spec.model.acomp import AcompReq, crypto_acomp_compress
from zswap_spec.model.cint import EINVAL
from .mainline import unlock
from .registry import Variant, transcribes
from .series import (BASE_TREE, V13_21, V13_22, ZSWAP_MAX_BATCH_SIZE, store_batch_size)

__all__ = ["VARIANT", "__zswap_compress", "zswap_compress", "zswap_store_pages",
           "store_pages_failed", "zswap_store"]

CRYPTO_LAYER = "uniform"
PROPOSAL = ("Herbert Xu, in review of the v13 series, 2025-11-26 and 2025-12-08/09 (one "
            "zswap code path; the crypto layer reports each unit's error or length in its "
            "destination entry and splits a batch for a compressor that does not batch); Yosry "
            "Ahmed, Re: [PATCH v13 22/22] mm: zswap: Batched zswap_compress() with compress "
            "batching of large folios., 2025-11-14 (a uniform API whatever the compressor); "
            "no code posted")
KEPT = "; the proposal keeps the series' text"


@transcribes(PROPOSAL)
def __zswap_compress(zs, folio, start, nr_comps, entries):
    """Compress one batch of `nr_comps` pages of the folio from `start` in one
    request and store each page in `entries[k]`, as mainline stores a page.

    Every unit's result is read from its entry, whatever the compressor: a
    negative `int` reading is an errno, anything else a length.  Then
    mainline's test (`comp_ret || !dlen || dlen >= PAGE_SIZE`), writeback
    looked up again (`folio_memcg(folio)`) before a page is stored as-is,
    and mainline's counter tail (`unlock`): the first failing page ends the
    folio with one counter."""
    for sg in zs.sg_outputs[:nr_comps]:
        sg.length = cint.u32(zs.page_size)
    src = b"".join(folio.pages[start:start + nr_comps])  # acomp_request_set_src_folio(...)
    req = AcompReq(src, zs.sg_outputs[:nr_comps], dlen=nr_comps * zs.page_size,
                   unit_size=zs.page_size)
    crypto_acomp_compress(CRYPTO_LAYER, zs.alg, req)  # every result is in the entries
    for k in range(nr_comps):
        if cint.s32(req.dst[k].length) < 0:
            comp_ret = cint.s32(req.dst[k].length)
            dlen = 0
        else:
            comp_ret = 0
            dlen = cint.u32(req.dst[k].length)
        alloc_ret = 0
        dst = zs.buffers[k]
        if comp_ret or not dlen or dlen >= zs.page_size:
            if not zs.writeback_enabled(folio.memcg):  # looked up again, per page
                comp_ret = comp_ret if comp_ret else -EINVAL
                return unlock(zs, comp_ret, alloc_ret)  # mainline's goto unlock
            comp_ret = 0
            dlen = zs.page_size
            dst = folio.pages[start + k]
        handle = zs.zs_malloc(dlen)
        if handle < 0:  # IS_ERR_VALUE(handle)
            alloc_ret = handle
            return unlock(zs, comp_ret, alloc_ret)  # mainline's goto unlock
        zs.zpool.zs_obj_write(handle, bytes(dst[:dlen]))
        entries[k].handle = handle
        entries[k].length = dlen
    return True


@transcribes(PROPOSAL)
def zswap_compress(zs, folio, start, nr_pages, entries, wb_enabled):
    """v13's `zswap_compress` signature around `__zswap_compress`: one call
    per batch of `nr_comps` pages.  `wb_enabled` is not read: the proposal
    looks writeback up again before storing a page as-is."""
    nr_comps = min(nr_pages, zs.compr_batch_size)
    for i in range(0, nr_pages, nr_comps):
        n = min(nr_comps, nr_pages - i)
        if not __zswap_compress(zs, folio, start + i, n, entries[i:i + n]):
            return False
    return True


@transcribes(V13_21 + "; the zswap_compress() call as " + V13_22 + " changes it" + KEPT)
def zswap_store_pages(zs, folio, start, end, memcg, wb_enabled):
    """v13's `zswap_store_pages` (v13.py says how the model reads it)."""
    entries = [None] * ZSWAP_MAX_BATCH_SIZE
    store_fail_idx = 0
    nr_pages = end - start
    for i in range(nr_pages):
        entries[i] = zs.entry_cache_alloc(folio.offset + start + i)
        if entries[i] is None:
            zs.counters["reject_kmemcache_fail"] += 1
            nr_pages = i
            return store_pages_failed(zs, entries, store_fail_idx, nr_pages)  # goto store_pages_failed
    if not zswap_compress(zs, folio, start, nr_pages, entries, wb_enabled):
        return store_pages_failed(zs, entries, store_fail_idx, nr_pages)  # goto store_pages_failed
    for i in range(nr_pages):
        entry = entries[i]
        ok, old = zs.xa_store(entry)
        if not ok:  # xa_is_err(old)
            zs.counters["reject_alloc_fail"] += 1
            store_fail_idx = i
            return store_pages_failed(zs, entries, store_fail_idx, nr_pages)  # goto store_pages_failed
        if old is not None:
            zs.zswap_entry_free(old)
        zs.charge_and_count(entry, memcg)
    return True


@transcribes(V13_21 + KEPT, function="zswap_store_pages")
def store_pages_failed(zs, entries, store_fail_idx, nr_pages):
    """v13's `store_pages_failed` label."""
    for i in range(store_fail_idx, nr_pages):
        if entries[i].handle:  # !IS_ERR_VALUE(entries[i]->handle)
            zs.zpool.zs_free(entries[i].handle)
    return False


@transcribes(V13_21 + KEPT)
def zswap_store(zs, folio, memcg, wb_enabled):
    """v13's batch loop of `zswap_store()`."""
    nr_pages = folio.nr_pages
    store_batch_size = zs.compr_batch_size if zs.compr_batch_size > 1 else ZSWAP_MAX_BATCH_SIZE
    for start in range(0, nr_pages, store_batch_size):
        end = min(start + store_batch_size, nr_pages)
        if not zswap_store_pages(zs, folio, start, end, memcg, wb_enabled):
            return False  # goto put_pool (Zswap.zswap_store's)
    return True


def compr_batch_size(alg, override=None) -> int:
    """Every compressor gets batches: a batching one its own batch size (at
    most ZSWAP_MAX_BATCH_SIZE), any other ZSWAP_MAX_BATCH_SIZE pages, which
    the crypto layer compresses one by one.  `override` is the model's
    `max_batch_size` parameter, a smaller ZSWAP_MAX_BATCH_SIZE (at least 1)."""
    limit = ZSWAP_MAX_BATCH_SIZE if override is None else max(1, min(override, ZSWAP_MAX_BATCH_SIZE))
    if alg.batching and alg.batch_size > 1:
        return min(limit, alg.batch_size)
    return limit


VARIANT = Variant(
    name="uniform",
    title="uniform API: per-unit results in the entries for every compressor",
    source="Herbert Xu, 2025-11-26 and 2025-12-08/09; Yosry Ahmed, 2025-11-14",
    crypto_layer=CRYPTO_LAYER,
    base_tree=BASE_TREE,  # made in review of the series, so on its base
    order=4,
    store_pages=zswap_store,
    compr_batch_size=compr_batch_size,
    store_batch_size=store_batch_size,
    functions=(unlock, __zswap_compress, zswap_compress, zswap_store_pages, store_pages_failed,
               zswap_store),
)

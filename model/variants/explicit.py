"""The review's explicit proposal on v13 (Yosry Ahmed, Re: [PATCH v13 22/22],
2025-11-14 and 2025-12-09): no `errp`, each unit's result taken explicitly,
mainline's per-page test, writeback looked up again before a page is stored
as-is.  No code was posted: `zswap_compress` and `__zswap_compress` write out
the proposal's text (spec/zswap-spec.md §6 states the reading); the rest is
v13's text, which the proposal keeps.

Conventions as in mainline.py; `nid` is not modelled (one node).
"""

from __future__ import annotations

from zswap_spec.model import cint
from zswap_spec.model.acomp import AcompReq, crypto_acomp_compress
from zswap_spec.model.cint import EINVAL
from .mainline import unlock
from .registry import Variant, transcribes
from .series import (BASE_TREE, V13_21, V13_22, ZSWAP_MAX_BATCH_SIZE, compr_batch_size,
                     store_batch_size)

__all__ = ["VARIANT", "__zswap_compress", "zswap_compress", "zswap_store_pages",
           "store_pages_failed", "zswap_store"]

CRYPTO_LAYER = "legacy"
PROPOSAL = ("Yosry Ahmed, Re: [PATCH v13 22/22] mm: zswap: Batched zswap_compress() with compress "
            "batching of large folios., 2025-11-14 (drop errp; check err for a software "
            "compressor and each entry for a batching one; keep mainline's dlen test and "
            "re-check writeback before storing a page as-is) and 2025-12-09 (a zswap_compress() "
            "looping over a single-batch __zswap_compress()); no code posted")
KEPT = "; the proposal keeps the series' text"


@transcribes(PROPOSAL)
def __zswap_compress(zs, folio, start, nr_comps, entries):
    """Compress one batch of `nr_comps` pages of the folio from `start` in one
    request and store each page in `entries[k]`, as mainline stores a page.

    A unit's result (`comp_ret`, `dlen`): for a software compressor
    (`compr_batch_size` 1) the request's return code and `req->dlen`; for a
    batching one its entry, a negative `int` reading being an errno.  Then
    mainline's test (`comp_ret || !dlen || dlen >= PAGE_SIZE`), writeback
    looked up again (`folio_memcg(folio)`) before a page is stored as-is,
    and mainline's counter tail (`unlock`): the first failing page ends the
    folio with one counter."""
    for sg in zs.sg_outputs[:nr_comps]:
        sg.length = cint.u32(zs.page_size)
    src = b"".join(folio.pages[start:start + nr_comps])  # acomp_request_set_src_folio(...)
    req = AcompReq(src, zs.sg_outputs[:nr_comps], dlen=nr_comps * zs.page_size,
                   unit_size=zs.page_size)
    err = crypto_acomp_compress(CRYPTO_LAYER, zs.alg, req)
    for k in range(nr_comps):
        if zs.compr_batch_size == 1:
            comp_ret = err
            dlen = req.dlen
        elif cint.s32(req.dst[k].length) < 0:
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


VARIANT = Variant(
    name="explicit",
    title="review proposal: explicit err / entry checks, mainline's test, writeback re-checked",
    source="Yosry Ahmed, Re: [PATCH v13 22/22], 2025-11-14 and 2025-12-09",
    crypto_layer=CRYPTO_LAYER,
    base_tree=BASE_TREE,  # made in review of the series, so on its base
    order=3,
    store_pages=zswap_store,
    compr_batch_size=compr_batch_size,
    store_batch_size=store_batch_size,
    functions=(unlock, __zswap_compress, zswap_compress, zswap_store_pages, store_pages_failed,
               zswap_store),
)

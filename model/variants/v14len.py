"""v14 with mainline's length test restored: the smallest fix a reviewer
could ask of "[PATCH v14 26/26]" (2026-01-24).  Every line is v14's
(v14.py) but one: `zswap_compress` treats an entry whose `int` reading is
0 or at least PAGE_SIZE as it treats a negative one, storing the page
as-is, as mainline's `comp_ret || !dlen || dlen >= PAGE_SIZE` does
(mm/zswap.c `zswap_compress`, damonitor/linux 9321810240ec (late 2025)).
No such patch was posted; this is the review's question made code: what
does the length test alone fix, and what does it leave (writeback is
still looked up once, before the loop)?

Conventions as in mainline.py; `nid` is not modelled (one node).
"""

from __future__ import annotations

from zswap_spec.model import cint
from zswap_spec.model.acomp import AcompReq, crypto_acomp_compress
from zswap_spec.model.cint import ENOSPC
from .registry import Variant, transcribes
from .series import (BASE_TREE, V14_25, V14_26, ZSWAP_MAX_BATCH_SIZE, compr_batch_size,
                     store_batch_size)

__all__ = ["VARIANT", "zswap_entries_cache_alloc_batch", "zswap_compress", "compress_error",
           "err_unlock", "zswap_store_pages", "store_pages_failed", "zswap_store"]

CRYPTO_LAYER = "segmented"

LENGTH_TEST = ('"[PATCH v14 26/26]" with the length test of mainline\'s zswap_compress(), '
               'mm/zswap.c, damonitor/linux 9321810240ec (late 2025); not posted')


@transcribes(V14_25)
def zswap_entries_cache_alloc_batch(zs, entries, nr_entries, folio, start):
    """Allocate `nr_entries` entries into `entries`; on a failure count
    `reject_kmemcache_fail`, free those allocated, return false.

    The model's allocator takes one entry at a time: `kmem_cache_alloc_bulk`
    is read as failing (`nr_alloc` 0), so the fallback loop allocates, and
    the partial-bulk branch (a WARN) never runs.  The model's allocator sets
    each entry's swap offset, which C sets in `zswap_store_pages`, so it is
    given `folio` and `start`; `gfp` and `nid` are dropped.  Freeing entries
    (`zswap_entries_cache_free_batch`) is nothing the model needs."""
    for i in range(nr_entries):
        entries[i] = zs.entry_cache_alloc(folio.offset + start + i)
        if entries[i] is None:
            zs.counters["reject_kmemcache_fail"] += 1
            return False
    return True


@transcribes(LENGTH_TEST)
def zswap_compress(zs, folio, folio_start, nr_pages, nr_batch_pages, entries, wb_enabled):
    """Compress `nr_pages` pages of the folio from `folio_start`,
    `nr_batch_pages` pages per request, and store each in its entry.

    An error with writeback disabled goes to `compress_error`.  Otherwise
    each entry's `length` is read as an `int`: a negative value, 0, or
    PAGE_SIZE or more stores the page as-is (mainline's test; v14 tests for
    a negative value only), anything else goes to `zs_malloc` as the length.  A
    software compressor's errno reaches its entry through the segmentation
    wrapper (`err ?: req->dlen`); for a batching one `err` is the status of
    the submission only (model/acomp.py, `compress_segmented`).  `zs` stands
    for `zs_pool` and `acomp_ctx`; `nid` is dropped."""
    slen = nr_batch_pages * zs.page_size
    # mutex_lock(&acomp_ctx->mutex): one CPU, no lock.
    for batch_start in range(0, nr_pages, nr_batch_pages):
        # acomp_request_set_src_folio(req, folio, (folio_start + batch_start) * PAGE_SIZE, slen)
        src = b"".join(folio.pages[folio_start + batch_start:folio_start + batch_start + nr_batch_pages])
        zs.sg_outputs[0].length = cint.u32(slen)
        # acomp_request_set_dst_sg(req, sg_table->sgl, slen); the request's
        # unit_size is PAGE_SIZE.
        req = AcompReq(src, zs.sg_outputs[:nr_batch_pages], dlen=slen, unit_size=zs.page_size)
        err = crypto_acomp_compress(CRYPTO_LAYER, zs.alg, req)  # crypto_wait_req(...)
        if err and not wb_enabled:
            return compress_error(zs, nr_batch_pages)  # goto compress_error
        # for_each_sg(sgl, sg, nr_batch_pages, compr_batch_size_iter)
        for compr_batch_size_iter, sg in enumerate(zs.sg_outputs[:nr_batch_pages]):
            batch_iter = batch_start + compr_batch_size_iter
            dst = zs.buffers[compr_batch_size_iter]
            dlen = cint.s32(sg.length)  # unsigned int assigned to the int dlen
            if dlen < 0 or not dlen or dlen >= zs.page_size:  # v14: `if (dlen < 0)`
                dlen = zs.page_size
                # kmap_local_page(folio_page(folio, folio_start + batch_iter))
                dst = folio.pages[folio_start + batch_iter]
            handle = zs.zs_malloc(dlen)
            if handle < 0:  # IS_ERR_VALUE(handle)
                if handle == -ENOSPC:
                    zs.counters["reject_compress_poor"] += 1
                else:
                    zs.counters["reject_alloc_fail"] += 1
                return err_unlock()  # goto err_unlock
            zs.zpool.zs_obj_write(handle, bytes(dst[:dlen]))
            entries[batch_iter].handle = handle
            entries[batch_iter].length = dlen
            # kunmap_local(dst) for a page: nothing mapped in the model
    return True  # mutex_unlock()


@transcribes(V14_26, function="zswap_compress")
def compress_error(zs, nr_batch_pages):
    """The `compress_error` label: one reject counter per entry whose `int`
    reading is negative (-ENOSPC: `compress_poor`, else `compress_fail`)."""
    for sg in zs.sg_outputs[:nr_batch_pages]:  # for_each_sg(sgl, sg, nr_batch_pages, ...)
        if cint.s32(sg.length) < 0:
            if cint.s32(sg.length) == -ENOSPC:
                zs.counters["reject_compress_poor"] += 1
            else:
                zs.counters["reject_compress_fail"] += 1
    return err_unlock()  # falls through to err_unlock


@transcribes(V14_26, function="zswap_compress")
def err_unlock():
    """The `err_unlock` label: `mutex_unlock` (no lock in the model), false."""
    return False


@transcribes(V14_25 + "; the zswap_compress() call as " + V14_26 + " changes it")
def zswap_store_pages(zs, folio, start, end, wb_enabled, memcg):
    """Store the folio's pages `start` to `end - 1`: allocate their entries,
    compress them all, then put each in the tree and charge it; the first
    failure frees what this call holds and ends the folio.

    `zs` stands for `pool` and `acomp_ctx`, `memcg` for `objcg`; `nid` is
    dropped.  The entries' initialisation loop is the model's allocator (an
    unset handle is 0, C's `ERR_PTR(-EINVAL)`; the swap offset) and
    `zs.charge_and_count` (pool, objcg, referenced)."""
    entries = [None] * ZSWAP_MAX_BATCH_SIZE
    store_fail_idx = 0
    nr_pages = end - start
    if not zswap_entries_cache_alloc_batch(zs, entries, nr_pages, folio, start):
        return False
    if not zswap_compress(zs, folio, start, nr_pages, min(nr_pages, zs.compr_batch_size),
                          entries, wb_enabled):
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


@transcribes(V14_25, function="zswap_store_pages")
def store_pages_failed(zs, entries, store_fail_idx, nr_pages):
    """The `store_pages_failed` label: free the objects of the entries not in
    the tree (`zswap_store` frees those that are); the entries themselves go
    back to their cache (`zswap_entries_cache_free_batch`), which the model
    has no need of."""
    for i in range(store_fail_idx, nr_pages):
        if entries[i].handle:  # !IS_ERR_VALUE(entries[i]->handle)
            zs.zpool.zs_free(entries[i].handle)
    return False


@transcribes(V14_25)
def zswap_store(zs, folio, memcg, wb_enabled):
    """The batch loop of `zswap_store()`: batches of the compressor's batch
    size, or of ZSWAP_MAX_BATCH_SIZE for a software compressor.  The rest
    of `zswap_store()` is `Zswap.zswap_store`, which looks writeback up once
    for the folio and passes `wb_enabled`; `acomp_ctx = raw_cpu_ptr(...)`
    is `zs` (one CPU)."""
    nr_pages = folio.nr_pages
    store_batch_size = zs.compr_batch_size if zs.compr_batch_size > 1 else ZSWAP_MAX_BATCH_SIZE
    for start in range(0, nr_pages, store_batch_size):
        end = min(start + store_batch_size, nr_pages)
        if not zswap_store_pages(zs, folio, start, end, wb_enabled, memcg):
            return False  # goto put_pool (Zswap.zswap_store's)
    return True


VARIANT = Variant(
    name="v14len",
    title="v14 26/26 with mainline's length test restored (0 or >= PAGE_SIZE: as-is)",
    source='"[PATCH v14 26/26]", 2026-01-24, with mainline\'s length test (not posted)',
    crypto_layer=CRYPTO_LAYER,
    base_tree=BASE_TREE,
    order=5,
    store_pages=zswap_store,
    compr_batch_size=compr_batch_size,
    store_batch_size=store_batch_size,
    functions=(zswap_entries_cache_alloc_batch, zswap_compress, compress_error, err_unlock,
               zswap_store_pages, store_pages_failed, zswap_store),
)

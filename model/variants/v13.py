"""v13 of the batching series: `zswap_store()` hands `zswap_store_pages()`
batches of a large folio, and `zswap_compress()` compresses a batch per
request ("[PATCH v13 21/22]" and "[PATCH v13 22/22]", 2025-11-04).

Conventions as in mainline.py; `nid` is not modelled (one node).
"""

from __future__ import annotations

from zswap_spec.model import cint
from zswap_spec.model.acomp import AcompReq, crypto_acomp_compress
from zswap_spec.model.cint import ENOSPC
from .registry import Variant, transcribes
from .series import (BASE_TREE, V13_21, V13_22, ZSWAP_MAX_BATCH_SIZE, compr_batch_size,
                     store_batch_size)

__all__ = ["VARIANT", "zswap_compress", "compress_error", "err_unlock", "zswap_store_pages",
           "store_pages_failed", "zswap_store"]

CRYPTO_LAYER = "legacy"


@transcribes(V13_22)
def zswap_compress(zs, folio, start, nr_pages, entries, wb_enabled):
    """Compress `nr_pages` pages of the folio from `start`, `nr_comps` pages
    per request, and store each in `entries[j]`.

    After each request the first destination entry's length is overwritten
    with `req->dlen` (how a software compressor's length reaches the
    entry); an error with writeback disabled goes to `compress_error`.
    Otherwise each entry's `length | *errp` is read as an `int` (`errp` is
    `&err` for a software compressor, `&err_sg`, always 0, for a batching
    one): a negative value stores the page as-is, anything else goes to
    `zs_malloc` as the length.  No test of 0 or of PAGE_SIZE or more: the
    code's comment assumes a compressor that reports such a length also
    returns an error.  `zs` stands for `pool`; `nid` is dropped."""
    nr_comps = min(nr_pages, zs.compr_batch_size)
    slen = nr_comps * zs.page_size
    err = 0
    err_sg = 0
    # acomp_ctx = raw_cpu_ptr(pool->acomp_ctx); mutex_lock(): zs, one CPU, no lock.
    # errp = (pool->compr_batch_size == 1) ? &err : &err_sg; the pointer as
    # the name of what it points at, `*errp` as the read of that variable.
    errp = "&err" if zs.compr_batch_size == 1 else "&err_sg"
    for i in range(0, nr_pages, nr_comps):
        # acomp_request_set_src_folio(req, folio, (start + i) * PAGE_SIZE, slen)
        src = b"".join(folio.pages[start + i:start + i + nr_comps])
        zs.sg_outputs[0].length = cint.u32(slen)
        # acomp_request_set_dst_sg(req, sg_outputs->sgl, slen); the request's
        # unit_size is PAGE_SIZE.
        req = AcompReq(src, zs.sg_outputs[:nr_comps], dlen=slen, unit_size=zs.page_size)
        err = crypto_acomp_compress(CRYPTO_LAYER, zs.alg, req)  # crypto_wait_req(...)
        zs.sg_outputs[0].length = req.dlen
        if err and not wb_enabled:
            return compress_error(zs, nr_comps)  # goto compress_error
        for k, sg in enumerate(zs.sg_outputs[:nr_comps]):  # for_each_sg(sgl, sg, nr_comps, k)
            j = k + i
            dst = zs.buffers[k]
            # unsigned int | int is unsigned int, assigned to the int dlen
            dlen = cint.s32(sg.length | cint.u32(err if errp == "&err" else err_sg))
            if dlen < 0:
                dlen = zs.page_size
                dst = folio.pages[start + j]  # kmap_local_page(folio_page(folio, start + j))
            handle = zs.zs_malloc(dlen)
            if handle < 0:  # IS_ERR_VALUE(handle)
                if handle == -ENOSPC:
                    zs.counters["reject_compress_poor"] += 1
                else:
                    zs.counters["reject_alloc_fail"] += 1
                return err_unlock()  # goto err_unlock
            zs.zpool.zs_obj_write(handle, bytes(dst[:dlen]))
            entries[j].handle = handle
            entries[j].length = dlen
            # kunmap_local(dst) for a page: nothing mapped in the model
    return True  # mutex_unlock()


@transcribes(V13_22, function="zswap_compress")
def compress_error(zs, nr_comps):
    """The `compress_error` label: one reject counter per entry whose `int`
    reading is negative (-ENOSPC: `compress_poor`, else `compress_fail`)."""
    for sg in zs.sg_outputs[:nr_comps]:  # for_each_sg(sgl, sg, nr_comps, k)
        if cint.s32(sg.length) < 0:
            if cint.s32(sg.length) == -ENOSPC:
                zs.counters["reject_compress_poor"] += 1
            else:
                zs.counters["reject_compress_fail"] += 1
    return err_unlock()  # falls through to err_unlock


@transcribes(V13_22, function="zswap_compress")
def err_unlock():
    """The `err_unlock` label: `mutex_unlock` (no lock in the model), false."""
    return False


@transcribes(V13_21 + "; the zswap_compress() call as " + V13_22 + " changes it")
def zswap_store_pages(zs, folio, start, end, memcg, wb_enabled):
    """Store the folio's pages `start` to `end - 1`: allocate their entries,
    compress them all, then put each in the tree and charge it; the first
    failure frees what this call holds and ends the folio.

    `memcg` stands for `objcg`, `zs` for `pool`; `nid` is dropped.  The
    model's allocator takes one entry at a time: `kmem_cache_alloc_bulk`
    (`zswap_entries_cache_alloc_batch`) is read as failing, so the fallback
    loop allocates (a failure there counts `reject_kmemcache_fail`, as in
    C).  The entries' initialisation loop is the model's allocator (an
    unset handle is 0, C's `ERR_PTR(-EINVAL)`; the swap offset) and
    `zs.charge_and_count` (pool, objcg, referenced)."""
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


@transcribes(V13_21, function="zswap_store_pages")
def store_pages_failed(zs, entries, store_fail_idx, nr_pages):
    """The `store_pages_failed` label: free the objects of the entries not in
    the tree (`zswap_store` frees those that are); the entries themselves go
    back to their cache (`zswap_entries_cache_free_batch`), which the model
    has no need of."""
    for i in range(store_fail_idx, nr_pages):
        if entries[i].handle:  # !IS_ERR_VALUE(entries[i]->handle)
            zs.zpool.zs_free(entries[i].handle)
    return False


@transcribes(V13_21)
def zswap_store(zs, folio, memcg, wb_enabled):
    """The batch loop of `zswap_store()`: batches of the compressor's batch
    size, or of ZSWAP_MAX_BATCH_SIZE for a software compressor.  The rest
    of `zswap_store()` is `Zswap.zswap_store`, which looks writeback up once
    for the folio and passes `wb_enabled` (read at the top of C's
    `zswap_store`: the same answer)."""
    nr_pages = folio.nr_pages
    store_batch_size = zs.compr_batch_size if zs.compr_batch_size > 1 else ZSWAP_MAX_BATCH_SIZE
    for start in range(0, nr_pages, store_batch_size):
        end = min(start + store_batch_size, nr_pages)
        if not zswap_store_pages(zs, folio, start, end, memcg, wb_enabled):
            return False  # goto put_pool (Zswap.zswap_store's)
    return True


VARIANT = Variant(
    name="v13",
    title="v13 22/22: errp indirection, dlen = sg->length | *errp",
    source='"[PATCH v13 22/22] mm: zswap: Batched zswap_compress() ...", 2025-11-04',
    crypto_layer=CRYPTO_LAYER,
    base_tree=BASE_TREE,
    order=1,
    store_pages=zswap_store,
    compr_batch_size=compr_batch_size,
    store_batch_size=store_batch_size,
    functions=(zswap_compress, compress_error, err_unlock, zswap_store_pages, store_pages_failed,
               zswap_store),
)

"""Mainline zswap's store path: one page per compression request.

The model's conventions, here and in every variant: `zs` stands for the
pool and its per-CPU acomp_ctx (one CPU: no `raw_cpu_ptr`, no mutex, no
RCU); a page is its bytes, and its swap offset and cgroup are passed along
where C derives them from the `struct page`; `memcg` stands for `objcg`.
"""

from __future__ import annotations

from zswap_spec.model.acomp import AcompReq, ScatterEntry, crypto_acomp_compress
from zswap_spec.model.cint import EINVAL, ENOSPC
from .registry import Variant, transcribes

__all__ = ["VARIANT", "zswap_compress", "unlock", "zswap_store_page", "zswap_store"]

TREE = "mm/zswap.c, damonitor/linux 9321810240ec (late 2025)"
CRYPTO_LAYER = "legacy"


@transcribes(TREE + "; computes what Linux 7.3.4's mm/zswap.c lines 842-924 compute, "
             "which take the acomp_ctx with raw_cpu_ptr and mutex_lock and hold "
             "rcu_read_lock around the writeback look-up")
def zswap_compress(zs, page, entry, memcg):
    """Compress one page into `zs.buffers[0]`; store it compressed, or as-is
    (PAGE_SIZE bytes, the page itself) when the request failed or its
    length is 0 or at least PAGE_SIZE and writeback is enabled for the
    page's cgroup, looked up here (commit dca4437a5861, "mm/zswap: store
    <PAGE_SIZE compression failed page as-is", SeongJae Park, v5
    2025-08-22; the one-page buffer: "mm/zswap: reduce the size of the
    compression buffer to a single page", Nhat Pham, 2025-08-20).

    `memcg` is `folio_memcg(page_folio(page))`, passed in."""
    comp_ret = 0
    alloc_ret = 0
    dlen = zs.page_size
    dst = zs.buffers[0]
    # sg_set_page(&input, page, PAGE_SIZE, 0); sg_init_one(&output, dst, PAGE_SIZE)
    output = ScatterEntry(dst, zs.page_size)
    # acomp_request_set_params(req, &input, &output, PAGE_SIZE, dlen)
    req = AcompReq(page, [output], dlen=dlen)
    comp_ret = crypto_acomp_compress(CRYPTO_LAYER, zs.alg, req)  # crypto_wait_req(...)
    dlen = req.dlen
    if comp_ret or not dlen or dlen >= zs.page_size:
        if not zs.writeback_enabled(memcg):
            comp_ret = comp_ret if comp_ret else -EINVAL
            return unlock(zs, comp_ret, alloc_ret)  # goto unlock
        comp_ret = 0
        dlen = zs.page_size
        dst = page  # kmap_local_page(page); mapped = true
    handle = zs.zs_malloc(dlen)
    if handle < 0:  # IS_ERR_VALUE(handle)
        alloc_ret = handle  # PTR_ERR((void *)handle)
        return unlock(zs, comp_ret, alloc_ret)  # goto unlock
    zs.zpool.zs_obj_write(handle, bytes(dst[:dlen]))
    entry.handle = handle
    entry.length = dlen
    return unlock(zs, comp_ret, alloc_ret)  # falls through to unlock


@transcribes(TREE + "; Linux 7.3.4 mm/zswap.c lines 912-923", function="zswap_compress")
def unlock(zs, comp_ret, alloc_ret):
    """The `unlock` label of `zswap_compress`: one reject counter, the first
    that matches; true only if neither the compression nor the allocation
    failed.  (Its `kunmap_local` and `mutex_unlock` have nothing to undo in
    the model.)"""
    if comp_ret == -ENOSPC or alloc_ret == -ENOSPC:
        zs.counters["reject_compress_poor"] += 1
    elif comp_ret:
        zs.counters["reject_compress_fail"] += 1
    elif alloc_ret:
        zs.counters["reject_alloc_fail"] += 1
    return comp_ret == 0 and alloc_ret == 0


@transcribes(TREE + "; the same in Linux 7.3.4 mm/zswap.c lines 1410-1488 but for "
             "zswap_lru_add()'s arguments")
def zswap_store_page(zs, page, offset, memcg):
    """Allocate an entry, compress the page into it, put it in the tree
    (freeing a stale entry found there), then charge and count it
    (`zs.charge_and_count`: `zswap_pool_get`, `obj_cgroup_charge_zswap`,
    the stored-pages counters, the entry's fields and `zswap_lru_add`).

    `offset` is `swp_offset(page_swap_entry(page))`, passed in; `memcg`
    stands for `objcg` and `zs` for `pool`."""
    entry = zs.entry_cache_alloc(offset)
    if entry is None:
        zs.counters["reject_kmemcache_fail"] += 1
        return False
    if not zswap_compress(zs, page, entry, memcg):
        return compress_failed(zs, entry)  # goto compress_failed
    ok, old = zs.xa_store(entry)
    if not ok:  # xa_is_err(old)
        zs.counters["reject_alloc_fail"] += 1
        return store_failed(zs, entry)  # goto store_failed
    if old is not None:
        zs.zswap_entry_free(old)
    zs.charge_and_count(entry, memcg)
    return True


@transcribes(TREE + "; Linux 7.3.4 mm/zswap.c lines 1483-1484", function="zswap_store_page")
def store_failed(zs, entry):
    """The `store_failed` label of `zswap_store_page`: free the object."""
    zs.zpool.zs_free(entry.handle)
    return compress_failed(zs, entry)  # falls through to compress_failed


@transcribes(TREE + "; Linux 7.3.4 mm/zswap.c lines 1485-1487", function="zswap_store_page")
def compress_failed(zs, entry):
    """The `compress_failed` label of `zswap_store_page`: the entry goes back
    to its cache (`zswap_entry_cache_free`), which the model has no need of."""
    return False


@transcribes(TREE + "; Linux 7.3.4 mm/zswap.c lines 1532-1538")
def zswap_store(zs, folio, memcg, wb_enabled):
    """The page loop of `zswap_store()`: each page of the folio in turn,
    the first failure ending the folio.  The rest of `zswap_store()` (the
    limits before, the events and the cleanup of a failed folio after) is
    `Zswap.zswap_store`.  `wb_enabled` is not read: mainline looks writeback
    up per page, in `zswap_compress`."""
    nr_pages = folio.nr_pages
    for index in range(nr_pages):
        page = folio.pages[index]  # folio_page(folio, index)
        if not zswap_store_page(zs, page, folio.offset + index, memcg):
            return False  # goto put_pool (Zswap.zswap_store's)
    return True


def compr_batch_size(alg, override=None) -> int:
    """One destination buffer, one page per request."""
    return 1


def store_batch_size(alg, compr_batch_size: int) -> int:
    """One page at a time."""
    return 1


VARIANT = Variant(
    name="mainline",
    title="mainline (7.x): per-page compress, dlen test, as-is storage",
    source=TREE,
    crypto_layer=CRYPTO_LAYER,
    base_tree="linux-7.3",  # the kernel `zswap-spec kernel-check` compares it with
    order=0,
    store_pages=zswap_store,
    compr_batch_size=compr_batch_size,
    store_batch_size=store_batch_size,
    functions=(zswap_compress, unlock, zswap_store_page, store_failed, compress_failed,
               zswap_store),
)

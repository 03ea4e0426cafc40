"""Mainline zswap: one page at a time.

Transcribes `zswap_store_page()` and `zswap_compress()` of mm/zswap.c,
damonitor/linux 9321810240ec (late 2025), which include commit dca4437a5861
("mm/zswap: store <PAGE_SIZE compression failed page as-is", SeongJae Park,
v5 2025-08-22) and the single-page destination buffer ("mm/zswap: reduce the
size of the compression buffer to a single page", Nhat Pham, 2025-08-20).

Its base tree is Linux 7.3 (`base_tree`), the kernel `zswap-spec
kernel-check` compares it with: Linux 7.3.4's `zswap_compress()` (mm/zswap.c
lines 842-924) computes what the late-2025 tree's does, line for line; the
two differ only in locking (7.3 takes the per-CPU context with
`raw_cpu_ptr` and `mutex_lock`, the late-2025 tree with its
`acomp_ctx_get_cpu_lock()` retry loop; 7.3 holds `rcu_read_lock()` around
the writeback look-up), which the model, on one CPU, does not have.
`zswap_store_page()` is the same in both.
"""

from __future__ import annotations

from zswap_spec.model.acomp import AcompReq, ScatterEntry, crypto_acomp_compress
from zswap_spec.model.cint import EINVAL
from .common import count_compress_result, store_bytes


class Mainline:
    name = "mainline"
    title = "mainline (7.x): per-page compress, dlen test, as-is storage"
    source = "mm/zswap.c, damonitor/linux 9321810240ec (late 2025)"
    crypto_layer = "legacy"
    base_tree = "linux-7.3"

    def compr_batch_size(self, alg, override=None) -> int:
        return 1

    def store_batch_size(self, alg, compr_batch_size: int) -> int:
        return 1

    def store_pages(self, zs, folio, memcg, wb_enabled) -> bool:
        for index, page in enumerate(folio.pages):
            if not self.zswap_store_page(zs, page, folio.offset + index, memcg):
                return False
        return True

    def zswap_store_page(self, zs, page: bytes, offset: int, memcg) -> bool:
        entry = zs.entry_cache_alloc(offset)
        if entry is None:
            zs.counters["reject_kmemcache_fail"] += 1
            return False
        if not self.zswap_compress(zs, page, entry, memcg):
            return False
        ok, old = zs.xa_store(entry)
        if not ok:
            zs.counters["reject_alloc_fail"] += 1
            zs.zpool.zs_free(entry.handle)
            return False
        if old is not None:
            zs.zswap_entry_free(old)
        zs.charge_and_count(entry, memcg)
        return True

    def zswap_compress(self, zs, page: bytes, entry, memcg) -> bool:
        page_size = zs.page_size
        buf = zs.buffers[0]
        req = AcompReq(page, [ScatterEntry(buf, page_size)], dlen=page_size)
        comp_ret = crypto_acomp_compress(self.crypto_layer, zs.alg, req)
        dlen = req.dlen  # unsigned int
        dst = buf
        alloc_ret = 0
        if comp_ret or not dlen or dlen >= page_size:
            # Writeback is looked up for this page's cgroup, here.
            if not zs.writeback_enabled(memcg):
                comp_ret = comp_ret if comp_ret else -EINVAL
                return count_compress_result(zs, comp_ret, alloc_ret)
            comp_ret = 0
            dlen = page_size
            dst = page
        handle = store_bytes(zs, entry, dlen, dst)
        if handle < 0:
            alloc_ret = handle
        return count_compress_result(zs, comp_ret, alloc_ret)

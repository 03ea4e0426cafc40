"""The batching series: zswap stores a large folio batch by batch.

`BatchedStore` transcribes `zswap_store()`'s batch loop and
`zswap_store_pages()` of "[PATCH v13 21/22] mm: zswap: zswap_store() will
process a large folio in batches" (Kanchana P Sridhar, 2025-11-04), which v14
25/26 keeps.  `V13` adds `zswap_compress()` of "[PATCH v13 22/22] mm: zswap:
Batched zswap_compress() with compress batching of large folios"
(2025-11-04); `V14` that of "[PATCH v14 26/26]" (2026-01-24).

Both sit on the series' base (`base_tree` "mm-late-2025"): the v13 cover
letter ("[PATCH v13 00/22] zswap compression batching with optimized
iaa_crypto driver", 2025-11-04) names mm-unstable of 2025-10-24, commit
813c0fa931ce; the model runs them with the zswap of damonitor/linux
9321810240ec (late 2025), whose `shrink_memcg` walks one entry.
"""

from __future__ import annotations

from zswap_spec.model.acomp import AcompReq, crypto_acomp_compress
from zswap_spec.model.cint import ENOSPC, s32, u32
from .common import ZSWAP_MAX_BATCH_SIZE, store_bytes


class BatchedStore:
    """zswap_store() and zswap_store_pages() of the batching series."""

    crypto_layer = "legacy"
    base_tree = "mm-late-2025"  # the series' base (module docstring)
    batch_everyone = False  # True: software compressors get batches too

    def compr_batch_size(self, alg, override=None) -> int:
        """`min(ZSWAP_MAX_BATCH_SIZE, crypto_acomp_batch_size(tfm))`."""
        limit = ZSWAP_MAX_BATCH_SIZE if override is None else max(1, min(override, ZSWAP_MAX_BATCH_SIZE))
        if alg.batching and alg.batch_size > 1:
            return min(limit, alg.batch_size)
        return limit if self.batch_everyone else 1

    def store_batch_size(self, alg, compr_batch_size: int) -> int:
        """Batching compressors: their batch; software ones: ZSWAP_MAX_BATCH_SIZE."""
        return compr_batch_size if compr_batch_size > 1 else ZSWAP_MAX_BATCH_SIZE

    def store_pages(self, zs, folio, memcg, wb_enabled) -> bool:
        nr_pages = folio.nr_pages
        step = zs.store_batch_size
        for start in range(0, nr_pages, step):
            end = min(start + step, nr_pages)
            if not self.zswap_store_pages(zs, folio, start, end, memcg, wb_enabled):
                return False
        return True

    def zswap_store_pages(self, zs, folio, start, end, memcg, wb_enabled) -> bool:
        nr_pages = end - start
        entries = []
        for i in range(nr_pages):
            entry = zs.entry_cache_alloc(folio.offset + start + i)
            if entry is None:
                zs.counters["reject_kmemcache_fail"] += 1
                return self._fail(zs, entries, 0)
            entries.append(entry)
        if not self.zswap_compress(zs, folio, start, nr_pages, entries, memcg, wb_enabled):
            return self._fail(zs, entries, 0)
        for i, entry in enumerate(entries):
            ok, old = zs.xa_store(entry)
            if not ok:
                zs.counters["reject_alloc_fail"] += 1
                return self._fail(zs, entries, i)
            if old is not None:
                zs.zswap_entry_free(old)
            zs.charge_and_count(entry, memcg)
        return True

    @staticmethod
    def _fail(zs, entries, first_not_inserted: int) -> bool:
        """Free the handles of the entries that did not reach the tree."""
        for entry in entries[first_not_inserted:]:
            if entry.handle:
                zs.zpool.zs_free(entry.handle)
                entry.handle = 0
        return False

    def compress_error(self, zs, sgl, nr_comps) -> bool:
        """The `compress_error` label: one counter per entry holding an errno."""
        for sg in sgl[:nr_comps]:
            value = s32(sg.length)
            if value < 0:
                if value == -ENOSPC:
                    zs.counters["reject_compress_poor"] += 1
                else:
                    zs.counters["reject_compress_fail"] += 1
        return False

    def store_entry(self, zs, entries, j, dlen, dst) -> bool:
        """`zs_malloc(dlen)`, map its failure to a counter, or fill `entries[j]`."""
        handle = store_bytes(zs, entries[j], dlen, dst)
        if handle < 0:
            if handle == -ENOSPC:
                zs.counters["reject_compress_poor"] += 1
            else:
                zs.counters["reject_alloc_fail"] += 1
            return False
        return True


class _PostedBatchedCompress(BatchedStore):
    """`zswap_compress()` as v13 22/22 and v14 26/26 both write it.

    The two patches differ in two lines only, the two hooks below: what
    happens to the first entry after the request, and how a unit's `dlen` is
    read.  Everything else — the early exit to `compress_error` on an error
    with writeback disabled, the as-is path for a negative `dlen`, the
    zs_malloc error mapping — is shared text.
    """

    def after_request(self, sgl, req) -> None:
        """What the patch does between the request and the per-entry loop."""

    def unit_dlen(self, sg, err: int, use_err: bool) -> int:
        """The `int dlen` the per-entry loop reads for one unit."""
        raise NotImplementedError

    def zswap_compress(self, zs, folio, start, nr_pages, entries, memcg, wb_enabled) -> bool:
        page_size = zs.page_size
        use_err = zs.compr_batch_size == 1  # a software compressor
        nr_comps = min(nr_pages, zs.compr_batch_size)
        slen = nr_comps * page_size
        sgl = zs.sg_outputs
        for i in range(0, nr_pages, nr_comps):
            src = b"".join(folio.pages[start + i:start + i + nr_comps])
            sgl[0].length = u32(slen)
            req = AcompReq(src, sgl[:nr_comps], dlen=slen, unit_size=page_size)
            err = crypto_acomp_compress(self.crypto_layer, zs.alg, req)
            self.after_request(sgl, req)
            if err and not wb_enabled:
                return self.compress_error(zs, sgl, nr_comps)
            for k in range(nr_comps):
                j = k + i
                dst = zs.buffers[k]
                dlen = self.unit_dlen(sgl[k], err, use_err)
                if dlen < 0:
                    dlen = page_size
                    dst = folio.pages[start + j]
                if not self.store_entry(zs, entries, j, dlen, dst):
                    return False
        return True


class V13(_PostedBatchedCompress):
    name = "v13"
    title = "v13 22/22: errp indirection, dlen = sg->length | *errp"
    source = '"[PATCH v13 22/22] mm: zswap: Batched zswap_compress() ...", 2025-11-04'

    def after_request(self, sgl, req) -> None:
        sgl[0].length = req.dlen  # how a software compressor's length reaches the entry

    def unit_dlen(self, sg, err, use_err) -> int:
        err_sg = 0  # never written
        errp = err if use_err else err_sg  # errp = &err for software, &err_sg for batching
        return s32(sg.length | u32(errp))  # unsigned | int is unsigned; assigned to int


class V14(_PostedBatchedCompress):
    name = "v14"
    title = "v14 26/26: dlen from each entry, segmentation wrapper for software"
    source = '"[PATCH v14 26/26] mm: zswap: Batched zswap_compress() ...", 2026-01-24'
    crypto_layer = "segmented"

    def unit_dlen(self, sg, err, use_err) -> int:
        return s32(sg.length)  # unsigned int assigned to int

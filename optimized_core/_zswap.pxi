# zswap_store's folio loop, load, invalidate and writeback; mirrors model/zswap.py.


cdef int load_page(zc_ctx *ctx, int alg, int page_size, const uint8_t *data, uint32_t length,
                   uint8_t *out) noexcept nogil:
    """An entry's bytes back to its page (a load's read-only part, any thread): 0, or -EIO
    when they do not decompress to a whole page.  An entry of PAGE_SIZE bytes is the page."""
    if length == <uint32_t>page_size:
        memcpy(out, data, page_size)
        return 0
    if zc_decompress(ctx, alg, data, length, out, page_size) == page_size:
        return 0
    return -EIO


cdef class _CoreZswap(_CoreVariants):
    cdef int zswap_store(self, const uint8_t *pages, int nr_pages, uint64_t offset, int memcg) noexcept nogil:
        """Store every page of a folio, or none of them."""
        cdef int ok = 0, wb, start, end, i
        cdef int64_t idx
        self.reached_pages = 0
        if not self.enabled:
            pass
        elif self.check_limits():
            pass
        else:
            self.reached_pages = 1
            wb = self.wb_enabled(memcg)
            ok = 1
            if self.variant == V_MAINLINE:
                for i in range(nr_pages):
                    if not self.mainline_store_page(pages + <size_t>i * self.page_size, offset + i, memcg):
                        ok = 0
                        break
            else:
                start = 0
                while start < nr_pages:
                    end = start + self.store_batch
                    if end > nr_pages:
                        end = nr_pages
                    if not self.store_pages_batch(pages, offset, start, end, memcg, wb):
                        ok = 0
                        break
                    start = end
            if ok:
                self.stats[memcg][S_ZSWPOUT] += nr_pages
                if memcg:
                    self.stats[0][S_ZSWPOUT] += nr_pages
                self.vm[1] += nr_pages
        if not ok:
            if self.pool_reached_full:
                self.shrink_queued = 1
            for i in range(nr_pages):
                idx = self.tree_pop(offset + i)
                if idx >= 0:
                    self.entry_free(idx)
        self.ctr[C_POOL_TOTAL_SIZE] = self.npool_pages * self.page_size
        return ok

    # ---- load, invalidate, writeback ---------------------------------------------------

    cdef int decompress_entry(self, int64_t idx, uint8_t *out) noexcept nogil:
        cdef Entry *e = &self.entries[idx]
        cdef const uint8_t *data = self.entry_data(idx)
        if data != NULL and load_page(self.ctxs[0], self.alg, self.page_size, data, e.length,
                                      out) == 0:
            return 0
        self.ctr[C_DECOMPRESS_FAIL] += 1
        return -EIO

    cdef void load_commit(self, uint64_t offset, int64_t idx) noexcept nogil:
        """A load's bookkeeping once its entry decompressed: count it, free the entry."""
        cdef int m = self.entries[idx].memcg
        self.stats[m][S_ZSWPIN] += 1
        if m:
            self.stats[0][S_ZSWPIN] += 1
        self.vm[0] += 1
        self.tree_pop(offset)
        self.entry_free(idx)
        self.ctr[C_POOL_TOTAL_SIZE] = self.npool_pages * self.page_size

    cdef int zswap_load(self, uint64_t offset, uint8_t *out) noexcept nogil:
        cdef int64_t idx = self.tree_get(offset)
        if idx < 0:
            return -ENOENT
        if self.decompress_entry(idx, out) != 0:
            return -EIO
        self.load_commit(offset, idx)
        return 0

    cdef void zswap_invalidate(self, uint64_t offset) noexcept nogil:
        cdef int64_t idx = self.tree_pop(offset)
        if idx >= 0:
            self.entry_free(idx)
            self.ctr[C_POOL_TOTAL_SIZE] = self.npool_pages * self.page_size

    cdef int writeback_entry(self, uint64_t offset, uint8_t *out) noexcept nogil:
        """The shrinker writing back this entry: `zswap_writeback_entry` and its count."""
        cdef int64_t idx = self.tree_get(offset)
        cdef int m
        if idx < 0:
            return -ENOENT
        m = self.entries[idx].memcg if self.entries[idx].charged else 0
        if not self.wb_enabled(m):
            return -ENOENT
        if self.decompress_entry(idx, out) != 0:
            self.ctr[C_REJECT_RECLAIM_FAIL] += 1
            return -EIO
        self.tree_pop(offset)
        self.stats[m][S_ZSWPWB] += 1
        if m:
            self.stats[0][S_ZSWPWB] += 1
        self.vm[2] += 1
        self.entry_free(idx)
        self.ctr[C_POOL_TOTAL_SIZE] = self.npool_pages * self.page_size
        self.ctr[C_WRITTEN_BACK_PAGES] += 1
        return 0

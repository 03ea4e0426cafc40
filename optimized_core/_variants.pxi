# The variants' store paths the core implements (pool/api.py's VARIANT_IDS): mainline's per-page
# store, the batching series' zswap_store_pages and zswap_compress (v13, v14), the review's
# proposals; its own code for the transcriptions in model/variants/ (mainline.py, v13.py, v14.py,
# explicit.py, uniform.py), held to them by the lockstep and conformance suites.  A variant not
# listed there is refused by name on the core.

cdef class _CoreVariants(_CoreAcomp):
    # ---- writing a page's bytes to zsmalloc ------------------------------------------

    cdef int64_t store_bytes(self, int64_t idx, uint32_t dlen, const uint8_t *data) noexcept nogil:
        """`zs_malloc(dlen)`, then write dlen bytes: the handle or -errno."""
        cdef int64_t handle = self.zs_malloc(dlen)
        if handle < 0:
            return handle
        if self.blob_of:
            blob_put(self.blob_of[idx])
            self.blob_of[idx] = self.blob_for(idx, dlen, data)
            if not self.blob_of[idx]:
                self.oom = 1
        elif not self.zs_links_only:
            memcpy(self.zs_ptr(handle), data, dlen)
        self.npool_bytes += dlen
        self.entries[idx].handle = <uint64_t>handle
        self.entries[idx].length = dlen
        return handle

    cdef Blob *blob_for(self, int64_t idx, uint32_t dlen, const uint8_t *data) noexcept nogil:
        """The blob that holds these bytes for entry idx (a pool sharing its bytes): the
        table's for its page when they are the page's compressed output or the page
        as-is, made now if no pool has stored them yet; else one of its own."""
        cdef Ahead *a = &self.ah
        cdef int64_t page
        cdef Blob **slot = NULL
        cdef const uint8_t *src
        if a.table and a.blob_c:
            page = <int64_t>(self.entries[idx].offset - a.first_offset)
            if 0 <= page < a.npages:
                src = a.base + <size_t>page * self.page_size
                if (a.tresult[page] >= 0 and dlen == <uint32_t>a.tresult[page]
                        and memcmp(data, a.tout + <size_t>page * a.slot_size, dlen) == 0):
                    slot = &a.blob_c[page]
                elif dlen == <uint32_t>self.page_size and (data == src or memcmp(data, src, dlen) == 0):
                    slot = &a.blob_r[page]
        if slot == NULL:
            return blob_new(data, dlen, 1)
        if slot[0] == NULL:
            slot[0] = arena_blob(a.arena, data, dlen, 2)  # the entry's and the table's
            return slot[0]
        zs_ref_add(&slot[0].refs, 1)
        return slot[0]

    # ---- counting ------------------------------------------------------------------

    cdef inline int64_t reject_sum(self) noexcept nogil:
        return (self.ctr[C_REJECT_ALLOC_FAIL] + self.ctr[C_REJECT_KMEMCACHE_FAIL]
                + self.ctr[C_REJECT_COMPRESS_FAIL] + self.ctr[C_REJECT_COMPRESS_POOR])

    cdef int count_result(self, int32_t comp_ret, int64_t alloc_ret) noexcept nogil:
        if comp_ret == -ENOSPC or alloc_ret == -ENOSPC:
            self.ctr[C_REJECT_COMPRESS_POOR] += 1
        elif comp_ret:
            self.ctr[C_REJECT_COMPRESS_FAIL] += 1
        elif alloc_ret:
            self.ctr[C_REJECT_ALLOC_FAIL] += 1
        return comp_ret == 0 and alloc_ret == 0

    cdef int store_entry(self, int64_t idx, uint32_t dlen, const uint8_t *dst) noexcept nogil:
        cdef int64_t handle = self.store_bytes(idx, dlen, dst)
        if handle < 0:
            if handle == -ENOSPC:
                self.ctr[C_REJECT_COMPRESS_POOR] += 1
            else:
                self.ctr[C_REJECT_ALLOC_FAIL] += 1
            return 0
        return 1

    # ---- the variants' store paths -------------------------------------------------

    cdef int mainline_store_page(self, const uint8_t *page, uint64_t offset, int memcg) noexcept nogil:
        """`zswap_store_page` and `zswap_compress` of mainline."""
        cdef int64_t idx = self.entry_alloc(offset)
        cdef int64_t old, handle, alloc_ret = 0
        cdef int ok
        cdef uint32_t req_dlen = self.page_size
        cdef uint32_t fresh_len = self.page_size
        cdef int32_t comp_ret
        cdef const uint8_t *dst = self.buffers
        if idx < 0:
            self.ctr[C_REJECT_KMEMCACHE_FAIL] += 1
            return 0
        if self.batching:
            comp_ret = self.batching_one(page, self.page_size, &req_dlen, &fresh_len)
        else:
            comp_ret = self.software_one(page, self.page_size, self.buffers, &req_dlen)
        if comp_ret or not req_dlen or req_dlen >= <uint32_t>self.page_size:
            if not self.wb_enabled(memcg):
                self.count_result(comp_ret if comp_ret else -EINVAL, 0)
                self.entry_release(idx)
                return 0
            comp_ret = 0
            req_dlen = self.page_size
            dst = page
        handle = self.store_bytes(idx, req_dlen, dst)
        if handle < 0:
            alloc_ret = handle
        if not self.count_result(comp_ret, alloc_ret):
            self.entry_release(idx)
            return 0
        old = self.xa_store(idx, &ok)
        if not ok:
            self.ctr[C_REJECT_ALLOC_FAIL] += 1
            self.zs_free(self.entries[idx].handle, self.entries[idx].length)
            self.entry_release(idx)
            return 0
        if old >= 0:
            self.entry_free(old)
        self.charge_and_count(idx, memcg)
        return 1

    cdef int posted_compress(self, const uint8_t *pages, int start, int nr_pages, int64_t *idx,
                             int memcg, int wb) noexcept nogil:
        """`zswap_compress()` of v13 22/22 and v14 26/26 (two hooks differ)."""
        cdef int use_err = self.compr_batch == 1
        cdef int nr_comps = nr_pages if nr_pages < self.compr_batch else self.compr_batch
        cdef uint32_t slen = nr_comps * self.page_size
        cdef uint32_t req_dlen
        cdef int32_t err, dlen, m
        cdef int i, k, j
        cdef const uint8_t *dst
        i = 0
        while i < nr_pages:
            self.sg_len[0] = slen
            req_dlen = slen
            err = self.acomp_compress(pages + <size_t>(start + i) * self.page_size, slen,
                                      self.page_size, nr_comps, &req_dlen)
            if self.variant == V_V13:
                self.sg_len[0] = req_dlen
            if err and not wb:
                for k in range(nr_comps):  # the compress_error label
                    m = s32(self.sg_len[k])
                    if m < 0:
                        if m == -ENOSPC:
                            self.ctr[C_REJECT_COMPRESS_POOR] += 1
                        else:
                            self.ctr[C_REJECT_COMPRESS_FAIL] += 1
                return 0
            for k in range(nr_comps):
                j = k + i
                dst = self.buffers + <size_t>k * self.page_size
                if self.variant == V_V13:
                    # errp points at err for software, at a never-written 0 for batching
                    dlen = s32(self.sg_len[k] | <uint32_t>(err if use_err else 0))
                else:
                    dlen = s32(self.sg_len[k])
                if dlen < 0:
                    dlen = self.page_size
                    dst = pages + <size_t>(start + j) * self.page_size
                if not self.store_entry(idx[j], <uint32_t>dlen, dst):
                    return 0
            i += nr_comps
        return 1

    cdef int per_page_compress(self, const uint8_t *pages, int start, int nr_pages, int64_t *idx,
                               int memcg) noexcept nogil:
        """The review's proposals: mainline's per-page test on every unit."""
        cdef int nr_comps = nr_pages if nr_pages < self.compr_batch else self.compr_batch
        cdef int i = 0, n, k
        cdef uint32_t req_dlen, dlen
        cdef int32_t err, comp_ret, v
        cdef int64_t handle, alloc_ret
        cdef const uint8_t *dst
        while i < nr_pages:
            n = nr_comps if nr_comps < nr_pages - i else nr_pages - i
            for k in range(n):
                self.sg_len[k] = self.page_size
            req_dlen = n * self.page_size
            err = self.acomp_compress(pages + <size_t>(start + i) * self.page_size,
                                      n * self.page_size, self.page_size, n, &req_dlen)
            for k in range(n):
                if self.variant == V_EXPLICIT and self.compr_batch == 1:
                    comp_ret = err
                    dlen = req_dlen
                else:
                    v = s32(self.sg_len[k])
                    if v < 0:
                        comp_ret = v
                        dlen = 0
                    else:
                        comp_ret = 0
                        dlen = self.sg_len[k]
                dst = self.buffers + <size_t>k * self.page_size
                alloc_ret = 0
                if comp_ret or not dlen or dlen >= <uint32_t>self.page_size:
                    if not self.wb_enabled(memcg):
                        self.count_result(comp_ret if comp_ret else -EINVAL, 0)
                        return 0
                    comp_ret = 0
                    dlen = self.page_size
                    dst = pages + <size_t>(start + i + k) * self.page_size
                handle = self.store_bytes(idx[i + k], dlen, dst)
                if handle < 0:
                    alloc_ret = handle
                if not self.count_result(comp_ret, alloc_ret):
                    return 0
            i += n
        return 1

    cdef void fail_entries(self, int64_t *idx, int first, int n) noexcept nogil:
        """Free the handles of the entries that did not reach the tree."""
        cdef int k
        for k in range(first, n):
            if self.entries[idx[k]].handle:
                self.zs_free(self.entries[idx[k]].handle, self.entries[idx[k]].length)
                self.entries[idx[k]].handle = 0
            self.entry_release(idx[k])

    cdef int store_pages_batch(self, const uint8_t *pages, uint64_t offset, int start, int end,
                               int memcg, int wb) noexcept nogil:
        """`zswap_store_pages()` of the batching series."""
        cdef int n = end - start
        cdef int64_t idx[64]
        cdef int i, ok_compress, ok
        cdef int64_t old
        for i in range(n):
            idx[i] = self.entry_alloc(offset + start + i)
            if idx[i] < 0:
                self.ctr[C_REJECT_KMEMCACHE_FAIL] += 1
                self.fail_entries(idx, 0, i)
                return 0
        if self.variant == V_V13 or self.variant == V_V14:
            ok_compress = self.posted_compress(pages, start, n, idx, memcg, wb)
        else:
            ok_compress = self.per_page_compress(pages, start, n, idx, memcg)
        if not ok_compress:
            self.fail_entries(idx, 0, n)
            return 0
        for i in range(n):
            old = self.xa_store(idx[i], &ok)
            if not ok:
                self.ctr[C_REJECT_ALLOC_FAIL] += 1
                self.fail_entries(idx, i, n)
                return 0
            if old >= 0:
                self.entry_free(old)
            self.charge_and_count(idx[i], memcg)
        return 1

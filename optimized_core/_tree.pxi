# The tree of entries by swap offset, the zswap_entry cache, their memcg charge, the pool limits
# and the writeback switch; mirrors model/zswap.py (Zswap's tree and entries) and model/memcg.py.

cdef class _CoreTree(_CoreZsmalloc):
    # ---- the tree ------------------------------------------------------------

    cdef inline int64_t tree_get(self, uint64_t offset) noexcept nogil:
        cdef uint64_t chunk = offset >> CHUNK_BITS
        if chunk >= <uint64_t>self.nchunks or not self.chunks[chunk]:
            return -1
        return <int64_t>self.chunks[chunk][offset & ((1 << CHUNK_BITS) - 1)] - 1

    cdef int tree_set(self, uint64_t offset, int64_t idx) noexcept nogil:
        cdef uint64_t chunk = offset >> CHUNK_BITS
        cdef int64_t n
        cdef uint32_t **grown
        if chunk >= <uint64_t>self.nchunks:
            n = max(<int64_t>chunk + 1, self.nchunks * 2)
            grown = <uint32_t **>realloc(self.chunks, n * sizeof(uint32_t *))
            if not grown:
                self.oom = 1
                return -1
            memset(grown + self.nchunks, 0, (n - self.nchunks) * sizeof(uint32_t *))
            self.chunks = grown
            self.nchunks = n
        if not self.chunks[chunk]:
            self.chunks[chunk] = <uint32_t *>calloc(1 << CHUNK_BITS, sizeof(uint32_t))
            if not self.chunks[chunk]:
                self.oom = 1
                return -1
        self.chunks[chunk][offset & ((1 << CHUNK_BITS) - 1)] = <uint32_t>(idx + 1)
        return 0

    # ---- entries -------------------------------------------------------------

    cdef int64_t entry_alloc(self, uint64_t offset) noexcept nogil:
        """`zswap_entry_cache_alloc`: an entry index, or -1 (injected failure)."""
        cdef int64_t idx, cap
        cdef Entry *grown
        if self.kmemcache_fail_next:
            self.kmemcache_fail_next -= 1
            return -1
        if self.free_entry >= 0:
            idx = self.free_entry
            self.free_entry = <int64_t>self.entries[idx].handle
        else:
            if self.nentries == self.cap_entries:
                # grow by an eighth (at least 256 records): little slack per entry
                cap = self.cap_entries + max(256, self.cap_entries // 8)
                grown = <Entry *>realloc(self.entries, cap * sizeof(Entry))
                if not grown:
                    self.oom = 1
                    return -1
                self.entries = grown
                if self.blob_of and not self.grow_blob_of(cap):
                    self.oom = 1
                    return -1
                self.cap_entries = cap
            idx = self.nentries
            self.nentries += 1
        self.entries[idx].offset = offset
        self.entries[idx].handle = 0
        self.entries[idx].length = 0
        self.entries[idx].memcg = 0
        self.entries[idx].charged = 0
        self.nlive_entries += 1
        return idx

    cdef int grow_blob_of(self, int64_t cap) noexcept nogil:
        cdef Blob **grown = <Blob **>realloc(self.blob_of, cap * sizeof(Blob *))
        if not grown:
            return 0
        memset(grown + self.nentries, 0, (cap - self.nentries) * sizeof(Blob *))
        self.blob_of = grown
        return 1

    cdef void entry_release(self, int64_t idx) noexcept nogil:
        if self.blob_of:
            blob_put(self.blob_of[idx])
            self.blob_of[idx] = NULL
        self.entries[idx].handle = <uint64_t>self.free_entry
        self.entries[idx].charged = 0
        self.free_entry = idx
        self.nlive_entries -= 1

    cdef void charge_and_count(self, int64_t idx, int memcg) noexcept nogil:
        cdef Entry *e = &self.entries[idx]
        cdef int incomp = e.length == <uint32_t>self.page_size
        e.memcg = memcg
        e.charged = 1
        self.stats[memcg][S_ZSWAP] += e.length
        self.stats[memcg][S_ZSWAPPED] += 1
        self.stats[memcg][S_INCOMP] += incomp
        if memcg:
            self.stats[0][S_ZSWAP] += e.length
            self.stats[0][S_ZSWAPPED] += 1
            self.stats[0][S_INCOMP] += incomp
        self.ctr[C_STORED_PAGES] += 1
        self.ctr[C_STORED_INCOMP] += incomp

    cdef void entry_free(self, int64_t idx) noexcept nogil:
        """`zswap_entry_free`: uncharge, free the object, release the entry."""
        cdef Entry *e = &self.entries[idx]
        cdef int incomp = e.length == <uint32_t>self.page_size
        cdef int m = e.memcg
        if e.charged:
            self.stats[m][S_ZSWAP] -= e.length
            self.stats[m][S_ZSWAPPED] -= 1
            self.stats[m][S_INCOMP] -= incomp
            if m:
                self.stats[0][S_ZSWAP] -= e.length
                self.stats[0][S_ZSWAPPED] -= 1
                self.stats[0][S_INCOMP] -= incomp
            self.ctr[C_STORED_PAGES] -= 1
            self.ctr[C_STORED_INCOMP] -= incomp
        if e.handle:
            self.zs_free(e.handle, e.length)
        self.entry_release(idx)

    cdef int64_t xa_store(self, int64_t idx, int *ok) noexcept nogil:
        """Insert into the tree: the replaced entry's index, or -1."""
        cdef int64_t old
        if self.xa_fail_next:
            self.xa_fail_next -= 1
            ok[0] = 0
            return -1
        old = self.tree_get(self.entries[idx].offset)
        if self.tree_set(self.entries[idx].offset, idx) != 0:
            ok[0] = 0
            return -1
        ok[0] = 1
        return old

    cdef int64_t tree_pop(self, uint64_t offset) noexcept nogil:
        cdef int64_t idx = self.tree_get(offset)
        if idx >= 0:
            self.chunks[offset >> CHUNK_BITS][offset & ((1 << CHUNK_BITS) - 1)] = 0
        return idx

    # ---- limits, writeback switch ------------------------------------------------

    cdef int check_limits(self) noexcept nogil:
        cdef int64_t cur = self.npool_pages
        cdef int64_t max_pages = self.total_ram_pages * self.max_pool_percent // 100
        if cur >= max_pages:
            self.ctr[C_POOL_LIMIT_HIT] += 1
            self.pool_reached_full = 1
        elif self.pool_reached_full and cur <= max_pages * self.accept_pct // 100:
            self.pool_reached_full = 0
        return self.pool_reached_full

    cdef inline int wb_enabled(self, int memcg) noexcept nogil:
        if not self.enabled:
            return 1
        return self.cg_wb[memcg] and self.cg_wb[0]

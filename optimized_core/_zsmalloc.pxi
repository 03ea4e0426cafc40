# zsmalloc: size classes, zspages, handles, zs_malloc and zs_free; mirrors model/zsmalloc.py.

cdef class _CoreZsmalloc(_CoreState):
    # ---- zsmalloc --------------------------------------------------------------
    # A pool that keeps sizes only (Core.keep_sizes_only) or keeps its bytes in blobs
    # (Core.share_bytes) gives each zspage room for its free-slot links alone (4 bytes a
    # slot): the same handles, classes and page counts.

    cdef inline size_t zspage_bytes(self, SizeClass *cls) noexcept nogil:
        if self.zs_links_only:
            return cls.objs * sizeof(int32_t)
        return cls.pages * <size_t>self.page_size

    cdef inline uint8_t *slot_link(self, Zspage *zp, SizeClass *cls, int32_t slot) noexcept nogil:
        """Where a free slot keeps the next free slot: its first 4 bytes."""
        return zp.mem + <size_t>slot * (sizeof(int32_t) if self.zs_links_only else cls.size)

    cdef void refile(self, SizeClass *cls, Zspage *zp) noexcept nogil:
        cdef int group
        if zp.inuse == <int32_t>cls.objs:
            group = RATIO_FULL
        else:
            group = 100 * zp.inuse // <int32_t>cls.objs // 10 + 1
        if group != zp.fullness:
            self.clock += 1
            zp.fullness = group
            zp.stamp = self.clock

    cdef int partial_add(self, SizeClass *cls, int64_t zid) noexcept nogil:
        cdef int32_t *grown
        if cls.npartial == cls.cap_partial:
            cls.cap_partial = max(8, cls.cap_partial * 2)
            grown = <int32_t *>realloc(cls.partial, cls.cap_partial * sizeof(int32_t))
            if not grown:
                self.oom = 1
                return -1
            cls.partial = grown
        cls.partial[cls.npartial] = <int32_t>zid
        self.zspages[zid].partial_pos = cls.npartial
        cls.npartial += 1
        return 0

    cdef void partial_remove(self, SizeClass *cls, int64_t zid) noexcept nogil:
        cdef int32_t pos = self.zspages[zid].partial_pos
        cdef int32_t last = cls.partial[cls.npartial - 1]
        cls.partial[pos] = last
        self.zspages[last].partial_pos = pos
        cls.npartial -= 1
        self.zspages[zid].partial_pos = -1

    cdef int keep_spare(self, SizeClass *cls, uint8_t *mem) noexcept nogil:
        """Keep a freed zspage's memory for the next zspage of its class (no
        page faults, no allocator churn), within SPARE_BYTES."""
        cdef int64_t size = self.zspage_bytes(cls)
        cdef uint8_t **grown
        if self.spare_bytes + size > SPARE_BYTES:
            return 0
        if cls.nspare == cls.cap_spare:
            grown = <uint8_t **>realloc(cls.spare, max(16, cls.cap_spare * 2) * sizeof(uint8_t *))
            if not grown:
                return 0
            cls.spare = grown
            cls.cap_spare = max(16, cls.cap_spare * 2)
        cls.spare[cls.nspare] = mem
        cls.nspare += 1
        self.spare_bytes += size
        return 1

    cdef int64_t zspage_new(self, int32_t c) noexcept nogil:
        cdef int64_t zid
        cdef Zspage *grown
        if self.free_zspage >= 0:
            zid = self.free_zspage
            self.free_zspage = self.zspages[zid].free_head
        else:
            if self.nzspages == self.cap_zspages:
                self.cap_zspages = max(256, self.cap_zspages * 2)
                grown = <Zspage *>realloc(self.zspages, self.cap_zspages * sizeof(Zspage))
                if not grown:
                    self.oom = 1
                    return -1
                self.zspages = grown
            zid = self.nzspages
            self.nzspages += 1
        if self.classes[c].nspare:
            self.classes[c].nspare -= 1
            self.zspages[zid].mem = self.classes[c].spare[self.classes[c].nspare]
            self.spare_bytes -= self.zspage_bytes(&self.classes[c])
        else:
            self.zspages[zid].mem = <uint8_t *>malloc(self.zspage_bytes(&self.classes[c]))
        if not self.zspages[zid].mem:
            self.oom = 1
            return -1
        self.zspages[zid].cls = c
        self.zspages[zid].inuse = 0
        self.zspages[zid].fullness = 0
        self.zspages[zid].stamp = 0
        self.zspages[zid].free_head = -1
        self.zspages[zid].bump = 0
        self.zspages[zid].partial_pos = -1
        return zid

    cdef int64_t zs_malloc(self, uint32_t size) noexcept nogil:
        """A handle (> 0) or -errno, as the model's ZsPool.zs_malloc."""
        cdef int64_t idx, zid, best
        cdef int32_t c, slot, i
        cdef SizeClass *cls
        cdef Zspage *zp
        cdef int32_t err
        if size == 0 or size > <uint32_t>self.page_size:
            if self.nbad_pending < 64:
                self.bad_pending[self.nbad_pending] = size
                self.nbad_pending += 1
            return -EINVAL if size == 0 else -ENOSPC
        if self.malloc_fail_pos < self.nmalloc_fail:
            err = self.malloc_fail[self.malloc_fail_pos]
            self.malloc_fail_pos += 1
            if err:
                return err if err < 0 else -ENOMEM
        if size + ZS_HANDLE_SIZE <= ZS_MIN_ALLOC_SIZE:
            idx = 0
        else:
            idx = (size + ZS_HANDLE_SIZE - ZS_MIN_ALLOC_SIZE + self.delta - 1) // self.delta
        if idx > self.nindex - 1:
            idx = self.nindex - 1
        c = self.class_of_index[idx]
        cls = &self.classes[c]
        if cls.npartial:
            best = cls.partial[0]
            for i in range(1, cls.npartial):
                zp = &self.zspages[cls.partial[i]]
                if zp.fullness > self.zspages[best].fullness or (
                        zp.fullness == self.zspages[best].fullness and zp.stamp > self.zspages[best].stamp):
                    best = cls.partial[i]
            zid = best
        else:
            zid = self.zspage_new(c)
            if zid < 0:
                return -ENOMEM
            if self.partial_add(cls, zid) != 0:
                return -ENOMEM
            self.npool_pages += cls.pages
        zp = &self.zspages[zid]
        zp.inuse += 1
        self.refile(cls, zp)
        if zp.fullness == RATIO_FULL:
            self.partial_remove(cls, zid)
        if zp.free_head >= 0:
            slot = zp.free_head
            memcpy(&zp.free_head, self.slot_link(zp, cls, slot), sizeof(int32_t))
        else:
            slot = zp.bump
            zp.bump += 1
        self.nlive_objects += 1
        return ((zid + 1) << 16) | slot

    cdef inline uint8_t *zs_ptr(self, uint64_t handle) noexcept nogil:
        cdef Zspage *zp = &self.zspages[(handle >> 16) - 1]
        return zp.mem + <size_t>(handle & 0xffff) * self.classes[zp.cls].size

    cdef inline const uint8_t *entry_data(self, int64_t idx) noexcept nogil:
        """Where entry idx's bytes are (NULL: none): its blob in a pool sharing its bytes,
        else its zsmalloc object."""
        if self.blob_of:
            return blob_bytes(self.blob_of[idx]) if self.blob_of[idx] else NULL
        if self.entries[idx].handle == 0:
            return NULL
        return self.zs_ptr(self.entries[idx].handle)

    cdef void zs_free(self, uint64_t handle, uint32_t length) noexcept nogil:
        cdef int64_t zid = <int64_t>(handle >> 16) - 1
        cdef int32_t slot = <int32_t>(handle & 0xffff)
        cdef Zspage *zp = &self.zspages[zid]
        cdef SizeClass *cls = &self.classes[zp.cls]
        cdef int was_full = zp.fullness == RATIO_FULL
        self.npool_bytes -= length
        self.nlive_objects -= 1
        zp.inuse -= 1
        if zp.inuse == 0:
            if not was_full:
                self.partial_remove(cls, zid)
            self.npool_pages -= cls.pages
            if not self.keep_spare(cls, zp.mem):
                free(zp.mem)
            zp.mem = NULL
            zp.cls = -1
            zp.free_head = <int32_t>self.free_zspage
            self.free_zspage = zid
            return
        memcpy(self.slot_link(zp, cls, slot), &zp.free_head, sizeof(int32_t))
        zp.free_head = slot
        self.refile(cls, zp)
        if was_full:
            self.partial_add(cls, zid)

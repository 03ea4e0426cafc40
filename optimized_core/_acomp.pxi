# The crypto layers (legacy, segmented, uniform) over software and batching algorithms, with the
# wrappers' conventions and compress-ahead; mirrors model/acomp.py and model/compressors.py.

cdef class _CoreAcomp(_CoreFaults):
    # ---- the compressors behind the crypto layers --------------------------------

    cdef void prepare(self, int k, const uint8_t *src, uint32_t srclen, uint8_t *dst, uint32_t cap,
                      int fault) noexcept nogil:
        cdef Unit *u = &self.batch.units[k]
        u.src = src
        u.srclen = srclen
        u.dst = dst
        u.cap = cap
        u.scratch = self.scratch + k * self.scratch_size
        u.raw = self.batching or fault != F_NONE
        u.direct = not self.faults_mode
        u.result = -1

    cdef void run(self, int n) noexcept nogil:
        cdef int k
        if self.ah.on:
            for k in range(n):
                if not self.ahead_take(&self.batch.units[k]):
                    unit_task(&self.batch, k, 0)
        elif self.threads > 1 and n > 1:
            zc_workers_run(self.workers, n, unit_task, &self.batch)
        else:
            for k in range(n):
                unit_task(&self.batch, k, 0)

    # ---- compress-ahead ------------------------------------------------------------
    # Compressing a page with a real compressor is a pure function of the page,
    # so while the main thread runs a store's sequential part the workers
    # compress the pages that come next; the main thread takes a result when
    # the store asks for that page's compression (or compresses it itself).
    # Only without armed faults, whose order the sequential part decides.

    cdef int ahead_begin(self, const uint8_t *base, int64_t npages, int folio_pages,
                         int zeromap) noexcept nogil:
        cdef Ahead *a = &self.ah
        cdef int64_t f, j, n, pos = 0
        cdef const uint8_t *p
        if self.threads < 2 or self.faults_mode or npages < 2:
            return 0
        if not a.out:
            a.slot_size = self.scratch_size
            a.out = <uint8_t *>malloc(AHEAD_RING * a.slot_size)
            if not a.out:
                return 0
        a.seq = <int32_t *>malloc(npages * sizeof(int32_t))
        a.pos = <int32_t *>malloc(npages * sizeof(int32_t))
        if not a.seq or not a.pos:
            free(a.seq)
            free(a.pos)
            a.seq = a.pos = NULL
            return 0
        f = 0
        while f < npages:
            n = folio_pages if folio_pages < npages - f else npages - f
            p = base + f * self.page_size
            if zeromap and p[0] == 0 and memcmp(p, p + 1, n * self.page_size - 1) == 0:
                for j in range(n):
                    a.pos[f + j] = -1
            else:
                for j in range(n):
                    a.seq[pos] = <int32_t>(f + j)
                    a.pos[f + j] = <int32_t>pos
                    pos += 1
            f += n
        for j in range(AHEAD_RING):
            a.done[j] = 0
        a.alg = self.alg
        a.batching = self.batching
        a.page_size = self.page_size
        a.ctx = self.ctxs
        a.base = base
        a.npages = npages
        a.length = pos
        a.next = 0
        a.consumed = 0
        a.stop = 0
        a.on = 1
        zc_workers_start(self.workers, self.threads - 1, ahead_task, a)
        return 1

    cdef void table_begin(self, const long *result, const uint8_t *out, Blob **blob_c,
                          Blob **blob_r, Arena *arena, const uint8_t *base, int64_t npages,
                          uint64_t first_offset) noexcept nogil:
        """Take every unit's phase 1 from a shared table (see _shared.pxi) for this store_run."""
        cdef Ahead *a = &self.ah
        a.table = 1
        a.tresult = result
        a.tout = out
        a.blob_c = blob_c
        a.blob_r = blob_r
        a.arena = arena
        a.first_offset = first_offset
        a.slot_size = self.scratch_size
        a.base = base
        a.npages = npages
        a.on = 1

    cdef void ahead_end(self) noexcept nogil:
        if not self.ah.on:
            return
        if self.ah.table:
            self.ah.on = 0
            self.ah.table = 0
            self.ah.blob_c = self.ah.blob_r = NULL
            self.ah.arena = NULL
            self.ah.slot_size = self.scratch_size
            return
        zs_store64(&self.ah.stop, 1)
        zc_workers_wait(self.workers, self.threads - 1)
        self.ah.on = 0
        free(self.ah.seq)
        free(self.ah.pos)
        self.ah.seq = self.ah.pos = NULL

    cdef int ahead_take(self, Unit *u) noexcept nogil:
        """Phase 1 of a unit from the results computed ahead; 0 if not covered."""
        cdef Ahead *a = &self.ah
        cdef int64_t off, pos, p
        cdef int slot, spins = 0
        cdef long n
        if u.src < a.base or u.srclen != <uint32_t>self.page_size:
            return 0
        off = u.src - a.base
        if off % self.page_size or off // self.page_size >= a.npages:
            return 0
        if self.batching:
            if not u.raw:
                return 0
        elif u.raw or not u.direct or u.cap != <uint32_t>self.page_size:
            return 0
        if a.table:
            pos = off // self.page_size
            n = a.tresult[pos]
            if n == NOT_COMPRESSED:
                return 0
            if n >= 0:
                memcpy(u.scratch if self.batching else u.dst, a.tout + pos * a.slot_size, n)
            u.result = n
            return 1
        pos = a.pos[off // self.page_size]
        if pos < 0 or pos < zs_load64(&a.consumed):
            return 0
        if pos >= zs_load64(&a.consumed) + AHEAD_RING:
            # A whole ring of positions skipped (folios rejected before their pages were
            # compressed): nobody may claim this one, so waiting would never end; compute
            # it here (and so each page after it in this store_run).
            return 0
        slot = pos % AHEAD_RING
        while zs_load64(&a.done[slot]) != pos + 1:
            if ahead_claim(a, &p) == 1:
                # rather than wait, compress the next page nobody has taken
                ahead_produce(a, p, 0)
                continue
            zs_backoff(&spins)
        n = a.result[slot]
        if n >= 0:
            memcpy(u.scratch if self.batching else u.dst, a.out + slot * a.slot_size, n)
        u.result = n
        zs_store64(&a.consumed, pos + 1)
        return 1

    cdef int software_result(self, int k, int fault, int32_t *ret, uint32_t *dlen) noexcept nogil:
        """After phase 1: the software wrapper's (ret, dlen) for unit k, faults applied."""
        cdef Unit *u = &self.batch.units[k]
        cdef long n = u.result
        cdef int fits = n >= 0 and (n < <long>u.cap or (n == <long>u.cap and self.exact_ok))
        cdef int32_t value
        cdef int32_t real_ret = 0 if fits else self.fail_ret
        cdef uint32_t real_dlen = <uint32_t>n if fits else (u.cap if self.fail_dlen_cap else 0)
        if fault == F_NONE:
            ret[0] = real_ret
            dlen[0] = real_dlen
            return 0
        # a fault: the unlimited output is in scratch, the real result as above
        value = self.fault_unit(fault, u, real_ret if real_ret else <int32_t>real_dlen, 0)
        if value < 0:
            ret[0] = value
            dlen[0] = 100 if fault == F_STALE else real_dlen
        else:
            ret[0] = 0
            dlen[0] = <uint32_t>value
        return 0

    cdef int32_t batching_result(self, int k, int fault) noexcept nogil:
        """After phase 1: a batching driver's unit value (length or -errno), data in dst."""
        cdef Unit *u = &self.batch.units[k]
        cdef long n = u.result
        cdef int fits = n >= 0 and n <= <long>u.cap
        cdef int32_t value = <int32_t>n if fits else -E2BIG
        if own_result(fault):
            return value
        return self.fault_unit(fault, u, value, fits)

    cdef int32_t software_one(self, const uint8_t *src, uint32_t slen, uint8_t *buf,
                              uint32_t *req_dlen) noexcept nogil:
        """scomp: the whole source into the first entry; sets req->dlen."""
        cdef int fault = self.take_fault()
        cdef uint32_t cap = req_dlen[0]
        cdef int32_t ret
        cdef uint32_t dlen
        if cap > <uint32_t>self.page_size:
            cap = self.page_size
        self.prepare(0, src, slen, buf, cap, fault)
        self.run(1)
        self.software_result(0, fault, &ret, &dlen)
        req_dlen[0] = dlen
        return ret

    cdef int32_t batching_one(self, const uint8_t *src, uint32_t slen, uint32_t *req_dlen,
                              uint32_t *sg_len) noexcept nogil:
        """A batching driver given one unit: `ret ?: dlen` into the entry and req->dlen."""
        cdef int fault = self.take_fault()
        cdef uint32_t cap = req_dlen[0]
        cdef int32_t value
        if cap > <uint32_t>self.page_size:
            cap = self.page_size
        self.prepare(0, src, slen, self.buffers, cap, fault)
        self.run(1)
        value = self.batching_result(0, fault)
        if value >= 0 and own_result(fault):
            memcpy(self.buffers, self.batch.units[0].scratch, value)
        sg_len[0] = <uint32_t>value
        req_dlen[0] = <uint32_t>value
        return value if value < 0 else 0

    cdef int32_t compress_batch(self, const uint8_t *src, uint32_t slen, uint32_t unit_size,
                                int ndst, uint32_t *req_dlen) noexcept nogil:
        """The batching driver's batch path over the persistent SG entries."""
        cdef int n, k, fault
        cdef uint32_t unit = unit_size if unit_size else slen
        cdef int faults[MAX_UNITS]
        cdef uint32_t stale[MAX_UNITS]
        cdef int32_t value, forced = 1
        cdef int failed = 0
        n = <int>(slen // unit_size) if unit_size else 1
        if not self.faults_mode:
            if n < 1 or n > self.alg_batch_size or n > ndst:
                return -EINVAL
        if n > MAX_UNITS:
            n = MAX_UNITS
        for k in range(n):
            stale[k] = self.sg_len[k]
            if not self.faults_mode:
                self.sg_len[k] = self.page_size
            faults[k] = self.take_fault()
            self.prepare(k, src + <size_t>k * unit, unit, self.buffers + <size_t>k * self.page_size,
                         self.page_size, faults[k])
        self.run(n)
        for k in range(n):
            fault = faults[k]
            value = self.batching_result(k, fault)
            if fault == F_UNWRITTEN:
                self.sg_len[k] = stale[k]
                continue
            if fault == F_ALL_VALID:
                forced = -EINVAL
            elif fault == F_NEG_RET0:
                value = -E2BIG
                forced = 0
            elif fault == F_PARTIAL:
                value = -E2BIG
            if value < 0:
                failed = 1
            elif fault == F_NONE or fault == F_ALL_VALID:
                memcpy(self.batch.units[k].dst, self.batch.units[k].scratch, value)
            self.sg_len[k] = <uint32_t>value
        req_dlen[0] = self.sg_len[0]
        if forced != 1:
            return forced
        return -EINVAL if failed else 0

    cdef int32_t uniform_software(self, const uint8_t *src, uint32_t slen, uint32_t unit_size,
                                  uint32_t *req_dlen) noexcept nogil:
        """The uniform layer splits a batch for a non-batching algorithm."""
        cdef uint32_t unit = unit_size if unit_size else slen
        cdef int n = <int>(slen // unit)
        cdef int k
        cdef int faults[MAX_UNITS]
        cdef int32_t ret, first_err = 0
        cdef uint32_t dlen
        if n < 1:
            n = 1
        if n > MAX_UNITS:
            n = MAX_UNITS
        for k in range(n):
            faults[k] = self.take_fault()
            self.prepare(k, src + <size_t>k * unit, unit, self.buffers + <size_t>k * self.page_size,
                         self.page_size, faults[k])
        self.run(n)
        for k in range(n):
            self.software_result(k, faults[k], &ret, &dlen)
            self.sg_len[k] = <uint32_t>ret if ret else dlen
            if ret and not first_err:
                first_err = ret
        req_dlen[0] = self.sg_len[0]
        return first_err

    cdef int32_t acomp_compress(self, const uint8_t *src, uint32_t slen, uint32_t unit_size,
                                int ndst, uint32_t *req_dlen) noexcept nogil:
        """`crypto_acomp_compress()` under the variant's crypto layer, on the SG entries."""
        cdef int32_t err, submit_ret
        if self.layer == L_SEGMENTED:
            if self.batching:
                if unit_size and slen > unit_size:
                    # v14 returns the driver's submission status: -EINVAL when a unit could not
                    # be submitted, else 0 ([PATCH v14 16/26] iaa_comp_submit_acompress_batch,
                    # 18/26 acomp_do_req_batch_parallel, 2026-01-24); a failure at completion
                    # goes to req->slen, never read back.  The core's drivers (IAA, the fault
                    # catalogue) fail units at completion only: they submit every unit (the
                    # model: AcompReq.submit_ret left 0).
                    submit_ret = 0
                    self.compress_batch(src, slen, unit_size, ndst, req_dlen)
                    return submit_ret
                return self.batching_one(src, slen, req_dlen, self.sg_len)
            if unit_size and slen > unit_size:
                return -ENOSYS
            err = self.software_one(src, slen, self.buffers, req_dlen)
            self.sg_len[0] = <uint32_t>err if err else req_dlen[0]
            return err
        if self.batching:
            if unit_size and slen != unit_size:
                return self.compress_batch(src, slen, unit_size, ndst, req_dlen)
            return self.batching_one(src, slen, req_dlen, self.sg_len)
        if self.layer == L_UNIFORM:
            return self.uniform_software(src, slen, unit_size, req_dlen)
        return self.software_one(src, slen, self.buffers, req_dlen)

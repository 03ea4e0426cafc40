# The Python API of the core (arguments checked by zswap_spec.pool), with the facts the
# invariant checker reads (`slots`, `entry_length`, `tally`: zswap_spec.model.pool_view);
# mirrors the pool API.  The invariants are decided in zswap_spec.model.invariants only.

cdef struct LoadJob:
    # `Core.load_check`'s pages, for the threads: where each entry's bytes are (NULL: none),
    # their length, their blob (a pool sharing its bytes: its answer kept there), the results.
    zc_ctx **ctx
    int alg
    int page_size
    const uint8_t *expected
    const uint8_t **src
    uint32_t *length
    Blob **blob
    int32_t *codes           # (return code, first differing byte) per page
    int64_t *page            # the pages to load, in order
    int64_t npages           # how many
    uint64_t session         # the table's read-back session these pages belong to (0: none)
    uint64_t first_offset
    uint8_t *bufs            # a page per thread
    size_t buf_size


cdef void load_task(void *arg, int block, int thread) noexcept nogil:
    """A block of `load_check`'s pages (TASK_PAGES of them)."""
    cdef LoadJob *j = <LoadJob *>arg
    cdef int64_t k = <int64_t>block * TASK_PAGES
    cdef int64_t end = min(k + TASK_PAGES, j.npages)
    while k < end:
        load_one(j, k, thread)
        k += 1


cdef void load_one(LoadJob *j, int64_t k, int thread) noexcept nogil:
    """One page of `load_check`: its entry back to a page, compared with the page swapped out;
    or the answer another pool's call recorded in the entry's blob in this read-back session
    at this offset (the same bytes against the same page).  Answers are recorded after the
    threads are done (`Core.load_check`), so no thread writes a blob."""
    cdef int64_t i = j.page[k]
    cdef const uint8_t *want = j.expected + <size_t>i * j.page_size
    cdef const uint8_t *got
    cdef uint8_t *buf = j.bufs + <size_t>thread * j.buf_size
    cdef int32_t first = 0
    cdef uint32_t n = j.length[i]
    cdef Blob *b = j.blob[i] if j.blob != NULL else NULL
    if (b != NULL and b.length == n and b.session == j.session and j.session
            and b.offset == j.first_offset + <uint64_t>i):
        j.codes[2 * i] = b.rc  # another pool's answer in this session, at this offset
        j.codes[2 * i + 1] = b.first
        j.blob[i] = NULL  # nothing to record
        return
    if j.src[i] == NULL or n > <uint32_t>j.page_size:
        j.codes[2 * i] = -EIO
    elif n == <uint32_t>j.page_size:
        got = j.src[i]
    elif load_page(j.ctx[thread], j.alg, j.page_size, j.src[i], n, buf) == 0:
        got = buf
    else:
        j.codes[2 * i] = -EIO
    if j.codes[2 * i] != -EIO:
        if memcmp(got, want, j.page_size) == 0:
            j.codes[2 * i] = 0
        else:
            while got[first] == want[first]:
                first += 1
            j.codes[2 * i] = 1
            j.codes[2 * i + 1] = first


cdef class Core(_CoreZswap):
    """One zswap instance in C types.  Arguments are checked by zswap_spec.pool."""

    # ---- Python API (arguments checked by zswap_spec.pool) ---------------------------

    cdef void idle(self) except *:
        if self.busy:
            raise RuntimeError("this pool is in use by another thread; give each thread its own "
                               "pool or serialize the calls")

    cdef void enter(self) except *:
        # Called with the GIL held, so the test and the set are one step.
        self.idle()
        self.busy = 1

    cdef void flush_bad(self):
        cdef int i
        self.busy = 0
        for i in range(self.nbad_pending):
            self.bad_sizes.append(self.bad_pending[i])
        self.nbad_pending = 0
        if self.oom:
            self.oom = 0
            raise MemoryError("the core ran out of memory")

    def store(self, const uint8_t[::1] pages, uint64_t offset, int memcg):
        cdef int nr = <int>(pages.shape[0] // self.page_size)
        cdef int ok
        self.enter()
        with nogil:
            ok = self.zswap_store(&pages[0], nr, offset, memcg)
        self.flush_bad()
        return bool(ok)

    def store_run(self, const uint8_t[::1] buf, uint64_t first_offset, int folio_pages, int memcg,
                  bint zeromap, uint8_t[::1] outcomes, int8_t[::1] moved, Compressed shared=None):
        """Swap out a buffer folio by folio; one outcome byte per page:
        '0' zero-filled (kept by the swap core), 'c' compressed, 'r' raw, 'x' rejected.
        For a folio rejected past the limit checks, `moved` (at its first
        page) gets how far the reject_* counters moved (INV-COUNTERS).  With
        `shared` (a `Compressed` filled from this very buffer), each page's
        compression is taken from it instead of computed again."""
        cdef int64_t npages = buf.shape[0] // self.page_size
        cdef int64_t first, i, j, n
        cdef int ok, zero
        cdef const uint8_t *p
        cdef int64_t idx, before
        cdef const uint8_t *tzero = NULL
        cdef const long *tresult = NULL
        cdef const uint8_t *tout = NULL
        cdef Blob **tblob_c = NULL
        cdef Blob **tblob_r = NULL
        cdef Arena *tarena = NULL
        if shared is not None:
            if (shared.alg != self.alg or shared.page_size != self.page_size
                    or shared.batching != self.batching or shared.slot_size != self.scratch_size):
                raise ValueError("the shared table is of another compressor or page size")
            if shared.npages != npages or (npages and shared.base != &buf[0]):
                raise ValueError("the shared table was filled from another buffer")
            if self.faults_mode:
                raise ValueError("a pool with faults cannot share compression (their order "
                                 "is decided as it stores)")
            tzero, tresult, tout = shared.zero, shared.result, shared.out
            if self.blob_of:
                tblob_c, tblob_r, tarena = shared.blob_c, shared.blob_r, shared.arena
            if shared.busy:
                raise RuntimeError("the shared table is in use by another store")
        self.enter()
        if shared is not None:
            shared.busy = 1
        with nogil:
            if tzero != NULL:
                self.table_begin(tresult, tout, tblob_c, tblob_r, tarena, &buf[0], npages,
                                 first_offset)
            else:
                self.ahead_begin(&buf[0], npages, folio_pages, zeromap)
            first = 0
            while first < npages:
                n = folio_pages if folio_pages < npages - first else npages - first
                p = &buf[first * self.page_size]
                zero = 0
                if zeromap and tzero != NULL:
                    zero = 1
                    for j in range(n):
                        if not tzero[first + j]:
                            zero = 0
                            break
                elif zeromap and self.ah.on:
                    zero = self.ah.pos[first] < 0  # compress-ahead has looked already
                elif zeromap:
                    zero = p[0] == 0 and memcmp(p, p + 1, n * self.page_size - 1) == 0
                if zero:
                    for j in range(n):
                        self.zswap_invalidate(first_offset + first + j)
                        outcomes[first + j] = 48  # '0'
                else:
                    before = self.reject_sum()
                    ok = self.zswap_store(p, <int>n, first_offset + first, memcg)
                    if not ok and self.reached_pages:
                        before = self.reject_sum() - before
                        moved[first] = <int8_t>(before if before < 127 else 127)
                    for j in range(n):
                        if ok:
                            idx = self.tree_get(first_offset + first + j)
                            outcomes[first + j] = 114 if self.entries[idx].length == <uint32_t>self.page_size else 99
                        else:
                            outcomes[first + j] = 120
                first += n
            self.ahead_end()
        if shared is not None:
            shared.busy = 0
        self.flush_bad()

    def load_run(self, uint64_t first_offset, const uint8_t[::1] expected, const uint8_t[::1] outcomes):
        """Swap in every page stored in zswap ('c'/'r'); the offsets whose bytes
        differ from `expected` (return code 1, and the first byte that
        differs) or that fail to load (-errno, -1)."""
        return self.load_apply(first_offset, self.load_check(first_offset, expected, outcomes))

    def load_check(self, uint64_t first_offset, const uint8_t[::1] expected,
                   const uint8_t[::1] outcomes, Compressed shared=None):
        """The read-only half of `load_run`, on every thread: for each page, (return code,
        first differing byte) as its load would give them, or (LOAD_SKIP, -1) for a page
        not stored in zswap.  In a pool sharing its bytes, an entry whose blob another
        pool has read back against these pages takes that answer.  With `shared`, the
        work runs on its threads (this pool's own otherwise).  Changes nothing:
        `load_apply` does the loads' bookkeeping."""
        self.bytes_kept()
        cdef int64_t npages = expected.shape[0] // self.page_size
        cdef int64_t i, n = 0, idx
        cdef Entry *e
        cdef Blob *b
        cdef LoadJob job
        cdef zc_workers *workers = self.workers if shared is None else shared.workers
        cdef bytearray codes = bytearray(npages * 2 * sizeof(int32_t))
        if outcomes.shape[0] != npages:
            raise ValueError("one outcome per page")
        if shared is not None and (shared.alg != self.alg or shared.page_size != self.page_size):
            raise ValueError("the shared table is of another compressor or page size")
        if shared is not None and shared.busy:
            raise RuntimeError("this shared table is in use by another thread; give each "
                               "thread its own, or serialize the calls")
        memset(&job, 0, sizeof(job))
        job.ctx = &self.ctxs[0]
        job.bufs = self.scratch  # a page per thread (MAX_UNITS of them)
        if shared is not None:
            job.ctx = &shared.ctxs[0]
        job.alg = self.alg
        job.page_size = self.page_size
        job.expected = &expected[0] if npages else NULL
        job.codes = <int32_t *><char *>codes
        job.buf_size = self.scratch_size
        job.first_offset = first_offset
        if (shared is not None and shared.session and npages
                and shared.session_base == &expected[0]
                and shared.session_bytes == expected.shape[0]):
            job.session = shared.session
        job.src = <const uint8_t **>calloc(max(npages, 1), sizeof(uint8_t *))
        job.length = <uint32_t *>calloc(max(npages, 1), sizeof(uint32_t))
        job.page = <int64_t *>malloc(max(npages, 1) * sizeof(int64_t))
        if self.blob_of:
            job.blob = <Blob **>calloc(max(npages, 1), sizeof(Blob *))
        try:
            if not job.src or not job.length or not job.page or (self.blob_of and not job.blob):
                raise MemoryError()
            self.idle()
            for i in range(npages):
                job.codes[2 * i] = LOAD_SKIP
                job.codes[2 * i + 1] = -1
                if outcomes[i] != 99 and outcomes[i] != 114:
                    continue
                idx = self.tree_get(first_offset + i)
                if idx < 0:
                    job.codes[2 * i] = -ENOENT
                    continue
                e = &self.entries[idx]
                job.src[i] = self.entry_data(idx)
                job.length[i] = e.length
                if job.blob:
                    job.blob[i] = self.blob_of[idx]
                job.page[n] = i
                n += 1
            job.npages = n
            self.enter()
            if shared is not None:
                shared.busy = 1
            with nogil:
                zc_workers_run(workers, <int>((n + TASK_PAGES - 1) // TASK_PAGES), load_task, &job)
            if shared is not None:
                shared.busy = 0
            self.busy = 0
            if job.session:  # record each answer for the pools after this one
                for i in range(npages):
                    b = job.blob[i]
                    if b != NULL and b.length == job.length[i]:
                        b.session = job.session
                        b.offset = first_offset + i
                        b.rc = job.codes[2 * i]
                        b.first = job.codes[2 * i + 1]
        finally:
            free(job.src)
            free(job.length)
            free(job.page)
            free(job.blob)
        return memoryview(codes).cast("i")

    def load_apply(self, uint64_t first_offset, const int32_t[::1] codes):
        """The loads `load_check` prepared, in page order: each page that decompressed is
        counted and its entry freed; one that did not counts a decompression failure.
        The offsets whose bytes differ (1, first differing byte) or that failed (-errno, -1)."""
        cdef int64_t npages = codes.shape[0] // 2
        cdef int64_t i, idx
        cdef int32_t rc
        bad = []
        self.idle()
        for i in range(npages):
            rc = codes[2 * i]
            if rc == LOAD_SKIP:
                continue
            if rc == -ENOENT:
                bad.append((first_offset + i, rc, -1))
                continue
            idx = self.tree_get(first_offset + i)
            if idx < 0:
                raise ValueError(f"offset {first_offset + i} has no entry: not the pool the "
                                 "codes were checked on")
            if rc == -EIO:
                self.ctr[C_DECOMPRESS_FAIL] += 1
                bad.append((first_offset + i, rc, -1))
                continue
            self.load_commit(first_offset + i, idx)
            if rc != 0:
                bad.append((first_offset + i, rc, codes[2 * i + 1]))
        return bad

    def slots(self, uint64_t first_offset, const uint8_t[::1] expected):
        """The facts the invariant checker reads of a run of pages just swapped out
        (zswap_spec.model.pool_view): one slot kind per page, '-' no entry, 'z' an
        entry of length 0, 'c' of length in (0, PAGE_SIZE), 'p' of length PAGE_SIZE
        holding the page's bytes, 'q' of length PAGE_SIZE holding other bytes, 'o'
        of length above PAGE_SIZE.  Decides nothing: the checker does."""
        cdef int64_t npages = expected.shape[0] // self.page_size
        cdef int64_t i, idx
        cdef Entry *e
        cdef uint32_t ps = <uint32_t>self.page_size
        cdef bytearray out = bytearray(npages)
        cdef uint8_t *k = out
        self.idle()
        with nogil:
            for i in range(npages):
                idx = self.tree_get(first_offset + i)
                if idx < 0:
                    k[i] = 45  # '-'
                    continue
                e = &self.entries[idx]
                if e.length == 0:
                    k[i] = 122  # 'z'
                elif e.length < ps:
                    k[i] = 99  # 'c'
                elif e.length > ps:
                    k[i] = 111  # 'o'
                elif self.sizes_only and e.handle != 0:
                    k[i] = 112  # 'p': no bytes to compare (keep_sizes_only)
                elif (self.entry_data(idx) != NULL
                      and memcmp(self.entry_data(idx), &expected[i * ps], ps) == 0):
                    k[i] = 112  # 'p'
                else:
                    k[i] = 113  # 'q'
        return bytes(out)

    def keep_sizes_only(self):
        """From now on keep every entry's size and every count, never the bytes: the pool's
        accounting without its memory.  Only before anything is stored; loads and
        writeback are refused after (nothing to read), and `slots` calls every entry of
        PAGE_SIZE bytes 'p' (its bytes are not there to compare)."""
        self.idle()
        if self.nlive_entries or self.nzspages or self.blob_of:
            raise ValueError("keep_sizes_only: the pool already holds entries")
        self.sizes_only = 1
        self.zs_links_only = 1

    def share_bytes(self):
        """From now on keep each entry's bytes in a blob shared with the other pools that
        store the same chunks with the same table (`store_run(..., shared=)`): a page's
        compressed output, or the page as-is, is held once for all of them, and read back
        once (`load_check`).  Bytes that are neither get a blob of their own.  Only before
        anything is stored."""
        self.idle()
        if self.nlive_entries or self.nzspages or self.sizes_only or self.blob_of:
            raise ValueError("share_bytes: the pool already holds entries, or shares already")
        self.blob_of = <Blob **>calloc(max(self.cap_entries, 1), sizeof(Blob *))
        if not self.blob_of:
            raise MemoryError()
        self.zs_links_only = 1

    cdef void bytes_kept(self) except *:
        if self.sizes_only:
            raise ValueError("this pool keeps sizes only: nothing to read back")

    def entry_length(self, uint64_t offset):
        """The length of the entry at offset (0: none)."""
        cdef int64_t idx = self.tree_get(offset)
        self.idle()
        return 0 if idx < 0 else self.entries[idx].length

    def load(self, uint64_t offset):
        self.bytes_kept()
        cdef int rc
        self.enter()
        with nogil:
            rc = self.zswap_load(offset, self.page_tmp)
        self.flush_bad()
        return rc, (self.page_tmp[:self.page_size] if rc == 0 else None)

    def writeback(self, uint64_t offset):
        self.bytes_kept()
        cdef int rc
        self.enter()
        with nogil:
            rc = self.writeback_entry(offset, self.page_tmp)
        self.flush_bad()
        return rc, (self.page_tmp[:self.page_size] if rc == 0 else None)

    def invalidate(self, uint64_t offset):
        self.idle()
        self.zswap_invalidate(offset)

    def add_cgroup(self, bint writeback):
        self.idle()
        if self.ncg >= MAX_CGROUPS:
            raise ValueError(f"the core keeps at most {MAX_CGROUPS} cgroups")
        self.cg_wb[self.ncg] = writeback
        self.ncg += 1
        return self.ncg - 1

    def set_writeback(self, int memcg, bint writeback):
        self.idle()
        self.cg_wb[memcg] = writeback

    def set_max_pool_percent(self, int64_t percent):
        self.idle()
        self.max_pool_percent = percent

    def set_enabled(self, bint enabled):
        self.idle()
        self.enabled = enabled

    def counters(self):
        self.idle()
        return [self.ctr[i] for i in range(NR_COUNTERS)], [self.vm[i] for i in range(3)]

    def memcg_stat(self, int memcg):
        self.idle()
        return [self.stats[memcg][i] for i in range(NR_STATS)]

    def entry(self, uint64_t offset):
        """(length, stored bytes, cgroup) of the entry at offset, or None."""
        self.bytes_kept()
        cdef int64_t idx = self.tree_get(offset)
        cdef Entry *e
        self.idle()
        if idx < 0:
            return None
        e = &self.entries[idx]
        data = self.entry_data(idx)[:e.length] if self.entry_data(idx) != NULL else b""
        return e.length, data, e.memcg

    def tally(self):
        """The whole pool's facts for the invariant checker (zswap_spec.model.pool_view.Tally),
        from the tree itself: (entries, entries of length PAGE_SIZE, pool pages, live
        objects, objects no entry owns, entries without a live object, (slot, length) of
        entries of length 0 or above PAGE_SIZE, per cgroup (its stats zswap, zswapped,
        zswap_incomp; the same summed over the entries it is charged for: its own, and
        the root every entry))."""
        self.idle()
        cdef int64_t c, slot, idx, z, n = 0, raw = 0, unowned = 0, without = 0
        cdef int m
        cdef Entry *e
        cdef uint32_t ps = <uint32_t>self.page_size
        cdef int64_t sums[MAX_CGROUPS][3]
        cdef int32_t *owned = <int32_t *>calloc(max(self.nzspages, 1), sizeof(int32_t))
        if not owned:
            raise MemoryError()
        memset(sums, 0, sizeof(sums))
        odd = []
        for c in range(self.nchunks):
            if not self.chunks[c]:
                continue
            for slot in range(1 << CHUNK_BITS):
                idx = <int64_t>self.chunks[c][slot] - 1
                if idx < 0:
                    continue
                e = &self.entries[idx]
                n += 1
                raw += e.length == ps
                if e.length == 0 or e.length > ps:
                    odd.append((e.offset, e.length))
                z = <int64_t>(e.handle >> 16) - 1
                if e.handle == 0 or z >= self.nzspages or self.zspages[z].mem == NULL:
                    without += 1
                else:
                    owned[z] += 1
                for m in range(2):
                    if m == 1 and e.memcg == 0:
                        break
                    sums[e.memcg if m == 1 else 0][0] += e.length
                    sums[e.memcg if m == 1 else 0][1] += 1
                    sums[e.memcg if m == 1 else 0][2] += e.length == ps
        for z in range(self.nzspages):
            if self.zspages[z].mem == NULL:
                continue
            if owned[z] > self.zspages[z].inuse:
                without += owned[z] - self.zspages[z].inuse
            else:
                unowned += self.zspages[z].inuse - owned[z]
        free(owned)
        cgroups = [(str(m), (self.stats[m][S_ZSWAP], self.stats[m][S_ZSWAPPED], self.stats[m][S_INCOMP]),
                    (sums[m][0], sums[m][1], sums[m][2])) for m in range(self.ncg)]
        return n, raw, self.npool_pages, self.nlive_objects, unowned, without, odd, cgroups

    # ---- broken states, planted by the tests of the invariant checker ---------------

    def _plant_entry_length(self, uint64_t offset, uint32_t length):
        """Tests only: the entry at offset now says `length` (nothing else changes)."""
        cdef int64_t idx = self.tree_get(offset)
        self.idle()
        if idx < 0:
            raise KeyError(offset)
        self.entries[idx].length = length

    def _plant_object(self, uint32_t size):
        """Tests only: a zsmalloc object no entry owns; its handle."""
        cdef int64_t handle
        self.enter()
        handle = self.zs_malloc(size)
        self.flush_bad()
        if handle < 0:
            raise MemoryError(handle)
        return handle

    def offsets(self):
        cdef int64_t c, s
        self.idle()
        out = []
        for c in range(self.nchunks):
            if self.chunks[c]:
                for s in range(1 << CHUNK_BITS):
                    if self.chunks[c][s]:
                        out.append((c << CHUNK_BITS) | s)
        return out

    def fail_malloc(self, errnos):
        cdef int64_t i, n = len(errnos)
        self.idle()
        free(self.malloc_fail)
        self.malloc_fail = <int32_t *>malloc(max(n, 1) * sizeof(int32_t))
        if not self.malloc_fail:
            raise MemoryError()
        for i in range(n):
            self.malloc_fail[i] = errnos[i]
        self.nmalloc_fail = n
        self.malloc_fail_pos = 0

    def fail_entry_alloc(self, int64_t n):
        self.idle()
        self.kmemcache_fail_next = n

    def fail_xa_store(self, int64_t n):
        self.idle()
        self.xa_fail_next = n

    def arm(self, int fault, int64_t calls):
        cdef int i
        self.idle()
        if fault in BATCHING_ONLY and not self.batching:
            return
        for i in range(self.narm):
            if self.arm_order[i] == fault:
                break
        else:
            self.arm_order[self.narm] = fault
            self.narm += 1
        self.armed[fault] += calls

    def fired(self):
        self.idle()
        return {FAULT_NAMES[i]: self.nfired[i] for i in range(NR_FAULTS) if self.nfired[i]}

    @property
    def bad_alloc_sizes(self):
        return list(self.bad_sizes)

    @property
    def pool_pages(self):
        return self.npool_pages

    @property
    def pool_bytes(self):
        return self.npool_bytes

    @property
    def live_objects(self):
        return self.nlive_objects

    @property
    def live_entries(self):
        return self.nlive_entries

    @property
    def shrink_work_queued(self):
        return bool(self.shrink_queued)

    def memory_usage(self):
        """Bytes the core holds besides the zspages: entry records and the tree."""
        cdef int64_t c, chunks = 0
        self.idle()
        for c in range(self.nchunks):
            chunks += self.chunks[c] != NULL
        return {"entry_record": sizeof(Entry), "entries_allocated": self.cap_entries,
                "tree_bytes": chunks * (1 << CHUNK_BITS) * sizeof(uint32_t) + self.nchunks * sizeof(void *),
                "zspage_bytes": self.npool_pages * self.page_size}

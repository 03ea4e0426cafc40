# Compress once, decide many: one chunk's pages compressed once, on every thread, for every
# pool that stores the chunk (replay's configurations of one compressor and page size).
# No model file: a real compressor's output is a pure function of the page (model/compressors.py),
# so a pool taking a page's result from the table stores what it would have computed itself;
# the pools' own code decides what to do with it (Core.store_run with `shared`).


cdef struct TableJob:
    int alg
    int batching
    int page_size
    size_t slot_size
    zc_ctx **ctx
    const uint8_t *base
    long *result
    uint8_t *zero
    uint8_t *out


cdef void table_task(void *arg, int k, int thread) noexcept nogil:
    """Page k of the chunk: zero or not, and (not zero) its compression, as compress-ahead
    computes it (ahead_produce: the unlimited output for a batching algorithm, else a
    PAGE_SIZE destination)."""
    cdef TableJob *t = <TableJob *>arg
    cdef const uint8_t *p = t.base + <size_t>k * t.page_size
    cdef size_t cap = t.slot_size if t.batching else <size_t>t.page_size
    t.zero[k] = p[0] == 0 and memcmp(p, p + 1, t.page_size - 1) == 0
    if t.zero[k]:
        t.result[k] = NOT_COMPRESSED
    else:
        t.result[k] = zc_compress(t.ctx[thread], t.alg, p, t.page_size,
                                  t.out + <size_t>k * t.slot_size, cap)


cdef class Compressed:
    """Every page of one chunk compressed once (`fill`), for the pools of one compressor
    and page size that store that chunk (`Core.store_run(..., shared=...)`)."""

    cdef int alg, batching, page_size, threads
    cdef size_t slot_size
    cdef zc_ctx *ctxs[8]
    cdef zc_workers *workers
    cdef const uint8_t *base
    cdef int64_t npages, cap_pages
    cdef long *result
    cdef uint8_t *zero
    cdef uint8_t *out
    cdef object held  # the chunk's buffer, kept alive while the table refers to it

    def __cinit__(self, str compressor, int page_size, int batching, int threads):
        cdef int i
        self.alg = alg_id(compressor)
        self.batching = batching
        self.page_size = page_size
        self.threads = threads
        self.slot_size = zc_bound(page_size)
        for i in range(threads):
            self.ctxs[i] = zc_ctx_new()
            if not self.ctxs[i]:
                raise MemoryError("cannot set up the compressors' working state")
        self.workers = zc_workers_new(threads)
        if not self.workers:
            raise MemoryError()

    def __dealloc__(self):
        cdef int i
        if self.workers:
            zc_workers_free(self.workers)
        for i in range(8):
            if self.ctxs[i]:
                zc_ctx_free(self.ctxs[i])
        free(self.result)
        free(self.zero)
        free(self.out)

    def fill(self, const uint8_t[::1] buf):
        """Compress every page of `buf` (a whole number of pages), on every thread."""
        cdef int64_t n = buf.shape[0] // self.page_size
        cdef TableJob job
        if n > self.cap_pages:
            free(self.result)
            free(self.zero)
            free(self.out)
            self.result = <long *>malloc(n * sizeof(long))
            self.zero = <uint8_t *>malloc(n)
            self.out = <uint8_t *>malloc(n * self.slot_size)
            if not self.result or not self.zero or not self.out:
                free(self.result)
                free(self.zero)
                free(self.out)
                self.result = NULL
                self.zero = self.out = NULL
                self.cap_pages = 0
                raise MemoryError()
            self.cap_pages = n
        self.held = buf
        self.base = &buf[0] if n else NULL
        self.npages = n
        job.alg = self.alg
        job.batching = self.batching
        job.page_size = self.page_size
        job.slot_size = self.slot_size
        job.ctx = self.ctxs
        job.base = self.base
        job.result = self.result
        job.zero = self.zero
        job.out = self.out
        with nogil:
            zc_workers_run(self.workers, <int>n, table_task, &job)

    @property
    def pages(self):
        return self.npages

    def results(self):
        """Each page's compressed length, -1 when it did not fit, -2 a zero page (tests)."""
        return [self.result[i] for i in range(self.npages)]

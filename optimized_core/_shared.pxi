# Compress once, decide many: one chunk's pages compressed once, on every thread, for every
# pool that stores the chunk (replay's configurations of one compressor and page size).
# No model file: a real compressor's output is a pure function of the page (model/compressors.py),
# so a pool taking a page's result from the table stores what it would have computed itself;
# the pools' own code decides what to do with it (Core.store_run with `shared`).
#
# Pools that share their bytes (Core.share_bytes) keep one copy of each stored content for all
# of them: a blob per page of the chunk for its compressed output and one for the page as-is,
# counted by the entries that hold it (and by the table while the chunk is current); bytes no
# other pool can have stored (any other content) go to a blob of the entry's own.  Within one
# read-back session of the table (`Compressed.begin_read_back`: these pages, compared by every
# pool in turn), a blob keeps the answer of the first pool that read it back at an offset, and
# the others take it (Core.load_check).


cdef extern from *:
    """
    #define zs_ref_add(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)
    """
    int32_t zs_ref_add(int32_t *p, int32_t v) noexcept nogil


cdef extern from "<sys/mman.h>" nogil:
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void *addr, size_t length)
    int madvise(void *addr, size_t length, int advice)
    int PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, MAP_NORESERVE
    void *MAP_FAILED

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer

cdef extern from "<unistd.h>" nogil:
    long sysconf(int name)
    int _SC_PAGESIZE

cdef extern from *:
    """
    #include <sys/mman.h>
    #ifndef MADV_POPULATE_WRITE
    #define MADV_POPULATE_WRITE 23
    #endif
    """
    int MADV_POPULATE_WRITE


# A chunk's blobs of the table's pages are cut from one arena: memory mapped once per chunk
# (in huge pages where the machine allows), not a malloc and a run of page faults per page.  It
# is unmapped when its last blob and the table have let it go; the part no blob took is given
# back when the table moves on to the next chunk.
DEF TABLE_SPIN = 256  # pause loops a table's idle worker spins before it sleeps
DEF ARENA_ALIGN = 2 << 20
DEF ARENA_STEP = 1 << 20  # bytes made resident at a time, ahead of the blobs cut (one call)


cdef struct Arena:
    int32_t refs           # its live blobs, and the table while the chunk is current
    size_t size            # bytes mapped from mem
    size_t used
    size_t ready           # bytes from mem made resident (MADV_POPULATE_WRITE)
    uint8_t *mem


cdef struct Blob:
    int32_t refs           # the entries (of any pool, on any thread) and the table holding it
    uint32_t length
    uint64_t session       # its read-back answer is for this read-back session of its table
    uint64_t offset        # ... at this swap offset
    int32_t rc
    int32_t first
    Arena *arena           # where it was cut from; NULL: a malloc of its own


cdef inline uint8_t *blob_bytes(Blob *b) noexcept nogil:
    return <uint8_t *>(b + 1)


cdef Blob *blob_new(const uint8_t *data, uint32_t length, int32_t refs) noexcept nogil:
    cdef Blob *b = <Blob *>malloc(sizeof(Blob) + length)
    if b:
        b.refs = refs
        b.session = 0
        b.length = length
        b.arena = NULL
        memcpy(blob_bytes(b), data, length)
    return b


cdef int32_t arenas_live = 0  # arenas mapped now (`live_arenas`, tests)


def live_arenas():
    """How many blob arenas are mapped now: 0 once every table and pool using them is gone."""
    return zs_ref_add(&arenas_live, 0)


cdef Arena *arena_new(size_t size) noexcept nogil:
    """An arena of at least `size` bytes, reserved (touched only as blobs are cut);
    NULL when it cannot be mapped (blobs are then malloc'd)."""
    cdef Arena *a = <Arena *>malloc(sizeof(Arena))
    if not a:
        return NULL
    size = (size + ARENA_ALIGN - 1) // ARENA_ALIGN * ARENA_ALIGN
    a.mem = <uint8_t *>mmap(NULL, size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    if <void *>a.mem == MAP_FAILED:
        free(a)
        return NULL
    a.refs = 1
    a.size = size
    a.used = 0
    a.ready = 0
    zs_ref_add(&arenas_live, 1)
    return a


cdef inline void arena_put(Arena *a) noexcept nogil:
    if a and zs_ref_add(&a.refs, -1) == 0:
        munmap(a.mem, a.size)
        free(a)
        zs_ref_add(&arenas_live, -1)


cdef void arena_trim(Arena *a) noexcept nogil:
    """Give back the part of the arena past its last blob (no more are cut from it)."""
    cdef size_t page = <size_t>sysconf(_SC_PAGESIZE)
    cdef size_t keep = (a.used + page - 1) // page * page
    if keep < a.size and munmap(a.mem + keep, a.size - keep) == 0:
        a.size = keep
        a.ready = min(a.ready, keep)


cdef Blob *arena_blob(Arena *a, const uint8_t *data, uint32_t length, int32_t refs) noexcept nogil:
    """A blob of these bytes cut from `a` (one thread at a time: the table's user), or
    malloc'd when `a` is NULL or full."""
    cdef size_t need = (sizeof(Blob) + length + 7) // 8 * 8
    cdef size_t step
    cdef Blob *b
    if a == NULL or a.used + need > a.size:
        return blob_new(data, length, refs)
    if a.used + need > a.ready:
        # A step's pages made resident in one call rather than a fault each (where the
        # kernel cannot, 5.14 and before, the writes below fault them in).
        step = min(ARENA_STEP, a.size - a.ready)
        madvise(a.mem + a.ready, step, MADV_POPULATE_WRITE)
        a.ready += step
    b = <Blob *>(a.mem + a.used)
    a.used += need
    zs_ref_add(&a.refs, 1)
    b.refs = refs
    b.session = 0
    b.length = length
    b.arena = a
    memcpy(blob_bytes(b), data, length)
    return b


cdef inline void blob_put(Blob *b) noexcept nogil:
    if b and zs_ref_add(&b.refs, -1) == 0:
        if b.arena:
            arena_put(b.arena)
        else:
            free(b)


cdef struct TableJob:
    int alg
    int batching
    int page_size
    size_t slot_size
    zc_ctx **ctx
    const uint8_t *base
    int64_t npages
    long *result
    uint8_t *zero
    uint8_t *out


cdef void table_task(void *arg, int block, int thread) noexcept nogil:
    """The pages of one block of the chunk: zero or not, and (not zero) each one's
    compression, as compress-ahead computes it (ahead_produce: the unlimited output for a
    batching algorithm, else a PAGE_SIZE destination)."""
    cdef TableJob *t = <TableJob *>arg
    cdef int64_t k = <int64_t>block * TASK_PAGES
    cdef int64_t end = min(k + TASK_PAGES, t.npages)
    cdef const uint8_t *p
    cdef size_t cap = t.slot_size if t.batching else <size_t>t.page_size
    while k < end:
        p = t.base + <size_t>k * t.page_size
        t.zero[k] = p[0] == 0 and memcmp(p, p + 1, t.page_size - 1) == 0
        if t.zero[k]:
            t.result[k] = NOT_COMPRESSED
        else:
            t.result[k] = zc_compress(t.ctx[thread], t.alg, p, t.page_size,
                                      t.out + <size_t>k * t.slot_size, cap)
        k += 1


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
    # The chunk's buffer, held while the table refers to it, through memory of its own
    # rather than a field Cython would show the cycle collector: the collector then
    # never releases the chunk under a fill's workers (which __dealloc__ awaits).
    cdef Py_buffer *held
    cdef int holding
    cdef Blob **blob_c  # per page of the chunk: the blob of its compressed output, or NULL
    cdef Blob **blob_r  # per page: the blob of the page as-is, or NULL
    cdef Arena *arena  # where this chunk's blobs are cut from
    cdef int busy  # a fill, store_run or load_check is using the table
    cdef TableJob job  # the fill under way
    cdef int pending  # units of a fill started (fill_start) and not yet finished
    cdef uint64_t session  # the read-back session (begin_read_back), 0: none
    cdef const uint8_t *session_base  # its pages
    cdef int64_t session_bytes
    cdef object session_held

    def __cinit__(self, str compressor, int page_size, int batching, int threads):
        cdef int i
        if page_size < 64 or page_size & (page_size - 1) or not 1 <= threads <= 8:
            raise ValueError("page_size must be a power of two, threads 1 to 8")
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
        self.held = <Py_buffer *>calloc(1, sizeof(Py_buffer))
        if not self.workers or not self.held:
            raise MemoryError()
        # A table's next chunk comes milliseconds later: its idle workers sleep almost at
        # once rather than take a core from the thread storing this one.
        zc_workers_spin(self.workers, TABLE_SPIN)

    def __dealloc__(self):
        cdef int i
        if self.pending and self.workers:
            zc_workers_help(self.workers, self.pending)  # no worker may read what is freed
        if self.workers:
            zc_workers_free(self.workers)
        for i in range(8):
            if self.ctxs[i]:
                zc_ctx_free(self.ctxs[i])
        self.drop_blobs()
        arena_put(self.arena)
        if self.holding:
            PyBuffer_Release(self.held)
        free(self.held)
        free(self.result)
        free(self.zero)
        free(self.out)
        free(self.blob_c)
        free(self.blob_r)

    cdef void drop_blobs(self) noexcept nogil:
        """The table's counts on the current chunk's blobs, given up."""
        cdef int64_t i
        if self.blob_c:
            for i in range(self.npages):
                blob_put(self.blob_c[i])
                blob_put(self.blob_r[i])
                self.blob_c[i] = self.blob_r[i] = NULL

    def fill(self, data):
        """Compress every page of `data` (a whole number of pages), on every thread."""
        self.fill_start(data)
        self.fill_finish()

    def fill_start(self, data):
        """Start compressing every page of `data` (a buffer of bytes) on the table's
        workers and return; the calling thread takes its share in `fill_finish`, which
        must come before the table is used again (it is busy until then).  On one
        thread, the whole fill."""
        cdef const uint8_t[::1] buf = data
        cdef int64_t n = buf.shape[0] // self.page_size
        cdef int nunits
        if self.busy:
            raise RuntimeError("this shared table is in use by another thread; give each "
                               "thread its own, or serialize the calls")
        self.drop_blobs()
        if self.arena:
            arena_trim(self.arena)
            arena_put(self.arena)
        # Room for every page's output and its page as-is: what blobs may be cut for them.
        self.arena = arena_new(<size_t>n * (2 * (sizeof(Blob) + 8) + self.slot_size
                                            + self.page_size)) if n else NULL
        self.session_base = NULL
        if n > self.cap_pages:
            free(self.result)
            free(self.zero)
            free(self.out)
            free(self.blob_c)
            free(self.blob_r)
            self.result = <long *>malloc(n * sizeof(long))
            self.zero = <uint8_t *>malloc(n)
            self.out = <uint8_t *>malloc(n * self.slot_size)
            self.blob_c = <Blob **>calloc(n, sizeof(Blob *))
            self.blob_r = <Blob **>calloc(n, sizeof(Blob *))
            if not self.result or not self.zero or not self.out or not self.blob_c or not self.blob_r:
                free(self.result)
                free(self.zero)
                free(self.out)
                free(self.blob_c)
                free(self.blob_r)
                self.result = NULL
                self.zero = self.out = NULL
                self.blob_c = self.blob_r = NULL
                self.cap_pages = 0
                self.npages = 0
                raise MemoryError()
            self.cap_pages = n
        if self.holding:
            PyBuffer_Release(self.held)
            self.holding = 0
        PyObject_GetBuffer(data, self.held, PyBUF_SIMPLE)
        self.holding = 1
        self.base = &buf[0] if n else NULL
        self.npages = n
        self.job.alg = self.alg
        self.job.batching = self.batching
        self.job.page_size = self.page_size
        self.job.slot_size = self.slot_size
        self.job.ctx = self.ctxs
        self.job.base = self.base
        self.job.npages = n
        self.job.result = self.result
        self.job.zero = self.zero
        self.job.out = self.out
        nunits = <int>((n + TASK_PAGES - 1) // TASK_PAGES)
        self.busy = 1
        if self.threads == 1 or nunits <= 1:
            try:
                with nogil:
                    zc_workers_run(self.workers, nunits, table_task, &self.job)
            finally:
                self.busy = 0
            return
        self.pending = nunits
        with nogil:
            zc_workers_start(self.workers, nunits, table_task, &self.job)

    def fill_finish(self):
        """The calling thread compresses the pages of the started fill no worker has
        taken, then waits for the rest (nothing to do after a fill on one thread)."""
        if not self.pending:
            return
        with nogil:
            zc_workers_help(self.workers, self.pending)
        self.pending = 0
        self.busy = 0

    def begin_read_back(self, const uint8_t[::1] expected):
        """A read-back session: the pools sharing their bytes through this table are
        about to compare the entries they hold with `expected`, one after another, at
        the same offsets; a blob read back by one of them at an offset answers for the
        others there (`Core.load_check`).  The pages must not change during it."""
        self.session += 1
        self.session_held = expected
        self.session_base = &expected[0] if expected.shape[0] else NULL
        self.session_bytes = expected.shape[0]

    @property
    def pages(self):
        return self.npages

    def results(self):
        """Each page's compressed length, -1 when it did not fit, -2 a zero page (tests)."""
        return [self.result[i] for i in range(self.npages)]

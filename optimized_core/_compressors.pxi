# The compression libraries behind the crypto layers, loaded at run time (csrc/complibs.h),
# and phase 1 of a batch's units on the worker threads; mirrors model/compressors.py.

cdef extern from "csrc/complibs.h" nogil:
    enum:
        ZC_LZ4, ZC_LZ4HC, ZC_ZSTD, ZC_DEFLATE, ZC_DEFLATE_IAA, ZC_TRIVIAL
    ctypedef struct zc_ctx:
        pass
    ctypedef struct zc_workers:
        pass
    ctypedef void (*zc_task_fn)(void *arg, int unit, int thread) noexcept nogil
    int zc_open(const char *lz4_path, const char *zstd_path, const char *z_path, char *err, size_t errlen)
    const char *zc_version(int which)
    zc_ctx *zc_ctx_new()
    void zc_ctx_free(zc_ctx *ctx)
    long zc_compress(zc_ctx *ctx, int alg, const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
    long zc_decompress(zc_ctx *ctx, int alg, const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
    size_t zc_bound(size_t n)
    zc_workers *zc_workers_new(int nthreads)
    void zc_workers_run(zc_workers *w, int nunits, zc_task_fn fn, void *arg)
    void zc_workers_free(zc_workers *w)
    void zc_workers_spin(zc_workers *w, int spins)
    void zc_workers_start(zc_workers *w, int nunits, zc_task_fn fn, void *arg)
    void zc_workers_help(zc_workers *w, int nunits)
    void zc_workers_wait(zc_workers *w, int nunits)


cdef int alg_id(str name) except -1:
    return {"lz4": ZC_LZ4, "lz4hc": ZC_LZ4HC, "zstd": ZC_ZSTD, "deflate": ZC_DEFLATE,
            "deflate-iaa": ZC_DEFLATE_IAA, "trivial": ZC_TRIVIAL}[name]


def open_libraries(lz4_path, zstd_path, z_path):
    """Load the compression libraries (None: the system's run-time libraries)."""
    cdef char err[512]
    cdef bytes a = lz4_path.encode() if lz4_path else None
    cdef bytes b = zstd_path.encode() if zstd_path else None
    cdef bytes c = z_path.encode() if z_path else None
    cdef const char *pa = NULL
    cdef const char *pb = NULL
    cdef const char *pc = NULL
    if a is not None:
        pa = a
    if b is not None:
        pb = b
    if c is not None:
        pc = c
    if zc_open(pa, pb, pc, err, sizeof(err)) != 0:
        raise OSError(err.decode(errors="replace"))
    return {"lz4": zc_version(0).decode(), "zstd": zc_version(1).decode(),
            "zlib": zc_version(2).decode()}


cdef struct Unit:
    # One unit of a batch: phase 1 (any thread) compresses, phase 2 (in unit
    # order, one thread) applies the wrapper's conventions and the faults.
    const uint8_t *src
    uint32_t srclen
    uint8_t *dst           # the unit's destination buffer
    uint8_t *scratch       # room for the unlimited output
    uint32_t cap
    int raw                # 1: unlimited output into scratch; 0: real capacity
    int direct             # with raw == 0: 1 writes dst directly, 0 via scratch
    long result            # phase 1: output length, or -1


cdef struct Batch:
    Unit units[MAX_UNITS]
    int alg
    zc_ctx **ctx
    size_t scratch_size


cdef void unit_task(void *arg, int k, int thread) noexcept nogil:
    """Phase 1 of unit k, on one thread."""
    cdef Batch *b = <Batch *>arg
    cdef Unit *u = &b.units[k]
    cdef long n
    if u.raw:
        u.result = zc_compress(b.ctx[thread], b.alg, u.src, u.srclen, u.scratch, b.scratch_size)
    elif u.direct:
        u.result = zc_compress(b.ctx[thread], b.alg, u.src, u.srclen, u.dst, u.cap)
    else:
        n = zc_compress(b.ctx[thread], b.alg, u.src, u.srclen, u.scratch, u.cap)
        if n >= 0:
            memcpy(u.dst, u.scratch, n)
        u.result = n


def raw_loop(str compressor, const uint8_t[::1] buf, int page_size, int repeat, bint decompress=False):
    """The physical limit: compress every page into a PAGE_SIZE destination, nothing else
    (with `decompress`: and decompress every output that fit back into a page).
    Returns the total of the output lengths (so the work cannot be skipped)."""
    cdef int alg = alg_id(compressor)
    cdef zc_ctx *ctx = zc_ctx_new()
    cdef uint8_t *dst = <uint8_t *>malloc(page_size)
    cdef uint8_t *back = <uint8_t *>malloc(page_size)
    cdef int64_t npages = buf.shape[0] // page_size, i
    cdef int r
    cdef long total = 0, n
    if not ctx or not dst or not back:
        free(dst)
        free(back)
        zc_ctx_free(ctx)
        raise MemoryError()
    with nogil:
        for r in range(repeat):
            for i in range(npages):
                n = zc_compress(ctx, alg, &buf[i * page_size], page_size, dst, page_size)
                total += n
                if decompress and n > 0:
                    total += zc_decompress(ctx, alg, dst, n, back, page_size)
    free(dst)
    free(back)
    zc_ctx_free(ctx)
    return total

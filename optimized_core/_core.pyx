# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The optimized core: zswap's batched store, load, invalidate and writeback,
its pool accounting and counters, in C types and without the GIL.

It implements the spec's semantics as the model does (``zswap_spec.model``:
the variants, the crypto layers, zsmalloc's size classes and zspages, the
fault catalogue's deterministic faults), and is cross-checked against it step
by step (tests/optimized_core/test_core_lockstep.py).  Private: use ``zswap_spec.pool``,
which checks every argument before it reaches this module.
"""

from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset

cdef extern from *:
    """
    #include <sched.h>
    #define zs_pause() __builtin_ia32_pause()
    /* Spin a little, then give the CPU away: on a machine with more threads
       than free cores a spinning waiter would starve the thread it waits for. */
    static inline void zs_backoff(int *spins) {
        if (++*spins < 200) __builtin_ia32_pause(); else { *spins = 0; sched_yield(); }
    }
    #define zs_load64(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
    #define zs_store64(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
    #define zs_cas64(p, e, d) __atomic_compare_exchange_n((p), (e), (d), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
    """
    void zs_pause() noexcept nogil
    void zs_backoff(int *spins) noexcept nogil
    int64_t zs_load64(int64_t *p) noexcept nogil
    void zs_store64(int64_t *p, int64_t v) noexcept nogil
    bint zs_cas64(int64_t *p, int64_t *expected, int64_t desired) noexcept nogil

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
    void zc_workers_start(zc_workers *w, int nunits, zc_task_fn fn, void *arg)
    void zc_workers_wait(zc_workers *w, int nunits)

# errno values (include/uapi/asm-generic/errno-base.h, errno.h)
DEF EIO = 5
DEF E2BIG = 7
DEF ENOMEM = 12
DEF EINVAL = 22
DEF ENOSPC = 28
DEF ENOENT = 2
DEF ENOSYS = 38

# Variants and crypto layers, as numbered by zswap_spec.pool.api.
DEF V_MAINLINE = 0
DEF V_V13 = 1
DEF V_V14 = 2
DEF V_EXPLICIT = 3
DEF V_UNIFORM = 4
DEF L_LEGACY = 0
DEF L_SEGMENTED = 1
DEF L_UNIFORM = 2

# debugfs counters, in zswap_spec.model.zswap.DEBUGFS_COUNTERS order.
DEF C_POOL_LIMIT_HIT = 0
DEF C_REJECT_RECLAIM_FAIL = 1
DEF C_REJECT_ALLOC_FAIL = 2
DEF C_REJECT_KMEMCACHE_FAIL = 3
DEF C_REJECT_COMPRESS_FAIL = 4
DEF C_REJECT_COMPRESS_POOR = 5
DEF C_DECOMPRESS_FAIL = 6
DEF C_WRITTEN_BACK_PAGES = 7
DEF C_POOL_TOTAL_SIZE = 8
DEF C_STORED_PAGES = 9
DEF C_STORED_INCOMP = 10
DEF NR_COUNTERS = 11
# memcg stats, in MEMCG_STATS order; vm events zswpin, zswpout, zswpwb.
DEF S_ZSWAP = 0
DEF S_ZSWAPPED = 1
DEF S_INCOMP = 2
DEF S_ZSWPIN = 3
DEF S_ZSWPOUT = 4
DEF S_ZSWPWB = 5
DEF NR_STATS = 6
DEF MAX_CGROUPS = 64
DEF MAX_UNITS = 8

# Faults (zswap_spec.model.faults names; the core implements the deterministic ones).
DEF F_NONE = -1
DEF F_ZERO = 0
DEF F_OVER_REPORT = 1
DEF F_OVER_WRITE = 2
DEF F_EXACT = 3
DEF F_STALE = 4
DEF F_ALL_VALID = 5
DEF F_NEG_RET0 = 6
DEF F_PARTIAL = 7
DEF F_ENOSPC = 8
DEF F_EINVAL = 9
DEF F_E2BIG = 10
DEF F_EIO = 11
DEF F_BAD = 12
DEF F_UNWRITTEN = 13
DEF NR_FAULTS = 14

DEF ZS_HANDLE_SIZE = 8
DEF ZS_MIN_ALLOC_SIZE = 32
DEF RATIO_FULL = 11
DEF CHUNK_BITS = 10
DEF SPARE_BYTES = 64 << 20  # memory of freed zspages kept for reuse, at most
DEF AHEAD_RING = 64

FAULT_NAMES = ("zero-length", "oversize-report", "oversize-write", "exact-page",
               "fail-stale-length", "fail-all-valid", "negative-entry-ret0", "partial-batch",
               "enospc", "einval", "e2big", "eio", "bad-output", "unwritten-entry")
BATCHING_ONLY = (F_ALL_VALID, F_NEG_RET0, F_PARTIAL, F_UNWRITTEN)


cdef struct Entry:
    # `struct zswap_entry` as the core keeps it: 24 bytes.
    uint64_t offset
    uint64_t handle
    uint32_t length
    uint16_t memcg
    uint16_t charged


cdef struct Zspage:
    uint8_t *mem
    int32_t cls
    int32_t inuse
    int32_t fullness
    int32_t partial_pos    # index in its class's partial list, -1 if full
    uint64_t stamp
    int32_t free_head      # a freed slot (its first 4 bytes chain the others), -1 none
    int32_t bump           # slots never used start here


cdef struct SizeClass:
    uint32_t size
    uint32_t pages
    uint32_t objs
    int32_t *partial
    int32_t npartial
    int32_t cap_partial
    uint8_t **spare        # memory of freed zspages, reused before malloc
    int32_t nspare
    int32_t cap_spare


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


cdef struct Ahead:
    # Compress-ahead: what the workers need, in C (they run without the GIL).
    int on
    int alg
    int batching
    int page_size
    size_t slot_size
    zc_ctx **ctx
    const uint8_t *base
    int64_t npages
    int64_t length         # positions to compress
    int32_t *seq           # position -> page index
    int32_t *pos           # page index -> position, -1 when not compressed
    int64_t next           # next position to claim (atomic)
    int64_t consumed       # positions below are taken or abandoned (atomic)
    int64_t stop           # (atomic)
    int64_t done[AHEAD_RING]   # position + 1 once its result is in (atomic)
    long result[AHEAD_RING]
    uint8_t *out           # AHEAD_RING slots of slot_size bytes


cdef int ahead_claim(Ahead *a, int64_t *pos) noexcept nogil:
    """Claim the next position to compress: 1, 0 when none is free now, -1 at the end."""
    cdef int64_t p = zs_load64(&a.next)
    if p >= a.length:
        return -1
    if p >= zs_load64(&a.consumed) + AHEAD_RING:
        return 0
    if zs_cas64(&a.next, &p, p + 1):
        pos[0] = p
        return 1
    return 0


cdef void ahead_produce(Ahead *a, int64_t pos, int thread) noexcept nogil:
    cdef int slot = pos % AHEAD_RING
    cdef size_t cap = a.slot_size if a.batching else <size_t>a.page_size
    a.result[slot] = zc_compress(a.ctx[thread], a.alg, a.base + <size_t>a.seq[pos] * a.page_size,
                                 a.page_size, a.out + slot * a.slot_size, cap)
    zs_store64(&a.done[slot], pos + 1)


cdef void ahead_task(void *arg, int k, int thread) noexcept nogil:
    """A worker's part of compress-ahead: claim and compress until told to stop."""
    cdef Ahead *a = <Ahead *>arg
    cdef int64_t pos
    cdef int got, spins = 0
    while not zs_load64(&a.stop):
        got = ahead_claim(a, &pos)
        if got == 1:
            ahead_produce(a, pos, thread)
            spins = 0
        elif got < 0:
            return
        else:
            zs_backoff(&spins)


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


cdef inline bint own_result(int fault) noexcept nogil:
    """No fault, or one the batch path applies: the unit keeps its real output."""
    return (fault == F_NONE or fault == F_ALL_VALID or fault == F_NEG_RET0 or fault == F_PARTIAL
            or fault == F_UNWRITTEN)


cdef inline int32_t s32(uint32_t v) noexcept nogil:
    return <int32_t>v


cdef class Core:
    """One zswap instance in C types.  Arguments are checked by zswap_spec.pool."""

    cdef int variant, layer, alg, batching, alg_batch_size, page_size
    cdef int compr_batch, store_batch, faults_mode, threads, enabled
    cdef int fail_ret, fail_dlen_cap, exact_ok
    cdef int64_t total_ram_pages, max_pool_percent, accept_pct
    cdef int pool_reached_full, shrink_queued
    cdef int64_t ctr[NR_COUNTERS]
    cdef int64_t vm[3]
    cdef int ncg
    cdef uint8_t cg_wb[MAX_CGROUPS]
    cdef int64_t stats[MAX_CGROUPS][NR_STATS]
    # the tree: offset -> entry index + 1, in chunks of 2**CHUNK_BITS slots
    cdef uint32_t **chunks
    cdef int64_t nchunks
    cdef Entry *entries
    cdef int64_t nentries, cap_entries, free_entry, nlive_entries
    # zsmalloc
    cdef SizeClass *classes
    cdef int nclasses
    cdef int32_t *class_of_index
    cdef int nindex, delta
    cdef Zspage *zspages
    cdef int64_t nzspages, cap_zspages, free_zspage
    cdef int64_t npool_pages, npool_bytes, nlive_objects, spare_bytes
    cdef uint64_t clock
    # injection
    cdef int32_t *malloc_fail
    cdef int64_t nmalloc_fail, malloc_fail_pos
    cdef int64_t kmemcache_fail_next, xa_fail_next
    cdef list bad_sizes
    cdef int nbad_pending
    cdef uint32_t bad_pending[64]
    cdef int64_t armed[NR_FAULTS]
    cdef int64_t nfired[NR_FAULTS]
    cdef int32_t arm_order[NR_FAULTS]
    cdef int narm
    # buffers, the persistent destination SG lengths, threads
    cdef uint8_t *buffers
    cdef uint32_t sg_len[MAX_UNITS]
    cdef uint8_t *scratch
    cdef size_t scratch_size
    cdef uint8_t *page_tmp
    cdef Batch batch
    cdef zc_ctx *ctxs[8]
    cdef zc_workers *workers
    cdef int oom
    cdef int reached_pages  # the last zswap_store got past the limit checks
    cdef int busy  # a call is inside (the GIL is released there): refuse a second thread
    cdef Ahead ah  # compress-ahead (see ahead_begin)

    def __cinit__(self, int variant, int layer, str compressor, int batching, int alg_batch_size,
                  int page_size, int compr_batch, int store_batch, classes, int faults_mode,
                  int threads, int fail_ret, int fail_dlen_cap, int exact_ok,
                  int64_t total_ram_pages, int64_t max_pool_percent, int64_t accept_pct):
        cdef int i
        self.variant = variant
        self.layer = layer
        self.alg = alg_id(compressor)
        self.batching = batching
        self.alg_batch_size = alg_batch_size
        self.page_size = page_size
        self.compr_batch = compr_batch
        self.store_batch = store_batch
        self.faults_mode = faults_mode
        self.threads = threads
        self.enabled = 1
        self.fail_ret = fail_ret
        self.fail_dlen_cap = fail_dlen_cap
        self.exact_ok = exact_ok
        self.total_ram_pages = total_ram_pages
        self.max_pool_percent = max_pool_percent
        self.accept_pct = accept_pct
        self.ncg = 1
        self.cg_wb[0] = 1
        self.bad_sizes = []
        self.free_entry = -1
        self.free_zspage = -1
        # size classes: (size, pages, objs) per class, and each index's class
        sizes, index = classes
        self.nclasses = len(sizes)
        self.classes = <SizeClass *>calloc(self.nclasses, sizeof(SizeClass))
        self.nindex = len(index)
        self.class_of_index = <int32_t *>calloc(self.nindex, sizeof(int32_t))
        if not self.classes or not self.class_of_index:
            raise MemoryError()
        for i, (size, pages, objs) in enumerate(sizes):
            self.classes[i].size = size
            self.classes[i].pages = pages
            self.classes[i].objs = objs
        for i, c in enumerate(index):
            self.class_of_index[i] = c
        self.delta = page_size >> 8
        self.buffers = <uint8_t *>calloc(MAX_UNITS * page_size, 1)
        self.scratch_size = zc_bound(page_size)
        self.scratch = <uint8_t *>malloc(MAX_UNITS * self.scratch_size)
        self.page_tmp = <uint8_t *>malloc(page_size)
        if not self.buffers or not self.scratch or not self.page_tmp:
            raise MemoryError()
        for i in range(MAX_UNITS):
            self.sg_len[i] = page_size
        for i in range(threads):
            self.ctxs[i] = zc_ctx_new()
            if not self.ctxs[i]:
                raise MemoryError("cannot set up the compressors' working state")
        self.batch.ctx = self.ctxs
        self.batch.alg = self.alg
        self.batch.scratch_size = self.scratch_size
        self.workers = zc_workers_new(threads)
        if not self.workers:
            raise MemoryError()

    def __dealloc__(self):
        cdef int64_t i, j
        if self.workers:
            zc_workers_free(self.workers)
        for i in range(8):
            if self.ctxs[i]:
                zc_ctx_free(self.ctxs[i])
        for i in range(self.nchunks):
            free(self.chunks[i])
        free(self.chunks)
        free(self.entries)
        for i in range(self.nzspages):
            free(self.zspages[i].mem)
        free(self.zspages)
        if self.classes:
            for i in range(self.nclasses):
                free(self.classes[i].partial)
                for j in range(self.classes[i].nspare):
                    free(self.classes[i].spare[j])
                free(self.classes[i].spare)
        free(self.classes)
        free(self.class_of_index)
        free(self.malloc_fail)
        free(self.buffers)
        free(self.scratch)
        free(self.page_tmp)
        free(self.ah.out)

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
        cdef int64_t idx
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
                self.cap_entries += max(256, self.cap_entries // 8)
                grown = <Entry *>realloc(self.entries, self.cap_entries * sizeof(Entry))
                if not grown:
                    self.oom = 1
                    return -1
                self.entries = grown
            idx = self.nentries
            self.nentries += 1
        self.entries[idx].offset = offset
        self.entries[idx].handle = 0
        self.entries[idx].length = 0
        self.entries[idx].memcg = 0
        self.entries[idx].charged = 0
        self.nlive_entries += 1
        return idx

    cdef void entry_release(self, int64_t idx) noexcept nogil:
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

    # ---- zsmalloc --------------------------------------------------------------

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
        cdef int64_t size = cls.pages * <int64_t>self.page_size
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
            self.spare_bytes -= self.classes[c].pages * <int64_t>self.page_size
        else:
            self.zspages[zid].mem = <uint8_t *>malloc(self.classes[c].pages * <size_t>self.page_size)
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
            memcpy(&zp.free_head, zp.mem + <size_t>slot * cls.size, sizeof(int32_t))
        else:
            slot = zp.bump
            zp.bump += 1
        self.nlive_objects += 1
        return ((zid + 1) << 16) | slot

    cdef inline uint8_t *zs_ptr(self, uint64_t handle) noexcept nogil:
        cdef Zspage *zp = &self.zspages[(handle >> 16) - 1]
        return zp.mem + <size_t>(handle & 0xffff) * self.classes[zp.cls].size

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
        memcpy(zp.mem + <size_t>slot * cls.size, &zp.free_head, sizeof(int32_t))
        zp.free_head = slot
        self.refile(cls, zp)
        if was_full:
            self.partial_add(cls, zid)

    cdef int64_t store_bytes(self, int64_t idx, uint32_t dlen, const uint8_t *data) noexcept nogil:
        """`zs_malloc(dlen)`, then write dlen bytes: the handle or -errno."""
        cdef int64_t handle = self.zs_malloc(dlen)
        if handle < 0:
            return handle
        memcpy(self.zs_ptr(handle), data, dlen)
        self.npool_bytes += dlen
        self.entries[idx].handle = <uint64_t>handle
        self.entries[idx].length = dlen
        return handle

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

    # ---- faults ------------------------------------------------------------------

    cdef int take_fault(self) noexcept nogil:
        """The armed fault this call (unit) gets, in arming order; F_NONE."""
        cdef int i, f
        if not self.faults_mode:
            return F_NONE
        for i in range(self.narm):
            f = self.arm_order[i]
            if self.armed[f] > 0:
                self.armed[f] -= 1
                self.nfired[f] += 1
                return f
        return F_NONE

    cdef int32_t fault_unit(self, int f, Unit *u, int32_t value, int real_fits) noexcept nogil:
        """What a unit hit by fault f reports and writes (`FaultyCompressor._unit`):
        the length or -errno; the bytes go to u.dst."""
        cdef long real_len = u.result
        cdef uint32_t cap = u.cap
        cdef long keep
        cdef int32_t size
        if f == F_ZERO:
            return 0
        if f == F_OVER_REPORT or f == F_OVER_WRITE or f == F_EXACT:
            keep = real_len if real_len < <long>cap else cap
            memcpy(u.dst, u.scratch, keep)
            if f == F_EXACT:
                memset(u.dst + keep, 0, cap - keep)
                return <int32_t>cap
            size = <int32_t>(cap + 1 + real_len % 64)
            if f == F_OVER_WRITE:
                memset(u.dst + keep, 0, cap - keep)
            return size
        if f == F_ENOSPC:
            return -ENOSPC
        if f == F_EINVAL or f == F_STALE:
            return -EINVAL
        if f == F_E2BIG:
            return -E2BIG
        if f == F_EIO:
            return -EIO
        if f == F_BAD:
            memset(u.dst, 0xff, 64)
            return 64
        return value  # batching-only faults: the batch path applies them

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

    cdef void ahead_end(self) noexcept nogil:
        if not self.ah.on:
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
        pos = a.pos[off // self.page_size]
        if pos < 0 or pos < zs_load64(&a.consumed):
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
        cdef int32_t err
        if self.layer == L_SEGMENTED:
            if self.batching:
                if unit_size and slen > unit_size:
                    self.compress_batch(src, slen, unit_size, ndst, req_dlen)
                    return 0  # the driver's -EINVAL goes to req->slen, never read back
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
        cdef const uint8_t *data = self.zs_ptr(e.handle)
        cdef long n
        if e.length == <uint32_t>self.page_size:
            memcpy(out, data, self.page_size)
            return 0
        n = zc_decompress(self.ctxs[0], self.alg, data, e.length, out, self.page_size)
        if n == self.page_size:
            return 0
        self.ctr[C_DECOMPRESS_FAIL] += 1
        return -EIO

    cdef int zswap_load(self, uint64_t offset, uint8_t *out) noexcept nogil:
        cdef int64_t idx = self.tree_get(offset)
        cdef int m
        if idx < 0:
            return -ENOENT
        if self.decompress_entry(idx, out) != 0:
            return -EIO
        m = self.entries[idx].memcg
        self.stats[m][S_ZSWPIN] += 1
        if m:
            self.stats[0][S_ZSWPIN] += 1
        self.vm[0] += 1
        self.tree_pop(offset)
        self.entry_free(idx)
        self.ctr[C_POOL_TOTAL_SIZE] = self.npool_pages * self.page_size
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
                  bint zeromap, uint8_t[::1] outcomes, int8_t[::1] moved):
        """Swap out a buffer folio by folio; one outcome byte per page:
        '0' zero-filled (kept by the swap core), 'c' compressed, 'r' raw, 'x' rejected.
        For a folio rejected past the limit checks, `moved` (at its first
        page) gets how far the reject_* counters moved (INV-COUNTERS)."""
        cdef int64_t npages = buf.shape[0] // self.page_size
        cdef int64_t first, i, j, n
        cdef int ok, zero
        cdef const uint8_t *p
        cdef int64_t idx, before
        self.enter()
        with nogil:
            self.ahead_begin(&buf[0], npages, folio_pages, zeromap)
            first = 0
            while first < npages:
                n = folio_pages if folio_pages < npages - first else npages - first
                p = &buf[first * self.page_size]
                zero = 0
                if zeromap and self.ah.on:
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
        self.flush_bad()

    def load_run(self, uint64_t first_offset, const uint8_t[::1] expected, const uint8_t[::1] outcomes):
        """Swap in every page stored in zswap ('c'/'r'); the offsets whose bytes
        differ from `expected` (return code 1, and the first byte that
        differs) or that fail to load (-errno, -1)."""
        cdef int64_t npages = expected.shape[0] // self.page_size
        cdef int64_t i
        cdef int rc, first
        bad = []
        for i in range(npages):
            if outcomes[i] != 99 and outcomes[i] != 114:
                continue
            self.enter()
            with nogil:
                rc = self.zswap_load(first_offset + i, self.page_tmp)
                first = -1
                if rc == 0 and memcmp(self.page_tmp, &expected[i * self.page_size], self.page_size) != 0:
                    rc = 1
                    first = 0
                    while self.page_tmp[first] == expected[i * self.page_size + first]:
                        first += 1
            self.busy = 0
            if rc != 0:
                bad.append((first_offset + i, rc, first))
        self.flush_bad()
        return bad

    def audit(self, uint64_t first_offset, const uint8_t[::1] expected, const uint8_t[::1] outcomes):
        """After a swap-out: entries where the outcomes say none should be
        (INV-ATOMIC), missing ones, lengths outside (0, PAGE_SIZE] (INV-LEN),
        as-is entries whose bytes are not the page (INV-RAW), and the number
        of as-is entries."""
        cdef int64_t npages = expected.shape[0] // self.page_size
        cdef int64_t i, idx
        cdef Entry *e
        cdef int64_t raw = 0
        self.idle()
        extra, missing, bad_len, bad_raw, raw_offsets = [], [], [], [], []
        for i in range(npages):
            idx = self.tree_get(first_offset + i)
            stored = outcomes[i] == 99 or outcomes[i] == 114
            if idx < 0:
                if stored:
                    missing.append(first_offset + i)
                continue
            if not stored:
                extra.append(first_offset + i)
            e = &self.entries[idx]
            if e.length == 0 or e.length > <uint32_t>self.page_size:
                bad_len.append((first_offset + i, e.length))
            elif e.length == <uint32_t>self.page_size:
                raw += 1
                raw_offsets.append(first_offset + i)
                if memcmp(self.zs_ptr(e.handle), &expected[i * self.page_size], self.page_size) != 0:
                    bad_raw.append(first_offset + i)
        return {"extra": extra, "missing": missing, "bad_length": bad_len, "bad_raw": bad_raw,
                "raw": raw, "raw_offsets": raw_offsets, "entries": self.nlive_entries,
                "objects": self.nlive_objects}

    def load(self, uint64_t offset):
        cdef int rc
        self.enter()
        with nogil:
            rc = self.zswap_load(offset, self.page_tmp)
        self.flush_bad()
        return rc, (self.page_tmp[:self.page_size] if rc == 0 else None)

    def writeback(self, uint64_t offset):
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
        cdef int64_t idx = self.tree_get(offset)
        cdef Entry *e
        self.idle()
        if idx < 0:
            return None
        e = &self.entries[idx]
        data = self.zs_ptr(e.handle)[:e.length] if e.handle else b""
        return e.length, data, e.memcg

    def totals(self):
        """(entries, entries stored as-is, per cgroup [bytes, entries, as-is]) from the
        tree itself, to check the counters against (INV-COUNTERS)."""
        self.idle()
        cdef int64_t c, slot, idx, n = 0, raw = 0
        cdef int m
        cdef Entry *e
        cdef int64_t sums[MAX_CGROUPS][3]
        memset(sums, 0, sizeof(sums))
        for c in range(self.nchunks):
            if not self.chunks[c]:
                continue
            for slot in range(1 << CHUNK_BITS):
                idx = <int64_t>self.chunks[c][slot] - 1
                if idx < 0:
                    continue
                e = &self.entries[idx]
                n += 1
                raw += e.length == <uint32_t>self.page_size
                for m in range(2):
                    if m == 1 and e.memcg == 0:
                        break
                    sums[e.memcg if m == 1 else 0][0] += e.length
                    sums[e.memcg if m == 1 else 0][1] += 1
                    sums[e.memcg if m == 1 else 0][2] += e.length == <uint32_t>self.page_size
        return n, raw, [[sums[m][0], sums[m][1], sums[m][2]] for m in range(self.ncg)]

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


def raw_loop(str compressor, const uint8_t[::1] buf, int page_size, int repeat):
    """The physical limit: compress every page into a PAGE_SIZE destination, nothing else.
    Returns the total of the output lengths (so the work cannot be skipped)."""
    cdef int alg = alg_id(compressor)
    cdef zc_ctx *ctx = zc_ctx_new()
    cdef uint8_t *dst = <uint8_t *>malloc(page_size)
    cdef int64_t npages = buf.shape[0] // page_size, i
    cdef int r
    cdef long total = 0, n
    if not ctx or not dst:
        free(dst)
        zc_ctx_free(ctx)
        raise MemoryError()
    with nogil:
        for r in range(repeat):
            for i in range(npages):
                n = zc_compress(ctx, alg, &buf[i * page_size], page_size, dst, page_size)
                total += n
    free(dst)
    zc_ctx_free(ctx)
    return total

# The records and fields one zswap instance holds, with their set-up and release: ZswapEntry
# and Zswap of model/zswap.py, the zspages and size classes of model/zsmalloc.py.

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



# The first of the Core's classes; each include file below adds the methods of one part.
cdef class _CoreState:
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
    cdef int sizes_only  # keep every size and count, never the bytes (Core.keep_sizes_only)
    cdef int zs_links_only  # zspages without room for objects: sizes only, or bytes in blobs
    cdef Blob **blob_of  # per entry, where its bytes are, for a pool sharing its bytes (Core.share_bytes)
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
        if self.blob_of:
            for i in range(self.nentries):
                blob_put(self.blob_of[i])
        free(self.blob_of)
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

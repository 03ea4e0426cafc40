# Compress-ahead's worker side: atomics, the ring of results and the workers' task.  No model
# file: the model compresses in order, and model/compressors.py's compression is a pure function.
# The instance's side (ahead_begin, ahead_end, ahead_take) is in _acomp.pxi.

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
    # A shared table (`Compressed`, _shared.pxi) instead of the ring: every page's result
    # computed before the store, by page index; read only, so many pools take from it.
    int table
    const long *tresult
    const uint8_t *tout
    Blob **blob_c          # the table's blobs (pools that share their bytes)
    Blob **blob_r
    Arena *arena           # the table's, where new blobs of its pages are cut
    uint64_t first_offset  # the swap offset of the table's first page in this store_run


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

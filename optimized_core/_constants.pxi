# Compile-time constants and C integer conversion: errno values and s32 (model/cint.py),
# variant and crypto-layer numbers (model/variants/, model/acomp.py), the debugfs counters
# (model/zswap.py), memcg stats (model/memcg.py), fault numbers and names (model/faults.py)
# and zsmalloc's sizes (model/zsmalloc.py).

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
DEF TASK_PAGES = 16  # pages a thread claims at a time (a table's fill, load_check)
DEF LOAD_SKIP = 2  # load_check: a page zswap does not hold
DEF NOT_COMPRESSED = -2  # a shared table's page left to the store (a zero page)

FAULT_NAMES = ("zero-length", "oversize-report", "oversize-write", "exact-page",
               "fail-stale-length", "fail-all-valid", "negative-entry-ret0", "partial-batch",
               "enospc", "einval", "e2big", "eio", "bad-output", "unwritten-entry")
BATCHING_ONLY = (F_ALL_VALID, F_NEG_RET0, F_PARTIAL, F_UNWRITTEN)


cdef inline int32_t s32(uint32_t v) noexcept nogil:
    return <int32_t>v

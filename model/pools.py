"""zswap's pools: one per compressor, the newest the current one.

Every `zswap_store` compresses with the current pool (the head of
`zswap_pools`) and each entry keeps the pool it was stored in, so a load or a
writeback decompresses with the compressor that compressed it and frees the
object in that pool's zsmalloc.  Setting the `compressor` parameter to
another name makes that compressor's pool the current one: an older pool of
that name still holding entries is taken back (its zsmalloc pool and its
per-CPU buffers as they were), else a new pool is made; the pool that was
current is decommissioned and lives on, in the list, until its last entry
is freed.  `zswap_total_pages` (the debugfs `pool_total_size`, in pages, and
the global pool limit) counts every pool in the list.

mm/zswap.c, Linux 7.3.4 (Debian linux-source-7.3): `struct zswap_pool`
(line 153) and `zswap_pools` (204), `zswap_pool_create` (273),
`__zswap_pool_empty` (399: the last reference of a decommissioned pool
takes it off the list), `zswap_pool_find_get` (470: any pool of that name
whose reference can still be taken, decommissioned or not),
`zswap_total_pages` (498), `zswap_compressor_param_set` (530: the same name
as the current pool's changes nothing; otherwise the found or new pool goes
to the head and the old current pool's base reference is dropped),
`zswap_store_page` (1410: `zswap_pool_get` per stored entry,
`entry->pool`), `zswap_entry_free` (767: `zs_free` in, and `zswap_pool_put`
of, the entry's pool), `zswap_decompress` (926: the entry's pool's
compressor).
"""

from __future__ import annotations

from .acomp import ScatterEntry
from .zsmalloc import ZsPool

__all__ = ["ZswapPool"]


class ZswapPool:
    """`struct zswap_pool`: a compressor, its zsmalloc pool, its per-CPU
    (one CPU) destination buffers, and how many entries hold it."""

    def __init__(self, alg, variant, page_size: int, max_batch_size: int | None = None):
        self.alg = alg
        self.name = getattr(alg, "name", str(alg))  # `tfm_name`
        self.zpool = ZsPool(page_size)
        self.compr_batch_size = variant.compr_batch_size(alg, max_batch_size)
        self.store_batch_size = variant.store_batch_size(alg, self.compr_batch_size)
        # PAGE_SIZE bytes each, one per unit of a batch; they keep stale
        # bytes between calls, and a pool taken back keeps its own.
        self.buffers = [bytearray(page_size) for _ in range(self.compr_batch_size)]
        # The per-CPU destination SG list of the batching series: one entry
        # per buffer, whose lengths also persist between calls.
        self.sg_outputs = [ScatterEntry(buf, page_size) for buf in self.buffers]
        self.entries = 0  # references held by stored entries (`zswap_pool_get`)
        self.current = True  # holds the base reference: the head of the list

    def __repr__(self) -> str:
        return f"ZswapPool({self.name!r}, entries={self.entries}, current={self.current})"

    @property
    def alive(self) -> bool:
        """A reference can still be taken: it stays on `zswap_pools`."""
        return self.current or self.entries > 0

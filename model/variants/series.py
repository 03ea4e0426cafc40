"""What the batching series' variants share besides transcribed text: the
patches' citations, ZSWAP_MAX_BATCH_SIZE, the base tree, and how a pool's
batch sizes are set.
"""

from __future__ import annotations

__all__ = ["ZSWAP_MAX_BATCH_SIZE", "BASE_TREE", "V13_COVER", "V13_21", "V13_22", "V14_25",
           "V14_26", "compr_batch_size", "store_batch_size"]

V13_COVER = ('"[PATCH v13 00/22] zswap compression batching with optimized iaa_crypto driver", '
             'Kanchana P Sridhar, 2025-11-04')
V13_21 = ('"[PATCH v13 21/22] mm: zswap: zswap_store() will process a large folio in batches.", '
          'Kanchana P Sridhar, 2025-11-04')
V13_22 = ('"[PATCH v13 22/22] mm: zswap: Batched zswap_compress() with compress batching of large '
          'folios.", Kanchana P Sridhar, 2025-11-04')
V14_25 = ('"[PATCH v14 25/26] mm: zswap: Store large folios in batches.", Kanchana P Sridhar, '
          '2026-01-24')
V14_26 = ('"[PATCH v14 26/26] mm: zswap: Batched zswap_compress() for compress batching of large '
          'folios.", Kanchana P Sridhar, 2026-01-24')

# The series' base: the v13 cover letter names mm-unstable of 2025-10-24
# (commit 813c0fa931ce); the model runs the series, and the review's
# proposals made on it, with the nearest tree read, damonitor/linux
# 9321810240ec (base_trees.MM_LATE_2025).
BASE_TREE = "mm-late-2025"

# "Limit the batch size to limit per-CPU memory usage for dst buffers":
# 8U in V13_21 and V14_25.
ZSWAP_MAX_BATCH_SIZE = 8


def compr_batch_size(alg, override=None) -> int:
    """`pool->compr_batch_size = min(ZSWAP_MAX_BATCH_SIZE,
    crypto_acomp_batch_size(acomp))` (`zswap_cpu_comp_prepare`, V13_21 and
    V14_25): the algorithm's batch size for a batching algorithm whose batch
    size is above 1 ("[PATCH v13 18/22]"), else 1.  `override` is the model's
    `max_batch_size` parameter, a smaller ZSWAP_MAX_BATCH_SIZE (at least 1)."""
    limit = ZSWAP_MAX_BATCH_SIZE if override is None else max(1, min(override, ZSWAP_MAX_BATCH_SIZE))
    if alg.batching and alg.batch_size > 1:
        return min(limit, alg.batch_size)
    return 1


def store_batch_size(alg, compr_batch_size: int) -> int:
    """`zswap_store()`'s `store_batch_size` (V13_21, V14_25): a batching
    compressor's batch, else ZSWAP_MAX_BATCH_SIZE pages compressed one by one."""
    return compr_batch_size if compr_batch_size > 1 else ZSWAP_MAX_BATCH_SIZE

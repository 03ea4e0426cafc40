"""zswap-spec: an executable specification of Linux zswap's batched
compression path and of the crypto acomp batch contract.

Public API: build a `Zswap` for a variant and compressor, wrap it in a
`SwapSystem` to check the spec's invariants while folios go out and pages
come back, or call `replay_pages` for a whole run.  `make_pool` gives the
same pool behind one API from the optimized core or the model
(`zswap_spec.pool`).
"""

from zswap_spec.pool import make_pool
from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.model.invariants import Violation
from zswap_spec.model.memcg import MemCgroup
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.variants import VARIANTS, get_variant
from zswap_spec.model.zswap import Folio, Zswap
from zswap_spec.replay import RunConfig, RunResult, replay_pages

__all__ = [
    "ALGORITHMS",
    "VARIANTS",
    "Folio",
    "MemCgroup",
    "RunConfig",
    "RunResult",
    "SwapSystem",
    "Violation",
    "Zswap",
    "get_variant",
    "make_pool",
    "replay_pages",
]

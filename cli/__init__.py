"""zswap-spec: an executable specification of Linux zswap's batched
compression path and of the crypto acomp batch contract.

Public API: build a `Zswap` for a variant and compressor, wrap it in a
`SwapSystem` to check the spec's invariants while folios go out and pages
come back, or call `replay_pages` for a whole run.  `make_pool` gives the
same pool behind one API from the optimized core or the model
(`zswap_spec.core`).
"""

from .core import make_pool
from .model.compressors import ALGORITHMS
from .model.invariants import Violation
from .model.memcg import MemCgroup
from .model.swap import SwapSystem
from .model.variants import VARIANTS, get_variant
from .model.zswap import Folio, Zswap
from .replay import RunConfig, RunResult, replay_pages

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

"""zswap-spec: an executable specification of Linux zswap's batched
compression path and of the crypto acomp batch contract.

Public API: build a `Zswap` for a variant and compressor, wrap it in a
`SwapSystem` to check the spec's invariants while folios go out and pages
come back, or call `replay_pages` for a whole run.  `make_pool` gives the
same pool behind one API from the optimized core or the model
(`zswap_spec.pool`).
"""

# The names load on first use: a process that needs one part (the driver
# kit's worker, say) does not pay for importing the model and the core.
_WHERE = {
    "make_pool": "zswap_spec.pool",
    "ALGORITHMS": "zswap_spec.model.compressors",
    "Violation": "zswap_spec.model.invariants",
    "MemCgroup": "zswap_spec.model.memcg",
    "SwapSystem": "zswap_spec.model.swap",
    "VARIANTS": "zswap_spec.model.variants",
    "get_variant": "zswap_spec.model.variants",
    "Folio": "zswap_spec.model.zswap",
    "Zswap": "zswap_spec.model.zswap",
    "RunConfig": "zswap_spec.replay",
    "RunResult": "zswap_spec.replay",
    "replay_pages": "zswap_spec.replay",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zswap_spec' has no attribute {name!r}")


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

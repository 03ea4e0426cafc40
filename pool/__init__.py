"""The optimized core and the model behind one pool API, and which of the two
serves.

`make_pool()` builds a zswap pool for a variant and compressor from either
implementation: ``"core"`` (the Cython extension ``zswap_spec.optimized_core._core``)
or ``"model"`` (``zswap_spec.model``, the oracle).  Both answer the same
calls with the same results, counters and stored bytes; the test suite runs
one conformance suite against each and a lockstep state machine against
both at once.

The environment variable ``ZSWAP_SPEC_IMPL`` forces ``model`` or ``core``;
unset (or ``auto``) the core serves when it is built, else the model, which
says so once.  ``IMPL`` reports the active implementation.
"""

from __future__ import annotations

import os
import sys

from zswap_spec.optimized_core import core_available, core_libraries

from .api import CORE_COMPRESSORS, CORE_FAULTS, TRIVIAL, Pool, check_pool_args
from .core_backend import CorePool
from .errors import CoreUnavailable, PoolInputError
from .model_backend import ModelPool

__all__ = [
    "IMPL",
    "IMPLS",
    "CORE_COMPRESSORS",
    "CORE_FAULTS",
    "CoreUnavailable",
    "Pool",
    "PoolInputError",
    "TRIVIAL",
    "active_impl",
    "core_available",
    "core_libraries",
    "make_pool",
    "resolve_impl",
]

IMPLS = ("core", "model")
ENV = "ZSWAP_SPEC_IMPL"
_said_model = False


def resolve_impl(requested: str | None = None) -> str:
    """The implementation a caller gets: `requested`, else the environment's, else auto."""
    global _said_model
    choice = (requested or os.environ.get(ENV) or "auto").strip().lower()
    if choice not in IMPLS + ("auto",):
        source = "the requested implementation" if requested else f"{ENV}"
        raise PoolInputError(f"{source} is {choice!r}; use core, model or auto")
    if choice == "model":
        return "model"
    ok, why = core_available()
    if ok:
        return "core"
    if choice == "core":
        raise CoreUnavailable(f"the optimized core is not available: {why}")
    if not _said_model:
        _said_model = True
        print(f"zswap-spec: note: the optimized core is not available ({why}); "
              f"the model serves", file=sys.stderr)
    return "model"


def active_impl() -> str:
    """What serves when nothing is requested: "core" or "model"."""
    return resolve_impl(None)


def make_pool(variant: str = "mainline", compressor: str = "lz4", page_size: int = 4096, *,
              impl: str | None = None, **options) -> Pool:
    """A pool from the chosen implementation (see `Pool` for the options)."""
    check_pool_args(variant, compressor, page_size, **options)
    chosen = resolve_impl(impl)
    cls = CorePool if chosen == "core" else ModelPool
    return cls(variant, compressor, page_size, **options)


def __getattr__(name: str):
    if name == "IMPL":
        return active_impl()
    raise AttributeError(name)

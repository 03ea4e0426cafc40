"""The optimized core and the model behind one pool API, and which of the two
serves.

`make_pool()` builds a zswap pool for a variant and compressor from either
implementation: ``"core"`` (the Cython extension ``zswap_spec.optimized_core._core``)
or ``"model"`` (``zswap_spec.model``, the oracle).  Both answer the same
calls with the same results, counters and stored bytes; the test suite runs
one conformance suite against each and a lockstep state machine against
both at once.

Which of the two serves is decided in one place, `resolve_impl()`, by one
rule for every caller (`make_pool`, `replay`, `fuzz`):

- the choice is the one requested; unrequested or ``auto``, the environment
  variable ``ZSWAP_SPEC_IMPL`` (``core``, ``model`` or ``auto``); unset,
  ``auto``.  Anything else is refused, naming where it came from;
- ``model`` serves: the model implements everything;
- ``auto`` picks the core when it is built and implements everything the
  job needs and wants (`CORE_FEATURES`), else the model, which says why
  once on stderr;
- an explicit ``core`` must be built and implement what the job needs; a
  feature it lacks is an error naming it.  What the job only wants (the
  fuzz pool machine's ``memory.zswap.max`` and shrinker, say) it does
  without.

`IMPL` reports what serves a job with no needs.

The pool API is zswap's store path without the pool shrink worker, on both
backends alike: a store refused while the pool is full queues the worker
(`Pool.shrink_work_queued`) and nothing runs it, so a full pool refuses
stores until the caller frees it down to the accept threshold.  The core
does not implement the worker; the model does, but only its swap layer
(`zswap_spec.model.swap.SwapSystem`) runs it, after every swap-out, as the
kernel's worker would.  A job that needs the worker (a pool limit reached
with writeback on) needs the model's swap layer, not this API.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from zswap_spec.optimized_core import core_available, core_libraries

from .api import CORE_COMPRESSORS, CORE_FAULTS, TRIVIAL, VARIANT_IDS, Pool, check_pool_args
from .core_backend import CorePool
from .errors import CoreUnavailable, PoolInputError
from .model_backend import ModelPool

__all__ = [
    "IMPL",
    "IMPLS",
    "CHOICES",
    "CORE_COMPRESSORS",
    "CORE_FAULTS",
    "CORE_FEATURES",
    "ZSWAP_MAX",
    "SHRINKER",
    "SHRINK_WORKER",
    "CoreUnavailable",
    "Pool",
    "PoolInputError",
    "TRIVIAL",
    "active_impl",
    "compressor_feature",
    "core_available",
    "core_libraries",
    "fault_feature",
    "variant_feature",
    "make_pool",
    "requested_impl",
    "resolve_impl",
]

IMPLS = ("core", "model")
CHOICES = ("auto",) + IMPLS
ENV = "ZSWAP_SPEC_IMPL"

# Features a job may need, by the words that name them in messages.  The
# model implements every one; the core the ones in CORE_FEATURES.
ZSWAP_MAX = "memory.zswap.max"
SHRINKER = "the shrinker's LRU walk"
SHRINK_WORKER = "the pool limit's shrink worker"


def fault_feature(name: str) -> str:
    """The feature of arming the catalogue's fault `name`."""
    return f"the fault {name!r}"


def compressor_feature(compressor) -> str:
    """The feature of compressing with `compressor`: a name, or an algorithm object
    (a driver's, say), which only the model takes."""
    if isinstance(compressor, str):
        return f"the compressor {compressor!r}"
    return f"the compressor {getattr(compressor, 'name', '?')!r} ({type(compressor).__name__})"


def variant_feature(name: str) -> str:
    """The feature of running variant `name`'s store path.  The core implements the
    variants of its own table (`api.VARIANT_IDS`); a variant added to the model since is
    served by the model, or refused by name where the core was asked for."""
    return f"the variant {name!r}"


CORE_FEATURES = frozenset([fault_feature(f) for f in CORE_FAULTS]
                          + [compressor_feature(c) for c in CORE_COMPRESSORS]
                          + [variant_feature(v) for v in VARIANT_IDS])

_said: set[str] = set()  # the reasons the model served, each said once


def requested_impl(requested: str | None = None) -> str:
    """The choice asked for, "auto", "core" or "model": `requested` unless it is
    None or "auto", else ZSWAP_SPEC_IMPL when set, else "auto"."""
    choice = (requested or "auto").strip().lower()
    if choice not in CHOICES:
        raise PoolInputError(f"the requested implementation is {choice!r}; use core, model or auto")
    if choice == "auto":
        env = (os.environ.get(ENV) or "").strip().lower()
        if env and env not in CHOICES:
            raise PoolInputError(f"{ENV} is {env!r}; use core, model or auto")
        choice = env or "auto"
    return choice


def _lacking(features: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(f for f in features if f not in CORE_FEATURES))


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def resolve_impl(requested: str | None = None, needs: Iterable[str] = (),
                 wants: Iterable[str] = ()) -> str:
    """The implementation that serves a job, "core" or "model", by the module's rule.

    `needs`: features the job cannot do without (an explicit core lacking one
    is refused); `wants`: features it uses when they are there (auto takes
    the model for them; an explicit core does without)."""
    needs, wants = list(needs), list(wants)
    choice = requested_impl(requested)
    if choice == "model":
        return "model"
    ok, why = core_available()
    if choice == "core":
        if not ok:
            raise CoreUnavailable(f"the optimized core is not available: {why}")
        lacking = _lacking(needs)
        if lacking:
            raise PoolInputError(f"the core does not implement {_words(lacking)}; "
                                 f"use the model (--impl model or {ENV}=model)")
        return "core"
    lacking = _lacking(needs + wants)
    if ok and not lacking:
        return "core"
    reason = (f"the optimized core is not available ({why})" if not ok
              else f"the core does not implement {_words(lacking)}")
    if reason not in _said:
        _said.add(reason)
        print(f"zswap-spec: note: {reason}; the model serves", file=sys.stderr)
    return "model"


def active_impl() -> str:
    """What serves a job with no needs when nothing is requested: "core" or "model"."""
    return resolve_impl(None)


def make_pool(variant: str = "mainline", compressor: str = "lz4", page_size: int = 4096, *,
              impl: str | None = None, **options) -> Pool:
    """A pool from the chosen implementation (see `Pool` for the options)."""
    check_pool_args(variant, compressor, page_size, **options)
    chosen = resolve_impl(impl, needs=[variant_feature(variant)])
    cls = CorePool if chosen == "core" else ModelPool
    return cls(variant, compressor, page_size, **options)


def __getattr__(name: str):
    if name == "IMPL":
        return active_impl()
    raise AttributeError(name)

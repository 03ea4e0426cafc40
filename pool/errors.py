"""Errors of the pool API: bad arguments, and a core that cannot serve."""

from __future__ import annotations

from zswap_spec.optimized_core import CoreUnavailable

__all__ = ["PoolInputError", "CoreUnavailable"]


class PoolInputError(ValueError):
    """An argument the pool API refuses, with the fix in the message."""

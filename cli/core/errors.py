"""Errors of the pool API: bad arguments, and a core that cannot serve."""

from __future__ import annotations

__all__ = ["PoolInputError", "CoreUnavailable"]


class PoolInputError(ValueError):
    """An argument the pool API refuses, with the fix in the message."""


class CoreUnavailable(RuntimeError):
    """The optimized core is not built, or its compression libraries do not load."""

"""Replay: push a stream of pages through a variant and read every page back,
on the model (`on_model`) or the optimized core (`on_core`); the built-in
sample of real pages (`sample`) and the run table (`report`).
"""

from __future__ import annotations

from .results import OUTCOME_CODES, RunConfig, RunResult

__all__ = ["RunConfig", "RunResult", "replay_pages", "OUTCOME_CODES"]


def replay_pages(pages, config: RunConfig, progress=None, impl: str | None = "model") -> RunResult:
    """Swap `pages` out through one configuration, then back in; check all the way.

    `impl` picks the implementation: "model" (default), "core", or None (or
    "auto") for `zswap_spec.pool.resolve_impl`'s rule; the run needs its
    compressor, so a compressor the core lacks (a driver's) takes the model."""
    from zswap_spec.pool import compressor_feature, resolve_impl

    if resolve_impl(impl, needs=[compressor_feature(config.compressor)]) == "core":
        from .on_core import replay_on_core

        return replay_on_core(pages, config, progress)
    from .on_model import replay_on_model

    return replay_on_model(pages, config, progress)

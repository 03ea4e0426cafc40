"""Replay: push a stream of pages through a variant and read every page back,
on the model (`on_model`) or the optimized core (`on_core`), a chunk of the
input at a time (`source`, `run`, `stream`); the built-in sample of real
pages (`sample`) and the run table (`report`).
"""

from __future__ import annotations

from .results import OUTCOME_CODES, RunConfig, RunResult
from .run import run_needs

__all__ = ["RunConfig", "RunResult", "replay_pages", "run_needs", "OUTCOME_CODES"]


def replay_pages(pages, config: RunConfig, progress=None, impl: str | None = "model") -> RunResult:
    """Swap `pages` out through one configuration, then back in; check all the way.

    `pages`: a list of pages, or a seekable `source.PageSource` (files, read a
    chunk at a time and again for the read-back).  `impl` picks the
    implementation: "model" (default), "core", or None (or "auto") for
    `zswap_spec.pool.resolve_impl`'s rule; the run needs its compressor, so a
    compressor the core lacks (a driver's) takes the model, and so does a run
    that comes near the pool limit with writeback on (only the model runs the
    shrink worker the pool limit queues): see `stream.replay_one`."""
    from .stream import replay_one

    return replay_one(pages, config, progress, impl)

"""Replay: push a stream of pages through a variant and read every page back,
on the model (`on_model`) or the optimized core (`on_core`), a chunk of the
input at a time (`source`, `run`, `stream`); the built-in sample of real
pages (`sample`) and the run table (`report`).
"""

from __future__ import annotations

from .results import OUTCOME_CODES, RunConfig, RunResult

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


def run_needs(nr_pages: int | None, config: RunConfig) -> list[str]:
    """What a run of `nr_pages` pages needs of the implementation
    (`zswap_spec.pool.resolve_impl`'s features); None: not known yet (the core
    then serves while the pool stays clear of its limit, `stream.replay_one`)."""
    from zswap_spec.pool import SHRINK_WORKER, compressor_feature

    needs = [compressor_feature(config.compressor)]
    if nr_pages is not None and config.writeback and _may_reach_pool_limit(nr_pages, config):
        needs.append(SHRINK_WORKER)
    return needs


# zsmalloc pages beyond one per stored page: at most a partly filled zspage
# (up to 4 pages) per size class; 1024 is above that for every page size.
_POOL_SLACK_PAGES = 1024


def _may_reach_pool_limit(nr_pages: int, config: RunConfig) -> bool:
    """Can `nr_pages` stored pages reach the pool limit (`zswap_max_pages`)?
    Each stored page takes at most one pool page, plus the slack above."""
    from zswap_spec.model.zswap import Zswap

    limit = config.total_ram_pages * Zswap.DEFAULT_MAX_POOL_PERCENT // 100
    return nr_pages + _POOL_SLACK_PAGES >= limit

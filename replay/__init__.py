"""Replay: push a stream of pages through a variant and read every page back,
on the model (`on_model`) or the optimized core (`on_core`); the built-in
sample of real pages (`sample`) and the run table (`report`).
"""

from __future__ import annotations

from .results import OUTCOME_CODES, RunConfig, RunResult

__all__ = ["RunConfig", "RunResult", "replay_pages", "run_needs", "OUTCOME_CODES"]


def replay_pages(pages, config: RunConfig, progress=None, impl: str | None = "model") -> RunResult:
    """Swap `pages` out through one configuration, then back in; check all the way.

    `impl` picks the implementation: "model" (default), "core", or None (or
    "auto") for `zswap_spec.pool.resolve_impl`'s rule; the run needs its
    compressor, so a compressor the core lacks (a driver's) takes the model,
    and so does a run that may fill the pool with writeback on (only the
    model runs the shrink worker the pool limit queues)."""
    from zswap_spec.pool import resolve_impl

    if resolve_impl(impl, needs=run_needs(len(pages), config)) == "core":
        from .on_core import replay_on_core

        return replay_on_core(pages, config, progress)
    from .on_model import replay_on_model

    return replay_on_model(pages, config, progress)


def run_needs(nr_pages: int, config: RunConfig) -> list[str]:
    """What a run of `nr_pages` pages needs of the implementation
    (`zswap_spec.pool.resolve_impl`'s features)."""
    from zswap_spec.pool import SHRINK_WORKER, compressor_feature

    needs = [compressor_feature(config.compressor)]
    if config.writeback and _may_reach_pool_limit(nr_pages, config):
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

"""Where the project keeps what it downloads and builds: `$ZSWAP_SPEC_CACHE`,
or `~/.cache/zswap-spec`."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    env = os.environ.get("ZSWAP_SPEC_CACHE")
    d = Path(env).expanduser() if env else Path.home() / ".cache" / "zswap-spec"
    d.mkdir(parents=True, exist_ok=True)
    return d

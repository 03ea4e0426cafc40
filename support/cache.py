"""Where the project keeps what it downloads and builds: `$ZSWAP_SPEC_CACHE`,
or `~/.cache/zswap-spec`."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "CacheError"]


class CacheError(OSError):
    """No cache folder can be had: no home folder, or one that cannot be written."""


def cache_dir() -> Path:
    env = os.environ.get("ZSWAP_SPEC_CACHE")
    try:
        d = Path(env).expanduser() if env else Path.home() / ".cache" / "zswap-spec"
    except RuntimeError:  # no HOME and no passwd entry for this user
        raise CacheError(None, "there is no home folder for the cache; set ZSWAP_SPEC_CACHE "
                         "to a folder") from None
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CacheError(e.errno, f"the cache folder cannot be created ({e.strerror}); set "
                         "ZSWAP_SPEC_CACHE to a folder you can write to", str(d)) from None
    return d

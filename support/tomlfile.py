"""Reading the project's TOML manifests with errors that name the file and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path

__all__ = ["load_toml"]


def load_toml(path: Path, what: str, create_with: str) -> dict:
    """The parsed file, or SystemExit with one line saying what to do."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"zswap-spec: error: {what} {path} is missing; "
                         f"create it with '{create_with}'") from None
    except tomllib.TOMLDecodeError as e:
        raise SystemExit(f"zswap-spec: error: {what} {path} is not valid TOML ({e}); "
                         f"restore it from version control") from None

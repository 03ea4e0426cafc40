"""Writing results so that none is lost: atomically (a reader, or a crash
half-way, sees the old file or the new one, never a torn one), and named by a
hash of their case, so that two findings cannot share a name."""

from __future__ import annotations

import hashlib
import os
import tempfile

__all__ = ["atomic_write", "case_hash"]


def atomic_write(path, data: str | bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a
    rename; the temporary file is removed if anything fails."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def case_hash(*parts) -> str:
    """Ten hex digits naming a case by its content (for file names)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else repr(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:10]

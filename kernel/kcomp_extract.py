"""Which files of a kernel source the compressors need, and copying them out of
a source tarball or an unpacked tree into a build folder."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from .kcomp import KernelCompressorError

__all__ = ["extract", "tree_files", "wanted"]

# ---------------------------------------------------------------------------
# What to take from the kernel tree.

_WANTED_DIRS = ("lib/lz4/", "lib/lzo/", "lib/zstd/", "lib/zlib_deflate/", "lib/zlib_inflate/")
_WANTED_FILES = frozenset(
    {
        "Makefile",
        "lib/xxhash.c",
        "include/linux/lz4.h",
        "include/linux/lzo.h",
        "include/linux/zstd.h",
        "include/linux/zstd_lib.h",
        "include/linux/zstd_errors.h",
        "include/linux/zlib.h",
        "include/linux/zconf.h",
        "include/linux/zutil.h",
        "include/linux/xxhash.h",
        "crypto/lz4.c",
        "crypto/lz4hc.c",
        "crypto/lzo.c",
        "crypto/lzo-rle.c",
        "crypto/zstd.c",
        "crypto/deflate.c",
    }
)
# First path components of a kernel tree that can hold a wanted file: a
# tarball member starting with anything else has a top folder to strip.
_TREE_TOP = frozenset({"lib", "include", "crypto", "Makefile"})


def wanted(rel: str) -> bool:
    """Whether the compressors built from a tree use its file `rel` (a relative path)."""
    if rel in _WANTED_FILES:
        return True
    if rel.startswith(_WANTED_DIRS):
        name = rel.rsplit("/", 1)[-1]
        return name.endswith((".c", ".h")) or name == "Makefile"
    return False


def _member_rel(name: str) -> str:
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    first, _, rest = name.partition("/")
    if first in _TREE_TOP:
        return name
    return rest


# ---------------------------------------------------------------------------
# Copying them out.

def tree_files(root: Path) -> list[str]:
    """The wanted files of the unpacked tree `root`, as sorted relative paths."""
    out = []
    for rel in _WANTED_FILES:
        if (root / rel).is_file():
            out.append(rel)
    for d in _WANTED_DIRS:
        base = root / d
        if base.is_dir():
            for p in base.rglob("*"):
                rel = p.relative_to(root).as_posix()
                if p.is_file() and wanted(rel):
                    out.append(rel)
    return sorted(out)


def extract(source: Path, dest: Path) -> int:
    """Copy the wanted files of `source` (tarball or tree) under `dest`; returns how many."""
    count = 0
    if source.is_dir():
        for rel in tree_files(source):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, target)
            count += 1
        return count
    try:
        with tarfile.open(source, mode="r|*") as tf:
            for member in tf:
                if not member.isfile():
                    continue
                rel = _member_rel(member.name)
                if not rel or ".." in rel.split("/") or not wanted(rel):
                    continue
                fobj = tf.extractfile(member)
                if fobj is None:
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    shutil.copyfileobj(fobj, out)
                count += 1
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise KernelCompressorError(
            f"cannot read the kernel source tarball {source}: {exc}. "
            "Pass a Linux source tarball (.tar, .tar.gz, .tar.bz2, .tar.xz) or an unpacked tree."
        ) from exc
    return count


"""The kernels `kernel-build` made: the entries of the cache's `builds/`
folder, and `built:KEY` (or the first characters of KEY) as a kernel to boot.

An entry is complete once its folder is named KEY (builds are made under
another name and renamed into place), so whatever is there can be used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from zswap_spec.support.cache import cache_dir
from .tree import KernelError, KernelTree, read_config

__all__ = ["COMPRESSOR_SOURCE", "BuiltKernel", "builds_dir", "load_build", "list_builds",
           "resolve_built", "find_built", "duration_text"]


def duration_text(seconds: float) -> str:
    """"52 s" or "1 min 52 s"."""
    s = round(seconds)
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60} s"


@dataclass(frozen=True)
class BuiltKernel:
    """One entry of the cache's `builds/` folder."""

    key: str
    folder: Path
    image: Path  # the bzImage
    config: Path  # the final .config
    release: str  # `make kernelrelease`, what `uname -r` says in the guest
    seconds: float  # how long the build took (when it was made)
    cached: bool  # found in the cache rather than built by this call
    source: str  # as asked: debian:7.3, a tarball or a folder
    source_path: Path  # the tarball or tree it was built from
    patches: tuple[tuple[str, str], ...]  # (file, sha256), in the order applied
    config_name: str  # "minimal" or the config file given
    log: Path
    patched_files: tuple[str, ...] = ()  # what the patches write, relative to the tree

    @property
    def name(self) -> str:
        return f"built:{self.key}"

    def tree(self) -> KernelTree:
        root = self.folder / "root"
        return KernelTree(self.name, self.image, self.release,
                          root if root.is_dir() else None, read_config(self.config),
                          source=self.compressor_source)

    @property
    def compressor_source(self) -> Path | None:
        """Where the model's compressors are built from: the patched files the entry
        keeps when the patches change the compressors' code, else the source."""
        patched = self.folder / COMPRESSOR_SOURCE
        if patched.is_dir():
            return patched
        return self.source_path if self.source_path.exists() else None

    def to_json(self) -> dict:
        return {"key": self.key, "image": str(self.image), "release": self.release,
                "seconds": round(self.seconds, 1), "cached": self.cached, "source": self.source,
                "patches": [{"file": f, "sha256": d} for f, d in self.patches],
                "patched_files": list(self.patched_files),
                "compressor_source": str(self.compressor_source or ""),
                "config": self.config_name, "log": str(self.log)}


# An entry's copy of the patched compressor sources, when its patches change them.
COMPRESSOR_SOURCE = "compressor-src"


def builds_dir() -> Path:
    """The cache's `builds/` folder."""
    d = cache_dir() / "builds"
    d.mkdir(parents=True, exist_ok=True)
    return d


def load_build(folder: Path, cached: bool = True) -> BuiltKernel:
    meta = json.loads((folder / "build.json").read_text())
    return BuiltKernel(meta["key"], folder, folder / "bzImage", folder / "config",
                       meta["release"], meta["seconds"], cached, meta["source"],
                       Path(meta["source_path"]),
                       tuple((p["file"], p["sha256"]) for p in meta["patches"]),
                       meta["config"], folder / "build.log",
                       tuple(meta.get("patched_files", ())))


def list_builds() -> list[BuiltKernel]:
    """Every complete entry in the cache, newest first."""
    found = []
    for folder in builds_dir().iterdir():
        if re.fullmatch(r"[0-9a-f]{12}", folder.name) and (folder / "build.json").is_file():
            try:
                found.append(load_build(folder))
            except (OSError, ValueError, KeyError):
                continue
    return sorted(found, key=lambda b: -b.folder.stat().st_mtime)


def resolve_built(spec: str) -> KernelTree:
    """`built:KEY` (or a unique prefix of KEY) as a kernel to boot."""
    return find_built(spec).tree()


def find_built(spec: str) -> BuiltKernel:
    """The build `built:KEY` (or a unique prefix of KEY) names; KernelError listing the
    builds when it names none or several."""
    prefix = spec.split(":", 1)[1]
    builds = list_builds()
    hits = [b for b in builds if prefix and b.key.startswith(prefix.lower())]
    if len(hits) == 1:
        return hits[0]
    listing = "; ".join(f"{b.key} ({b.source}{f' + {len(b.patches)} patch file(s)' if b.patches else ''}, "
                        f"{b.config_name}, {b.release})" for b in builds[:10])
    why = ("matches several builds" if hits else "matches no build") if prefix else \
        "give the KEY that kernel-build printed (or its first characters)"
    raise KernelError(f"--kernel {spec}: {why} in {builds_dir()}; "
                      + (f"the builds: {listing}" if builds else
                         "there is none yet: make one with zswap-spec kernel-build"))

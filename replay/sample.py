"""The built-in sample of real pages, drawn at run time from files every
machine with Python has, and the search for boundary pages.

Kinds: `text` (the standard library's sources), `code` (the interpreter's
executable and shared libraries), `zero`, `random` (a seeded generator),
`mixed` (half text, half random), `partly-zero`, and `boundary`: pages whose
output from a given compressor is exactly PAGE_SIZE - 1, PAGE_SIZE or
PAGE_SIZE + 1 bytes, found by search (a random prefix of n bytes followed by
zeros; the output grows with n, so a bisection finds each size if the
compressor can produce it).
"""

from __future__ import annotations

import os
import random
import sys
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from zswap_spec.model.compressors import ALGORITHMS

__all__ = ["SamplePage", "default_sample", "boundary_page", "page_kinds", "KINDS"]

KINDS = ("text", "code", "zero", "random", "mixed", "partly-zero", "boundary")


@dataclass(frozen=True)
class SamplePage:
    kind: str
    origin: str  # where its bytes come from
    data: bytes


def _text_files() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in stdlib.glob("*.py") if p.is_file())


def _code_files() -> list[Path]:
    files = [Path(os.path.realpath(sys.executable))]
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir:
        files += sorted(Path(libdir).glob("libpython3*.so*"))[:1]
    return [f for f in files if f.is_file()]


def _pages_of(paths: list[Path], page_size: int, count: int, skip: int = 0) -> list[tuple[str, bytes]]:
    """Up to `count` whole pages from the files, every page from an even spread."""
    out: list[tuple[str, bytes]] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        n = len(data) // page_size
        if n == 0:
            continue
        step = max(1, n // max(1, count))
        for i in range(skip % step, n, step):
            out.append((f"{path}@{i * page_size}", data[i * page_size:(i + 1) * page_size]))
            if len(out) >= count:
                return out
    return out


def _text_pages(page_size: int, count: int) -> list[tuple[str, bytes]]:
    blob = bytearray()
    for path in _text_files():
        blob += path.read_bytes()
        if len(blob) >= page_size * count * 4:
            break
    n = len(blob) // page_size
    step = max(1, n // max(1, count))
    return [(f"stdlib text @{i * page_size}", bytes(blob[i * page_size:(i + 1) * page_size]))
            for i in range(0, n, step)][:count]


def boundary_page(compressor, target: int, page_size: int = 4096, seeds: int = 32) -> bytes | None:
    """A page whose output from `compressor` (a name, or an algorithm object)
    is exactly `target` bytes, or None."""
    alg = ALGORITHMS[compressor] if isinstance(compressor, str) else compressor
    for seed in range(seeds):
        noise = random.Random(seed).randbytes(page_size)

        def size(n: int) -> int:
            return len(alg.raw_compress(noise[:n] + bytes(page_size - n)))

        lo, hi = 0, page_size
        while lo < hi:
            mid = (lo + hi) // 2
            if size(mid) < target:
                lo = mid + 1
            else:
                hi = mid
        for n in range(max(0, lo - 8), min(page_size, lo + 8) + 1):
            if size(n) == target:
                return noise[:n] + bytes(page_size - n)
    return None


@lru_cache(maxsize=8)
def default_sample(page_size: int = 4096, per_kind: int = 24) -> tuple[SamplePage, ...]:
    """The sample `zswap-spec check` replays: every kind, deterministic."""
    pages: list[SamplePage] = []
    for origin, data in _text_pages(page_size, per_kind):
        pages.append(SamplePage("text", origin, data))
    for origin, data in _pages_of(_code_files(), page_size, per_kind):
        pages.append(SamplePage("code", origin, data))
    rng = random.Random(0x25)
    for i in range(4):
        pages.append(SamplePage("zero", "zero-filled", bytes(page_size)))
    for i in range(per_kind // 2):
        pages.append(SamplePage("random", f"random seed 0x25 #{i}", rng.randbytes(page_size)))
    texts = [d for _, d in _text_pages(page_size, per_kind)]
    half = page_size // 2
    for i, t in enumerate(texts[: per_kind // 2]):
        pages.append(SamplePage("mixed", f"text+random #{i}", t[:half] + rng.randbytes(half)))
        pages.append(SamplePage("partly-zero", f"text+zeros #{i}", t[:half] + bytes(half)))
    for name in ALGORITHMS:
        for target in (page_size - 1, page_size, page_size + 1):
            data = boundary_page(name, target, page_size)
            if data is not None:
                pages.append(SamplePage("boundary", f"{name} output {target} bytes", data))
    return tuple(pages)


def page_kinds(sample) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in sample:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return counts

"""Page streams for a kernel check: named groups of pages, paged out in order.

Built-in groups: `text` (standard-library sources), `code` (the interpreter's
machine code), `random`, `halfzero` (half text, half zero bytes), `zero`
(never reaches zswap), `exact-fit` (pages whose output from the compressor
being checked is PAGE_SIZE - 1, PAGE_SIZE and PAGE_SIZE + 1 bytes, found by
the project's own search with that compressor) and `mixed` (a longer stream of
all kinds interleaved).  User files become one group each.

For a run with a global pool limit (`max_pool_percent`), `poolfill` comes
last: enough barely-compressible pages to fill the pool past its limit and
keep storing while it is full.  Three in four are 3584 random bytes then 512
zero bytes (every compressor the check knows gets them to 3.5-3.8 KiB, so
each costs about one pool page, with writeback on or off); every fourth is
random throughout (stored as-is with writeback on, rejected with it off).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from zswap_spec.replay.sample import boundary_page, default_sample

__all__ = ["Stream", "builtin_stream", "file_groups", "pool_fill_pages", "add_pool_fill",
           "POOL_FILL", "POOL_FILL_MAX_PAGES"]

BUILTIN_GROUPS = ("text", "code", "random", "halfzero", "zero", "exact-fit", "mixed")
POOL_FILL = "poolfill"
POOL_FILL_MAX_PAGES = 4096  # 16 MiB of 4 KiB pages: the page file and its copy fit a small guest


@dataclass
class Stream:
    pages: list[bytes]
    groups: list[tuple[str, int, int]]  # name, first page, count

    def add(self, name: str, pages: list[bytes]) -> None:
        if pages:
            self.groups.append((name, len(self.pages), len(pages)))
            self.pages.extend(pages)

    def data(self) -> bytes:
        return b"".join(self.pages)


def _exact_fit_pages(alg, page_size: int) -> list[bytes]:
    out = []
    for target in (page_size - 1, page_size, page_size + 1):
        page = boundary_page(alg, target, page_size, seeds=16)
        if page is not None:
            out.append(page)
    return out


def builtin_stream(alg, page_size: int = 4096, per_group: int = 16, mixed: int = 64) -> Stream:
    """Every built-in group; `exact-fit` pages are searched with `alg`."""
    sample = default_sample(page_size)
    by_kind: dict[str, list[bytes]] = {}
    for p in sample:
        by_kind.setdefault(p.kind, []).append(p.data)
    rng = random.Random(0x2025)
    s = Stream([], [])
    s.add("text", by_kind["text"][:per_group])
    s.add("code", by_kind["code"][:per_group])
    s.add("random", [rng.randbytes(page_size) for _ in range(per_group // 2)])
    s.add("halfzero", [t[: page_size // 2] + bytes(page_size // 2) for t in by_kind["text"][:per_group // 2]])
    s.add("zero", [bytes(page_size)] * (per_group // 2))
    s.add("exact-fit", _exact_fit_pages(alg, page_size))
    pool = by_kind["text"] + by_kind["code"] + by_kind["mixed"] + by_kind["partly-zero"]
    mix = []
    for _ in range(mixed):
        r = rng.random()
        if r < 0.7:
            mix.append(rng.choice(pool))
        elif r < 0.85:
            mix.append(rng.randbytes(page_size))
        else:
            mix.append(bytes(page_size))
    s.add("mixed", mix)
    return s


def file_groups(stream: Stream, paths: list[Path], page_size: int, max_pages: int = 4096) -> None:
    """Each file as one group of its pages (a last partial page zero-padded)."""
    for path in paths:
        data = path.read_bytes()[: max_pages * page_size]
        if len(data) % page_size:
            data += bytes(page_size - len(data) % page_size)
        name = path.name.replace(" ", "_") or "file"
        stream.add(name, [data[i:i + page_size] for i in range(0, len(data), page_size)])


def pool_fill_pages(max_pool_percent: int, memory_mib: int, page_size: int = 4096) -> int:
    """How many `poolfill` pages a guest of `memory_mib` MiB needs to go well past
    a pool limit of `max_pool_percent`, capped at POOL_FILL_MAX_PAGES.

    The kernel's limit is totalram_pages() * percent / 100, and totalram (the
    pages the kernel manages) is below the guest's memory size, so the limit
    is at most `bound` below.  With writeback off only three fill pages in
    four are stored, at 0.9-1.0 pool page each: 1.8 x `bound` pages fill the
    pool and leave about a third of the group to be stored while it is full
    (with writeback on, several rounds of the shrink worker).
    """
    if not 1 <= max_pool_percent <= 100:
        raise ValueError(f"max_pool_percent {max_pool_percent}: give 1..100")
    bound = (memory_mib << 20) // page_size * max_pool_percent // 100
    return min(POOL_FILL_MAX_PAGES, (bound * 9 + 4) // 5 + 32)


def add_pool_fill(stream: Stream, count: int, page_size: int = 4096) -> None:
    """Append the `poolfill` group of `count` pages (always the same pages)."""
    rng = random.Random(0x9001)
    keep = page_size * 7 // 8
    pages = [rng.randbytes(page_size) if i % 4 == 3 else rng.randbytes(keep) + bytes(page_size - keep)
             for i in range(count)]
    stream.add(POOL_FILL, pages)

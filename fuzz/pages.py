"""Page contents for the fuzzers: cheap to make from a kind and a seed, so a
state machine step costs little more than the compression itself."""

from __future__ import annotations

import random
from functools import lru_cache

from hypothesis import strategies as st

from zswap_spec.replay.sample import default_sample

__all__ = ["KINDS", "COMPRESSIBLE", "make_page", "page_specs", "folio_pages"]

KINDS = ("zero", "random", "text", "code", "repetitive", "partly-zero", "sample", "boundary")


@lru_cache(maxsize=4)
def _sample(page_size: int) -> tuple[dict[str, list[bytes]], list[bytes]]:
    by_kind: dict[str, list[bytes]] = {}
    for p in default_sample(page_size):
        by_kind.setdefault(p.kind, []).append(p.data)
    return by_kind, [p.data for p in default_sample(page_size)]


def make_page(kind: str, seed: int, page_size: int = 4096) -> bytes:
    """A page of `kind`; `seed` picks which one (for `boundary`: the length of
    the random prefix, near the compressors' exact fits)."""
    by_kind, everything = _sample(page_size)
    if kind == "zero":
        return bytes(page_size)
    if kind == "random":
        return random.Random(seed).randbytes(page_size)
    if kind in ("text", "code"):
        pages = by_kind[kind]
        return pages[seed % len(pages)]
    if kind == "repetitive":
        return bytes([seed % 256, (seed >> 8) % 256]) * (page_size // 2)
    if kind == "partly-zero":
        text = by_kind["text"][seed % len(by_kind["text"])]
        cut = (seed * 97) % page_size
        return text[:cut] + bytes(page_size - cut)
    if kind == "sample":
        return everything[seed % len(everything)]
    # boundary: a random prefix of `seed` bytes near PAGE_SIZE, then zeros.
    n = page_size - (seed % 256)
    return random.Random(7).randbytes(n) + bytes(page_size - n)


COMPRESSIBLE = ("zero", "text", "code", "repetitive", "partly-zero")


def page_specs(max_pages: int, kinds=KINDS):
    """A folio as runs of (kind, seed, count): mostly one page, sometimes up to
    `max_pages` (counts are cut to fit)."""
    counts = [c for c in (1, 1, 1, 1, 2, 3, 4, 8, 16, 64, 512) if c <= max_pages]
    run = st.tuples(st.sampled_from(kinds), st.integers(0, 2**16), st.sampled_from(counts))
    return st.lists(run, min_size=1, max_size=3)


def folio_pages(runs, max_pages: int, page_size: int) -> list[bytes]:
    pages: list[bytes] = []
    for kind, seed, count in runs:
        for i in range(count):
            if len(pages) == max_pages:
                return pages
            pages.append(make_page(kind, seed + i, page_size))
    return pages

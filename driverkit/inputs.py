"""What the kit feeds a driver: fixed vectors first (every page kind, pages at
the declared format's exact-fit boundary, incompressible pages, capacities
that the unit's own output fills exactly or misses by one byte, mixed and
partly failing batches, pages that start with the streams of every format
the kit knows), at each page size, then Hypothesis search over batches of
the same ingredients at every page size, shrunk to the smallest batch that
still breaks a clause.

A unit is `UnitSpec(label, page, capacity)` where the capacity is a number
or `("exact", delta)`: the unit's own compressed length plus `delta`, found
by compressing it alone first.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

import lz4.block
import lz4.frame
import zstandard

from hypothesis import strategies as st

from zswap_spec.fuzz.pages import KINDS, make_page
from zswap_spec.model.compressors import ALGORITHMS
from zswap_spec.replay.sample import boundary_page

__all__ = ["UnitSpec", "Case", "fixed_vectors", "header_pages", "cases", "page_kinds"]

LAYOUTS = ("guard", "canary")


@dataclass(frozen=True)
class UnitSpec:
    label: str  # where the page comes from, for reports
    page: bytes
    capacity: int | tuple[str, int]

    def __repr__(self) -> str:  # the page is in `label`; 4 KiB of bytes help no one
        return f"UnitSpec({self.label!r}, capacity={self.capacity!r})"


@dataclass(frozen=True)
class Case:
    units: tuple[UnitSpec, ...]
    layout: str = "guard"  # "guard": guard page right after each destination; "canary": 64 canary bytes first
    page_size: int = 4096  # what the kit's decompressors may give back for a unit

    def describe(self) -> str:
        caps = ", ".join(f"{u.label} cap {_cap_text(u.capacity)}" for u in self.units)
        return (f"batch of {len(self.units)} ({caps}), {self.layout} layout, "
                f"{self.page_size // 1024} KiB pages")


def _cap_text(cap) -> str:
    if isinstance(cap, tuple):
        return f"own length{cap[1]:+d}" if cap[1] else "own length"
    return str(cap)


@lru_cache(maxsize=8)
def page_kinds(page_size: int, fmt: str) -> dict[str, bytes]:
    """One page of each kind; boundary pages for the format when it has one.
    (The sample's pages, without its boundary pages for every compressor: the
    kit needs only its format's.)"""
    from zswap_spec.replay.sample import _code_files, _pages_of, _text_pages

    text = _text_pages(page_size, 1)[0][1]
    by_kind: dict[str, bytes] = {"text": text, "code": _pages_of(_code_files(), page_size, 1)[0][1]}
    half = page_size // 2
    by_kind["mixed"] = text[:half] + random.Random(0x25).randbytes(half)
    by_kind["partly-zero"] = text[:half] + bytes(half)
    by_kind["zero-first"] = bytes(half) + text[half:]  # a zero test on a prefix only
    by_kind["zero"] = bytes(page_size)
    by_kind["random"] = random.Random(0x2A).randbytes(page_size)
    by_kind["repetitive"] = b"zswap-spec " * (page_size // 11) + bytes(page_size % 11)
    if fmt in ALGORITHMS:
        for delta in (-1, 0, 1):
            page = boundary_page(fmt, page_size + delta, page_size)
            if page is not None:
                by_kind[f"{fmt}-boundary{delta:+d}"] = page
    return by_kind


def _streams(text: bytes) -> dict[str, bytes]:
    """`text` in every stream the kit knows, each with its header: lz4 block,
    frame and legacy frame, zstd frame and skippable frames, raw deflate, zlib
    with each of its usual headers, gzip, and the xz and bzip2 a driver may
    also take for "already compressed"."""
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    block = lz4.block.compress(text, store_size=False)
    return {
        "lz4-block": block,
        "lz4-frame": lz4.frame.compress(text),
        # legacy frame: magic 0x184C2102, then blocks each after its 32-bit size
        "lz4-legacy": struct.pack("<II", 0x184C2102, len(block)) + block,
        "zstd-frame": zstandard.ZstdCompressor(level=3).compress(text),
        # magic 0x184D2A50..5F, a 32-bit length, then that many bytes a decoder skips
        "zstd-skippable": struct.pack("<II", 0x184D2A50, 64) + text[:64],
        "zstd-skippable-f": struct.pack("<II", 0x184D2A5F, 64) + text[:64],
        "deflate-raw": z.compress(text) + z.flush(),
        "zlib": zlib.compress(text, 6),  # 78 9C
        "zlib-fast": zlib.compress(text, 1),  # 78 01
        "zlib-best": zlib.compress(text, 9),  # 78 DA
        "gzip": gzip.compress(text, 6, mtime=0),
        "xz": lzma.compress(text),
        "bzip2": bz2.compress(text),
    }


@lru_cache(maxsize=8)
def header_pages(page_size: int) -> dict[str, bytes]:
    """Pages shaped like compressed data: each stream of a text page, followed by
    zeros ("+zero") or by itself again until the page is full ("repeated")."""
    text = page_kinds(page_size, "none")["text"]
    out: dict[str, bytes] = {}
    for name, stream in _streams(text).items():
        stream = stream[:page_size]
        out[f"{name}+zero"] = stream + bytes(page_size - len(stream))
        out[f"{name} repeated"] = (stream * (page_size // len(stream) + 1))[:page_size]
    return out


def fixed_vectors(page_size: int, fmt: str, batch: int) -> list[Case]:
    """The deterministic first round: every clause gets its typical trigger."""
    kinds = page_kinds(page_size, fmt)
    P = page_size
    out: list[Case] = []
    for label, page in kinds.items():  # every kind alone, full page capacity
        out.append(Case((UnitSpec(label, page, P),)))
    compressible = [k for k in ("text", "code", "repetitive", "partly-zero", "zero") if k in kinds]
    for i, label in enumerate(compressible):  # outputs that fill the capacity exactly, or miss it by one
        for delta in (0, -1):
            out.append(Case((UnitSpec(label, kinds[label], ("exact", delta)),), LAYOUTS[i % 2]))
    for cap in (1, 16, 64, P // 2):  # small destinations
        out.append(Case((UnitSpec("text", kinds["text"], cap),), "canary"))
    for label in ("random", "mixed", "text"):
        out.append(Case((UnitSpec(label, kinds[label], P),), "canary"))
    if batch > 1:
        order = ["text", "random", "zero", "code", "mixed", "repetitive", "partly-zero", "text"]
        mixed = tuple(UnitSpec(k, kinds[k], P) for k in order[:batch])
        out.append(Case(mixed))  # some units fail, the others succeed
        out.append(Case(mixed[::-1], "canary"))
        out.append(Case(tuple(UnitSpec("text", kinds["text"], P) for _ in range(batch))))
        out.append(Case(tuple(UnitSpec("code", kinds["code"], P) for _ in range(batch)), "canary"))
        out.append(Case(tuple(UnitSpec("random", kinds["random"], P) for _ in range(batch))))
        out.append(Case(tuple(UnitSpec(k, kinds[k], ("exact", 0)) for k in order[:batch]
                              if k != "random")))
        if batch > 2:
            out.append(Case(mixed[:2]))
    for i, (label, page) in enumerate(header_pages(page_size).items()):  # compressed-looking input
        out.append(Case((UnitSpec(label, page, P),), LAYOUTS[i % 2]))
    if batch > 1:
        headers = list(header_pages(page_size).items())
        for start in range(0, len(headers), batch):
            out.append(Case(tuple(UnitSpec(k, v, P) for k, v in headers[start:start + batch])))
    return [Case(c.units, c.layout, page_size) for c in out]


def _page(page_size: int):
    kind_page = st.tuples(st.sampled_from(KINDS), st.integers(0, 2**16)).map(
        lambda ks: (f"{ks[0]}#{ks[1]}", make_page(ks[0], ks[1], page_size)))
    raw = st.tuples(st.binary(max_size=min(page_size, 4096)), st.integers(0, 255)).map(
        lambda bf: (f"bytes({len(bf[0])})+fill {bf[1]}",
                    bf[0] + bytes([bf[1]]) * (page_size - len(bf[0]))))
    headed = st.sampled_from(sorted(header_pages(page_size).items()))
    return st.one_of(kind_page, raw, headed)


def _capacity(page_size: int):
    return st.one_of(st.just(page_size), st.tuples(st.just("exact"), st.sampled_from([0, -1, 1])),
                     st.integers(1, page_size))


def _cases_at(page_size: int, batch: int):
    unit = st.tuples(_page(page_size), _capacity(page_size)).map(
        lambda pc: UnitSpec(pc[0][0], pc[0][1], pc[1]))
    return st.builds(Case, st.lists(unit, min_size=1, max_size=batch).map(tuple),
                     st.sampled_from(LAYOUTS), st.just(page_size))


def cases(page_sizes, batch: int):
    """Hypothesis strategy: batches of 1..batch units at one of `page_sizes` (an int
    or several), shrinking toward one zero page of the first size."""
    sizes = (page_sizes,) if isinstance(page_sizes, int) else tuple(page_sizes)
    return st.sampled_from(sizes).flatmap(lambda p: _cases_at(p, batch))

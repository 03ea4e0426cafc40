"""Text-like and code-like pages made from a seed, the same on every host.

A workload script's `text`, `code` and `halfzero` pages come from the
corpus; recorded kernel traces (tests/kernel/scripts) hold sizes that depend
on those bytes, so they cannot come from the host's own files (another
Python, another libc, other bytes).  These generators are this project's
own: words drawn with a skewed distribution from a fixed vocabulary, laid
out in indented lines (compresses about as well as prose and source code),
and byte patterns shaped like x86-64 instruction streams (short opcodes,
small displacements, repeated prologues; compresses about as well as
machine code).

`FilePages`: the pages of a file a script names (content "file"), read one
by one when a step asks for them, so a script may name a file of any size.
"""

from __future__ import annotations

import os
import random

__all__ = ["text_pages", "code_pages", "FilePages"]

_WORDS = (
    "the of and to in is that for it as with on be by this are from or at an not which "
    "page pages folio folios pool entry entries store stored load loaded swap swapped cache "
    "memory cgroup limit writeback shrink worker compress compressed length buffer batch "
    "unit units request requests error errors return returns value values count counter "
    "counters state states list lists lock locked queue queued offset offsets slot slots "
    "size sizes total free freed alloc allocated handle handles tree node nodes walk walks "
    "when if then else while each every one two three first last next previous before after "
    "struct static int long unsigned void const bool true false null goto out fail ret "
    "if ( ) { } ; = == != < > <= >= + - * / & | ! -> . , : # include define ifdef endif "
    "kernel driver device crypto acomp scatterlist destination source output input ratio "
    "zero random text code mixed boundary exact fit threshold percent accept reject "
    "should must may can will does did has have had was were been being would could "
    "read write reads writes reading writing map mapped unmap fault faults reclaim reclaimed"
).split()


def _skewed(rng: random.Random, n: int, power: float = 3.0) -> int:
    return int(n * rng.random() ** power)  # a few are very common, most are rare


def text_pages(count: int, page_size: int = 4096, seed: int = 0x7E57) -> list[bytes]:
    """`count` pages of indented lines of words."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        buf = bytearray()
        lines: list[bytes] = []
        while len(buf) < page_size:
            if lines and rng.random() < 0.3:  # text repeats itself: a line seen before
                buf += lines[_skewed(rng, len(lines), 1.0)]
                continue
            indent = b"\t" * rng.choice((0, 0, 1, 1, 2, 3))
            words = [_WORDS[_skewed(rng, len(_WORDS))] for _ in range(rng.randint(3, 12))]
            end = rng.choice((b"\n", b";\n", b".\n", b",\n", b" {\n", b"\n\n"))
            lines.append(indent + " ".join(words).encode() + end)
            buf += lines[-1]
        out.append(bytes(buf[:page_size]))
    return out


# Instruction-shaped byte templates; None marks a random byte (an offset or
# an immediate), small ones more often than large.
_TEMPLATES = (
    (0x55,), (0x48, 0x89, 0xE5), (0x41, 0x54), (0x41, 0x55), (0x53,), (0x5B,), (0x5D,),
    (0xC3,), (0x90,), (0x48, 0x83, 0xEC, None), (0x48, 0x83, 0xC4, None),
    (0x48, 0x8B, 0x45, None), (0x48, 0x89, 0x45, None), (0x8B, 0x45, None), (0x89, 0x45, None),
    (0xE8, None, None, 0x00, 0x00), (0xE9, None, None, 0x00, 0x00), (0x74, None),
    (0x75, None), (0xEB, None), (0x48, 0x85, 0xC0), (0x85, 0xC0), (0x31, 0xC0),
    (0x48, 0x8D, 0x05, None, None, 0x00, 0x00), (0x0F, 0x1F, 0x44, 0x00, 0x00),
    (0x48, 0x8B, 0x7D, None), (0xB8, None, 0x00, 0x00, 0x00), (0x66, 0x90),
    (0x48, 0x8B, 0x04, 0x25, None, None, 0x00, 0x00), (0xF3, 0x0F, 0x1E, 0xFA),
)


def code_pages(count: int, page_size: int = 4096, seed: int = 0xC0DE) -> list[bytes]:
    """`count` pages shaped like x86-64 machine code."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        buf = bytearray()
        while len(buf) < page_size:
            if len(buf) > 64 and rng.random() < 0.12:  # a sequence seen before (inlined code)
                start = rng.randrange(len(buf) - 32)
                buf += buf[start:start + rng.randint(8, 32)]
                continue
            tpl = _TEMPLATES[_skewed(rng, len(_TEMPLATES), 2.0)]
            buf += bytes(rng.choice((rng.randrange(8) * 8, rng.randrange(8) * 8,
                                     rng.randrange(256))) if b is None else b for b in tpl)
        out.append(bytes(buf[:page_size]))
    return out


class FilePages:
    """The first `limit` pages of a file (its last one zero-padded), as a sequence of
    bytes read when asked for, with a seek and a read of one page: a script that names a
    file of gigabytes and uses a few of its pages reads those pages, not the file.
    Iterating (the guest's corpus blob) reads every page, one at a time."""

    def __init__(self, path, page_size: int, limit: int):
        self.path = os.fspath(path)
        self.page_size = page_size
        size = os.stat(self.path).st_size
        self._n = min(-(-size // page_size), limit)
        self._fd: int | None = None

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, k: int) -> bytes:
        if not -self._n <= k < self._n:
            raise IndexError(f"page {k} of a file of {self._n} pages")
        k %= self._n
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        data = os.pread(self._fd, self.page_size, k * self.page_size)
        return data + bytes(self.page_size - len(data))

    def __iter__(self):
        return (self[k] for k in range(self._n))

    def __getstate__(self) -> dict:  # no descriptor across a pickle
        return dict(self.__dict__, _fd=None)

    def __del__(self) -> None:
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

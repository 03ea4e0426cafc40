"""Where replay's pages come from, read a chunk at a time.

A `PageSource` is the concatenation of its inputs, each zero-padded to whole
pages, handed out as chunks of whole pages in one reused buffer, so a replay
holds one chunk of its input, never the whole of it:

- regular files and block devices are *seekable*: their size is taken when
  they are opened, and every pass (`chunks()`) reads them again from the
  start; replay makes two (swap-out, read-back), so it keeps no copy of what it
  swapped out.  A file that is shorter on a later
  pass is an error (`SourceError`); one whose bytes change is not detected
  here (its pages then read back "wrong");
- a regular file's whole chunks are *mapped* rather than copied into the
  buffer, when the optimized core is built (its `MappedChunk`): the pages
  are compressed where the page cache holds them.  A file cut short while a
  chunk of it is mapped reads as zeros there instead of ending the process
  (SIGBUS), and the pass ends with the same `SourceError`;
- anything else (a pipe, a FIFO, a terminal, /dev/zero, /dev/stdin on a pipe)
  is a *stream*: it can be read once (`chunks()` a second time is a bug).
  Replay takes it in windows (`replay.stream`).  A FIFO is opened without
  blocking and waits at most `FIFO_WAIT_SECONDS` for a writer.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Iterator

__all__ = ["SourceError", "PageSource", "open_source", "FIFO_WAIT_SECONDS"]

FIFO_WAIT_SECONDS = 10.0
CHUNK_BYTES = 16 << 20  # bytes per chunk handed out (at least one folio)


class SourceError(ValueError):
    """An input that cannot be read: one line naming it and the fix."""


def _os_error(path: str, e: OSError, doing: str = "cannot be read") -> SourceError:
    if e.errno == errno.ENOENT:
        return SourceError(f"{path}: no such file")
    if e.errno == errno.ENAMETOOLONG:
        return SourceError(f"{path}: the name is too long for the file system ({e.strerror}); "
                           "give a shorter path (a symbolic link, say)")
    if e.errno in (errno.EACCES, errno.EPERM):
        return SourceError(f"{path}: {doing} ({e.strerror}); check its permissions and its "
                           "folders' permissions")
    if e.errno == errno.ENOTDIR:
        return SourceError(f"{path}: {doing} (a part of the path is not a folder); check the path")
    if e.errno == errno.ELOOP:
        return SourceError(f"{path}: {doing} (too many symbolic links); check the path")
    return SourceError(f"{path}: {doing} ({e.strerror or e}); check the file")


class _Input:
    """One input: a path and, when seekable, its size in bytes."""

    def __init__(self, path: str, size: int | None, regular: bool = False):
        self.path = path
        self.size = size
        self.regular = regular  # a regular file: its whole chunks may be mapped
        self.read = False  # a stream that has been read

    def open(self):
        """A raw (unbuffered) file object at the input's start."""
        if self.size is None:
            if self.read:
                raise RuntimeError(f"{self.path}: a stream is read once")
            self.read = True
            return _open_stream(self.path)
        try:
            return open(self.path, "rb", buffering=0)
        except OSError as e:
            raise _os_error(self.path, e, "cannot be opened again (removed or changed while "
                                          "replaying?)") from None


def _open_stream(path: str):
    """A stream opened without hanging on a FIFO that has no writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise _os_error(path, e) from None
    f = _Pushback(open(fd, "rb", buffering=0))
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            _wait_for_writer(path, f)
        os.set_blocking(fd, True)
    except BaseException:
        f.close()
        raise
    return f


def _wait_for_writer(path: str, f) -> None:
    """Wait until the FIFO has a writer (a read gives bytes, or EAGAIN: a writer
    with nothing written yet); it is refused after FIFO_WAIT_SECONDS without one."""
    deadline = time.monotonic() + FIFO_WAIT_SECONDS
    while True:
        try:
            first = f.read(1)
        except BlockingIOError:
            return
        if first is None:  # EAGAIN through the raw file object
            return
        if first:
            f.pushback = first
            return
        if time.monotonic() >= deadline:
            raise SourceError(f"{path}: a FIFO or pipe with no writer, or empty (nothing in "
                              f"{FIFO_WAIT_SECONDS:g} s); start the program that writes to it, "
                              "then replay")
        time.sleep(0.05)


class _Pushback:
    """A raw file with the byte read while waiting for a writer put back."""

    def __init__(self, f):
        self.f = f
        self.pushback = b""

    def __getattr__(self, name):
        return getattr(self.f, name)

    def read(self, n):
        return self.f.read(n)

    def readinto(self, mv):
        if self.pushback:
            n = len(self.pushback)
            mv[:n] = self.pushback
            self.pushback = b""
            return n
        return self.f.readinto(mv)

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def _inspect(path: str, page_size: int, warn) -> _Input:
    try:
        st = os.stat(path)
    except OSError as e:
        raise _os_error(path, e) from None
    if stat.S_ISDIR(st.st_mode):
        raise SourceError(f"{path}: is a directory; give a file whose bytes are the pages")
    size = None
    if stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode):
        try:
            with open(path, "rb", buffering=0) as f:  # readable? and a block device's size
                size = st.st_size if stat.S_ISREG(st.st_mode) else f.seek(0, os.SEEK_END)
        except OSError as e:
            raise _os_error(path, e) from None
        if size == 0:
            raise SourceError(f"{path}: is empty; give a file with at least one byte")
        rest = size % page_size
        if rest:
            warn(f"{path}: {size} bytes is not a multiple of {page_size}; "
                 f"the last page is zero-padded ({page_size - rest} bytes)")
    elif not os.access(path, os.R_OK):
        raise SourceError(f"{path}: cannot be read (permission denied); check its permissions")
    return _Input(path, size, regular=stat.S_ISREG(st.st_mode))


def _core():
    """The optimized core's module, or None (not built: chunks are copied)."""
    try:
        from zswap_spec.optimized_core import CoreUnavailable, load_core
    except ImportError:  # pragma: no cover - the package always carries the loader
        return None
    try:
        return load_core().module
    except CoreUnavailable:
        return None


def _mapper():
    """The core's `MappedChunk`, or None (not built: chunks are copied)."""
    core = _core()
    return None if core is None else core.MappedChunk


def _repaired() -> int:
    """Reads of mapped chunks that found their file cut short, in this process so far."""
    core = _core()
    return 0 if core is None else core.mapped_reads_repaired()


class PageSource:
    """Pages from inputs, a chunk at a time (see the module's docstring)."""

    def __init__(self, inputs: list[_Input], page_size: int, warn=None):
        self.inputs = inputs
        self.page_size = page_size
        self.warn = warn or (lambda msg: None)
        self.repaired_before = 0  # `_repaired()` when the last pass began

    @property
    def seekable(self) -> bool:
        return all(i.size is not None for i in self.inputs)

    @property
    def nr_pages(self) -> int | None:
        """Pages in all inputs, or None when one is a stream."""
        if not self.seekable:
            return None
        return sum(-(-i.size // self.page_size) for i in self.inputs)

    def check_pass(self) -> None:
        """After a pass whose last chunks were used once `chunks()` had ended (read
        ahead, two buffers): SourceError when a file is shorter now, or a read of a
        mapped chunk found one cut short during the pass."""
        for inp in self.inputs:
            if inp.regular:
                try:
                    now = os.stat(inp.path).st_size
                except OSError as e:
                    raise _os_error(inp.path, e) from None
                if now < inp.size:
                    raise _shorter(inp, now)
        if _repaired() > self.repaired_before:
            names = ", ".join(i.path for i in self.inputs if i.regular)
            raise SourceError(f"{names}: a read of its pages found the file shorter than when "
                              "replay began; replay a copy that does not change")

    def chunk_pages(self, folio_pages: int = 1, nbytes: int | None = None) -> int:
        """Pages per chunk: about `nbytes` (CHUNK_BYTES), a whole number of folios."""
        nbytes = CHUNK_BYTES if nbytes is None else nbytes
        return max(folio_pages, nbytes // self.page_size // folio_pages * folio_pages)

    def chunks(self, max_pages: int, buffers: int = 1) -> Iterator[tuple[int, memoryview]]:
        """(first page, its pages) for consecutive chunks of `max_pages` pages (the
        last may be shorter).  The chunks take turns in `buffers` buffers: a view is
        valid until `buffers` more chunks have been read.  A whole chunk inside a
        regular file is a read-only view of a mapping instead (valid while it is
        held), when the core can map (`_mapper`)."""
        ps = self.page_size
        step = max_pages * ps
        mapper = _mapper() if any(i.regular and i.size >= step for i in self.inputs) else None
        self.repaired_before = _repaired()
        ring: list = []
        turn = 0
        mv = None
        filled = first = 0
        for inp in self.inputs:
            with inp.open() as f:
                got = 0
                mapped: list = []  # this input's chunks still mapped here
                while inp.size is None or got < inp.size:
                    if mapper is not None and inp.regular and not filled and inp.size - got >= step:
                        chunk = _map(mapper, inp, f, got, step)
                        if chunk is None:  # the process maps too much already: copy instead
                            mapper = None
                            continue
                        for m in mapped:
                            _check(inp, f, m)
                        mapped = mapped[-buffers:] + [chunk]
                        got += step
                        yield first, memoryview(chunk)
                        first += max_pages
                        f.seek(got)  # where a read goes on from (a mapping moves nothing)
                        continue
                    if mv is None:
                        if not ring:
                            ring = [memoryview(bytearray(step)) for _ in range(buffers)]
                        mv = ring[turn % buffers]
                    want = len(mv) - filled
                    if inp.size is not None:
                        want = min(want, inp.size - got)
                    try:
                        n = f.readinto(mv[filled:filled + want])
                    except OSError as e:
                        raise _os_error(inp.path, e) from None
                    if not n:
                        break
                    filled += n
                    got += n
                    if filled == len(mv):
                        yield first, mv
                        first += max_pages
                        filled = 0
                        turn += 1
                        mv = None
                for m in mapped:
                    _check(inp, f, m)
            if inp.size is not None and got < inp.size:
                raise _shorter(inp, got)
            if inp.size is None and got == 0:
                raise SourceError(f"{inp.path}: gave no bytes; give a stream with at least one byte")
            rest = filled % ps
            if rest:
                if inp.size is None:
                    self.warn(f"{inp.path}: {got} bytes is not a multiple of {ps}; "
                              f"the last page is zero-padded ({ps - rest} bytes)")
                mv[filled:filled + ps - rest] = bytes(ps - rest)
                filled += ps - rest
                if filled == len(mv):
                    yield first, mv
                    first += max_pages
                    filled = 0
                    turn += 1
                    mv = None
        if filled:
            yield first, mv[:filled]


def _shorter(inp: _Input, got: int) -> SourceError:
    return SourceError(f"{inp.path}: has {got} bytes, {inp.size} when replay began; "
                       "replay a copy that does not change")


def _map(mapper, inp: _Input, f, offset: int, length: int):
    """`length` bytes of the open input `f` from `offset`, mapped (None: no room for
    another mapping in the process, or in its address space)."""
    try:
        return mapper(f.fileno(), offset, length)
    except OSError as e:
        if e.errno in (errno.EMFILE, errno.ENOMEM):
            return None
        raise _os_error(inp.path, e) from None


def _check(inp: _Input, f, chunk) -> None:
    """SourceError when the mapped `chunk` read past the file's end (cut short since
    replay began), or the file is shorter now."""
    now = os.fstat(f.fileno()).st_size
    if now < inp.size:
        raise _shorter(inp, now)
    if chunk.changed:  # a read failed where the file still has its bytes
        raise SourceError(f"{inp.path}: a read of its pages failed (an I/O error, or the "
                          f"file was cut short and grew back while replaying); replay a "
                          f"copy on a local disk")


def open_source(paths, page_size: int, warn=None) -> PageSource:
    """The inputs at `paths` checked (SourceError naming one that cannot serve)."""
    return PageSource([_inspect(str(p), page_size, warn or (lambda m: None)) for p in paths],
                      page_size, warn)


class _Memory(_Input):
    """Pages given in memory (the `replay_pages` API)."""

    def __init__(self, pages, page_size: int):
        super().__init__("(pages in memory)", len(pages) * page_size)
        self.pages = pages

    def open(self):
        return _PagesReader(self.pages)


class _PagesReader:
    def __init__(self, pages):
        self.pages = pages
        self.i = 0

    def readinto(self, mv):
        n = 0
        while self.i < len(self.pages) and n + len(self.pages[self.i]) <= len(mv):
            page = self.pages[self.i]
            mv[n:n + len(page)] = page
            n += len(page)
            self.i += 1
        return n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def pages_source(pages, page_size: int) -> PageSource:
    """A list of pages as a seekable source (every page `page_size` bytes)."""
    for i, page in enumerate(pages):
        if len(page) != page_size:
            raise ValueError(f"page {i} has {len(page)} bytes, not {page_size}")
    return PageSource([_Memory(list(pages), page_size)] if pages else [], page_size)

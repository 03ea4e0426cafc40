"""The calls a driver's process has answered since it started, so that a
finding which depends on them can be re-run from a fresh process: the kit
logs every call (`CallLog`), a finding keeps the calls before its case, and
`reproduces` replays them in a new process and checks the case again.

A `Call` is one compress request (the pages, capacities and layout), a
burst (`repeat` compress requests cycling through a few batches, made inside
the driver's process), or one request to the driver's decompressor.  The log is bounded: past `MAX_LOG_CALLS` calls or
`MAX_LOG_BYTES` bytes of distinct pages (a page sent in several calls counts
once) it drops its oldest calls and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Call", "CallLog", "history_text", "MAX_LOG_CALLS", "MAX_LOG_BYTES"]

MAX_LOG_CALLS = 20000
MAX_LOG_BYTES = 64 << 20


@dataclass(frozen=True)
class Call:
    op: str  # "compress", "burst" or "decompress"
    pages: tuple[bytes, ...]  # compress: the sources; decompress: the inputs
    caps: tuple[int, ...]  # capacities of the destinations
    layout: str = "guard"
    repeat: int = 1  # a burst: this many compress requests
    # a burst: the batches ((sources, capacities) each) its requests cycle through
    cycle: tuple = ()

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.all_pages())

    def all_pages(self):
        yield from self.pages
        for batch in self.cycle:
            yield from batch[0]

    @property
    def calls(self) -> int:
        return self.repeat

    def with_repeat(self, repeat: int) -> Call:
        return Call(self.op, self.pages, self.caps, self.layout, repeat, self.cycle)

    def rotated(self, start: int, repeat: int) -> Call:
        """The burst that goes on from the call at index `start` of this one."""
        k = len(self.cycle)
        s = start % k
        return Call("burst", (), (), self.layout, repeat, self.cycle[s:] + self.cycle[:s])

    def describe(self) -> str:
        if self.op == "burst":
            return (f"{self.repeat} calls cycling through {len(self.cycle)} "
                    f"batch{'es' if len(self.cycle) > 1 else ''}")
        n = len(self.pages)
        return (f"compress {n} unit{'s' if n > 1 else ''}" if self.op == "compress"
                else f"decompress {n} input{'s' if n > 1 else ''}")


@dataclass
class CallLog:
    """The calls since the driver's process started, oldest first."""

    calls: list[Call] = field(default_factory=list)
    dropped: int = 0  # calls dropped from the front to stay within the bounds
    _entries_dropped: int = 0
    _bytes: int = 0
    # the page objects the log holds, by id: [the page, how many calls hold it]
    _held: dict = field(default_factory=dict)

    def add(self, call: Call) -> None:
        self.calls.append(call)
        for page in call.all_pages():
            held = self._held.get(id(page))
            if held is None:
                self._held[id(page)] = [page, 1]
                self._bytes += len(page)
            else:
                held[1] += 1
        while len(self.calls) > 1 and (len(self.calls) > MAX_LOG_CALLS
                                       or self._bytes > MAX_LOG_BYTES):
            old = self.calls.pop(0)
            for page in old.all_pages():
                held = self._held[id(page)]
                held[1] -= 1
                if not held[1]:
                    del self._held[id(page)]
                    self._bytes -= len(page)
            self.dropped += old.repeat
            self._entries_dropped += 1

    def __len__(self) -> int:
        return len(self.calls)

    def mark(self) -> int:
        """A position in the log, stable as its front is dropped."""
        return len(self.calls) + self._entries_dropped

    def between(self, start: int, end: int | None = None) -> list[Call]:
        """The calls from mark `start` (0: the process's first call) up to mark `end`
        (None: the last call); what was dropped is left out."""
        lo = max(0, start - self._entries_dropped)
        hi = None if end is None else max(0, end - self._entries_dropped)
        return list(self.calls[lo:hi])

    def index_of(self, mark: int) -> int | None:
        """Where the call at mark `mark` is in `between(0, ...)`; None when dropped."""
        i = mark - self._entries_dropped
        return i if i >= 0 else None

    def complete_since(self, start: int) -> bool:
        """Are all the calls since mark `start` still in the log?"""
        return start >= self._entries_dropped


def history_text(history: list[Call], baseline: int | None = None) -> str:
    """'after 3 calls on a fresh driver process (...)', naming the call whose
    answer the case is compared with, when there is one."""
    total = sum(c.calls for c in history)
    if not total:
        return "alone, from a fresh driver process"
    parts = []
    for i, c in enumerate(history[:4]):
        parts.append("the same batch, whose answer is compared" if i == baseline else c.describe())
    more = f", and {len(history) - 4} more" if len(history) > 4 else ""
    return (f"after {total} call{'s' if total > 1 else ''} on a fresh driver process: "
            f"{'; '.join(parts)}{more}")

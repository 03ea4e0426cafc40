"""The pool API over two implementations: `Pool`, the calls both backends
answer with the same results (`core_backend.CorePool`, the Cython core;
`model_backend.ModelPool`, the model and oracle).  Every argument is checked
here, before the extension is entered, so no input reachable from Python can
crash the interpreter.
"""

from __future__ import annotations

from collections.abc import Sequence

from zswap_spec.model import invariants as inv
from zswap_spec.model.cint import EINVAL
from zswap_spec.model.compressors import ALGORITHMS, SoftwareAlgorithm, _Conventions, algorithm
from zswap_spec.model.faults import FAULTS
from zswap_spec.model.invariants import ReadBack, StoredRun, Violation
from zswap_spec.model.variants import VARIANTS
from zswap_spec.model.zswap import SUPPORTED_PAGE_SIZES

from .errors import PoolInputError

__all__ = ["Pool", "TRIVIAL", "CORE_COMPRESSORS", "CORE_FAULTS", "check_pool_args", "algorithm_of",
           "STORE_CHECKS"]

# The core implements the catalogue's deterministic faults; `wrong-output`
# and `nondeterministic` need the model's marker-aware decompressor.
CORE_FAULTS = ("zero-length", "oversize-report", "oversize-write", "exact-page",
               "fail-stale-length", "fail-all-valid", "negative-entry-ret0", "partial-batch",
               "enospc", "einval", "e2big", "eio", "bad-output", "unwritten-entry")
MAX_FOLIO_PAGES = 1 << 16
MAX_OFFSET = 1 << 32
MAX_CGROUPS = 64  # the core's table; the model keeps the same limit
# The variants the core implements (its own code, held to the model by the lockstep and
# conformance suites), by the number its extension knows each by.  A variant of the model
# not listed here is refused by name on the core (`CorePool`, `pool.variant_feature`).
VARIANT_IDS = {"mainline": 0, "v13": 1, "v14": 2, "explicit": 3, "uniform": 4}
LAYER_IDS = {"legacy": 0, "segmented": 1, "uniform": 2}


def _trivial_decompress(src: bytes, capacity: int) -> bytes:
    raise ValueError("the trivial compressor's output does not decompress")


# A compressor whose output is a fixed 16 bytes: with it only zswap's own
# work is timed (`zswap-spec bench`).  Its pages do not load back.
TRIVIAL = SoftwareAlgorithm(
    "trivial", _Conventions(fail_ret=-EINVAL, fail_dlen_is_capacity=True, exact_fit_ok=True),
    lambda src: b"\x5a" * 16, _trivial_decompress, "none")
CORE_COMPRESSORS = tuple(ALGORITHMS) + ("trivial",)

# The invariants `Pool.audit_violations` checks over a run of pages just swapped out.
STORE_CHECKS = ("INV-ATOMIC", "INV-LEN", "INV-RAW", "INV-WB")


def algorithm_of(name: str):
    return TRIVIAL if name == "trivial" else algorithm(name)


def check_pool_args(variant, compressor, page_size, *, threads=1, faults=False,
                    total_ram_pages=1 << 20, max_pool_percent=20, accept_threshold_percent=90,
                    max_batch_size=None) -> None:
    """Refuse what neither implementation can run, naming the fix."""
    if variant not in VARIANTS:
        raise PoolInputError(f"unknown variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
    if compressor not in CORE_COMPRESSORS:
        raise PoolInputError(f"unknown compressor {compressor!r}; choose one of: "
                             f"{', '.join(CORE_COMPRESSORS)}")
    if not isinstance(page_size, int) or page_size not in SUPPORTED_PAGE_SIZES:
        raise PoolInputError(f"page size {page_size!r} is not supported; use one of "
                             f"{', '.join(map(str, SUPPORTED_PAGE_SIZES))}")
    if not isinstance(threads, int) or not 1 <= threads <= 8:
        raise PoolInputError(f"threads must be 1 to 8, not {threads!r}")
    if not isinstance(total_ram_pages, int) or not 1 <= total_ram_pages < 1 << 40:
        raise PoolInputError(f"total_ram_pages must be a positive integer, not {total_ram_pages!r}")
    for name, value in (("max_pool_percent", max_pool_percent),
                        ("accept_threshold_percent", accept_threshold_percent)):
        if not isinstance(value, int) or not 0 <= value <= 100:
            raise PoolInputError(f"{name} must be 0 to 100, not {value!r}")
    if max_batch_size is not None and (not isinstance(max_batch_size, int)
                                       or not 1 <= max_batch_size <= 8):
        raise PoolInputError(f"max_batch_size must be 1 to 8 or None, not {max_batch_size!r}")


class Pool:
    """A zswap pool: folios stored, pages loaded, invalidated, written back.

    Options: `threads` (units of a batch compressed in parallel; the core
    only), `faults` (wrap the compressor so `arm()` can make it misbehave),
    `total_ram_pages`, `max_pool_percent`, `accept_threshold_percent`,
    `max_batch_size`.  Cgroup 0 is the root; `add_cgroup()` adds children.
    A store refused while the pool is full queues the pool shrink worker
    (`shrink_work_queued`); neither backend runs it (see the package's
    docstring).
    """

    impl = "?"

    def __init__(self, variant, compressor, page_size=4096, *, threads=1, faults=False,
                 total_ram_pages=1 << 20, max_pool_percent=20, accept_threshold_percent=90,
                 max_batch_size=None):
        check_pool_args(variant, compressor, page_size, threads=threads, faults=faults,
                        total_ram_pages=total_ram_pages, max_pool_percent=max_pool_percent,
                        accept_threshold_percent=accept_threshold_percent,
                        max_batch_size=max_batch_size)
        self.variant = variant
        self.compressor = compressor
        self.page_size = page_size
        self.threads = threads
        self.faults = bool(faults)
        self.ncgroups = 1

    # -- argument checks shared by both -------------------------------------------

    def _pages(self, data) -> memoryview:
        try:
            view = memoryview(data).cast("B")
        except TypeError:
            raise PoolInputError(f"pages must be a bytes-like object, not {type(data).__name__}") from None
        if len(view) == 0 or len(view) % self.page_size:
            raise PoolInputError(f"{len(view)} bytes are not a whole number of {self.page_size}-byte "
                                 f"pages; pad or cut the buffer to a multiple of the page size")
        return view

    def _offset(self, offset, nr_pages: int = 1) -> int:
        if not isinstance(offset, int) or offset < 0 or offset + nr_pages > MAX_OFFSET:
            raise PoolInputError(f"swap offset {offset!r} (for {nr_pages} pages) is outside "
                                 f"0..{MAX_OFFSET - 1}")
        return offset

    def _cgroup(self, cgroup) -> int:
        if not isinstance(cgroup, int) or not 0 <= cgroup < self.ncgroups:
            raise PoolInputError(f"cgroup {cgroup!r} does not exist; add it with add_cgroup() "
                                 f"(0 is the root)")
        return cgroup

    def _run(self, view: memoryview, folio_pages, moved) -> int:
        """store_run's arguments: the number of pages."""
        n = len(view) // self.page_size
        if not isinstance(folio_pages, int) or not 1 <= folio_pages <= MAX_FOLIO_PAGES:
            raise PoolInputError(f"folio_pages must be 1 to {MAX_FOLIO_PAGES}, not {folio_pages!r}")
        if moved is not None and len(moved) != n:
            raise PoolInputError("moved needs one byte per page")
        return n

    def _outcomes(self, view: memoryview, outcomes: bytes) -> None:
        if len(outcomes) != len(view) // self.page_size:
            raise PoolInputError("one outcome per page of `expected` is needed")

    def _percent(self, percent) -> int:
        if not isinstance(percent, int) or not 0 <= percent <= 100:
            raise PoolInputError(f"max_pool_percent must be 0 to 100, not {percent!r}")
        return percent

    def _errnos(self, errnos: Sequence[int]) -> list[int]:
        if any(not isinstance(e, int) or not -4095 <= e <= 4095 for e in errnos):
            raise PoolInputError("fail_malloc takes errno values (0 to succeed), like [0, -12]")
        return list(errnos)

    def _new_cgroup(self) -> None:
        if self.ncgroups >= MAX_CGROUPS:
            raise PoolInputError(f"at most {MAX_CGROUPS} cgroups (the root included)")
        self.ncgroups += 1

    def _fault(self, name: str, calls: int) -> None:
        if not self.faults:
            raise PoolInputError("this pool was made without faults=True; make it with faults=True "
                                 "to arm compressor faults")
        if name not in FAULTS:
            raise PoolInputError(f"unknown fault {name!r}; choose from: {', '.join(FAULTS)}")
        if not isinstance(calls, int) or calls < 0:
            raise PoolInputError(f"calls must be a non-negative integer, not {calls!r}")

    # -- the spec's invariants: the one checker over this pool --------------------------
    #
    # A pool is a `zswap_spec.model.pool_view.PoolView`: each backend gives `slots`,
    # `entry_length`, `tally`, `live_entries`, `live_objects` and `counters`, and
    # `zswap_spec.model.invariants.check` decides.

    def check(self, event=None, ids=None) -> list[Violation]:
        """The spec's invariants `ids` (default: every one a pool shows) over this pool
        after `event`: a `StoredRun`, `ReadBack`s, or None (the whole pool)."""
        return inv.check(self, event, ids)

    def counter_violations(self) -> list[Violation]:
        """The whole pool: INV-COUNTERS (the counters and cgroup stats against the tree),
        INV-NOLEAK and INV-LEN."""
        return inv.check(self)

    def alloc_violations(self, offset: int | None = None, since: int = 0) -> list[Violation]:
        """INV-ALLOC: every zs_malloc size out of range recorded after the first `since`,
        reported at `offset` (the folio's slot, or None: a run of folios)."""
        run = StoredRun(0 if offset is None else offset, b"",
                        malloc_sizes=self.bad_alloc_sizes[since:], one_folio=offset is not None)
        return inv.check(self, run, ("INV-ALLOC",))

    def audit_violations(self, first_offset: int, expected, outcomes: bytes,
                         writeback: bool) -> list[Violation]:
        """INV-ATOMIC, INV-LEN, INV-RAW and (with `writeback` off) INV-WB over a run of pages
        just swapped out at `first_offset`, one outcome code per page ('0', 'c', 'r', 'x'),
        in the order of the slots (for one slot: INV-ATOMIC, INV-LEN, INV-RAW, INV-WB)."""
        view = self._pages(expected)
        self._outcomes(view, outcomes)
        run = StoredRun(self._offset(first_offset, len(outcomes)), bytes(outcomes), view,
                        bool(writeback))
        return inv.check(self, run, STORE_CHECKS)

    def load_violations(self, first_offset: int, expected, outcomes: bytes) -> list[Violation]:
        """INV-ROUNDTRIP: every page the outcomes say zswap holds, swapped in (`load_run`)."""
        return self.read_back_violations(self.load_run(first_offset, expected, outcomes))

    def read_back_violations(self, bad) -> list[Violation]:
        """INV-ROUNDTRIP over `load_run`'s answer: (offset, 1, first differing byte) for
        a page read back wrong, (offset, -errno, -1) for one that did not load."""
        reads = [ReadBack(offset, "zswap", differs_at=at) if rc == 1 else
                 ReadBack(offset, inv.zswap_source(rc), lost=True, rc=rc)
                 for offset, rc, at in bad]
        return inv.check(self, reads, ("INV-ROUNDTRIP",))

    def snapshot(self) -> dict:
        """Everything observable: counters, cgroup stats, entries and their bytes, the pool."""
        return {
            "counters": self.counters(),
            "memcg": [self.memcg_stat(i) for i in range(self.ncgroups)],
            "entries": {o: self.entry(o) for o in self.offsets()},
            "pool_pages": self.pool_pages,
            "pool_bytes": self.pool_bytes,
            "bad_alloc_sizes": list(self.bad_alloc_sizes),
        }

"""The pool API on the optimized core (`zswap_spec.optimized_core._core`)."""

from __future__ import annotations

from collections.abc import Sequence

from zswap_spec.optimized_core import load_core
from zswap_spec.model.cint import EINVAL
from zswap_spec.model.memcg import MEMCG_STATS
from zswap_spec.model.pool_view import Tally
from zswap_spec.model.variants import VARIANTS
from zswap_spec.model.zsmalloc import size_classes
from zswap_spec.model.zswap import DEBUGFS_COUNTERS, VM_EVENTS

from .api import (CORE_FAULTS, LAYER_IDS, MAX_FOLIO_PAGES, VARIANT_IDS, Pool, algorithm_of,
                  check_pool_args)
from .errors import PoolInputError

__all__ = ["CorePool", "SharedCompression"]


class SharedCompression:
    """One chunk's pages compressed once, on `threads` threads, for every `CorePool`
    of this compressor and page size that stores that chunk (`store_run(...,
    shared=)`): compress once, decide many.  A real compressor's output depends
    on the page alone, so each pool stores what it would have computed."""

    def __init__(self, compressor: str, page_size: int = 4096, threads: int = 1):
        check_pool_args("mainline", compressor, page_size, threads=threads)
        self.compressor = compressor
        self.page_size = page_size
        self._c = load_core().module.Compressed(compressor, page_size,
                                                int(algorithm_of(compressor).batching), threads)

    def fill(self, data) -> None:
        """Compress every page of `data` (kept alive until the next fill).  The pools
        that store with this table must store this very buffer, unchanged: a store
        checks its address and size, not its bytes."""
        self.fill_start(data)
        self.fill_finish()

    def fill_start(self, data) -> None:
        """`fill`, started on the table's worker threads: this thread is free until
        `fill_finish`, where it takes its share and waits for the rest.  The table
        cannot be used in between (PoolInputError).  With one thread, the whole fill."""
        view = memoryview(data).cast("B")
        if len(view) % self.page_size:
            raise PoolInputError(f"{len(view)} bytes are not a whole number of "
                                 f"{self.page_size}-byte pages")
        try:
            self._c.fill_start(view)
        except RuntimeError as e:
            raise PoolInputError(str(e)) from None

    def fill_finish(self) -> None:
        """The end of the fill `fill_start` began (nothing when none is under way)."""
        self._c.fill_finish()

    def begin_read_back(self, data) -> None:
        """A read-back session over `data` (the pages the pools sharing their bytes
        through this table are about to compare with, one pool after another, at the
        same offsets): what one pool finds for a stored content there, the others
        take.  `data` must not change during the session."""
        self._c.begin_read_back(memoryview(data).cast("B"))

    def results(self) -> list[int]:
        """Each page's compressed length (-1: did not fit, -2: a zero page, not compressed)."""
        return self._c.results()


class CorePool(Pool):
    impl = "core"

    def __init__(self, variant, compressor, page_size=4096, **options):
        super().__init__(variant, compressor, page_size, **options)
        if variant not in VARIANT_IDS:
            raise PoolInputError(f"the optimized core does not implement the variant {variant!r} "
                                 f"(it implements {', '.join(VARIANT_IDS)}); use the model "
                                 f"(impl='model', --impl model)")
        core = load_core().module
        alg = algorithm_of(compressor)
        var = VARIANTS[variant]
        compr = var.compr_batch_size(alg, options.get("max_batch_size"))
        store = var.store_batch_size(alg, compr)
        classes = size_classes(page_size)
        unique: list = []
        ids: dict[int, int] = {}
        index = []
        for cls in classes:
            if id(cls) not in ids:
                ids[id(cls)] = len(unique)
                unique.append((cls.size, cls.pages_per_zspage, cls.objs_per_zspage))
            index.append(ids[id(cls)])
        conv = getattr(alg, "_conv", None)
        self._c = core.Core(
            VARIANT_IDS[variant], LAYER_IDS[var.crypto_layer], compressor, int(alg.batching),
            alg.batch_size, page_size, compr, store, (unique, index), int(self.faults),
            self.threads, conv.fail_ret if conv else -EINVAL,
            int(conv.fail_dlen_is_capacity) if conv else 1, int(conv.exact_fit_ok) if conv else 1,
            options.get("total_ram_pages", 1 << 20), options.get("max_pool_percent", 20),
            options.get("accept_threshold_percent", 90))

    def store(self, offset: int, pages, cgroup: int = 0) -> bool:
        view = self._pages(pages)
        n = len(view) // self.page_size
        if n > MAX_FOLIO_PAGES:
            raise PoolInputError(f"a folio of {n} pages is too large; split it (at most {MAX_FOLIO_PAGES})")
        return self._c.store(view, self._offset(offset, n), self._cgroup(cgroup))

    def store_run(self, data, first_offset: int = 0, folio_pages: int = 1, cgroup: int = 0,
                  zeromap: bool = True, moved: bytearray | None = None,
                  shared: SharedCompression | None = None) -> bytes:
        """Swap a buffer out folio by folio: one outcome code per page ('0'
        zero-filled, 'c' compressed, 'r' stored as-is, 'x' rejected).  With
        `moved` (a bytearray, one byte per page), a folio rejected past the
        limit checks gets there how far the reject_* counters moved.  With
        `shared` (filled from this very buffer), compression is taken from it."""
        view = self._pages(data)
        if shared is not None and (shared.compressor != self.compressor
                                   or shared.page_size != self.page_size):
            raise PoolInputError("the shared compression is of another compressor or page size")
        n = self._run(view, folio_pages, moved)
        outcomes = bytearray(n)
        sink = moved if moved is not None else bytearray(n)
        sink[:] = b"\xff" * n  # -1: no rejection past the limit checks
        try:
            self._c.store_run(view, self._offset(first_offset, n), folio_pages, self._cgroup(cgroup),
                              bool(zeromap), outcomes, memoryview(sink).cast("b"),
                              None if shared is None else shared._c)
        except (ValueError, RuntimeError) as e:
            raise PoolInputError(str(e)) from None
        return bytes(outcomes)

    def keep_sizes_only(self) -> None:
        """Keep sizes and counts from now on, never the bytes (before the first store):
        the pool's accounting for inputs larger than memory.  Loads, writeback and
        `entry` are refused after; `slots` cannot tell a page stored as-is from other
        bytes of its length, so INV-RAW is not checked on such a pool."""
        try:
            self._c.keep_sizes_only()
        except ValueError as e:
            raise PoolInputError(str(e)) from None

    def share_bytes(self) -> None:
        """Keep each entry's bytes in a blob shared with the other pools that store the
        same chunks with the same `SharedCompression` (before the first store): a page's
        compressed output or the page as-is is held once for all of them, and read back
        once (`load_check`); other bytes get a blob of their own.  Everything else (sizes,
        zsmalloc's classes and pages, counters) stays this pool's own."""
        try:
            self._c.share_bytes()
        except ValueError as e:
            raise PoolInputError(str(e)) from None

    def load_check(self, first_offset: int, expected, outcomes: bytes,
                   shared: SharedCompression | None = None):
        """The read-only half of `load_run` (every thread; `shared`'s threads when
        given): each page's result, for `load_apply`.  In a pool sharing its bytes, an
        entry whose blob another pool has read back against these pages takes that
        answer instead of being decompressed again."""
        view = self._pages(expected)
        self._outcomes(view, outcomes)
        if shared is not None and (shared.compressor != self.compressor
                                   or shared.page_size != self.page_size):
            raise PoolInputError("load_check: the shared compression is of another compressor "
                                 "or page size")
        try:
            return self._c.load_check(self._offset(first_offset, len(outcomes)), view,
                                      bytes(outcomes), None if shared is None else shared._c)
        except (ValueError, RuntimeError) as e:
            raise PoolInputError(str(e)) from None

    def load_apply(self, first_offset: int, codes) -> list[tuple[int, int, int]]:
        """The loads `load_check` prepared, in order: as `load_run` gives them."""
        return self._c.load_apply(self._offset(first_offset), codes)

    def load_run(self, first_offset: int, expected, outcomes: bytes) -> list[tuple[int, int, int]]:
        """Swap in every page the outcomes say zswap holds: (offset, 1, first
        differing byte) for a page read back wrong, (offset, -errno, -1) for
        one that does not load."""
        view = self._pages(expected)
        self._outcomes(view, outcomes)
        return self._c.load_run(self._offset(first_offset, len(outcomes)), view, bytes(outcomes))

    # -- the view the invariant checker reads (`PoolView`), computed by the extension ----

    def slots(self, first_offset: int, pages) -> bytes:
        """The slot kinds of a run of pages just swapped out (`pool_view`), in C."""
        view = self._pages(pages)
        return self._c.slots(self._offset(first_offset, len(view) // self.page_size), view)

    def entry_length(self, offset: int) -> int:
        return self._c.entry_length(self._offset(offset))

    def tally(self) -> Tally:
        """The whole pool's facts (`pool_view.Tally`), one walk of the tree in C."""
        return Tally(*self._c.tally())

    @property
    def live_entries(self) -> int:
        return self._c.live_entries

    def load(self, offset: int):
        rc, page = self._c.load(self._offset(offset))
        return rc, (bytes(page) if page is not None else None)

    def writeback(self, offset: int):
        rc, page = self._c.writeback(self._offset(offset))
        return rc, (bytes(page) if page is not None else None)

    def invalidate(self, offset: int) -> None:
        self._c.invalidate(self._offset(offset))

    def add_cgroup(self, writeback: bool = True) -> int:
        self._new_cgroup()
        return self._c.add_cgroup(bool(writeback))

    def set_writeback(self, cgroup: int, writeback: bool) -> None:
        self._c.set_writeback(self._cgroup(cgroup), bool(writeback))

    def set_max_pool_percent(self, percent: int) -> None:
        self._c.set_max_pool_percent(self._percent(percent))

    def set_enabled(self, enabled: bool) -> None:
        self._c.set_enabled(bool(enabled))

    def counters(self) -> dict[str, int]:
        debugfs, vm = self._c.counters()
        return dict(zip(DEBUGFS_COUNTERS, debugfs)) | dict(zip(VM_EVENTS, vm))

    def memcg_stat(self, cgroup: int) -> dict[str, int]:
        return dict(zip(MEMCG_STATS, self._c.memcg_stat(self._cgroup(cgroup))))

    def entry(self, offset: int):
        e = self._c.entry(self._offset(offset))
        return None if e is None else (e[0], bytes(e[1]), e[2])

    def offsets(self) -> list[int]:
        return self._c.offsets()

    def fail_malloc(self, errnos: Sequence[int]) -> None:
        self._c.fail_malloc(self._errnos(errnos))

    def fail_entry_alloc(self, n: int = 1) -> None:
        self._c.fail_entry_alloc(int(n))

    def fail_xa_store(self, n: int = 1) -> None:
        self._c.fail_xa_store(int(n))

    def arm(self, fault: str, calls: int = 1) -> None:
        self._fault(fault, calls)
        if fault not in CORE_FAULTS:
            raise PoolInputError(f"the core does not implement the fault {fault!r} (it needs the "
                                 f"model's marker-aware decompressor); use the model (impl='model')")
        self._c.arm(CORE_FAULTS.index(fault), calls)

    @property
    def bad_alloc_sizes(self) -> list[int]:
        return self._c.bad_alloc_sizes

    @property
    def pool_pages(self) -> int:
        return self._c.pool_pages

    @property
    def pool_bytes(self) -> int:
        return self._c.pool_bytes

    @property
    def live_objects(self) -> int:
        return self._c.live_objects

    @property
    def shrink_work_queued(self) -> bool:
        return self._c.shrink_work_queued

    def overhead(self) -> dict[str, float]:
        """Bytes the core keeps per stored entry beyond its compressed bytes:
        the entry records (with the array's growth slack) and the tree, and,
        apart, zsmalloc's own cost (the handle, class rounding, zspage tails),
        which the kernel pays too and `pool_total_size` already counts."""
        usage = self._c.memory_usage()
        live = max(1, self._c.live_entries)
        records = usage["entries_allocated"] * usage["entry_record"]
        return {
            "entry_record": usage["entry_record"],
            "records_per_entry": records / live,
            "tree_per_entry": usage["tree_bytes"] / live,
            "per_entry": (records + usage["tree_bytes"]) / live,
            "zsmalloc_per_entry": (usage["zspage_bytes"] - self.pool_bytes) / live,
        }

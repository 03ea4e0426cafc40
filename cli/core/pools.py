"""One pool API over two implementations: `CorePool` (the Cython core) and
`ModelPool` (the model, the oracle).  Every argument is checked here, before
the extension is entered, so no input reachable from Python can crash the
interpreter.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from ..model.cint import EINVAL, ENOENT
from ..model.compressors import ALGORITHMS, SoftwareAlgorithm, _Conventions, algorithm
from ..model.faults import FAULTS, FaultyCompressor
from ..model.invariants import Violation
from ..model.memcg import MEMCG_STATS, MemCgroup
from ..model.variants import VARIANTS
from ..model.zsmalloc import size_classes
from ..model.zswap import (DEBUGFS_COUNTERS, REJECT_COUNTERS, SUPPORTED_PAGE_SIZES, VM_EVENTS,
                           Folio, Zswap)
from .errors import CoreUnavailable, PoolInputError

__all__ = ["Pool", "CorePool", "ModelPool", "TRIVIAL", "CORE_COMPRESSORS", "CORE_FAULTS",
           "check_pool_args", "load_core"]

# The core implements the catalogue's deterministic faults; `wrong-output`
# and `nondeterministic` need the model's marker-aware decompressor.
CORE_FAULTS = ("zero-length", "oversize-report", "oversize-write", "exact-page",
               "fail-stale-length", "fail-all-valid", "negative-entry-ret0", "partial-batch",
               "enospc", "einval", "e2big", "eio", "bad-output", "unwritten-entry")
MAX_FOLIO_PAGES = 1 << 16
MAX_OFFSET = 1 << 32
MAX_CGROUPS = 64  # the core's table; the model keeps the same limit
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


def _algorithm(name: str):
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


class _Loaded:
    def __init__(self, module, libraries):
        self.module = module
        self.libraries = libraries


_LOADED: _Loaded | None = None
_LOAD_ERROR: str | None = None


def _binding_paths() -> tuple[str | None, str | None]:
    """The lz4 and zstd copies the model's bindings carry (they export the C API)."""
    lz4_path = zstd_path = None
    spec = importlib.util.find_spec("lz4.block._block")
    if spec is not None and spec.origin:
        lz4_path = spec.origin
    spec = importlib.util.find_spec("zstandard._cffi")
    if spec is not None and spec.origin:
        zstd_path = spec.origin
    return lz4_path, zstd_path


def load_core() -> _Loaded:
    """The extension with its libraries loaded, or CoreUnavailable saying why."""
    global _LOADED, _LOAD_ERROR
    if _LOADED is not None:
        return _LOADED
    if _LOAD_ERROR is not None:
        raise CoreUnavailable(_LOAD_ERROR)
    try:
        from . import _core
    except ImportError as e:
        _LOAD_ERROR = (f"the extension zswap_spec.core._core is not built ({e}); "
                       f"build it with `pip install -e .` (needs gcc and Cython)")
        raise CoreUnavailable(_LOAD_ERROR) from None
    lz4_path, zstd_path = _binding_paths()
    try:
        versions = _core.open_libraries(lz4_path, zstd_path, None)
        source = "the lz4 and zstandard packages' own copies; the system's libz.so.1"
    except OSError as first:
        try:
            versions = _core.open_libraries(None, None, None)
        except OSError as e:
            _LOAD_ERROR = (f"the compression libraries do not load ({first}; then {e}); "
                           f"install liblz4-1, libzstd1 and zlib1g")
            raise CoreUnavailable(_LOAD_ERROR) from None
        source = "the system's liblz4.so.1, libzstd.so.1 and libz.so.1"
    _LOADED = _Loaded(_core, dict(versions, source=source,
                                  lz4_path=lz4_path or "liblz4.so.1",
                                  zstd_path=zstd_path or "libzstd.so.1"))
    return _LOADED


class Pool:
    """A zswap pool: folios stored, pages loaded, invalidated, written back.

    Options: `threads` (units of a batch compressed in parallel; the core
    only), `faults` (wrap the compressor so `arm()` can make it misbehave),
    `total_ram_pages`, `max_pool_percent`, `accept_threshold_percent`,
    `max_batch_size`.  Cgroup 0 is the root; `add_cgroup()` adds children.
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

    # -- what both compare ------------------------------------------------------------

    def counter_violations(self) -> list[Violation]:
        """INV-COUNTERS and INV-NOLEAK: the counters and cgroup stats against the tree."""
        out = []
        c = self.counters()
        entries, raw, per_cgroup = self.totals()
        if c["stored_pages"] != entries:
            out.append(Violation("INV-COUNTERS", None,
                                 f"stored_pages {c['stored_pages']} but {entries} entries"))
        if c["stored_incompressible_pages"] != raw:
            out.append(Violation("INV-COUNTERS", None,
                                 f"stored_incompressible_pages {c['stored_incompressible_pages']} "
                                 f"but {raw} entries stored as-is"))
        if c["pool_total_size"] != self.pool_pages * self.page_size:
            out.append(Violation("INV-COUNTERS", None, "pool_total_size disagrees with the pool"))
        for cg, want in enumerate(per_cgroup):
            stat = self.memcg_stat(cg)
            got = [stat["zswap"], stat["zswapped"], stat["zswap_incomp"]]
            if got != want:
                out.append(Violation("INV-COUNTERS", None, f"cgroup {cg} zswap/zswapped/zswap_incomp "
                                                           f"{got}, entries say {want}"))
        if self.live_objects != entries:
            out.append(Violation("INV-NOLEAK", None,
                                 f"{self.live_objects} zsmalloc objects for {entries} entries"))
        return out

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


class CorePool(Pool):
    impl = "core"

    def __init__(self, variant, compressor, page_size=4096, **options):
        super().__init__(variant, compressor, page_size, **options)
        core = load_core().module
        alg = _algorithm(compressor)
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
                  zeromap: bool = True, moved: bytearray | None = None) -> bytes:
        """Swap a buffer out folio by folio: one outcome code per page ('0'
        zero-filled, 'c' compressed, 'r' stored as-is, 'x' rejected).  With
        `moved` (a bytearray, one byte per page), a folio rejected past the
        limit checks gets there how far the reject_* counters moved."""
        view = self._pages(data)
        n = self._run(view, folio_pages, moved)
        outcomes = bytearray(n)
        sink = moved if moved is not None else bytearray(n)
        sink[:] = b"\xff" * n  # -1: no rejection past the limit checks
        self._c.store_run(view, self._offset(first_offset, n), folio_pages, self._cgroup(cgroup),
                          bool(zeromap), outcomes, memoryview(sink).cast("b"))
        return bytes(outcomes)

    def load_run(self, first_offset: int, expected, outcomes: bytes) -> list[tuple[int, int, int]]:
        """Swap in every page the outcomes say zswap holds: (offset, 1, first
        differing byte) for a page read back wrong, (offset, -errno, -1) for
        one that does not load."""
        view = self._pages(expected)
        self._outcomes(view, outcomes)
        return self._c.load_run(self._offset(first_offset, len(outcomes)), view, bytes(outcomes))

    def audit(self, first_offset: int, expected, outcomes: bytes) -> dict:
        view = self._pages(expected)
        self._outcomes(view, outcomes)
        return self._c.audit(self._offset(first_offset, len(outcomes)), view, bytes(outcomes))

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

    def totals(self):
        """(entries, entries stored as-is, per cgroup [bytes, entries, as-is]), from the tree."""
        return self._c.totals()

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


class ModelPool(Pool):
    impl = "model"

    def __init__(self, variant, compressor, page_size=4096, **options):
        super().__init__(variant, compressor, page_size, **options)
        real = _algorithm(compressor)
        self.comp = FaultyCompressor(real) if self.faults else real
        self.zs = Zswap(variant, self.comp, page_size=page_size,
                        total_ram_pages=options.get("total_ram_pages", 1 << 20),
                        max_pool_percent=options.get("max_pool_percent", 20),
                        accept_threshold_percent=options.get("accept_threshold_percent", 90),
                        max_batch_size=options.get("max_batch_size"))
        self.cgroups: list[MemCgroup] = [self.zs.root]

    def _split(self, view: memoryview) -> tuple[bytes, ...]:
        ps = self.page_size
        return tuple(bytes(view[i:i + ps]) for i in range(0, len(view), ps))

    def store(self, offset: int, pages, cgroup: int = 0) -> bool:
        view = self._pages(pages)
        n = len(view) // self.page_size
        folio = Folio(self._split(view), self._offset(offset, n), self.cgroups[self._cgroup(cgroup)])
        return self.zs.zswap_store(folio)

    def store_run(self, data, first_offset: int = 0, folio_pages: int = 1, cgroup: int = 0,
                  zeromap: bool = True, moved: bytearray | None = None) -> bytes:
        view = self._pages(data)
        self._offset(first_offset, self._run(view, folio_pages, moved))
        pages = self._split(view)
        if moved is not None:
            moved[:] = b"\xff" * len(pages)
        memcg = self.cgroups[self._cgroup(cgroup)]
        zero = bytes(self.page_size)
        out = bytearray()
        for first in range(0, len(pages), folio_pages):
            chunk = pages[first:first + folio_pages]
            offset = first_offset + first
            if zeromap and all(p == zero for p in chunk):
                for i in range(len(chunk)):
                    self.zs.zswap_invalidate(offset + i)
                out += b"0" * len(chunk)
            else:
                before = sum(self.zs.counters[c] for c in REJECT_COUNTERS)
                if self.zs.zswap_store(Folio(chunk, offset, memcg)):
                    out += bytes(ord("r") if self.zs.tree[offset + i].length == self.page_size
                                 else ord("c") for i in range(len(chunk)))
                else:
                    out += b"x" * len(chunk)
                    if moved is not None and self.zs.trace.stage == "pages":
                        delta = sum(self.zs.counters[c] for c in REJECT_COUNTERS) - before
                        moved[first] = min(delta, 127) & 0xFF
        return bytes(out)

    def load_run(self, first_offset: int, expected, outcomes: bytes) -> list[tuple[int, int, int]]:
        pages = self._split(self._pages(expected))
        bad = []
        for i, (page, code) in enumerate(zip(pages, outcomes)):
            if code not in b"cr":
                continue
            rc, got = self.zs.zswap_load(first_offset + i)
            if rc != 0:
                bad.append((first_offset + i, rc, -1))
            elif got != page:
                bad.append((first_offset + i, 1, next(k for k in range(len(page)) if got[k] != page[k])))
        return bad

    def audit(self, first_offset: int, expected, outcomes: bytes) -> dict:
        pages = self._split(self._pages(expected))
        extra, missing, bad_len, bad_raw, raw_offsets, raw = [], [], [], [], [], 0
        for i, (page, code) in enumerate(zip(pages, outcomes)):
            offset = first_offset + i
            e = self.zs.tree.get(offset)
            stored = code in b"cr"
            if e is None:
                if stored:
                    missing.append(offset)
                continue
            if not stored:
                extra.append(offset)
            if not 0 < e.length <= self.page_size:
                bad_len.append((offset, e.length))
            elif e.length == self.page_size:
                raw += 1
                raw_offsets.append(offset)
                if self.zs.zpool.objects.get(e.handle) != page:
                    bad_raw.append(offset)
        return {"extra": extra, "missing": missing, "bad_length": bad_len, "bad_raw": bad_raw,
                "raw": raw, "raw_offsets": raw_offsets, "entries": len(self.zs.tree),
                "objects": len(self.zs.zpool.objects)}

    def load(self, offset: int):
        return self.zs.zswap_load(self._offset(offset))

    def writeback(self, offset: int):
        entry = self.zs.tree.get(self._offset(offset))
        if entry is None or not self.zs.writeback_enabled(entry.memcg or self.zs.root):
            return -ENOENT, None
        rc = self.zs.zswap_writeback_entry(entry)
        if rc:
            self.zs.counters["reject_reclaim_fail"] += 1
            return rc, None
        self.zs.counters["written_back_pages"] += 1
        return 0, self.zs.swap_device.pop(offset)

    def invalidate(self, offset: int) -> None:
        self.zs.zswap_invalidate(self._offset(offset))

    def add_cgroup(self, writeback: bool = True) -> int:
        self._new_cgroup()
        self.cgroups.append(self.zs.root.child(f"cg{len(self.cgroups)}", zswap_writeback=bool(writeback)))
        return len(self.cgroups) - 1

    def set_writeback(self, cgroup: int, writeback: bool) -> None:
        self.cgroups[self._cgroup(cgroup)].zswap_writeback = bool(writeback)

    def set_max_pool_percent(self, percent: int) -> None:
        self.zs.max_pool_percent = self._percent(percent)

    def set_enabled(self, enabled: bool) -> None:
        self.zs.enabled = bool(enabled)

    def counters(self) -> dict[str, int]:
        return dict(self.zs.counters) | dict(self.zs.vm_events)

    def memcg_stat(self, cgroup: int) -> dict[str, int]:
        return dict(self.cgroups[self._cgroup(cgroup)].stat)

    def entry(self, offset: int):
        e = self.zs.tree.get(self._offset(offset))
        if e is None:
            return None
        data = self.zs.zpool.objects.get(e.handle, b"") if e.handle else b""
        cg = next((i for i, m in enumerate(self.cgroups) if m is e.memcg), 0)
        return e.length, bytes(data), cg

    def offsets(self) -> list[int]:
        return sorted(self.zs.tree)

    def totals(self):
        ps = self.page_size
        sums = [[0, 0, 0] for _ in self.cgroups]
        index = {id(m): i for i, m in enumerate(self.cgroups)}
        raw = 0
        for e in self.zs.tree.values():
            raw += e.length == ps
            for i in {0, index.get(id(e.memcg), 0)}:
                sums[i][0] += e.length
                sums[i][1] += 1
                sums[i][2] += e.length == ps
        return len(self.zs.tree), raw, sums

    def fail_malloc(self, errnos: Sequence[int]) -> None:
        self.zs.zpool.fail_next = self._errnos(errnos)

    def fail_entry_alloc(self, n: int = 1) -> None:
        self.zs.kmemcache_fail_next = int(n)

    def fail_xa_store(self, n: int = 1) -> None:
        self.zs.xa_store_fail_next = int(n)

    def arm(self, fault: str, calls: int = 1) -> None:
        self._fault(fault, calls)
        self.comp.arm(fault, calls)

    @property
    def bad_alloc_sizes(self) -> list[int]:
        return list(self.zs.zpool.bad_sizes)

    @property
    def pool_pages(self) -> int:
        return self.zs.zpool.pages

    @property
    def pool_bytes(self) -> int:
        return self.zs.zpool.total_bytes

    @property
    def live_objects(self) -> int:
        return len(self.zs.zpool.objects)

    @property
    def shrink_work_queued(self) -> bool:
        return self.zs.shrink_work_queued

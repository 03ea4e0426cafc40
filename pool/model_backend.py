"""The pool API on the model (`zswap_spec.model`), the oracle."""

from __future__ import annotations

from collections.abc import Sequence

from zswap_spec.model.cint import ENOENT
from zswap_spec.model.faults import FaultyCompressor
from zswap_spec.model.invariants import moved_code
from zswap_spec.model.memcg import MemCgroup
from zswap_spec.model.pool_view import ModelView, Tally
from zswap_spec.model.zswap import REJECT_COUNTERS, Folio, Zswap

from .api import Pool, algorithm_of

__all__ = ["ModelPool"]


class ModelPool(Pool):
    impl = "model"

    def __init__(self, variant, compressor, page_size=4096, **options):
        super().__init__(variant, compressor, page_size, **options)
        real = algorithm_of(compressor)
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
                        moved[first] = moved_code(delta)
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

    # -- the view the invariant checker reads (`PoolView`): the model's own ------------

    @property
    def _view(self) -> ModelView:
        return ModelView(self.zs, self.cgroups)

    def slots(self, first_offset: int, pages) -> bytes:
        """The slot kinds of a run of pages just swapped out (`pool_view`)."""
        view = self._pages(pages)
        return self._view.slots(self._offset(first_offset, len(view) // self.page_size), view)

    def entry_length(self, offset: int) -> int:
        return self._view.entry_length(self._offset(offset))

    def tally(self) -> Tally:
        """The whole pool's facts (`pool_view.Tally`), cgroups named by their number."""
        return self._view.tally()

    @property
    def live_entries(self) -> int:
        return len(self.zs.tree)

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

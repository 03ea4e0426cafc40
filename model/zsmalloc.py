"""zsmalloc as zswap sees it: `zs_malloc` size limits, handles, failures, and
the pages the pool occupies.

`zs_malloc(size)` refuses a size of 0 with -EINVAL and a size above
ZS_MAX_ALLOC_SIZE (PAGE_SIZE) with -ENOSPC; any other request may fail with
-ENOMEM, which the model lets a test or a fuzzer inject.  Every call is
recorded so that INV-ALLOC and INV-NOLEAK can be checked from outside.

The pool's size (`pool_total_size`) follows zsmalloc's size classes: an
object of `size` bytes plus an 8-byte handle goes to the class of the next
multiple of 16 bytes from 32 up; each class packs `objs_per_zspage` objects
into zspages of `pages_per_zspage` pages, the chain length (1 to
CONFIG_ZSMALLOC_CHAIN_SIZE, 8) that wastes least, 1 for a power-of-two size;
neighbouring classes with the same packing are one class.  An allocation goes
to the fullest zspage with room (by tenths, the most recently moved first);
a zspage is freed when its last object is.  Compaction is not modelled.
(mm/zsmalloc.c: get_size_class_index, calculate_zspage_chain_size,
zs_create_pool, find_get_zspage, get_fullness_group; Debian linux-source-7.3
7.3.4, and damonitor/linux 9321810240ec.)
"""

from __future__ import annotations

from .cint import EINVAL, ENOMEM, ENOSPC

__all__ = ["ZsPool", "ZS_MIN_ALLOC_SIZE", "ZS_HANDLE_SIZE", "size_classes"]

ZS_MIN_ALLOC_SIZE = 32
ZS_HANDLE_SIZE = 8
ZS_MAX_PAGES_PER_ZSPAGE = 8  # CONFIG_ZSMALLOC_CHAIN_SIZE
_CLASS_BITS = 8
_RATIO_100 = 11  # ZS_INUSE_RATIO_100: full


class _SizeClass:
    __slots__ = ("size", "pages_per_zspage", "objs_per_zspage", "partial")

    def __init__(self, size: int, pages: int, objs: int):
        self.size = size
        self.pages_per_zspage = pages
        self.objs_per_zspage = objs
        self.partial: list[_Zspage] = []  # zspages with room: the only candidates


class _Zspage:
    __slots__ = ("inuse", "fullness", "stamp")

    def __init__(self):
        self.inuse = 0
        self.fullness = 0
        self.stamp = 0


def _chain_size(class_size: int, page_size: int) -> int:
    if class_size & (class_size - 1) == 0:
        return 1
    best, chain = None, 1
    for i in range(1, ZS_MAX_PAGES_PER_ZSPAGE + 1):
        waste = (i * page_size) % class_size
        if best is None or waste < best:
            best, chain = waste, i
    return chain


def size_classes(page_size: int) -> list[_SizeClass]:
    """The class serving each class index, merged classes shared."""
    delta = page_size >> _CLASS_BITS
    n = -(-(page_size - ZS_MIN_ALLOC_SIZE) // delta) + 1
    table: list[_SizeClass | None] = [None] * n
    prev = None
    for i in range(n - 1, -1, -1):
        size = min(ZS_MIN_ALLOC_SIZE + i * delta, page_size)
        pages = _chain_size(size, page_size)
        objs = pages * page_size // size
        if prev is not None and prev.pages_per_zspage == pages and prev.objs_per_zspage == objs:
            table[i] = prev
            continue
        prev = table[i] = _SizeClass(size, pages, objs)
    return table  # type: ignore[return-value]


class ZsPool:
    """The objects of one zsmalloc pool, by handle."""

    def __init__(self, page_size: int):
        self.page_size = page_size
        self.objects: dict[int, bytes] = {}
        self._next_handle = 1
        self.fail_next: list[int] = []  # for the next calls in order: an errno, or 0 to succeed
        self.bad_sizes: list[int] = []  # every size 0 or > PAGE_SIZE requested (INV-ALLOC)
        self.total_bytes = 0  # sum of object sizes
        self.pages = 0  # pages held by zspages
        self._classes = size_classes(page_size)
        self._delta = page_size >> _CLASS_BITS
        self._where: dict[int, tuple[_SizeClass, _Zspage]] = {}
        self._clock = 0

    def zs_malloc(self, size: int) -> int:
        """A handle (> 0), or a negative errno as ERR_PTR would carry it."""
        if size == 0 or size > self.page_size:
            self.bad_sizes.append(size)
            return -EINVAL if size == 0 else -ENOSPC
        if self.fail_next:
            err = self.fail_next.pop(0)
            if err:
                return err if err < 0 else -ENOMEM
        handle = self._next_handle
        self._next_handle += 1
        self.objects[handle] = b""
        self._place(handle, size)
        return handle

    def _place(self, handle: int, size: int) -> None:
        """Put an object in a zspage of its class, as `zs_malloc` does."""
        total = size + ZS_HANDLE_SIZE
        idx = 0 if total <= ZS_MIN_ALLOC_SIZE else -(-(total - ZS_MIN_ALLOC_SIZE) // self._delta)
        cls = self._classes[min(idx, len(self._classes) - 1)]
        if cls.partial:
            best = max(cls.partial, key=lambda zp: (zp.fullness, zp.stamp))
        else:
            best = _Zspage()
            cls.partial.append(best)
            self.pages += cls.pages_per_zspage
        best.inuse += 1
        self._refile(cls, best)
        if best.fullness == _RATIO_100:
            cls.partial.remove(best)
        self._where[handle] = (cls, best)

    def _refile(self, cls: _SizeClass, zp: _Zspage) -> None:
        if zp.inuse == cls.objs_per_zspage:
            group = _RATIO_100
        else:
            group = 100 * zp.inuse // cls.objs_per_zspage // 10 + 1
        if group != zp.fullness:  # moved to the head of another list
            self._clock += 1
            zp.fullness, zp.stamp = group, self._clock

    def zs_obj_write(self, handle: int, data: bytes) -> None:
        old = self.objects[handle]
        self.total_bytes += len(data) - len(old)
        self.objects[handle] = data

    def zs_obj_read(self, handle: int) -> bytes:
        return self.objects[handle]

    def zs_free(self, handle: int) -> None:
        data = self.objects.pop(handle)
        self.total_bytes -= len(data)
        cls, zp = self._where.pop(handle)
        was_full = zp.fullness == _RATIO_100
        zp.inuse -= 1
        if zp.inuse == 0:
            if not was_full:
                cls.partial.remove(zp)
            self.pages -= cls.pages_per_zspage
        else:
            self._refile(cls, zp)
            if was_full:
                cls.partial.append(zp)

    def total_pages(self) -> int:
        """Pages held by the pool's zspages (`zs_get_total_pages`)."""
        return self.pages

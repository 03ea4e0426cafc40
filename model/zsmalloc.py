"""zsmalloc as zswap sees it: `zs_malloc` size limits, handles, and failures.

`zs_malloc(size)` refuses a size of 0 with -EINVAL and a size above
ZS_MAX_ALLOC_SIZE (PAGE_SIZE) with -ENOSPC (mm/zsmalloc.c, damonitor/linux
9321810240ec).  Any other request may fail with -ENOMEM; the model lets a
test or a fuzzer inject that.  Every call is recorded so that INV-ALLOC and
INV-NOLEAK can be checked from outside.
"""

from __future__ import annotations

from .cint import EINVAL, ENOMEM, ENOSPC

__all__ = ["ZsPool", "ZS_MIN_ALLOC_SIZE", "size_class_bytes"]

# zsmalloc's smallest object and its class spacing for 4 KiB pages
# (ZS_MIN_ALLOC_SIZE 32, ZS_SIZE_CLASS_DELTA = PAGE_SIZE >> CLASS_BITS).
ZS_MIN_ALLOC_SIZE = 32
_CLASS_BITS = 8


def size_class_bytes(size: int, page_size: int) -> int:
    """The bytes zsmalloc sets aside for an object: its size class's size."""
    delta = page_size >> _CLASS_BITS
    if size <= ZS_MIN_ALLOC_SIZE:
        return ZS_MIN_ALLOC_SIZE
    return ZS_MIN_ALLOC_SIZE + -(-(size - ZS_MIN_ALLOC_SIZE) // delta) * delta


class ZsPool:
    """The objects of one zsmalloc pool, by handle."""

    def __init__(self, page_size: int):
        self.page_size = page_size
        self.objects: dict[int, bytes] = {}
        self._next_handle = 1
        self.fail_next: list[int] = []  # errnos to return from the next calls
        self.bad_sizes: list[int] = []  # every size 0 or > PAGE_SIZE requested (INV-ALLOC)
        self.total_bytes = 0  # sum of object sizes
        self.class_bytes = 0  # sum of the size classes' sizes

    def zs_malloc(self, size: int) -> int:
        """A handle (> 0), or a negative errno as ERR_PTR would carry it."""
        if size == 0 or size > self.page_size:
            self.bad_sizes.append(size)
            return -EINVAL if size == 0 else -ENOSPC
        if self.fail_next:
            err = self.fail_next.pop(0)
            return err if err < 0 else -ENOMEM
        handle = self._next_handle
        self._next_handle += 1
        self.objects[handle] = b""
        return handle

    def zs_obj_write(self, handle: int, data: bytes) -> None:
        old = self.objects[handle]
        self.total_bytes += len(data) - len(old)
        self.class_bytes += self._class(len(data)) - self._class(len(old))
        self.objects[handle] = data

    def zs_obj_read(self, handle: int) -> bytes:
        return self.objects[handle]

    def zs_free(self, handle: int) -> None:
        data = self.objects.pop(handle)
        self.total_bytes -= len(data)
        self.class_bytes -= self._class(len(data))

    def _class(self, size: int) -> int:
        return size_class_bytes(size, self.page_size) if size else 0

    def total_pages(self) -> int:
        """Pages backing the pool, from the size classes (no zspage packing)."""
        return -(-self.class_bytes // self.page_size)

# A chunk of an input file mapped for reading, for replay's passes (replay/source.py): the
# pages are read where they are, not copied into a buffer first.  A read past the file's end
# (the file cut short while mapped) reads zeros instead of ending the process, and `changed`
# says so (csrc/mapped.h).

from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_FillInfo
from libc.errno cimport errno as c_errno

cdef extern from "csrc/mapped.h" nogil:
    ctypedef struct zm_map:
        pass
    zm_map *zm_open(int fd, long long offset, size_t length)
    const unsigned char *zm_data(const zm_map *m)
    size_t zm_length(const zm_map *m)
    int zm_changed(const zm_map *m)
    long zm_repaired()
    void zm_close(zm_map *m)


def mapped_reads_repaired():
    """How many reads of a mapped chunk, in this process so far, found its file cut short
    (and read zeros there): a pass compares it before and after."""
    return zm_repaired()


cdef class MappedChunk:
    """`length` bytes of the open file `fd` from `offset`, read-only, as a buffer.  The
    mapping goes when the object does (every view of it released)."""

    cdef zm_map *m

    def __cinit__(self, int fd, long long offset, size_t length):
        cdef int e
        with nogil:
            self.m = zm_open(fd, offset, length)
            e = c_errno
        if self.m == NULL:
            import os

            raise OSError(e, os.strerror(e))

    @property
    def changed(self):
        """Whether a read found the file shorter than when it was mapped."""
        return bool(zm_changed(self.m))

    def __len__(self):
        return zm_length(self.m)

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        if flags & PyBUF_WRITABLE:
            raise BufferError("a mapped chunk of an input is read-only")
        PyBuffer_FillInfo(buffer, self, <void *>zm_data(self.m), zm_length(self.m), 1, flags)

    def __releasebuffer__(self, Py_buffer *buffer):
        pass

    def __dealloc__(self):
        if self.m != NULL:
            zm_close(self.m)
            self.m = NULL

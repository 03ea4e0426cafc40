# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The optimized core: zswap's batched store, load, invalidate and writeback,
its pool accounting and counters, in C types and without the GIL.

It implements the spec's semantics as the model does (``zswap_spec.model``:
the variants, the crypto layers, zsmalloc's size classes and zspages, the
fault catalogue's deterministic faults), and is cross-checked against it step
by step (tests/optimized_core/test_core_lockstep.py).  Private: use ``zswap_spec.pool``,
which checks every argument before it reaches this module.
"""

from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset

# The code is in the include files below, one per part of the model it implements (each names
# its model files).  Cython accepts `include` at module level only, so Core is built as a chain
# of classes, one per file from _state.pxi on, each adding its part's methods to the one before.
include "_constants.pxi"
include "_compressors.pxi"
include "_shared.pxi"
include "_threads.pxi"
include "_state.pxi"
include "_zsmalloc.pxi"
include "_tree.pxi"
include "_faults.pxi"
include "_acomp.pxi"
include "_variants.pxi"
include "_zswap.pxi"
include "_api.pxi"
include "_mapped.pxi"

# The fault catalogue's deterministic faults: which armed fault a unit gets and what it then
# reports and writes; mirrors model/faults.py (FaultyCompressor).

cdef inline bint own_result(int fault) noexcept nogil:
    """No fault, or one the batch path applies: the unit keeps its real output."""
    return (fault == F_NONE or fault == F_ALL_VALID or fault == F_NEG_RET0 or fault == F_PARTIAL
            or fault == F_UNWRITTEN)


cdef class _CoreFaults(_CoreTree):
    # ---- faults ------------------------------------------------------------------

    cdef int take_fault(self) noexcept nogil:
        """The armed fault this call (unit) gets, in arming order; F_NONE."""
        cdef int i, f
        if not self.faults_mode:
            return F_NONE
        for i in range(self.narm):
            f = self.arm_order[i]
            if self.armed[f] > 0:
                self.armed[f] -= 1
                self.nfired[f] += 1
                return f
        return F_NONE

    cdef int32_t fault_unit(self, int f, Unit *u, int32_t value, int real_fits) noexcept nogil:
        """What a unit hit by fault f reports and writes (`FaultyCompressor._unit`):
        the length or -errno; the bytes go to u.dst."""
        cdef long real_len = u.result
        cdef uint32_t cap = u.cap
        cdef long keep
        cdef int32_t size
        if f == F_ZERO:
            return 0
        if f == F_OVER_REPORT or f == F_OVER_WRITE or f == F_EXACT:
            keep = real_len if real_len < <long>cap else cap
            memcpy(u.dst, u.scratch, keep)
            if f == F_EXACT:
                memset(u.dst + keep, 0, cap - keep)
                return <int32_t>cap
            size = <int32_t>(cap + 1 + real_len % 64)
            if f == F_OVER_WRITE:
                memset(u.dst + keep, 0, cap - keep)
            return size
        if f == F_ENOSPC:
            return -ENOSPC
        if f == F_EINVAL or f == F_STALE:
            return -EINVAL
        if f == F_E2BIG:
            return -E2BIG
        if f == F_EIO:
            return -EIO
        if f == F_BAD:
            memset(u.dst, 0xff, 64)
            return 64
        return value  # batching-only faults: the batch path applies them

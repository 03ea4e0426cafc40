"""C integer conversions the variants rely on."""

import pytest

from zswap_spec.model.cint import (E2BIG, EINVAL, ENOSPC, c_or, describe_u32, errno_name, s32,
                                   u32)


@pytest.mark.parametrize("errno", [EINVAL, ENOSPC, E2BIG, 1, 4095])
def test_errno_survives_a_trip_through_an_unsigned_length(errno):
    stored = u32(-errno)
    assert stored > 0x8000_0000  # as unsigned, larger than any page
    assert s32(stored) == -errno


def test_unsigned_or_int_of_a_valid_length_and_zero_is_the_length():
    assert s32(c_or(100, 0)) == 100


def test_unsigned_or_errno_is_negative_whatever_the_length():
    # v13's `sg->length | *errp`: any length OR a negative int has the sign bit.
    for length in (0, 1, 100, 4096, 0x7FFF_FFFF):
        assert s32(c_or(length, -EINVAL)) < 0


def test_or_of_stale_length_and_errno_is_not_the_errno():
    # 100 | -EIO == -1: the sign survives, the errno does not.
    assert s32(c_or(100, -5)) == -1


def test_s32_wraps_at_two_to_the_31():
    assert s32(0x7FFF_FFFF) == 0x7FFF_FFFF
    assert s32(0x8000_0000) == -(1 << 31)
    assert u32(-1) == 0xFFFF_FFFF


def test_descriptions_name_the_errno():
    assert errno_name(-ENOSPC) == "-ENOSPC"
    assert "int -22 = -EINVAL" in describe_u32(u32(-EINVAL))
    assert describe_u32(4096) == "4096"

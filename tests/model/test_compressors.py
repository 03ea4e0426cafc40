"""Real compressors: round trips, capacity emulation, failure conventions."""

import os
import random

import pytest

from clibs import LZ4, ZLIB, ZSTD, deflate_compress, lz4_compress, zstd_compress
from zswap_spec.model.acomp import AcompReq, ScatterEntry, compress_legacy
from zswap_spec.model.cint import E2BIG, EINVAL, ENOSPC, s32, u32
from zswap_spec.model.compressors import ALGORITHMS, CompressorError, algorithm
from zswap_spec.replay.sample import boundary_page

SOFTWARE = [n for n, a in ALGORITHMS.items() if not a.batching]


def _kinds(sample):
    by_kind = {}
    for p in sample:
        by_kind.setdefault(p.kind, []).append(p.data)
    return by_kind


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_compressor_round_trips_every_page_kind(name, sample_4k):
    alg = ALGORITHMS[name]
    kinds = _kinds(sample_4k)
    assert {"text", "code", "zero", "random", "mixed", "partly-zero", "boundary"} <= set(kinds)
    checked = 0
    for kind, pages in kinds.items():
        for page in pages:
            out = alg.raw_compress(page)
            ret, back = alg.decompress(out, 4096)
            assert ret == 0 and back == page, (name, kind)
            checked += 1
    assert checked == len(sample_4k)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_round_trip_with_64k_pages(name):
    alg = ALGORITHMS[name]
    page = (b"zswap " * 12000)[:65536]
    ret, back = alg.decompress(alg.raw_compress(page), 65536)
    assert ret == 0 and back == page


def _pages_near_capacity(name, n=40):
    rng = random.Random(7)
    pages = [rng.randbytes(4096), bytes(4096), b"abc" * 1365 + b"x"]
    for _ in range(n):
        k = rng.randrange(4096)
        pages.append(rng.randbytes(k) + bytes(4096 - k))
    for target in (4095, 4096, 4097):
        p = boundary_page(name, target)
        if p is not None:
            pages.append(p)
    return pages


@pytest.mark.skipif(LZ4 is None, reason="liblz4.so.1 not installed")
@pytest.mark.parametrize("name", ["lz4"])
def test_lz4_capacity_emulation_matches_the_c_library(name):
    alg = ALGORITHMS[name]
    for page in _pages_near_capacity(name):
        full = lz4_compress(page, 8192)
        for cap in (len(full) - 1, len(full), len(full) + 1, 4096):
            real = lz4_compress(page, cap)
            ret, dlen, out = alg.compress(page, cap)
            assert (real is not None) == (ret == 0), (len(full), cap)
            if real is not None:
                assert out == real == full  # same bytes in limited-output mode


@pytest.mark.skipif(ZLIB is None, reason="libz.so.1 not installed")
def test_deflate_capacity_emulation_matches_zlib_including_the_exact_fit():
    alg = ALGORITHMS["deflate"]
    exact_fit_seen = False
    for page in _pages_near_capacity("deflate"):
        full = deflate_compress(page, 8192)
        for cap in (len(full) - 1, len(full), len(full) + 1, 4096):
            real = deflate_compress(page, cap)
            ret, dlen, out = alg.compress(page, cap)
            assert (real is not None) == (ret == 0), (len(full), cap)
            if ret:
                assert ret == -ENOSPC and dlen == cap
            else:
                assert out == real
            exact_fit_seen |= cap == len(full)
    assert exact_fit_seen


@pytest.mark.skipif(ZSTD is None, reason="libzstd.so.1 not installed")
def test_zstd_capacity_emulation_matches_libzstd_at_page_capacity():
    # zstd needs a few bytes of slack below small outputs, so the emulation is
    # exact only at the capacity zswap uses: P, where any output that is not
    # a raw block is at least 56 bytes short of P.
    alg = ALGORITHMS["zstd"]
    for page in _pages_near_capacity("zstd", n=120):
        real = zstd_compress(page, 4096)
        ret, dlen, out = alg.compress(page, 4096)
        assert (real is not None) == (ret == 0)
        if ret:
            assert ret == -EINVAL and dlen == 0


def test_lz4_reports_an_exact_fit_as_success():
    page = boundary_page("lz4", 4096)
    assert page is not None
    ret, dlen, out = ALGORITHMS["lz4"].compress(page, 4096)
    assert (ret, dlen, len(out)) == (0, 4096, 4096)


def test_zstd_cannot_produce_exactly_a_page():
    assert boundary_page("zstd", 4096) is None


@pytest.mark.parametrize("name,ret,dlen", [("lz4", -EINVAL, 4096), ("lz4hc", -EINVAL, 4096),
                                           ("zstd", -EINVAL, 0), ("deflate", -ENOSPC, 4096)])
def test_failure_conventions_for_incompressible_pages(name, ret, dlen):
    got = ALGORITHMS[name].compress(os.urandom(4096), 4096)
    assert got == (ret, dlen, b"")


def test_deflate_fails_on_an_exact_fit():
    page = boundary_page("deflate", 4096)
    assert page is not None
    assert ALGORITHMS["deflate"].compress(page, 4096)[0] == -ENOSPC


def test_iaa_batch_reports_each_unit_and_einval_when_one_fails():
    text = (b"the quick brown fox " * 300)[:4096]
    src = text + os.urandom(4096) + text
    sgl = [ScatterEntry(bytearray(4096), 0) for _ in range(3)]
    req = AcompReq(src, sgl, dlen=len(src), unit_size=4096)
    ret = compress_legacy(algorithm("deflate-iaa"), req)
    assert ret == -EINVAL
    assert 0 < sgl[0].length < 4096 and 0 < sgl[2].length < 4096
    assert s32(sgl[1].length) == -E2BIG
    assert req.dlen == sgl[0].length


def test_iaa_single_unit_writes_ret_or_dlen_everywhere():
    req = AcompReq(os.urandom(4096), [ScatterEntry(bytearray(4096), 0)], dlen=4096)
    ret = compress_legacy(algorithm("deflate-iaa"), req)
    assert ret == -E2BIG and req.dlen == u32(-E2BIG) == req.dst[0].length


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_corrupt_input_is_an_error_not_an_exception(name):
    alg = ALGORITHMS[name]
    good = alg.raw_compress(b"hello " * 700)
    for blob in (b"", b"\xff" * 64, good[: len(good) // 2]):
        ret, out = alg.decompress(blob, 4096)
        assert ret < 0 or len(out) != 4096


def test_unknown_compressor_names_the_choices():
    with pytest.raises(CompressorError, match="choose one of: lz4"):
        algorithm("lzo")

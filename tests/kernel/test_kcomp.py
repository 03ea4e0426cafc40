"""The compressors built from a kernel source tree (zswap_spec.kernel.kcomp_*).

The tests marked `kernel` need a kernel source: ZSWAP_SPEC_KERNEL_SOURCE
names a source tarball (e.g. Debian's /usr/src/linux-source-7.3.tar.xz) or an
unpacked tree; unset, the `source` fixture fetches Debian's linux-source-7.3
where apt can (as the kernel checks do), and the tests are skipped otherwise.
Nothing is fetched or built while collecting.  The first run builds into the
cache ($ZSWAP_SPEC_CACHE or ~/.cache/zswap-spec; ~25 s for a 7.3 tarball);
later runs use the cached library.  The unmarked tests need neither the
network nor a kernel source.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from zswap_spec.kernel.kcomp import ALGORITHM_NAMES, KernelCompressorError
from zswap_spec.kernel.kcomp_build import build_info, build_kernel_compressors
from zswap_spec.kernel.kcomp_load import kernel_algorithm, kernel_algorithms
from zswap_spec.model.cint import EINVAL, ENOSPC

PAGE = 4096
NO_SOURCE = ("no kernel source: set ZSWAP_SPEC_KERNEL_SOURCE to a kernel source tarball or "
             "tree (e.g. /usr/src/linux-source-7.3.tar.xz from Debian's linux-source-7.3)")


def _source() -> str | None:
    given = os.environ.get("ZSWAP_SPEC_KERNEL_SOURCE")
    if given:
        return given
    import shutil

    if shutil.which("apt-get") and shutil.which("dpkg"):
        from zswap_spec.kernel.fetch import fetch_debian_source
        from zswap_spec.kernel.tree import KernelError

        try:
            return str(fetch_debian_source("7.3"))
        except KernelError:
            return None
    return None


@pytest.fixture(scope="module")
def source() -> Path:
    """The kernel source, fetched (once, into the cache) when a test first needs it."""
    found = _source()
    if not found:
        pytest.skip(NO_SOURCE)
    return Path(found)


@pytest.fixture(scope="module")
def info(source):
    return build_info(source)


@pytest.fixture(scope="module")
def algs(source):
    return kernel_algorithms(source)


def _pages() -> list[tuple[str, bytes]]:
    rng = random.Random(20261126)
    text = b"".join(p.read_bytes() for p in sorted(Path(os.__file__).parent.glob("*.py"))[:20])
    binary = Path(os.path.realpath(sys.executable)).read_bytes()
    pages = []
    for i in range(6):
        o = rng.randrange(0, len(text) - PAGE)
        pages.append((f"text{i}", text[o:o + PAGE]))
        o = rng.randrange(0, len(binary) - PAGE)
        pages.append((f"binary{i}", binary[o:o + PAGE]))
        pages.append((f"random{i}", rng.randbytes(PAGE)))
        pages.append((f"halfzero{i}", text[o % (len(text) - PAGE):][:PAGE // 2] + bytes(PAGE // 2)))
    pages.append(("zero", bytes(PAGE)))
    return pages


@pytest.fixture(scope="module")
def pages() -> list[tuple[str, bytes]]:
    return _pages()


RANDOM_PAGE = random.Random(5).randbytes(PAGE)


def _alg(algs, info, name):
    if name not in algs:
        pytest.skip(f"{name} was not built from this source: {info['skipped'].get(name)}")
    return algs[name]


def _exact_fit_page(alg, target=PAGE):
    """A page whose output is exactly `target` bytes: bisection over the length
    of a random prefix, followed by zeros or by text."""
    text = b"".join(p.read_bytes() for p in sorted(Path(os.__file__).parent.glob("*.py"))[:20])
    for seed in range(1, 40):
        noise = random.Random(seed).randbytes(PAGE)
        for tail in (bytes(PAGE), text[seed * 997:seed * 997 + PAGE]):
            def page(n):
                return noise[:n] + tail[:PAGE - n]
            lo, hi = 0, PAGE
            while lo < hi:
                mid = (lo + hi) // 2
                if len(alg.raw_compress(page(mid))) < target:
                    lo = mid + 1
                else:
                    hi = mid
            for n in range(max(0, lo - 64), min(PAGE, lo + 64) + 1):
                if len(alg.raw_compress(page(n))) == target:
                    return page(n)
    return None


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(KernelCompressorError, match="does not exist"):
        build_kernel_compressors(tmp_path / "nope.tar.xz", tmp_path)


def test_tree_without_lz4_is_a_clear_error(tmp_path):
    (tmp_path / "tree" / "lib").mkdir(parents=True)
    with pytest.raises(KernelCompressorError, match="lib/lz4"):
        build_kernel_compressors(tmp_path / "tree", tmp_path / "cache")


@pytest.mark.kernel
def test_built_algorithms(source, info, algs):
    assert "lz4" in algs and "lz4hc" in algs
    assert set(algs) <= set(ALGORITHM_NAMES)
    assert set(algs) | set(info["skipped"]) >= {"lz4", "lz4hc", "lzo", "zstd", "deflate"}
    for name, a in algs.items():
        assert a.name == name and a.batching is False and a.batch_size == 1
        assert a.format in ("lz4", "lzo", "zstd", "deflate")
    assert (Path(build_kernel_compressors(source)).parent / "build.log").is_file()


@pytest.mark.kernel
@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_round_trip(algs, info, pages, name):
    a = _alg(algs, info, name)
    for label, page in pages:
        raw = a.raw_compress(page)
        assert a.decompress(raw, PAGE) == (0, page), label
        ret, dlen, out = a.compress(page, PAGE)
        if ret == 0:
            assert out == raw and dlen == len(out) <= PAGE, label
        else:
            assert out == b"" and len(raw) >= PAGE, label
        # too little room to decompress, and garbage: an error, never an exception
        assert a.decompress(raw, PAGE - 1)[0] < 0
        assert a.decompress(b"\xff" * 64, PAGE)[0] < 0
        # a truncated LZ4 block can still decode, to fewer bytes: zswap's
        # "output length == PAGE_SIZE" test is what catches it
        ret, out = a.decompress(raw[: len(raw) // 2], PAGE)
        assert ret < 0 or len(out) < PAGE


@pytest.mark.kernel
@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_failure_conventions(algs, info, name):
    """An incompressible page at capacity PAGE_SIZE, reported as the crypto wrapper does."""
    a = _alg(algs, info, name)
    ret, dlen, out = a.compress(RANDOM_PAGE, PAGE)
    assert out == b""
    if name in ("lz4", "lz4hc", "lzo", "lzo-rle"):
        assert (ret, dlen) == (-EINVAL, PAGE)
    elif name == "zstd":
        assert (ret, dlen) == (-EINVAL, 0)
        assert a.last_detail == -70  # ZSTD_error_dstSize_tooSmall
    else:
        assert (ret, dlen) == (-ENOSPC, PAGE)


@pytest.mark.kernel
@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_capacity_is_real(algs, info, pages, name):
    """An output of n bytes needs capacity n (LZ4, LZO), n + 1 (deflate: room to
    finish the stream) or a few bytes more (zstd's entropy coders want slack
    in the destination: 8 or 9 bytes on 7.3); n - 1 always fails."""
    a = _alg(algs, info, name)
    room = {"deflate": 1, "zstd": 16}.get(name, 0)
    for label, page in pages[:8]:
        raw = a.raw_compress(page)
        n = len(raw)
        assert a.compress(page, n + room) == (0, n, raw), label
        assert a.compress(page, n - 1)[0] < 0, label
        if name == "deflate":
            assert a.compress(page, n)[0] == -ENOSPC, label


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["lz4", "lz4hc", "lzo", "lzo-rle"])
def test_exact_fit_succeeds(algs, info, name):
    a = _alg(algs, info, name)
    page = _exact_fit_page(a)
    assert page is not None, f"no page with a {name} output of exactly {PAGE} bytes found"
    ret, dlen, out = a.compress(page, PAGE)
    assert (ret, dlen, len(out)) == (0, PAGE, PAGE)
    assert a.decompress(out, PAGE) == (0, page)
    assert a.compress(page, PAGE - 1)[:2] == (-EINVAL, PAGE - 1)


@pytest.mark.kernel
def test_deflate_exact_fit_fails(algs, info):
    """zlib needs room to finish the stream: an exact fit is out of space."""
    a = _alg(algs, info, "deflate")
    page = _exact_fit_page(a)
    assert page is not None
    assert a.compress(page, PAGE) == (-ENOSPC, PAGE, b"")
    ret, dlen, out = a.compress(page, PAGE + 1)
    assert (ret, dlen) == (0, PAGE) and a.decompress(out, PAGE) == (0, page)


@pytest.mark.kernel
def test_unknown_or_skipped_algorithm_is_a_clear_error(source):
    with pytest.raises(KernelCompressorError, match="unknown kernel compressor"):
        kernel_algorithm(source, "842")


@pytest.mark.kernel
def test_recorded_7_3_4_run_is_predicted_exactly_with_the_kernels_lz4(algs):
    # pool_total_size (zsmalloc's size classes and zspages) and memcg zswap
    # (the compressed bytes) match the recorded kernel run byte for byte.
    import json

    from zswap_spec.kernel.compare import compare, predict
    from zswap_spec.kernel.logparse import parse_log
    from zswap_spec.kernel.streams import Stream

    data = Path(__file__).parents[1] / "data"
    meta = json.loads((data / "guest-7.3.4-lz4.json").read_text())
    raw = (data / "guest-7.3.4-lz4.pages").read_bytes()
    stream = Stream([raw[i:i + PAGE] for i in range(0, len(raw), PAGE)],
                    [tuple(g) for g in meta["groups"]])
    lz4 = algs["lz4"]
    log = parse_log((data / "guest-7.3.4-lz4.log").read_text())
    found, skipped = compare(log, predict(stream, lz4), stream, exact_sizes=True)
    # Recorded before the guest traced the pool shrink worker: only its run
    # count is left out (no run is possible far below the default limit).
    assert found == [] and skipped == [
        "worker shrink_worker_runs: not in the log (the guest could not trace the shrink "
        "worker, or its probe predates that)"]
    assert log.stages["after-text"].counters["pool_total_size"] == 241664

"""Drivers with realistic mistakes of the kinds the stages beyond single
batches exist for (tests/data/realistic_drivers/, each file says its bug):
state carried across calls (A), inputs shaped like compressed data (B),
page sizes (C), the kernel's self-test vectors (D), and correct but unusual
drivers (OK) that must conform.  Each is checked with the command's
defaults, as a driver writer would run it; the clauses it must break are
spelled out here, not read from the files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from zswap_spec.driverkit import check_driver
from zswap_spec.driverkit.abi import header_path

HERE = Path(__file__).resolve().parents[1] / "data" / "realistic_drivers"

# file -> the clauses the kit must find (all of them), or () for a driver that conforms
EXPECTED = {
    "a1_stale_completion.c": ("C-DETERMINISM",),
    "a2_ring_wrap_2048.c": ("C-DETERMINISM",),
    "a3_periodic_reset_40000.c": ("C-DETERMINISM",),
    "a4_pool_leak_300.py": ("C-DETERMINISM",),
    "a5_trace_ring_off_by_one.c": ("C-ROUNDTRIP", "C-FORMAT", "C-DETERMINISM"),
    "a6_negative_cache_prefix_key.py": ("C-DETERMINISM",),
    "b1_zstd_skippable_passthrough.c": ("C-FORMAT",),
    "b2_zlib_strip_header.py": ("C-FORMAT",),
    "b3_lz4frame_blocklen.c": ("C-FORMAT",),
    # Its wrong "store" encoding is 2 bytes longer than the page, so it never fits
    # a capacity of one page: the unit fails instead, which the contract allows.
    "b4_zlib_max_literal_run.py": (),
    "b5_zstd_content_size_probe.c": ("C-OVERRUN",),
    # Its 16-bit length field turns an output of exactly 65536 bytes into a
    # failure (-EINVAL); zswap's capacity is one page (mm/zswap.c,
    # zswap_compress(): dlen = PAGE_SIZE), so no output is longer, and a unit may
    # fail: within the contract it conforms.
    "c1_u16_outlen.c": (),
    "c2_ushort_slen.c": ("C-ROUNDTRIP", "C-FORMAT"),
    "c3_4k_chunked_lz4.py": ("C-FORMAT",),
    "c4_none_u16_header.c": ("C-ROUNDTRIP",),
    "c5_zero_test_on_4k_prefix.c": ("C-ROUNDTRIP", "C-FORMAT"),
    "d1_u64_staging.c": ("C-SELFTEST",),
    "d2_reject_short.c": ("C-SELFTEST",),
    "d3_pad64_zstd.py": ("C-SELFTEST",),
    "d4_decomp_full_page.c": ("C-SELFTEST",),
    # its own decompressor reads past its input on a vector: the kit sees the read
    "d5_decompress_fast_exact_size.c": ("C-OVERRUN",),
    "ok1_lz4_4k_only.c": (),
    "ok2_zstd_64k_only.py": (),
    "ok3_deflate_nondet.c": (),
    "ok4_slow_lz4.py": (),
}
LIBS = {"lz4.h": "-llz4", "zstd.h": "-lzstd", "zlib.h": "-lz"}
# The default budget's bursts make 60 to 90 thousand calls on a quiet machine; the
# suite runs on every core, so the driver that changes at its 40,000th call gets
# the time that takes there.
BUDGET = {"a3_periodic_reset_40000.c": 20.0}


def test_the_table_names_every_driver_file():
    assert set(EXPECTED) == {p.name for p in HERE.iterdir() if p.suffix in (".c", ".py")}


def _target(name: str, tmp_path: Path) -> str:
    src = HERE / name
    if src.suffix == ".py":
        return f"{src}:{_class(src)}"
    text = src.read_text()
    libs = [flag for header, flag in LIBS.items() if f"<{header}>" in text]
    so = tmp_path / (src.stem + ".so")
    subprocess.run(["gcc", "-O2", "-fPIC", "-shared", f"-I{header_path().parent}", str(src),
                    "-o", str(so), *libs], check=True)
    return str(so)


def _class(src: Path) -> str:
    import ast

    tree = ast.parse(src.read_text())
    (cls,) = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    return cls


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_realistic_driver_gets_the_verdict_its_bug_deserves(name, tmp_path):
    r_list = check_driver(_target(name, tmp_path), reproducers=str(tmp_path / "r"),
                          budget=BUDGET.get(name, 5.0))
    (r,) = r_list
    assert r.error is None, r.error
    expected = set(EXPECTED[name])
    if not expected:
        assert r.conforms, [(v.clause, v.description) for v in r.violations]
        return
    assert expected <= set(r.clauses), (r.clauses, [v.description for v in r.violations])
    for v in r.violations:
        if v.clause in expected:  # a finding the kit reports re-runs from a fresh process
            assert v.reproduces in ("alone", "after its history"), (v.clause, v.reproduces)

"""`zswap-spec bench` as a user runs it: every row measured, the ratios
computed from them, and the raw loop doing the work it claims."""

from __future__ import annotations

import json
import subprocess
import sys

import lz4.block

from zswap_spec.pool.bench import TARGETS, bench_pages
from zswap_spec.optimized_core import load_core


def test_bench_json_has_every_row_and_the_ratios_follow_from_them():
    r = subprocess.run([sys.executable, "-m", "zswap_spec", "bench", "--compressor", "lz4",
                        "--compressor", "deflate-iaa", "--pages", "256", "--repeat", "2", "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["config"]["pages"] == 256 and set(out["ratios"]) == {"lz4", "deflate-iaa"}
    for comp, rows in out["compressors"].items():
        assert set(rows) == {"raw_c", "python_loop", "model", "core_1_thread", "core_2_threads"}
        assert all(row["seconds"] > 0 and row["pages_per_second"] > 0 for row in rows.values())
        ratios = out["ratios"][comp]
        want = rows["raw_c"]["seconds"] / rows["core_1_thread"]["seconds"]
        assert abs(ratios["core_vs_raw"] - want) < 0.01 * want + 0.002
        want = rows["core_1_thread"]["seconds"] / rows["core_2_threads"]["seconds"]
        assert abs(ratios["threads_speedup"] - want) < 0.01 * want + 0.002
        assert ratios["overhead_us_core"] > 0 and ratios["overhead_us_model"] > ratios["overhead_us_core"]
        assert 24 <= ratios["overhead_bytes_per_entry"] <= 96  # small runs: a partly used tree chunk
        assert set(out["met"][comp]) == set(TARGETS)


def test_the_raw_loop_compresses_every_page_as_the_library_does():
    buf = bench_pages(300)
    pages = [buf[i:i + 4096] for i in range(0, len(buf), 4096)]
    assert len(pages) == 300 and any(not any(p) for p in pages)  # zero pages are in the mix
    # The raw loop's total output equals the library's outputs that fit a page.
    want = 0
    for p in pages:
        n = len(lz4.block.compress(p, store_size=False))
        want += n if n <= 4096 else -1
    assert load_core().module.raw_loop("lz4", buf, 4096, 1) == want


def test_bench_text_output_names_targets():
    r = subprocess.run([sys.executable, "-m", "zswap_spec", "bench", "--compressor", "zstd",
                        "--pages", "128", "--repeat", "1"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "core / raw C loop [>= 0.9]" in r.stdout and "raw C loop (compressor only)" in r.stdout

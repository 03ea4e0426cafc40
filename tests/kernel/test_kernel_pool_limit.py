"""The pool-limit run of `kernel-check` without qemu: the `poolfill` group,
the guest's /init and records, the model's prediction with the guest's
totalram_pages() and the shrink worker's runs, the comparison of those runs,
and the options' bounds.  (The run on a real kernel: test_kernel_boot.py.)"""

import subprocess
import sys
from pathlib import Path

import pytest

from zswap_spec.kernel.compare import compare, predict
from zswap_spec.kernel.guest import _init_script
from zswap_spec.kernel.logparse import GuestLog, parse_log
from zswap_spec.kernel.run import POOL_LIMIT_MEMORY_MIB, RunSpec, _param_problems, _totalram
from zswap_spec.kernel.streams import (POOL_FILL, POOL_FILL_MAX_PAGES, Stream, add_pool_fill,
                                       pool_fill_pages)
from zswap_spec.model.compressors import ALGORITHMS

SCRIPT = Path(sys.executable).with_name("zswap-spec")
LZ4 = ALGORITHMS["lz4"]


def fill_stream(count: int) -> Stream:
    s = Stream([], [])
    add_pool_fill(s, count)
    return s


def test_poolfill_goes_well_past_the_largest_limit_the_guest_can_have():
    # 256 MiB: at most 65536 pages of RAM, so 1 % is at most 655 pool pages.
    count = pool_fill_pages(1, POOL_LIMIT_MEMORY_MIB)
    assert count == 655 * 9 // 5 + 32 == 1211
    assert pool_fill_pages(100, POOL_LIMIT_MEMORY_MIB) == POOL_FILL_MAX_PAGES
    for bad in (0, 101):
        with pytest.raises(ValueError, match="1..100"):
            pool_fill_pages(bad, POOL_LIMIT_MEMORY_MIB)


def test_poolfill_pages_are_fixed_and_mostly_barely_compressible():
    a, b = fill_stream(40), fill_stream(40)
    assert a.pages == b.pages and a.groups == [(POOL_FILL, 0, 40)]
    sizes = [len(LZ4.raw_compress(p)) for p in a.pages]
    stored = [n for i, n in enumerate(sizes) if i % 4 != 3]
    assert all(3500 < n < 4096 for n in stored)  # stored with writeback off too
    assert all(n >= 4096 for i, n in enumerate(sizes) if i % 4 == 3)  # random throughout


def _init(**kw):
    base = dict(modules=["brd"], brd_kib=65536, compressor="lz4", zpool=None, writeback=True,
                zswap_max=None, page_size=4096, settle_ms=0)
    return _init_script(**(base | kw))


def test_the_init_writes_the_pool_parameters_and_keeps_the_shrinker_off():
    text = _init(max_pool_percent=1, accept_threshold=50, per_folio=True)
    assert "setp max_pool_percent 1" in text and "setp accept_threshold_percent 50" in text
    assert "setp shrinker_enabled N" in text and "export ZSS_PER_FOLIO=1" in text
    assert "mount -t tracefs" in text
    # The parameters come before zswap is switched on.
    assert text.index("setp max_pool_percent") < text.index("setp enabled Y")
    plain = _init()
    assert "max_pool_percent" not in plain and "accept_threshold" not in plain
    assert "export ZSS_PER_FOLIO=0" in plain and "setp shrinker_enabled N" in plain


def test_the_log_keeps_the_worker_runs_and_totalram_of_each_stage():
    log = parse_log("ZSS begin 7.3.4\nZSS stage setup\nZSS counter stored_pages 0\n"
                    "ZSS totalram 52307\nZSS worker shrink_worker_queued 0\n"
                    "ZSS worker shrink_worker_runs 0\nZSS stage after-poolfill\n"
                    "ZSS totalram 52307\nZSS worker shrink_worker_queued 3\n"
                    "ZSS worker shrink_worker_runs 3\nZSS end\n")
    assert not log.malformed and log.totalram_pages == 52307
    assert log.stages["after-poolfill"].worker == {"shrink_worker_queued": 3,
                                                   "shrink_worker_runs": 3}
    assert log.stages["setup"].to_json()["totalram_pages"] == 52307
    # A record outside a stage is not attributed to one.
    assert parse_log("ZSS totalram 5\n").malformed == ["ZSS totalram 5"]


def test_a_run_must_print_one_totalram_and_the_parameters_asked_for():
    log = parse_log("ZSS param max_pool_percent 1\nZSS param accept_threshold_percent 90\n"
                    "ZSS stage setup\nZSS totalram 100\nZSS stage after-x\nZSS totalram 100\n")
    assert _totalram(log) == (100, None)
    assert _param_problems(RunSpec("lz4", True, None, 1, None), log) == []
    assert _param_problems(RunSpec("lz4", True, None, 2, 50), log) == [
        "zswap max_pool_percent is '1', not 2", "zswap accept_threshold_percent is '90', not 50"]
    log.stages["after-x"].totalram_pages = 99
    assert _totalram(log)[1] == "the guest's totalram_pages changed during the run: [99, 100]"
    assert _totalram(GuestLog())[1] == "the guest did not print its totalram_pages"


@pytest.mark.parametrize("writeback", [True, False])
def test_the_prediction_fills_the_pool_and_runs_the_shrink_worker(writeback):
    # totalram 20000 pages: the limit is 200 pool pages, the threshold 180.
    stream = fill_stream(400)
    p = predict(stream, LZ4, writeback=writeback, total_ram_pages=20000, max_pool_percent=1)
    after = p.stages[f"after-{POOL_FILL}"]
    c, runs = after.counters, after.worker["shrink_worker_runs"]
    assert after.totalram_pages == 20000
    assert c["pool_limit_hit"] > 0 and runs >= c["pool_limit_hit"] // 2 > 0
    if writeback:
        assert c["written_back_pages"] > 0 == c["reject_compress_fail"]
        assert after.memcg["zswpwb"] == c["written_back_pages"]
    else:
        # Random pages are rejected by the compressor, or by the limit first.
        assert c["written_back_pages"] == 0 < c["reject_compress_fail"] < 100
        assert c["stored_pages"] < 300
    assert p.integrity_violations == []
    # Without the limit (the kernel's default 20 %) nothing of that happens.
    free = predict(stream, LZ4, writeback=writeback, total_ram_pages=20000)
    after = free.stages[f"after-{POOL_FILL}"]
    assert after.counters["pool_limit_hit"] == after.worker["shrink_worker_runs"] == 0


def test_the_threshold_and_totalram_given_to_the_model_change_its_prediction():
    stream = fill_stream(400)
    base = predict(stream, LZ4, total_ram_pages=20000, max_pool_percent=1).stages
    # The limit moves from 200 to 205 pool pages; the threshold from 180 to 100.
    for kw in ({"total_ram_pages": 20500, "max_pool_percent": 1},
               {"total_ram_pages": 20000, "max_pool_percent": 1, "accept_threshold": 50}):
        other = predict(stream, LZ4, **kw).stages
        assert other[f"after-{POOL_FILL}"].counters != base[f"after-{POOL_FILL}"].counters


def test_a_difference_in_worker_runs_is_a_disagreement():
    stream = fill_stream(400)
    p = predict(stream, LZ4, total_ram_pages=20000, max_pool_percent=1)
    log = GuestLog(stages={k: type(v)(dict(v.counters), dict(v.memcg), dict(v.vmstat),
                                      dict(v.worker), v.totalram_pages)
                           for k, v in p.stages.items()},
                   groups={POOL_FILL: {"first": 0, "count": 400, "swapped": 400}},
                   verify={POOL_FILL: {"ok": 400, "bad": 0}}, ended=True)
    assert compare(log, p, stream) == ([], [])
    log.stages[f"after-{POOL_FILL}"].worker["shrink_worker_runs"] += 1
    (d,), _ = compare(log, p, stream)
    assert (d.stage, d.source, d.name) == (f"after-{POOL_FILL}", "worker", "shrink_worker_runs")
    assert d.kernel == d.model + 1 and d.pages == f"{POOL_FILL}: pages 0-399"


@pytest.mark.parametrize("args, message", [
    (["--max-pool-percent", "0"], "'--max-pool-percent': 0 is not in the range 1<=x<=100"),
    (["--max-pool-percent", "101"], "'--max-pool-percent': 101 is not in the range 1<=x<=100"),
    (["--accept-threshold", "-1"], "'--accept-threshold': -1 is not in the range 0<=x<=100"),
    (["--accept-threshold", "101"], "'--accept-threshold': 101 is not in the range 0<=x<=100"),
    (["--zswap-max", "-5"], "'--zswap-max': -5 is not in the range 0<=x<=1099511627776"),
])
def test_pool_options_out_of_range_are_one_line_errors(args, message):
    # Refused before any kernel is looked up: no network, no qemu.
    p = subprocess.run([str(SCRIPT), "kernel-check", *args], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and message in p.stderr, p.stderr

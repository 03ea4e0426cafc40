"""`zswap-spec bench`: the optimized core measured side by side, in one run,
with the physical limit (a raw C loop of the compressor alone), with what a
user would write in Python, and with the model.

Every figure is the best of several repetitions on the same fixed mix of
real pages.  Pools are reused between repetitions (emptied, untimed) so each
repetition measures the steady state, not first-touch page faults.  The core
and the raw loop call the very same library functions.
"""

from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass

import lz4.block
import zstandard

from zswap_spec.model.compressors import DEFLATE_DEF_MEMLEVEL, DEFLATE_DEF_WINBITS, LZ4HC_DEFAULT_CLEVEL, ZSTD_DEF_LEVEL
from zswap_spec.replay.sample import _text_pages, default_sample
from zswap_spec.optimized_core import load_core
from zswap_spec.support.interrupts import Interrupted

from .errors import PoolInputError
from .core_backend import CorePool
from .model_backend import ModelPool

__all__ = ["BENCH_COMPRESSORS", "TARGETS", "bench_pages", "run_bench"]

BENCH_COMPRESSORS = ("lz4", "lz4hc", "zstd", "deflate", "deflate-iaa")
ROWS = ("raw_c", "python_loop", "model", "core_1_thread", "core_2_threads")
TARGETS = {"core_vs_raw": 0.9, "threads_speedup": 1.6, "bookkeeping_ratio": 20.0,
           "overhead_bytes_per_entry": 32.0}


def bench_pages(n: int, page_size: int = 4096) -> bytes:
    """The fixed mix: the built-in sample, then text, zero and random pages 6:1:1."""
    if n < 1:
        raise PoolInputError(f"--pages {n}: give at least 1 page")
    out = [p.data for p in default_sample(page_size)][:n]
    texts = [d for _, d in _text_pages(page_size, 512)]
    rng = random.Random(0xBE7C)
    zero = bytes(page_size)
    i = 0
    while len(out) < n:
        slot = i % 8
        if slot < 6:
            out.append(texts[i % len(texts)])
        elif slot == 6:
            out.append(zero)
        else:
            out.append(rng.randbytes(page_size))
        i += 1
    return b"".join(out)


def _python_loop(compressor: str, pages: list[bytes]) -> int:
    """What a user would write: the Python bindings, page by page."""
    total = 0
    if compressor == "lz4":
        for p in pages:
            total += len(lz4.block.compress(p, store_size=False))
    elif compressor == "lz4hc":
        for p in pages:
            total += len(lz4.block.compress(p, mode="high_compression",
                                            compression=LZ4HC_DEFAULT_CLEVEL, store_size=False))
    elif compressor == "zstd":
        c = zstandard.ZstdCompressor(level=ZSTD_DEF_LEVEL)
        for p in pages:
            total += len(c.compress(p))
    else:
        wbits, strategy = ((12, zlib.Z_FIXED) if compressor == "deflate-iaa"
                           else (DEFLATE_DEF_WINBITS, zlib.Z_DEFAULT_STRATEGY))
        for p in pages:
            c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -wbits,
                                 DEFLATE_DEF_MEMLEVEL, strategy)
            total += len(c.compress(p) + c.flush())
    return total


@dataclass
class _Timer:
    repeat: int

    def best(self, fn, before=None) -> float:
        """The fastest of `repeat` runs of fn(); before() runs untimed first."""
        best = float("inf")
        for _ in range(self.repeat):
            if before is not None:
                before()
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return best


def _emptied(pool, n: int):
    return lambda: [pool.invalidate(o) for o in range(n)]


def run_bench(compressors=("lz4", "zstd", "deflate"), pages: int = 4096, variant: str = "uniform",
              repeat: int = 5, folio_pages: int = 8, page_size: int = 4096, progress=None) -> dict:
    """Measure every row for every compressor; the figures and the ratios.  An
    interrupt raises `Interrupted` with the figures of the compressors measured
    (`done`) and the names of the others (`not_done`)."""
    loaded = load_core()
    buf = bench_pages(pages, page_size)
    page_list = [buf[i:i + page_size] for i in range(0, len(buf), page_size)]
    out: dict = {"config": {"pages": len(page_list), "page_size": page_size, "variant": variant,
                            "folio_pages": folio_pages, "repeat": repeat,
                            "libraries": loaded.libraries},
                 "compressors": {}, "ratios": {}}
    try:
        _measure(out, loaded.module.raw_loop, compressors, buf, page_list, variant, folio_pages,
                 page_size, repeat, progress)
    except KeyboardInterrupt:
        done = list(out["compressors"])
        raise Interrupted(_targets(out), [c for c in compressors if c not in done]) from None
    return _targets(out)


def _measure(out: dict, raw_loop, compressors, buf: bytes, page_list: list[bytes], variant: str,
             folio_pages: int, page_size: int, repeat: int, progress) -> None:
    """Every row for every compressor, each compressor's figures put in `out` once
    they are all measured."""
    n = len(page_list)
    timer = _Timer(repeat)
    slow = _Timer(max(1, min(repeat, 3)))  # the model and the Python loop are slow
    big = 1 << 30  # no pool limit in the way

    def store_run(pool):
        return lambda: pool.store_run(buf, 0, folio_pages, 0, zeromap=False)

    # zswap's own work: the trivial compressor (a fixed 16-byte output)
    model_t = ModelPool(variant, "trivial", page_size, total_ram_pages=big)
    core_t = CorePool(variant, "trivial", page_size, total_ram_pages=big)
    overhead_model = slow.best(store_run(model_t), _emptied(model_t, n)) / n * 1e6
    overhead_core = timer.best(store_run(core_t), _emptied(core_t, n)) / n * 1e6
    for comp in compressors:
        if progress:
            progress(comp)
        rows = {}
        rows["raw_c"] = timer.best(lambda: raw_loop(comp, buf, page_size, 1))
        rows["python_loop"] = slow.best(lambda: _python_loop(comp, page_list))
        model = ModelPool(variant, comp, page_size, total_ram_pages=big)
        rows["model"] = slow.best(store_run(model), _emptied(model, n))
        core1 = CorePool(variant, comp, page_size, threads=1, total_ram_pages=big)
        core2 = CorePool(variant, comp, page_size, threads=2, total_ram_pages=big)
        # the two cores alternate, so drifting machine load hits both alike
        t1, t2 = [], []
        for _ in range(repeat):
            t1.append(_Timer(1).best(store_run(core1), _emptied(core1, n)))
            t2.append(_Timer(1).best(store_run(core2), _emptied(core2, n)))
        rows["core_1_thread"], rows["core_2_threads"] = min(t1), min(t2)
        store_run(core1)()
        overhead = core1.overhead()
        figures = {
            row: {"seconds": round(s, 6), "pages_per_second": round(n / s, 1),
                  "mib_per_second": round(n * page_size / s / (1 << 20), 2)}
            for row, s in rows.items()}
        out["ratios"][comp] = {
            "core_vs_raw": round(rows["raw_c"] / rows["core_1_thread"], 3),
            "core_vs_model": round(rows["model"] / rows["core_1_thread"], 2),
            "core_vs_python_loop": round(rows["python_loop"] / rows["core_1_thread"], 3),
            "threads_speedup": round(rows["core_1_thread"] / rows["core_2_threads"], 3),
            "overhead_us_core": round(overhead_core, 4),
            "overhead_us_model": round(overhead_model, 3),
            "bookkeeping_ratio": round(overhead_model / overhead_core, 1),
            "overhead_bytes_per_entry": round(overhead["per_entry"], 2),
            "zsmalloc_bytes_per_entry": round(overhead["zsmalloc_per_entry"], 2),
        }
        out["compressors"][comp] = figures  # last: a compressor listed has its ratios


def _targets(out: dict) -> dict:
    """`out` with the targets, and which each compressor measured meets."""
    out["targets"] = dict(TARGETS)
    out["met"] = {comp: {
        "core_vs_raw": r["core_vs_raw"] >= TARGETS["core_vs_raw"],
        "threads_speedup": r["threads_speedup"] >= TARGETS["threads_speedup"],
        "bookkeeping_ratio": r["bookkeeping_ratio"] >= TARGETS["bookkeeping_ratio"],
        "overhead_bytes_per_entry": r["overhead_bytes_per_entry"] <= TARGETS["overhead_bytes_per_entry"],
    } for comp, r in out["ratios"].items()}
    return out

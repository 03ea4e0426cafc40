"""State-machine steps per second of the pool fuzzer, one worker and two
workers side by side in one run (mainline, lz4, one-page folios, every
invariant checked after every step), on the model or the optimized core.

    python bench/fuzz_speed.py [--seconds 10] [--impl model|core|both] [--max-folio 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def worker(seconds: float, impl: str = "model", max_folio: int = 1) -> tuple[int, float]:
    from zswap_spec.fuzz.campaign import Campaign, run_campaign

    with tempfile.TemporaryDirectory() as d:
        r = run_campaign(Campaign("mainline", "lz4", (), budget=seconds, max_folio=max_folio, impl=impl),
                         None, Path(d))
    assert not r.findings, r.findings
    return r.steps, r.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--impl", choices=["model", "core", "both"], default="model")
    ap.add_argument("--max-folio", type=int, default=1, help="largest folio, in pages")
    args = ap.parse_args()
    impls = ["model", "core"] if args.impl == "both" else [args.impl]
    ones = {}
    for impl in impls:
        one_steps, one_secs = worker(args.seconds, impl, args.max_folio)
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=2) as pool:
            runs = list(pool.map(worker, [args.seconds] * 2, [impl] * 2, [args.max_folio] * 2))
        wall = time.perf_counter() - started
        two = sum(s for s, _ in runs) / wall
        one = ones[impl] = one_steps / one_secs
        print(f"{impl:5}  1 worker   {one:8.0f} steps/s  ({one_steps} steps in {one_secs:.1f} s; "
              f"target >= 1000)")
        print(f"{impl:5}  2 workers  {two:8.0f} steps/s  ({sum(s for s, _ in runs)} steps in {wall:.1f} s wall)")
        print(f"{impl:5}  speed-up   {two / one:8.2f} x  (2 workers vs 1)")
    if len(ones) == 2:
        print(f"core / model, 1 worker: {ones['core'] / ones['model']:.2f} x")


if __name__ == "__main__":
    main()

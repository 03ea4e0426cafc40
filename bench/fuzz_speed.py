"""State-machine steps per second of the pool fuzzer, one worker and two
workers side by side in one run (mainline, lz4, one-page folios, every
invariant checked after every step).

    python bench/fuzz_speed.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def worker(seconds: float) -> tuple[int, float]:
    from zswap_spec.fuzz.campaign import Campaign, run_campaign

    with tempfile.TemporaryDirectory() as d:
        r = run_campaign(Campaign("mainline", "lz4", (), budget=seconds, max_folio=1), None, Path(d))
    assert not r.findings, r.findings
    return r.steps, r.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    one_steps, one_secs = worker(args.seconds)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(worker, [args.seconds, args.seconds]))
    wall = time.perf_counter() - started
    two = sum(s for s, _ in runs) / wall
    one = one_steps / one_secs
    print(f"1 worker   {one:8.0f} steps/s  ({one_steps} steps in {one_secs:.1f} s; target >= 1000)")
    print(f"2 workers  {two:8.0f} steps/s  ({sum(s for s, _ in runs)} steps in {wall:.1f} s wall)")
    print(f"speed-up   {two / one:8.2f} x  (2 workers vs 1)")


if __name__ == "__main__":
    main()

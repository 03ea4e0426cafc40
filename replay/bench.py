"""`zswap-spec bench --replay`: replay end to end beside the raw compressor loop.

One input of mixed real content, built from files every machine has (the
standard library's sources, the interpreter and shared libraries, zero and
random pages), written to a temporary file.  Side by side, in one run:

- the raw loops: the core's C loop (the same library functions) compressing
  every page into a PAGE_SIZE destination and decompressing every output
  that fit, nothing else; and the same written with the Python bindings
  (python-lz4, zstandard, zlib: what a user would write), page by page;
- `zswap-spec replay FILE --impl core` as a user runs it, in its own process
  (start-up, reading, swap-out, checks, read-back, report), for one
  configuration on one and on two threads, and for the five variants the
  core implements x both writeback settings;
- the peak memory of those processes (their maximum resident set) against
  the bytes their pools hold after the swap-out, and the same with
  `--sizes-only`.

Every figure is the best of `repeat` runs.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from zswap_spec.pool.api import VARIANT_IDS

__all__ = ["mixed_input", "run_replay_bench", "TARGETS"]

PAGE = 4096
TARGETS = {"end_to_end_vs_raw": 0.8, "threads_speedup": 1.6, "all_vs_one": 1.5,
           "extra_over_pool_mib": 256, "sizes_only_peak_mib": 256}


def mixed_input(path, mib: int, seed: int = 64) -> None:
    """Write `mib` MiB of mixed real content to `path`: 64 KiB runs of 45% text,
    35% code, 10% zero and 10% random bytes."""
    rng = random.Random(seed)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    text = b"".join(p.read_bytes() for p in sorted(stdlib.rglob("*.py"))[:4000])
    code = bytearray()
    libs = [Path(os.path.realpath(sys.executable)),
            *sorted(Path("/usr/lib/x86_64-linux-gnu").glob("*.so*"))]
    for p in libs:
        try:
            if p.is_file():
                code += p.read_bytes()
        except OSError:
            continue
        if len(code) > 256 << 20:
            break
    run = 64 << 10
    want = mib << 20
    ti = ci = written = 0
    with open(path, "wb") as f:
        while written < want:
            r = rng.random()
            if r < 0.45:
                part = text[ti:ti + run] or bytes(run)
                ti = (ti + run) % max(1, len(text) - run)
            elif r < 0.80:
                part = bytes(code[ci:ci + run]) or bytes(run)
                ci = (ci + run) % max(1, len(code) - run)
            elif r < 0.90:
                part = bytes(run)
            else:
                part = rng.randbytes(run)
            part = part[:want - written]
            f.write(part)
            written += len(part)


def python_loop(compressor: str, data) -> int:
    """The raw loop with the Python bindings (the model's compressors call them): every
    page compressed, every output that fits in a page decompressed back."""
    from zswap_spec.model.compressors import algorithm

    alg = algorithm(compressor)
    view = memoryview(data)
    total = 0
    for at in range(0, len(view) - PAGE + 1, PAGE):
        out = alg.raw_compress(view[at:at + PAGE])
        total += len(out)
        if len(out) <= PAGE:
            total += len(alg.decompress(out, PAGE)[1])
    return total


def _command() -> list[str]:
    exe = Path(sys.executable).with_name("zswap-spec")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "zswap_spec"]


def _replay(path: Path, args: list[str]) -> dict:
    """One `zswap-spec replay` in its own process: wall seconds, peak memory, its runs."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(_command() + ["replay", str(path), "--impl", "core", "--json", *args],
                             stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if p.returncode not in (0, 1):
            raise RuntimeError(f"zswap-spec replay {' '.join(args)} failed (exit {p.returncode}): "
                               f"{err.read().decode(errors='replace').strip()[-400:]}")
        runs = json.loads(out.read())["runs"]
    return {"seconds": wall, "peak_bytes": usage.ru_maxrss * 1024,
            "pool_bytes": sum(r["pool_bytes"] for r in runs), "runs": len(runs),
            "pages": runs[0]["pages"]}


def _best(measure, repeat: int) -> dict:
    runs = [measure() for _ in range(repeat)]
    best = min(runs, key=lambda r: r["seconds"])
    return dict(best, peak_bytes=max(r["peak_bytes"] for r in runs))


def run_replay_bench(compressor: str = "lz4", mib: int = 1024, repeat: int = 3,
                     progress=None) -> dict:
    """The figures and ratios (see the module's docstring)."""
    say = progress or (lambda msg: None)
    variants = [a for v in VARIANT_IDS for a in ("--variant", v)]
    one = ["--variant", "mainline", "--compressor", compressor]
    every = [*variants, "--compressor", compressor, "--writeback", "both"]
    with tempfile.TemporaryDirectory(prefix="zswap-spec-bench-") as d:
        # The input is written and the raw loop run in processes of their own: a process
        # started from one that held the input would count that memory in its peak.
        path = Path(d) / "mixed.bin"
        say(f"writing {mib} MiB of mixed content")
        _python(f"from zswap_spec.replay.bench import mixed_input; "
                f"mixed_input({str(path)!r}, {mib})")
        say("raw loop")
        raw = min(float(_python(
            f"import time; from zswap_spec.optimized_core import load_core; "
            f"data = open({str(path)!r}, 'rb').read(); t = time.perf_counter(); "
            f"load_core().module.raw_loop({compressor!r}, data, {PAGE}, 1, True); "
            f"print(time.perf_counter() - t)")) for _ in range(repeat))
        say("Python loop")
        py = min(float(_python(
            f"import time; from zswap_spec.replay.bench import python_loop; "
            f"data = open({str(path)!r}, 'rb').read(); t = time.perf_counter(); "
            f"python_loop({compressor!r}, data); print(time.perf_counter() - t)"))
            for _ in range(repeat))
        rows = {}
        for key, args in (("one_1_thread", one), ("one_2_threads", [*one, "--threads", "2"]),
                          ("all_1_thread", every), ("all_2_threads", [*every, "--threads", "2"]),
                          ("one_sizes_only", [*one, "--sizes-only"]),
                          ("all_sizes_only", [*every, "--sizes-only"])):
            say(f"replay {key.replace('_', ' ')}")
            rows[key] = _best(lambda: _replay(path, args), repeat)
    size = mib << 20
    mib_s = lambda seconds: round(size / seconds / (1 << 20), 1)  # noqa: E731
    one1, one2, all1 = rows["one_1_thread"], rows["one_2_threads"], rows["all_1_thread"]
    ratios = {
        "end_to_end_vs_raw": round(raw / one1["seconds"], 3),
        "end_to_end_vs_python_loop": round(py / one1["seconds"], 3),
        "threads_speedup": round(one1["seconds"] / one2["seconds"], 3),
        "all_vs_one": round(all1["seconds"] / one1["seconds"], 3),
        "all_vs_one_2_threads": round(rows["all_2_threads"]["seconds"] / one2["seconds"], 3),
        "extra_over_pool_mib": round((one1["peak_bytes"] - one1["pool_bytes"]) / (1 << 20), 1),
        "sizes_only_peak_mib": round(rows["one_sizes_only"]["peak_bytes"] / (1 << 20), 1),
    }
    met = {
        "end_to_end_vs_raw": ratios["end_to_end_vs_raw"] >= TARGETS["end_to_end_vs_raw"],
        "threads_speedup": ratios["threads_speedup"] >= TARGETS["threads_speedup"],
        "all_vs_one": ratios["all_vs_one"] <= TARGETS["all_vs_one"],
        "extra_over_pool_mib": ratios["extra_over_pool_mib"] <= TARGETS["extra_over_pool_mib"],
        "sizes_only_peak_mib": ratios["sizes_only_peak_mib"] <= TARGETS["sizes_only_peak_mib"],
    }
    return {
        "config": {"compressor": compressor, "mib": mib, "pages": size // PAGE, "repeat": repeat,
                   "variants": list(VARIANT_IDS)},
        "raw_loop": {"seconds": round(raw, 3), "mib_per_second": mib_s(raw)},
        "python_loop": {"seconds": round(py, 3), "mib_per_second": mib_s(py)},
        "replay": {k: {"seconds": round(r["seconds"], 3), "mib_per_second": mib_s(r["seconds"]),
                       "runs": r["runs"], "peak_mib": round(r["peak_bytes"] / (1 << 20), 1),
                       "pool_mib": round(r["pool_bytes"] / (1 << 20), 1)}
                   for k, r in rows.items()},
        "ratios": ratios, "targets": TARGETS, "met": met,
    }


def _python(code: str) -> str:
    """Run `code` in a fresh interpreter: what it prints."""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stderr.strip()[-400:])
    return p.stdout

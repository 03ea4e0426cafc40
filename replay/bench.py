"""`zswap-spec bench --replay`: replay end to end beside the raw compressor loop.

One input of mixed real content, built from files every machine has (the
standard library's sources, the interpreter and shared libraries, zero and
random pages), written to a temporary file.  Side by side, in one run:

- the raw loops: the core's C loop (the same library functions) compressing
  every page into a PAGE_SIZE destination and decompressing every output
  that fit, nothing else; and the same written with the Python bindings
  (python-lz4, zstandard, zlib: what a user would write), page by page;
- two of the C loops at once, in two processes: what two cores of this
  machine give for this work (`machine_two_cores`: twice the work, over the
  time the pair took).  Cores that share caches, memory bandwidth or a
  host's hyperthreads give less than 2; replay's two threads are judged
  beside it (`threads_vs_machine`);
- `zswap-spec replay FILE --impl core` as a user runs it, in its own process
  (start-up, reading, swap-out, checks, read-back, report), for one
  configuration on one and on two threads, and for the five variants the
  core implements x both writeback settings;
- the peak memory of those processes (their maximum resident set) against
  the bytes their pools hold after the swap-out, and the same with
  `--sizes-only`.

Every figure is the best of `repeat` runs.  The processes start as an
installed package's do, with its modules' bytecode compiled: where the
environment forbids writing it (PYTHONDONTWRITEBYTECODE), it is kept in the
bench's temporary folder (PYTHONPYCACHEPREFIX) and made by a small replay
before anything is measured.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from zswap_spec.pool.api import VARIANT_IDS

__all__ = ["mixed_input", "run_replay_bench", "TARGETS", "BenchInterrupted", "ROWS"]

PAGE = 4096
TARGETS = {"end_to_end_vs_raw": 0.8, "end_to_end_vs_python_loop": 0.8, "threads_speedup": 1.6,
           "all_vs_one": 1.5,
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


_CHILD_ENV: dict | None = None  # the children's environment (None: this one's); see the docstring


def _bytecode_env(folder: str) -> dict | None:
    """The children's environment when this one forbids writing bytecode: compiled
    into `folder` instead, as an installed package has it.  None: leave it be."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return None
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(folder) / "bytecode")
    return env


class BenchInterrupted(KeyboardInterrupt):
    """An interrupt, with the figures measured before it (`partial`: the result's
    fields so far) and the rows not measured."""

    def __init__(self, partial: dict, not_measured: list[str]):
        super().__init__()
        self.partial = partial
        self.not_measured = not_measured


def _child(cmd: list[str]) -> tuple[int, bytes, bytes, object]:
    """Run `cmd` in a process that dies with this one (even killed), its output in
    files: (exit code, stdout, stderr, resource usage).  An interrupt kills it first."""
    return _children([cmd])[0]


def _children(cmds: list[list[str]]) -> list[tuple[int, bytes, bytes, object]]:
    """Run every command of `cmds` at once, as `_child` runs one: each one's (exit code,
    stdout, stderr, resource usage).  An interrupt kills those still running."""
    from zswap_spec.support.processes import dies_with_parent

    with contextlib.ExitStack() as files:
        procs = []
        try:
            for cmd in cmds:
                out, err = (files.enter_context(tempfile.TemporaryFile()) for _ in range(2))
                procs.append((subprocess.Popen(dies_with_parent(cmd), stdout=out, stderr=err,
                                               env=_CHILD_ENV), out, err))
            got = []
            for p, out, err in procs:
                _, status, usage = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
                out.seek(0)
                err.seek(0)
                got.append((p.returncode, out.read(), err.read(), usage))
            return got
        finally:
            for p, _, _ in procs:
                if p.returncode is None:
                    p.kill()
                    p.wait()


def _failed(what: str, code: int, err: bytes) -> Exception:
    text = err.decode(errors="replace").strip()
    if "No space left on device" in text or "Errno 28" in text:
        return OSError(errno.ENOSPC, "No space left on device")
    return RuntimeError(f"{what} failed (exit {code}): {text[-400:]}")


def _replay(path: Path, args: list[str]) -> dict:
    """One `zswap-spec replay` in its own process: wall seconds, peak memory, its runs."""
    t0 = time.perf_counter()
    code, out, err, usage = _child(_command() + ["replay", str(path), "--impl", "core", "--json",
                                                 *args])
    wall = time.perf_counter() - t0
    if code not in (0, 1):
        raise _failed(f"zswap-spec replay {' '.join(args)}", code, err)
    runs = json.loads(out)["runs"]
    return {"seconds": wall, "peak_bytes": usage.ru_maxrss * 1024,
            "pool_bytes": sum(r["pool_bytes"] for r in runs), "runs": len(runs),
            "pages": runs[0]["pages"]}


def _best(measure, repeat: int) -> dict:
    runs = [measure() for _ in range(repeat)]
    best = min(runs, key=lambda r: r["seconds"])
    return dict(best, peak_bytes=max(r["peak_bytes"] for r in runs))


ROWS = ("one_1_thread", "one_2_threads", "all_1_thread", "all_2_threads", "one_sizes_only",
        "all_sizes_only")


def run_replay_bench(compressor: str = "lz4", mib: int = 1024, repeat: int = 3,
                     progress=None) -> dict:
    """The figures and ratios (see the module's docstring).  OSError (ENOSPC) when the
    temporary folder cannot hold the input; BenchInterrupted on an interrupt."""
    say = progress or (lambda msg: None)
    variants = [a for v in VARIANT_IDS for a in ("--variant", v)]
    one = ["--variant", "mainline", "--compressor", compressor]
    every = [*variants, "--compressor", compressor, "--writeback", "both"]
    args = {"one_1_thread": one, "one_2_threads": [*one, "--threads", "2"],
            "all_1_thread": every, "all_2_threads": [*every, "--threads", "2"],
            "one_sizes_only": [*one, "--sizes-only"], "all_sizes_only": [*every, "--sizes-only"]}
    size = mib << 20
    folder = tempfile.gettempdir()
    if shutil.disk_usage(folder).free < size + (64 << 20):
        raise OSError(errno.ENOSPC, f"{folder} has {shutil.disk_usage(folder).free >> 20} MiB "
                                    f"free, and the input needs {mib} MiB and some room")
    found: dict = {}
    global _CHILD_ENV
    try:
        with tempfile.TemporaryDirectory(prefix="zswap-spec-bench-") as d:
            _CHILD_ENV = _bytecode_env(d)
            # The input is written and the raw loops run in processes of their own: a
            # process started from one that held the input would count it in its peak.
            path = Path(d) / "mixed.bin"
            say(f"writing {mib} MiB of mixed content")
            _python(f"from zswap_spec.replay.bench import mixed_input; "
                    f"mixed_input({str(path)!r}, {mib})")
            if _CHILD_ENV is not None:
                say("compiling the modules' bytecode")
                _warm_up(Path(d), args)
            say("raw loop")
            raw = (f"import time; from zswap_spec.optimized_core import load_core; "
                   f"data = open({str(path)!r}, 'rb').read(); t = time.perf_counter(); "
                   f"load_core().module.raw_loop({compressor!r}, data, {PAGE}, 1, True); "
                   f"print(time.perf_counter() - t)")
            found["raw_loop"] = min(float(_python(raw)) for _ in range(repeat))
            say("two raw loops at once")
            found["raw_pair"] = min(max(float(t) for t in _pythons(raw, 2))
                                    for _ in range(repeat))
            say("Python loop")
            found["python_loop"] = min(float(_python(
                f"import time; from zswap_spec.replay.bench import python_loop; "
                f"data = open({str(path)!r}, 'rb').read(); t = time.perf_counter(); "
                f"python_loop({compressor!r}, data); print(time.perf_counter() - t)"))
                for _ in range(repeat))
            for key in ROWS:
                say(f"replay {key.replace('_', ' ')}")
                found[key] = _best(lambda: _replay(path, args[key]), repeat)
    except KeyboardInterrupt:
        raise BenchInterrupted(_figures(found, compressor, mib, repeat),
                               [k for k in ("raw_loop", "raw_pair", "python_loop", *ROWS)
                                if k not in found]) \
            from None
    finally:
        _CHILD_ENV = None
    return _figures(found, compressor, mib, repeat)


def _warm_up(folder: Path, args: dict) -> None:
    """Every row's replay once over one page, so that the modules each imports have
    their bytecode before the measured runs."""
    page = folder / "page.bin"
    page.write_bytes(bytes(range(256)) * (PAGE // 256))
    for key in ROWS:
        _replay(page, args[key])
    _python("import zswap_spec.replay.bench, zswap_spec.optimized_core")
    page.unlink()


def _figures(found: dict, compressor: str, mib: int, repeat: int) -> dict:
    """The result's fields, of what was measured."""
    size = mib << 20
    mib_s = lambda seconds: round(size / seconds / (1 << 20), 1)  # noqa: E731
    out = {"config": {"compressor": compressor, "mib": mib, "pages": size // PAGE,
                      "repeat": repeat, "variants": list(VARIANT_IDS)},
           "targets": TARGETS}
    for loop in ("raw_loop", "python_loop"):
        if loop in found:
            out[loop] = {"seconds": round(found[loop], 3), "mib_per_second": mib_s(found[loop])}
    if "raw_pair" in found:  # twice the input's work, on two processes at once
        out["raw_pair"] = {"seconds": round(found["raw_pair"], 3),
                           "mib_per_second": mib_s(found["raw_pair"] / 2)}
    out["replay"] = {k: {"seconds": round(r["seconds"], 3), "mib_per_second": mib_s(r["seconds"]),
                         "runs": r["runs"], "peak_mib": round(r["peak_bytes"] / (1 << 20), 1),
                         "pool_mib": round(r["pool_bytes"] / (1 << 20), 1)}
                     for k, r in found.items() if k in ROWS}
    ratios: dict = {}
    one1, one2 = found.get("one_1_thread"), found.get("one_2_threads")
    if one1 and "raw_loop" in found:
        ratios["end_to_end_vs_raw"] = round(found["raw_loop"] / one1["seconds"], 3)
    if one1 and "python_loop" in found:
        ratios["end_to_end_vs_python_loop"] = round(found["python_loop"] / one1["seconds"], 3)
    if one1 and one2:
        ratios["threads_speedup"] = round(one1["seconds"] / one2["seconds"], 3)
    if "raw_loop" in found and "raw_pair" in found:
        ratios["machine_two_cores"] = round(2 * found["raw_loop"] / found["raw_pair"], 3)
        if one1 and one2:
            ratios["threads_vs_machine"] = round(ratios["threads_speedup"]
                                                 / ratios["machine_two_cores"], 3)
    if one1 and "all_1_thread" in found:
        ratios["all_vs_one"] = round(found["all_1_thread"]["seconds"] / one1["seconds"], 3)
    if one2 and "all_2_threads" in found:
        ratios["all_vs_one_2_threads"] = round(found["all_2_threads"]["seconds"] / one2["seconds"], 3)
    if one1:
        ratios["extra_over_pool_mib"] = round((one1["peak_bytes"] - one1["pool_bytes"]) / (1 << 20), 1)
    if "one_sizes_only" in found:
        ratios["sizes_only_peak_mib"] = round(found["one_sizes_only"]["peak_bytes"] / (1 << 20), 1)
    at_least = {"end_to_end_vs_raw", "end_to_end_vs_python_loop", "threads_speedup"}
    out["ratios"] = ratios
    out["met"] = {k: (v >= TARGETS[k] if k in at_least else v <= TARGETS[k])
                  for k, v in ratios.items() if k in TARGETS}
    return out


def _python(code: str) -> str:
    """Run `code` in a fresh interpreter (that dies with this one): what it prints."""
    return _pythons(code, 1)[0]


def _pythons(code: str, n: int) -> list[str]:
    """Run `code` in `n` fresh interpreters at once (each dies with this one): what
    each prints.  An interrupt kills them."""
    got = _children([[sys.executable, "-c", code]] * n)
    for status, _, err, _ in got:
        if status:
            raise _failed("a benchmark step", status, err)
    return [out.decode() for _, out, _, _ in got]

"""Bad input to the pool API and the commands of the core: a clear error
naming the input and the fix, checked before the extension is entered, and
no crash of the interpreter on anything Python can pass."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zswap_spec.pool as core
from propcount import count
from zswap_spec.pool import PoolInputError, make_pool
from zswap_spec.pool.core_backend import CorePool

PS = 4096


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "zswap_spec", *args], capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.mark.parametrize("impl", ["model", "core"])
@pytest.mark.parametrize("call,needle", [
    (lambda p: p.store(0, b"x" * 100), "whole number of 4096-byte pages"),
    (lambda p: p.store(0, b""), "whole number"),
    (lambda p: p.store(0, "text"), "bytes-like"),
    (lambda p: p.store(-1, bytes(PS)), "swap offset -1"),
    (lambda p: p.store(1 << 32, bytes(PS)), "outside"),
    (lambda p: p.store(0, bytes(PS), 5), "cgroup 5 does not exist"),
    (lambda p: p.load(-3), "swap offset -3"),
    (lambda p: p.arm("zero-length", 1), "faults=True"),
    (lambda p: p.fail_malloc([1 << 40]), "errno values"),
    (lambda p: p.set_max_pool_percent(101), "0 to 100"),
    (lambda p: p.store_run(bytes(PS), 0, 0), "folio_pages"),
])
def test_bad_calls_are_refused_with_the_fix(impl, call, needle):
    pool = make_pool("v13", "lz4", impl=impl)
    with pytest.raises(PoolInputError, match=needle):
        call(pool)
    assert pool.store(0, bytes(range(256)) * 16)  # the pool still works


@pytest.mark.parametrize("kwargs,needle", [
    (dict(variant="v99"), "unknown variant 'v99'"),
    (dict(compressor="lzo"), "unknown compressor 'lzo'"),
    (dict(page_size=8192), "page size 8192 is not supported"),
    (dict(threads=0), "threads must be 1 to 8"),
    (dict(threads=9), "threads must be 1 to 8"),
    (dict(max_batch_size=0), "max_batch_size"),
    (dict(total_ram_pages=0), "total_ram_pages"),
])
def test_bad_pools_are_refused_before_the_extension(kwargs, needle):
    args = dict(variant="mainline", compressor="lz4") | kwargs
    with pytest.raises(PoolInputError, match=needle):
        make_pool(args.pop("variant"), args.pop("compressor"), impl="core", **args)


def test_a_fault_the_core_lacks_is_refused_with_the_way_out():
    pool = make_pool("v13", "deflate-iaa", impl="core", faults=True)
    with pytest.raises(PoolInputError, match="use the model"):
        pool.arm("wrong-output", 1)


def test_the_environment_chooses_the_implementation(monkeypatch):
    monkeypatch.setenv("ZSWAP_SPEC_IMPL", "model")
    assert core.IMPL == "model" and make_pool().impl == "model"
    monkeypatch.setenv("ZSWAP_SPEC_IMPL", "core")
    assert core.IMPL == "core" and make_pool().impl == "core"
    monkeypatch.setenv("ZSWAP_SPEC_IMPL", "fast")
    with pytest.raises(PoolInputError, match="ZSWAP_SPEC_IMPL is 'fast'"):
        make_pool()


def test_without_the_extension_the_model_serves_and_says_so_once(monkeypatch, capsys):
    import zswap_spec.optimized_core as extension

    def missing():
        raise core.CoreUnavailable("the extension zswap_spec.optimized_core._core is not built")

    monkeypatch.setattr(extension, "load_core", missing)
    monkeypatch.setattr(core, "_said", set())
    monkeypatch.delenv("ZSWAP_SPEC_IMPL", raising=False)
    assert core.IMPL == "model" and make_pool().impl == "model"
    assert make_pool().impl == "model"
    err = capsys.readouterr().err
    assert err.count("the model serves") == 1 and "not built" in err
    with pytest.raises(core.CoreUnavailable, match="not built"):
        make_pool(impl="core")


_OPS = st.one_of(
    st.tuples(st.just("store"), st.integers(-5, (1 << 32) + 5), st.binary(max_size=3 * PS + 7),
              st.integers(-2, 3)),
    st.tuples(st.just("store_pages"), st.integers(0, 64), st.integers(1, 3), st.integers(0, 255)),
    st.tuples(st.just("load"), st.integers(-5, 80)),
    st.tuples(st.just("writeback"), st.integers(-5, 80)),
    st.tuples(st.just("invalidate"), st.integers(-5, 80)),
    st.tuples(st.just("fail_malloc"), st.lists(st.integers(-5000, 5000), max_size=4)),
    st.tuples(st.just("arm"), st.sampled_from(["zero-length", "oversize-write", "exact-page",
                                               "unwritten-entry", "wrong-output", "bogus"]),
              st.integers(-1, 9)),
    st.tuples(st.just("run"), st.integers(0, 70), st.integers(-1, 9), st.binary(max_size=2 * PS)),
)


@settings(max_examples=150, deadline=None)
@given(variant=st.sampled_from(["mainline", "v13", "v14", "explicit", "uniform"]),
       compressor=st.sampled_from(["lz4", "zstd", "deflate", "deflate-iaa"]),
       threads=st.integers(1, 2), ops=st.lists(_OPS, max_size=25))
def test_nothing_python_can_pass_crashes_the_core(variant, compressor, threads, ops):
    count("core API misuse")
    pool = CorePool(variant, compressor, PS, threads=threads, faults=True, total_ram_pages=4096)
    for op in ops:
        try:
            if op[0] == "store":
                pool.store(op[1], op[2], op[3])
            elif op[0] == "store_pages":
                pool.store(op[1], bytes([op[3]]) * (PS * op[2]))
            elif op[0] in ("load", "writeback"):
                rc, page = getattr(pool, op[0])(op[1])
                assert (rc == 0) == (page is not None)
            elif op[0] == "invalidate":
                pool.invalidate(op[1])
            elif op[0] == "fail_malloc":
                pool.fail_malloc(op[1])
            elif op[0] == "arm":
                pool.arm(op[1], op[2])
            else:
                pool.store_run(op[3], op[1], op[2])
        except PoolInputError:
            pass
    snap = pool.snapshot()
    assert snap["counters"]["stored_pages"] == len(snap["entries"]) == pool.live_objects


@pytest.mark.parametrize("args,needle", [
    (["bench", "--compressor", "lzo"], "unknown compressor 'lzo'"),
    (["bench", "--pages", "0"], "--pages 0 is out of range"),
    (["bench", "--variant", "v99"], "unknown variant 'v99'"),
    (["fuzz", "--impl", "core", "--faults", "nondeterministic"], "the core does not implement"),
    (["replay", "--impl", "fast", "x"], "Invalid value for '--impl'"),
])
def test_bad_options_exit_2_with_one_line(args, needle):
    r = cli(*args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and r.stderr.count("\n") == 1


def test_replay_on_the_core_from_the_command_line(tmp_path):
    from zswap_spec.replay.sample import default_sample

    f = tmp_path / "pages.bin"
    f.write_bytes(b"".join(p.data for p in default_sample()))
    runs = []
    for impl in ("core", "model"):
        r = cli("replay", str(f), "--variant", "v14", "--compressor", "lz4", "--impl", impl, "--json")
        assert r.returncode == 1  # v14 loses a page of the sample (INV-ROUNDTRIP)
        (run,) = json.loads(r.stdout)["runs"]
        run.pop("seconds")
        run.pop("violation_examples")
        runs.append(run)
    assert runs[0] == runs[1] and runs[0]["violations"]["INV-ROUNDTRIP"] >= 1


def test_a_pool_used_from_two_threads_at_once_refuses_instead_of_crashing():
    import threading

    pool = CorePool("uniform", "deflate", PS, threads=1)
    data = b"".join(bytes([i]) * 64 + bytes(range(256)) * 15 + bytes(PS - 64 - 3840) for i in range(64))
    errors, done = [], threading.Event()

    def hammer():
        while not done.is_set():
            try:
                pool.invalidate(3)
                pool.counters()
            except RuntimeError as e:
                errors.append(str(e))

    t = threading.Thread(target=hammer)
    t.start()
    try:
        for _ in range(20):
            pool.store_run(data, 0, 8)
    finally:
        done.set()
        t.join()
    assert errors and "in use by another thread" in errors[0]
    snap = pool.snapshot()
    assert snap["counters"]["stored_pages"] == len(snap["entries"]) == pool.live_objects


def test_cgroups_are_limited_alike():
    for impl in ("model", "core"):
        pool = make_pool(impl=impl)
        for _ in range(63):
            pool.add_cgroup()
        with pytest.raises(PoolInputError, match="at most 64 cgroups"):
            pool.add_cgroup()

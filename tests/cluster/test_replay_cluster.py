"""Replay on a Dask cluster (`replay.cluster.replay_on_cluster`) against a run on
this machine: the same runs field for field, in the same order; bad addresses
refused within the connect limit; a worker killed mid-task; a file a worker
cannot read; an interrupt."""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
import time

import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster  # noqa: E402

from zswap_spec.replay.cluster import (ClusterError, WorkerSourceError,  # noqa: E402
                                       replay_on_cluster)
from zswap_spec.replay.results import RunConfig  # noqa: E402
from zswap_spec.replay.sample import default_sample  # noqa: E402
from zswap_spec.replay.source import SourceError  # noqa: E402
from zswap_spec.replay.stream import Stopped, replay_paths  # noqa: E402

# The variants the optimized core implements (v14len is the model's only).
CORE_VARIANTS = ["mainline", "v13", "v14", "explicit", "uniform"]


def _write_pages(path, n, seed, tail=b""):
    """n pages from the built-in sample and random+text halves, then `tail`."""
    sample = [p.data for p in default_sample(4096)]
    rng = random.Random(seed)
    with open(path, "wb") as f:
        for i in range(n):
            if i % 3:
                f.write(sample[rng.randrange(len(sample))])
            else:
                f.write(sample[rng.randrange(len(sample))][:2048] + rng.randbytes(2048))
        f.write(tail)
    return str(path)


def _fields(results):
    return [{k: v for k, v in r.to_json().items() if k != "seconds"} for r in results]


def _local(inputs, configs, impl):
    return [r for paths in inputs for r in replay_paths(paths, configs, impl)]


def _new_cluster():
    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                        dashboard_address=":0")  # the HTTP server on any free port


@pytest.fixture(scope="module")
def cluster():
    with _new_cluster() as c:
        yield c


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    return [_write_pages(d / "a.bin", 300, 1), _write_pages(d / "b.bin", 250, 2, tail=b"tail")]


def test_the_merged_runs_are_the_local_runs_field_for_field(cluster, two_files):
    configs = [RunConfig(v, c, wb) for wb in (True, False) for c in ("lz4", "zstd")
               for v in CORE_VARIANTS]
    inputs = [[two_files[0]], [two_files[1]]]
    pages, notes = [], []
    got = replay_on_cluster(cluster.scheduler_address, inputs, configs, "core",
                            progress=pages.append, warn=notes.append)
    want = _local(inputs, configs, "core")
    assert len(got) == len(want) == 2 * len(configs)
    assert [(r.config, r.pages) for r in got] == [(r.config, r.pages) for r in want]
    assert _fields(got) == _fields(want)
    # Four tasks (two inputs x two compressors), each heard once: its pages out and back.
    assert len(pages) == 4 and sum(pages) == 2 * sum(r.pages for r in want)
    assert len(notes) == 1 and "b.bin" in notes[0] and "zero-padded" in notes[0]


def test_files_concatenated_as_one_input_and_mixed_folios(cluster, two_files):
    """Several files as one input, groups interleaved in the configurations' order."""
    configs = [RunConfig("v14", "lz4", True, 4), RunConfig("mainline", "zstd", False, 1),
               RunConfig("mainline", "lz4", True, 4), RunConfig("v13", "zstd", False, 1)]
    inputs = [two_files, [two_files[1]]]
    got = replay_on_cluster(cluster.scheduler_address, inputs, configs, "core")
    want = [r for paths in inputs for r in
            [replay_paths(paths, [c], "core")[0] for c in configs]]
    assert _fields(got) == _fields(want)


def _silent_server():
    """Something that listens and never answers (not a Dask scheduler)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    held = []
    threading.Thread(target=lambda: held.extend([s.accept()] * 4), daemon=True).start()
    return s


@pytest.mark.parametrize("address,timeout,needle", [
    ("tcp://127.0.0.1:1", 10.0, "cannot reach a Dask scheduler at tcp://127.0.0.1:1 in 10 s"),
    ("not-an-address", 10.0, "'not-an-address' is not a Dask scheduler's address"),
    ("http://127.0.0.1:8786", 10.0, "the scheme 'http'"),
    ("tcp://no-such-host.invalid:8786", 10.0, "not known"),
    ("silent", 2.0, "answers, but not as a Dask scheduler"),
], ids=["refused", "malformed", "scheme", "unknown-host", "not-dask"])
def test_a_bad_address_is_one_line_within_the_connect_limit(address, timeout, needle, two_files):
    server = None
    if address == "silent":
        server = _silent_server()
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    t = time.monotonic()
    try:
        with pytest.raises(ClusterError) as e:
            replay_on_cluster(address, [two_files[:1]], [RunConfig("mainline", "lz4")], "core",
                              connect_timeout=timeout)
    finally:
        if server is not None:
            server.close()
    took = time.monotonic() - t
    assert took < timeout + 2, took
    message = str(e.value)
    assert "\n" not in message and address in message and needle in message, message
    assert "dask scheduler" in message or "`dask scheduler` prints" in message, message


def test_a_worker_address_is_not_the_scheduler(cluster, two_files):
    worker = next(iter(cluster.scheduler_info["workers"]))
    with pytest.raises(ClusterError, match="is a Dask Worker, not the scheduler"):
        replay_on_cluster(worker, [two_files[:1]], [RunConfig("mainline", "lz4")], "core")


def test_a_file_missing_on_the_workers_names_it_and_the_worker(cluster, two_files, tmp_path):
    missing = tmp_path / "only-here.bin"
    with pytest.raises(WorkerSourceError) as e:
        replay_on_cluster(cluster.scheduler_address, [two_files[:1], [str(missing)]],
                          [RunConfig("mainline", "lz4")], "core")
    assert isinstance(e.value, SourceError) and isinstance(e.value, ClusterError)
    message = str(e.value)
    assert f"{missing}: no such file (on the worker at tcp://" in message, message
    assert "same path" in message and "\n" not in message


def test_a_worker_killed_during_a_task_is_replaced_and_the_runs_are_the_same(tmp_path):
    """The model on 4,000 pages takes seconds a task: long enough to kill its worker
    while it runs; the scheduler runs it again elsewhere."""
    data = _write_pages(tmp_path / "big.bin", 4000, 3)
    configs = [RunConfig(v, "lz4", True) for v in ("mainline", "v13", "v14", "explicit")]
    inputs = [[data], [data]]
    killed: list[int] = []

    def executing(dask_worker):
        return [str(ts.key) for ts in dask_worker.state.executing]

    with _new_cluster() as c, Client(c.scheduler_address, set_as_default=False) as watcher:
        pids = watcher.run(os.getpid)

        def kill_one():
            until = time.monotonic() + 30
            while time.monotonic() < until and not killed:
                for worker, keys in watcher.run(executing).items():
                    if any(k.startswith("zswap-replay-") for k in keys):
                        time.sleep(0.3)  # well inside the task
                        os.kill(pids[worker], signal.SIGKILL)
                        killed.append(pids[worker])
                        return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_one, daemon=True)
        killer.start()
        got = replay_on_cluster(c.scheduler_address, inputs, configs, "model")
        killer.join(5)
    assert killed, "no task was seen running"
    one = _fields(replay_paths([data], configs, "model"))
    assert _fields(got) == one + one


def test_an_interrupt_stops_the_tasks_and_gives_the_runs_done(cluster, two_files):
    """Ctrl-C while waiting (here: from the progress callback, after the first task):
    Stopped with that task's runs, in order; nothing left running on the workers."""
    configs = [RunConfig(v, c, True) for c in ("lz4", "zstd") for v in CORE_VARIANTS]

    def interrupt(n):
        raise KeyboardInterrupt

    with pytest.raises(Stopped) as e:
        replay_on_cluster(cluster.scheduler_address, [[two_files[0]], [two_files[1]]], configs,
                          "core", progress=interrupt)
    got = e.value.results
    assert len(got) == len(CORE_VARIANTS)  # one task: one input, one compressor
    path = two_files[0] if got[0].pages == 300 else two_files[1]
    local = replay_paths([path], configs, "core")
    want = [r for r in local if r.config.compressor == got[0].config.compressor]
    assert _fields(got) == _fields(want)
    with Client(cluster.scheduler_address, set_as_default=False) as watcher:
        until = time.monotonic() + 5
        while any(watcher.processing().values()) and time.monotonic() < until:
            time.sleep(0.1)
        assert not any(watcher.processing().values())


def test_threads_and_sizes_only_reach_the_workers(cluster, two_files):
    import inspect

    if not {"threads", "sizes_only"} <= set(inspect.signature(replay_paths).parameters):
        pytest.skip("replay_paths takes neither threads nor sizes_only here")
    configs = [RunConfig(v, "lz4", True) for v in CORE_VARIANTS]
    inputs = [[two_files[0]], [two_files[1]]]
    for options in ({"threads": 2}, {"sizes_only": True}):
        got = replay_on_cluster(cluster.scheduler_address, inputs, configs, "core", **options)
        want = [r for paths in inputs for r in replay_paths(paths, configs, "core", **options)]
        assert _fields(got) == _fields(want), options

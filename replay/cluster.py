"""Replay on a Dask cluster: the same runs as on this machine, spread over the
workers of a Dask scheduler (`dask scheduler`, `dask worker tcp://HOST:8786`).

The work is split into *tasks*: one input (its files, replayed as one input)
times one group of configurations, a group being the configurations that
share compressor, page size and folio size (their runs compress the same
pages the same way, so they stay together).  Each task runs
`stream.replay_paths` on a worker, which reads the files at the same path as
this machine does; the results come back and are put in the order a run on
this machine gives: input by input, each in the configurations' order.

A task is pure: it reads its files and returns its runs, nothing else, so a
task whose worker is lost (killed, out of memory) is run again on another
worker by the scheduler, with the same result.  A file a worker cannot read
comes back as `WorkerSourceError` (a `ClusterError` and a
`source.SourceError`) naming the file and the worker.  An interrupt cancels
what is left, stops the tasks under way at their next chunk, and raises
`stream.Stopped` with the runs of the tasks done.

`connect` is shared with `zswap-spec fuzz --cluster` (`zswap_spec.fuzz.cluster`):
an address that is malformed, unreachable, or not a Dask scheduler's is a
`ClusterError` within the connect time limit (10 s), naming the address and
the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import threading
import time
import uuid

from .results import RunConfig, RunResult
from .run import Stopped
from .source import SourceError

__all__ = ["ClusterError", "WorkerSourceError", "replay_on_cluster", "connect", "task_groups",
           "call_within", "close", "one_task_at_a_time", "CONNECT_TIMEOUT", "INSTALL_HINT",
           "START_HINT"]

CONNECT_TIMEOUT = 8.0  # seconds to reach the scheduler and find a worker (errors well within 10 s)
RETRIES = 1  # a task that raises is run once more (a lost worker's tasks: the scheduler re-runs)
STOP_POLL = 0.25  # seconds between a task's looks at the stop flag
INSTALL_HINT = "pip install 'zswap-spec[cluster]'"
START_HINT = ("start one with `dask scheduler` (and workers with `dask worker tcp://HOST:8786`) "
              "and give its tcp://HOST:8786 address")


class ClusterError(ValueError):
    """The cluster cannot serve: one line naming the address (or the worker) and the fix."""


class WorkerSourceError(ClusterError, SourceError):
    """An input a worker cannot read: the file, the worker, and the fix."""


# -- connecting ------------------------------------------------------------------------------

def _distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError("a cluster needs Dask's distributed scheduler, which is not "
                           f"installed here; install it with {INSTALL_HINT}") from None
    return distributed


def _parse(address: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a Dask address; ClusterError for a malformed one."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port
    from distributed.comm.registry import backends

    try:
        scheme, loc = parse_address(address)
    except (ValueError, TypeError) as e:
        raise ClusterError(f"{address!r} is not a Dask scheduler's address ({e}); {START_HINT}") \
            from None
    if scheme not in backends:
        raise ClusterError(f"{address!r} is not a Dask scheduler's address (the scheme "
                           f"{scheme!r} is none of {', '.join(sorted(backends))}); {START_HINT}")
    if scheme not in ("tcp", "tls", "ws", "wss"):
        return scheme, loc, None
    try:
        host, port = parse_host_port(loc)
    except (ValueError, TypeError) as e:
        raise ClusterError(f"{address!r} is not a Dask scheduler's address ({e}); {START_HINT}") \
            from None
    if not host or not 0 < int(port) < 65536:
        raise ClusterError(f"{address!r} is not a Dask scheduler's address (no host, or a port "
                           f"out of range); {START_HINT}")
    return scheme, host, int(port)


def call_within(fn, timeout: float):
    """fn() in a thread of its own, given at most `timeout` seconds (TimeoutError)."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    t = threading.Thread(target=target, name="zswap-spec-connect", daemon=True)
    t.start()
    t.join(max(0.0, timeout))
    if t.is_alive():
        raise TimeoutError(f"no answer in {timeout:.3g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _reach(address: str, host: str, port: int, deadline: float, limit: float) -> None:
    """Something listens at host:port, within the deadline (a refused connection is
    tried again: the scheduler may be starting)."""
    try:
        infos = call_within(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM),
                           deadline - time.monotonic())
    except socket.gaierror as e:
        raise ClusterError(f"cannot reach a Dask scheduler at {address}: the host {host!r} is "
                           f"not known ({e.strerror or e}); check the name, or {START_HINT}") \
            from None
    except TimeoutError:
        raise ClusterError(f"cannot reach a Dask scheduler at {address}: looking up {host!r} "
                           f"took more than {limit:g} s; check the name, or {START_HINT}") from None
    why = "no answer"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ClusterError(f"cannot reach a Dask scheduler at {address} in {limit:g} s "
                               f"({why}); {START_HINT}")
        for family, kind, proto, _, sockaddr in infos:
            s = socket.socket(family, kind, proto)
            s.settimeout(max(0.05, min(left, 2.0)))
            try:
                s.connect(sockaddr)
                return
            except ConnectionRefusedError:
                why = "connection refused: nothing listens there"
            except OSError as e:
                why = e.strerror or str(e) or "no answer"
            finally:
                s.close()
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def _identity(address: str, timeout: float) -> dict:
    """What the server at `address` says it is (Dask's `identity`)."""
    from distributed.comm import connect as comm_connect
    from distributed.security import Security

    args = Security().get_connection_args("client")

    async def ask():
        comm = await comm_connect(address, timeout=timeout, **args)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    return call_within(lambda: asyncio.run(asyncio.wait_for(ask(), timeout)), timeout + 0.5)


@contextlib.contextmanager
def quiet_dask():
    """Dask's own log lines (a lost worker, a closed connection) held back: what
    matters comes back as results or as one ClusterError."""
    loggers = [logging.getLogger(n) for n in ("distributed", "distributed.client",
                                              "distributed.core", "distributed.comm",
                                              "distributed.batched", "distributed.utils")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def connect(address: str, connect_timeout: float = CONNECT_TIMEOUT):
    """A `distributed.Client` of the scheduler at `address`, with at least one worker,
    within `connect_timeout` seconds; ClusterError otherwise (one line: the address
    and the fix)."""
    distributed = _distributed()
    address = (address or "").strip()
    if not address:
        raise ClusterError(f"no scheduler address given; {START_HINT}")
    limit = connect_timeout
    deadline = time.monotonic() + limit
    scheme, host, port = _parse(address)
    if port is not None:
        _reach(address, host, port, deadline, limit)
    try:
        ident = _identity(address, max(0.1, deadline - time.monotonic()))
    except (OSError, TimeoutError, asyncio.TimeoutError) as e:
        if port is None:
            raise ClusterError(f"cannot reach a Dask scheduler at {address} in {limit:g} s "
                               f"({e}); {START_HINT}") from None
        raise ClusterError(f"{address} answers, but not as a Dask scheduler "
                           f"({str(e) or type(e).__name__}); "
                           f"give the address `dask scheduler` prints (tcp://HOST:8786)") from None
    except Exception as e:  # noqa: BLE001 - anything else a stranger may send back
        raise ClusterError(f"{address} answers, but not as a Dask scheduler "
                           f"({type(e).__name__}); give the address `dask scheduler` prints "
                           f"(tcp://HOST:8786)") from None
    kind = ident.get("type") if isinstance(ident, dict) else None
    if kind != "Scheduler":
        what = f"a Dask {kind}" if isinstance(kind, str) else "not a Dask scheduler"
        raise ClusterError(f"{address} is {what}, not the scheduler; give the scheduler's "
                           f"address (the one `dask worker` is given)")
    try:
        with quiet_dask():
            client = distributed.Client(address, timeout=max(0.5, deadline - time.monotonic()),
                                        set_as_default=False)
    except Exception as e:  # noqa: BLE001 - gone between the look and the connection
        raise ClusterError(f"cannot connect to the Dask scheduler at {address} ({e}); "
                           f"{START_HINT}") from None
    try:
        if not client.scheduler_info().get("workers"):
            client.wait_for_workers(1, timeout=max(0.5, deadline - time.monotonic()))
    except Exception:  # noqa: BLE001 - a timeout: no worker joined
        close(client)
        raise ClusterError(f"the Dask scheduler at {address} has no workers; start some with "
                           f"`dask worker {address}` on the machines that hold the inputs") \
            from None
    except BaseException:
        close(client)
        raise
    return client


def close(client, timeout: float = 3.0) -> None:
    """Close the client, within `timeout` even if the scheduler is gone."""
    with quiet_dask(), contextlib.suppress(BaseException):
        call_within(lambda: client.close(timeout=timeout), timeout + 1.0)


def stop_tasks(client, futures, flag: str | None) -> None:
    """Raise the stop flag the tasks look at, and cancel what has not ended."""
    distributed = _distributed()

    def stop():
        if flag is not None:
            distributed.Event(flag, client=client).set()
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending, force=True)

    with quiet_dask(), contextlib.suppress(BaseException):
        call_within(stop, 3.0)


class StopFlag:
    """On a worker: has the client raised the stop flag `name`?  Looked at every
    STOP_POLL seconds at most (calling it is cheap, at every step)."""

    def __init__(self, name: str | None):
        self.name = name
        self.event = None
        self.raised = False
        self.next_look = 0.0

    def __call__(self) -> bool:
        if self.raised or self.name is None:
            return self.raised
        now = time.monotonic()
        if now >= self.next_look:
            self.next_look = now + STOP_POLL
            try:
                if self.event is None:
                    from distributed import Event

                    self.event = Event(self.name)
                self.raised = bool(self.event.is_set())
            except Exception:  # noqa: BLE001 - no scheduler to ask: go on
                pass
        return self.raised


def worker_address() -> str:
    """The address of the worker running this task ("this machine" outside one)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except Exception:  # noqa: BLE001
        return "this machine"


# -- the tasks -------------------------------------------------------------------------------

# A worker process runs one task at a time, whatever its threads: a run (and a
# fuzz campaign) keeps process-wide state (the compressors' caches, Hypothesis's
# limits), and the runs are what a run on one machine gives only run alone.
one_task_at_a_time = threading.Lock()


def task_groups(configs: list[RunConfig]) -> list[list[int]]:
    """The configurations' indexes, grouped by (compressor, page size, folio size), the
    groups in the order of their first configuration, each in the given order."""
    groups: dict[tuple, list[int]] = {}
    for j, c in enumerate(configs):
        groups.setdefault((c.compressor, c.page_size, c.folio_pages), []).append(j)
    return list(groups.values())


def _replay_task(paths: list[str], configs: list[RunConfig], impl: str, flag: str | None,
                 options: dict | None = None):
    """On a worker: one input through one group of configurations (`options`: more
    keyword arguments of `replay_paths`).  Returns ("ok", results, notes), or
    ("error", kind, message, worker)."""
    from zswap_spec.pool import CoreUnavailable, PoolInputError

    from .stream import replay_paths

    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue  # replay_paths names it
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            return ("error", "stream", f"{path}: a pipe, FIFO or device stream cannot be replayed "
                    "on a cluster (each task reads its input, and a task run again reads it "
                    "again); give a regular file or a block device", worker_address())
    stop = StopFlag(flag)

    def progress(n):
        if stop():
            raise KeyboardInterrupt

    notes: list[str] = []
    try:
        with one_task_at_a_time:
            if stop():
                raise Stopped([])
            results = replay_paths(paths, configs, impl, progress=progress, warn=notes.append,
                                   **(options or {}))
    except Stopped:
        return ("error", "stopped", "stopped by the client", worker_address())
    except SourceError as e:
        return ("error", "source", str(e), worker_address())
    except (PoolInputError, CoreUnavailable) as e:
        return ("error", "impl", str(e), worker_address())
    return ("ok", results, notes)


def _task_error(kind: str, message: str, worker: str) -> ClusterError:
    if kind == "source":
        return WorkerSourceError(f"{message} (on the worker at {worker}); every worker reads the "
                                 "inputs at the same path as this machine: copy them there, or "
                                 "put them on a file system the workers share")
    if kind == "stream":
        return WorkerSourceError(f"{message} (on the worker at {worker})")
    return ClusterError(f"on the worker at {worker}: {message}")


def failed_task(address: str, e: BaseException, what: str) -> BaseException:
    """What a task that ended in an exception (after its re-runs) becomes: a
    ClusterError for what the cluster did, the exception itself for a bug."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    if isinstance(e, KilledWorker):
        return ClusterError(f"{what} was lost with its worker every time it ran (killed, or out "
                            f"of memory?); check the workers of {address} and their memory")
    if isinstance(e, CancelledError):
        return ClusterError(f"{what} was dropped by the scheduler at {address} (restarted, or "
                            f"gone?); start it again and re-run")
    if isinstance(e, ImportError) and (getattr(e, "name", "") or "").startswith("zswap_spec"):
        return ClusterError(f"the workers of {address} cannot import zswap_spec ({e}); install "
                            f"the same zswap-spec on every worker ({INSTALL_HINT})")
    return e


def _merge(done: dict, n_inputs: int, configs, groups) -> list[RunResult]:
    """The runs done, input-major, each input in the configurations' order."""
    group_of = {j: g for g, idx in enumerate(groups) for j in idx}
    out = []
    for i in range(n_inputs):
        for j in range(len(configs)):
            g = group_of[j]
            if (i, g) in done:
                out.append(done[(i, g)][groups[g].index(j)])
    return out


def replay_on_cluster(address: str, inputs: list[list[str]], configs: list[RunConfig], impl: str,
                      *, connect_timeout: float = CONNECT_TIMEOUT, progress=None, warn=None,
                      threads: int = 1, sizes_only: bool = False) -> list[RunResult]:
    """Every configuration over every input, on the workers of the Dask scheduler at
    `address`: for each input in order (a list of files replayed as one input, their
    concatenation), the runs of `configs` in order, as one flat list, field for
    field what `stream.replay_paths(paths, configs, impl)` gives input by input.

    `threads` and `sizes_only` are `replay_paths`'s, for every task.
    `progress(n)` hears the pages each task did (swap-out and read-back) as it ends;
    `warn(line)` each note a worker gave (a file that is not whole pages), once.
    ClusterError: the cluster cannot serve (`WorkerSourceError`: a worker cannot read
    an input).  An interrupt: `stream.Stopped` with the runs of the tasks done."""
    from zswap_spec.pool import requested_impl

    configs = list(configs)
    if not inputs or not configs:
        return []
    inputs = [[os.path.abspath(os.fspath(p)) for p in paths] for paths in inputs]
    for paths in inputs:
        if not paths:
            raise ValueError("an input with no file: give each input one or more paths")
    impl = requested_impl(impl)  # this machine's choice (ZSWAP_SPEC_IMPL) holds on the workers
    groups = task_groups(configs)
    # Only what differs from replay_paths's defaults goes to the workers.
    options = {k: v for k, v in (("threads", threads), ("sizes_only", sizes_only))
               if v != {"threads": 1, "sizes_only": False}[k]}
    done: dict[tuple[int, int], list[RunResult]] = {}
    client = None
    futures: dict = {}
    flag = f"zswap-spec-replay-stop-{uuid.uuid4().hex}"
    said: set[str] = set()
    try:
        client = connect(address, connect_timeout)
        from distributed import as_completed

        token = uuid.uuid4().hex[:12]
        with quiet_dask():
            for i, paths in enumerate(inputs):
                for g, idx in enumerate(groups):
                    f = client.submit(_replay_task, paths, [configs[j] for j in idx], impl, flag,
                                      options, key=f"zswap-replay-{token}-{i}-{g}", pure=False,
                                      retries=RETRIES)
                    futures[f] = (i, g)
            for f in as_completed(list(futures), loop=client.loop):
                i, g = futures[f]
                try:
                    outcome = f.result()
                except Exception as e:  # noqa: BLE001 - sorted by failed_task
                    c = configs[groups[g][0]]
                    what = (f"the task replaying {', '.join(inputs[i])} with {c.compressor} "
                            f"(page size {c.page_size}, folios of {c.folio_pages})")
                    raise failed_task(address, e, what) from None
                if outcome[0] != "ok":
                    raise _task_error(*outcome[1:])
                results, notes = outcome[1], outcome[2]
                done[(i, g)] = results
                for line in notes:
                    if warn is not None and line not in said:
                        said.add(line)
                        warn(line)
                if progress is not None:
                    progress(sum(r.pages * (1 if getattr(r, "sizes_only", False) else 2)
                                 for r in results))
    except KeyboardInterrupt:
        if client is not None:
            stop_tasks(client, futures, flag)
        raise Stopped(_merge(done, len(inputs), configs, groups)) from None
    except BaseException:
        if client is not None:
            stop_tasks(client, futures, flag)
        raise
    finally:
        if client is not None:
            close(client)
    return _merge(done, len(inputs), configs, groups)

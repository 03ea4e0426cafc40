"""A long-lived guest that runs workload-script steps on a real kernel.

`GuestSession` boots a kernel once under qemu (TCG, one CPU) with an
initramfs whose /init mounts what zswap's counters need, swaps onto a 64 MiB
RAM disk, switches zswap on and execs the agent (`agent.c`).  The agent then
executes one command line at a time, sent over the guest's second serial
port (a unix socket on the host); the first serial port, the kernel console,
goes to a log file.  Every answer is a list of records ended by `end`,
parsed here into one dict:

    {"counter": {name: int}, "vmstat": {name: int},
     "memcg": {path: {name: int}}, "regions": {name: {"pages", "swapped",
     "resident", "bad", "layout"}}, "worker": {"queued", "ended"},
     "ret": int, "errors": [str]}

`reset(compressor)` returns the guest to a script's starting state (no
regions, no cgroup but the root, the default pool limits; its memcg figures
freshly flushed); `step(line)` runs one of `script.agent_line`'s commands,
or `flush` (memory.stat made exact at once, where `settle` waits 2.1 s).
A guest that dies, panics or does not answer within `command_timeout`
raises `GuestDied` (naming the command and the serial log) and the session
is closed; `start()` may then boot it again.  `boots` and `boot_seconds`
count every boot.

What the kernel (Debian's 7.3.4) was seen to do, for whoever compares it
with a model: memory.stat lags (a read folds in pending statistics only
past 64 updates, else the flush every 2 s does: hence `settle`/`flush`);
a root task's stores never charge the root's zswap, zswapped and
zswap_incomp (only its children's do), but its zswpout, zswpin and zswpwb
count there once any memory cgroup has existed (/init makes one); a task cannot enter a cgroup that
has children with the memory controller on (EBUSY, cgroup v2's rule
against internal processes), nor can a cgroup holding a task get one;
mTHP folios of every anonymous size, 2 MiB included, are obtained whole.
"""

from __future__ import annotations

import re
import select
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from zswap_spec.support.processes import dies_with_parent

from .guest import (_PANIC, GuestError, _busybox, _Cpio, _modname, _module_bytes, _tool,
                    needed_modules, static_program)
from .script import Corpus
from .tree import KernelError, KernelTree

__all__ = ["GuestSession", "GuestDied", "parse_records", "layout_sizes", "agent_program",
           "build_session_initramfs", "SWAP_MIB"]

SWAP_MIB = 64
_AGENT_SRC = Path(__file__).with_name("agent.c")
_APPLETS = ("sh", "mount", "mkdir", "rmdir", "insmod", "mkswap", "swapon", "cat", "echo",
            "rm", "sleep", "grep")
# The two records with key=value fields (the others are plain words).
_REGION = re.compile(r"region (\S+) pages=(\d+) swapped=(\d+) resident=(\d+) bad=(\d+) "
                     r"layout=(\S+)$")
_WORKER = re.compile(r"worker queued=(\d+) ended=(\d+)$")


class GuestDied(KernelError):
    """The guest panicked, hung or exited while running a command."""


def agent_program() -> Path:
    """The static agent, compiled once per source version into the cache."""
    return static_program(_AGENT_SRC)


# ---- the protocol -----------------------------------------------------------------

def layout_sizes(code: str) -> list[int]:
    """The folio sizes a region's layout code stands for: "3x4,4x1" -> [4, 4, 4, 1, ...].

    "-" is no folio; a code the agent had to cut short ends in "..." and is refused.
    """
    if code == "-":
        return []
    sizes: list[int] = []
    for run in code.split(","):
        m = re.fullmatch(r"(\d+)x(\d+)", run)
        if not m:
            raise ValueError(f"layout {code!r}: {run!r} is not COUNTxSIZE")
        sizes += [int(m.group(2))] * int(m.group(1))
    return sizes


def parse_records(lines: list[str]) -> dict:
    """One answer of the agent (the lines before `end`) as a dict (see the module doc).

    A line that is not a record of the protocol is kept in `errors`, so a
    protocol mistake shows up where the caller already looks.
    """
    rec: dict = {"counter": {}, "vmstat": {}, "memcg": {}, "regions": {}, "worker": {},
                 "ret": 0, "errors": []}
    for line in lines:
        kind, _, rest = line.partition(" ")
        words = rest.split()
        try:
            if kind in ("counter", "vmstat") and len(words) == 2:
                rec[kind][words[0]] = int(words[1])
            elif kind == "memcg" and len(words) == 3:
                rec["memcg"].setdefault(words[0], {})[words[1]] = int(words[2])
            elif kind == "region" and (m := _REGION.match(line)):
                rec["regions"][m.group(1)] = {
                    "pages": int(m.group(2)), "swapped": int(m.group(3)),
                    "resident": int(m.group(4)), "bad": int(m.group(5)), "layout": m.group(6)}
            elif kind == "worker" and (m := _WORKER.match(line)):
                rec["worker"] = {"queued": int(m.group(1)), "ended": int(m.group(2))}
            elif kind == "ret" and len(words) == 1:
                rec["ret"] = int(words[0])
            elif kind == "error":
                rec["errors"].append(rest)
            else:
                raise ValueError
        except ValueError:
            rec["errors"].append(f"unparsed record from the agent: {line!r}")
    return rec


# ---- the initramfs ------------------------------------------------------------------

def _init_script(modules: list[str], compressor: str, brd_args: str) -> str:
    """The guest's /init: every failure is printed as `ZSS error ...` and the
    host refuses a guest that printed one (see `GuestSession.start`)."""
    lines = [
        "#!/bin/sh",
        "# /init of the zswap-spec script guest, written by zswap_spec.kernel.session",
        "export PATH=/bin",
        'err() { echo "ZSS error $*"; }',
        "mount -t proc proc /proc || err mount proc",
        "mount -t sysfs sysfs /sys || err mount sysfs",
        "mount -t devtmpfs devtmpfs /dev || err mount devtmpfs",
        "mount -t debugfs debugfs /sys/kernel/debug || err mount debugfs",
        "mount -t tracefs tracefs /sys/kernel/tracing || err mount tracefs",
        "mount -t cgroup2 cgroup2 /sys/fs/cgroup || err mount cgroup2",
        # The first memory cgroup of a boot switches kernel-memory accounting
        # on for good (memcg_kmem_online), and with it the counting of a
        # root task's zswap events in the root's memory.stat: make one now,
        # so every script finds the kernel in the same state.
        "echo +memory > /sys/fs/cgroup/cgroup.subtree_control || err enable memory controller",
        "mkdir /sys/fs/cgroup/zss-boot && rmdir /sys/fs/cgroup/zss-boot || err kmem online",
    ]
    for name in modules:
        args = brd_args if name == "brd" else ""
        lines.append(f"insmod /lib/modules/{name}.ko{args} || err insmod {name}")
    lines += [
        "n=0; while [ ! -b /dev/ram0 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done",
        "mkswap /dev/ram0 >/dev/null || err mkswap /dev/ram0",
        "swapon /dev/ram0 || err swapon /dev/ram0",
        "echo never > /sys/kernel/mm/transparent_hugepage/enabled || err THP off",
        "P=/sys/module/zswap/parameters",
        f"echo {compressor} > $P/compressor || err zswap compressor {compressor}",
        "echo 20 > $P/max_pool_percent || err zswap max_pool_percent",
        "echo 90 > $P/accept_threshold_percent || err zswap accept_threshold_percent",
        "echo N > $P/shrinker_enabled || err zswap shrinker_enabled",
        "echo Y > $P/enabled || err zswap enabled",
        # The module files live in the initramfs's tmpfs, whose pages a
        # reclaim could swap; loaded, they are not needed any more.
        "rm -f /lib/modules/*.ko",
        "echo ZSS init-done",
        # The agent becomes PID 1: no shell is left whose memory could move.
        "exec /bin/agent /dev/ttyS1 /",
        "",
    ]
    return "\n".join(lines)


def build_session_initramfs(tree: KernelTree, *, corpus: Corpus, compressors: list[str],
                            workdir: Path) -> tuple[Path, str]:
    """Write workdir/initramfs.cpio.gz; return it and the kernel arguments it needs."""
    if not compressors:
        raise ValueError("compressors: name at least one (the pool starts with the first)")
    modules: list[Path] = []
    for c in compressors:  # every module of every compressor, each once, in load order
        modules += [m for m in needed_modules(tree, c) if m not in modules]
    names = [_modname(str(m)) for m in modules]
    append = ""
    brd_args = f" rd_nr=1 rd_size={SWAP_MIB * 1024}"
    if tree.built_in("CONFIG_BLK_DEV_RAM"):
        append, brd_args = f"brd.rd_nr=1 brd.rd_size={SWAP_MIB * 1024}", ""
    init = _init_script(names, compressors[0], brd_args)
    arc = _Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"):
        arc.dir(d)
    arc.add("dev/console", 0o020600, rdev=(5, 1))
    arc.file("bin/busybox", _busybox().read_bytes(), 0o755)
    for applet in _APPLETS:
        arc.symlink(f"bin/{applet}", "busybox")
    arc.file("bin/agent", agent_program().read_bytes(), 0o755)
    for name, path in zip(names, modules):
        arc.file(f"lib/modules/{name}.ko", _module_bytes(path))
    arc.file("corpus.bin", corpus.blob())
    arc.file("corpus.idx", corpus.index().encode())
    arc.file("init", init.encode(), 0o755)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "init.sh").write_text(init)  # for reading, not used by the guest
    out = workdir / "initramfs.cpio.gz"
    out.write_bytes(arc.finish())
    return out, append


# ---- the session ----------------------------------------------------------------------

def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


class GuestSession:
    """One booted guest running the agent; see the module docstring."""

    def __init__(self, tree: KernelTree, *, corpus: Corpus, compressors: list[str],
                 workdir: Path, memory_mib: int = 256, command_timeout: float = 60.0,
                 append: str = "", boot_timeout: float = 300.0):
        if memory_mib < 128:
            raise ValueError(f"memory_mib {memory_mib}: give at least 128 (the guest holds "
                             f"the corpus, regions of up to 32 MiB and its page tables)")
        self.tree, self.corpus, self.compressors = tree, corpus, list(compressors)
        self.workdir = Path(workdir)
        self.memory_mib, self.command_timeout = memory_mib, command_timeout
        self.append, self.boot_timeout = append, boot_timeout
        self.boots = 0
        self.boot_seconds = 0.0  # all boots of this session, added up
        self.last_boot_seconds = 0.0
        self.commands = 0
        self.release: str | None = None
        self.totalram_pages: int | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._tmp: str | None = None
        self._buf = b""
        self._finalizer = None
        self._err = None

    # -- life cycle --

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> "GuestSession":
        """Boot the guest and wait for the agent's `ready`."""
        if self.running:
            raise GuestError("the guest is running already; close() it first")
        qemu = _tool("qemu-system-x86_64", "qemu-system-x86")
        if not self.tree.image.is_file():
            raise KernelError(f"kernel {self.tree.name}: image {self.tree.image} not found")
        initrd, extra = build_session_initramfs(self.tree, corpus=self.corpus,
                                                compressors=self.compressors,
                                                workdir=self.workdir)
        self.boots += 1
        self.log_path = self.workdir / f"serial-{self.boots}.log"
        # A unix socket's path must be short: it lives in its own /tmp folder.
        self._tmp = tempfile.mkdtemp(prefix="zss-agent-")
        path = str(Path(self._tmp) / "agent.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        cmdline = " ".join(s for s in (
            "console=ttyS0 panic=-1 quiet loglevel=4 transparent_hugepage=never "
            "mitigations=off", extra, self.append) if s)
        cmd = [qemu, "-accel", "tcg", "-cpu", "max", "-m", str(self.memory_mib), "-smp", "1",
               "-nodefaults", "-display", "none", "-no-reboot",
               "-kernel", str(self.tree.image), "-initrd", str(initrd), "-append", cmdline,
               "-chardev", f"file,id=console,path={self.log_path}", "-serial", "chardev:console",
               "-chardev", f"socket,id=agent,path={path}", "-serial", "chardev:agent"]
        started = time.monotonic()
        self._err = open(self.workdir / f"qemu-{self.boots}.err", "wb")
        self._proc = subprocess.Popen(dies_with_parent(cmd), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL,
                                      stderr=self._err)
        self._finalizer = weakref.finalize(self, _kill, self._proc)
        try:
            listener.settimeout(1.0)
            while self._sock is None:
                try:
                    self._sock, _ = listener.accept()
                except socket.timeout:
                    if self._proc.poll() is not None or time.monotonic() - started > 60:
                        raise self._died("booting", "qemu never connected the agent's port")
        finally:
            listener.close()
        self._buf = b""
        try:
            line = self._read_line("booting", started + self.boot_timeout)
            m = re.fullmatch(r"ready (\S+) totalram=(\d+)", line)
            if not m:
                raise self._died("booting", f"the agent said {line!r}, not `ready`")
        finally:
            self.last_boot_seconds = time.monotonic() - started
            self.boot_seconds += self.last_boot_seconds
        self.release, self.totalram_pages = m.group(1), int(m.group(2))
        problems = [l.split("ZSS error ", 1)[1] for l in self._log().splitlines()
                    if "ZSS error " in l]
        if problems:
            self.close()
            raise GuestError(f"the guest's /init failed: {'; '.join(problems)} "
                             f"(serial log {self.log_path})")
        return self

    def close(self) -> None:
        """Ask the agent to power off; kill qemu if it has not gone within seconds."""
        proc, sock = self._proc, self._sock
        if proc is not None and proc.poll() is None and sock is not None:
            try:
                sock.sendall(b"quit\n")
                self._read_until_end("quit", time.monotonic() + 5)
            except (OSError, KernelError):
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if proc is not None:
            _kill(proc)
        if self._finalizer is not None:
            self._finalizer.detach()
        if sock is not None:
            sock.close()
        if self._err is not None:
            self._err.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._proc = self._sock = self._tmp = self._finalizer = self._err = None

    def __enter__(self) -> "GuestSession":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- commands --

    def reset(self, compressor: str) -> dict:
        """Back to a script's start: see agent.c's `reset`."""
        if compressor not in self.compressors:
            raise ValueError(f"compressor {compressor!r}: this guest loaded only "
                             f"{', '.join(self.compressors)}")
        return self.step(f"reset {compressor}")

    def step(self, line: str) -> dict:
        """Run one agent command (`script.agent_line`'s) and parse its answer."""
        if "\n" in line or not line.strip():
            raise ValueError(f"command {line!r}: give one non-empty line")
        if self._proc is None or self._sock is None:
            raise GuestError(f"no guest is running (command {line!r}); start() one first")
        if self._proc.poll() is not None:  # it died since the last command
            raise self._died(line, f"qemu had exited with status {self._proc.returncode}")
        self.commands += 1
        try:
            self._sock.sendall(line.encode() + b"\n")
        except OSError as e:
            raise self._died(line, f"the agent's port failed: {e}") from None
        return parse_records(self._read_until_end(line, time.monotonic() + self.command_timeout))

    # -- reading the agent's port --

    def _read_until_end(self, command: str, deadline: float) -> list[str]:
        lines = []
        while (line := self._read_line(command, deadline)) != "end":
            lines.append(line)
        return lines

    def _read_line(self, command: str, deadline: float) -> str:
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._died(command, f"no answer within {self.command_timeout:g} s"
                                 if command != "booting" else
                                 f"no `ready` within {self.boot_timeout:g} s")
            ready, _, _ = select.select([self._sock], [], [], min(left, 0.5))
            if not ready:
                if self._proc.poll() is not None:
                    raise self._died(command, f"qemu exited with status {self._proc.returncode}")
                continue
            try:
                data = self._sock.recv(65536)
            except OSError as e:
                raise self._died(command, f"the agent's port failed: {e}") from None
            if not data:
                raise self._died(command, "the agent's port closed")
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def _log(self) -> str:
        try:
            return self.log_path.read_bytes().decode(errors="replace").replace("\r", "")
        except (OSError, AttributeError):
            return ""

    def _died(self, command: str, why: str) -> GuestDied:
        """Close the session and describe its death (raised by the caller)."""
        log_path = self.log_path
        if self._proc is not None and self._proc.poll() is None and "no answer" in why:
            time.sleep(0.5)  # let a dying kernel finish printing
        self._sock_close_kill()
        text = self._log()
        m = _PANIC.search(text)
        panic = ""
        if m:
            line = text[text.rfind("\n", 0, m.start()) + 1:].split("\n", 1)[0].strip()
            panic = f"; the kernel printed: {line[:200]}"
        return GuestDied(f"guest died running `{command}`: {why}{panic} (serial log "
                         f"{log_path})")

    def _sock_close_kill(self) -> None:
        if self._proc is not None:
            _kill(self._proc)
        self.close()

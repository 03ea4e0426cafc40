"""The guest: an initramfs that drives real zswap, and the qemu run that boots it.

`build_initramfs` packs a static busybox, the kernel modules zswap needs, the
page file, the plan and a small static C program (`probe.c`) into a gzip'd
newc cpio; its /init swaps onto a RAM disk, switches zswap on at run time and
runs the program, which pages out each group with `MADV_PAGEOUT`, confirms
through /proc/self/pagemap that it left memory, reads everything back and
prints the zswap counters (debugfs, memcg, vmstat) as `ZSS ...` lines on the
serial console. `boot` runs it under qemu and keeps the serial log.

What this rests on (observed with Debian's 6.1 and 7.3 kernels, see the
project's shared notes `kernel/real-kernels.md`): the kernels boot under
qemu's software emulation; KVM is present but a nested guest hangs, so TCG
is used, and a boot takes about 7-13 s. Debian 7.x ships modules as
`.ko.xz` without a `modules.dep`, so depmod is run into a cache and the
modules are unpacked for busybox's `insmod` (signatures are not enforced).
The boot-time pool uses lzo, so the compressor is written after the modules
are loaded, then `enabled=Y`. Writeback and a pool limit are per cgroup on
7.x (`memory.zswap.writeback`, `memory.zswap.max`), so the program runs in a
child cgroup. Zero-filled pages never reach zswap on 7.x (the swap layer
records them itself).

The global pool limit (`max_pool_percent`, `accept_threshold_percent`) is
written with the other module parameters; its shrink worker runs on a
workqueue, so /init mounts tracefs and the probe waits, after each
MADV_PAGEOUT call, until every queued run of it has ended (probe.c says how).
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from zswap_spec.support.cache import cache_dir
from zswap_spec.support.processes import dies_with_parent
from .tree import KernelError, KernelTree

__all__ = [
    "BootResult",
    "COMPRESSORS",
    "GuestError",
    "boot",
    "build_initramfs",
    "needed_modules",
]


_BUILD_LOCK = threading.RLock()


class GuestError(KernelError):
    """The host cannot build or boot the guest: a tool is missing or failed."""


# zswap compressor name -> (config option, module name as depmod knows it).
# lzo-rle lives in crypto/lzo-rle.c, built under CONFIG_CRYPTO_LZO.
COMPRESSORS: dict[str, tuple[str, str]] = {
    "lz4": ("CONFIG_CRYPTO_LZ4", "lz4"),
    "lz4hc": ("CONFIG_CRYPTO_LZ4HC", "lz4hc"),
    "zstd": ("CONFIG_CRYPTO_ZSTD", "zstd"),
    "deflate": ("CONFIG_CRYPTO_DEFLATE", "deflate"),
    "lzo": ("CONFIG_CRYPTO_LZO", "lzo"),
    "lzo-rle": ("CONFIG_CRYPTO_LZO", "lzo_rle"),
    "842": ("CONFIG_CRYPTO_842", "842"),
}
# 6.1's zpool choice: zswap's `zpool` parameter -> config option (gone in 7.x).
_ZPOOLS = {"zsmalloc": "CONFIG_ZSMALLOC", "zbud": "CONFIG_ZBUD", "z3fold": "CONFIG_Z3FOLD"}

_APPLETS = ("sh", "mount", "mkdir", "insmod", "mkswap", "swapon", "cat", "echo",
            "grep", "uname", "poweroff", "reboot", "sleep", "ls")
_PROBE_SRC = Path(__file__).with_name("probe.c")
_PROBE_FLAGS = ("-static", "-O2")
_PANIC = re.compile(r"Kernel panic|\bOops\b|\bBUG: |general protection fault")


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise GuestError(f"`{name}` not found: install the Debian package {package}")
    return path


# ---- modules -----------------------------------------------------------------

def _modname(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", base).replace("-", "_")


def _modules_dep(tree: KernelTree) -> tuple[Path, dict[str, list[str]]]:
    """The kernel's modules dir and its modules.dep (path -> dependency paths)."""
    with _BUILD_LOCK:
        return _modules_dep_locked(tree)


def _modules_dep_locked(tree: KernelTree) -> tuple[Path, dict[str, list[str]]]:
    """(As `_modules_dep`, under the lock.)

    Unpacked Debian 7.x trees have no modules.dep; depmod writes one into a
    cache folder whose module directories are symlinks to the tree's.
    """
    mdir = tree.modules_dir
    if mdir is None:
        raise KernelError(f"kernel {tree.name}: no lib/modules/{tree.release} folder "
                          f"to take modules from; unpack its modules package beside it")
    dep = mdir / "modules.dep"
    if not dep.is_file():
        key = hashlib.sha256(str(mdir.resolve()).encode()).hexdigest()[:12]
        base = cache_dir() / "depmod" / f"{tree.release}-{key}"
        dep = base / "lib" / "modules" / tree.release / "modules.dep"
        if not dep.is_file():
            _run_depmod(mdir, base, tree.release)
    table: dict[str, list[str]] = {}
    for line in dep.read_text().splitlines():
        if ":" in line:
            mod, deps = line.split(":", 1)
            table[mod.strip()] = deps.split()
    return mdir, table


def _run_depmod(mdir: Path, base: Path, release: str) -> None:
    depmod = _tool("depmod", "kmod")
    base.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=base.name + ".", dir=base.parent))
    out = tmp / "lib" / "modules" / release
    out.mkdir(parents=True)
    for entry in mdir.iterdir():
        if entry.is_dir() and entry.name not in ("build", "source"):
            (out / entry.name).symlink_to(entry.resolve())
        elif entry.name.startswith("modules.order") or entry.name.startswith("modules.builtin"):
            shutil.copy(entry, out / entry.name)
    proc = subprocess.run([depmod, "-b", str(tmp), release], capture_output=True, text=True)
    if proc.returncode != 0 or not (out / "modules.dep").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise GuestError(f"depmod for {release} failed: {proc.stderr.strip()}")
    try:
        tmp.rename(base)
    except OSError:  # another run got there first; its result is as good
        shutil.rmtree(tmp, ignore_errors=True)


def _require(tree: KernelTree, option: str, what: str) -> None:
    if not tree.config:
        raise KernelError(f"kernel {tree.name}: no configuration found, so cannot tell "
                          f"whether it has {what}; put its config file beside the image")
    if not tree.available(option):
        raise KernelError(f"kernel {tree.name} ({tree.release}) lacks {what}: {option} is "
                          f"not set; use a kernel built with {option}=y or =m")


def needed_modules(tree: KernelTree, compressor: str, *, zpool: str | None = None) -> list[Path]:
    """Module files (with dependencies, in load order) the guest must insmod.

    `brd` and the compressor's crypto module, unless built in; on kernels
    with a zpool choice (6.1), also the `zpool` allocator when asked for.
    """
    if compressor not in COMPRESSORS:
        raise ValueError(f"compressor {compressor!r}: choose one of {', '.join(COMPRESSORS)}")
    _require(tree, "CONFIG_ZSWAP", "zswap")
    _require(tree, "CONFIG_DEBUG_FS", "debugfs (zswap's counters live there)")
    _require(tree, "CONFIG_MEMCG", "the memory controller (per-cgroup zswap counters)")
    _require(tree, "CONFIG_BLK_DEV_RAM", "the RAM disk driver brd (the swap device)")
    option, crypto = COMPRESSORS[compressor]
    _require(tree, option, f"the {compressor} compressor")
    wanted = [("brd", "CONFIG_BLK_DEV_RAM", "drivers/block/"), (crypto, option, "crypto/")]
    if zpool is not None:
        if zpool not in _ZPOOLS:
            raise ValueError(f"zpool {zpool!r}: choose one of {', '.join(_ZPOOLS)}")
        _require(tree, _ZPOOLS[zpool], f"the {zpool} allocator")
        wanted.append((zpool, _ZPOOLS[zpool], "mm/"))
    wanted = [w for w in wanted if not tree.built_in(w[1])]
    if not wanted:
        return []
    mdir, table = _modules_dep(tree)
    order: list[str] = []

    def visit(rel: str) -> None:
        if rel in order:
            return
        for dep in table.get(rel, []):
            visit(dep)
        order.append(rel)

    for name, option, hint in wanted:
        hits = [rel for rel in table if _modname(rel) == name]
        hits.sort(key=lambda rel: hint not in rel)  # crypto/lz4 before anything else
        if not hits:
            raise KernelError(f"kernel {tree.name}: {option}=m but no {name}.ko in "
                              f"{mdir}; unpack the kernel's modules package there")
        visit(hits[0])
    files = [mdir / rel for rel in order]
    for f in files:
        if not f.is_file():
            raise KernelError(f"kernel {tree.name}: module file {f} is missing; "
                              f"unpack the kernel's modules package again")
    return files


def _module_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(raw)
    if path.name.endswith(".gz"):
        return gzip.decompress(raw)
    if path.name.endswith(".zst"):
        import zstandard  # a project dependency; only Debian >= 13 style trees need it
        return zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    return raw


# ---- host tools ----------------------------------------------------------------

def _is_static(path: Path) -> bool:
    """An ELF file with no PT_INTERP program header (no dynamic loader)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return all(struct.unpack_from("<I", data, phoff + i * phentsize)[0] != 3
               for i in range(phnum))


def _busybox() -> Path:
    path = Path("/bin/busybox")
    if not path.is_file() or not _is_static(path):
        raise GuestError("a static /bin/busybox is needed in the guest: install the "
                         "Debian package busybox-static")
    return path


def _probe() -> Path:
    """The static probe, compiled once per source version into the cache."""
    return static_program(_PROBE_SRC)


def static_program(src: Path) -> Path:
    """A static guest program built from `src`, compiled once per version of its
    sources (it and the files beside it that it `#include`s) into the cache."""
    with _BUILD_LOCK:  # guests of one run are prepared in parallel threads
        return _static_program_locked(src)


def _static_program_locked(src_path: Path) -> Path:
    src = src_path.read_bytes()
    for name in re.findall(rb'^#include "([^"/]+)"', src, re.M):
        src += (src_path.parent / name.decode()).read_bytes()
    key = hashlib.sha256(src + " ".join(_PROBE_FLAGS).encode()).hexdigest()[:16]
    out = cache_dir() / "probe" / f"{src_path.stem}-{key}"
    if out.is_file():
        return out
    gcc = _tool("gcc", "gcc (and libc6-dev for the static C library)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    proc = subprocess.run([gcc, *_PROBE_FLAGS, "-o", str(tmp), str(src_path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise GuestError(f"compiling {src_path.name} failed (is libc6-dev installed?):\n"
                         f"{proc.stderr.strip()}")
    tmp.replace(out)
    return out


# ---- the initramfs ---------------------------------------------------------------

class _Cpio:
    """A newc ("070701") archive, written here so no cpio tool is needed."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.ino = 0

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        self.ino += 1
        nlink = 2 if mode & 0o170000 == 0o040000 else 1
        fields = (self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, *rdev, len(name) + 1, 0)
        self.buf += b"070701" + b"".join(b"%08X" % f for f in fields)
        self.buf += name.encode() + b"\0"
        self.buf += b"\0" * (-len(self.buf) % 4)
        self.buf += data
        self.buf += b"\0" * (-len(self.buf) % 4)

    def dir(self, name: str) -> None:
        self.add(name, 0o040755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self.add(name, 0o100000 | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self.add(name, 0o120777, target.encode())

    def finish(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return gzip.compress(bytes(self.buf), compresslevel=6, mtime=0)


def _init_script(*, modules: list[str], brd_kib: int | None, compressor: str,
                 zpool: str | None, writeback: bool, zswap_max: int | None,
                 page_size: int, settle_ms: int, max_pool_percent: int | None = None,
                 accept_threshold: int | None = None, per_folio: bool = False) -> str:
    """The guest's /init. Every step that fails says so and the run goes on."""
    brd_args = f" rd_nr=1 rd_size={brd_kib}" if brd_kib is not None else ""
    lines = [
        "#!/bin/sh",
        "# /init of the zswap-spec guest, written by zswap_spec.kernel.guest",
        "export PATH=/bin",
        'say() { echo "ZSS $*"; }',
        'err() { echo "ZSS error $*"; }',
        'say begin "$(uname -r)"',
        "mount -t proc proc /proc || err mount proc",
        "mount -t sysfs sysfs /sys || err mount sysfs",
        "mount -t devtmpfs devtmpfs /dev || err mount devtmpfs",
        "mount -t debugfs debugfs /sys/kernel/debug || err mount debugfs",
        # The probe watches the pool shrink worker through workqueue events.
        "grep -qw tracefs /proc/filesystems && "
        "{ mount -t tracefs tracefs /sys/kernel/tracing || err mount tracefs; }",
        "CG=",
        "if grep -qw cgroup2 /proc/filesystems; then",
        "  mount -t cgroup2 cgroup2 /sys/fs/cgroup && CG=/sys/fs/cgroup/zss || err mount cgroup2",
        "fi",
    ]
    for name in modules:
        args = brd_args if name == "brd" else ""
        lines.append(f"insmod /lib/modules/{name}.ko{args} || err insmod {name}")
    lines += [
        # devtmpfs makes the node as brd registers it; wait a little to be safe.
        "n=0; while [ ! -b /dev/ram0 ] && [ $n -lt 20 ]; do sleep 0.1; n=$((n+1)); done",
        "mkswap /dev/ram0 >/dev/null || err mkswap /dev/ram0",
        "swapon /dev/ram0 || err swapon /dev/ram0",
        "T=/sys/kernel/mm/transparent_hugepage/enabled",
        "[ -e $T ] && { echo never > $T || err THP off; }",
        "P=/sys/module/zswap/parameters",
        'setp() { if [ -e $P/$1 ]; then echo $2 > $P/$1 || err set zswap $1=$2; '
        'else err no zswap parameter $1; fi; }',
        f"setp compressor {compressor}",
    ]
    if zpool is not None:
        lines.append(f"setp zpool {zpool}")
    # The global pool limit: its shrink worker is the only writeback besides
    # memory.zswap.max (the memory-pressure shrinker stays off, below).
    if max_pool_percent is not None:
        lines.append(f"setp max_pool_percent {max_pool_percent}")
    if accept_threshold is not None:
        lines.append(f"setp accept_threshold_percent {accept_threshold}")
    lines += [
        # Only the test decides writeback: no shrinker (absent before 6.8).
        "[ -e $P/shrinker_enabled ] && setp shrinker_enabled N",
        "setp enabled Y",
        'for f in $P/*; do say param "${f##*/}" "$(cat $f)"; done',
        f'[ "$(cat $P/compressor)" = {compressor} ] || err compressor is "$(cat $P/compressor)"',
        'if [ -n "$CG" ]; then',
        "  echo +memory > /sys/fs/cgroup/cgroup.subtree_control || err enable memory controller",
        "  mkdir -p $CG || err mkdir $CG",
        "  setcg() { if [ -e $CG/$1 ]; then echo $2 > $CG/$1 || err set $1=$2; "
        "else err no cgroup file $1; fi; say cgroup $1 \"$(cat $CG/$1 2>/dev/null)\"; }",
    ]
    if not writeback:
        lines.append("  setcg memory.zswap.writeback 0")
    else:  # kernels before 6.8 always write back; only say so if they can
        lines.append("  [ -e $CG/memory.zswap.writeback ] && setcg memory.zswap.writeback 1")
    if zswap_max is not None:
        lines.append(f"  setcg memory.zswap.max {zswap_max}")
    lines += [
        "  ENTER='echo $$ > '$CG'/cgroup.procs || echo ZSS error cannot enter cgroup;'",
        "else",
    ]
    if not writeback or zswap_max is not None:
        lines.append("  err no cgroup2: cannot set writeback or zswap.max")
    lines += [
        "  ENTER=",
        "fi",
        f"export ZSS_SETTLE_MS={settle_ms}",
        f"export ZSS_PER_FOLIO={int(per_folio)}",
        "sh -c \"$ENTER /bin/probe --counters setup ZSS\"",
        # Fault injection for the harness's own tests: `zss.hang` on the
        # kernel command line makes the guest hang after the setup stage.
        "grep -qw zss.hang /proc/cmdline && { say hanging; while :; do sleep 3600; done; }",
        f"sh -c \"$ENTER exec /bin/probe /pages {page_size} /plan ZSS\"",
        "rc=$?",
        '[ $rc = 0 ] || err probe exited with status $rc',
        "say end",
        # A kernel without ACPI (a tinyconfig build) cannot power the machine
        # off: asked to, it halts, and qemu would wait for ever.  It reboots
        # instead, which ends qemu (-no-reboot); one whose power-off fails
        # falls through to the same.
        "[ -d /sys/firmware/acpi ] && poweroff -f",
        "reboot -f",
        "",
    ]
    return "\n".join(lines)


def _check_plan(pages: bytes, groups: list[tuple[str, int, int]], page_size: int) -> None:
    if page_size <= 0 or len(pages) % page_size or not pages:
        raise ValueError(f"pages: {len(pages)} bytes is not a whole, non-zero number of "
                         f"{page_size}-byte pages")
    npages = len(pages) // page_size
    for name, first, count in groups:
        if not re.fullmatch(r"[A-Za-z0-9_.+-]{1,60}", name):
            raise ValueError(f"group name {name!r}: use 1-60 letters, digits or _.+-")
        if first < 0 or count < 0 or first + count > npages:
            raise ValueError(f"group {name}: pages {first}..{first + count - 1} are outside "
                             f"the {npages} pages given")


def build_initramfs(tree: KernelTree, *, compressor: str, pages: bytes,
                    groups: list[tuple[str, int, int]], writeback: bool,
                    zswap_max: int | None, page_size: int, workdir: Path,
                    zpool: str | None = None, settle_ms: int = 0,
                    max_pool_percent: int | None = None, accept_threshold: int | None = None,
                    per_folio: bool = False) -> Path:
    """Write workdir/initramfs.cpio.gz for one run; return its path.

    `groups` are (name, first page, page count) in the order they are paged
    out. `zswap_max` (bytes) becomes the cgroup's memory.zswap.max.
    `settle_ms`: the probe also waits this long before each counter dump
    (memcg's periodic flush runs every 2 s); not needed, since every dump
    first makes the memcg statistics flush on read (probe.c).
    `max_pool_percent`, `accept_threshold`: zswap's module parameters
    `max_pool_percent` and `accept_threshold_percent` (None: the kernel's
    default). `per_folio`: page out one folio per MADV_PAGEOUT call and let
    the pool shrink worker finish after each (the probe waits after every
    call in any case).
    """
    _check_plan(pages, groups, page_size)
    if zswap_max is not None and zswap_max < 0:
        raise ValueError(f"zswap_max {zswap_max}: give a byte count >= 0, or None")
    if max_pool_percent is not None and not 1 <= max_pool_percent <= 100:
        raise ValueError(f"max_pool_percent {max_pool_percent}: give 1..100, or None")
    if accept_threshold is not None and not 0 <= accept_threshold <= 100:
        raise ValueError(f"accept_threshold {accept_threshold}: give 0..100, or None")
    modules = needed_modules(tree, compressor, zpool=zpool)
    # Swap room: every page twice over plus slack, at least 64 MiB (brd only
    # allocates what is written, and zswap keeps most writes from it).
    brd_kib = max(65536, 2 * len(pages) // 1024 + 8192)
    if tree.built_in("CONFIG_BLK_DEV_RAM"):
        # Built in, brd makes its disks at boot from the config (no insmod to
        # give rd_nr and rd_size to): /dev/ram0 must exist and be big enough.
        size = int(tree.option("CONFIG_BLK_DEV_RAM_SIZE") or 0)
        count = int(tree.option("CONFIG_BLK_DEV_RAM_COUNT") or 0)
        if count < 1 or size * 1024 < 2 * len(pages):
            raise KernelError(f"kernel {tree.name}: brd is built in with {count} RAM disk(s) "
                              f"of {size} KiB, too few or too small for {len(pages)} bytes of "
                              f"pages (twice that is needed); build it with "
                              f"CONFIG_BLK_DEV_RAM_COUNT=1 and CONFIG_BLK_DEV_RAM_SIZE="
                              f"{max(65536, 2 * len(pages) // 1024 + 8192)} or more, or brd "
                              f"as a module")
        brd_kib = None
    names = [_modname(str(m)) for m in modules]
    init = _init_script(modules=names, brd_kib=brd_kib, compressor=compressor, zpool=zpool,
                        writeback=writeback, zswap_max=zswap_max, page_size=page_size,
                        settle_ms=settle_ms, max_pool_percent=max_pool_percent,
                        accept_threshold=accept_threshold, per_folio=per_folio)

    arc = _Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"):
        arc.dir(d)
    arc.add("dev/console", 0o020600, rdev=(5, 1))  # init's stdio before devtmpfs
    arc.file("bin/busybox", _busybox().read_bytes(), 0o755)
    for applet in _APPLETS:
        arc.symlink(f"bin/{applet}", "busybox")
    arc.file("bin/probe", _probe().read_bytes(), 0o755)
    for name, path in zip(names, modules):
        arc.file(f"lib/modules/{name}.ko", _module_bytes(path))
    arc.file("pages", pages)
    arc.file("plan", "".join(f"{n} {f} {c}\n" for n, f, c in groups).encode())
    arc.file("init", init.encode(), 0o755)

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "init.sh").write_text(init)  # for reading, not used by the guest
    out = workdir / "initramfs.cpio.gz"
    out.write_bytes(arc.finish())
    return out


# ---- booting -------------------------------------------------------------------

@dataclass(frozen=True)
class BootResult:
    """One qemu run: the serial log and how it ended."""

    log: str
    timed_out: bool
    returncode: int | None  # None when killed at the timeout
    seconds: float
    panicked: bool  # a kernel panic, Oops or BUG was printed

    @property
    def zss_lines(self) -> list[str]:
        """The guest's records, `ZSS` stripped (kernel text around them dropped)."""
        return [line[line.index("ZSS ") + 4:].strip()
                for line in self.log.splitlines() if "ZSS " in line]

    @property
    def completed(self) -> bool:
        return not self.timed_out and not self.panicked and "end" in self.zss_lines


# The guests booting now (one per thread of kernel-check), so an interrupt can
# end them at once rather than wait for each boot's timeout.
_RUNNING: set = set()
_RUNNING_LOCK = threading.Lock()


def kill_guests() -> None:
    """Kill every guest `boot` is running now (their boots then end as failed)."""
    with _RUNNING_LOCK:
        procs = list(_RUNNING)
    for proc in procs:
        try:
            proc.kill()
        except OSError:
            pass


def boot(tree: KernelTree, initrd: Path, *, timeout: float, log_path: Path,
         memory_mib: int = 1024, append: str = "") -> BootResult:
    """Boot `tree` with `initrd` under qemu (TCG), logging serial output as it comes."""
    qemu = _tool("qemu-system-x86_64", "qemu-system-x86")
    if not tree.image.is_file():
        raise KernelError(f"kernel {tree.name}: image {tree.image} not found")
    cmdline = ("console=ttyS0 panic=-1 quiet loglevel=4 transparent_hugepage=never "
               f"mitigations=off {append}").strip()
    cmd = [qemu, "-accel", "tcg", "-cpu", "max", "-m", str(memory_mib), "-smp", "1",
           "-nographic", "-no-reboot", "-net", "none",
           "-kernel", str(tree.image), "-initrd", str(initrd), "-append", cmdline]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    timed_out = False
    # qemu writes straight into the file, so a hung guest's output is kept.
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(dies_with_parent(cmd), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
        with _RUNNING_LOCK:
            _RUNNING.add(proc)
        try:
            returncode: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            timed_out, returncode = True, None
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(proc)
    seconds = time.monotonic() - start
    text = log_path.read_bytes().decode(errors="replace").replace("\r", "")
    return BootResult(log=text, timed_out=timed_out, returncode=returncode,
                      seconds=seconds, panicked=bool(_PANIC.search(text)))

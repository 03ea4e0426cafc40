"""Building a Linux kernel from source, with patches, into the cache, so that
`kernel-check --kernel built:KEY` can boot it.

`build_kernel` takes a source (`debian:SERIES`, a tarball or a tree; see
`build_source`), patch files applied in order, and a config: `minimal`
(`make tinyconfig`, then the options of `kernel/minimal.config`, each of
which is checked to have taken its value) or a full .config file.  It
builds out of tree with `make O=...` in a temporary folder beside the
entry and renames the finished entry into place, so an interrupt or a
failure leaves nothing that looks built.  The entry is `builds/KEY` of the
cache: `bzImage`, the final `config`, `build.json`, `build.log`, and
`root/lib/modules/RELEASE` when the config builds modules.  KEY hashes the
source's identity, every patch's bytes in order, the config's text and the
fragment's, so the same inputs find the same entry.  Each patch is read
once: the build applies a copy of the bytes it hashed, so a patch edited
during the build cannot leave an entry whose key says otherwise.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from zswap_spec.support.processes import dies_with_parent
from .build_source import (KernelBuildError, apply_patches, patched_files, read_patch,
                           resolve_source, working_copy)
from .built import (COMPRESSOR_SOURCE, BuiltKernel, builds_dir, duration_text, list_builds,
                    load_build, resolve_built)
from .kcomp_extract import extract
from .kcomp_extract import wanted as kcomp_wanted
from .tree import read_config

__all__ = ["BuiltKernel", "KernelBuildError", "MINIMAL", "FRAGMENT", "build_kernel",
           "resolve_built", "list_builds", "fragment_options", "duration_text"]

MINIMAL = "minimal"
FRAGMENT = Path(__file__).with_name("minimal.config")
ARCH = "x86_64"
_FORMAT = 1  # bumped when the layout of an entry changes, so old entries are not reused


def fragment_options(text: str) -> dict[str, str | None]:
    """`CONFIG_X=value` and `# CONFIG_X is not set` lines: name -> value (None: unset)."""
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        m = re.match(r"^(CONFIG_\w+)=(.*)$", line) or re.match(r"^# (CONFIG_\w+) is not set$", line)
        if m:
            out[m.group(1)] = m.group(2).strip('"') if m.lastindex == 2 else None
    return out


# ---- what the build needs ------------------------------------------------------------------

_TOOLS = (("make", "make"), ("gcc", "gcc"), ("flex", "flex"), ("bison", "bison"), ("bc", "bc"),
          ("perl", "perl"), ("xz", "xz-utils"), ("tar", "tar"))


def _check_tools(config_text: str, patches: bool) -> None:
    """Every tool and header the build will want, named in one error."""
    missing = [pkg for tool, pkg in _TOOLS if shutil.which(tool) is None]
    if patches and shutil.which("patch") is None:
        missing.append("patch")
    if not Path("/usr/include/stdio.h").exists():
        missing.append("libc6-dev")
    if not Path("/usr/include/gelf.h").exists():  # objtool, on every x86_64 config
        missing.append("libelf-dev")
    if re.search(r"^CONFIG_(MODULE_SIG|SYSTEM_TRUSTED_KEYRING)=y", config_text, re.M) and \
            not Path("/usr/include/openssl/ssl.h").exists():
        missing.append("libssl-dev")
    if re.search(r"^CONFIG_IKHEADERS=[ym]", config_text, re.M) and shutil.which("cpio") is None:
        missing.append("cpio")
    if missing:
        raise KernelBuildError(f"building a kernel needs {', '.join(dict.fromkeys(missing))}: "
                               f"install the Debian package(s) (apt-get install "
                               f"{' '.join(dict.fromkeys(missing))})", "environment")


# ---- make ----------------------------------------------------------------------------------

class _MakeFailed(Exception):
    pass


_QUIET = re.compile(rb"^  ([A-Z0-9_]+)\s+(\S+)")


# How long an interrupt waits for make's group after each signal: the README's
# bound on how long an interrupted build takes to end is their sum.
_KILL_WAITS = ((signal.SIGTERM, 5), (signal.SIGKILL, 5))


def _kill_group(proc: subprocess.Popen) -> None:
    """make and every compiler it started: they share make's process group."""
    for sig, wait in _KILL_WAITS:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass


def _make(tree: Path, out: Path, args: list[str], log, on_line=None) -> None:
    """Run make on `tree` into `out`, its output into `log`; its own session, so
    it and its compilers can be killed as one group (and no terminal's Ctrl-C
    reaches them before this process decides)."""
    cmd = ["make", "-C", str(tree), f"O={out}", f"ARCH={ARCH}", *args]
    log.write(f"$ {' '.join(cmd)}\n".encode())
    log.flush()
    proc = subprocess.Popen(dies_with_parent(cmd), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        for line in proc.stdout:
            log.write(line)
            if on_line is not None:
                on_line(line)
        rc = proc.wait()
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        proc.stdout.close()
    if rc != 0:
        raise _MakeFailed(f"make {' '.join(args)} exited with status {rc}")


def first_error(log_text: str) -> str:
    """The line of a build log that says what went wrong first."""
    lines = log_text.splitlines()
    for pattern in (r"\berror:|undefined reference|fatal error", r"\*\*\*", r"\bError \d+"):
        for line in lines:
            if re.search(pattern, line):
                return line.strip()
    return (lines or ["(the log is empty)"])[-1].strip()


class _Counter:
    """Counts the objects make compiles (`CC` lines of its quiet output) and
    reports at most once a second."""

    def __init__(self, progress, expected: int | None, out: Path):
        self.progress, self.expected = progress, expected
        self.count, self.last = 0, 0.0
        self.prefix = str(out) + "/"  # host tools are named by their full path

    def __call__(self, line: bytes) -> None:
        m = _QUIET.match(line)
        if not m or m.group(1) != b"CC":
            return
        self.count += 1
        now = time.monotonic()
        if now - self.last >= 1:
            self.last = now
            of = f" of about {self.expected}" if self.expected else ""
            name = m.group(2).decode(errors="replace").removeprefix(self.prefix)
            self.progress(f"compiling: {self.count}{of} objects, {name}")


def _expected_objects(config_digest: str) -> int | None:
    """The object count of an earlier build with the same config, if any."""
    for b in list_builds():
        try:
            meta = json.loads((b.folder / "build.json").read_text())
        except (OSError, ValueError):
            continue
        if meta.get("config_sha256") == config_digest and meta.get("objects"):
            return meta["objects"]
    return None


# ---- the build -------------------------------------------------------------------------------

def _config_text(config: str) -> str:
    """The config's text as it enters the key: the fragment for `minimal`, else the file."""
    if config == MINIMAL:
        return FRAGMENT.read_text()
    path = Path(config).expanduser()
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        raise KernelBuildError(f"--config {config}: no such file; give minimal or a "
                               f".config file", "input") from None
    except OSError as e:
        raise KernelBuildError(f"--config {config}: cannot be read "
                               f"({e.strerror or e})", "input") from None
    if not re.search(r"^CONFIG_\w+=", text, re.M):
        raise KernelBuildError(f"--config {config}: holds no CONFIG_ option; give minimal "
                               f"or a kernel .config file", "input")
    return text


def _key(identity: str, digests: list[str], config: str, config_text: str) -> str:
    h = hashlib.sha256(json.dumps({"format": _FORMAT, "arch": ARCH, "source": identity,
                                   "patches": digests, "minimal": config == MINIMAL,
                                   "config": config_text}, sort_keys=True).encode())
    return h.hexdigest()[:12]


def _configure(tree: Path, out: Path, config: str, config_text: str, log) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    if config == MINIMAL:
        _make(tree, out, ["tinyconfig"], log)
        with open(out / ".config", "a") as f:
            f.write("\n" + config_text)
    else:
        (out / ".config").write_text(config_text)
    _make(tree, out, ["olddefconfig"], log)
    final = read_config(out / ".config")
    if config == MINIMAL:
        wrong = [f"{name}={want} (it is {'unset' if final.get(name) is None else final[name]})"
                 if want is not None else f"{name} unset (it is {final[name]})"
                 for name, want in fragment_options(config_text).items()
                 if final.get(name) != want]
        if wrong:
            raise KernelBuildError(f"the minimal config did not take in this source: "
                                   f"{', '.join(wrong)}; kconfig drops an option whose "
                                   f"dependencies are unmet (see {FRAGMENT}), or give "
                                   f"--config FILE", "input")
    return final


def build_kernel(source: str = "debian:7.3", patches=(), config: str = MINIMAL,
                 jobs: int | None = None, progress=None) -> BuiltKernel:
    """Build (or find in the cache) the kernel of `source` with `patches` applied
    in order and `config` ("minimal" or a .config file); see the module's text."""
    say = progress or (lambda msg: None)
    patches = [Path(p) for p in ([patches] if isinstance(patches, (str, Path)) else patches)]
    config = str(config)
    config_text = _config_text(config)
    texts = [read_patch(p) for p in patches]  # read once: hashed and applied as read
    digests = [hashlib.sha256(t).hexdigest() for t in texts]
    if jobs is not None and jobs < 1:
        raise KernelBuildError(f"--jobs {jobs}: give 1 or more", "input")
    src = resolve_source(source)
    key = _key(src.identity, digests, config, config_text)
    entry = builds_dir() / key
    if (entry / "build.json").is_file():
        return load_build(entry)
    _check_tools(config_text, bool(patches))
    with open(builds_dir() / f".lock-{key}", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another build of {key}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if (entry / "build.json").is_file():  # built by that other process
            return load_build(entry)
        for stale in builds_dir().glob(f".tmp-{key}-*"):  # left by a process killed outright
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=builds_dir()))
        try:
            return _build(src, patches, texts, digests, config, config_text, key, work,
                          jobs or os.cpu_count() or 1, say)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _copies(patches: list[Path], texts: list[bytes], folder: Path) -> list[Path]:
    """The bytes each patch had when it was hashed, written under `folder`
    with the patch's own name (which the messages use)."""
    out = []
    for n, (path, text) in enumerate(zip(patches, texts)):
        copy = folder / str(n) / path.name
        copy.parent.mkdir(parents=True)
        copy.write_bytes(text)
        out.append(copy)
    return out


def _build(src, patches, texts, digests, config, config_text, key, work, jobs,
           say) -> BuiltKernel:
    started = time.monotonic()
    stage = work / "entry"
    stage.mkdir()
    log_path = stage / "build.log"

    def phase(what: str, since: float) -> float:
        now = time.monotonic()
        say(f"{what} in {duration_text(now - since)}")
        return now

    t = time.monotonic()
    tree = working_copy(src, work / "src", say)
    t = phase("source ready", t)
    apply_patches(tree, _copies(patches, texts, work / "patches"), src.label, say)
    if patches:
        t = phase("patched", t)
    out = work / "out"
    counter = _Counter(say, _expected_objects(hashlib.sha256(config_text.encode()).hexdigest()),
                       out)
    with open(log_path, "wb") as log:
        try:
            say(f"configuring: {'tinyconfig + ' + FRAGMENT.name if config == MINIMAL else config}")
            final = _configure(tree, out, config, config_text, log)
            t = phase("configured", t)
            modules = final.get("CONFIG_MODULES") == "y"
            _make(tree, out, [f"-j{jobs}", "bzImage", *(["modules"] if modules else [])], log,
                  on_line=counter)
            t = phase(f"compiled {counter.count} objects", t)
            release = subprocess.run(["make", "-s", "-C", str(tree), f"O={out}", f"ARCH={ARCH}",
                                      "kernelrelease"], capture_output=True, text=True,
                                     stdin=subprocess.DEVNULL).stdout.strip().splitlines()
            release = release[-1] if release else ""
            if not re.fullmatch(r"\d+\.\d+\S*", release):
                raise _MakeFailed(f"make kernelrelease printed {release!r}, not a release")
            if modules:
                say("installing modules")
                _make(tree, out, [f"INSTALL_MOD_PATH={stage / 'root'}", "modules_install"], log)
                for link in ("build", "source"):  # they point into the working copy
                    (stage / "root" / "lib" / "modules" / release / link).unlink(missing_ok=True)
        except _MakeFailed as e:
            log.write(f"\n{e}\n".encode())
            log.close()
            failed = builds_dir() / f"failed-{key}"
            failed.mkdir(exist_ok=True)
            shutil.copy(log_path, failed / "build.log")
            raise KernelBuildError(f"the build of {src.label}"
                                   f"{f' with {len(patches)} patch file(s)' if patches else ''} "
                                   f"failed: {first_error(log_path.read_text(errors='replace'))} "
                                   f"(the log: {failed / 'build.log'})", "build") from None
    shutil.copy(out / "arch" / "x86" / "boot" / "bzImage", stage / "bzImage")
    shutil.copy(out / ".config", stage / "config")
    # The model compresses with the kernel's own compressor code (kernel/kcomp*): when the
    # patches change it, the entry keeps the patched files it is built from.
    touched = patched_files(texts)
    if any(kcomp_wanted(f) for f in touched):
        extract(tree, stage / COMPRESSOR_SOURCE)
    seconds = time.monotonic() - started
    meta = {"key": key, "source": src.label, "source_path": str(src.path),
            "source_identity": src.identity,
            "patches": [{"file": str(p), "sha256": d} for p, d in zip(patches, digests)],
            "patched_files": touched,
            "config": config, "config_sha256": hashlib.sha256(config_text.encode()).hexdigest(),
            "release": release, "seconds": round(seconds, 1), "objects": counter.count,
            "jobs": jobs, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "format": _FORMAT}
    (stage / "build.json").write_text(json.dumps(meta, indent=1) + "\n")
    entry = builds_dir() / key
    stage.rename(entry)
    shutil.rmtree(builds_dir() / f"failed-{key}", ignore_errors=True)
    say(f"built {release} in {duration_text(seconds)}")
    return load_build(entry, cached=False)

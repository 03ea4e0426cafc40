"""The source a kernel is built from: its identity, its pristine tree in the
cache, the working copy a build patches, and the patches themselves.

A tarball is unpacked once into `build-src/ID` of the cache (ID from its
sha256) and never written again; a folder given by the user is never
written either.  Each build works on a copy made of hard links (`cp -al`,
a few seconds for a whole kernel tree), and GNU patch writes every file it
changes as a new file renamed into place, which leaves the shared inode,
and so the pristine file, untouched (tests/kernel/test_kernel_build.py
checks it).

Patches are applied to that copy, not checked first with `patch --dry-run`:
GNU patch (2.7.6) checks every diff of a dry run against the unpatched
files, so a series whose later mails change lines its earlier mails added
fails a dry run it would pass for real.  The copy is thrown away when a
patch fails, so applying it is the exact and harmless trial.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zswap_spec.support.cache import cache_dir
from .tree import KernelError

__all__ = ["KernelBuildError", "Source", "resolve_source", "working_copy", "apply_patches",
           "patch_digest"]


class KernelBuildError(KernelError):
    """A kernel that cannot be built.  `kind` says whose it is to fix:
    "input" (a patch, a source, a config the user gave), "environment" (a tool
    missing on this machine) or "build" (make failed: the log says why)."""

    def __init__(self, message: str, kind: str = "build"):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Source:
    """Where a build's tree comes from: `label` as the user wrote it, `path` a
    tarball or a folder, `identity` a text that changes whenever its content does."""

    label: str
    path: Path
    identity: str

    @property
    def is_tarball(self) -> bool:
        return self.path.is_file()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _git(tree: Path, *args: str) -> bytes | None:
    try:
        p = subprocess.run(["git", "-C", str(tree), *args], capture_output=True)
    except OSError:
        return None
    return p.stdout if p.returncode == 0 else None


def _dir_identity(tree: Path) -> str:
    """A git tree: its HEAD, its uncommitted diff and its untracked files'
    content (exact, and quick).  Any other folder: its path, its number of
    files and folders and the newest modification time among them (an edit,
    an added, removed or renamed file each move one of them).  Not the change
    time: the hard links of each build's copy move it."""
    top = _git(tree, "rev-parse", "--show-toplevel")
    if top is not None and Path(top.decode().strip()).resolve() == tree:
        head = _git(tree, "rev-parse", "HEAD") or b""
        h = hashlib.sha256(head)
        h.update(_git(tree, "diff", "HEAD", "--binary") or b"")
        untracked = _git(tree, "ls-files", "-z", "--others", "--exclude-standard") or b""
        for name in sorted(n for n in untracked.split(b"\0") if n):
            f = tree / os.fsdecode(name)
            h.update(name + b"\0" + (_sha256(f).encode() if f.is_file() else b"-"))
        return f"git {head.decode().strip()} {h.hexdigest()[:16]}"
    count, newest = 0, 0
    for root, dirs, files in os.walk(tree):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            count += 1
            newest = max(newest, st.st_mtime_ns)
    return f"dir {tree} {count} {newest}"


def resolve_source(spec: str) -> Source:
    """`debian:SERIES`, a tarball or an unpacked kernel tree."""
    if spec.startswith("debian:"):
        series = spec.split(":", 1)[1]
        if not re.fullmatch(r"\d+\.\d+", series):
            raise KernelBuildError(f"--source {spec}: SERIES must look like 7.3 (Debian's "
                                   f"linux-source-SERIES package)", "input")
        from .fetch import fetch_debian_source

        try:
            tarball = fetch_debian_source(series)
        except KernelError as e:
            raise KernelBuildError(f"--source {spec}: {e}", "input") from None
        return Source(spec, tarball, f"tarball {_sha256(tarball)}")
    path = Path(spec).expanduser()
    if not path.exists():
        raise KernelBuildError(f"--source {spec}: no such file or folder; give debian:SERIES, "
                               f"a kernel tarball or an unpacked kernel tree", "input")
    path = path.resolve()
    if path.is_file():
        if not re.search(r"\.tar(\.(xz|gz|bz2|zst))?$|\.tgz$", path.name):
            raise KernelBuildError(f"--source {spec}: not a tarball (.tar, .tar.xz, .tar.gz, "
                                   f".tar.bz2, .tar.zst)", "input")
        return Source(spec, path, f"tarball {_sha256(path)}")
    _check_tree(path, spec)
    return Source(spec, path, _dir_identity(path))


def _check_tree(tree: Path, label: str) -> None:
    if not (tree / "Makefile").is_file() or not (tree / "arch" / "x86").is_dir():
        raise KernelBuildError(f"--source {label}: not a kernel source tree (no Makefile and "
                               f"arch/x86/ at its top)", "input")
    if (tree / ".config").exists() or (tree / "include" / "config").is_dir():
        raise KernelBuildError(f"--source {label}: has been configured or built in place "
                               f"(.config); builds go to a folder of their own, which needs a "
                               f"clean tree: run `make mrproper` there", "input")


def _pristine(source: Source, progress) -> Path:
    """The tarball's tree, unpacked once into the cache under a lock."""
    digest = source.identity.split()[-1][:16]
    base = cache_dir() / "build-src"
    dest = base / digest
    if (dest / "Makefile").is_file():
        return dest
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f".lock-{digest}", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (dest / "Makefile").is_file():  # unpacked by another process meanwhile
            return dest
        progress(f"unpacking {source.path.name} (once per source)")
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{digest}-", dir=base))
        try:
            p = subprocess.run(["tar", "-xf", str(source.path), "-C", str(work)],
                               capture_output=True, text=True)
            if p.returncode != 0:
                last = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
                raise KernelBuildError(f"--source {source.label}: cannot unpack "
                                       f"{source.path}: {last}", "input")
            entries = list(work.iterdir())
            top = entries[0] if len(entries) == 1 and entries[0].is_dir() else work
            _check_tree(top, source.label)
            if top == work:
                work.rename(dest)
            else:
                top.rename(dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return dest


def working_copy(source: Source, into: Path, progress) -> Path:
    """A copy of the source tree at `into` whose files are hard links to the
    pristine ones (a full copy where the two are on different file systems)."""
    tree = _pristine(source, progress) if source.is_tarball else source.path
    p = subprocess.run(["cp", "-al", str(tree), str(into)], capture_output=True, text=True)
    if p.returncode != 0:
        shutil.rmtree(into, ignore_errors=True)
        progress(f"copying {tree} (not on the cache's file system: a full copy)")
        p = subprocess.run(["cp", "-a", str(tree), str(into)], capture_output=True, text=True)
        if p.returncode != 0:
            raise KernelBuildError(f"cannot copy {tree}: {p.stderr.strip()}", "environment")
    return into


# ---- patches ------------------------------------------------------------------------

_DIFF_HEADER = re.compile(rb"^\+\+\+ (\S+)", re.M)


def patch_digest(path: Path) -> str:
    """The patch's sha256, after checking it can be read and holds a diff."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KernelBuildError(f"--patch {path}: no such file", "input") from None
    except IsADirectoryError:
        raise KernelBuildError(f"--patch {path}: is a folder; give a patch file "
                               f"(a diff or an mbox of patch mails)", "input") from None
    except OSError as e:
        raise KernelBuildError(f"--patch {path}: cannot be read ({e.strerror})", "input") from None
    if not re.search(rb"^--- \S.*\n\+\+\+ \S", data, re.M):
        raise KernelBuildError(f"--patch {path}: holds no diff (no '--- a/FILE' and "
                               f"'+++ b/FILE' lines); give a unified diff or an mbox of "
                               f"patch mails", "input")
    return hashlib.sha256(data).hexdigest()


def _diff_mails(data: bytes) -> list[str]:
    """For each file diff in the input, in order, the subject of the mail it is in."""
    out, subject = [], ""
    for line in data.splitlines():
        if line.startswith(b"Subject: "):
            subject = line[9:].decode(errors="replace").strip()
        elif line.startswith(b"+++ "):
            out.append(subject)
    return out


def apply_patches(tree: Path, patches: list[Path], label: str, progress) -> None:
    """Apply each patch file in order with GNU patch; the first that fails
    raises an input error naming the file, the hunk and the mail."""
    if patches and shutil.which("patch") is None:
        raise KernelBuildError("`patch` not found: install the Debian package patch",
                               "environment")
    for path in patches:
        p = subprocess.run(["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch",
                            "-d", str(tree), "-i", str(path.resolve())],
                           capture_output=True, text=True)
        files = re.findall(r"^patching file '?(.+?)'?$", p.stdout, re.M)
        if p.returncode == 0:
            progress(f"patched: {path.name} ({len(files)} file{'s' if len(files) != 1 else ''})")
            continue
        raise KernelBuildError(_patch_failure(path, p.stdout + p.stderr, label), "input")


def _patch_failure(path: Path, output: str, label: str) -> str:
    """One sentence from patch's output: which file, hunk and mail failed."""
    mails = _diff_mails(path.read_bytes())
    current, index = None, -1
    for line in output.splitlines():
        m = re.match(r"^patching file '?(.+?)'?$", line)
        if m:
            current, index = m.group(1), index + 1
            continue
        where = ""
        if 0 <= index < len(mails) and mails[index]:
            where = f" (in \"{mails[index]}\")"
        m = re.match(r"^Hunk #(\d+) FAILED at (\d+)", line)
        if m:
            return (f"{path.name}: hunk #{m.group(1)} of {current} does not apply (at line "
                    f"{m.group(2)}){where}; rebase it on {label}")
        if line.startswith("Reversed (or previously applied) patch detected"):
            return (f"{path.name}: {current} already has this change (or the diff is "
                    f"reversed){where}; drop it or rebase the patch on {label}")
        if line.startswith("can't find file to patch"):
            names = re.findall(r"^\|\+\+\+ b/(\S+)", output, re.M) or ["?"]
            return (f"{path.name}: {names[0]} is not in {label}; rebase the patch on it "
                    f"(paths are taken with -p1: a/FILE, b/FILE)")
        if "malformed patch" in line or "Only garbage" in line:
            return f"{path.name}: {line.removeprefix('patch: **** ')}"
    last = (output.strip().splitlines() or ["patch failed"])[-1]
    return f"{path.name}: does not apply to {label}: {last}"

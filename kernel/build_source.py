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
patch fails, so applying it is the exact and harmless trial.  An mbox is
split into its mails and each is given to patch on its own: patch says
"patching file" for diffs with no "+++" line too (git's renames, mode
changes), so counting diffs in its output cannot tell which mail failed.
Hunks apply with `--fuzz=0`, as `git am` applies them: shifted, never with
context that does not match.
"""

from __future__ import annotations

import email.header
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
           "read_patch", "patched_files"]


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
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _git(tree: Path, *args: str) -> bytes | None:
    try:
        p = subprocess.run(["git", "-C", str(tree), *args], capture_output=True)
    except OSError:
        return None
    return p.stdout if p.returncode == 0 else None


def _dir_identity(tree: Path) -> str:
    """A git tree: its HEAD, its uncommitted diff and its untracked files'
    content (exact, and quick).  Any other folder: its path and a hash of the
    path, size and modification time (in nanoseconds) of every file, folder
    and link in it, a link's target too, so that an edit, an added, removed or
    renamed file each change it, even a file whose time was set back.  Not
    the change time: the hard links of each build's copy move it."""
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
    h = hashlib.sha256()
    _hash_folder(h, os.fsencode(tree), b"")
    return f"dir {tree} {h.hexdigest()[:16]}"


def _hash_folder(h, top: bytes, rel: bytes) -> None:
    """Every entry under top/rel, in name order: its relative path, size and
    mtime_ns (and a link's target), depth first."""
    try:
        with os.scandir(os.path.join(top, rel) if rel else top) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        raise KernelBuildError(f"--source {os.fsdecode(top)}: cannot read "
                               f"{os.fsdecode(rel) or '.'} ({e.strerror})", "input") from None
    for e in entries:
        path = rel + b"/" + e.name if rel else e.name
        try:
            st = e.stat(follow_symlinks=False)
            link = os.readlink(e.path) if e.is_symlink() else b""
        except OSError:  # removed while being read
            continue
        h.update(b"%s\0%d %d %o %s\0" % (path, st.st_size, st.st_mtime_ns, st.st_mode, link))
        if e.is_dir(follow_symlinks=False):
            _hash_folder(h, top, path)


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
    stale = f".tmp-{digest}-*"  # an unpack killed outright leaves one
    if (dest / "Makefile").is_file() and not any(base.glob(stale)):
        return dest
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f".lock-{digest}", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for folder in base.glob(stale):  # no other unpack is under way: the lock is ours
            shutil.rmtree(folder, ignore_errors=True)
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

_HAS_DIFF = re.compile(rb"^(--- \S.*\n\+\+\+ \S|diff --git \S)", re.M)
# A mail of an mbox begins with a "From " line at the start of the file or after an
# empty line; the header line after it keeps a commit message's "From here on" out.
_MAIL_START = re.compile(rb"(?:\A|(?<=\n\n))From [^\n]*\n(?=[A-Za-z][\w-]*:[ \t])")


_TARGET = re.compile(rb"^(?:\+\+\+ ([^\t\n]+)|rename to ([^\n]+)|copy to ([^\n]+))$", re.M)


def patched_files(texts: list[bytes]) -> list[str]:
    """The files the patches write (new names of renames and copies included), as paths
    relative to the tree: what `patch -p1` makes of their headers."""
    out = set()
    for text in texts:
        for plus, renamed, copied in _TARGET.findall(text):
            if plus:
                name = plus.decode(errors="replace").strip()
                if name == "/dev/null" or "/" not in name:
                    continue
                out.add(name.split("/", 1)[1])
            else:
                out.add((renamed or copied).decode(errors="replace").strip())
    return sorted(out)


def read_patch(path: Path) -> bytes:
    """The patch file's bytes, after checking it can be read and holds a diff.
    The build hashes these bytes and applies these bytes (a copy of them), so
    an edit of the file meanwhile cannot change one and not the other."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KernelBuildError(f"--patch {path}: no such file", "input") from None
    except IsADirectoryError:
        raise KernelBuildError(f"--patch {path}: is a folder; give a patch file "
                               f"(a diff or an mbox of patch mails)", "input") from None
    except OSError as e:
        raise KernelBuildError(f"--patch {path}: cannot be read ({e.strerror})", "input") from None
    if not _HAS_DIFF.search(data):
        raise KernelBuildError(f"--patch {path}: holds no diff (no '--- a/FILE' and "
                               f"'+++ b/FILE' lines); give a unified diff or an mbox of "
                               f"patch mails", "input")
    return data


@dataclass(frozen=True)
class _Mail:
    """One mail of an mbox (a plain diff is one mail with no subject): its
    first line's number in the file, its subject and its bytes."""

    line: int
    subject: str
    data: bytes


def _subject(head: bytes) -> str:
    """The Subject header of a mail's headers, unfolded and decoded."""
    m = re.search(rb"^Subject:[ \t]*(.*(?:\n[ \t].*)*)", head, re.M)
    if not m:
        return ""
    raw = re.sub(r"\n[ \t]+", " ", m.group(1).decode(errors="replace")).strip()
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except (ValueError, LookupError):
        return raw


def _mails(data: bytes) -> list[_Mail]:
    """The mails of an mbox that hold a diff, in order (a cover letter holds none)."""
    starts = [0] + [m.start() for m in _MAIL_START.finditer(data) if m.start() > 0]
    out = []
    for begin, end in zip(starts, starts[1:] + [len(data)]):
        chunk = data[begin:end]
        first_diff = _HAS_DIFF.search(chunk)
        if first_diff:
            head = chunk[:first_diff.start()].split(b"\n\n", 1)[0]  # the headers
            out.append(_Mail(data.count(b"\n", 0, begin) + 1, _subject(head), chunk))
    return out


_PATCHING = re.compile(r"^patching (?:file|symbolic link) '?(.+?)'?"
                       r"(?: \((?:renamed|copied) from .+\))?$", re.M)


def apply_patches(tree: Path, patches: list[Path], label: str, progress) -> None:
    """Apply each patch file in order with GNU patch, each mail of an mbox on
    its own, so the mail that fails is known; the first that fails raises an
    input error naming the file, the hunk and the mail.  `--fuzz=0`, as `git
    am`: a hunk's context must match the tree exactly (a shift in line
    numbers is fine)."""
    if patches and shutil.which("patch") is None:
        raise KernelBuildError("`patch` not found: install the Debian package patch",
                               "environment")
    for path in patches:
        files = 0
        for mail in _mails(path.read_bytes()):
            p = subprocess.run(["patch", "-p1", "--forward", "--batch", "--fuzz=0",
                                "--no-backup-if-mismatch", "-d", str(tree)],
                               input=mail.data, capture_output=True)
            out = (p.stdout + p.stderr).decode(errors="replace")
            if p.returncode != 0:
                raise KernelBuildError(_patch_failure(path, mail, out, label), "input")
            files += len(_PATCHING.findall(p.stdout.decode(errors="replace")))
        progress(f"patched: {path.name} ({files} file{'s' if files != 1 else ''})")


def _strip1(name: str) -> str:
    """A diff header's file name as `patch -p1` takes it."""
    return name.split("/", 1)[1] if "/" in name else name


def _missing_name(after: list[str]) -> str:
    """The file of patch's "can't find file to patch" message, from the diff's
    header lines it shows next (each as "|LINE"), as -p1 takes it."""
    shown = []
    for x in after:
        if x.startswith("|"):
            shown.append(x[1:])
        elif shown:
            break
    found = {}
    for x in shown:
        m = re.match(r"^(\+\+\+|---|diff --git \S+) (\S+)", x)
        if m and m.group(2) != "/dev/null":
            found[m.group(1)[:3]] = _strip1(m.group(2))
    return found.get("+++") or found.get("---") or found.get("dif") or "a file of the patch"


def _patch_failure(path: Path, mail: _Mail, output: str, label: str) -> str:
    """One sentence from patch's output on one mail: which file, hunk and mail failed."""
    where = f" (in \"{mail.subject}\")" if mail.subject else ""
    current = None
    lines = output.splitlines()
    for i, line in enumerate(lines):
        m = _PATCHING.match(line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^Hunk #(\d+) FAILED at (\d+)", line)
        if m:
            return (f"{path.name}: hunk #{m.group(1)} of {current} does not apply (at line "
                    f"{m.group(2)}){where}: its context must match the file exactly (a "
                    f"shift in line numbers is fine); rebase it on {label}")
        if line.startswith("Reversed (or previously applied) patch detected"):
            return (f"{path.name}: {current} already has this change (or the diff is "
                    f"reversed){where}; drop it or rebase the patch on {label}")
        if line.startswith("can't find file to patch"):
            return (f"{path.name}: {_missing_name(lines[i + 1:])} is not in {label}{where}; "
                    f"rebase the patch on it (paths are taken with -p1: a/FILE, b/FILE)")
        m = re.match(r"^(?:patch: \*\*\*\* )?malformed patch at line (\d+)(.*)$", line)
        if m:
            return (f"{path.name}: malformed patch at line "
                    f"{mail.line + int(m.group(1)) - 1}{m.group(2)}{where}")
        if "Only garbage" in line:
            return f"{path.name}: {line.removeprefix('patch: **** ')}{where}"
    last = (output.strip().splitlines() or ["patch failed"])[-1]
    return f"{path.name}: does not apply to {label}{where}: {last}"

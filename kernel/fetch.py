"""Getting a kernel to boot: Debian's packages, or the user's own build.

`debian:VERSION` fetches Debian's kernel packages through a private apt
configuration (its own sources list, lists and archive folders under the
cache; the system's apt configuration is never touched), unpacks them with
`dpkg -x` without installing, and keeps them for the next run.  The suites
searched are bookworm (6.1), trixie, trixie-backports and sid, on the mirror
the machine's own sources already name.  Since 7.x Debian splits a kernel
into an image meta package, `linux-binary-unsigned-*` (the image),
`linux-modules-*` and `linux-base-*` (the config); 6.1 ships one
`linux-image-*` package.  (Recorded in the project's notes on real kernels,
checked on this machine.)

A path is the user's build: a bzImage, with `--modules` naming a folder that
holds `lib/modules/RELEASE/` (or the release folder itself).  `built:KEY` is
a kernel that `kernel-build` built into the cache (`built.resolve_built`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from zswap_spec.support.cache import cache_dir
from .tree import KernelError, KernelTree, read_config

__all__ = ["resolve_kernel", "fetch_debian", "kernel_from_path", "image_release",
           "fetch_debian_source"]

SUITES = ("bookworm", "trixie", "trixie-backports", "sid")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def _mirror() -> str:
    """The Debian mirror URI the machine's own apt sources use."""
    candidates = list(Path("/etc/apt/sources.list.d").glob("*.sources")) + [Path("/etc/apt/sources.list")]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M) or \
            re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s", text, re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


class _PrivateApt:
    """apt-get and apt-cache with a sources list and state of their own."""

    def __init__(self, root: Path):
        self.root = root
        for sub in ("lists/partial", "archives/partial", "etc"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        sources = root / "etc" / "sources.list"
        mirror = _mirror()
        sources.write_text("".join(f"deb [signed-by={KEYRING}] {mirror} {s} main\n" for s in SUITES))
        self.opts = [
            "-o", f"Dir::Etc::sourcelist={sources}", "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={root / 'lists'}", "-o", f"Dir::Cache={root}",
            "-o", f"Dir::Cache::archives={root / 'archives'}", "-o", "Debug::NoLocking=1",
            "-o", "APT::Sandbox::User=root", "-o", "Acquire::Retries=3",
        ]

    def _run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        if shutil.which(tool) is None:
            raise KernelError(f"{tool} is not installed: fetching Debian kernels needs apt "
                              f"(use --kernel PATH with your own build instead)")
        p = subprocess.run([tool, *self.opts, *args], capture_output=True, text=True, cwd=cwd)
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise KernelError(f"{tool} {' '.join(args[:2])} failed: {last}")
        return p.stdout

    def update(self, max_age_s: float = 24 * 3600) -> None:
        stamp = self.root / "updated"
        import time

        if stamp.exists() and time.time() - stamp.stat().st_mtime < max_age_s:
            return
        self._run("apt-get", "update", "-qq")
        stamp.touch()

    def packages(self, prefix: str) -> dict[str, dict[str, str]]:
        """Every package whose name starts with `prefix`: its newest stanza's fields.

        Read straight from the downloaded Packages indexes: one apt-cache call
        per package would take minutes over the hundreds of kernel packages.
        """
        out: dict[str, dict[str, str]] = {}
        for index in sorted((self.root / "lists").glob("*_Packages*")):
            raw = index.read_bytes()
            if index.suffix == ".lz4":
                import lz4.frame

                raw = lz4.frame.decompress(raw)
            elif index.suffix in (".gz", ".xz"):
                import gzip
                import lzma

                raw = gzip.decompress(raw) if index.suffix == ".gz" else lzma.decompress(raw)
            for stanza in raw.decode(errors="replace").split("\n\n"):
                if not stanza.startswith(f"Package: {prefix}"):
                    continue
                fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, re.M))
                name = fields.get("Package", "")
                old = out.get(name)
                if old is None or _version_key(fields.get("Version", "")) > _version_key(old.get("Version", "")):
                    out[name] = fields
        return out

    def download(self, names: list[str], into: Path) -> list[Path]:
        into.mkdir(parents=True, exist_ok=True)
        self._run("apt-get", "download", "-qq", *names, cwd=into)
        return sorted(into.glob("*.deb"))


def _version_key(v: str) -> tuple:
    return tuple(int(x) if x.isdigit() else x for x in re.split(r"[.+~-]", v))


def _resolve_debian(apt: _PrivateApt, version: str) -> tuple[str, str, dict]:
    """(ABI name such as 7.3.4+deb13-amd64, upstream version, its fields) of the newest match."""
    found = []
    for name, fields in apt.packages("linux-image-").items():
        m = re.fullmatch(r"linux-image-(\d\S*?)-amd64", name)
        if not m or m.group(1).endswith(("-rt", "-cloud")):
            continue  # only the generic flavour
        abi = m.group(1) + "-amd64"
        upstream = fields.get("Version", "")
        base = re.split(r"[-~+]", upstream)[0]
        if base == version or base.startswith(version + ".") or abi.startswith(version + "."):
            found.append((_version_key(base), abi, base, fields))
    if not found:
        raise KernelError(f"debian:{version}: Debian has no amd64 kernel of that version in "
                          f"{', '.join(SUITES)}; try debian:6.1 or debian:7.3")
    found.sort(key=lambda f: f[0])
    _, abi, base, fields = found[-1]
    return abi, base, fields


def fetch_debian(version: str, progress=None) -> KernelTree:
    """Debian's kernel `version` (6.1, 7.3, 7.3.4, ...), unpacked in the cache."""
    cache = cache_dir()
    apt = _PrivateApt(cache / "apt")
    apt.update()
    abi, upstream, fields = _resolve_debian(apt, version)
    dest = cache / "kernels" / abi
    done = dest / ".unpacked"
    if not done.exists():
        image_pkg = f"linux-image-{abi}"
        wanted = {image_pkg}
        for dep in re.split(r",\s*", fields.get("Depends", "")):
            name = dep.split()[0] if dep else ""
            if name.startswith(("linux-binary-", "linux-modules-", "linux-base-")):
                wanted.add(name.replace("linux-binary-", "linux-binary-unsigned-"))
        if progress:
            progress(f"downloading {', '.join(sorted(wanted))}")
        debs = apt.download(sorted(wanted), cache / "debs" / abi)
        tmp = dest.with_suffix(".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for deb in debs:
            subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        done.write_text(upstream)
    return _tree_from_unpacked(f"debian:{version}", dest, abi)


def _tree_from_unpacked(name: str, root: Path, release: str) -> KernelTree:
    candidates = [root / "usr/lib/modules" / release / "vmlinuz.unsigned",
                  root / "usr/lib/modules" / release / "vmlinuz",
                  root / "boot" / f"vmlinuz-{release}"]
    image = next((c for c in candidates if c.exists()), None)
    if image is None:
        raise KernelError(f"{name}: unpacked packages hold no kernel image for {release}")
    configs = [root / "usr/lib/modules" / release / "config", root / "boot" / f"config-{release}"]
    config = next((c for c in configs if c.exists()), None)
    return KernelTree(name, image, release, root, read_config(config) if config else {})


def image_release(image: Path) -> str:
    """The release string a bzImage announces (its boot header's version string)."""
    try:
        data = image.read_bytes()[:0x10000]
    except OSError as e:
        raise KernelError(f"{image}: cannot be read ({e.strerror})") from None
    if len(data) < 0x210 or data[0x202:0x206] != b"HdrS":
        raise KernelError(f"{image}: is not a Linux kernel image (no x86 boot header); "
                          f"give a bzImage such as arch/x86/boot/bzImage")
    off = int.from_bytes(data[0x20E:0x210], "little") + 0x200
    text = data[off:off + 256].split(b"\0")[0].decode(errors="replace")
    if not text:
        raise KernelError(f"{image}: its boot header names no kernel version")
    return text.split()[0]


def kernel_from_path(image: Path, modules: Path | None = None) -> KernelTree:
    """The user's own kernel: a bzImage and (optionally) its modules."""
    if image.is_dir():
        raise KernelError(f"--kernel {image}: is a folder; give the kernel image file in it "
                          f"(a bzImage, such as {image}/arch/x86/boot/bzImage or {image}/vmlinuz)")
    if not image.is_file():
        raise KernelError(f"{image}: no such kernel image file")
    release = image_release(image)
    root = None
    config_path = None
    if modules is not None:
        if not modules.is_dir():
            raise KernelError(f"--modules {modules}: not a folder")
        if (modules / "lib/modules" / release).is_dir() or (modules / "usr/lib/modules" / release).is_dir():
            root = modules
        elif modules.name == release or (modules / "kernel").is_dir():
            # The release folder itself: give KernelTree a root above it.
            link_root = cache_dir() / "user-modules" / release
            target = link_root / "lib/modules" / release
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            target.symlink_to(modules.resolve())
            root = link_root
        else:
            raise KernelError(f"--modules {modules}: holds neither lib/modules/{release}/ nor "
                              f"a kernel/ folder of modules for {release}")
        for c in (modules / "config", modules / "lib/modules" / release / "config"):
            if c.exists():
                config_path = c
    for c in (image.parent / f"config-{release}", image.parent / "config",
              image.parent.parent.parent.parent / ".config"):
        if config_path is None and c.exists():
            config_path = c
    config = read_config(config_path) if config_path else {}
    return KernelTree(str(image), image, release, root, config)


def resolve_kernel(spec: str, modules: str | None = None, progress=None) -> KernelTree:
    """`debian:VERSION`, `built:KEY` (a `kernel-build`) or a path to a kernel image."""
    if spec.startswith("built:"):
        from .built import resolve_built

        return resolve_built(spec)
    if spec.startswith("debian:"):
        version = spec.split(":", 1)[1]
        if not re.fullmatch(r"\d+(\.\d+){1,2}", version):
            raise KernelError(f"--kernel {spec}: VERSION must look like 6.1, 7.3 or 7.3.4")
        return fetch_debian(version, progress)
    return kernel_from_path(Path(spec), Path(modules) if modules else None)


def fetch_debian_source(series: str) -> Path:
    """Debian's `linux-source-SERIES` tarball (e.g. 7.3), downloaded once.

    Several processes may ask at once (parallel tests, parallel checks): one
    holds a lock on the series while it fetches, the others wait and then find
    the tarball.  It is unpacked in a temporary folder and renamed into place,
    so a fetch cut short leaves nothing that looks complete."""
    import fcntl
    import tempfile

    cache = cache_dir()
    dest = cache / "source" / series
    found = sorted(dest.glob("usr/src/linux-source-*.tar.*"))
    if found:
        return found[0]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".lock-{series}", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = sorted(dest.glob("usr/src/linux-source-*.tar.*"))
        if found:  # another process fetched it while this one waited
            return found[0]
        apt = _PrivateApt(cache / "apt")
        apt.update()
        name = f"linux-source-{series}"
        if name not in apt.packages(name):
            raise KernelError(f"Debian has no package {name}; kernel compressors need a source tree "
                              f"(give one with --kernel-source PATH)")
        debs = apt.download([name], cache / "debs" / f"source-{series}")
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{series}-", dir=dest.parent))
        try:
            for deb in debs:
                subprocess.run(["dpkg", "-x", str(deb), str(work)], check=True)
            if not sorted(work.glob("usr/src/linux-source-*.tar.*")):
                raise KernelError(f"{name} holds no source tarball")
            if dest.exists():  # an older, incomplete unpacking
                shutil.rmtree(dest)
            work.rename(dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return sorted(dest.glob("usr/src/linux-source-*.tar.*"))[0]

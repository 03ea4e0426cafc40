"""Compiling a kernel's compressors into one shared library, cached per source:
the stand-in headers and C shim of csrc/, gcc, the build log and the manifest."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from zswap_spec.support.cache import cache_dir

from .kcomp import KernelCompressorError
from .kcomp_extract import extract, tree_files
from .kcomp_plan import Component, components, kernel_version, plan_build, read_text

__all__ = ["LIBRARY_NAME", "build_info", "build_kernel_compressors", "built_library"]

LIBRARY_NAME = "libkcomp.so"


# ---------------------------------------------------------------------------
# Stand-in kernel environment and shim (written for this project): the C
# files of csrc/, copied into each build folder.
#
#   kc_kernel.h  the stand-in kernel environment, force-included everywhere
#   kc_stub.h    copied as every kernel header the libraries include but we do not take
#   kc_shim.h    common part of the shims (includes the generated kc_params.h)
#   kc_<c>.c     the shim of component <c>: lz4, lzo, zstd, deflate

_CSRC = Path(__file__).with_name("csrc")
_KERNEL_H = "kc_kernel.h"
_STUB_H = "kc_stub.h"
_SHIM_H = "kc_shim.h"

_ARCH_DEFINES = [
    "-DCONFIG_64BIT=1",
    "-DCONFIG_X86=1",
    "-DCONFIG_X86_64=1",
    "-DCONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS=1",
]
_CFLAGS = [
    "-O2", "-fPIC", "-std=gnu11", "-fvisibility=hidden",
    "-fno-strict-aliasing", "-fno-strict-overflow", "-fno-delete-null-pointer-checks",
    "-fno-common", "-Wno-unused-function", "-Wno-unused-variable",
    # a missing stand-in must stop the build, not become an int-returning guess
    "-Werror=implicit-function-declaration", "-Werror=int-conversion", "-Werror=implicit-int",
]
_LDFLAGS = ["-shared", "-fPIC", "-Wl,--no-undefined"]
# Bump when the build steps change in ways neither the C files nor the flags show.
_RECIPE_VERSION = "recipe-2"


def _recipe() -> str:
    """Hash of the C files of csrc/, the flags and the recipe version: part of the cache key."""
    h = hashlib.sha256(_RECIPE_VERSION.encode() + b"\0")
    for p in sorted(_CSRC.iterdir()):
        if p.suffix in (".c", ".h") and p.is_file():
            h.update(f"{p.name}\0".encode() + p.read_bytes() + b"\0")
    h.update("\0".join([*_ARCH_DEFINES, *_CFLAGS, *_LDFLAGS]).encode())
    return h.hexdigest()[:10]


# Keys the cache: editing a C file of csrc/ or a flag forces a rebuild.
_RECIPE = _recipe()


# ---------------------------------------------------------------------------
# Cache key.

def _safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", s)[:80]


def _cache_key(source: Path) -> str:
    if source.is_dir():
        h = hashlib.sha256(str(source.resolve()).encode())
        for rel in tree_files(source):
            st = (source / rel).stat()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        return f"tree-{_safe_name(source.resolve().name)}-{h.hexdigest()[:12]}-{_RECIPE}"
    st = source.stat()
    return f"{_safe_name(source.name)}-{st.st_size}-{int(st.st_mtime)}-{_RECIPE}"


# ---------------------------------------------------------------------------
# Building.

_INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*<((?:linux|asm|asm-generic|crypto|vdso|uapi)/[^>]+)>', re.M)


def _write_stubs(build: Path, src: Path) -> Path:
    """Stand-in headers for every kernel header the extracted libraries include but we do not take."""
    stub = build / "stub"
    stub.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_CSRC / _KERNEL_H, stub / _KERNEL_H)
    needed: set[str] = set()
    for d in ("lib", "include"):
        for p in (src / d).rglob("*"):
            if p.suffix in (".c", ".h") and p.is_file():
                needed.update(_INCLUDE_RE.findall(read_text(p)))
    for name in sorted(needed):
        if (src / "include" / name).is_file():
            continue
        target = stub / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_CSRC / _STUB_H, target)
    return stub


class _Log:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._fh = open(path, "a", encoding="utf-8", errors="replace")

    def write(self, text: str) -> None:
        with self._lock:
            self._fh.write(text if text.endswith("\n") else text + "\n")
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _run(cmd: list[str], log: _Log, cwd: Path) -> bool:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, errors="replace")
    out = "$ " + " ".join(cmd) + "\n" + proc.stdout + proc.stderr
    if proc.returncode:
        out += f"[exit status {proc.returncode}]\n"
    log.write(out)
    return proc.returncode == 0


def _gcc() -> str:
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise KernelCompressorError(
            f"the C compiler {cc!r} is not installed; install gcc (apt-get install gcc) "
            "or point $CC at a C compiler"
        )
    return cc


def _build(source: Path, build: Path, log: _Log) -> dict:
    cc = _gcc()
    t0 = time.monotonic()
    src = build / "src"
    n = extract(source, src)
    log.write(f"extracted {n} files from {source} in {time.monotonic() - t0:.1f} s")
    if not (src / "lib/lz4/lz4_compress.c").is_file() or not (src / "include/linux/lz4.h").is_file():
        raise KernelCompressorError(
            f"{source} has no lib/lz4/lz4_compress.c or include/linux/lz4.h: it is not a Linux "
            "kernel source tree (or tarball) with the LZ4 library. Pass the kernel's source, "
            "e.g. Debian's /usr/src/linux-source-X.Y.tar.xz (package linux-source-X.Y)."
        )
    plan = plan_build(src)
    (build / "kc_params.h").write_text(
        "/* generated by zswap-spec kcomp from this tree's crypto/ wrappers */\n"
        "#ifndef KC_PARAMS_H\n#define KC_PARAMS_H\n" + "\n".join(plan.params_h) + "\n#endif\n"
    )
    stub = _write_stubs(build, src)
    # Components with nothing left to build (their only algorithm unavailable) are left out.
    comps = [c for c in components(src, plan) if not (c.name in plan.unavailable and c.algorithms == (c.name,))]
    obj = build / "obj"
    shim_dir = build / "shim"
    shim_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_CSRC / _SHIM_H, shim_dir / _SHIM_H)
    common = [cc, *_CFLAGS, *_ARCH_DEFINES, "-include", str(stub / _KERNEL_H),
              "-I", str(build), "-I", str(stub), "-I", str(src / "include")]

    jobs = []  # (component, source path, object path)
    for comp in comps:
        shim = shim_dir / comp.shim
        shutil.copyfile(_CSRC / comp.shim, shim)
        for s in [*comp.sources, str(shim)]:
            path = Path(s) if os.path.isabs(s) else src / s
            rel = path.relative_to(build).as_posix().replace("/", "__")
            jobs.append((comp, path, obj / comp.name / (rel[:-2] + ".o")))

    def compile_one(job):
        comp, path, o = job
        o.parent.mkdir(parents=True, exist_ok=True)
        return comp.name, _run([*common, "-I", str(path.parent), "-c", str(path), "-o", str(o)], log, build)

    failed: dict[str, list[str]] = {}
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as ex:
        for (comp, path, _o), (name, ok) in zip(jobs, ex.map(compile_one, jobs)):
            if not ok:
                failed.setdefault(name, []).append(path.relative_to(build).as_posix())

    built: list[Component] = []
    skipped: dict[str, str] = dict(plan.unavailable)
    for comp in comps:
        if comp.name in failed:
            reason = f"compiling {', '.join(failed[comp.name])} failed (see {log.path})"
        else:
            objs = sorted(str(p) for p in (obj / comp.name).glob("*.o"))
            test_so = build / f"test-{comp.name}.so"
            ok = _run([cc, *_LDFLAGS, "-o", str(test_so), *objs], log, build)
            test_so.unlink(missing_ok=True)
            if ok:
                built.append(comp)
                continue
            reason = f"linking failed (see {log.path})"
        if comp.required:
            raise KernelCompressorError(
                f"cannot build the kernel's LZ4 from {source}: {reason}. The tree may use kernel "
                "facilities the stand-in headers of zswap_spec.kernel.kcomp lack; the build log "
                "names the missing definitions."
            )
        for alg in comp.algorithms:
            skipped[alg] = reason

    lib = build / LIBRARY_NAME
    objs = [str(p) for comp in built for p in sorted((obj / comp.name).glob("*.o"))]
    if not _run([cc, *_LDFLAGS, "-Wl,-Bsymbolic", "-o", str(lib), *objs], log, build):
        raise KernelCompressorError(f"linking {lib} from {source} failed; see the build log {log.path}")
    algorithms = [a for c in built for a in c.algorithms if a not in skipped]
    return {
        "source": str(source),
        "kernel_version": kernel_version(src),
        "recipe": _RECIPE,
        "compiler": subprocess.run([cc, "-dumpfullversion"], capture_output=True, text=True).stdout.strip(),
        "algorithms": algorithms,
        "skipped": skipped,
        "params": plan.params,
        "notes": plan.notes,
        "build_seconds": round(time.monotonic() - t0, 2),
    }


_BUILD_LOCK = threading.Lock()


def build_kernel_compressors(source: Path, cache: Path | None = None) -> Path:
    """Build (or find in the cache) the shared library of `source`'s compressors; returns its path.

    `source` is a kernel source tarball or an unpacked tree.  The build folder
    ``<cache>/kcomp/<key>/`` holds the extracted files, the stand-ins, the
    library, ``build.log`` and ``manifest.json`` (algorithms built, skipped and
    why, the parameters read from the crypto wrappers).
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise KernelCompressorError(
            f"kernel source {source} does not exist: pass a kernel source tarball (e.g. Debian's "
            "/usr/src/linux-source-X.Y.tar.xz from package linux-source-X.Y) or an unpacked tree"
        )
    if not source.is_dir() and not source.is_file():
        raise KernelCompressorError(f"kernel source {source} is neither a tarball nor a folder")
    root = Path(cache).expanduser() if cache is not None else cache_dir()
    base = root / "kcomp"
    final = base / _cache_key(source)
    lib = final / LIBRARY_NAME
    if (final / "manifest.json").is_file() and lib.is_file():
        return lib
    with _BUILD_LOCK:
        if (final / "manifest.json").is_file() and lib.is_file():
            return lib
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{final.name[:40]}-", dir=base))
        log = _Log(tmp / "build.log")
        try:
            manifest = _build(source, tmp, log)
        except BaseException as exc:
            log.close()
            failed = base / (final.name + ".failed")
            shutil.rmtree(failed, ignore_errors=True)
            try:
                tmp.rename(failed)
                kept = failed / "build.log"
            except OSError:
                kept = tmp / "build.log"
            if isinstance(exc, KernelCompressorError):
                msg = str(exc).replace(str(tmp), str(failed))
                raise KernelCompressorError(f"{msg} [build log: {kept}]") from None
            if isinstance(exc, Exception):
                raise KernelCompressorError(
                    f"building the kernel's compressors from {source} failed: {exc!r} [build log: {kept}]"
                ) from exc
            raise
        log.close()
        manifest = json.loads(json.dumps(manifest).replace(str(tmp), str(final)))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.rmtree(tmp / "obj", ignore_errors=True)
        try:
            tmp.rename(final)
        except OSError:
            # Another process finished the same build first: use its result.
            shutil.rmtree(tmp, ignore_errors=True)
            if not lib.is_file():
                raise KernelCompressorError(f"cannot install the build into {final}") from None
        return lib


def built_library(source: Path, cache: Path | None) -> tuple[Path, dict]:
    """`source`'s library (building it if needed) and its manifest."""
    lib = build_kernel_compressors(source, cache)
    return lib, json.loads((lib.parent / "manifest.json").read_text())


def build_info(source: Path, cache: Path | None = None) -> dict:
    """The manifest of `source`'s build (building it if needed)."""
    return built_library(source, cache)[1]



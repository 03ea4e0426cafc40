"""A given kernel's own compressors, built from its source tree, for the model.

The model's software algorithms (`zswap_spec.model.compressors`) use the
user-space libraries.  They behave like the kernel's algorithms but do not
produce the same bytes: the kernel carries its own, older or patched copies of
LZ4, LZO, zstd and zlib, and compressed sizes differ by a few bytes per page.
To predict what one particular kernel stores for one particular page, the
model needs that kernel's compressor code.

This module gets it at run time, from a kernel source the user supplies (a
tarball such as Debian's ``linux-source-7.3.tar.xz`` or an unpacked tree).  It
copies only the compression libraries (``lib/lz4``, ``lib/lzo``, ``lib/zstd``,
``lib/zlib_deflate``, ``lib/zlib_inflate``, ``lib/xxhash.c``), their public
headers and the crypto wrappers (``crypto/*.c``, read for their parameters,
never compiled) into a cache folder, adds stand-in headers for the rest of the
kernel environment and a small C shim (the C files of ``csrc/``), and compiles
one shared library with gcc.  Nothing from the kernel tree is part of this
project: the stand-in headers and the shim are written for it, and the kernel
files live only in the user's cache.

The shim calls each algorithm the way its crypto wrapper in that tree does
(LZ4 default, LZ4HC at the wrapper's level, the "safe" LZO variants when the
wrapper uses them, zstd with the wrapper's `zstd_get_params` arguments, raw
deflate with the wrapper's window bits and memory level), with the real
destination capacity.  The Python classes present the same interface as the
model's `SoftwareAlgorithm` and report what the crypto wrapper reports.

Use::

    from zswap_spec.kernel.kcomp import kernel_algorithms
    algs = kernel_algorithms(Path("/usr/src/linux-source-7.3.tar.xz"))
    ret, dlen, out = algs["lz4"].compress(page, 4096)

The cache is ``$ZSWAP_SPEC_CACHE/kcomp`` (default ``~/.cache/zswap-spec``),
one folder per source (tarball name, size and mtime), with the build log.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from zswap_spec.support.cache import cache_dir

from zswap_spec.model.cint import EINVAL, u32

__all__ = [
    "KernelCompressorError",
    "KernelAlgorithm",
    "build_kernel_compressors",
    "build_info",
    "kernel_algorithms",
    "kernel_algorithm",
    "ALGORITHM_NAMES",
]

ALGORITHM_NAMES = ("lz4", "lz4hc", "lzo", "lzo-rle", "zstd", "deflate")
LIBRARY_NAME = "libkcomp.so"


class KernelCompressorError(RuntimeError):
    """The kernel's compressors cannot be built or used; the message says why and what to do."""


# ---------------------------------------------------------------------------
# What to take from the kernel tree.

_WANTED_DIRS = ("lib/lz4/", "lib/lzo/", "lib/zstd/", "lib/zlib_deflate/", "lib/zlib_inflate/")
_WANTED_FILES = frozenset(
    {
        "Makefile",
        "lib/xxhash.c",
        "include/linux/lz4.h",
        "include/linux/lzo.h",
        "include/linux/zstd.h",
        "include/linux/zstd_lib.h",
        "include/linux/zstd_errors.h",
        "include/linux/zlib.h",
        "include/linux/zconf.h",
        "include/linux/zutil.h",
        "include/linux/xxhash.h",
        "crypto/lz4.c",
        "crypto/lz4hc.c",
        "crypto/lzo.c",
        "crypto/lzo-rle.c",
        "crypto/zstd.c",
        "crypto/deflate.c",
    }
)
# First path components of a kernel tree that can hold a wanted file: a
# tarball member starting with anything else has a top folder to strip.
_TREE_TOP = frozenset({"lib", "include", "crypto", "Makefile"})


def _wanted(rel: str) -> bool:
    if rel in _WANTED_FILES:
        return True
    if rel.startswith(_WANTED_DIRS):
        name = rel.rsplit("/", 1)[-1]
        return name.endswith((".c", ".h")) or name == "Makefile"
    return False


def _member_rel(name: str) -> str:
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    first, _, rest = name.partition("/")
    if first in _TREE_TOP:
        return name
    return rest


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
# Cache and extraction.

def _safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", s)[:80]


def _tree_files(root: Path) -> list[str]:
    out = []
    for rel in _WANTED_FILES:
        if (root / rel).is_file():
            out.append(rel)
    for d in _WANTED_DIRS:
        base = root / d
        if base.is_dir():
            for p in base.rglob("*"):
                rel = p.relative_to(root).as_posix()
                if p.is_file() and _wanted(rel):
                    out.append(rel)
    return sorted(out)


def _cache_key(source: Path) -> str:
    if source.is_dir():
        h = hashlib.sha256(str(source.resolve()).encode())
        for rel in _tree_files(source):
            st = (source / rel).stat()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        return f"tree-{_safe_name(source.resolve().name)}-{h.hexdigest()[:12]}-{_RECIPE}"
    st = source.stat()
    return f"{_safe_name(source.name)}-{st.st_size}-{int(st.st_mtime)}-{_RECIPE}"


def _extract(source: Path, dest: Path) -> int:
    """Copy the wanted files of `source` (tarball or tree) under `dest`; returns how many."""
    count = 0
    if source.is_dir():
        for rel in _tree_files(source):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, target)
            count += 1
        return count
    try:
        with tarfile.open(source, mode="r|*") as tf:
            for member in tf:
                if not member.isfile():
                    continue
                rel = _member_rel(member.name)
                if not rel or ".." in rel.split("/") or not _wanted(rel):
                    continue
                fobj = tf.extractfile(member)
                if fobj is None:
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    shutil.copyfileobj(fobj, out)
                count += 1
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise KernelCompressorError(
            f"cannot read the kernel source tarball {source}: {exc}. "
            "Pass a Linux source tarball (.tar, .tar.gz, .tar.bz2, .tar.xz) or an unpacked tree."
        ) from exc
    return count


# ---------------------------------------------------------------------------
# Reading the crypto wrappers for their parameters.

def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _defines(text: str, prefix: str) -> list[str]:
    """`#define NAME value` lines of `text` whose NAME starts with `prefix` (one line each)."""
    out = []
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(" + prefix + r"\w*)[ \t]+([^\n]*?)\s*$", text, re.M):
        value = re.sub(r"/\*.*?\*/", "", m.group(2)).strip()
        if value and not value.endswith("\\"):
            out.append(f"#define {m.group(1)} {value}")
    return out


def _call_args(text: str, fn: str) -> list[str] | None:
    m = re.search(re.escape(fn) + r"\s*\(", text)
    if not m:
        return None
    depth, i, start, args = 1, m.end(), m.end(), []
    while i < len(text) and depth:
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append(text[start:i].strip())
        elif c == "," and depth == 1:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    return args


_TOKEN = re.compile(r"^[A-Za-z_0-9() <>+*-]+$")


@dataclass
class _Plan:
    params_h: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    unavailable: dict = field(default_factory=dict)  # component -> reason before compiling


def _plan(src: Path) -> _Plan:
    p = _Plan()
    h = p.params_h
    inc = src / "include" / "linux"
    crypto = src / "crypto"

    # lz4hc: the level the wrapper passes to LZ4_compress_HC.
    args = _call_args(_read(crypto / "lz4hc.c"), "LZ4_compress_HC")
    level = args[4] if args and len(args) == 6 and _TOKEN.match(args[4]) else "LZ4HC_DEFAULT_CLEVEL"
    if not args:
        p.notes["lz4hc"] = "crypto/lz4hc.c not found or not understood: level LZ4HC_DEFAULT_CLEVEL"
    h.append(f"#define KC_LZ4HC_LEVEL ({level})")
    p.params["lz4hc_level_expr"] = level

    # lzo: safe variants when the wrapper uses them.
    lzo_h = _read(inc / "lzo.h")
    lzo_c = _read(crypto / "lzo.c")
    rle_c = _read(crypto / "lzo-rle.c")
    have_rle = "lzorle1x_1_compress" in lzo_h
    safe = "lzo1x_1_compress_safe" in lzo_h and (
        "lzo1x_1_compress_safe" in lzo_c or not lzo_c
    )
    rle_safe = "lzorle1x_1_compress_safe" in lzo_h and ("lzorle1x_1_compress_safe" in rle_c or not rle_c)
    if safe != rle_safe and have_rle:
        rle_safe = safe
    h.append(f"#define KC_LZO_SAFE {int(safe)}")
    h.append(f"#define KC_LZO_HAVE_RLE {int(have_rle)}")
    h.append(f"#define KC_LZO_FN {'lzo1x_1_compress_safe' if safe else 'lzo1x_1_compress'}")
    h.append(f"#define KC_LZORLE_FN {'lzorle1x_1_compress_safe' if rle_safe else 'lzorle1x_1_compress'}")
    p.params["lzo_safe"] = safe
    if not have_rle:
        p.unavailable["lzo-rle"] = "this kernel's lib/lzo has no LZO-RLE (added in Linux 5.1)"

    # zstd: the wrapper's zstd_get_params(level, size) and how it reports failure.
    zstd_c = _read(crypto / "zstd.c")
    zstd_h = _read(inc / "zstd.h")
    if "zstd_get_params" not in zstd_h or "zstd_compress_cctx" not in zstd_h:
        p.unavailable["zstd"] = (
            "this kernel's include/linux/zstd.h predates the zstd_* interface (Linux 5.16)"
        )
    args = _call_args(zstd_c, "zstd_get_params")
    if args and len(args) == 2 and all(_TOKEN.match(a) for a in args):
        h.extend(_defines(zstd_c, "ZSTD_"))
        zlevel, zsize = args
    else:
        zlevel, zsize = "3", "0"
        p.notes["zstd"] = "crypto/zstd.c not found or not understood: zstd_get_params(3, 0)"
    h.append(f"#define KC_ZSTD_LEVEL ({zlevel})")
    h.append(f"#define KC_ZSTD_SRCSIZE ({zsize})")
    p.params["zstd_get_params"] = f"{zlevel}, {zsize}"
    # acomp-style wrappers (7.x) clear req->dlen on failure; scomp ones leave the capacity.
    p.params["zstd_fail_dlen"] = "zero" if re.search(r"req->dlen\s*=\s*0\s*;", zstd_c) or not zstd_c else "capacity"

    # deflate: the wrapper's level, window bits and memory level, and its style.
    defl_c = _read(crypto / "deflate.c")
    for line in _defines(defl_c, "DEFLATE_DEF_"):
        h.append(line)
    if not defl_c:
        # csrc/kc_deflate.c falls back to these when no DEFLATE_DEF_* is defined.
        p.notes["deflate"] = "crypto/deflate.c not found: level Z_DEFAULT_COMPRESSION, window bits 11, MAX_MEM_LEVEL"
    walk = "acomp_walk" in defl_c or not defl_c
    h.append(f"#define KC_DEFLATE_WALK {int(walk)}")
    p.params["deflate_style"] = "walk" if walk else "oneshot"
    p.params["deflate_nospace_ret"] = "-ENOSPC" if walk else "-EINVAL"
    return p


def _kernel_version(src: Path) -> str | None:
    text = _read(src / "Makefile")
    vals = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
        m = re.search(rf"^{key}\s*=\s*(\S*)\s*$", text, re.M)
        vals[key] = m.group(1) if m else ""
    if not vals["VERSION"]:
        return None
    v = f"{vals['VERSION']}.{vals['PATCHLEVEL']}"
    if vals["SUBLEVEL"]:
        v += f".{vals['SUBLEVEL']}"
    return v + vals["EXTRAVERSION"]


def _makefile_objects(makefile: Path) -> list[str]:
    """The `.o` files of the `name-y :=` / `name-objs :=` lists of a kbuild Makefile."""
    text = _read(makefile).replace("\\\n", " ")
    objs: list[str] = []
    for line in text.splitlines():
        m = re.match(r"^\s*[\w-]+-(?:y|objs)\s*[:+]?=\s*(.*)$", line)
        if m:
            for tok in m.group(1).split():
                if tok.endswith(".o") and tok not in objs:
                    objs.append(tok)
    return objs


# ---------------------------------------------------------------------------
# Building.

@dataclass
class _Component:
    name: str
    algorithms: tuple[str, ...]
    sources: list[str]  # kernel files; the shim is csrc/kc_<name>.c
    required: bool = False

    @property
    def shim(self) -> str:
        return f"kc_{self.name}.c"


def _components(src: Path, plan: _Plan) -> list[_Component]:
    comps = []
    lz4 = ["lib/lz4/lz4_compress.c", "lib/lz4/lz4hc_compress.c", "lib/lz4/lz4_decompress.c"]
    comps.append(_Component("lz4", ("lz4", "lz4hc"), lz4, required=True))
    lzo = [f"lib/lzo/{n}" for n in ("lzo1x_compress.c", "lzo1x_compress_safe.c", "lzo1x_decompress_safe.c")]
    lzo = [s for s in lzo if (src / s).is_file()]
    algs = ("lzo", "lzo-rle") if "lzo-rle" not in plan.unavailable else ("lzo",)
    comps.append(_Component("lzo", algs, lzo))
    zstd = [f"lib/zstd/{o[:-2]}.c" for o in _makefile_objects(src / "lib/zstd/Makefile")]
    zstd = [s for s in zstd if (src / s).is_file()]
    if (src / "lib/xxhash.c").is_file():
        zstd.append("lib/xxhash.c")
    comps.append(_Component("zstd", ("zstd",), zstd))
    defl = [f"lib/zlib_deflate/{n}" for n in ("deflate.c", "deftree.c")] + [
        f"lib/zlib_inflate/{n}" for n in ("inffast.c", "inflate.c", "infutil.c", "inftrees.c")
    ]
    comps.append(_Component("deflate", ("deflate",), defl))
    return comps


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
                needed.update(_INCLUDE_RE.findall(_read(p)))
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
    n = _extract(source, src)
    log.write(f"extracted {n} files from {source} in {time.monotonic() - t0:.1f} s")
    if not (src / "lib/lz4/lz4_compress.c").is_file() or not (src / "include/linux/lz4.h").is_file():
        raise KernelCompressorError(
            f"{source} has no lib/lz4/lz4_compress.c or include/linux/lz4.h: it is not a Linux "
            "kernel source tree (or tarball) with the LZ4 library. Pass the kernel's source, "
            "e.g. Debian's /usr/src/linux-source-X.Y.tar.xz (package linux-source-X.Y)."
        )
    plan = _plan(src)
    (build / "kc_params.h").write_text(
        "/* generated by zswap-spec kcomp from this tree's crypto/ wrappers */\n"
        "#ifndef KC_PARAMS_H\n#define KC_PARAMS_H\n" + "\n".join(plan.params_h) + "\n#endif\n"
    )
    stub = _write_stubs(build, src)
    # Components with nothing left to build (their only algorithm unavailable) are left out.
    comps = [c for c in _components(src, plan) if not (c.name in plan.unavailable and c.algorithms == (c.name,))]
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

    built: list[_Component] = []
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
        "kernel_version": _kernel_version(src),
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


def _built(source: Path, cache: Path | None) -> tuple[Path, dict]:
    """`source`'s library (building it if needed) and its manifest."""
    lib = build_kernel_compressors(source, cache)
    return lib, json.loads((lib.parent / "manifest.json").read_text())


def build_info(source: Path, cache: Path | None = None) -> dict:
    """The manifest of `source`'s build (building it if needed)."""
    return _built(source, cache)[1]


# ---------------------------------------------------------------------------
# Calling the library.

_LIBS: dict[str, ctypes.CDLL] = {}
_ENTRY = {
    # name: (compress symbol, decompress symbol, format)
    "lz4": ("kc_lz4_compress", "kc_lz4_decompress", "lz4"),
    "lz4hc": ("kc_lz4hc_compress", "kc_lz4_decompress", "lz4"),
    "lzo": ("kc_lzo_compress", "kc_lzo_decompress", "lzo"),
    "lzo-rle": ("kc_lzorle_compress", "kc_lzo_decompress", "lzo"),
    "zstd": ("kc_zstd_compress", "kc_zstd_decompress", "zstd"),
    "deflate": ("kc_deflate_compress", "kc_deflate_decompress", "deflate"),
}
_SIG = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_uint, ctypes.POINTER(ctypes.c_int)]


def _load(lib: Path) -> ctypes.CDLL:
    key = str(lib)
    if key not in _LIBS:
        try:
            handle = ctypes.CDLL(key)
        except OSError as exc:
            raise KernelCompressorError(
                f"cannot load {lib}: {exc}. Delete {lib.parent} to rebuild it."
            ) from exc
        for fn in ("kc_lz4hc_level", "kc_lzo_safe", "kc_zstd_level", "kc_deflate_level",
                   "kc_deflate_winbits", "kc_deflate_memlevel"):
            if hasattr(handle, fn):
                getattr(handle, fn).restype = ctypes.c_int
                getattr(handle, fn).argtypes = []
        if hasattr(handle, "kc_zstd_srcsize"):
            handle.kc_zstd_srcsize.restype = ctypes.c_ulonglong
            handle.kc_zstd_srcsize.argtypes = []
        if hasattr(handle, "kc_lzo_worst"):
            handle.kc_lzo_worst.restype = ctypes.c_uint
            handle.kc_lzo_worst.argtypes = [ctypes.c_uint]
        _LIBS[key] = handle
    return _LIBS[key]


class KernelAlgorithm:
    """One of a kernel's compressors, with the interface of the model's `SoftwareAlgorithm`.

    The capacity is real: it is the destination size given to the kernel's
    code.  Results follow the crypto wrapper of that kernel: ``compress``
    returns ``(ret, req->dlen afterwards, bytes written)``; ``decompress``
    returns ``(ret, output)`` and never raises.  ``last_detail`` holds the
    library's own status of the last call (e.g. zstd's error code 70,
    "destination too small"); ``last_overrun`` is True when the last
    ``compress`` wrote past its capacity (LZO without the safe variants, or
    LZO-RLE's safe variant given a capacity below 2 bytes), which the kernel
    reports as a success.
    """

    batching = False
    batch_size = 1

    def __init__(self, name: str, lib: Path, manifest: dict):
        if name not in _ENTRY:
            raise KernelCompressorError(f"unknown kernel compressor {name!r}; known: {', '.join(_ENTRY)}")
        self.name = name
        self.library = lib
        self.kernel_version = manifest.get("kernel_version")
        self.source = manifest.get("source")
        csym, dsym, self.format = _ENTRY[name]
        handle = _load(lib)
        self._c = getattr(handle, csym)
        self._d = getattr(handle, dsym)
        for f in (self._c, self._d):
            f.restype = ctypes.c_int
            f.argtypes = _SIG
        params = manifest.get("params", {})
        self.params: dict = {}
        if name == "lz4hc":
            self.params["level"] = handle.kc_lz4hc_level()
        elif name in ("lzo", "lzo-rle"):
            self.params["safe"] = bool(handle.kc_lzo_safe())
        elif name == "zstd":
            self.params["level"] = handle.kc_zstd_level()
            self.params["src_size_hint"] = int(handle.kc_zstd_srcsize())
        elif name == "deflate":
            self.params.update(level=handle.kc_deflate_level(), window_bits=handle.kc_deflate_winbits(),
                               mem_level=handle.kc_deflate_memlevel(), style=params.get("deflate_style"))
        self._lzo_unsafe = name in ("lzo", "lzo-rle") and not self.params["safe"]
        self._worst = handle.kc_lzo_worst if self._lzo_unsafe else None
        self._fail_dlen_zero = name == "zstd" and params.get("zstd_fail_dlen") == "zero"
        self.last_detail: int | None = None
        self.last_overrun = False  # the last compress wrote past its capacity

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} linux-{self.kernel_version}>"

    def _call(self, fn, src: bytes, capacity: int) -> tuple[int, bytes]:
        buf_len = capacity
        if fn is self._c:
            # The buffer always has room for the worst case, past the capacity
            # the C code is told: the non-safe LZO compressors ignore the
            # capacity (the kernel relied on a large enough buffer), and the
            # "safe" LZO-RLE writes its 2-byte header unchecked, so with a
            # capacity below 2 it overruns without limit.  Such an overrun is
            # reported as the kernel would see it: success, dlen > capacity.
            buf_len = max(capacity, 2 * len(src) + 128)
            if self._worst is not None:
                buf_len = max(buf_len, int(self._worst(len(src))))
        dst = ctypes.create_string_buffer(max(buf_len, 1))
        detail = ctypes.c_int(0)
        n = fn(src, len(src), dst, capacity, ctypes.byref(detail))
        self.last_detail = detail.value
        return n, (dst.raw[:n] if n >= 0 else b"")

    def raw_compress(self, src: bytes) -> bytes:
        """The algorithm's output with no practical capacity limit (2 * len + 128)."""
        src = bytes(src)
        n, out = self._call(self._c, src, 2 * len(src) + 128)
        if n < 0:
            raise KernelCompressorError(f"kernel {self.name} failed ({n}, detail {self.last_detail}) with no capacity limit")
        return out

    def compress(self, src: bytes, capacity: int) -> tuple[int, int, bytes]:
        """Compress into `capacity` bytes: (ret, req->dlen afterwards, bytes written)."""
        src = bytes(src)
        if capacity < 0 or capacity > 0xFFFF_FFFF:
            raise ValueError(f"capacity {capacity} is not an unsigned int")
        # A capacity beyond any possible output behaves as unlimited; keep the buffer small.
        eff = min(capacity, 2 * len(src) + 128, 0x7FFF_FFFF)
        n, out = self._call(self._c, src, eff)
        self.last_overrun = n > eff
        if n >= 0:
            return 0, n, out
        if self._fail_dlen_zero:
            return n, 0, b""
        return n, u32(capacity), b""

    def decompress(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        """Decompress into `capacity` bytes: (ret, output).  Never raises."""
        try:
            src = bytes(src)
            if capacity < 0 or capacity > 0x7FFF_FFFF:
                return -EINVAL, b""
            n, out = self._call(self._d, src, capacity)
        except Exception:  # noqa: BLE001 - the interface promises no exceptions
            return -EINVAL, b""
        if n < 0:
            return n, b""
        return 0, out


def kernel_algorithms(source: Path, cache: Path | None = None) -> dict[str, KernelAlgorithm]:
    """The compressors built from `source`, by name ("lz4", "lz4hc", "lzo", "lzo-rle", "zstd", "deflate")."""
    lib, manifest = _built(source, cache)
    return {name: KernelAlgorithm(name, lib, manifest) for name in manifest["algorithms"]}


def kernel_algorithm(source: Path, name: str, cache: Path | None = None) -> KernelAlgorithm:
    """One compressor built from `source`; a clear error when it could not be built."""
    lib, manifest = _built(source, cache)
    if name in manifest["algorithms"]:
        return KernelAlgorithm(name, lib, manifest)
    reason = manifest.get("skipped", {}).get(name)
    if reason:
        raise KernelCompressorError(f"the kernel compressor {name!r} of {source} is not available: {reason}")
    raise KernelCompressorError(
        f"unknown kernel compressor {name!r}; {source} provides: {', '.join(manifest['algorithms'])}"
    )

"""Planning a build of a kernel's compressors from its extracted files: the
parameters its crypto wrappers call each algorithm with, its version, and the
kernel files each component compiles."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Component", "Plan", "components", "kernel_version", "plan_build", "read_text"]

# ---------------------------------------------------------------------------
# Reading the crypto wrappers for their parameters.

def read_text(path: Path) -> str:
    """The text of `path`, or "" when it cannot be read."""
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
class Plan:
    params_h: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    unavailable: dict = field(default_factory=dict)  # component -> reason before compiling


def plan_build(src: Path) -> Plan:
    p = Plan()
    h = p.params_h
    inc = src / "include" / "linux"
    crypto = src / "crypto"

    # lz4hc: the level the wrapper passes to LZ4_compress_HC.
    args = _call_args(read_text(crypto / "lz4hc.c"), "LZ4_compress_HC")
    level = args[4] if args and len(args) == 6 and _TOKEN.match(args[4]) else "LZ4HC_DEFAULT_CLEVEL"
    if not args:
        p.notes["lz4hc"] = "crypto/lz4hc.c not found or not understood: level LZ4HC_DEFAULT_CLEVEL"
    h.append(f"#define KC_LZ4HC_LEVEL ({level})")
    p.params["lz4hc_level_expr"] = level

    # lzo: safe variants when the wrapper uses them.
    lzo_h = read_text(inc / "lzo.h")
    lzo_c = read_text(crypto / "lzo.c")
    rle_c = read_text(crypto / "lzo-rle.c")
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
    zstd_c = read_text(crypto / "zstd.c")
    zstd_h = read_text(inc / "zstd.h")
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
    defl_c = read_text(crypto / "deflate.c")
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


def kernel_version(src: Path) -> str | None:
    text = read_text(src / "Makefile")
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
    text = read_text(makefile).replace("\\\n", " ")
    objs: list[str] = []
    for line in text.splitlines():
        m = re.match(r"^\s*[\w-]+-(?:y|objs)\s*[:+]?=\s*(.*)$", line)
        if m:
            for tok in m.group(1).split():
                if tok.endswith(".o") and tok not in objs:
                    objs.append(tok)
    return objs


# ---------------------------------------------------------------------------
# What each component compiles.

@dataclass
class Component:
    name: str
    algorithms: tuple[str, ...]
    sources: list[str]  # kernel files; the shim is csrc/kc_<name>.c
    required: bool = False

    @property
    def shim(self) -> str:
        return f"kc_{self.name}.c"


def components(src: Path, plan: Plan) -> list[Component]:
    """The components to build from the extracted tree `src`: their algorithms and kernel files."""
    comps = []
    lz4 = ["lib/lz4/lz4_compress.c", "lib/lz4/lz4hc_compress.c", "lib/lz4/lz4_decompress.c"]
    comps.append(Component("lz4", ("lz4", "lz4hc"), lz4, required=True))
    lzo = [f"lib/lzo/{n}" for n in ("lzo1x_compress.c", "lzo1x_compress_safe.c", "lzo1x_decompress_safe.c")]
    lzo = [s for s in lzo if (src / s).is_file()]
    algs = ("lzo", "lzo-rle") if "lzo-rle" not in plan.unavailable else ("lzo",)
    comps.append(Component("lzo", algs, lzo))
    zstd = [f"lib/zstd/{o[:-2]}.c" for o in _makefile_objects(src / "lib/zstd/Makefile")]
    zstd = [s for s in zstd if (src / s).is_file()]
    if (src / "lib/xxhash.c").is_file():
        zstd.append("lib/xxhash.c")
    comps.append(Component("zstd", ("zstd",), zstd))
    defl = [f"lib/zlib_deflate/{n}" for n in ("deflate.c", "deftree.c")] + [
        f"lib/zlib_inflate/{n}" for n in ("inffast.c", "inflate.c", "infutil.c", "inftrees.c")
    ]
    comps.append(Component("deflate", ("deflate",), defl))
    return comps


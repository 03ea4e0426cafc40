"""Seeded bugs: mainline with one deliberate mistake each, for the kernel check's power.

zswap-spec ships a patch of its own for Linux 7.3's mm/zswap.c
(kernel/patches/seeded-bugs-7.3.patch) that puts six mistakes into
`zswap_compress()`, each switched on by the boot parameter
`zswap.seeded_bug=NAME`.  `zswap-spec kernel-check --seeded NAME` boots that
kernel with the mistake on and must find it disagreeing with the mainline
model; and with the variant of the same name here (`seeded-NAME`) the model
must agree with it again, which shows the check judges the kernel and not
its own plan.

Each variant is mainline's transcription (mainline.py) with the same change
made in its text: `SeededBug.edits`, pairs of (text, replacement), each of
which must occur exactly once in mainline.py, so a change to mainline that
moves the text fails loudly instead of leaving a variant that no longer
makes the change.  Nothing else of mainline is written again here.

These variants are not in `VARIANTS` (the commands' defaults run every
variant there); `get_variant("seeded-NAME")` finds them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import linecache
import sys
from dataclasses import dataclass

from . import mainline
from .registry import Variant, VariantError

__all__ = ["SeededBug", "SEEDED_BUGS", "SEEDED_VARIANTS", "seeded_variant", "PREFIX"]

PREFIX = "seeded-"


@dataclass(frozen=True)
class SeededBug:
    """One seeded mistake: its name (the boot parameter's value), what it does,
    the edits that make it in mainline's transcription, and the kernel check
    run that shows it (compressor, writeback of the test cgroup)."""

    name: str
    what: str
    edits: tuple[tuple[str, str], ...]
    compressor: str = "lz4"
    writeback: bool = True


# The kernel side of each is a hunk of kernel/patches/seeded-bugs-7.3.patch.
SEEDED_BUGS: dict[str, SeededBug] = {b.name: b for b in (
    SeededBug(
        "exact-fit-compressed",
        "an output of exactly PAGE_SIZE bytes is stored as compressed data, not as the page "
        "as-is: the load then copies the compressed bytes into the page",
        (("if comp_ret or not dlen or dlen >= zs.page_size:",
          "if comp_ret or not dlen or dlen > zs.page_size:"),),
        writeback=True),
    SeededBug(
        "asis-despite-writeback-off",
        "a page that does not compress is stored as-is although its cgroup has writeback "
        "disabled",
        (("        if not zs.writeback_enabled(memcg):\n",
          "        if False:\n"),),
        writeback=False),
    SeededBug(
        "writeback-test-inverted",
        "the cgroup's writeback setting is read inverted: with writeback on, pages that do not "
        "compress are rejected",
        (("        if not zs.writeback_enabled(memcg):\n",
          "        if zs.writeback_enabled(memcg):\n"),),
        writeback=True),
    SeededBug(
        "zero-length-malloc",
        "the as-is path asks zs_malloc for 0 bytes, which fails (-EINVAL): pages that do not "
        "compress are rejected as allocation failures",
        # zs_malloc() refuses a size of 0 with -EINVAL (Linux 7.3.4 mm/zsmalloc.c, lines
        # 1405-1406); the model's zsmalloc does the same (model/zsmalloc.py, zs_malloc).
        (("        comp_ret = 0\n        dlen = zs.page_size\n",
          "        comp_ret = 0\n        dlen = 0\n"),),
        writeback=True),
    SeededBug(
        "compress-fail-uncounted",
        "reject_compress_fail never moves",
        (('    elif comp_ret:\n        zs.counters["reject_compress_fail"] += 1\n',
          '    elif comp_ret:\n        zs.counters["reject_compress_fail"] += 0\n'),),
        writeback=False),
    SeededBug(
        "poor-counted-as-fail",
        "a compression or allocation that ran out of room (-ENOSPC) is counted as "
        "reject_compress_fail, not reject_compress_poor",
        (('        zs.counters["reject_compress_poor"] += 1\n',
          '        zs.counters["reject_compress_fail"] += 1\n'),),
        compressor="deflate", writeback=False),
)}


def _build(bug: SeededBug, order: int) -> Variant:
    """Mainline's module, its text edited, run as a module of its own."""
    path = inspect.getsourcefile(mainline)
    text = inspect.getsource(mainline)
    for old, new in bug.edits:
        found = text.count(old)
        if found != 1:
            raise VariantError(f"seeded bug {bug.name}: the text {old.strip()!r} occurs "
                               f"{found} times in {path}, not once; update its edits in "
                               f"{__file__}")
        text = text.replace(old, new)
    name = f"{__name__}_{bug.name.replace('-', '_')}"
    filename = f"{path} (seeded: {bug.name})"
    # The edited text is the module's source, for tracebacks and for inspect.
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    spec = importlib.util.spec_from_loader(name, loader=None, origin=filename)
    module = importlib.util.module_from_spec(spec)
    module.__file__ = filename
    sys.modules[name] = module
    exec(compile(text, filename, "exec"), module.__dict__)  # noqa: S102 - our own text
    return dataclasses.replace(
        module.VARIANT, name=PREFIX + bug.name, order=order,
        title=f"seeded bug {bug.name}: {bug.what}",
        source=f"{mainline.TREE}, with zswap-spec's seeded bug {bug.name} "
               f"(kernel/patches/seeded-bugs-7.3.patch)")


_built: dict[str, Variant] = {}


def seeded_variants() -> dict[str, Variant]:
    """Every seeded variant by name (`seeded-NAME`), made on first use: importing the
    variants package (every command does) compiles none of them."""
    if not _built:
        _built.update({PREFIX + b.name: _build(b, 1000 + i)
                       for i, b in enumerate(SEEDED_BUGS.values())})
    return _built


def seeded_variant(bug: str) -> Variant:
    return seeded_variants()[PREFIX + bug]


def __getattr__(name: str):
    if name == "SEEDED_VARIANTS":
        return seeded_variants()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

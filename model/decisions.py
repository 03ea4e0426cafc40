"""Each variant's decision for one page of a software compressor, as a function
of the compressor's results: what CrossHair checks contracts on and compares
variant against mainline (`crosshair diffbehavior`).

Input: the compressor's `ret` (`int`) and `req->dlen` (`unsigned int`), any
Python integers (converted as C converts them), writeback on or off.
Output: (outcome, stored length, reject counter), outcome one of the spec's
words (§6): "compressed", "raw" (stored as-is: length PAGE_SIZE, the page's
bytes), "corrupt" (stored with length PAGE_SIZE but not the page's bytes,
which INV-RAW forbids) or "reject"; the counter is the reject counter the
store moved, "" when none moves (several would be joined by "+": one page
never moves more than one).  Allocation never fails here.

The decision is not restated: `page_decision` runs the variant's own code
(`zswap_spec.model.variants`) through `Zswap.zswap_store` on a folio of one
page, the compressor a `ScriptedSoftware(ret, dlen)`, and reads the outcome
off the tree, the zsmalloc pool and the counters.  `DECISIONS` has one entry
per variant of `VARIANTS`, and each variant has a module-level entry point
`<name>_page(ret, dlen, wb)` for CrossHair (which takes a function by its
qualified name); a new variant gets both with no edit here.

The entry points of the variants that keep mainline's guarantees carry them
as contracts (PEP 316 postconditions): every variant but those in
`BREAKS_MAINLINE_CONTRACTS`, those whose proofs refute one of the theorems the
contracts state for one page (the manifest says which).  Under CrossHair `ret`, `dlen` and `wb` are symbolic and
the model's store path is executed symbolically; only the construction of
the `Zswap` (which does not depend on them) runs untraced, at Python's speed.
The variants' tests on `ret`, `dlen` and writeback stay symbolic; a length
the model turns into bytes (a compressed length below PAGE_SIZE, which the
scripted compressor writes out) CrossHair makes concrete, so there its
search samples: a bounded search, not a proof (proofs/ has the proofs).
"""

from __future__ import annotations

import sys

from .cint import U32_MASK
from .memcg import MemCgroup
from .scripted import ScriptedSoftware, marker_page
from .variants import VARIANTS
from .zswap import REJECT_COUNTERS, Folio, Zswap

__all__ = ["page_decision", "DECISIONS", "BREAKS_MAINLINE_CONTRACTS", "PAGE_SIZE",
           "entry_point_name", "c_int"]

Decision = tuple[str, int, str]
PAGE_SIZE = 4096  # the proofs cover 16K and 64K pages; these functions are for CrossHair
_PAGE = marker_page(1, PAGE_SIZE)

# The theorems that state, for every batch, what the contracts state for one page.
CONTRACT_THEOREMS = ("INV-RAW", "INV-WB", "INV-LEN", "INV-COUNTERS")


def _breaking_mainlines_contracts() -> frozenset:
    """The variants whose proofs (proofs/expected.toml, the reviewed answers of `zswap-spec
    prove`) do not prove every one of `CONTRACT_THEOREMS` under `any`: they cannot carry
    mainline's contracts.  A variant the manifest does not know yet carries none."""
    import tomllib
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "proofs" / "expected.toml"
    proved = {(e["variant"], e["theorem"]) for e in tomllib.loads(path.read_text())["expect"]
              if e["assumption"] == "any" and e["status"] == "proved"}
    return frozenset(v for v in VARIANTS if not all((v, t) in proved for t in CONTRACT_THEOREMS))


# The variants that break mainline's guarantees (`_keeps_mainline`), by the proofs: the
# posted series (v13, v14) and v14len.
BREAKS_MAINLINE_CONTRACTS = _breaking_mainlines_contracts()


def _build(variant: str, alg, wb) -> tuple[Zswap, MemCgroup]:
    zs = Zswap(variant, alg, page_size=PAGE_SIZE)
    return zs, MemCgroup("/t", zs.root, zswap_writeback=wb)


def _untraced(build, *args):
    """`build(*args)`, with CrossHair's tracing off if it is on: the objects are
    made at Python's speed; symbolic arguments are only stored, not read."""
    tracers = sys.modules.get("crosshair.tracers")
    if tracers is not None and tracers.is_tracing():
        with tracers.NoTracing():
            return build(*args)
    return build(*args)


def c_int(value: int) -> int:
    """`value` converted to `int` as `cint.s32` converts it, in arithmetic
    only: `s32` branches on the sign bit, which would double the paths
    CrossHair explores for nothing (the sign of `ret` matters only where a
    variant's code tests it)."""
    return ((value + (1 << 31)) & U32_MASK) - (1 << 31)


def page_decision(variant: str, ret: int, dlen: int, wb: bool) -> Decision:
    """`variant`'s decision for one page: `Zswap.zswap_store` of a one-page
    folio whose cgroup has writeback `wb`, the compressor reporting `ret`
    (converted to `int`) and `dlen` (converted to `unsigned int` by
    `ScriptedSoftware`)."""
    alg = ScriptedSoftware(c_int(ret), dlen)
    zs, memcg = _untraced(_build, variant, alg, wb)
    ok = zs.zswap_store(Folio((_PAGE,), 0, memcg))
    if not ok:
        moved = [c for c in REJECT_COUNTERS for _ in range(zs.counters[c])]
        return ("reject", 0, "+".join(moved))
    entry = zs.tree[0]
    if entry.length == PAGE_SIZE:
        same = zs.zpool.zs_obj_read(entry.handle) == _PAGE
        return ("raw" if same else "corrupt", PAGE_SIZE, "")
    return ("compressed", entry.length, "")


def entry_point_name(variant: str) -> str:
    """The module-level function of `variant`'s decision: `<name>_page`."""
    return "".join(c if c.isalnum() else "_" for c in variant) + "_page"


def _entry_point(variant: str):
    # CrossHair reads PEP 316 contracts from the source of the function, so the
    # contracts are written here, once, in the function every entry point is made of.
    def _keeps_mainline(ret: int, dlen: int, wb: bool) -> Decision:
        """The variant's decision for one page (`page_decision`), with what
        mainline guarantees whatever the compressor reports: an outcome word
        of the spec (never "corrupt"), as-is only with writeback, a stored
        length in (0, PAGE_SIZE], and a reject moves exactly one counter once.

        post: __return__[0] in ("compressed", "raw", "reject")
        post: __return__[0] != "raw" or wb
        post: __return__[0] == "reject" or 0 < __return__[1] <= PAGE_SIZE
        post: (__return__[0] == "reject") == (__return__[2] in REJECT_COUNTERS)
        """
        return page_decision(variant, ret, dlen, wb)

    def _breaks_mainline(ret: int, dlen: int, wb: bool) -> Decision:
        """The variant's decision for one page (`page_decision`)."""
        return page_decision(variant, ret, dlen, wb)

    decide = _breaks_mainline if variant in BREAKS_MAINLINE_CONTRACTS else _keeps_mainline
    decide.__name__ = decide.__qualname__ = entry_point_name(variant)
    return decide


DECISIONS = {}
for _name in VARIANTS:
    DECISIONS[_name] = globals()[entry_point_name(_name)] = _entry_point(_name)
del _name

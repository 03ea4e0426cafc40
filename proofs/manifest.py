"""The expected result of every (theorem, variant, assumption set), kept beside
the proofs in proofs/expected.toml, a manifest of kind "proofs" in the
project's one manifest format (support/manifest.py).  The answers do not
depend on the page size: every page size is checked against the same entry,
so a change of answer at any page size is a visible diff.
"""

from __future__ import annotations

from pathlib import Path

from zswap_spec.model.variants import VARIANTS
from zswap_spec.support import manifest as manifests
from zswap_spec.support.manifest import Field, ManifestError, Schema
from .assumptions import ASSUMPTIONS
from .theorems import THEOREMS

__all__ = ["MANIFEST", "KIND", "SCHEMA", "STATUSES", "load", "write", "mismatches"]

MANIFEST = Path(__file__).with_name("expected.toml")
KIND = "proofs"
# What an entry may expect.  `unknown` (the solver gave up) is never expected:
# it is a failure wherever it shows.
STATUSES = ("proved", "counterexample")

SCHEMA = manifests.register(Schema(
    kind=KIND,
    doc="The expected answer of every theorem for every variant and assumption set, "
        "at every page size (zswap-spec prove).",
    fields={
        "theorem": Field("str", choices=tuple(THEOREMS), doc="the property's ID in the spec"),
        "variant": Field("str", choices=tuple(VARIANTS)),
        "assumption": Field("str", choices=tuple(ASSUMPTIONS), doc="assumption set (spec §8)"),
        "status": Field("str", choices=STATUSES),
    },
    key=("theorem", "variant", "assumption"),
    fix="regenerate it with 'zswap-spec prove --update-manifest' or restore it from version control",
))

HEADER = [
    "Expected result of every theorem (by its property ID in spec/zswap-spec.md) for every",
    "variant and assumption set, at every page size.  Checked by `zswap-spec prove`,",
    "`zswap-spec check` and the tests; rewritten by `zswap-spec prove --update-manifest`.",
    "A changed entry is a changed claim.",
]


def load(path: Path = MANIFEST) -> dict[tuple[str, str, str], str]:
    """(theorem, variant, assumption) -> proved | counterexample."""
    return {(e["theorem"], e["variant"], e["assumption"]): e["status"]
            for e in manifests.load(path, KIND)}


def write(results, path: Path = MANIFEST) -> None:
    """The results of one page size (they are the same at every size) as the manifest."""
    entries = []
    for r in sorted(results, key=lambda r: (list(VARIANTS).index(r.variant),
                                            list(ASSUMPTIONS).index(r.assumption),
                                            list(THEOREMS).index(r.theorem))):
        if r.status not in STATUSES:
            raise ManifestError(f"{path}: not written: {r.theorem} / {r.variant} / {r.assumption} "
                                f"at PAGE_SIZE {r.page_size} is {r.status}, and an {r.status} "
                                f"answer is never expected; find out why first")
        entries.append({"theorem": r.theorem, "variant": r.variant, "assumption": r.assumption,
                        "status": r.status})
    manifests.write(path, KIND, entries, HEADER)


def mismatches(results, expected) -> list[tuple]:
    """(result, expected status or None) for every result that differs or is not expected."""
    out = []
    for r in results:
        want = expected.get((r.theorem, r.variant, r.assumption))
        if r.status != want:
            out.append((r, want))
    return out

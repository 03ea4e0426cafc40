"""The expected result of every (theorem, variant, assumption), kept beside
the proofs in proofs/expected.toml.  The answers do not depend on the page
size; every page size is checked against the same entry, so a change of
answer at any page size is a visible diff.
"""

from __future__ import annotations

from pathlib import Path

from zswap_spec.support.tomlfile import load_toml

__all__ = ["MANIFEST", "load", "write", "mismatches"]

MANIFEST = Path(__file__).with_name("expected.toml")


def load(path: Path = MANIFEST) -> dict[tuple[str, str, str], str]:
    """(variant, assumption, theorem) -> proved | counterexample."""
    data = load_toml(path, "proof manifest", "zswap-spec prove --update-manifest")
    out = {}
    for variant, by_assumption in data.items():
        for assumption, by_theorem in by_assumption.items():
            for theorem, status in by_theorem.items():
                out[(variant, assumption, theorem)] = status
    return out


def write(results, path: Path = MANIFEST) -> None:
    """The results of one page size (they are the same at every size) as the manifest."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for r in results:
        seen.setdefault((r.variant, r.assumption), {})[r.theorem] = r.status
    lines = ["# Expected result of every theorem for every variant and assumption set,",
             "# at every page size.  Checked by `zswap-spec prove` and the tests; rewritten by",
             "# `zswap-spec prove --update-manifest`.  A changed line is a changed claim.", ""]
    for (variant, assumption), by_theorem in seen.items():
        lines.append(f"[{variant}.{assumption}]")
        lines += [f'{theorem} = "{status}"' for theorem, status in by_theorem.items()]
        lines.append("")
    path.write_text("\n".join(lines))


def mismatches(results, expected) -> list[tuple]:
    """(result, expected status) for every result that differs or is unknown."""
    out = []
    for r in results:
        want = expected.get((r.variant, r.assumption, r.theorem))
        if r.status != want:
            out.append((r, want))
    return out

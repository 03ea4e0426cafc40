"""What `check-driver` is asked to check: a shared object (every driver it
exports, or `PATH@NAME` for one), a Python driver `module:attr`, or a
built-in `builtin:NAME` from the catalogue of spec/expected-drivers.toml
(the built-in drivers and the seeded-bug drivers, with the clause the kit
must find in each).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from zswap_spec import spec as spec_pkg
from zswap_spec.support import manifest as manifests
from .abi import TargetError, compiled_object
from .clauses import CLAUSES

__all__ = ["Target", "CatalogueEntry", "catalogue", "parse_target", "builtin_targets",
           "CATALOGUE_PATH"]

CATALOGUE_PATH = Path(spec_pkg.__file__).with_name("expected-drivers.toml")
_OBJECTS = {"builtin": "_builtin", "seeded": "_seeded"}

CATALOGUE_SCHEMA = manifests.register(manifests.Schema(
    kind="drivers",
    doc="The driver kit's built-in and seeded-bug drivers and what `zswap-spec check-driver` "
        "must find in each (spec/zswap-spec.md §11 lists the same catalogue).",
    fields={
        "name": manifests.Field("str", doc="the driver's name in its shared object"),
        "object": manifests.Field("str", choices=tuple(_OBJECTS),
                                  doc="builtin: a driver that must conform; seeded: a seeded bug"),
        "clause": manifests.Field("str", required=False, choices=tuple(CLAUSES),
                                  doc="the clause the kit must find (seeded-bug drivers)"),
        "also": manifests.Field("list[str]", required=False, choices=tuple(CLAUSES),
                                doc="clauses the kit may find as well"),
        "description": manifests.Field("str", doc="what the driver does"),
    },
    key=("name",),
    fix="restore spec/expected-drivers.toml from version control",
))


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    object: str  # "builtin" or "seeded"
    description: str
    clause: str = ""  # the clause the kit must find ("" for a conforming driver)
    also: tuple[str, ...] = ()  # clauses it may find as well

    @property
    def seeded_bug(self) -> bool:
        return self.object == "seeded"

    def as_expected(self, clauses: set[str]) -> bool:
        """Did the kit find what this entry says it must (and nothing else)?"""
        if not self.seeded_bug:
            return not clauses
        return self.clause in clauses and clauses <= {self.clause, *self.also}


@lru_cache(maxsize=1)
def catalogue() -> dict[str, CatalogueEntry]:
    entries = manifests.load(CATALOGUE_PATH, "drivers")
    for n, d in enumerate(entries, 1):
        if (d["object"] == "seeded") != bool(d.get("clause")):
            raise manifests.ManifestError(
                f"{CATALOGUE_PATH}: entry {n}: field 'clause' must be given for a seeded-bug driver "
                f"(object = \"seeded\") and only for one; {CATALOGUE_SCHEMA.fix}")
    return {d["name"]: CatalogueEntry(d["name"], d["object"], d["description"], d.get("clause", ""),
                                      tuple(d.get("also", ()))) for d in entries}


@dataclass(frozen=True)
class Target:
    """One driver to check."""

    kind: str  # "c" or "python"
    location: str  # the shared object's path, or module:attr
    name: str | None  # the driver's name in a shared object (None: the first, or all)
    label: str  # as the user wrote it
    entry: CatalogueEntry | None = field(default=None, compare=False)

    @property
    def seeded_bug(self) -> bool:
        return bool(self.entry and self.entry.seeded_bug)


def _builtin(name: str, label: str) -> Target:
    entry = catalogue().get(name)
    if entry is None:
        raise TargetError(f"{label}: no built-in driver {name!r}; 'zswap-spec check-driver --list' "
                          f"shows them")
    path = compiled_object(_OBJECTS[entry.object])
    return Target("c", str(path), name, label, entry)


def builtin_targets() -> list[Target]:
    return [_builtin(name, f"builtin:{name}") for name in catalogue()]


def _looks_like_path(text: str) -> bool:
    return "/" in text or text.endswith(".so") or ".so." in text or os.path.exists(text)


def parse_target(text: str) -> Target:
    """A target as written on the command line; TargetError naming the problem."""
    if text.startswith("builtin:"):
        return _builtin(text.removeprefix("builtin:"), text)
    head = text.split(":", 1)[0]
    if ":" in text and (head.endswith(".py") or not _looks_like_path(text)):
        module, _, attr = text.rpartition(":")
        if module and attr:
            return Target("python", text, None, text)
    path, _, name = text.partition("@")
    if not _looks_like_path(path):
        raise TargetError(f"{text}: not a shared object path, module:attr or builtin:NAME "
                          f"(see 'zswap-spec check-driver --list')")
    p = Path(path)
    if not p.exists():
        raise TargetError(f"{text}: no such file; give the path of a driver's shared object")
    if p.is_dir():
        raise TargetError(f"{text}: is a directory; give the path of a driver's shared object")
    return Target("c", str(p.resolve()), name or None, text)

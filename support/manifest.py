"""The project's manifests: one format, one schema language, one loader.

A manifest is a TOML file that records what a tool is expected to find, so
that a changed answer shows as a diff to review.  Every manifest has the same
shape::

    format = "zswap-spec-manifest/1"
    kind = "check"            # which schema its entries follow (SCHEMAS)

    [[expect]]                # one table per expected answer
    field = value ...

`SCHEMAS` declares, per kind, each entry field's type, whether it is
required, the values it may take, and which fields together identify an
entry (no two entries may share them).  `load()` checks a file against its
kind's schema and names the file, the entry and the field of anything wrong,
with the fix; `write()` writes entries back in the same format, atomically
(a crash leaves the old file or the new one, never half of either).
`schema_json()` gives a kind's schema as JSON Schema, for other tools.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FORMAT", "Field", "Schema", "SCHEMAS", "ManifestError", "load", "write", "schema_json"]

FORMAT = "zswap-spec-manifest/1"

_TYPES = {"str": str, "int": int, "bool": bool, "list[str]": list}


@dataclass(frozen=True)
class Field:
    type: str  # one of _TYPES
    required: bool = True
    choices: tuple = ()  # allowed values (each item's, for a list); empty: any
    doc: str = ""


@dataclass(frozen=True)
class Schema:
    kind: str
    doc: str
    fields: dict[str, Field]
    key: tuple[str, ...]  # fields that identify an entry
    fix: str  # how to regenerate or restore a file of this kind
    extra: dict = field(default_factory=dict)


SCHEMAS: dict[str, Schema] = {}


def register(schema: Schema) -> Schema:
    """Add a kind (each component registers its own manifest's schema)."""
    SCHEMAS[schema.kind] = schema
    return schema


class ManifestError(SystemExit):
    """A manifest that is missing or does not follow its schema: one line, the fix."""

    def __init__(self, message: str):
        super().__init__(f"zswap-spec: error: {message}")
        self.message = message


def _check_value(path: Path, where: str, name: str, f: Field, value) -> None:
    if not isinstance(value, _TYPES[f.type]) or (f.type == "int" and isinstance(value, bool)):
        raise ManifestError(f"{path}: {where}: field {name!r} must be {f.type}, not {value!r}")
    items = value if f.type == "list[str]" else [value]
    for item in items:
        if f.type == "list[str]" and not isinstance(item, str):
            raise ManifestError(f"{path}: {where}: field {name!r} must hold strings, not {item!r}")
        if f.choices and item not in f.choices:
            raise ManifestError(f"{path}: {where}: field {name!r} is {item!r}; "
                                f"use one of: {', '.join(map(str, f.choices))}")


def load(path: Path, kind: str) -> list[dict]:
    """The entries of a manifest of `kind`, checked against its schema."""
    schema = SCHEMAS[kind]
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{kind} manifest {path} is missing; {schema.fix}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{kind} manifest {path} cannot be read ({e}); {schema.fix}") from None
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"{kind} manifest {path} is not valid TOML ({e}); {schema.fix}") from None
    if data.get("format") != FORMAT:
        raise ManifestError(f"{path}: format is {data.get('format')!r}, not {FORMAT!r}; {schema.fix}")
    if data.get("kind") != kind:
        raise ManifestError(f"{path}: kind is {data.get('kind')!r}, not {kind!r}; "
                            f"is this the right file?")
    unknown = set(data) - {"format", "kind", "expect"}
    if unknown:
        raise ManifestError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}; {schema.fix}")
    entries = data.get("expect", [])
    if not isinstance(entries, list):
        raise ManifestError(f"{path}: 'expect' must be an array of tables ([[expect]]); {schema.fix}")
    seen: dict[tuple, int] = {}
    for n, entry in enumerate(entries, 1):
        where = f"entry {n}"
        if not isinstance(entry, dict):
            raise ManifestError(f"{path}: {where} is {entry!r}, not a table; write each entry as "
                                f"[[expect]] followed by its fields")
        for name in entry:
            if name not in schema.fields:
                raise ManifestError(f"{path}: {where}: unknown field {name!r}; fields of a {kind} "
                                    f"manifest: {', '.join(schema.fields)}")
        for name, f in schema.fields.items():
            if name not in entry:
                if f.required:
                    raise ManifestError(f"{path}: {where}: field {name!r} is missing")
                continue
            _check_value(path, where, name, f, entry[name])
        key = tuple(entry.get(k) for k in schema.key)
        if key in seen:
            raise ManifestError(f"{path}: {where} repeats entry {seen[key]} "
                                f"({', '.join(f'{k}={v!r}' for k, v in zip(schema.key, key))}); "
                                f"keep one")
        seen[key] = n
    return entries


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to a manifest")


def render(kind: str, entries: list[dict], header: list[str]) -> str:
    """The text of a manifest: header comments, format, kind, one table per entry."""
    schema = SCHEMAS[kind]
    lines = [f"# {line}" if line else "#" for line in header]
    lines += ["", f'format = "{FORMAT}"', f'kind = "{kind}"', ""]
    for entry in entries:
        lines.append("[[expect]]")
        for name in schema.fields:
            if name in entry and entry[name] is not None:
                lines.append(f"{name} = {_toml_value(entry[name])}")
        lines.append("")
    return "\n".join(lines)


def write(path: Path, kind: str, entries: list[dict], header: list[str]) -> None:
    """Write a manifest atomically; the entries are checked against the schema first."""
    path = Path(path)
    text = render(kind, entries, header)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        load(Path(tmp), kind)  # what is written must read back
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def schema_json(kind: str) -> dict:
    """A kind's schema as JSON Schema (draft 2020-12)."""
    schema = SCHEMAS[kind]
    types = {"str": {"type": "string"}, "int": {"type": "integer"}, "bool": {"type": "boolean"},
             "list[str]": {"type": "array", "items": {"type": "string"}}}
    props = {}
    for name, f in schema.fields.items():
        p = dict(types[f.type])
        if f.choices:
            (p["items"] if f.type == "list[str]" else p)["enum"] = list(f.choices)
        if f.doc:
            p["description"] = f.doc
        props[name] = p
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"zswap-spec {kind} manifest",
        "description": schema.doc,
        "type": "object",
        "required": ["format", "kind"],
        "additionalProperties": False,
        "properties": {
            "format": {"const": FORMAT},
            "kind": {"const": kind},
            "expect": {"type": "array", "items": {
                "type": "object", "additionalProperties": False, "properties": props,
                "required": [n for n, f in schema.fields.items() if f.required]}},
        },
    }

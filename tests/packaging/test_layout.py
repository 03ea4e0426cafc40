"""The layout the README's table promises: one top-level folder per component,
each installed under the import name pyproject.toml maps it to; the command
alone in cli/; the package root only the public API; no module over 800
lines; no import cycle among the installed modules, imports inside functions
included (they are where cycles hide)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_DIRS: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]
MAX_LINES = 800


def installed_modules() -> dict[str, Path]:
    """Every module the package installs, by its import name."""
    out = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            out[name] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the package's modules it imports, anywhere in its body."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, path.stem == "__init__", node)
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target
                           for a in node.names]
            for t in targets:
                while t and t not in modules and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in modules and t != name:
                    edges.add(t)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_among_the_installed_modules():
    modules = installed_modules()
    assert len(modules) > 50, "the package's modules were not found"
    assert cycles(import_graph(modules)) == []


def test_the_cycle_finder_finds_a_planted_cycle_hidden_in_a_function(tmp_path):
    (tmp_path / "a.py").write_text("from pkg.b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from .a import y\n")
    (tmp_path / "c.py").write_text("import pkg.a\n")
    modules = {"pkg.a": tmp_path / "a.py", "pkg.b": tmp_path / "b.py", "pkg.c": tmp_path / "c.py"}
    assert cycles(import_graph(modules)) == [["pkg.a", "pkg.b"]]


def test_every_component_folder_installs_under_its_own_name():
    for package, folder in PACKAGE_DIRS.items():
        assert (ROOT / folder / "__init__.py").is_file(), folder
        if package != "zswap_spec":
            # zswap_spec.X lives in X/ (nested packages in X's sub-folders)
            assert folder == "/".join(package.split(".")[1:]), (package, folder)
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]) == set(PACKAGE_DIRS)


def test_the_readme_layout_table_names_every_folder_and_its_import_name():
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([\w/]+)/` \| `([\w.]+)` \|", readme, re.M))
    for package, folder in PACKAGE_DIRS.items():
        if "/" not in folder:
            assert rows.get(folder) == package, f"README layout table: {folder}/ -> {package}"


def test_cli_holds_only_the_command_and_the_root_only_the_public_api():
    cli = ROOT / PACKAGE_DIRS["zswap_spec.cli"]
    assert not [p for p in cli.iterdir() if p.is_dir() and p.name != "__pycache__"]
    root = ROOT / PACKAGE_DIRS["zswap_spec"]
    assert {p.name for p in root.glob("*.py")} == {"__init__.py", "__main__.py"}
    import zswap_spec

    # the public names load on first use: each one resolves, and nothing else is public
    assert sorted(zswap_spec.__all__) == sorted(set(zswap_spec._WHERE))
    assert all(getattr(zswap_spec, n) is not None for n in zswap_spec.__all__)
    public = {n for n in vars(zswap_spec) if not n.startswith("_")
              and not isinstance(getattr(zswap_spec, n), type(zswap_spec))}
    assert public == set(zswap_spec.__all__)


@pytest.mark.parametrize("suffix", [".py", ".pyx", ".pxi"])
def test_no_source_file_is_over_800_lines(suffix):
    long = []
    for folder in set(PACKAGE_DIRS.values()):
        for path in (ROOT / folder).glob(f"*{suffix}"):
            n = len(path.read_text().splitlines())
            if n > MAX_LINES:
                long.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert long == []

"""The layer picture in docs/architecture.md is the package's import graph: no arrow missing, none extra."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "azsqlctl"
ARROW = re.compile(r"^\s*(\w+)(?:\[\"[^\"]*\"\])?\s*-->\s*(\w+)", re.M)
ROOT_MODULES = {"__init__", "atomic_file"}  # the package root: every layer may import it, it imports none


def documented_edges() -> set[tuple[str, str]]:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    diagrams = re.findall(r"```mermaid\n(.*?)```", page, re.S)
    assert len(diagrams) == 1, "docs/architecture.md has one layer diagram"
    return set(ARROW.findall(diagrams[0]))


def _layer(module: str) -> str:
    """``azsqlctl.cli.grant`` -> ``cli``; ``azsqlctl.__main__`` -> ``main``; the package root -> ``root``."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ROOT_MODULES:
        return "root"
    if parts[1] == "__main__":
        return "main"
    return parts[1]


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _imported(path: Path) -> list[str]:
    """Every azsqlctl module ``path`` imports, at the top or inside a function, relative imports resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            # `from azsqlctl import x` may name a layer (a sub-package): count x's layer, not the root's
            found += [f"{name}.{alias.name}" if name == "azsqlctl" and (PACKAGE / alias.name).is_dir() else name for alias in node.names]
    return [name for name in found if name == "azsqlctl" or name.startswith("azsqlctl.")]


def actual_edges() -> dict[tuple[str, str], str]:
    edges: dict[tuple[str, str], str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _layer(_module_name(path))
        for name in _imported(path):
            target = _layer(name)
            if target not in (source, "root"):
                edges.setdefault((source, target), f"{path.relative_to(ROOT)} imports {name}")
    return edges


def test_the_layer_diagram_is_the_import_graph() -> None:
    documented, actual = documented_edges(), actual_edges()
    assert len(documented) >= 8
    undocumented = {edge: where for edge, where in actual.items() if edge not in documented}
    assert not undocumented, f"imports that cross layers the diagram in docs/architecture.md does not allow: {undocumented}"
    stale = documented - set(actual)
    assert not stale, f"arrows in docs/architecture.md that no import makes any more (update the picture): {stale}"


def test_the_package_root_imports_no_layer_and_core_and_protocol_import_none_but_the_root() -> None:
    for path in [PACKAGE / "__init__.py", PACKAGE / "atomic_file.py"]:
        assert not [n for n in _imported(path) if _layer(n) != "root"], path
    documented = documented_edges()
    assert not [edge for edge in documented if edge[0] in ("core", "protocol")], documented


def test_a_wrong_way_import_would_be_caught() -> None:
    """The checker itself: core importing the CLI is an edge the diagram does not have."""
    assert ("core", "cli") not in documented_edges()
    assert _layer("azsqlctl.cli.app") == "cli" and _layer("azsqlctl") == "root" and _layer("azsqlctl.atomic_file") == "root"

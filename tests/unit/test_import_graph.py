"""No import circle among azsqlctl's core, cli and azure modules (read with ast: nothing is imported or run).

Among core, cli and azure: what runs when a module is imported, i.e. imports at module level outside
``if TYPE_CHECKING:`` (an import inside a function there is a deliberate deferral: the SDKs, a command's own
modules). Within core, stricter: imports inside functions count too, so a circle cannot hide in a deferral
(core/clouds.py and core/config.py imported each other that way).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("azsqlctl.core", "azsqlctl.cli", "azsqlctl.azure")


def _modules(packages: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in packages:
        base = ROOT.joinpath(*package.split("."))
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(body: list[ast.stmt], deferred: bool = False, typing: bool = False) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that run: at module level, and with ``deferred`` inside functions too; with
    ``typing`` the ones under ``if TYPE_CHECKING:`` as well (what a module names, not only what it runs)."""
    out: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
        elif isinstance(node, ast.If):
            if typing or not _is_type_checking(node.test):
                out += _imports(node.body, deferred, typing)
            out += _imports(node.orelse, deferred, typing)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                out += _imports(block, deferred, typing)
        elif deferred and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.With | ast.For | ast.While):
            out += _imports(node.body, deferred, typing)
    return out


def _edges(name: str, path: Path, known: set[str], deferred: bool = False, typing: bool = False) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8")).body, deferred, typing):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
            continue
        base = package
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        source = ".".join(p for p in (base if node.level else "", node.module or "") if p)
        for alias in node.names:  # `from pkg import mod` imports the submodule; `from mod import name` the module
            targets.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source)
    return {t for t in targets if t in known and t != name}


def import_graph(packages: tuple[str, ...] = PACKAGES, deferred: bool = False, typing: bool = False) -> dict[str, set[str]]:
    modules = _modules(packages)
    return {name: _edges(name, path, set(modules), deferred, typing) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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


def test_no_import_circle() -> None:
    graph = import_graph()
    assert len(graph) > 50 and "azsqlctl.core.settings" in graph["azsqlctl.core.whoami"]
    assert cycles(graph) == [], "import circle(s) among module-level imports"


def test_no_import_circle_in_core_even_deferred() -> None:
    graph = import_graph(("azsqlctl.core",), deferred=True)
    assert "azsqlctl.core.logs.recent" in graph["azsqlctl.core.doctor.checks"]  # a function-level import, counted
    assert cycles(graph) == [], "import circle(s) in core, imports inside functions included"


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_cycles_are_found(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_type_checking_and_function_imports_do_not_count(tmp_path: Path) -> None:
    code = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\ndef f():\n    from . import c\nfrom . import d\n"
    path = tmp_path / "a.py"
    path.write_text(code)
    assert _edges("p.a", path, {"p.a", "p.b", "p.c", "p.d"}) == {"p.d"}
    assert _edges("p.a", path, {"p.a", "p.b", "p.c", "p.d"}, deferred=True) == {"p.c", "p.d"}
    assert _edges("p.a", path, {"p.a", "p.b", "p.c", "p.d"}, deferred=True, typing=True) == {"p.b", "p.c", "p.d"}


# Each command's CLI modules; the rest of cli/ (app, runner, options, render, fleet_view) is shared.
COMMANDS = {
    "whoami": ("whoami",),
    "doctor": ("doctor",),
    "grant": ("grant", "grant_admin", "grant_export", "grant_fleet", "grant_render"),
    "logs": ("logs", "logs_fleet", "logs_options", "logs_render"),
    "sandbox": ("sandbox", "sandbox_apps"),
    "scaffold": ("scaffold",),
}


def _command_of(module: str) -> str | None:
    name = module.rpartition(".")[2]
    return next((command for command, names in COMMANDS.items() if name in names), None)


def test_no_cli_module_imports_another_commands() -> None:
    """A command's CLI reads alone: what two commands share lives in core, azure or the shared cli modules."""
    graph = import_graph(("azsqlctl.cli",), deferred=True)
    assert all(
        _command_of(m) is not None for m in graph if m.rpartition(".")[2] not in ("cli", "app", "runner", "options", "render", "fleet_view")
    ), "a new cli module: add it to COMMANDS (or to the shared ones)"
    crossings = {
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if _command_of(module) and _command_of(target) and _command_of(module) != _command_of(target)
    }
    assert crossings == set()


COMPOSITION_ROOT = "azsqlctl.azure.wiring"


def azure_crossings(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(cli module, azure module) for each cli import of an adapter other than the composition root."""
    return {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("azsqlctl.cli")
        for target in targets
        if target.startswith("azsqlctl.azure") and target != COMPOSITION_ROOT
    }


def test_cli_reaches_azure_only_through_the_composition_root() -> None:
    """Commands get their ports from azure.wiring: no cli module imports (or names, under TYPE_CHECKING) an adapter."""
    graph = import_graph(("azsqlctl.cli", "azsqlctl.azure"), deferred=True, typing=True)
    assert COMPOSITION_ROOT in graph["azsqlctl.cli.grant_export"]  # function-level imports are counted
    assert azure_crossings(graph) == set()


def test_an_adapter_imported_by_a_cli_module_is_a_crossing(tmp_path: Path) -> None:
    code = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from azsqlctl.azure.arm import ArmAdmins\ndef f():\n    from azsqlctl.azure import wiring, monitor\n"
    path = tmp_path / "x.py"
    path.write_text(code)
    known = {"azsqlctl.cli.x", "azsqlctl.azure", COMPOSITION_ROOT, "azsqlctl.azure.arm", "azsqlctl.azure.monitor"}
    graph = {"azsqlctl.cli.x": _edges("azsqlctl.cli.x", path, known, deferred=True, typing=True)}
    assert azure_crossings(graph) == {("azsqlctl.cli.x", "azsqlctl.azure.arm"), ("azsqlctl.cli.x", "azsqlctl.azure.monitor")}

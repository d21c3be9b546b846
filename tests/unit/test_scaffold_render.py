"""scaffold's pure core: inputs, deterministic rendering, header hashes, file statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from azsqlctl import __version__
from azsqlctl.core import queryhash
from azsqlctl.core.errors import UsageError
from azsqlctl.core.scaffold import Ci, Driver, FileStatus, ScaffoldInputs, Style, header_of, make_plan, render
from azsqlctl.core.scaffold.render import body_hash, split_header


def test_every_combination_renders_deterministically_with_a_valid_header():
    for inputs in ScaffoldInputs.combinations(ci=Ci.GITHUB, server="myserver.database.windows.net", database="orders"):
        first, second = render(inputs), render(inputs)
        assert [(f.path, f.content) for f in first] == [(f.path, f.content) for f in second]
        for f in first:
            version, digest = header_of(f.content) or ("", "")
            assert version == __version__, f.path
            assert digest == body_hash(f.body), f.path
            assert b"\r" not in f.content and f.content.endswith(b"\n")


def test_combinations_cover_the_matrix_and_refuse_async_sqlalchemy_on_mssql_python():
    combos = {(i.driver, i.style, i.use_async) for i in ScaffoldInputs.combinations()}
    assert len(combos) == 7
    assert (Driver.MSSQL_PYTHON, Style.SQLALCHEMY, True) not in combos
    with pytest.raises(UsageError, match="aioodbc"):
        ScaffoldInputs(driver=Driver.MSSQL_PYTHON, style=Style.SQLALCHEMY, use_async=True)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"package": "app.1db"}, "bad_package"),
        ({"package": "app.class"}, "bad_package"),
        ({"package": ""}, "bad_package"),
        ({"server": "a;b", "database": "x"}, "bad_server"),
        ({"server": "s", "database": "x'; DROP"}, "bad_database"),
        ({"server": "s"}, "bad_target"),
        ({"driver": "odbc"}, "bad_driver"),
    ],
)
def test_bad_inputs_are_usage_errors(kwargs, code):
    with pytest.raises(UsageError) as err:
        ScaffoldInputs(**kwargs)
    assert err.value.code == code


def test_files_follow_the_options():
    paths = [f.path for f in render(ScaffoldInputs(package="svc.data", style=Style.SQLALCHEMY, ci=Ci.AZURE_PIPELINES))]
    assert "svc/data/engine.py" in paths and "svc/data/connection.py" not in paths
    assert "azure-pipelines-svc-data.yml" in paths and "tests/test_svc_data.py" in paths
    assert not any(f.path.startswith(".github") for f in render(ScaffoldInputs(ci=Ci.NONE)))


def test_vendored_queryhash_is_the_tool_module_verbatim():
    vendored = next(f for f in render(ScaffoldInputs()) if f.path.endswith("queryhash.py"))
    source = Path(queryhash.__file__).read_bytes()
    assert vendored.body.endswith(source)
    assert vendored.body[: -len(source)] == b"# fmt: off\n"  # no noqa: the module is clean under any settings


def test_server_and_database_defaults_reach_the_settings():
    settings = next(
        f for f in render(ScaffoldInputs(server="prod.database.windows.net", database="orders")) if f.path.endswith("settings.py")
    )
    text = settings.content.decode()
    assert 'server: str = "prod.database.windows.net"' in text and 'database: str = "orders"' in text


def test_plan_tells_new_unchanged_outdated_and_edited_apart(tmp_path: Path):
    inputs = ScaffoldInputs(ci=Ci.NONE)
    files = render(inputs)
    assert {f.status for f in make_plan(tmp_path, inputs, files).files} == {FileStatus.NEW}
    for f in files:
        (tmp_path / f.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f.path).write_bytes(f.content)
    assert {f.status for f in make_plan(tmp_path, inputs, files).files} == {FileStatus.UNCHANGED}
    settings = tmp_path / "app/db/settings.py"
    settings.write_bytes(settings.read_bytes() + b"# mine\n")  # edited by hand: the header hash no longer matches
    tokens = tmp_path / "app/db/tokens.py"
    header, body = split_header(tokens.read_bytes())
    old_body = body.replace(b"margin: float = 300.0", b"margin: float = 60.0")  # an older template, header intact
    tokens.write_bytes(header.replace(body_hash(body), body_hash(old_body)).encode() + b"\n" + old_body)  # type: ignore[union-attr]
    statuses = {f.path: f.status for f in make_plan(tmp_path, inputs, files).files}
    assert statuses["app/db/settings.py"] is FileStatus.EDITED
    assert statuses["app/db/tokens.py"] is FileStatus.OUTDATED
    assert statuses["app/db/api.py"] is FileStatus.UNCHANGED
    headerless = tmp_path / "app/db/errors.py"
    headerless.write_bytes(split_header(headerless.read_bytes())[1])
    assert {f.path: f.status for f in make_plan(tmp_path, inputs, files).files}["app/db/errors.py"] is FileStatus.EDITED


def test_a_file_as_target_is_refused(tmp_path: Path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(UsageError) as err:
        make_plan(target, ScaffoldInputs(), render(ScaffoldInputs()))
    assert err.value.code == "target_is_file"


def _text(inputs: ScaffoldInputs, suffix: str) -> str:
    return next(f for f in render(inputs) if f.path.endswith(suffix)).content.decode()


@pytest.mark.parametrize("style", list(Style))
def test_github_workflow_pins_actions_uses_oidc_and_migrates_only_on_main(style):
    import re

    wf = _text(ScaffoldInputs(ci=Ci.GITHUB, style=style), ".yml")
    uses = re.findall(r"uses: (\S+)", wf)
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
    assert "secrets." not in wf and "client-secret" not in wf
    assert "permissions: {}" in wf and wf.count("id-token: write") == 2
    assert "azsqlctl grant --check --policy access.toml" in wf and "azsqlctl doctor --output json" in wf
    migrate = wf[wf.index("  migrate:") :]
    assert "if: github.event_name == 'push' && github.ref == 'refs/heads/main'" in migrate
    assert "environment: database-migrations" in migrate and "AZSQL_MIGRATOR_CLIENT_ID" in migrate
    assert ("alembic upgrade head" in migrate) == (style is Style.SQLALCHEMY)
    assert "AZSQL_MIGRATOR_CLIENT_ID" not in wf[: wf.index("  migrate:")]  # the migrator identity is used in that job only


def test_azure_pipeline_uses_service_connections_and_migrates_only_on_main():
    pipe = _text(ScaffoldInputs(ci=Ci.AZURE_PIPELINES), ".yml")
    migrate = pipe[pipe.index("- stage: migrate") :]
    assert "eq(variables['Build.SourceBranch'], 'refs/heads/main')" in migrate
    assert "environment: database-migrations" in migrate and "$(AZSQL_MIGRATOR_SERVICE_CONNECTION_ID)" in migrate
    assert "AZSQL_MIGRATOR" not in pipe[: pipe.index("- stage: migrate")]
    assert "AzureCLI" not in pipe and "AZSQLCTL_AUTH: azure-pipelines" in pipe
    assert "azsqlctl grant --check --policy access.toml" in pipe and "azsqlctl doctor --output json" in pipe

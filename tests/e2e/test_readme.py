"""The README cannot drift: its SDK snippet runs against the sandbox, its tables match the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.config import SETTINGS
from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.serve import Sandbox

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
runner = CliRunner()


def table(header: str) -> list[list[str]]:
    lines = README[README.index(header) :].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_sdk_snippet_runs_against_the_sandbox(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    found = re.search(r"python - <<'PY'\n(.*?)\nPY\n", README, re.S)
    assert found, "the README lost its SDK snippet"
    proc = subprocess.run([sys.executable, "-c", found[1]], capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    assert proc.stdout.strip() == f"('sandbox-operator@{tenant}', 'dbo')"


def test_configuration_table_matches_the_settings_table() -> None:
    rows = table("| flag | environment | file key | meaning |")
    by_env = {row[1].strip("`"): row for row in rows if row[1].startswith("`AZSQLCTL_")}
    for spec in SETTINGS:
        if not spec.flag and spec.env != "AZSQLCTL_DNS_SERVER":
            continue  # custom-cloud endpoints are documented under "Clouds"
        assert spec.env in by_env, f"{spec.env} missing from the README's configuration table"
        flag, _env, file_key, _meaning = by_env[spec.env]
        if spec.flag:
            assert f"`{spec.flag}`" in flag
        if spec.in_file:
            assert file_key == f"`{spec.key}`", spec
    documented = {env for env in by_env}
    assert documented <= {s.env for s in SETTINGS}, documented - {s.env for s in SETTINGS}
    assert all(s.env in README for s in SETTINGS)  # the custom-cloud variables too


def test_exit_code_table_matches_the_enum() -> None:
    rows = table("| code | name | when |")
    assert {(int(code), name.strip("`")) for code, name, _ in rows} == {(int(c), c.name) for c in ExitCode}


def test_help_takes_environment_names_from_the_settings_table() -> None:
    envs = {s.env for s in SETTINGS}
    for command in (["whoami"], ["doctor"], ["grant"], ["logs"], ["logs", "enable"], ["logs", "status"]):
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
        named = set(re.findall(r"\[env (AZSQLCTL_\w+)\]", result.stdout))
        assert named and named <= envs
        options = [line for line in result.stdout.splitlines() if re.match(r"^│\s+(\*\s+)?-", line)]
        assert options and not [line for line in options if "<bool>" in line or "<str>" in line], command
    cli = Path(__file__).resolve().parents[2] / "azsqlctl" / "cli"
    for name in sorted(p.name for p in cli.glob("*.py")):
        assert "AZSQLCTL_" not in (cli / name).read_text(encoding="utf-8"), f"hand-written environment name in cli/{name}"


def test_root_help_lists_only_registered_commands_and_completion_works() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    import typer.core
    import typer.main

    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    listed = set(re.findall(r"^│ (\w+)\s{2,}", result.stdout, flags=re.M)) - {"help"}
    assert listed == set(group.commands), listed  # the help comes from the registered commands, nothing more
    assert "--install-completion" in result.stdout
    shown = runner.invoke(app, ["--show-completion", "bash"])
    assert shown.exit_code == 0 and "complete" in shown.stdout


def _leaf_commands(command: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    sub = getattr(command, "commands", None)
    if isinstance(sub, dict):
        return [(path, command)] + [leaf for name, child in sorted(sub.items()) for leaf in _leaf_commands(child, (*path, name))]
    return [(path, command)]


def test_every_help_shows_each_bracketed_text_its_options_document() -> None:
    """Rich treats ``[...]`` as markup: an unescaped ``[default 1h]`` silently vanishes from --help."""
    import typer.main

    leaves = _leaf_commands(typer.main.get_command(app))
    assert len(leaves) > 8
    checked = 0
    for path, command in leaves:
        rendered = " ".join(runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"}).stdout.split())
        texts = [getattr(p, "help", None) or "" for p in getattr(command, "params", [])] + [getattr(command, "help", None) or ""]
        for text in texts:
            for bracketed in re.findall(r"\\?\[[^\]\n]*\]", text):
                shown = " ".join(bracketed.removeprefix("\\").split())
                assert shown in rendered, (path, shown)
                checked += 1
    assert checked > 20


def test_documented_defaults_survive_rich_markup() -> None:
    for path, default in [
        (["logs"], "[default 1h]"),
        (["logs"], "[default: found from the server's diagnostic setting]"),
        # the path is in the group's help (full width): in an option's column at 80 columns it was cut (issue 15)
        (["sandbox"], "Its state is ~/.local/share/azsqlctl/sandbox/state.json"),
        (["sandbox", "serve"], "[default: the sandbox's own: see azsqlctl sandbox --help]"),
        (["sandbox", "serve"], "[default: the state's, 3600]"),
        (["sandbox", "reset"], "[default: the sandbox's own: see azsqlctl sandbox --help]"),
    ]:
        rendered = " ".join(runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"}).stdout.split())
        assert default in rendered, (path, default)


def test_pytest_plugin_snippet_passes_in_a_project_of_its_own(tmp_path: Path) -> None:
    found = re.search(r"### Testing with the sandbox: the pytest plugin\n.*?```python\n(.*?)```\n", README, re.S)
    assert found, "the README lost its pytest-plugin snippet"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_snippet.py").write_text(found.group(1))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_"))}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_snippet.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout

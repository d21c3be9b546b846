"""The README cannot drift: its SDK snippet runs against the sandbox, its tables match the code."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
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


# --- every worked example runs as written, from its own fresh sandbox ---------------------------------
#
# A ```text block whose first command is `azsqlctl sandbox run …` is run as it stands; a block right
# after a paragraph naming `azsqlctl sandbox run [--scenario NAME] -- sh -c '…'` runs its commands inside
# that. Each gets a state of its own (XDG_DATA_HOME in a temporary directory). The transcript ($ lines,
# then stdout and stderr) must equal the block once ports, durations, times and random ids are
# normalised; a README line starting with "…" stands for any number of lines.

WRAPPER = re.compile(r"`(azsqlctl sandbox run (?:--scenario [\w-]+ )?-- sh -c '…')`")
NORMALISE = [
    (re.compile(r"localhost,\d+"), "localhost,PORT"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"\b\d+ ms\b"), "N ms"),
    (re.compile(r"\b\d+ days left"), "N days left"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "TIME"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+"), "TIME"),
    (re.compile(r"tracing ID of '[0-9A-Fa-f-]{36}'"), "tracing ID of 'ID'"),
    (re.compile(r'"item_id": "[0-9a-f-]{36}"'), '"item_id": "ID"'),
    (re.compile(r"Sandbox state \S+ reset"), "Sandbox state PATH reset"),
    (re.compile(r"in \d+ poll\(s\)"), "in N poll(s)"),  # logs --follow stopped by timeout: polls depend on the machine's speed
    (re.compile(r"\s+$", re.M), ""),
]


@dataclass(frozen=True)
class Example:
    line: int  # of the opening fence, for messages
    wrapper: str  # "" when the commands start their own sandbox
    commands: list[str]
    expected: str  # the whole block

    @property
    def scenario(self) -> str:
        found = re.search(r"--scenario ([\w-]+)", self.wrapper or self.commands[0])
        return found[1] if found else ""


def _examples() -> list[Example]:
    lines = README.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line != "```text" or not lines[i + 1].startswith("$ "):
            continue
        end = lines.index("```", i + 1)
        block = lines[i + 1 : end]
        commands = [b[2:] for b in block if b.startswith("$ ")]
        before = " ".join(lines[max(0, i - 3) : i])
        wrapped = WRAPPER.search(before)
        if commands[0].startswith("azsqlctl sandbox run ") and " -- sh -c " not in commands[0]:
            out.append(Example(i + 1, "", commands, "\n".join(block)))
        elif wrapped:
            out.append(Example(i + 1, wrapped[1], commands, "\n".join(block)))
    return out


def _normalise(text: str) -> str:
    for pattern, replacement in NORMALISE:
        text = pattern.sub(replacement, text)
    return text.strip("\n")


def _matches(expected: str, actual: str) -> bool:
    parts = []
    for line in _normalise(expected).splitlines():
        parts.append(r"(?:[^\n]*\n)*?" if line.lstrip().startswith("…") else re.escape(line) + r"\n")
    return re.fullmatch("".join(parts), _normalise(actual) + "\n") is not None


def _script(example: Example) -> str:
    steps = ["st=0"]
    for command in example.commands:
        steps.append(f"printf '%s\\n' {shlex.quote('$ ' + command)}")
        steps.append(f"(exit $st); {{ {command} ; }} 2>&1; st=$?")
    return "\n".join(steps) + "\n"


def _run(example: Example, tmp: Path) -> str:
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "azsqlctl").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m azsqlctl "$@"\n')
    (bin_dir / "azsqlctl").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_", "SSL_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", XDG_DATA_HOME=str(tmp / "xdg"), NO_COLOR="1")
    env.pop("COLUMNS", None)  # piped output: azsqlctl's own page width, as when the README's outputs were captured
    script = _script(example)
    if example.wrapper:
        prefix = example.wrapper.removesuffix(" -- sh -c '…'").split()[1:]
        cmd = [sys.executable, "-m", "azsqlctl", *prefix, "--", "sh", "-c", script]
    else:
        cmd = ["sh", "-c", script]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=300)
    return proc.stdout + proc.stderr


EXAMPLES = _examples()


def test_the_worked_examples_are_found_and_cover_every_scenario() -> None:
    from azsqlctl.cli.sandbox import ScenarioName
    from azsqlctl.sandbox.scenarios import SCENARIOS

    assert {s.value for s in SCENARIOS} == {s.value for s in ScenarioName}  # the CLI's choices are the scenarios
    assert len(EXAMPLES) >= 10, [e.line for e in EXAMPLES]
    assert {e.scenario for e in EXAMPLES} >= {s.value for s in SCENARIOS}
    for scenario in SCENARIOS:
        assert f"--scenario {scenario.value}" in README


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{e.line}" for e in EXAMPLES])
def test_a_worked_example_prints_what_the_readme_shows(example: Example, tmp_path: Path) -> None:
    actual = _run(example, tmp_path)
    assert _matches(example.expected, actual), (
        f"README line {example.line}:\n--- README\n{_normalise(example.expected)}\n--- actual\n{_normalise(actual)}"
    )


def test_scenarios_load_through_the_plugins_control_and_are_undone(sandbox: Sandbox) -> None:
    from azsqlctl.testing.control import SandboxControl

    control = SandboxControl(sandbox)
    control.load_scenario("fleet")
    names = sandbox.store.read(lambda s: {d.name: d.available for d in s.server.databases})
    assert names == {"appdb": True, "tenant_a": True, "tenant_b": True, "tenant_c": False}
    assert "shop-web" in control.identities()
    control.load_scenario("no-monitoring")
    assert sandbox.store.read(lambda s: s.monitor.auditing.state) == "Disabled"
    control.reset()
    assert sandbox.store.read(lambda s: [d.name for d in s.server.databases]) == ["appdb"]
    assert sandbox.store.read(lambda s: s.monitor.auditing.state) == "Enabled"


def test_a_scenario_never_touches_an_existing_state_and_its_temporary_state_goes_away(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    existing = tmp_path / "mine.json"
    existing.write_text("{}")
    refused = subprocess.run([sys.executable, "-m", "azsqlctl", "sandbox", "run", "--scenario", "fleet", "--state", str(existing), "--", "true"],
                             capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "--scenario starts from a fresh state" in refused.stderr and existing.read_text() == "{}"
    script = 'printf \'%s\\n\' "$AZSQLCTL_CA_BUNDLE"; azsqlctl() { python -m azsqlctl "$@"; }'
    ran = subprocess.run([sys.executable, "-m", "azsqlctl", "sandbox", "run", "--scenario", "web-app", "--", "sh", "-c", script],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    bundle = Path(ran.stdout.strip())
    assert "azsqlctl-scenario-" in str(bundle) and not bundle.exists()  # a temporary state, removed afterwards
    assert not (tmp_path / "xdg").exists()  # the default state was never touched

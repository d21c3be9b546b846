"""The documentation cannot drift: README.md and every page under docs/ run as written.

Every example (a transcript, a shell block, a Python block) either runs here against a fresh
sandbox, or is run by a named test below, or says in the markdown why it cannot run; the tables
match the code, and the CLI's help texts show what their options document.
"""

from __future__ import annotations

import functools
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
from tests import cli_fork
from tests.conftest import seed_keys

ROOT = Path(__file__).resolve().parents[2]
# README.md and every docs page, by path relative to the repository (the site's CLI reference is generated: no examples).
PAGES = {
    path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
}
DOCS = "\n".join(PAGES.values())
runner = CliRunner()


@functools.cache
def help_text(*path: str) -> str:
    """`azsqlctl <path> --help` at 400 columns (no option cut): rendered once per path for the tests below that read it."""
    return runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"}).stdout


def table(header: str) -> list[list[str]]:
    assert DOCS.count(header) == 1, f"one table headed {header!r} in the docs"
    lines = DOCS[DOCS.index(header) :].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_sdk_snippet_runs_against_the_sandbox(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    found = re.search(r"python - <<'PY'\n(.*?)\nPY\n", snippet("sdk-snippet").text + "\n", re.S)
    assert found, "the docs lost their SDK snippet"
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
        assert spec.env in by_env, f"{spec.env} missing from the configuration table (docs/configuration.md)"
        flag, _env, file_key, _meaning = by_env[spec.env]
        if spec.flag:
            assert f"`{spec.flag}`" in flag
        if spec.in_file:
            assert file_key == f"`{spec.key}`", spec
    documented = {env for env in by_env}
    assert documented <= {s.env for s in SETTINGS}, documented - {s.env for s in SETTINGS}
    assert all(s.env in PAGES["docs/configuration.md"] for s in SETTINGS)  # the custom-cloud variables too


def test_exit_code_table_matches_the_enum() -> None:
    rows = table("| code | name | when |")
    assert {(int(code), name.strip("`")) for code, name, _ in rows} == {(int(c), c.name) for c in ExitCode}


def test_help_takes_environment_names_from_the_settings_table() -> None:
    envs = {s.env for s in SETTINGS}
    for command in (["whoami"], ["doctor"], ["grant"], ["logs"], ["logs", "enable"], ["logs", "status"]):
        shown = help_text(*command)
        named = set(re.findall(r"\[env (AZSQLCTL_\w+)\]", shown))
        assert named and named <= envs
        options = [line for line in shown.splitlines() if re.match(r"^│\s+(\*\s+)?-", line)]
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
    # --show-completion names no shell (docs/configuration.md): it detects the shell it runs under from its parent
    # processes, so it runs under bash here, not under whatever started pytest (none, for a job in the background); the
    # second command keeps bash from exec'ing the first in its place.
    shown = subprocess.run(
        ["bash", "-c", f"{shlex.quote(sys.executable)} -m azsqlctl --show-completion; exit $?"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "complete -o default -F _azsqlctl_completion azsqlctl" in shown.stdout


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
        rendered = " ".join(help_text(*path).split())
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
        rendered = " ".join(help_text(*path).split())
        assert default in rendered, (path, default)


def test_pytest_plugin_snippet_passes_in_a_project_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_snippet.py").write_text(snippet("pytest-plugin-snippet").text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_"))}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_snippet.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout


# --- every example runs as written, from its own fresh sandbox, or says why it cannot -----------------
#
# An example is a fenced block: a ```text block whose first line is a `$ ` command (a transcript), or a
# ```bash / ```sh / ```console / ```python block. Each is one of:
#
# * run here: a transcript whose first command is `azsqlctl sandbox run …` runs as it stands; one right
#   after a paragraph naming `azsqlctl sandbox run [--scenario NAME] -- sh -c '…'` runs its commands inside
#   that. Each gets a state of its own (XDG_DATA_HOME in a temporary directory) and a working directory of
#   its own holding `examples/` and the page's files (below). The transcript ($ lines, then stdout and
#   stderr) must equal the block once ports, durations, times and random ids are normalised; a line
#   starting with "…" stands for any number of lines.
# * `<!-- run by: NAME -->` on the line before the fence: a test below runs it (snippet(NAME)).
# * `<!-- not run: WHY -->` on the line before the fence: it cannot run here (real Azure, a package
#   install, a server that runs until Ctrl-C …). NOT_RUN counts them: a new one is a decision, not a slip.
#
# `<!-- file: PATH -->` before a fence makes the block a file: it is written to PATH in the working
# directory of every example on its page (a policy the next transcript reads, an app module).

WRAPPER = re.compile(r"`(azsqlctl sandbox run (?:--scenario [\w-]+ )?-- sh -c '…')`")
MARKER = re.compile(r"^\s*<!-- (not run|run by|file): (.+?) -->$")
FENCE = re.compile(r"^(\s*)```(\w*)$")
EXAMPLE_LANGUAGES = {"bash", "sh", "console", "shell", "python"}
RUN_BY = {"sdk-snippet", "pytest-plugin-snippet"}  # each consumed by the test of that name below
NOT_RUN = 9  # examples the docs mark `not run` (each with its reason): change it with the markdown, deliberately
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
class Block:
    page: str  # README.md or docs/….md
    line: int  # of the opening fence, for messages
    language: str
    marker: tuple[str, str] | None  # ("not run" | "run by" | "file", its text)
    before: str  # the lines before the fence (a wrapper paragraph)
    text: str  # the block's content, its indentation removed

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def is_example(self) -> bool:
        transcript = self.language == "text" and self.text.startswith("$ ")
        return transcript or self.language in EXAMPLE_LANGUAGES


@dataclass(frozen=True)
class Example:
    block: Block
    wrapper: str  # "" when the commands start their own sandbox
    commands: list[str]

    @property
    def expected(self) -> str:
        return self.block.text

    @property
    def scenario(self) -> str:
        found = re.search(r"--scenario ([\w-]+)", self.wrapper or self.commands[0])
        return found[1] if found else ""


def _blocks(page: str, text: str) -> list[Block]:
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence or not fence[2]:
            i += 1
            continue
        indent = fence[1]
        end = next(j for j in range(i + 1, len(lines)) if lines[j] == f"{indent}```")
        body = "\n".join(line.removeprefix(indent) for line in lines[i + 1 : end])
        marked = MARKER.match(lines[i - 1]) if i else None
        marker = (marked[1], marked[2]) if marked else None
        out.append(Block(page, i + 1, fence[2], marker, " ".join(lines[max(0, i - 4) : i]), body))
        i = end + 1
    return out


BLOCKS = [block for page, text in PAGES.items() for block in _blocks(page, text)]


def _example(block: Block) -> Example | None:
    if block.language != "text" or not block.text.startswith("$ ") or block.marker:
        return None
    commands = [line[2:] for line in block.text.splitlines() if line.startswith("$ ")]
    wrapped = WRAPPER.search(block.before)
    if commands[0].startswith("azsqlctl sandbox run ") and " -- sh -c " not in commands[0]:
        return Example(block, "", commands)
    if wrapped:
        return Example(block, wrapped[1], commands)
    return None


EXAMPLES = [example for example in map(_example, BLOCKS) if example]


def snippet(name: str) -> Block:
    found = [b for b in BLOCKS if b.marker == ("run by", name)]
    assert len(found) == 1, f"one block marked `<!-- run by: {name} -->` in the docs, found {[b.where for b in found]}"
    return found[0]


def test_every_example_runs_or_says_why_it_cannot() -> None:
    run = {example.block.where for example in EXAMPLES}
    unaccounted, not_run, run_by = [], [], []
    for block in BLOCKS:
        if block.marker and block.marker[0] == "not run":
            assert len(block.marker[1]) > 10, f"{block.where}: say why it cannot run"
            not_run.append(block.where)
        elif block.marker and block.marker[0] == "run by":
            assert block.marker[1] in RUN_BY, f"{block.where}: no test runs {block.marker[1]!r}"
            run_by.append(block.marker[1])
        elif block.marker:
            assert block.language != "text" or not block.text.startswith("$ "), f"{block.where}: a transcript is not a file"
        elif block.is_example and block.where not in run:
            unaccounted.append(block.where)
    assert not unaccounted, f"examples that neither run nor say why they cannot (<!-- not run: WHY -->): {unaccounted}"
    assert sorted(run_by) == sorted(RUN_BY)
    assert len(not_run) == NOT_RUN, f"{len(not_run)} examples are marked not run, NOT_RUN says {NOT_RUN}: {not_run}"
    assert len(EXAMPLES) >= 27, [e.block.where for e in EXAMPLES]
    print(f"docs examples: {len(EXAMPLES)} run here, {len(run_by)} run by their own test, {len(not_run)} marked not run")


def test_the_worked_examples_cover_every_scenario_and_every_page_with_examples() -> None:
    from azsqlctl.cli.sandbox import ScenarioName
    from azsqlctl.sandbox.scenarios import SCENARIOS

    assert {s.value for s in SCENARIOS} == {s.value for s in ScenarioName}  # the CLI's choices are the scenarios
    assert {e.scenario for e in EXAMPLES} >= {s.value for s in SCENARIOS}
    for scenario in SCENARIOS:
        assert f"--scenario {scenario.value}" in DOCS
    pages = {e.block.page for e in EXAMPLES}
    assert pages >= {"README.md", "docs/doctor.md", "docs/grant.md", "docs/whoami.md", "docs/logs.md", "docs/scaffold.md"}, pages


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


def _workdir(example: Example, tmp: Path) -> Path:
    """The example's working directory: the repository's examples/ and the files its page declares."""
    work = tmp / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    for block in BLOCKS:
        if block.page == example.block.page and block.marker and block.marker[0] == "file":
            target = work / block.marker[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text + "\n", encoding="utf-8")
    return work


def _run(example: Example, tmp: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_", "SSL_"))}
    env.update(PATH=f"{cli_fork.BIN_DIR}{os.pathsep}{env['PATH']}", XDG_DATA_HOME=str(tmp / "xdg"), NO_COLOR="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))  # the working directory is not the repository
    env.pop("COLUMNS", None)  # piped output: azsqlctl's own page width, as when the docs' outputs were captured
    script = _script(example)
    if example.wrapper:
        prefix = example.wrapper.removesuffix(" -- sh -c '…'").split()[1:]
        cmd = [*cli_fork.COMMAND, *prefix, "--", "sh", "-c", script]
    else:
        cmd = ["sh", "-c", script]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=_workdir(example, tmp), timeout=300)
    return proc.stdout + proc.stderr


@pytest.mark.usefixtures("cli_fork")  # `azsqlctl` on the examples' PATH: tests/cli_fork.py (no interpreter start each)
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.block.where for e in EXAMPLES])
def test_an_example_prints_what_the_docs_show(example: Example, tmp_path: Path, material_dir: Path) -> None:
    if not example.scenario:  # the default state's keys, as a second run finds them (six RSA keys less per example)
        seed_keys(material_dir, tmp_path / "xdg" / "azsqlctl" / "sandbox" / ".azsqlctl-sandbox")
    actual = _run(example, tmp_path)
    assert _matches(example.expected, actual), (
        f"{example.block.where}:\n--- docs\n{_normalise(example.expected)}\n--- actual\n{_normalise(actual)}"
    )


@pytest.mark.slow  # ~3-5 s: MkDocs Material renders every page (.ci/run builds the site the same way)
def test_the_site_builds_strictly_with_a_generated_reference_of_every_command(tmp_path: Path) -> None:
    import typer.main

    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, f"mkdocs build --strict (the docs extra: pip install -e '.[docs]'):\n{proc.stderr[-4000:]}"
    reference = (site / "reference" / "index.html").read_text(encoding="utf-8")
    for path, _command in _leaf_commands(typer.main.get_command(app)):
        title = " ".join(("azsqlctl", *path))
        assert f"$ {title} --help" in reference, f"{title} missing from the generated CLI reference"
    assert "--ensure-entra-admin" in reference and "--scenario" in reference  # the options themselves, not only titles
    for page in PAGES:
        if page.startswith("docs/") and page != "docs/index.md":
            assert (site / page.removeprefix("docs/").removesuffix(".md") / "index.html").exists(), page


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


@pytest.mark.usefixtures("cli_fork")  # the same `python -m azsqlctl` processes, without an interpreter start each
def test_a_scenario_never_touches_an_existing_state_and_its_temporary_state_goes_away(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    existing = tmp_path / "mine.json"
    existing.write_text("{}")
    refused = subprocess.run([*cli_fork.COMMAND, "sandbox", "run", "--scenario", "fleet", "--state", str(existing), "--", "true"],
                             capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "--scenario starts from a fresh state" in refused.stderr and existing.read_text() == "{}"
    script = 'printf \'%s\\n\' "$AZSQLCTL_CA_BUNDLE"; azsqlctl() { python -m azsqlctl "$@"; }'
    ran = subprocess.run([*cli_fork.COMMAND, "sandbox", "run", "--scenario", "web-app", "--", "sh", "-c", script],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    bundle = Path(ran.stdout.strip())
    assert "azsqlctl-scenario-" in str(bundle) and not bundle.exists()  # a temporary state, removed afterwards
    assert not (tmp_path / "xdg").exists()  # the default state was never touched

"""`azsqlctl sandbox serve|run|reset`: the local Azure SQL + Entra stand-in.

Bad input (a state file that is not .json/.toml, a directory, malformed, of the wrong
shape; a port in use; an --env-file that cannot be written) is refused with one
Error:/Hint: and exit 2, before or while starting, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import options as o
from . import sandbox_apps

if TYPE_CHECKING:
    from azsqlctl.sandbox.launch import Ready
    from azsqlctl.sandbox.scenarios import Scenario
    from azsqlctl.sandbox.serve import Sandbox

    from .render import Result

    # --as: the environment a job's process sees over the sandbox's (variables set, variables unset)
    Overlay = Callable[[Sandbox], tuple[dict[str, str], tuple[str, ...]]]

app = typer.Typer(
    help="A local Azure SQL + Entra ID stand-in driven by the real SDKs and ODBC driver.\n\n"
    "Its state is ~/.local/share/azsqlctl/sandbox/state.json ($XDG_DATA_HOME/azsqlctl/sandbox/state.json when that is set) "
    "unless --state names another file.",
    no_args_is_help=True,
)
app.add_typer(sandbox_apps.app, name="app")

StateFile = Annotated[
    Path | None,
    typer.Option(
        "--state",
        metavar="FILE",
        help="State file (.json or .toml), created when missing \\[default: the sandbox's own: see azsqlctl sandbox --help]",
        show_default=False,
    ),
]
Port = Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port")]


class ScenarioName(StrEnum):  # the names of azsqlctl.sandbox.scenarios.Scenario (a test keeps them equal)
    failed_logins = "failed-logins"
    fleet = "fleet"
    follow = "follow"
    no_monitoring = "no-monitoring"
    web_app = "web-app"


ScenarioOption = Annotated[
    ScenarioName | None,
    typer.Option(
        "--scenario",
        metavar="NAME",
        help="Start from a fresh state set up for a docs example: failed-logins, fleet, follow, no-monitoring or "
        "web-app "
        "(in a temporary directory unless --state names a file that does not exist yet)",
        show_default=False,
    ),
]


# `sandbox run` exits with its command's code, so a command that cannot be found is 127, as in a shell.
COMMAND_NOT_FOUND = 127
COMMAND_NOT_EXECUTABLE = 126  # POSIX shells: found, but not executable


class EnvFormat(StrEnum):
    shell = "shell"
    docker = "docker"


@app.command("serve")
def serve_command(
    state: StateFile = None,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            metavar="FILE",
            help="Also write the client environment here as KEY=value lines (mode 0600: it holds IDENTITY_HEADER)",
            show_default=False,
        ),
    ] = None,
    env_format: Annotated[
        EnvFormat,
        typer.Option(
            "--env-format",
            metavar="FORMAT",
            help="shell: values quoted where needed, for `set -a; . FILE`; docker: raw values, for `docker run --env-file`",
        ),
    ] = EnvFormat.shell,
    tds_port: Annotated[int, typer.Option("--tds-port", metavar="PORT", min=0, max=65535, help="TDS (SQL) port; 0 picks a free one")] = 0,
    identity_port: Annotated[
        int, typer.Option("--identity-port", metavar="PORT", min=0, max=65535, help="Managed-identity endpoint port")
    ] = 0,
    arm_port: Annotated[int, typer.Option("--arm-port", metavar="PORT", min=0, max=65535, help="ARM (HTTPS) port")] = 0,
    token_lifetime: Annotated[
        int | None,
        typer.Option(
            "--token-lifetime",
            metavar="SECONDS",
            min=60,
            help="Token lifetime in seconds \\[default: the state's, 3600]",
            show_default=False,
        ),
    ] = None,
    audit_rows: Annotated[
        int | None,
        typer.Option(
            "--audit-retention-rows", metavar="N", min=1, help="Keep at most this many audit rows (default 100000)", show_default=False
        ),
    ] = None,
    audit_days: Annotated[
        float | None,
        typer.Option(
            "--audit-retention-days",
            metavar="DAYS",
            min=0.0,
            help="Drop audit rows ingested more than this many days ago (default 30)",
            show_default=False,
        ),
    ] = None,
    logs_port: Annotated[
        int, typer.Option("--logs-port", metavar="PORT", min=0, max=65535, help="Log Analytics query API (HTTPS) port")
    ] = 0,
    scenario: ScenarioOption = None,
    ingestion_delay: Annotated[
        float,
        typer.Option(
            "--ingestion-delay",
            metavar="SECONDS",
            min=0.0,
            max=3600.0,
            help="Seconds before an audit row is visible to Log Analytics queries (Azure: minutes)",
        ),
    ] = 3.0,
    all_cpus: Annotated[
        bool,
        typer.Option(
            "--all-cpus",
            help="Let the sandbox's threads run on every CPU (default: one CPU, where its interpreter lock costs least;"
            " docs/performance.md has the figures)",
        ),
    ] = False,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM; print the environment clients need."""
    from .runner import run

    def action(fmt: str) -> int:
        from azsqlctl.sandbox.launch import SandboxRequest, prepared, ready
        from azsqlctl.sandbox.serve import check_env_file, serve

        if env_file is not None:
            check_env_file(env_file)  # before the state file is created or a port bound
        request = SandboxRequest(
            state=state, scenario=_scenario(scenario), tds_port=tds_port, identity_port=identity_port, arm_port=arm_port,
            logs_port=logs_port, token_lifetime=token_lifetime, audit_rows=audit_rows, audit_days=audit_days,
            ingestion_delay=ingestion_delay,
        )  # fmt: skip
        with prepared(request) as sandbox:
            serve(sandbox, env_file, lambda sb: _announce(ready(sb, env_file), fmt), env_format=env_format.value, all_cpus=all_cpus)
        return 0

    run("sandbox serve", output, debug, action)


def _scenario(name: ScenarioName | None) -> Scenario | None:
    from azsqlctl.sandbox.scenarios import Scenario

    return Scenario(name.value) if name is not None else None


def _announce(ready: Ready, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps({"version": 1, "command": "sandbox serve", "event": "ready", "data": ready.as_json()}), flush=True)
        return
    from rich.table import Table

    from azsqlctl.sandbox.serve import env_file_text

    from .render import console, shown

    sys.stdout.write(env_file_text(dict(ready.env)))  # quoted where needed, so `eval "$(...)"` works too
    sys.stdout.flush()
    con = console(stderr=True)
    table = Table(title="Sandbox identities", title_justify="left")
    for col in ("name", "kind", "client id", "object id", "role"):
        table.add_column(col)
    for ident in ready.identities:
        users = ident.database_user_in
        role = "Entra admin" if ident.entra_admin else (f"user in {', '.join(users)}" if users else "not a database user")
        kind = ident.kind + (" (system-assigned)" if ident.system_assigned else "")
        table.add_row(*(shown(cell) for cell in (ident.name, kind, ident.client_id, ident.object_id, role)))
    con.print(table)
    where = f"; environment written to {ready.env_file}" if ready.env_file else ""
    con.print(f"Sandbox ready (state {shown(ready.state)}{shown(where)}). Ctrl-C to stop.")


@app.command("reset")
def reset_command(
    state: StateFile = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Reset without asking")] = False,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Put the sandbox back to its defaults: rewrite the state file, drop its table data and audit trail."""
    from .runner import run

    def action(fmt: str) -> Result[dict[str, object]] | int:
        from azsqlctl.core.errors import UsageError
        from azsqlctl.sandbox.store import default_state_path

        from .render import Result

        path = state or default_state_path()
        if not yes:
            if fmt == "json" or not sys.stdin.isatty():
                raise UsageError(
                    f"sandbox reset would overwrite {path}", "rerun with --yes to reset (no terminal to ask on)", code="needs_confirmation"
                )
            if not typer.confirm(
                f"Reset the sandbox state {path} to its defaults (its table data and audit trail too)?", default=False, err=True
            ):
                print("Nothing changed.", file=sys.stderr)
                return 1
        from azsqlctl.sandbox.launch import reset

        done = reset(path)
        data: dict[str, object] = {"state": str(done.state), "removed": [str(p) for p in done.removed]}
        return Result("sandbox reset", data, human=lambda _: print(f"Sandbox state {path} reset to its defaults."))

    run("sandbox reset", output, debug, action)


@app.command("run", context_settings={"allow_extra_args": True, "allow_interspersed_args": False})
def run_command(
    command: Annotated[
        list[str] | None, typer.Argument(metavar="COMMAND", help="The command to run, after --", show_default=False, click_type=o.PLAIN)
    ] = None,
    state: StateFile = None,
    scenario: ScenarioOption = None,
    kill_after: Annotated[
        float,
        typer.Option(
            "--kill-after",
            metavar="SECONDS",
            min=0.1,
            max=3600.0,
            help="Seconds a signalled COMMAND gets before SIGKILL (default 10)",
            show_default=False,
        ),
    ] = 10.0,
    as_job: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="SPEC",
            help="Run COMMAND with the environment of a CI job or pod: a GitHub job (github:ORG/REPO\\[@REF], "
            "github:ORG/REPO followed by :environment:NAME or :pull_request), an AKS pod (aks:NAMESPACE/ACCOUNT) "
            "or an Azure Pipelines job: pipelines:ORG/PROJ/CONN",
            show_default=False,
        ),
    ] = None,
    as_client_id: Annotated[
        str | None,
        typer.Option(
            "--as-client-id",
            metavar="GUID",
            help="AZURE_CLIENT_ID for --as \\[default: the app whose federated credential matches]",
            show_default=False,
        ),
    ] = None,
    debug: o.Debug = False,
) -> None:
    """Start the sandbox, run COMMAND with its environment, stop, and exit with COMMAND's code (127: not found, 126: not executable).

    Options go before COMMAND (or before --); everything from COMMAND on is passed to it untouched.

    COMMAND runs in its own process group (at a terminal, the foreground job). SIGINT/SIGTERM/SIGHUP are forwarded to the whole group, which gets SIGKILL --kill-after seconds later (or on a second signal); whatever COMMAND leaves running in its group is ended too. Exit code: COMMAND's, or 128 + the signal it died of (130, 143, 137)."""
    from .runner import run

    def action(fmt: str) -> int:
        import shutil

        from azsqlctl.core.errors import NotFound, UsageError
        from azsqlctl.sandbox.serve import run as run_with

        if not command:
            raise UsageError("no command given", "azsqlctl sandbox run -- azsqlctl whoami", code="no_command")
        if shutil.which(command[0]) is None:
            from azsqlctl.core.errors import PermissionDenied

            from .render import emit_error

            path = Path(command[0])
            if "/" in command[0] and path.exists():  # as a shell says: there, but not something it can run
                what = "a directory" if path.is_dir() else "not executable"
                hint = "run a program, not a directory" if path.is_dir() else f"chmod +x {command[0]}, or run it through its interpreter"
                emit_error("sandbox run", PermissionDenied(f"cannot run {command[0]}: {what}", hint, code="not_executable"), fmt)
                return COMMAND_NOT_EXECUTABLE
            emit_error("sandbox run", NotFound(f"command not found: {command[0]}", "check the command name and PATH"), fmt)
            return COMMAND_NOT_FOUND
        from azsqlctl.sandbox.launch import SandboxRequest, prepared

        with prepared(SandboxRequest(state=state, scenario=_scenario(scenario))) as sandbox:
            return run_with(sandbox, command, kill_after, _job_overlay(as_job, as_client_id or ""))

    run("sandbox run", None, debug, action)


def _job_overlay(spec: str | None, client_id: str) -> Overlay | None:
    """``--as``: the job's or pod's environment over the sandbox's (see azsqlctl.sandbox.entra.jobs)."""
    if spec is None:
        return None
    import atexit
    import shutil
    import tempfile

    def overlay(sandbox: Sandbox) -> tuple[dict[str, str], tuple[str, ...]]:
        from azsqlctl.sandbox.entra.jobs import job_environment
        from azsqlctl.sandbox.surfaces import EntraSurface

        workdir = Path(tempfile.mkdtemp(prefix="azsqlctl-job-"))
        atexit.register(shutil.rmtree, workdir, True)  # the projected token file lives as long as the run
        entra = sandbox.surface(EntraSurface)
        job = sandbox.store.read(lambda s: job_environment(spec, s, entra.federation, entra.service.base_url, workdir, client_id))
        print(f"sandbox run: as {job.description}", file=sys.stderr)
        return job.set, job.unset

    return overlay

"""`azsqlctl logs`: failed logins from Azure Monitor with the real state, cause and fix; `logs enable`; `logs status`.

Typed options -> one frozen request (``core.logs.request.LogsOptions``) -> ``plan_logs`` (every rule about the
options) -> the ports from the composition root (``azure.wiring``) -> one render.
Events stream to stdout as they are decoded (one line, or one NDJSON object, each); warnings,
retries and the Ctrl-C summary go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import logs_options as lo
from . import logs_render
from . import options as o

if TYPE_CHECKING:
    from azsqlctl.core.logs.ports import MonitorConfig, ServerRef
    from azsqlctl.core.logs.request import LogsOptions
    from azsqlctl.core.settings import ConnectionSettings, SettingsInput

    from .render import Result

app = typer.Typer(help="Failed logins (18456 and friends) from Azure Monitor, with the real state, cause and fix.")


@app.callback(invoke_without_command=True)
@o.with_target(o.ARM_TARGET, connection_before="output")
def logs_command(
    ctx: typer.Context,
    target: SettingsInput,
    database: lo.DatabaseFilter = None,
    workspace: lo.Workspace = None,
    resource: lo.Resource = None,
    since: lo.Since = None,
    since_time: lo.SinceTime = None,
    until: lo.Until = None,
    follow: lo.Follow = False,
    interval: lo.Interval = "30s",
    late_bound: lo.LateBound = "15m",
    overlap: lo.Overlap = "5s",
    principal: lo.Principal = None,
    client_ip: lo.ClientIp = None,
    app_name: lo.AppName = None,
    error: lo.Error = None,
    state: lo.State = None,
    all_events: lo.AllEvents = False,
    summary: lo.Summary = False,
    by: lo.By = None,
    limit: lo.Limit = None,
    redact: lo.Redact = False,
    show_query: lo.ShowQuery = False,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            metavar="FILE",
            help="Every target server of this grant policy (select included): each one's audit workspace, one request; "
            "with --summary, 18456s per principal x server x database",
            show_default=False,
        ),
    ] = None,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Failed logins over --since (default 1h), oldest first, each with the real state, cause and fix."""
    if ctx.invoked_subcommand is not None:
        return
    from azsqlctl.core.logs.request import LogsOptions

    from .runner import run

    options = LogsOptions(
        target=target, workspace=workspace, resource=resource, since=since, since_time=since_time, until=until, follow=follow,
        interval=interval, late_bound=late_bound, overlap=overlap, database=database, principal=principal, client_ip=client_ip,
        app=app_name, error=error, state=state, all_events=all_events, summary=summary, by=by, limit=limit, redact=redact,
        show_query=show_query, policy=policy,
    )  # fmt: skip
    run("logs", output, debug, lambda fmt: _run(options, fmt))


def _run(options: LogsOptions, fmt: str) -> int:
    from azsqlctl.azure import wiring
    from azsqlctl.core.logs.request import View, given_target, plan_logs
    from azsqlctl.core.logs.setup import discover

    now = datetime.now(UTC)
    plan = plan_logs(options, now)
    fleet_target = None
    if options.policy is not None:  # a policy's fleet: its servers' workspaces, one query, filtered to its servers
        from .logs_fleet import fleet_logs_target
        from .render import warn

        fleet = fleet_logs_target(_settings(options.target), options.policy)
        for line in fleet.skipped:
            warn(f"not recorded, left out: {line}")
        plan = plan.for_fleet(fleet.scopes)
        fleet_target = fleet.target
    if options.show_query:
        from azsqlctl.core.logs import kql

        text = kql.build_query(plan.request, plan.first_window(now)).text
        print(json.dumps({"type": "query", "kql": text}) if fmt == "json" else text)
        return 0
    settings = _settings(options.target)
    target = fleet_target or given_target(settings, options.workspace, options.resource)
    if target is None:
        config = wiring.monitor_config(settings)
        target = discover(config, _server_ref(settings, config))
    if target.retention is not None:
        plan.check_retention(now, target.retention)
    port = wiring.logs_query(settings)
    server_timeout = settings.timeout if "timeout" in settings.sources else None
    salt = os.urandom(16) if options.redact else None
    if plan.view == View.SUMMARY:
        return logs_render.run_summary(port, target, plan.request, server_timeout, fmt, salt)
    if plan.view == View.FOLLOW:
        return logs_render.run_follow(port, target, plan.request, plan.follow, server_timeout, fmt, salt)
    return logs_render.run_list(port, target, plan.request, server_timeout, fmt, salt)


def _settings(given: SettingsInput) -> ConnectionSettings:
    from azsqlctl.core.settings import resolve_settings

    return resolve_settings(given, os.environ, Path.cwd())


def _server_ref(settings: ConnectionSettings, config: MonitorConfig) -> ServerRef:
    server = settings.require_server()
    return config.find_server(settings.resource_group, server.logical_name, server.host)


def _server_config(given: SettingsInput) -> tuple[MonitorConfig, ServerRef]:
    """`logs enable` / `logs status`: the ARM monitor port and the server it is about."""
    from azsqlctl.azure import wiring

    settings = _settings(given)
    config = wiring.monitor_config(settings)
    return config, _server_ref(settings, config)


# --- logs enable / logs status ------------------------------------------------------------------------


@app.command("enable")
@o.with_target(o.ARM_TARGET, connection_before="output")
def enable_command(
    workspace_resource: Annotated[
        str,
        typer.Option(
            "--workspace-resource", metavar="ARM_ID", help="ARM id of the Log Analytics workspace to send audit rows to", show_default=False
        ),
    ],
    target: SettingsInput,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking")] = False,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Turn on what `logs` reads: server auditing to Azure Monitor and a diagnostic setting on master (idempotent)."""
    from .runner import run

    given = target

    def action(fmt: str) -> Result | int:
        from azsqlctl.core.errors import UsageError
        from azsqlctl.core.logs.setup import apply_enable, plan_enable

        from .render import Result

        config, ref = _server_config(given)
        plan = plan_enable(config, ref, workspace_resource.strip())
        data = {**plan.as_json(), "applied": False}
        if plan.empty:
            return Result(
                "logs enable",
                data,
                human=lambda _: logs_render.out(
                    f"Already enabled: {data['server']} sends failed logins to {data['workspace_resource']} (nothing written)."
                ),
            )
        if not yes:
            if fmt == "json" or not sys.stdin.isatty():
                lines = "; ".join(plan.changes)
                raise UsageError(
                    f"logs enable would change: {lines}", "rerun with --yes to apply (no terminal to ask on)", code="needs_confirmation"
                )
            logs_render.err(f"azsqlctl logs enable will change {ref.name}:")
            for change in plan.changes:
                logs_render.err(f"  - {change}")
            if not typer.confirm("Apply these changes?", default=False, err=True):
                logs_render.err("Nothing changed.")
                return 1
        apply_enable(config, plan)
        data["applied"] = True
        return Result("logs enable", data, human=lambda _: logs_render.enabled_human(plan))

    run("logs enable", output, debug, action)


@app.command("status")
@o.with_target(o.ARM_TARGET)
def status_command(
    target: SettingsInput,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Show the server's auditing policy, its diagnostic settings on master, and where audit rows go (exit 1 when failed logins are not recorded)."""
    from .runner import run

    given = target

    def action(fmt: str) -> Result:
        from azsqlctl.core.errors import ExitCode
        from azsqlctl.core.logs.setup import read_status

        from .render import Result

        status = read_status(*_server_config(given))
        code = ExitCode.OK if status.ready else ExitCode.CHECK_FAILED  # not recording failed logins: a CI gate fails
        return Result("logs status", status.as_json(), exit_code=code, human=lambda _: logs_render.status_human(status))

    run("logs status", output, debug, action)

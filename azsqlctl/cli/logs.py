"""`azsqlctl logs`: failed logins from Azure Monitor with the real state, cause and fix; `logs enable`; `logs status`.

Typed options -> one typed request (``LogsRequest`` + target) -> one core call -> one render.
Events stream to stdout as they are decoded (one line, or one NDJSON object, each); warnings,
retries and the Ctrl-C summary go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import logs_options as lo
from . import logs_render
from . import options as o

if TYPE_CHECKING:
    from azsqlctl.core.logs.ports import LogsTarget
    from azsqlctl.core.settings import ConnectionSettings, SettingsInput

app = typer.Typer(help="Failed logins (18456 and friends) from Azure Monitor, with the real state, cause and fix.")


@app.callback(invoke_without_command=True)
def logs_command(
    ctx: typer.Context,
    server: o.Server = None,
    database: lo.DatabaseFilter = None,
    subscription: o.Subscription = None,
    resource_group: o.ResourceGroup = None,
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
    cloud: o.Cloud = None,
    auth: o.Auth = None,
    client_id: o.ClientId = None,
    tenant_id: o.TenantId = None,
    ca_bundle: o.CaBundle = None,
    timeout: o.Timeout = None,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Failed logins over --since (default 1h), oldest first, each with the real state, cause and fix."""
    if ctx.invoked_subcommand is not None:
        return
    from .runner import run

    # --database filters rows here; it is not the connection's database.
    given = _arm_input(server, subscription, resource_group, cloud, auth, client_id, tenant_id, ca_bundle, timeout)

    def action(fmt: str) -> Any:
        from azsqlctl.core.errors import UsageError
        from azsqlctl.core.logs import kql
        from azsqlctl.core.logs.window import INTERVAL_BOUNDS, LATE_BOUND_BOUNDS, OVERLAP_BOUNDS, parse_duration, resolve_window

        now = datetime.now(UTC)
        if workspace:
            _check_workspace_guid(workspace)  # before any request: "nope" would otherwise reach the service
        if workspace and resource:
            raise UsageError("--workspace and --resource do not combine", "give one: a workspace id, or a resource id", code="bad_target")
        if follow and summary:
            raise UsageError("--follow and --summary do not combine", "use one of them", code="bad_view")
        if by is not None and not summary:
            raise UsageError("--by needs --summary", "e.g. --summary --by principal,state", code="bad_view")
        window = resolve_window(now, since, since_time, until)
        filters = kql.Filters(
            server=None,
            database=database,
            principal=principal,
            client_ip=client_ip,
            app=app_name,
            error=_number(error, "--error", "18456"),
            state=_number(state, "--state", "5"),
        )
        request = kql.LogsRequest(
            since=window.since,
            until=window.until,
            filters=filters,
            all_events=all_events,
            limit=_number(limit, "--limit", "100", positive=True),
            summary_by=_keys(by) if summary else None,
        )
        fleet_target = None
        if policy is not None:  # a policy's fleet: its servers' workspaces, one query, filtered to its servers
            from dataclasses import replace

            from .logs_fleet import fleet_logs_target
            from .render import warn

            if workspace or resource:
                raise UsageError("--policy finds the workspaces; --workspace and --resource would be ignored", "drop them (or --policy)",
                                 code="conflict")  # fmt: skip
            fleet = fleet_logs_target(_settings(given), policy)
            for line in fleet.skipped:
                warn(f"not recorded, left out: {line}")
            error_filter = 18456 if summary and filters.error is None else filters.error
            filters = replace(filters, servers=fleet.servers, databases=fleet.databases, error=error_filter)
            keys = request.summary_by if by is not None or not summary else (kql.GroupKey.PRINCIPAL, kql.GroupKey.SERVER,
                                                                              kql.GroupKey.DATABASE, kql.GroupKey.STATE)  # fmt: skip
            request = replace(request, filters=filters, summary_by=keys)
            fleet_target = fleet.target
        from azsqlctl.core.logs.follow import FollowSettings

        follow_settings = FollowSettings(
            parse_duration(interval, "--interval", INTERVAL_BOUNDS),
            parse_duration(overlap, "--overlap", OVERLAP_BOUNDS),
            parse_duration(late_bound, "--late-bound", LATE_BOUND_BOUNDS),
        )
        if follow and request.limit is not None:
            raise UsageError("--limit does not combine with --follow", "drop --limit", code="bad_view")
        if show_query:
            from azsqlctl.core.logs.kql import IngestionWindow

            first = IngestionWindow(request.since - follow_settings.overlap, now) if follow else None
            text = kql.build_query(request, first).text
            if fmt == "json":
                print(json.dumps({"type": "query", "kql": text}))
            else:
                print(text)
            return 0
        settings = _settings(given)
        target = fleet_target or _target(settings, workspace, resource)
        if target.retention is not None:
            resolve_window(now, since, since_time, until, retention=target.retention)
        port = _query_port(settings)
        server_timeout = settings.timeout if "timeout" in settings.sources else None
        salt = os.urandom(16) if redact else None
        if summary:
            return logs_render.run_summary(port, target, request, server_timeout, fmt, salt)
        if follow:
            return logs_render.run_follow(port, target, request, follow_settings, server_timeout, fmt, salt)
        return logs_render.run_list(port, target, request, server_timeout, fmt, salt)

    run("logs", output, debug, action)


def _number(text: str | None, option: str, example: str, positive: bool = False) -> int | None:
    from azsqlctl.core.errors import UsageError

    if text is None:
        return None
    value = text.strip()
    if not value.isascii() or not value.isdigit() or (positive and int(value) < 1):
        kind = "a positive whole number" if positive else "a whole number"
        raise UsageError(f"{option} takes {kind}, not {text!r}", f"e.g. {option} {example}", code="bad_number")
    return int(value)


def _keys(by: str | None) -> tuple[Any, ...]:
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.logs.kql import DEFAULT_SUMMARY_KEYS, GroupKey

    if by is None:
        return DEFAULT_SUMMARY_KEYS
    keys = []
    for part in (p.strip().lower() for p in by.split(",") if p.strip()):
        try:
            keys.append(GroupKey(part))
        except ValueError:
            raise UsageError(
                f"--by {part!r} is not a summary key", f"use any of: {', '.join(k.value for k in GroupKey)}", code="bad_by"
            ) from None
    if not keys:
        raise UsageError("--by names no key", "e.g. --by principal,state", code="bad_by")
    return tuple(keys)


def _settings(given: SettingsInput) -> ConnectionSettings:
    from azsqlctl.core.settings import resolve_settings

    return resolve_settings(given, os.environ, Path.cwd())


def _arm_input(
    server: str | None, subscription: str | None, resource_group: str | None, cloud: str | None, auth: str | None,
    client_id: str | None, tenant_id: str | None, ca_bundle: str | None, timeout: str | None,
) -> SettingsInput:  # fmt: skip
    """What `logs`, `logs enable` and `logs status` connect with: ARM and Log Analytics, never SQL."""
    from azsqlctl.core.settings import SettingsInput

    return SettingsInput(
        server=server, subscription=subscription, resource_group=resource_group, cloud=cloud, auth=auth, client_id=client_id,
        tenant_id=tenant_id, ca_bundle=ca_bundle, timeout=timeout,
    )  # fmt: skip


def _credential(settings: ConnectionSettings) -> Any:
    from azsqlctl.azure.credentials import get_credential, guarded

    return guarded(get_credential(settings.auth, settings.client_id, settings.cloud, settings.tenant_id), settings.timeout, settings.cloud)


def _query_port(settings: ConnectionSettings) -> Any:
    from azsqlctl.azure.monitor import MonitorLogsQuery

    return MonitorLogsQuery(_credential(settings), settings.cloud, settings.timeout)


def _config_port(settings: ConnectionSettings) -> Any:
    from azsqlctl.azure.monitor import ArmMonitorConfig

    return ArmMonitorConfig(_credential(settings), settings.cloud, settings.subscription, settings.timeout)


def _server_ref(settings: ConnectionSettings, config: Any) -> Any:
    server = settings.require_server()
    return config.find_server(settings.resource_group, server.logical_name, server.host)


def _server_config(given: SettingsInput) -> tuple[Any, Any]:
    """`logs enable` / `logs status`: the ARM monitor port and the server it is about."""
    settings = _settings(given)
    config = _config_port(settings)
    return config, _server_ref(settings, config)


def _check_workspace_guid(workspace: str) -> None:
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.identity import canonical_guid

    if canonical_guid(workspace) is None:
        raise UsageError(
            f"--workspace '{workspace}' is not a GUID",
            "pass the workspace's customer id (az monitor log-analytics workspace show -g RG -n NAME --query customerId), "
            "or leave --workspace out to find it from the server's diagnostic setting",
            code="bad_workspace",
        )


def _target(settings: ConnectionSettings, workspace: str | None, resource: str | None) -> LogsTarget:
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.logs.ports import LogsTarget
    from azsqlctl.core.logs.setup import discover

    if workspace:
        return LogsTarget(workspace_id=workspace.strip())
    if resource:
        if not resource.lower().startswith("/subscriptions/"):
            raise UsageError(f"--resource {resource!r} is not an ARM resource id", "e.g. /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Sql/servers/<server>",
                             code="bad_target")  # fmt: skip
        return LogsTarget(resource_id=resource.rstrip("/"))
    if settings.server is None:
        raise UsageError("no server, workspace or resource given", "pass --server (the workspace is found from its diagnostic setting), "
                         "--workspace GUID or --resource ARM_ID", code="no_target")  # fmt: skip
    config = _config_port(settings)
    return discover(config, _server_ref(settings, config))


# --- logs enable / logs status ------------------------------------------------------------------------


@app.command("enable")
def enable_command(
    workspace_resource: Annotated[
        str,
        typer.Option(
            "--workspace-resource", metavar="ARM_ID", help="ARM id of the Log Analytics workspace to send audit rows to", show_default=False
        ),
    ],
    server: o.Server = None,
    subscription: o.Subscription = None,
    resource_group: o.ResourceGroup = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking")] = False,
    cloud: o.Cloud = None,
    auth: o.Auth = None,
    client_id: o.ClientId = None,
    tenant_id: o.TenantId = None,
    ca_bundle: o.CaBundle = None,
    timeout: o.Timeout = None,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Turn on what `logs` reads: server auditing to Azure Monitor and a diagnostic setting on master (idempotent)."""
    from .runner import run

    given = _arm_input(server, subscription, resource_group, cloud, auth, client_id, tenant_id, ca_bundle, timeout)

    def action(fmt: str) -> Any:
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
                human=lambda d: logs_render.out(
                    f"Already enabled: {d['server']} sends failed logins to {d['workspace_resource']} (nothing written)."
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
        return Result("logs enable", data, human=logs_render.enabled_human)

    run("logs enable", output, debug, action)


@app.command("status")
def status_command(
    server: o.Server = None,
    subscription: o.Subscription = None,
    resource_group: o.ResourceGroup = None,
    cloud: o.Cloud = None,
    auth: o.Auth = None,
    client_id: o.ClientId = None,
    tenant_id: o.TenantId = None,
    ca_bundle: o.CaBundle = None,
    timeout: o.Timeout = None,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Show the server's auditing policy, its diagnostic settings on master, and where audit rows go (exit 1 when failed logins are not recorded)."""
    from .runner import run

    given = _arm_input(server, subscription, resource_group, cloud, auth, client_id, tenant_id, ca_bundle, timeout)

    def action(fmt: str) -> Any:
        from azsqlctl.core.errors import ExitCode
        from azsqlctl.core.logs.setup import read_status

        from .render import Result

        status = read_status(*_server_config(given))
        code = ExitCode.OK if status.ready else ExitCode.CHECK_FAILED  # not recording failed logins: a CI gate fails
        return Result("logs status", status.as_json(), exit_code=code, human=logs_render.status_human)

    run("logs status", output, debug, action)

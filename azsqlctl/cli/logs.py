"""`azsqlctl logs`: failed logins from Azure Monitor with the real state, cause and fix; `logs enable`; `logs status`.

Typed options -> one typed request (``LogsRequest`` + target) -> one core call -> one render.
Events stream to stdout as they are decoded (one line, or one NDJSON object, each); warnings,
retries and the Ctrl-C summary go to stderr.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import options as o

if TYPE_CHECKING:
    from azsqlctl.core.logs.audit_rows import AuditEvent
    from azsqlctl.core.logs.kql import LogsRequest
    from azsqlctl.core.logs.ports import LogsTarget
    from azsqlctl.core.logs.summary import SummaryGroup
    from azsqlctl.core.settings import ConnectionSettings

app = typer.Typer(help="Failed logins (18456 and friends) from Azure Monitor, with the real state, cause and fix.")

WHERE = "Where the rows are"
WHEN = "Time window"
FILTER = "Filters"
VIEW = "View"

Workspace = Annotated[
    str | None,
    typer.Option("--workspace", help="Log Analytics workspace id (customer id GUID) [default: found from the server's diagnostic setting]",
                 rich_help_panel=WHERE, show_default=False),
]  # fmt: skip
Resource = Annotated[
    str | None,
    typer.Option("--resource", help="Resource-centric query: the ARM id of the server or one of its databases", rich_help_panel=WHERE,
                 show_default=False),
]  # fmt: skip
Since = Annotated[
    str | None, typer.Option("--since", help="How far back: 30s, 15m, 1h30m, 2d [default 1h]", rich_help_panel=WHEN, show_default=False)
]
SinceTime = Annotated[str | None, typer.Option("--since-time", help="Start at an RFC 3339 time", rich_help_panel=WHEN, show_default=False)]
Until = Annotated[
    str | None, typer.Option("--until", help="Stop at an RFC 3339 time, or a duration ago", rich_help_panel=WHEN, show_default=False)
]
Follow = Annotated[
    bool, typer.Option("--follow", "-f", help="Keep polling for new rows (Ctrl-C stops with a summary)", rich_help_panel=WHEN)
]
Interval = Annotated[str, typer.Option("--interval", help="--follow: time between polls", rich_help_panel=WHEN)]
LateBound = Annotated[
    str, typer.Option("--late-bound", help="--follow: rows arriving up to this late still print in order", rich_help_panel=WHEN)
]
Overlap = Annotated[
    str,
    typer.Option(
        "--overlap",
        help="--follow: how much consecutive ingestion windows overlap (the lag between a row's ingestion_time() and its visibility)",
        rich_help_panel=WHEN,
    ),
]
Principal = Annotated[str | None, typer.Option("--principal", help="Only this login name", rich_help_panel=FILTER, show_default=False)]
ClientIp = Annotated[str | None, typer.Option("--client-ip", help="Only this client address", rich_help_panel=FILTER, show_default=False)]
AppName = Annotated[str | None, typer.Option("--app", help="Application name contains this", rich_help_panel=FILTER, show_default=False)]
Error = Annotated[
    str | None, typer.Option("--error", help="Only this error number (e.g. 18456)", rich_help_panel=FILTER, show_default=False)
]
State = Annotated[
    str | None, typer.Option("--state", help="Only this real state (e.g. 5, 133)", rich_help_panel=FILTER, show_default=False)
]
DatabaseFilter = Annotated[
    str | None, typer.Option("--database", "-d", help="Only this database", rich_help_panel=FILTER, show_default=False)
]
AllEvents = Annotated[bool, typer.Option("--all-events", help="Successful logins too (marked as such)", rich_help_panel=FILTER)]
Summary = Annotated[bool, typer.Option("--summary", help="Aggregate in Kusto: top offenders with cause and hint", rich_help_panel=VIEW)]
By = Annotated[
    str | None,
    typer.Option(
        "--by", help="--summary keys: principal,error,state,client_ip,app,database,server", rich_help_panel=VIEW, show_default=False
    ),
]
Limit = Annotated[
    str | None, typer.Option("--limit", help="At most N events (the newest) or groups", rich_help_panel=VIEW, show_default=False)
]
Redact = Annotated[bool, typer.Option("--redact", help="Mask principals and client IPs (stable per run) for sharing", rich_help_panel=VIEW)]
ShowQuery = Annotated[bool, typer.Option("--show-query", help="Print the KQL instead of running it", rich_help_panel=VIEW)]


@app.callback(invoke_without_command=True)
def logs_command(
    ctx: typer.Context,
    server: o.Server = None,
    database: DatabaseFilter = None,
    subscription: o.Subscription = None,
    resource_group: o.ResourceGroup = None,
    workspace: Workspace = None,
    resource: Resource = None,
    since: Since = None,
    since_time: SinceTime = None,
    until: Until = None,
    follow: Follow = False,
    interval: Interval = "30s",
    late_bound: LateBound = "15m",
    overlap: Overlap = "5s",
    principal: Principal = None,
    client_ip: ClientIp = None,
    app_name: AppName = None,
    error: Error = None,
    state: State = None,
    all_events: AllEvents = False,
    summary: Summary = False,
    by: By = None,
    limit: Limit = None,
    redact: Redact = False,
    show_query: ShowQuery = False,
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
    from .app import run

    flags = dict(locals())
    flags.pop("ctx")
    flags["database"] = None  # --database filters rows here; it is not the connection's database

    def action(fmt: str) -> Any:
        from azsqlctl.core.errors import UsageError
        from azsqlctl.core.logs import kql
        from azsqlctl.core.logs.window import parse_duration, resolve_window

        now = datetime.now(UTC)
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
        from azsqlctl.core.logs.follow import FollowSettings

        follow_settings = FollowSettings(
            parse_duration(interval, "--interval"), parse_duration(overlap, "--overlap"), parse_duration(late_bound, "--late-bound")
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
        settings = _settings(flags)
        target = _target(settings, workspace, resource)
        if target.retention is not None:
            resolve_window(now, since, since_time, until, retention=target.retention)
        port = _query_port(settings)
        server_timeout = settings.timeout if "timeout" in settings.sources else None
        salt = os.urandom(16) if redact else None
        if summary:
            return _run_summary(port, target, request, server_timeout, fmt, salt)
        if follow:
            return _run_follow(port, target, request, follow_settings, server_timeout, fmt, salt)
        return _run_list(port, target, request, server_timeout, fmt, salt)

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


def _settings(flags: dict[str, Any]) -> ConnectionSettings:
    from azsqlctl.core.settings import resolve_settings

    return resolve_settings(flags, os.environ, Path.cwd())


def _credential(settings: ConnectionSettings) -> Any:
    from azsqlctl.azure.credentials import get_credential

    return get_credential(settings.auth, settings.client_id, settings.cloud, settings.tenant_id)


def _query_port(settings: ConnectionSettings) -> Any:
    from azsqlctl.azure.monitor import MonitorLogsQuery

    return MonitorLogsQuery(_credential(settings), settings.cloud, settings.timeout)


def _config_port(settings: ConnectionSettings) -> Any:
    from azsqlctl.azure.monitor import ArmMonitorConfig

    return ArmMonitorConfig(_credential(settings), settings.cloud, settings.subscription)


def _server_ref(settings: ConnectionSettings, config: Any) -> Any:
    server = settings.require_server()
    return config.find_server(settings.resource_group, server.logical_name, server.host)


def audit_lookup(settings: ConnectionSettings) -> Any:
    """For doctor: audited failures through the same ports as `logs` (None when the cloud has no logs endpoint or no ARM scope)."""
    if not (settings.cloud.logs_endpoint and settings.subscription and settings.resource_group and settings.server):
        return None
    from azsqlctl.core.logs.recent import AuditLookup

    return AuditLookup(
        _config_port(settings), _query_port(settings), settings.resource_group, settings.server.logical_name, settings.server.host
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


# --- rendering -------------------------------------------------------------------------------------


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def event_line(event: AuditEvent, late: bool = False) -> str:
    from azsqlctl.core.logs.audit_rows import as_iso

    where = f"{event.server}/{event.database}" if event.database else event.server
    who = event.principal or "(no principal)"
    src = event.client_ip or "-"
    app_name = f" ({event.application})" if event.application else ""
    flag = " [late]" if late else ""
    if not event.failed:
        return f"{as_iso(event.event_time)}  {where}  {who} from {src}{app_name}  login succeeded{flag}"
    code = f"{event.error if event.error is not None else '?'} state {event.state if event.state is not None else '?'}"
    fix = f"  fix: {event.fix}" if event.fix else ""
    hashed = f"  query {event.statement_hash}" if event.statement_hash else ""
    return f"{as_iso(event.event_time)}  {where}  {who} from {src}{app_name}  {code}: {event.cause}.{fix}{hashed}{flag}"


def _emit_event(event: AuditEvent, fmt: str, salt: bytes | None, late: bool = False) -> None:
    if salt is not None:
        event = event.redacted(salt)
    if fmt == "json":
        _out(json.dumps({**event.as_json(), **({"late": True} if late else {})}))
    else:
        _out(event_line(event, late))


def _partial(message: str, fmt: str) -> None:
    text = f"Warning: partial result (LogsQueryStatus.PARTIAL): {message}; the rows shown are what the service returned"
    if fmt == "json":
        _out(json.dumps({"type": "warning", "code": "partial_result", "message": message}))
    _err(text)


def _run_list(port: Any, target: LogsTarget, request: LogsRequest, server_timeout: int | None, fmt: str, salt: bytes | None) -> int:
    from azsqlctl.core.logs.runner import list_events

    result = list_events(port, target, request, server_timeout)
    if result.partial_error:
        _partial(result.partial_error, fmt)
    for event in result.events:
        _emit_event(event, fmt, salt)
    if not result.events and fmt != "json":
        what = "logins" if request.all_events else "failed logins"
        _err(f"No {what} since {request.since.isoformat(timespec='seconds')} in {target.display}.")
    return 0


def group_line(group: SummaryGroup) -> str:
    from azsqlctl.core.logs.audit_rows import as_iso

    keys = "  ".join(f"{c}={v}" for c, v in group.keys if v not in (None, ""))
    fix = f"  fix: {group.fix}" if group.fix else ""
    hint = f"  hint: {group.hint}" if group.hint else ""
    span = f"{as_iso(group.first_seen)} .. {as_iso(group.last_seen)}"
    return f"{group.events:>6}  {keys}  ({span})  {group.cause}.{fix}{hint}"


def _run_summary(port: Any, target: LogsTarget, request: LogsRequest, server_timeout: int | None, fmt: str, salt: bytes | None) -> int:
    from azsqlctl.core.logs.runner import summarize

    result = summarize(port, target, request, server_timeout)
    if result.partial_error:
        _partial(result.partial_error, fmt)
    for group in result.groups:
        shown = group.redacted(salt) if salt is not None else group
        _out(json.dumps(shown.as_json()) if fmt == "json" else group_line(shown))
    if not result.groups and fmt != "json":
        _err(f"No failed logins since {request.since.isoformat(timespec='seconds')} in {target.display}.")
    return 0


def _run_follow(
    port: Any, target: LogsTarget, request: LogsRequest, settings: Any, server_timeout: int | None, fmt: str, salt: bytes | None
) -> int:
    from azsqlctl.core.errors import ExitCode
    from azsqlctl.core.logs.runner import follow

    stop = threading.Event()
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        report = follow(
            port,
            target,
            request,
            settings,
            should_stop=stop.is_set,
            wait=stop.wait,
            on_event=lambda item: _emit_event(item.row, fmt, salt, item.late),
            on_retry=lambda failure, delay, attempt: _err(
                f"Warning: {failure.message}; retrying in {delay.total_seconds():.1f}s (attempt {attempt})"
            ),
            on_partial=lambda message: _partial(message, fmt),
            server_timeout=server_timeout,
        )
    except KeyboardInterrupt:
        stop.set()
        return int(ExitCode.INTERRUPTED)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if fmt == "json":
        _out(json.dumps(report.as_json()))
    _err(f"Stopped: {report.line()}")
    return int(ExitCode.INTERRUPTED)


# --- logs enable / logs status ------------------------------------------------------------------------


@app.command("enable")
def enable_command(
    workspace_resource: Annotated[
        str, typer.Option("--workspace-resource", help="ARM id of the Log Analytics workspace to send audit rows to", show_default=False)
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
    from .app import run

    flags = dict(locals())

    def action(fmt: str) -> Any:
        from azsqlctl.core.errors import UsageError
        from azsqlctl.core.logs.setup import apply_enable, plan_enable

        from .render import Result

        settings = _settings(flags)
        config = _config_port(settings)
        ref = _server_ref(settings, config)
        plan = plan_enable(config, ref, workspace_resource.strip())
        data = {**plan.as_json(), "applied": False}
        if plan.empty:
            return Result(
                "logs enable",
                data,
                human=lambda d: _out(f"Already enabled: {d['server']} sends failed logins to {d['workspace_resource']} (nothing written)."),
            )
        if not yes:
            if fmt == "json" or not sys.stdin.isatty():
                lines = "; ".join(plan.changes)
                raise UsageError(
                    f"logs enable would change: {lines}", "rerun with --yes to apply (no terminal to ask on)", code="needs_confirmation"
                )
            _err(f"azsqlctl logs enable will change {ref.name}:")
            for change in plan.changes:
                _err(f"  - {change}")
            if not typer.confirm("Apply these changes?", default=False, err=True):
                _err("Nothing changed.")
                return 1
        apply_enable(config, plan)
        data["applied"] = True
        return Result("logs enable", data, human=_enabled_human)

    run("logs enable", output, debug, action)


def _enabled_human(data: dict[str, Any]) -> None:
    _out(f"Enabled: {data['server']} now sends failed logins to {data['workspace_resource']} (workspace id {data['workspace_id']}).")
    for change in data["changes"]:
        _out(f"  - {change}")
    _out("Rows appear after Azure's ingestion delay (minutes); then: azsqlctl logs --server " + data["server"])


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
    """Show the server's auditing policy, its diagnostic settings on master, and where audit rows go."""
    from .app import run

    flags = dict(locals())

    def action(fmt: str) -> Any:
        from azsqlctl.core.logs.setup import read_status

        from .render import Result

        settings = _settings(flags)
        config = _config_port(settings)
        status = read_status(config, _server_ref(settings, config))
        return Result("logs status", status.as_json(), human=_status_human)

    run("logs status", output, debug, action)


def _status_human(data: dict[str, Any]) -> None:
    a = data["auditing"]
    _out(f"Server {data['server']}")
    target = "Azure Monitor" if a["azure_monitor_target"] else "no Azure Monitor target"
    _out(f"  auditing: {a['state']}, {target}; action groups: {', '.join(a['action_groups']) or '(none)'}")
    if not data["diagnostic_settings"]:
        _out("  diagnostic settings on master: (none)")
    for s in data["diagnostic_settings"]:
        dest = s["workspace_resource"] or "(no workspace)"
        _out(f"  diagnostic setting '{s['name']}': {', '.join(s['categories']) or '(no logs)'} -> {dest}")
    for w in data["workspaces"]:
        _out(
            f"  rows go to workspace {w['customer_id']} (retention {w['retention_days']} days): azsqlctl logs --workspace {w['customer_id']}"
        )
    if data["ready"]:
        _out("Failed logins are recorded: azsqlctl logs --server " + data["server"])
    else:
        for problem in data["problems"]:
            _out(f"  ! {problem}")
        _out(
            f"Failed logins are NOT recorded in Log Analytics. Fix: azsqlctl logs enable --server {data['server']} --workspace-resource <workspace ARM id>"
        )

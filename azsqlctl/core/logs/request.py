"""What `azsqlctl logs` was asked, validated: the options as one frozen request -> a ``LogsPlan`` (or a UsageError).

Every rule about the options lives here (which combine, numbers, summary keys, the window, follow's durations,
a policy's fleet as filters); the CLI maps options in and runs the plan through the ports.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from ..errors import UsageError
from ..identity import canonical_guid
from ..settings import ConnectionSettings, SettingsInput
from . import kql
from .follow import FollowSettings
from .ports import LogsTarget
from .window import INTERVAL_BOUNDS, LATE_BOUND_BOUNDS, OVERLAP_BOUNDS, parse_duration, resolve_window


@dataclass(frozen=True)
class LogsOptions:
    """`azsqlctl logs`'s own options, as typed (times and numbers still text: they are checked here)."""

    target: SettingsInput  # --database is a row filter (``database``), never the connection's database
    workspace: str | None = None
    resource: str | None = None
    since: str | None = None
    since_time: str | None = None
    until: str | None = None
    follow: bool = False
    interval: str = "30s"
    late_bound: str = "15m"
    overlap: str = "5s"
    database: str | None = None
    principal: str | None = None
    client_ip: str | None = None
    app: str | None = None
    error: str | None = None
    state: str | None = None
    all_events: bool = False
    summary: bool = False
    by: str | None = None
    limit: str | None = None
    redact: bool = False
    show_query: bool = False
    policy: Path | None = None


class View(StrEnum):
    LIST = "list"
    SUMMARY = "summary"
    FOLLOW = "follow"


@dataclass(frozen=True)
class LogsPlan:
    """A validated request: the query, how it is shown, and where the rows are looked for."""

    options: LogsOptions
    request: kql.LogsRequest
    follow: FollowSettings
    view: View

    def for_fleet(self, scopes: tuple[kql.ServerScope, ...]) -> LogsPlan:
        """The plan narrowed to a policy's servers, each to its own databases; a fleet's summary counts 18456s per
        principal x server x database x state unless --error or --by say otherwise."""
        request, summary = self.request, self.view == View.SUMMARY
        error = 18456 if summary and request.filters.error is None else request.filters.error
        filters = replace(request.filters, scopes=scopes, error=error)
        keys = request.summary_by
        if summary and self.options.by is None:
            keys = (kql.GroupKey.PRINCIPAL, kql.GroupKey.SERVER, kql.GroupKey.DATABASE, kql.GroupKey.STATE)
        return replace(self, request=replace(request, filters=filters, summary_by=keys))

    def check_retention(self, now: datetime, retention: timedelta) -> None:
        """The window again, now that the workspace's retention is known: older rows are gone."""
        o = self.options
        resolve_window(now, o.since, o.since_time, o.until, retention=retention)

    def first_window(self, now: datetime) -> kql.IngestionWindow | None:
        """--follow's first poll reaches back by the overlap (what --show-query prints)."""
        return kql.IngestionWindow(self.request.since - self.follow.overlap, now) if self.view == View.FOLLOW else None


def plan_logs(options: LogsOptions, now: datetime) -> LogsPlan:
    o = options
    if o.workspace:
        check_workspace_guid(o.workspace)  # before any request: "nope" would otherwise reach the service
    if o.workspace and o.resource:
        raise UsageError("--workspace and --resource do not combine", "give one: a workspace id, or a resource id", code="bad_target")
    if o.follow and o.summary:
        raise UsageError("--follow and --summary do not combine", "use one of them", code="bad_view")
    if o.by is not None and not o.summary:
        raise UsageError("--by needs --summary", "e.g. --summary --by principal,state", code="bad_view")
    window = resolve_window(now, o.since, o.since_time, o.until)
    filters = kql.Filters(
        server=None, database=o.database, principal=o.principal, client_ip=o.client_ip, app=o.app,
        error=number(o.error, "--error", "18456"), state=number(o.state, "--state", "5"),
    )  # fmt: skip
    request = kql.LogsRequest(
        since=window.since, until=window.until, filters=filters, all_events=o.all_events,
        limit=number(o.limit, "--limit", "100", positive=True), summary_by=summary_keys(o.by) if o.summary else None,
    )  # fmt: skip
    if o.policy is not None and (o.workspace or o.resource):
        raise UsageError("--policy finds the workspaces; --workspace and --resource would be ignored", "drop them (or --policy)",
                         code="conflict")  # fmt: skip
    follow = FollowSettings(
        parse_duration(o.interval, "--interval", INTERVAL_BOUNDS),
        parse_duration(o.overlap, "--overlap", OVERLAP_BOUNDS),
        parse_duration(o.late_bound, "--late-bound", LATE_BOUND_BOUNDS),
    )
    if o.follow and request.limit is not None:
        raise UsageError("--limit does not combine with --follow", "drop --limit", code="bad_view")
    view = View.SUMMARY if o.summary else View.FOLLOW if o.follow else View.LIST
    return LogsPlan(o, request, follow, view)


def number(text: str | None, option: str, example: str, positive: bool = False) -> int | None:
    if text is None:
        return None
    value = text.strip()
    if not value.isascii() or not value.isdigit() or (positive and int(value) < 1):
        kind = "a positive whole number" if positive else "a whole number"
        raise UsageError(f"{option} takes {kind}, not {text!r}", f"e.g. {option} {example}", code="bad_number")
    return int(value)


def summary_keys(by: str | None) -> tuple[kql.GroupKey, ...]:
    if by is None:
        return kql.DEFAULT_SUMMARY_KEYS
    keys = []
    for part in (p.strip().lower() for p in by.split(",") if p.strip()):
        try:
            keys.append(kql.GroupKey(part))
        except ValueError:
            raise UsageError(
                f"--by {part!r} is not a summary key", f"use any of: {', '.join(k.value for k in kql.GroupKey)}", code="bad_by"
            ) from None
    if not keys:
        raise UsageError("--by names no key", "e.g. --by principal,state", code="bad_by")
    return tuple(keys)


def check_workspace_guid(workspace: str) -> None:
    if canonical_guid(workspace) is None:
        raise UsageError(
            f"--workspace '{workspace}' is not a GUID",
            "pass the workspace's customer id (az monitor log-analytics workspace show -g RG -n NAME --query customerId), "
            "or leave --workspace out to find it from the server's diagnostic setting",
            code="bad_workspace",
        )


def given_target(settings: ConnectionSettings, workspace: str | None, resource: str | None) -> LogsTarget | None:
    """The rows' place when the options name it (--workspace, --resource); None: discover it from --server."""
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
    return None

"""What ``azsqlctl logs`` needs from Azure, as small protocols (``azure/monitor.py`` implements them).

- ``LogsQuery``: run one KQL query against a workspace (customer id) or a resource (ARM id).
- ``MonitorConfig``: the server's auditing policy, the diagnostic settings on its master database,
  and a workspace's customer id and retention (ARM).

Failures come back as the one hierarchy: ``NotFound`` (404), ``PermissionDenied`` (403),
``AuthenticationError`` (401), and ``PollFailed`` for what retrying can fix (429, 5xx, network).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from ..errors import ConnectionFailed
from .follow import FailureKind


@dataclass(frozen=True)
class LogsTarget:
    """Where a query runs: a workspace (its customer id) or a resource (resource-centric query)."""

    workspace_id: str = ""
    resource_id: str = ""
    retention: timedelta | None = None  # when known (discovered through ARM)
    via: str = ""  # how it was found, for messages ("diagnostic setting 'x' on master")
    additional_workspaces: tuple[str, ...] = ()  # more workspaces (customer ids) in the same request (logs --policy)
    audited_by: tuple[tuple[str, tuple[str, ...]], ...] = ()  # workspace customer id -> the servers auditing to it (logs --policy)

    def servers_of(self, workspace: str) -> tuple[str, ...]:
        """The servers whose audit rows go to ``workspace`` (as far as discovery found; () when unknown)."""
        return next((servers for w, servers in self.audited_by if w.lower() == workspace.lower()), ())

    @property
    def display(self) -> str:
        where = f"workspace {self.workspace_id}" if self.workspace_id else f"resource {self.resource_id}"
        if self.additional_workspaces:
            where = f"workspaces {', '.join((self.workspace_id, *self.additional_workspaces))}"
        return f"{where} (found through the {self.via})" if self.via else where


class PartialReason(StrEnum):
    NO_ACCESS = "no_access"  # 403: the identity may not read the workspace (no Log Analytics Reader)
    NOT_FOUND = "not_found"  # 404: the workspace is gone, or the id is not a workspace's
    INCOMPLETE = "incomplete"  # the service answered with part of the result and an error beside it


@dataclass(frozen=True)
class PartialFailure:
    """Why some rows are missing from a result that still has rows to show."""

    workspace: str  # the workspace's customer id (or the resource id of a resource-centric query)
    reason: PartialReason
    detail: str  # the service's own words ("Log Analytics answered 403 InsufficientAccessError: ...")


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[list[object]]
    partial: tuple[PartialFailure, ...] = ()  # non-empty: the rows are what could be read, not all there are


class PollFailed(ConnectionFailed):
    """A query failed in a way a retry can fix (429 with Retry-After, 5xx, network)."""

    code = "logs_unavailable"

    def __init__(
        self,
        message: str,
        kind: FailureKind,
        status: int = 0,
        retry_after: timedelta | None = None,
        *,
        hint: str = "",
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint or "retry later; --debug shows the HTTP exchange", code=code)
        self.kind, self.status, self.retry_after = kind, status, retry_after


class LogsQuery(Protocol):
    def query(self, target: LogsTarget, kql: str, server_timeout: int | None = None) -> QueryResult: ...


@dataclass(frozen=True)
class AuditingPolicy:
    state: str  # "Enabled" | "Disabled"
    azure_monitor: bool  # isAzureMonitorTargetEnabled
    action_groups: tuple[str, ...] = ()
    retention_days: int = 0

    @property
    def enabled(self) -> bool:
        return self.state.lower() == "enabled"


@dataclass(frozen=True)
class DiagnosticSetting:
    name: str
    workspace_id: str  # the workspace's ARM id ("" when the setting sends elsewhere)
    categories: tuple[str, ...] = ()  # enabled log categories or category groups
    other: dict[str, str] = field(default_factory=dict)  # storageAccountId/eventHub... kept as they are on update


@dataclass(frozen=True)
class Workspace:
    arm_id: str
    name: str
    customer_id: str
    retention_days: int | None


@dataclass(frozen=True)
class ServerRef:
    subscription: str
    resource_group: str
    name: str

    @property
    def arm_id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/Microsoft.Sql/servers/{self.name}"

    @property
    def master_id(self) -> str:
        return self.arm_id + "/databases/master"


class MonitorConfig(Protocol):
    def find_server(self, resource_group: str, name: str, host: str) -> ServerRef: ...
    def auditing(self, server: ServerRef) -> AuditingPolicy: ...
    def set_auditing(self, server: ServerRef, policy: AuditingPolicy) -> AuditingPolicy: ...
    def diagnostic_settings(self, resource_id: str) -> list[DiagnosticSetting]: ...
    def set_diagnostic_setting(self, resource_id: str, setting: DiagnosticSetting) -> DiagnosticSetting: ...
    def workspace(self, arm_id: str) -> Workspace: ...
    def workspaces(self, resource_group: str) -> list[Workspace]: ...

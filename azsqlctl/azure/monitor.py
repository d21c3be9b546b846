"""Azure Monitor adapters for ``azsqlctl logs`` (SDKs imported lazily).

- ``MonitorLogsQuery``: azure-monitor-query's ``LogsQueryClient`` (``query_workspace`` / ``query_resource``).
  The SDK's own retry policy is turned off (``retry_total=0``): ``--follow`` retries with its own bounded
  backoff so that it can honour Retry-After and say so on stderr, and a one-shot query fails fast.
- ``ArmMonitorConfig``: servers, auditing, diagnostic settings and workspaces are read with plain GETs over
  ``arm_pipeline`` (Microsoft.Sql's stable api-version, as doctor reads it; azure-mgmt-monitor's for diagnostic
  settings): the two SDK clients cost more to import than the rest of a `logs` run. Auditing is written through
  azure-mgmt-sql (``server_blob_auditing_policies``), diagnostic settings through azure-mgmt-monitor
  (``diagnostic_settings``), each imported on the first write.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

from azsqlctl.core.clouds import Cloud
from azsqlctl.core.config import env_name
from azsqlctl.core.errors import AuthenticationError, AzsqlctlError, NotFound, PermissionDenied, UsageError
from azsqlctl.core.logs.follow import FailureKind, failure_kind, parse_retry_after
from azsqlctl.core.logs.ports import (
    AuditingPolicy,
    DiagnosticSetting,
    LogsTarget,
    PartialFailure,
    PartialReason,
    PollFailed,
    QueryResult,
    ServerRef,
    Workspace,
)
from azsqlctl.core.transport import Endpoint

from .arm_errors import arm_failure, arm_refusal, body_message, exception_message, first_line, wire_text
from .arm_pipeline import Json
from .arm_reader import API_VERSION as SQL_API_VERSION
from .transport import endpoint_failure

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.monitor import MonitorManagementClient
    from azure.mgmt.sql import SqlManagementClient

WORKSPACE_API_VERSION = "2022-10-01"
DIAGNOSTIC_API_VERSION = "2021-05-01-preview"  # azure-mgmt-monitor's, for the same answers the writes get
R = TypeVar("R")


class MonitorLogsQuery:
    def __init__(self, credential: TokenCredential, cloud: Cloud, timeout: int = 30) -> None:
        from azure.monitor.query import LogsQueryClient

        if not cloud.logs_endpoint:
            raise UsageError(
                f"cloud {cloud.name} has no Log Analytics endpoint",
                f"set {env_name('logs_endpoint')} (or logs_endpoint in [clouds.<name>])",
            )
        self.client = LogsQueryClient(
            credential,
            endpoint=cloud.logs_endpoint,
            audience=cloud.logs_audience,
            retry_total=0,
            connection_timeout=timeout,
            read_timeout=timeout,
            connection_verify=cloud.ca_bundle or True,
        )
        self.endpoint, self.timeout = cloud.logs_endpoint, timeout

    def query(self, target: LogsTarget, kql: str, server_timeout: int | None = None) -> QueryResult:
        try:
            return self._query_one(target, kql, server_timeout)
        except (PermissionDenied, NotFound):
            if not target.additional_workspaces:
                raise
        # The service refuses the whole request when one workspace is unreadable (403) or gone (404): ask each
        # workspace alone, so that one refusal (reported as a partial result) does not hide the others' rows.
        columns: tuple[str, ...] = ()
        rows: list[list[object]] = []
        failed: list[PartialFailure] = []
        first_error: AzsqlctlError | None = None
        refused = 0
        for workspace in (target.workspace_id, *target.additional_workspaces):
            try:
                got = self._query_one(replace(target, workspace_id=workspace, additional_workspaces=()), kql, server_timeout)
            except (PermissionDenied, NotFound) as exc:
                first_error, refused = first_error or exc, refused + 1
                reason = PartialReason.NO_ACCESS if isinstance(exc, PermissionDenied) else PartialReason.NOT_FOUND
                failed.append(PartialFailure(workspace, reason, exc.message))
                continue
            failed += got.partial
            columns = columns or got.columns
            rows += got.rows
        if not columns and first_error is not None and refused == 1 + len(target.additional_workspaces):
            raise first_error
        return QueryResult(columns, rows, tuple(failed))

    def _query_one(self, target: LogsTarget, kql: str, server_timeout: int | None) -> QueryResult:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError, ServiceResponseError
        from azure.monitor.query import LogsQueryStatus

        try:
            if target.workspace_id:
                more = list(target.additional_workspaces) or None  # one request for every workspace (logs --policy)
                result = self.client.query_workspace(
                    target.workspace_id, kql, timespan=None, server_timeout=server_timeout, additional_workspaces=more
                )
            else:
                result = self.client.query_resource(target.resource_id, kql, timespan=None, server_timeout=server_timeout)
        except ClientAuthenticationError as exc:
            if getattr(exc, "status_code", None) in (401, 403):
                raise _http_error(exc, target) from None
            raise AuthenticationError(f"no token for Log Analytics: {first_line(exc)}", "check --auth and azsqlctl whoami") from None
        except HttpResponseError as exc:
            raise _http_error(exc, target) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            failure = endpoint_failure(Endpoint.LOGS, self.endpoint, exc, self.timeout)
            raise PollFailed(failure.message, FailureKind.NETWORK, hint=failure.hint, code=failure.code) from None
        if result.status == LogsQueryStatus.PARTIAL:
            tables, error = result.partial_data, result.partial_error
            detail = error.message if error else "the service gave no reason"
            if error is not None and error.details:
                # The SDK's details are its own mapping type (not dict): read them as mappings.
                inner = [_inner_message(d) for d in error.details if isinstance(d, Mapping)]
                detail = " ".join([detail.strip(), *(m for m in inner if m)])
        else:
            tables, detail = result.tables, ""
        # One request over several workspaces does not say which one fell short: "the query" then.
        where = "" if target.additional_workspaces else target.workspace_id or target.resource_id
        partial = (PartialFailure(where, PartialReason.INCOMPLETE, detail),) if detail else ()
        if not tables:
            return QueryResult((), [], partial)
        table = tables[0]
        return QueryResult(tuple(table.columns), [list(r) for r in table.rows], partial)


def _inner_message(detail: Mapping[str, object]) -> str:
    """The innermost message of one error detail (Log Analytics nests innererror)."""
    message, inner = str(detail.get("message") or ""), detail.get("innererror")
    while isinstance(inner, Mapping):
        message = str(inner.get("message") or message)
        inner = inner.get("innererror")
    return message


def _http_error(exc: HttpResponseError, target: LogsTarget) -> AzsqlctlError:
    status = int(getattr(exc, "status_code", 0) or 0)
    code, message = _service_error(exc)
    text = f"Log Analytics answered {status} {code}: {message}" if code else f"Log Analytics answered {status}: {message}"
    kind = failure_kind(status)
    if kind is not None:
        headers = getattr(getattr(exc, "response", None), "headers", {}) or {}
        return PollFailed(text, kind, status, parse_retry_after(headers.get("Retry-After"), datetime.now(UTC)))
    if status == 404:
        hint = (
            "check --workspace: it takes the workspace's customer id (Workspace ID in the portal), not its ARM id"
            if target.workspace_id
            else "check --resource: the ARM id of the server or one of its databases"
        )
        return NotFound(text, hint, code="workspace_not_found")
    if status == 403:
        return PermissionDenied(text, "the identity needs the Log Analytics Reader role on the workspace (or Reader on the resource)")
    if status == 401:
        return AuthenticationError(text, "check the credential: azsqlctl whoami; the token must be for the Log Analytics resource")
    return AzsqlctlError(text, "--show-query prints the KQL that was sent", code="query_failed")


def _service_error(exc: HttpResponseError) -> tuple[str, str]:
    """The service's own code and the innermost message (Log Analytics nests innererror)."""
    response = getattr(exc, "response", None)
    try:
        body = response.json() if response is not None else {}
    except Exception:  # noqa: BLE001 - a body that is not JSON: fall back to the exception text
        body = {}
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return "", first_line(exc)
    code, message, inner = str(err.get("code", "")), str(err.get("message", "")), err
    while isinstance(inner.get("innererror"), dict):
        inner = inner["innererror"]
        message = str(inner.get("message") or message)
    return code, message


# --- ARM: auditing, diagnostic settings, workspaces ----------------------------------------------


class ArmMonitorConfig:
    """Reads are plain GETs over ``arm_pipeline`` (azure-mgmt-sql alone costs ~170 ms to import, a third of a
    `logs` run, for a handful of GETs); the writes (``logs --setup``) go through azure-mgmt-sql and
    azure-mgmt-monitor, whose clients are built on the first write."""

    def __init__(self, credential: TokenCredential, cloud: Cloud, subscription: str, timeout: float = 30) -> None:
        from .arm_pipeline import ArmPipeline

        if not subscription:
            raise UsageError("no subscription given", f"pass --subscription (or set {env_name('subscription')})", code="no_subscription")
        self.cloud, self.timeout = cloud, timeout
        self.credential = credential
        self.arm = ArmPipeline(credential, cloud, timeout)
        self.subscription = subscription

    @functools.cached_property
    def sql(self) -> SqlManagementClient:
        from .arm import sql_management_client

        return sql_management_client(self.credential, self.cloud, self.subscription, self.timeout)

    @functools.cached_property
    def monitor(self) -> MonitorManagementClient:
        from azure.mgmt.monitor import MonitorManagementClient

        from .transport import client_options

        return MonitorManagementClient(
            self.credential,
            self.subscription,
            base_url=self.cloud.arm_endpoint,
            credential_scopes=[self.cloud.arm_scope],
            connection_verify=self.cloud.ca_bundle or True,
            **client_options(self.timeout),
        )

    def _call(self, what: str, fn: Callable[[], R]) -> R:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError, ServiceResponseError

        try:
            return fn()
        except ResourceNotFoundError as exc:
            raise NotFound(f"ARM: {what}: {exception_message(exc)}", "check --subscription, --resource-group and --server") from None
        except HttpResponseError as exc:
            raise arm_failure(exc) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise endpoint_failure(Endpoint.ARM, self.cloud.arm_endpoint, exc, self.timeout) from None

    @staticmethod
    def _check(what: str) -> Callable[[int, Json], None]:
        """A failed read, mapped as ``_call`` maps the SDKs' exceptions for the same answer."""

        def check(status: int, body: Json) -> None:
            if status == 404:
                raise NotFound(f"ARM: {what}: {body_message(body)}", "check --subscription, --resource-group and --server")
            if status >= 400:
                raise arm_refusal(status, body_message(body))

        return check

    def _read(self, what: str, path: str, api_version: str = SQL_API_VERSION) -> Json:
        status, body = self.arm.send(path, api_version)
        self._check(what)(status, body)
        return body

    def _server_path(self, server: ServerRef) -> str:
        return f"{_servers_path(server.subscription, server.resource_group)}/{quote(server.name)}"

    def find_server(self, resource_group: str, name: str, host: str) -> ServerRef:
        if not resource_group:
            raise UsageError(
                "no resource group given", f"pass --resource-group (or set {env_name('resource_group')})", code="no_resource_group"
            )
        servers = _servers_path(self.subscription, resource_group)
        if name:
            server = self._read(f"server {name}", f"{servers}/{quote(name)}")
            return ServerRef(self.subscription, resource_group, wire_text(server.get("name")))
        listed = self.arm.values(servers, SQL_API_VERSION, self._check(f"servers in {resource_group}"))
        matches = [s for s in listed if wire_text(_json(s.get("properties")).get("fullyQualifiedDomainName")).lower() == host.lower()]
        if len(matches) != 1:
            raise NotFound(f"no server in resource group '{resource_group}' has the name {host}", "pass --server with the server's name")
        return ServerRef(self.subscription, resource_group, wire_text(matches[0].get("name")))

    def auditing(self, server: ServerRef) -> AuditingPolicy:
        body = self._read("auditing settings", f"{self._server_path(server)}/auditingSettings/default")
        props = body.get("properties")
        if not isinstance(props, dict):  # ARM's default for a server never configured
            return AuditingPolicy(state="Disabled", azure_monitor=False, action_groups=(), retention_days=0)
        groups = props.get("auditActionsAndGroups")
        retention = props.get("retentionDays")
        return AuditingPolicy(
            state=wire_text(props.get("state")) or "Disabled",
            azure_monitor=bool(props.get("isAzureMonitorTargetEnabled")),
            action_groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (),
            retention_days=int(retention) if isinstance(retention, int | float) else 0,
        )

    def set_auditing(self, server: ServerRef, policy: AuditingPolicy) -> AuditingPolicy:
        from azure.mgmt.sql import models

        body = models.ServerBlobAuditingPolicy(
            properties=models.ServerBlobAuditingPolicyProperties(
                state=policy.state,
                is_azure_monitor_target_enabled=policy.azure_monitor,
                audit_actions_and_groups=list(policy.action_groups),
                retention_days=policy.retention_days,
            )
        )
        poller = self._call(
            "auditing settings",
            lambda: self.sql.server_blob_auditing_policies.begin_create_or_update(server.resource_group, server.name, body),
        )
        self._call("auditing settings", poller.result)
        return self.auditing(server)

    def diagnostic_settings(self, resource_id: str) -> list[DiagnosticSetting]:
        path = f"/{resource_id.lstrip('/')}/providers/Microsoft.Insights/diagnosticSettings"
        listed = self.arm.values(path, DIAGNOSTIC_API_VERSION, self._check("diagnostic settings"))
        return [_setting(s) for s in listed]

    def set_diagnostic_setting(self, resource_id: str, setting: DiagnosticSetting) -> DiagnosticSetting:
        from azure.mgmt.monitor.v2021_05_01_preview.models import DiagnosticSettingsResource, LogSettings

        groups = {"audit", "alllogs"}
        logs = [
            LogSettings(enabled=True, category_group=c) if c.lower() in groups else LogSettings(enabled=True, category=c)
            for c in setting.categories
        ]
        body = DiagnosticSettingsResource(
            workspace_id=setting.workspace_id or None,
            logs=logs,
            storage_account_id=setting.other.get("storage_account_id"),
            event_hub_authorization_rule_id=setting.other.get("event_hub_authorization_rule_id"),
            event_hub_name=setting.other.get("event_hub_name"),
        )
        done = self._call(
            "diagnostic setting", lambda: self.monitor.diagnostic_settings.create_or_update(resource_id.lstrip("/"), setting.name, body)
        )
        return _setting(done.serialize(keep_readonly=True))

    def workspaces(self, resource_group: str) -> list[Workspace]:
        path = f"/subscriptions/{self.subscription}/resourceGroups/{resource_group}/providers/Microsoft.OperationalInsights/workspaces"
        status, body = self.arm.send(path, WORKSPACE_API_VERSION)
        if status != 200:
            return []
        listed = body.get("value")
        return [
            _workspace(body, str(body.get("id", ""))) for body in (listed if isinstance(listed, list) else []) if isinstance(body, dict)
        ]

    def workspace(self, arm_id: str) -> Workspace:
        if "/providers/microsoft.operationalinsights/workspaces/" not in arm_id.lower():
            raise UsageError(
                f"{arm_id!r} is not a Log Analytics workspace's resource id",
                "e.g. /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>",
                code="bad_workspace_resource",
            )
        status, body = self.arm.send(arm_id, WORKSPACE_API_VERSION)
        if status == 404:
            raise NotFound(
                f"ARM: workspace {arm_id} was not found", "check the workspace's resource id (az monitor log-analytics workspace show)"
            )
        if status >= 400:
            raise arm_refusal(status, body_message(body))
        return _workspace(body, arm_id)


def _servers_path(subscription: str, resource_group: str) -> str:
    return f"/subscriptions/{quote(subscription)}/resourceGroups/{quote(resource_group)}/providers/Microsoft.Sql/servers"


def _json(body: object) -> Mapping[str, object]:
    """A JSON answer as an object (anything else: empty)."""
    return body if isinstance(body, dict) else {}


def _workspace(body: Mapping[str, object], arm_id: str) -> Workspace:
    props = _json(body.get("properties"))
    retention = props.get("retentionInDays")
    return Workspace(str(body.get("id") or arm_id), str(body.get("name") or ""), str(props.get("customerId") or ""),
                     int(retention) if isinstance(retention, int | float | str) and retention else None)  # fmt: skip


def _setting(body: Json) -> DiagnosticSetting:
    """A diagnostic setting from its ARM JSON (a GET's entry, or the SDK model a write returned, serialized)."""
    props = _json(body.get("properties"))
    logs = props.get("logs")
    entries = [_json(e) for e in logs] if isinstance(logs, list) else []
    categories = tuple(str(e.get("category") or e.get("categoryGroup")) for e in entries if e.get("enabled"))
    wire = {
        "storage_account_id": "storageAccountId",
        "event_hub_authorization_rule_id": "eventHubAuthorizationRuleId",
        "event_hub_name": "eventHubName",
    }
    other = {k: str(v) for k, key in wire.items() if (v := props.get(key))}
    return DiagnosticSetting(str(body.get("name") or ""), str(props.get("workspaceId") or ""), categories, other)

"""ARM routes for what ``azsqlctl logs`` reads and ``logs enable`` writes, in Microsoft's REST shapes.

- ``Microsoft.Sql/servers/{s}/auditingSettings/default`` (and ``extendedAuditingSettings``): GET/PUT,
  as ServerBlobAuditingGet.json / ServerBlobAuditingCreateMax.json (2025-01-01).
- ``Microsoft.Sql/servers/{s}/databases/master/providers/Microsoft.Insights/diagnosticSettings[/{name}]``:
  GET (one or the list), PUT, DELETE, as getDiagnosticSetting.json / createOrUpdateDiagnosticSetting.json
  (2021-05-01-preview); ids use lower-case ``resourcegroups``/``microsoft.insights`` as Azure returns them.
- ``Microsoft.OperationalInsights/workspaces[/{w}]``: GET, with ``properties.customerId`` (what the
  query API takes) and ``retentionInDays``.

``arm.ArmService.handle`` calls :func:`route` after it has checked the token; ``None`` means
"not one of these paths". The sandbox server's configuration lives in ``SandboxState.monitor``
(``monitor/state.py``); a fleet server's (``resourcegraph.FleetServer``) on that server, in the inventory.
Workspaces live in the sandbox's resource group; any server's diagnostic setting may point to any of them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..monitor.state import DEFAULT_ACTION_GROUPS, AuditingPolicy, DiagnosticSetting, workspace_arm_id
from ..state import SandboxState
from ..store import StateStore
from .resourcegraph import Inventory

Response = tuple[int, Any]

_SERVER = r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Sql/servers/(?P<server>[^/]+)"
_AUDITING = re.compile(_SERVER + r"/(?P<kind>auditingSettings|extendedAuditingSettings)(?:/(?P<name>[^/]+))?/?$", re.I)
_DIAG = re.compile(_SERVER + r"/databases/(?P<db>[^/]+)/providers/Microsoft\.Insights/diagnosticSettings(?:/(?P<name>[^/]+))?/?$", re.I)
_WORKSPACE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.OperationalInsights/workspaces(?:/(?P<name>[^/]+))?/?$",
    re.I,
)


def _error(status: int, code: str, message: str) -> Response:
    return status, {"error": {"code": code, "message": message}}


@dataclass(frozen=True)
class AuditedServer:
    """A logical server's audit configuration, the sandbox's own or a fleet server's: the objects themselves
    (changes go to where they live: the state, or the in-memory inventory)."""

    name: str
    subscription_id: str
    resource_group: str
    auditing: AuditingPolicy
    diagnostic_settings: list[DiagnosticSetting]
    has_database: Callable[[str], bool]

    @property
    def arm_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/Microsoft.Sql/servers/{self.name}"


def audited_servers(s: SandboxState, fleet: Inventory | None) -> list[AuditedServer]:
    """Every logical server whose logins are audited: the sandbox's own first, then the fleet's."""
    srv = s.server
    own = AuditedServer(srv.name, srv.subscription_id, srv.resource_group, s.monitor.auditing, s.monitor.diagnostic_settings,
                        lambda name: name.lower() == "master" or srv.database(name) is not None)  # fmt: skip
    others = [
        AuditedServer(f.name, f.subscription_id, f.resource_group, f.auditing, f.diagnostic_settings, f.has_database)
        for f in (fleet.servers if fleet is not None else [])
    ]
    return [own, *others]


Handler = Callable[[SandboxState, "Inventory | None", str, "re.Match[str]", dict[str, Any]], Response]


def route(store: StateStore, method: str, path: str, body: Any, fleet: Inventory | None = None) -> Response | None:
    path = re.sub(r"^/+", "/", path)  # azure-mgmt-monitor puts "/{resourceUri}" in front of an id that starts with "/"
    handlers: tuple[tuple[re.Pattern[str], Handler], ...] = ((_AUDITING, _auditing), (_DIAG, _diagnostic), (_WORKSPACE, _workspace))
    for pattern, handler in handlers:
        m = pattern.match(path)
        if m is None:
            continue
        if method == "GET":
            found: Response = store.read(_reader(handler, fleet, m))
            return found
        with store.mutate() as state:  # the store's lock also guards the fleet's in-memory configuration
            return handler(state, fleet, method, m, body if isinstance(body, dict) else {})
    return None


def _reader(handler: Handler, fleet: Inventory | None, m: re.Match[str]) -> Callable[[SandboxState], Response]:
    return lambda s: handler(s, fleet, "GET", m, {})


def _scope(s: SandboxState, m: re.Match[str]) -> Response | None:
    """The sandbox's own subscription and resource group (where its workspaces live)."""
    srv = s.server
    if m["sub"].lower() != srv.subscription_id.lower():
        return _error(404, "SubscriptionNotFound", f"The subscription '{m['sub']}' could not be found.")
    if m["rg"].lower() != srv.resource_group.lower():
        return _error(404, "ResourceGroupNotFound", f"Resource group '{m['rg']}' could not be found.")
    return None


def _server(s: SandboxState, fleet: Inventory | None, m: re.Match[str]) -> AuditedServer | Response:
    """The server the path names, or ARM's 404 for it (its subscription, resource group, or itself)."""
    servers = audited_servers(s, fleet)
    if not any(x.subscription_id.lower() == m["sub"].lower() for x in servers):
        return _error(404, "SubscriptionNotFound", f"The subscription '{m['sub']}' could not be found.")
    in_sub = [x for x in servers if x.subscription_id.lower() == m["sub"].lower()]
    if not any(x.resource_group.lower() == m["rg"].lower() for x in in_sub):
        return _error(404, "ResourceGroupNotFound", f"Resource group '{m['rg']}' could not be found.")
    found = next((x for x in in_sub if x.resource_group.lower() == m["rg"].lower() and x.name.lower() == m["server"].lower()), None)
    if found is None:
        return _error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Sql/servers/{m['server']}' under resource group '{m['rg']}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    return found


# --- auditingSettings ---------------------------------------------------------------------------


def auditing_body(server: AuditedServer, kind: str = "auditingSettings") -> dict[str, Any]:
    a = server.auditing
    return {
        "id": f"{server.arm_id}/{kind}/default",
        "name": "default",
        "type": f"Microsoft.Sql/servers/{kind}",
        "properties": {
            "state": a.state,
            "storageEndpoint": "",
            "retentionDays": a.retention_days,
            "auditActionsAndGroups": list(a.action_groups),
            "storageAccountSubscriptionId": "00000000-0000-0000-0000-000000000000",
            "isStorageSecondaryKeyInUse": False,
            "isAzureMonitorTargetEnabled": a.azure_monitor,
            "isManagedIdentityInUse": False,
        },
    }


def _auditing(s: SandboxState, fleet: Inventory | None, method: str, m: re.Match[str], body: dict[str, Any]) -> Response:
    server = _server(s, fleet, m)
    if not isinstance(server, AuditedServer):
        return server
    kind = "auditingSettings" if m["kind"].lower() == "auditingsettings" else "extendedAuditingSettings"
    if m["name"] is None:
        return (200, {"value": [auditing_body(server, kind)]}) if method == "GET" else _not_allowed(method)
    if m["name"].lower() != "default":
        return _error(
            404, "ResourceNotFound", f"The requested resource of type 'Microsoft.Sql/servers/{kind}' with name '{m['name']}' was not found."
        )
    if method == "GET":
        return 200, auditing_body(server, kind)
    if method != "PUT":
        return _not_allowed(method)
    props = body.get("properties") or {}
    state = str(props.get("state", ""))
    if state.lower() not in ("enabled", "disabled"):
        return _error(400, "InvalidParameterValue", "Invalid value given for parameter state. Specify a valid parameter value.")
    a = server.auditing
    was_on = a.state.lower() == "enabled" and a.azure_monitor
    a.state = "Enabled" if state.lower() == "enabled" else "Disabled"
    a.azure_monitor = bool(props.get("isAzureMonitorTargetEnabled", False))
    groups = props.get("auditActionsAndGroups")
    if isinstance(groups, list):
        a.action_groups = [str(g) for g in groups]
    elif a.state == "Enabled" and not a.action_groups:
        a.action_groups = list(DEFAULT_ACTION_GROUPS)  # Azure's defaults when none are given
    if isinstance(props.get("retentionDays"), int):
        a.retention_days = props["retentionDays"]
    if not was_on and a.state == "Enabled" and a.azure_monitor:
        a.enabled_since = time.time()
    return 200, auditing_body(server, kind)


# --- diagnostic settings on master ----------------------------------------------------------------


def diagnostic_body(server: AuditedServer, d: DiagnosticSetting) -> dict[str, Any]:
    rid = (f"/subscriptions/{server.subscription_id}/resourcegroups/{server.resource_group}/providers/microsoft.sql/servers/"
           f"{server.name}/databases/master")  # fmt: skip
    return {
        "id": f"{rid}/providers/microsoft.insights/diagnosticSettings/{d.name}",
        "type": "Microsoft.Insights/diagnosticSettings",
        "name": d.name,
        "properties": {
            "storageAccountId": None,
            "workspaceId": d.workspace_id or None,
            "eventHubAuthorizationRuleId": None,
            "eventHubName": None,
            "metrics": [],
            "logs": [
                {
                    **({"categoryGroup": c} if c.lower() in ("alllogs", "audit") else {"category": c}),
                    "enabled": True,
                    "retentionPolicy": {"enabled": False, "days": 0},
                }
                for c in d.categories
            ],
            "logAnalyticsDestinationType": None,
        },
    }


def _diagnostic(s: SandboxState, fleet: Inventory | None, method: str, m: re.Match[str], body: dict[str, Any]) -> Response:
    server = _server(s, fleet, m)
    if not isinstance(server, AuditedServer):
        return server
    db = m["db"].lower()
    if not server.has_database(db):
        return _error(
            404,
            "ResourceNotFound",
            f"The requested resource of type 'Microsoft.Sql/servers/databases' with name '{m['db']}' was not found.",
        )
    settings = server.diagnostic_settings if db == "master" else []  # user databases: none in the sandbox
    name = m["name"]
    if name is None:
        return (200, {"value": [diagnostic_body(server, d) for d in settings]}) if method == "GET" else _not_allowed(method)
    found = next((d for d in settings if d.name.lower() == name.lower()), None)
    if method == "GET":
        if found is None:
            return _error(404, "ResourceNotFound", f"The diagnostic setting '{name}' doesn't exist.")
        return 200, diagnostic_body(server, found)
    if method == "DELETE":
        if found is not None:
            server.diagnostic_settings.remove(found)
        return 200, None
    if method != "PUT":
        return _not_allowed(method)
    if db != "master":
        return _error(400, "BadRequest", "The azsqlctl sandbox keeps diagnostic settings on the master database only.")
    props = body.get("properties") or {}
    logs = props.get("logs") or []
    categories = [
        str(entry.get("category") or entry.get("categoryGroup") or "") for entry in logs if isinstance(entry, dict) and entry.get("enabled")
    ]
    workspace = str(props.get("workspaceId") or "")
    if workspace and not _workspace_exists(s, workspace):
        return _error(400, "LinkedInvalidPropertyId", f"Property id '{workspace}' at path 'properties.workspaceId' is invalid.")
    if not (workspace or props.get("storageAccountId") or props.get("eventHubAuthorizationRuleId")):
        return _error(400, "BadRequest", "At least one destination (storage account, event hub or workspace) must be set.")
    sending_before = found is not None and found.workspace_id.lower() == workspace.lower() and set(found.categories) == set(categories)
    setting = found or DiagnosticSetting(name)
    setting.workspace_id, setting.categories = workspace, [c for c in categories if c]
    if not sending_before:
        setting.enabled_since = time.time()
    if found is None:
        server.diagnostic_settings.append(setting)
    return 200, diagnostic_body(server, setting)


def _workspace_exists(s: SandboxState, arm_id: str) -> bool:
    srv = s.server
    return any(workspace_arm_id(srv.subscription_id, srv.resource_group, w.name).lower() == arm_id.lower() for w in s.monitor.workspaces)


# --- workspaces -------------------------------------------------------------------------------------


def workspace_body(s: SandboxState, name: str) -> dict[str, Any]:
    srv = s.server
    ws = next(w for w in s.monitor.workspaces if w.name.lower() == name.lower())
    return {
        "id": workspace_arm_id(srv.subscription_id, srv.resource_group, ws.name),
        "name": ws.name,
        "type": "Microsoft.OperationalInsights/workspaces",
        "location": srv.location,
        "properties": {
            "customerId": ws.customer_id,
            "provisioningState": "Succeeded",
            "sku": {"name": "PerGB2018"},
            "retentionInDays": ws.retention_days,
            "publicNetworkAccessForIngestion": "Enabled",
            "publicNetworkAccessForQuery": "Enabled",
        },
    }


def _workspace(s: SandboxState, fleet: Inventory | None, method: str, m: re.Match[str], body: dict[str, Any]) -> Response:
    del fleet, body
    if (err := _scope(s, m)) is not None:
        return err
    if method != "GET":
        return _not_allowed(method)
    if m["name"] is None:
        return 200, {"value": [workspace_body(s, w.name) for w in s.monitor.workspaces]}
    if not any(w.name.lower() == m["name"].lower() for w in s.monitor.workspaces):
        return _error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.OperationalInsights/workspaces/{m['name']}' under resource group '{m['rg']}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    return 200, workspace_body(s, m["name"])


def _not_allowed(method: str) -> Response:
    return _error(405, "MethodNotAllowed", f"{method} is not supported on this resource by the azsqlctl sandbox.")

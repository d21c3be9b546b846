"""Azure Resource Manager for Microsoft.Sql, over HTTPS, in the 2025-01-01 JSON shapes.

Covers what azsqlctl reads and writes: servers, databases, firewallRules,
administrators (Entra admin) and azureADOnlyAuthentications. Bodies follow
Microsoft's REST API examples (ServerGet, FirewallRuleList, AdministratorGet,
AzureADOnlyAuthGet, GetVCoreDatabase). Paths are matched case-insensitively, as ARM does.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from ..entra.tokens import Issuer, TokenRejected
from ..faults import Faults
from ..state import Database, EntraAdmin, FirewallRule, SandboxState, Server
from ..store import StateStore
from . import monitoring as arm_monitor
from .resourcegraph import ROUTE as GRAPH_ROUTE
from .resourcegraph import FleetServer, Inventory, ResourceGraphService, WithHeaders

ARM_AUDIENCES = ("https://management.azure.com/", "https://management.core.windows.net/")
Response = tuple[int, Any]

_ROUTE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?/providers/Microsoft\.Sql/servers"
    r"(?:/(?P<server>[^/]+)(?:/(?P<child>databases|firewallRules|administrators|azureADOnlyAuthentications)"
    r"(?:/(?P<name>[^/]+))?)?)?/?$",
    re.I,
)


# Resources that carry a managed identity (grant --identity-resource): user-assigned identities,
# and any resource type whose system-assigned identity an Identity names in ``resource``.
_IDENTITY_ROUTE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/(?P<ns>Microsoft\.(?!Sql/)[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+)/?$",
    re.I,
)
UAMI = "Microsoft.ManagedIdentity/userAssignedIdentities"


def _error(status: int, code: str, message: str) -> Response:
    return status, {"error": {"code": code, "message": message}}


def server_id(s: Server) -> str:
    return f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}/providers/Microsoft.Sql/servers/{s.name}"


def server_body(state: SandboxState, fqdn: str) -> dict[str, Any]:
    s = state.server
    props: dict[str, Any] = {
        "fullyQualifiedDomainName": fqdn,
        "version": "12.0",
        "state": "Ready",
        "publicNetworkAccess": s.public_network_access,
        "minimalTlsVersion": s.minimal_tls_version,
        "restrictOutboundNetworkAccess": "Disabled",
        "privateEndpointConnections": [],
    }
    if s.entra_admin:
        props["administrators"] = {
            "administratorType": "ActiveDirectory",
            "principalType": s.entra_admin.principal_type,
            "login": s.entra_admin.login,
            "sid": s.entra_admin.sid,
            "tenantId": s.entra_admin.tenant_id or state.tenant_id,
            "azureADOnlyAuthentication": s.entra_only,
        }
    body: dict[str, Any] = {
        "id": server_id(s),
        "name": s.name,
        "type": "Microsoft.Sql/servers",
        "location": s.location,
        "kind": "v12.0",
        "properties": props,
    }
    if s.identity:
        principal = str(uuid.uuid5(uuid.NAMESPACE_URL, server_id(s) + "/identity"))
        body["identity"] = {"type": s.identity, "principalId": principal, "tenantId": state.tenant_id}
    return body


def fleet_server_body(f: FleetServer) -> dict[str, Any]:
    sid = f"/subscriptions/{f.subscription_id}/resourceGroups/{f.resource_group}/providers/Microsoft.Sql/servers/{f.name}"
    return {
        "id": sid, "name": f.name, "type": "Microsoft.Sql/servers", "location": f.location, "kind": "v12.0", "tags": dict(f.tags),
        "properties": {"fullyQualifiedDomainName": f.fqdn or f"{f.name}.database.windows.net", "version": "12.0", "state": "Ready",
                       "publicNetworkAccess": "Enabled", "minimalTlsVersion": "1.2", "restrictOutboundNetworkAccess": "Disabled",
                       "privateEndpointConnections": []},
    }  # fmt: skip


def fleet_database_body(f: FleetServer, name: str) -> dict[str, Any]:
    sid = f"/subscriptions/{f.subscription_id}/resourceGroups/{f.resource_group}/providers/Microsoft.Sql/servers/{f.name}"
    body = database_body(Server(f.name, f.subscription_id, f.resource_group, f.location), Database(name))
    body["id"] = f"{sid}/databases/{name}"
    if name.lower() == "master":
        body["kind"] = "v12.0,system"
    return body


def database_body(s: Server, db: Database) -> dict[str, Any]:
    return {
        "sku": {"name": "GP_S_Gen5", "tier": "GeneralPurpose", "family": "Gen5", "capacity": 1},
        "kind": "v12.0,user,vcore,serverless",
        "properties": {
            "collation": "SQL_Latin1_General_CP1_CI_AS",
            "status": "Online" if db.available else "Offline",
            "databaseId": str(uuid.uuid5(uuid.NAMESPACE_URL, server_id(s) + "/" + db.name)),
            "currentServiceObjectiveName": "GP_S_Gen5_1",
            "catalogCollation": "SQL_Latin1_General_CP1_CI_AS",
            "zoneRedundant": False,
        },
        "location": s.location,
        "id": f"{server_id(s)}/databases/{db.name}",
        "name": db.name,
        "type": "Microsoft.Sql/servers/databases",
    }


def firewall_body(s: Server, rule: FirewallRule) -> dict[str, Any]:
    return {
        "id": f"{server_id(s)}/firewallRules/{rule.name}",
        "name": rule.name,
        "type": "Microsoft.Sql/servers/firewallRules",
        "properties": {"startIpAddress": rule.start_ip, "endIpAddress": rule.end_ip},
    }


def admin_body(state: SandboxState, admin: EntraAdmin) -> dict[str, Any]:
    return {
        "id": f"{server_id(state.server)}/administrators/ActiveDirectory",
        "name": "ActiveDirectory",
        "type": "Microsoft.Sql/servers/administrators",
        "properties": {
            "administratorType": "ActiveDirectory",
            "login": admin.login,
            "sid": admin.sid,
            "tenantId": admin.tenant_id or state.tenant_id,
            "azureADOnlyAuthentication": state.server.entra_only,
        },
    }


def aad_only_body(s: Server) -> dict[str, Any]:
    return {
        "id": f"{server_id(s)}/azureadonlyauthentications/default",
        "name": "Default",
        "type": "Microsoft.Sql/servers/azureadonlyauthentications",
        "properties": {"azureADOnlyAuthentication": s.entra_only},
    }


class ArmService:
    def __init__(self, store: StateStore, issuer: Issuer, faults: Faults, fqdn: str, fleet: Inventory | None = None) -> None:
        self.store, self.issuer, self.faults, self.fqdn = store, issuer, faults, fqdn
        self.requests = 0
        self.fleet = fleet if fleet is not None else Inventory()  # the other logical servers (Resource Graph's inventory)
        self.graph = ResourceGraphService(store, faults, fqdn, self.fleet)  # POST /providers/Microsoft.ResourceGraph/resources

    def handle(self, method: str, path: str, authorization: str | None, body: Any, query: str = "") -> Response:
        self.requests += 1
        fault = self.faults.take("arm", {"delay", "error500"})
        if fault is not None:
            if fault.kind == "delay":
                self.faults.sleep(fault.delay)
            else:
                return _error(500, "InternalServerError", "An unexpected error occured while processing the request.")
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        tenant = self.store.read(lambda s: s.tenant_id)
        try:
            self.issuer.verify(token, ARM_AUDIENCES, tenant)
        except TokenRejected as rejected:
            if rejected.reason == "expired":
                return _error(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.")
            return _error(401, "InvalidAuthenticationToken", f"The access token is invalid ({rejected.reason}).")
        if method == "POST" and GRAPH_ROUTE.match(path):
            status, payload, headers = self.graph.handle(query, body)
            return status, WithHeaders(payload, headers)
        monitor = arm_monitor.route(self.store, method, path, body, self.fleet)  # auditing, diagnostic settings, workspaces
        if monitor is not None:
            return monitor
        # Any other provider's resource (web app, user-assigned identity ...): its identity block.
        if method == "GET" and (r := _IDENTITY_ROUTE.match(path)):
            return self.store.read(lambda s: identity_resource(s, r))
        m = _ROUTE.match(path)
        if not m:
            return _error(404, "InvalidResourceType", f"The resource type could not be found for the path '{path}'.")
        fleet_server = self.fleet.server(m["server"], m["sub"], m["rg"] or "") if m["server"] else None
        if fleet_server is not None:
            return self._fleet_server(fleet_server, method, m)
        if method == "GET":
            return self.store.read(lambda s: self._get(s, m))
        with self.store.mutate() as state:
            return self._write(state, method, m, body or {})

    def _scope(self, s: SandboxState, m: re.Match[str]) -> Response | None:
        srv = s.server
        if m["sub"].lower() != srv.subscription_id.lower():
            return _error(404, "SubscriptionNotFound", f"The subscription '{m['sub']}' could not be found.")
        if m["rg"] and m["rg"].lower() != srv.resource_group.lower():
            return _error(404, "ResourceGroupNotFound", f"Resource group '{m['rg']}' could not be found.")
        if m["server"] and m["server"].lower() != srv.name.lower():
            return _error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Sql/servers/{m['server']}' under resource group '{m['rg']}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        return None

    def _fleet_server(self, f: FleetServer, method: str, m: re.Match[str]) -> Response:
        """A fleet server: GET of itself and its databases (what ``logs --policy`` and ``find_server`` read); it has
        no firewall rules or Entra admin of its own in the sandbox (its logins follow the sandbox server's)."""
        if method != "GET":
            return _error(405, "MethodNotAllowed", f"{method} is not supported on the azsqlctl sandbox's fleet server {f.name} (ARM-only).")
        child, name = (m["child"] or "").lower(), m["name"]
        if not child:
            return 200, fleet_server_body(f)
        if child == "databases":
            names = ["master", *f.databases]
            dbs = [fleet_database_body(f, n) for n in names if name is None or n.lower() == name.lower()]
            return (200, {"value": dbs}) if name is None else (200, dbs[0]) if dbs else self._missing("databases", name)
        if name is None:
            return 200, {"value": []}
        return self._missing(m["child"], name)

    def _get(self, s: SandboxState, m: re.Match[str]) -> Response:
        err = self._scope(s, m)
        if not m["server"]:  # the servers of a resource group (or subscription): the sandbox's and the fleet's there
            fleet = [fleet_server_body(f) for f in self.fleet.servers if f.subscription_id.lower() == m["sub"].lower()
                     and (not m["rg"] or f.resource_group.lower() == m["rg"].lower())]  # fmt: skip
            own = [server_body(s, self.fqdn)] if err is None else []
            return (200, {"value": own + fleet}) if own or fleet else err or (200, {"value": []})
        if err is not None:
            return err
        srv, child, name = s.server, (m["child"] or "").lower(), m["name"]
        if not child:
            return 200, server_body(s, self.fqdn)
        if child == "databases":
            dbs = [database_body(srv, d) for d in srv.databases if name is None or d.name.lower() == name.lower()]
            dbs.insert(0, database_body(srv, Database("master"))) if name is None or name.lower() == "master" else None
            return (200, {"value": dbs}) if name is None else (200, dbs[0]) if dbs else self._missing("databases", name)
        if child == "firewallrules":
            rules = [firewall_body(srv, r) for r in srv.firewall_rules if name is None or r.name.lower() == name.lower()]
            return (200, {"value": rules}) if name is None else (200, rules[0]) if rules else self._missing("firewallRules", name)
        if child == "administrators":
            admins = [admin_body(s, srv.entra_admin)] if srv.entra_admin else []
            if name is None:
                return 200, {"value": admins}
            return (200, admins[0]) if admins and name.lower() == "activedirectory" else self._missing("administrators", name)
        if name is None:
            return 200, {"value": [aad_only_body(srv)]}
        return (200, aad_only_body(srv)) if name.lower() == "default" else self._missing("azureADOnlyAuthentications", name)

    @staticmethod
    def _missing(kind: str, name: str) -> Response:
        return _error(
            404, "ResourceNotFound", f"The requested resource of type 'Microsoft.Sql/servers/{kind}' with name '{name}' was not found."
        )

    def _write(self, s: SandboxState, method: str, m: re.Match[str], body: dict[str, Any]) -> Response:
        if (err := self._scope(s, m)) is not None:
            return err
        srv, child, name = s.server, (m["child"] or "").lower(), m["name"] or ""
        props = body.get("properties", {})
        if child == "firewallrules" and name:
            existing = next((r for r in srv.firewall_rules if r.name.lower() == name.lower()), None)
            if method == "DELETE":
                if existing is None:
                    return 204, None
                srv.firewall_rules.remove(existing)
                return 200, None
            if method == "PUT":
                if srv.public_network_access.lower() == "disabled":
                    return _error(
                        400,
                        "DenyPublicEndpointEnabled",
                        "Unable to create or modify firewall rules when public network interface for the server is disabled. To manage server or database level firewall rules, please enable the public network interface.",
                    )
                rule = FirewallRule(name, props.get("startIpAddress", ""), props.get("endIpAddress", ""))
                if existing:
                    srv.firewall_rules.remove(existing)
                srv.firewall_rules.append(rule)
                return (200 if existing else 201), firewall_body(srv, rule)
        if child == "administrators" and name.lower() == "activedirectory":
            if method == "DELETE":
                srv.entra_admin = None
                return 200, None
            if method == "PUT":
                sid = str(props.get("sid", ""))
                # ARM resolves the principal's type from the directory, as this does from the sandbox's.
                found = next((i for i in s.identities if sid.lower() in (i.object_id.lower(), i.client_id.lower())), None)
                kind = {"group": "Group", "user": "User"}.get(found.kind, "Application") if found else "User"
                srv.entra_admin = EntraAdmin(props.get("login", ""), sid, kind, props.get("tenantId") or s.tenant_id)
                return 200, admin_body(s, srv.entra_admin)
        if child == "azureadonlyauthentications" and name.lower() == "default" and method == "PUT":
            srv.entra_only = bool(props.get("azureADOnlyAuthentication", True))
            return 200, aad_only_body(srv)
        if not child and m["server"] and method == "PATCH":
            if "publicNetworkAccess" in props:
                srv.public_network_access = props["publicNetworkAccess"]
            if "minimalTlsVersion" in props:
                srv.minimal_tls_version = props["minimalTlsVersion"]
            admin = props.get("administrators")
            if isinstance(admin, dict) and admin.get("sid"):
                # The server's administrators block carries principalType: recorded as sent (Group stays Group).
                kind = str(admin.get("principalType") or "User")
                if kind not in ("User", "Group", "Application"):
                    return _error(400, "InvalidParameterValue", f"Invalid value given for parameter principalType: '{kind}'.")
                tenant = str(admin.get("tenantId") or s.tenant_id)
                srv.entra_admin = EntraAdmin(str(admin.get("login", "")), str(admin["sid"]), kind, tenant)
            return 200, server_body(s, self.fqdn)
        return _error(405, "MethodNotAllowed", f"{method} is not supported on this resource by the azsqlctl sandbox.")


def identity_resource(s: SandboxState, m: re.Match[str]) -> Response:
    """GET a user-assigned identity (2023-01-31 shape) or a resource with a system-assigned identity (its shape's
    name, type, location and ``identity`` block: what ``az webapp show`` / UserAssignedIdentities_Get return)."""
    srv = s.server
    if m["sub"].lower() != srv.subscription_id.lower():
        return _error(404, "SubscriptionNotFound", f"The subscription '{m['sub']}' could not be found.")
    if m["rg"].lower() != srv.resource_group.lower():
        return _error(404, "ResourceGroupNotFound", f"Resource group '{m['rg']}' could not be found.")
    rtype, name = f"{m['ns']}/{m['type']}", m["name"]
    base = f"/subscriptions/{srv.subscription_id}/resourceGroups/{srv.resource_group}/providers"
    for ident in s.identities:
        if ident.kind != "managed_identity" or ident.system_assigned:
            continue
        if not ident.resource and rtype.lower() == UAMI.lower() and ident.name.lower() == name.lower():
            return 200, {
                "id": f"{base}/{UAMI}/{ident.name}", "name": ident.name, "type": UAMI, "location": srv.location, "tags": {},
                "properties": {"tenantId": s.tenant_id, "principalId": ident.object_id, "clientId": ident.client_id},
            }  # fmt: skip
        if ident.resource and ident.resource.lower() == f"{rtype}/{name}".lower():
            rtype_, _, rname = ident.resource.rpartition("/")
            body: dict[str, Any] = {
                "id": f"{base}/{ident.resource}", "name": rname, "type": rtype_, "location": srv.location,
                "identity": {"type": "SystemAssigned", "principalId": ident.object_id, "tenantId": s.tenant_id},
            }  # fmt: skip
            if rtype_.lower() == "microsoft.web/sites":
                body["kind"] = "app"
                body["properties"] = {"state": "Running", "defaultHostName": f"{rname}.azurewebsites.net", "enabled": True}
            return 200, body
    return _error(
        404,
        "ResourceNotFound",
        f"The Resource '{rtype}/{name}' under resource group '{m['rg']}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


# The types of the properties the sandbox's ARM stores (the REST API's schemas): ARM refuses a body
# that does not deserialize into them before any resource provider sees it, so nothing of another
# type reaches the state the TDS and token paths read.
_PROPERTY_TYPES: dict[str, type | tuple[type, ...]] = {
    "startIpAddress": str, "endIpAddress": str, "login": str, "sid": str, "tenantId": str, "administratorType": str,
    "principalType": str, "publicNetworkAccess": str, "minimalTlsVersion": str, "azureADOnlyAuthentication": bool,
    "azureADOnlyAuthentications": bool, "administrators": dict, "state": str, "isAzureMonitorTargetEnabled": bool,
    "auditActionsAndGroups": list, "retentionDays": int, "workspaceId": str, "storageAccountId": str,
    "eventHubAuthorizationRuleId": str, "logs": list, "category": str, "categoryGroup": str, "enabled": bool,
}  # fmt: skip


def body_problem(body: object) -> str:
    """Why a PUT/PATCH body cannot be what the API takes ("" when it can): not an object, or a known
    property of the wrong type (at any depth: the administrators block, diagnostic log entries)."""
    if not isinstance(body, dict):
        return "expected a JSON object"
    if not isinstance(body.get("properties", {}), dict):
        return "'properties' must be an object"

    def check(value: object, path: str) -> str:
        if isinstance(value, dict):
            for key, item in value.items():
                wanted = _PROPERTY_TYPES.get(key)
                if item is not None and wanted is not None and (not isinstance(item, wanted) or (wanted is int and isinstance(item, bool))):
                    return f"'{path}{key}' is not of the expected type"
                if found := check(item, f"{path}{key}."):
                    return found
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if found := check(item, f"{path}[{i}]."):
                    return found
        return ""

    return check(body, "")


def start_arm_endpoint(service: ArmService, tls: Any, port: int = 0) -> Any:
    from ..http import HttpEndpoint, JsonHandler, RequestRejected

    class Handler(JsonHandler):
        surface = "arm"

        def _dispatch(self) -> None:
            body = self.read_json() if self.command in ("PUT", "PATCH", "POST") else self.discard_body()
            if body is not None and (problem := body_problem(body)):
                raise RequestRejected(
                    400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: {problem}."
                )
            query = urlsplit(self.path).query
            status, payload = service.handle(self.command, self.route, self.headers.get("Authorization"), body, query)
            headers = {"x-ms-request-id": str(uuid.uuid4())}
            if isinstance(payload, WithHeaders):  # Resource Graph's quota headers
                headers.update(payload.headers)
                payload = payload.body
            if status == 401:
                headers["WWW-Authenticate"] = 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"'
            if payload is None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
            else:
                self.send_json(status, payload, headers)

        do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _dispatch  # noqa: N815 - stdlib naming

    return HttpEndpoint(Handler, port=port, tls=tls).start()

"""azure-mgmt-sql clients pointed at the selected cloud (imported lazily)."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from azsqlctl.core.clouds import Cloud
from azsqlctl.core.entra_admin import AdminSpec
from azsqlctl.core.errors import AzsqlctlError, NotFound, PermissionDenied
from azsqlctl.core.ports import FirewallRuleFacts, ServerFacts


def sql_management_client(credential: Any, cloud: Cloud, subscription_id: str) -> Any:
    """A SqlManagementClient for ``cloud``; a private CA is passed explicitly, never via globals."""
    from azure.mgmt.sql import SqlManagementClient

    kwargs: dict[str, Any] = {"base_url": cloud.arm_endpoint, "credential_scopes": [cloud.arm_scope]}
    if cloud.ca_bundle:
        kwargs["connection_verify"] = cloud.ca_bundle
    return SqlManagementClient(credential, subscription_id, **kwargs)


class ArmServerReader:
    """ServerReader over azure-mgmt-sql; finds the server by name, or by FQDN in the group."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def read(self, resource_group: str, server_name: str, host: str, database: str) -> ServerFacts:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            if server_name:
                server = self.client.servers.get(resource_group, server_name)
            else:
                matches = [
                    s
                    for s in self.client.servers.list_by_resource_group(resource_group)
                    if (s.fully_qualified_domain_name or "").lower() == host.lower()
                ]
                if len(matches) != 1:
                    raise NotFound(
                        f"no server in resource group '{resource_group}' has the name {host}",
                        "pass --server with the server's full name (myserver.database.windows.net)",
                    )
                server = matches[0]
        except ResourceNotFoundError as exc:
            raise NotFound(f"ARM: {_arm_message(exc)}", "check --subscription, --resource-group and --server") from None
        except HttpResponseError as exc:
            raise arm_failure(exc) from None
        admin = server.administrators

        def rules() -> list[FirewallRuleFacts]:
            listed = self.client.firewall_rules.list_by_server(resource_group, server.name)
            return [FirewallRuleFacts(r.name, r.start_ip_address, r.end_ip_address) for r in listed]

        def database_exists() -> bool | None:
            if not database or database.lower() == "master":
                return None
            try:
                self.client.databases.get(resource_group, server.name, database)
                return True
            except ResourceNotFoundError:
                return False

        # Independent reads: one round trip of latency instead of two.
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            rules_future, db_future = pool.submit(rules), pool.submit(database_exists)
            firewall, exists = rules_future.result(), db_future.result()
        identity = getattr(server, "identity", None)
        return ServerFacts(
            name=server.name,
            fqdn=server.fully_qualified_domain_name or "",
            public_network_access=_text(server.public_network_access),
            minimal_tls_version=_text(server.minimal_tls_version),
            admin_login=admin.login if admin else "",
            admin_sid=admin.sid if admin else "",
            admin_type=_text(admin.principal_type) if admin else "",
            admin_tenant=admin.tenant_id if admin else "",
            entra_only=admin.azure_ad_only_authentication if admin else None,
            identity_type=_text(identity.type) if identity else "",
            firewall_rules=firewall,
            database_exists=exists,
        )


def _text(value: Any) -> str:
    """SDK enums are str subclasses whose str() is 'Class.MEMBER': take the wire value."""
    return str(getattr(value, "value", value) or "")


def _arm_message(exc: Any) -> str:
    error = getattr(exc, "error", None)
    return (
        f"({error.code}) {error.message}"
        if error is not None and error.code
        else str(exc.message if hasattr(exc, "message") else exc).splitlines()[0]
    )


def arm_failure(exc: Any) -> AzsqlctlError:
    status = getattr(exc, "status_code", None)
    if status in (401, 403):
        return PermissionDenied(
            f"ARM refused the request: {_arm_message(exc)}", "the identity needs Reader on the server (or its resource group)"
        )
    return AzsqlctlError(f"ARM request failed: {_arm_message(exc)}", "rerun with --debug for the HTTP exchange")


class ArmAdmins:
    """Read and set a server's Entra admin (the 'administrators/ActiveDirectory' resource)."""

    def __init__(self, client: Any, resource_group: str, server: str) -> None:
        self.client, self.rg, self.server = client, resource_group, server

    def current(self) -> AdminSpec | None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        # The server's embedded administrators block has principalType; the standalone resource does not.
        try:
            admin = self.client.servers.get(self.rg, self.server).administrators
        except ResourceNotFoundError:
            raise NotFound(
                f"ARM: server {self.server} not found in {self.rg}", "check --subscription, --resource-group and --server"
            ) from None
        except HttpResponseError as exc:
            raise arm_failure(exc) from None
        if admin is None or not admin.sid:
            return None
        return AdminSpec(admin.login, admin.sid, _text(admin.principal_type) or "unknown type")

    def set(self, wanted: AdminSpec, tenant_id: str) -> None:
        from azure.core.exceptions import HttpResponseError
        from azure.mgmt.sql.models import ServerAzureADAdministrator

        body = ServerAzureADAdministrator(  # type: ignore[call-overload]
            administrator_type="ActiveDirectory", login=wanted.login, sid=wanted.sid, tenant_id=tenant_id or None
        )
        try:
            self.client.server_azure_ad_administrators.begin_create_or_update(self.rg, self.server, "ActiveDirectory", body).result()
        except HttpResponseError as exc:
            raise arm_failure(exc) from None

"""azure-mgmt-sql clients pointed at the selected cloud (imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from azsqlctl.core.clouds import Cloud
from azsqlctl.core.errors import NotFound, UsageError
from azsqlctl.core.grant.entra_admin import AdminSpec

from .arm_errors import arm_failure, wire_text
from .arm_pipeline import Json

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.sql import SqlManagementClient


def sql_management_client(credential: TokenCredential, cloud: Cloud, subscription_id: str, timeout: float = 30) -> SqlManagementClient:
    """A SqlManagementClient for ``cloud``; a private CA is passed explicitly, never via globals."""
    from azure.mgmt.sql import SqlManagementClient

    from .transport import client_options

    return SqlManagementClient(
        credential, subscription_id, base_url=cloud.arm_endpoint, credential_scopes=[cloud.arm_scope],
        connection_verify=cloud.ca_bundle or True, **client_options(timeout),
    )  # fmt: skip


class ArmAdmins:
    """Read and set a server's Entra admin (the 'administrators/ActiveDirectory' resource)."""

    def __init__(self, client: SqlManagementClient, resource_group: str, server: str, tenant_id: str = "") -> None:
        self.client, self.rg, self.server, self.tenant_id = client, resource_group, server, tenant_id

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
        return AdminSpec(admin.login, admin.sid, wire_text(admin.principal_type) or "unknown type")

    def set(self, wanted: AdminSpec) -> None:
        """PATCH the server's ``administrators``: the one shape that carries principalType (Group, User, Application).

        The standalone administrators/ActiveDirectory resource has no principalType, so a group set through it
        is recorded by type lookup, not by what was asked.
        """
        from azure.core.exceptions import HttpResponseError
        from azure.mgmt.sql.models import ServerExternalAdministrator, ServerUpdate

        admin = ServerExternalAdministrator(
            administrator_type="ActiveDirectory", principal_type=wanted.principal_type, login=wanted.login,
            sid=wanted.sid, tenant_id=self.tenant_id or None,
        )  # fmt: skip
        try:
            self.client.servers.begin_update(self.rg, self.server, ServerUpdate(administrators=admin)).result()  # type: ignore[call-overload]
        except HttpResponseError as exc:
            raise arm_failure(exc) from None


# api-version per resource type that can carry a managed identity grant can use.
IDENTITY_API_VERSIONS = {
    "microsoft.managedidentity/userassignedidentities": "2023-01-31",
    "microsoft.web/sites": "2023-12-01",
    "microsoft.web/sites/slots": "2023-12-01",
    "microsoft.app/containerapps": "2024-03-01",
    "microsoft.app/jobs": "2024-03-01",
    "microsoft.compute/virtualmachines": "2024-07-01",
    "microsoft.compute/virtualmachinescalesets": "2024-07-01",
    "microsoft.containerinstance/containergroups": "2023-05-01",
    "microsoft.logic/workflows": "2019-05-01",
    "microsoft.datafactory/factories": "2018-06-01",
    "microsoft.synapse/workspaces": "2021-06-01",
    "microsoft.automation/automationaccounts": "2023-11-01",
}


class ArmIdentityResolver:
    """--identity-resource: GET the resource over ARM (``arm_pipeline``) and read its identity."""

    def __init__(self, credential: TokenCredential, cloud: Cloud, timeout: float = 30) -> None:
        from .arm_pipeline import ArmPipeline

        self._pipeline = ArmPipeline(credential, cloud, timeout)

    def get(self, arm_id: str) -> Json:
        rtype = resource_type(arm_id)
        version = IDENTITY_API_VERSIONS.get(rtype.lower())
        if version is None:
            raise UsageError(
                f"--identity-resource: azsqlctl does not know how to read an identity from {rtype}",
                "pass a user-assigned identity (Microsoft.ManagedIdentity/userAssignedIdentities) or a web app, function app, "
                "container app or VM; or name the identity with --type app --object-id (its principal id)",
                code="bad_identity",
            )
        return self._pipeline.require(arm_id, version, "check the resource id: az identity show --ids ARM_ID")


def resource_type(arm_id: str) -> str:
    """'Microsoft.Web/sites' from an ARM resource id; refuses what is not one."""
    parts = [p for p in arm_id.split("/") if p]
    ok = len(parts) >= 8 and parts[0].lower() == "subscriptions" and parts[2].lower() == "resourcegroups"
    ok = ok and parts[4].lower() == "providers" and len(parts) % 2 == 0
    if not ok or not arm_id.startswith("/"):
        raise UsageError(
            f"'{arm_id}' is not an ARM resource id",
            "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME "
            "(az identity show -n NAME -g RG --query id)",
            code="bad_identity",
        )
    return "/".join([parts[5], parts[6], *parts[8::2]])

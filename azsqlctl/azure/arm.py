"""azure-mgmt-sql clients pointed at the selected cloud (imported lazily)."""

from __future__ import annotations

from typing import Any

from azsqlctl.core.clouds import Cloud
from azsqlctl.core.entra_admin import AdminSpec
from azsqlctl.core.errors import NotFound, UsageError

from .arm_errors import arm_failure, wire_text


def sql_management_client(credential: Any, cloud: Cloud, subscription_id: str, timeout: float = 30) -> Any:
    """A SqlManagementClient for ``cloud``; a private CA is passed explicitly, never via globals."""
    from azure.mgmt.sql import SqlManagementClient

    from .transport import client_options

    kwargs: dict[str, Any] = {"base_url": cloud.arm_endpoint, "credential_scopes": [cloud.arm_scope], **client_options(timeout)}
    if cloud.ca_bundle:
        kwargs["connection_verify"] = cloud.ca_bundle
    return SqlManagementClient(credential, subscription_id, **kwargs)


class ArmAdmins:
    """Read and set a server's Entra admin (the 'administrators/ActiveDirectory' resource)."""

    def __init__(self, client: Any, resource_group: str, server: str, tenant_id: str = "") -> None:
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
    """--identity-resource: GET the resource over ARM (azure-core's ARM pipeline) and read its identity."""

    def __init__(self, credential: Any, cloud: Cloud, timeout: float = 30) -> None:
        from azure.core.pipeline import policies
        from azure.mgmt.core import ARMPipelineClient
        from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

        from .transport import client_options

        self.cloud, self.timeout = cloud, timeout
        options = client_options(timeout)
        self.client: Any = ARMPipelineClient(
            base_url=cloud.arm_endpoint,
            policies=[
                policies.RequestIdPolicy(), policies.HeadersPolicy(), policies.UserAgentPolicy("azsqlctl"),
                policies.RetryPolicy(**options), ARMChallengeAuthenticationPolicy(credential, cloud.arm_scope),
                policies.ContentDecodePolicy(), policies.NetworkTraceLoggingPolicy(), policies.HttpLoggingPolicy(),
            ],
            connection_timeout=timeout, read_timeout=timeout,
        )  # fmt: skip

    def get(self, arm_id: str) -> dict[str, Any]:
        from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        from azsqlctl.core.transport import Endpoint

        from .transport import endpoint_failure

        rtype = resource_type(arm_id)
        version = IDENTITY_API_VERSIONS.get(rtype.lower())
        if version is None:
            raise UsageError(
                f"--identity-resource: azsqlctl does not know how to read an identity from {rtype}",
                "pass a user-assigned identity (Microsoft.ManagedIdentity/userAssignedIdentities) or a web app, function app, "
                "container app or VM; or name the identity with --type app --object-id (its principal id)",
                code="bad_identity",
            )
        request = HttpRequest("GET", self.cloud.arm_endpoint.rstrip("/") + arm_id, params={"api-version": version})
        kwargs: dict[str, Any] = {"connection_verify": self.cloud.ca_bundle} if self.cloud.ca_bundle else {}
        try:
            response = self.client.send_request(request, **kwargs)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise endpoint_failure(Endpoint.ARM, self.cloud.arm_endpoint, exc, self.timeout) from None
        try:
            response.raise_for_status()
        except HttpResponseError as exc:
            if exc.status_code == 404:
                raise NotFound(f"ARM: {_body_message(response)}", "check the resource id: az identity show --ids ARM_ID") from None
            raise arm_failure(exc) from None
        body = response.json()
        return body if isinstance(body, dict) else {}


def _body_message(response: Any) -> str:
    try:
        error = response.json().get("error", {})
        return f"({error.get('code')}) {error.get('message')}"
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"


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

"""grant's ARM glue: the Entra admin port and --identity-resource, built from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azsqlctl.azure.arm import ArmAdmins
    from azsqlctl.azure.credentials import CredentialTokens
    from azsqlctl.core.entra_admin import AdminSpec
    from azsqlctl.core.identity import IdentitySpec
    from azsqlctl.core.settings import ConnectionSettings


def admin_spec(name: str, admin_id: str | None, kind: str | None) -> AdminSpec:
    """--ensure-entra-admin NAME --entra-admin-id GUID --entra-admin-type TYPE, validated.

    No type: "" (the current admin's type for the same SID, else Group; see core.entra_admin.resolve_wanted)."""
    from azsqlctl.core.entra_admin import ADMIN_TYPES, AdminSpec
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.identity import canonical_guid

    if kind is not None and kind not in ADMIN_TYPES:
        raise UsageError(f"--entra-admin-type must be Group, User or Application, not {kind}", "pass one of them", code="bad_identity")
    sid = canonical_guid(admin_id or "")
    if sid is None:
        which = "client id (az ad sp show --id APP --query appId)" if kind == "Application" else "object id"
        raise UsageError(
            f"--ensure-entra-admin needs --entra-admin-id GUID (the {(kind or 'Group').lower()}'s {which})",
            "az ad group show --group NAME --query id  (a user: az ad user show --id UPN --query id)",
            code="bad_identity",
        )
    return AdminSpec(name, sid, kind or "")


def _tokens(settings: ConnectionSettings) -> CredentialTokens:
    from azsqlctl.azure.credentials import CredentialTokens

    return CredentialTokens(settings.auth, settings.client_id, settings.cloud, settings.tenant_id, settings.timeout)


def admin_port(settings: ConnectionSettings) -> ArmAdmins:
    """The server's Entra admin over ARM (azure-mgmt-sql); a server named by FQDN is found as doctor finds it."""
    from azsqlctl.azure.arm import ArmAdmins, sql_management_client
    from azsqlctl.azure.arm_reader import ArmRest, read_server
    from azsqlctl.core.errors import UsageError

    if not (settings.subscription and settings.resource_group):
        raise UsageError(
            "--ensure-entra-admin needs the server's ARM scope", "pass --subscription and --resource-group", code="no_arm_scope"
        )
    server = settings.require_server()
    tokens = _tokens(settings)
    if server.logical_name:
        name = server.logical_name
    else:
        arm = ArmRest(tokens, settings.cloud, settings.subscription, settings.timeout)
        name = read_server(arm, settings.resource_group, "", server.host, "").name
    client = sql_management_client(tokens.credential, settings.cloud, settings.subscription, settings.timeout)
    return ArmAdmins(client, settings.resource_group, name, settings.tenant_id)


def resolve_identity_resource(settings: ConnectionSettings, arm_id: str, name: str = "") -> IdentitySpec:
    """--identity-resource ARM_ID: a user-assigned identity, or a resource's system-assigned identity."""
    from dataclasses import replace

    from azsqlctl.azure.arm import ArmIdentityResolver, resource_type
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.identity import identity_from_resource

    resource_type(arm_id)  # refuse a malformed id before asking for a token
    body = ArmIdentityResolver(_tokens(settings).credential, settings.cloud, settings.timeout).get(arm_id)
    try:
        spec = identity_from_resource(arm_id, body)
    except ValueError as exc:
        raise UsageError(f"--identity-resource: {exc}", "az resource show --ids ARM_ID --query identity", code="bad_identity") from None
    return replace(spec, name=name) if name else spec

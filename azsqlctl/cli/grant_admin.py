"""grant's server-level step: --ensure-entra-admin through ARM."""

from __future__ import annotations

import sys
from typing import Any


def ensure_admin(settings: Any, flags: dict[str, Any], mode: str, fmt: str) -> dict[str, str]:
    """The server-level step: show the Entra admin; set it; never silently replace another one."""
    import uuid

    from azsqlctl.azure.arm import ArmAdmins, ArmServerReader, sql_management_client
    from azsqlctl.azure.credentials import CredentialTokens
    from azsqlctl.core.entra_admin import AdminSpec, plan_entra_admin
    from azsqlctl.core.errors import CheckFailed, UsageError

    from .render import warn

    if not (settings.subscription and settings.resource_group):
        raise UsageError(
            "--ensure-entra-admin needs the server's ARM scope", "pass --subscription and --resource-group", code="no_arm_scope"
        )
    try:
        uuid.UUID(flags["entra_admin_id"] or "")
    except ValueError:
        raise UsageError(
            "--ensure-entra-admin needs --entra-admin-id GUID (the group's or user's object id)",
            "az ad group show --group NAME --query id",
            code="bad_identity",
        ) from None
    if flags["entra_admin_type"] not in ("Group", "User", "Application"):
        raise UsageError(
            f"--entra-admin-type must be Group, User or Application, not {flags['entra_admin_type']}",
            "pass one of them",
            code="bad_identity",
        )
    server = settings.require_server()
    tokens = CredentialTokens(settings.auth, settings.client_id, settings.cloud, settings.tenant_id, settings.timeout)
    client = sql_management_client(tokens.credential, settings.cloud, settings.subscription)
    name = server.logical_name or ArmServerReader(client).read(settings.resource_group, "", server.host, "").name
    admins = ArmAdmins(client, settings.resource_group, name)
    current = admins.current()
    wanted = AdminSpec(flags["ensure_entra_admin"], flags["entra_admin_id"], flags["entra_admin_type"])
    action, message = plan_entra_admin(current, wanted, flags["replace_admin"])
    if action == "refuse":
        raise CheckFailed(message, "Service Connector replaces it silently; azsqlctl does not", code="admin_differs")
    if action in ("set", "replace") and mode == "apply":
        admins.set(wanted, settings.tenant_id)
        message = "done: " + message
    elif action in ("set", "replace"):
        message = "would " + message
    if fmt == "human":
        if action == "replace":
            warn(message)
        else:
            print(message, file=sys.stderr)
    return {"action": action, "message": message, "current": current.login if current else "", "wanted": wanted.login}

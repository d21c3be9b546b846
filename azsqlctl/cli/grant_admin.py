"""grant's ARM glue: the Entra admin port and --identity-resource, built from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azsqlctl.core.entra_admin import AdminSpec
    from azsqlctl.core.grant import AdminPort
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


def admin_port(settings: ConnectionSettings) -> AdminPort:
    """The server's Entra admin over ARM, from the composition root."""
    from azsqlctl.azure import wiring

    return wiring.entra_admins(settings)


def resolve_identity_resource(settings: ConnectionSettings, arm_id: str, name: str = "") -> IdentitySpec:
    """--identity-resource ARM_ID: a user-assigned identity, or a resource's system-assigned identity."""
    from dataclasses import replace

    from azsqlctl.azure import wiring
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.identity import identity_from_resource

    body = wiring.identity_resource(settings, arm_id)
    try:
        spec = identity_from_resource(arm_id, body)
    except ValueError as exc:
        raise UsageError(f"--identity-resource: {exc}", "az resource show --ids ARM_ID --query identity", code="bad_identity") from None
    return replace(spec, name=name) if name else spec

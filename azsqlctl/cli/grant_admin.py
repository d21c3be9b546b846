"""grant's ARM glue: the Entra admin port and --identity-resource, built from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azsqlctl.core.grant.operation import AdminPort
    from azsqlctl.core.identity import IdentitySpec
    from azsqlctl.core.settings import ConnectionSettings


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

"""The server-level step of grant: who the Entra admin is, and whether to change it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AdminSpec:
    login: str
    sid: str  # object id (users, groups) or client id (applications)
    principal_type: str = "Group"


def plan_entra_admin(current: AdminSpec | None, wanted: AdminSpec, replace: bool) -> tuple[str, str]:
    """(action, message): action is unchanged, set, replace or refuse."""
    if current is not None and current.sid.lower() == wanted.sid.lower():
        return "unchanged", f"no changes: the Entra admin is already {current.login} ({current.principal_type} {current.sid})"
    if current is None:
        return "set", f"set the Entra admin to {wanted.login} ({wanted.principal_type} {wanted.sid}); the server has none"
    if not replace:
        return "refuse", (
            f"the server's Entra admin is {current.login} ({current.principal_type} {current.sid}), not {wanted.login}: "
            "replacing it locks that admin out; pass --replace-admin if that is intended"
        )
    return "replace", f"replace the Entra admin {current.login} ({current.sid}) with {wanted.login} ({wanted.principal_type} {wanted.sid})"

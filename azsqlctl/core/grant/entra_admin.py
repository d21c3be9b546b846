"""The server-level step of grant: who the Entra admin is, and whether to change it."""

from __future__ import annotations

from dataclasses import dataclass, replace

ADMIN_TYPES = ("Group", "User", "Application")


@dataclass(frozen=True)
class AdminSpec:
    login: str
    sid: str  # object id (users, groups) or client id (applications)
    principal_type: str = "Group"  # "" when not given: the current admin's type for the same SID, else Group


def resolve_wanted(current: AdminSpec | None, wanted: AdminSpec) -> AdminSpec:
    """Fill in a type that was not given: the same SID keeps the type it has, a new admin is a Group."""
    if wanted.principal_type:
        return wanted
    same = current is not None and current.sid.lower() == wanted.sid.lower() and current.principal_type in ADMIN_TYPES
    return replace(wanted, principal_type=current.principal_type if same and current is not None else "Group")


def _differences(current: AdminSpec, wanted: AdminSpec) -> list[str]:
    out = []
    if current.login != wanted.login:
        out.append(f"login {current.login} -> {wanted.login}")
    # ARM may not report a type ("unknown type"): then only the login and SID can be compared.
    if current.principal_type in ADMIN_TYPES and current.principal_type != wanted.principal_type:
        out.append(f"type {current.principal_type} -> {wanted.principal_type}")
    return out


def plan_entra_admin(current: AdminSpec | None, wanted: AdminSpec, replace: bool) -> tuple[str, str]:
    """(action, message): action is unchanged, update, set, replace or refuse.

    The login, the SID and the type are compared. The same SID with another login or type is an update of that
    admin (no one loses access, so no --replace-admin); a different SID is a replacement.
    """
    wanted = resolve_wanted(current, wanted)
    if current is not None and current.sid.lower() == wanted.sid.lower():
        changes = _differences(current, wanted)
        if not changes:
            return "unchanged", f"no changes: the Entra admin is already {current.login} ({current.principal_type} {current.sid})"
        return "update", f"update the Entra admin {current.sid}: {', '.join(changes)}"
    if current is None:
        return "set", f"set the Entra admin to {wanted.login} ({wanted.principal_type} {wanted.sid}); the server has none"
    if not replace:
        return "refuse", (
            f"the server's Entra admin is {current.login} ({current.principal_type} {current.sid}), not {wanted.login}: "
            "replacing it locks that admin out; pass --replace-admin if that is intended"
        )
    return "replace", f"replace the Entra admin {current.login} ({current.sid}) with {wanted.login} ({wanted.principal_type} {wanted.sid})"

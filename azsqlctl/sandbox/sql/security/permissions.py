"""Permission checks on user tables and DDL, as SQL Server makes them, from the state ``grant`` manages.

A permission holds when the caller (the database user, every role it belongs to --
directly or through other roles -- and ``public``) has it granted at database scope,
on the object's schema, or implied by a fixed role or by CONTROL; any DENY on the same
chain wins over every GRANT (db_denydatareader / db_denydatawriter are DENYs).
``dbo`` (the Entra admin) and db_owner members are never checked, as on a real server.

Ownership (Microsoft Learn, "Permissions hierarchy (Database Engine)" and "ALTER AUTHORIZATION"): the owner of a
schema holds CONTROL on it, and so on every object in it; the owner of an object (sys.objects.principal_id)
holds CONTROL on the object. An owner that is a role shares that with its members. What an owner holds cannot be
denied, so ownership is checked before any DENY.
"""

from __future__ import annotations

from ...state import Database
from .roles import ROLE_DENIES, ROLE_PERMISSIONS

# Database-scope permissions that imply another (the SQL Server permission hierarchy, the part the sandbox uses).
_IMPLIED_BY = {
    "CREATE SCHEMA": ("ALTER ANY SCHEMA", "ALTER", "CONTROL"),
    "CREATE TABLE": ("ALTER", "CONTROL"),
    "ALTER ANY SCHEMA": ("ALTER", "CONTROL"),
    "SELECT": ("CONTROL",),
    "INSERT": ("CONTROL",),
    "UPDATE": ("CONTROL",),
    "DELETE": ("CONTROL",),
    "ALTER": ("CONTROL",),
    "TAKE OWNERSHIP": ("CONTROL",),
}


def principals(db: Database, user: str) -> set[str]:
    """The user, each role it is a member of (transitively), and public; lower-cased."""
    found = {user.lower(), "public"}
    changed = True
    while changed:
        changed = False
        for role, members in db.members.items():
            if role.lower() not in found and any(m.lower() in found for m in members):
                found.add(role.lower())
                changed = True
    return found


def is_owner(db: Database, user: str) -> bool:
    return user.lower() == "dbo" or "db_owner" in principals(db, user)


def _states(db: Database, who: set[str], permission: str, schema: str | None) -> tuple[bool, bool]:
    """(granted, denied) for ``permission`` at database scope and, when given, on ``schema``."""
    names = {permission, *_IMPLIED_BY.get(permission, ())}
    granted = denied = False
    for p in db.permissions:
        if p.grantee.lower() not in who or p.permission.upper() not in names:
            continue
        if p.scope == "DATABASE" or (schema is not None and p.scope == "SCHEMA" and p.target.lower() == schema.lower()):
            if p.state == "D":
                denied = True
            else:
                granted = True
    for role in who:
        if permission in ROLE_DENIES.get(role, ()):
            denied = True
        implied = ROLE_PERMISSIONS.get(role, ())
        if any(n in implied for n in names):
            granted = True
    return granted, denied


def schema_owner(db: Database, schema: str) -> str:
    """A schema's owner (dbo unless the state names another principal)."""
    return next((o for s, o in db.schema_owners.items() if s.lower() == schema.lower()), "dbo")


def owns(db: Database, user: str, schema: str | None, owner: str | None = None) -> bool:
    """Whether ``user`` (or a role it belongs to) owns ``schema``, or the object whose explicit owner is ``owner``."""
    who = principals(db, user)
    return (schema is not None and schema_owner(db, schema).lower() in who) or (owner is not None and owner.lower() in who)


def has(db: Database, user: str, permission: str, schema: str | None = None, owner: str | None = None) -> bool:
    """Whether ``user`` holds ``permission`` (SELECT, INSERT, CREATE TABLE, ALTER ...) in ``schema`` or the database;
    ``owner``: the object's own owner, when it has one (ALTER AUTHORIZATION ON OBJECT)."""
    if is_owner(db, user) or owns(db, user, schema, owner):
        return True
    granted, denied = _states(db, principals(db, user), permission.upper(), schema)
    return granted and not denied


def may_alter_schema(db: Database, user: str, schema: str) -> bool:
    """ALTER on a schema: granted on it, or ALTER ANY SCHEMA (db_ddladmin) at database scope, or owning it."""
    if is_owner(db, user) or owns(db, user, schema):
        return True
    who = principals(db, user)
    on_schema, denied_schema = _states(db, who, "ALTER", schema)
    any_schema, denied_any = _states(db, who, "ALTER ANY SCHEMA", None)
    return (on_schema or any_schema) and not (denied_schema or denied_any)

"""The catalog views the sandbox answers, computed from a database's state.

sys.database_principals, sys.database_role_members, sys.database_permissions,
sys.schemas and fn_my_permissions(NULL, 'DATABASE'), with the columns azsqlctl reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...state import Database
from ..security import roles as fixed_roles
from ..sqltypes import SqlType, TypeSpec

_FIXED_USERS = [("dbo", 1, "S"), ("guest", 2, "S"), ("INFORMATION_SCHEMA", 3, "S"), ("sys", 4, "S")]
_CUSTOM_ROLE_BASE = 100_000


@dataclass
class Caller:
    """Who is running the batch."""

    login: str  # SUSER_SNAME()
    user: str  # USER_NAME(): a database user name, or dbo for the Entra admin
    database: str
    spid: int


Rows = list[dict[str, Any]]


def principals(db: Database) -> Rows:
    rows: Rows = [
        {"name": n, "principal_id": pid, "type": t, "type_desc": "SQL_USER", "sid": None,
         "authentication_type_desc": "NONE", "default_schema_name": "dbo" if n == "dbo" else None}
        for n, pid, t in _FIXED_USERS
    ]  # fmt: skip
    for user in db.users:
        rows.append({
            "name": user.name, "principal_id": user.principal_id, "type": user.type,
            "type_desc": {"E": "EXTERNAL_USER", "X": "EXTERNAL_GROUP", "S": "SQL_USER"}.get(user.type, "SQL_USER"),
            "sid": uuid.UUID(user.sid).bytes_le, "authentication_type_desc": "EXTERNAL" if user.type in "EX" else "INSTANCE",
            "default_schema_name": "dbo",
        })  # fmt: skip
    roles = [(name, rid) for name, rid in fixed_roles.FIXED_ROLE_IDS.items()]
    roles += [(name, _CUSTOM_ROLE_BASE + i) for i, name in enumerate(db.roles)]
    for name, rid in roles:
        rows.append({"name": name, "principal_id": rid, "type": "R", "type_desc": "DATABASE_ROLE", "sid": None,
                     "authentication_type_desc": "NONE", "default_schema_name": None})  # fmt: skip
    return rows


def principal_ids(db: Database) -> dict[str, int]:
    """Each principal's id by its lower-cased name."""
    return {str(r["name"]).lower(): int(r["principal_id"]) for r in principals(db)}


def role_members(db: Database) -> Rows:
    ids = principal_ids(db)
    rows: Rows = [{"role_principal_id": fixed_roles.FIXED_ROLE_IDS["db_owner"], "member_principal_id": 1}]
    for role, members in db.members.items():
        for member in members:
            if role.lower() in ids and member.lower() in ids:
                rows.append({"role_principal_id": ids[role.lower()], "member_principal_id": ids[member.lower()]})
    return rows


def roles_of(db: Database, user: str) -> list[str]:
    if user == "dbo":
        return ["db_owner"]
    return sorted(role for role, members in db.members.items() if user.lower() in (m.lower() for m in members))


def my_permissions(db: Database, caller: Caller) -> Rows:
    roles = roles_of(db, caller.user)
    grantees = {caller.user.lower(), "public"} | {r.lower() for r in roles}
    explicit = [p.permission for p in db.permissions if p.scope == "DATABASE" and p.state == "G" and p.grantee.lower() in grantees]
    return [
        {"entity_name": "database", "subentity_name": "", "permission_name": p} for p in fixed_roles.database_permissions(roles, explicit)
    ]


def database_permissions(db: Database) -> Rows:
    ids = principal_ids(db)
    schema_ids = {s.lower(): i + 1 for i, s in enumerate(db.schemas)}
    # CREATE USER grants CONNECT implicitly; it shows here as it does on a real server.
    rows: Rows = [
        {
            "class_desc": "DATABASE",
            "major_id": 0,
            "grantee_principal_id": u.principal_id,
            "permission_name": "CONNECT",
            "state_desc": "GRANT",
        }
        for u in db.users
    ]
    for p in db.permissions:
        if p.grantee.lower() in ids:
            rows.append({
                "class_desc": "SCHEMA" if p.scope == "SCHEMA" else "DATABASE",
                "major_id": schema_ids.get(p.target.lower(), 0) if p.scope == "SCHEMA" else 0,
                "grantee_principal_id": ids[p.grantee.lower()], "permission_name": p.permission,
                "state_desc": "GRANT" if p.state == "G" else "DENY",
            })  # fmt: skip
    return rows


def schemas(db: Database) -> Rows:
    """principal_id is the owner: dbo (1) unless the state names another principal."""
    ids, owners = principal_ids(db), {s.lower(): o.lower() for s, o in db.schema_owners.items()}
    return [{"name": s, "schema_id": i + 1, "principal_id": ids.get(owners.get(s.lower(), "dbo"), 1)} for i, s in enumerate(db.schemas)]


_NAME = TypeSpec(SqlType.NVARCHAR, 128)  # sysname
_INT = TypeSpec(SqlType.INT)
_SID = TypeSpec(SqlType.VARBINARY, 85)

RELATIONS: dict[str, tuple[list[tuple[str, TypeSpec]], Callable[[Database, Caller], Rows]]] = {
    "sys.database_principals": (
        [("name", _NAME), ("principal_id", _INT), ("type", _NAME), ("type_desc", _NAME),
         ("sid", _SID), ("authentication_type_desc", _NAME), ("default_schema_name", _NAME)],
        lambda db, _c: principals(db),
    ),
    "sys.database_role_members": (
        [("role_principal_id", _INT), ("member_principal_id", _INT)],
        lambda db, _c: role_members(db),
    ),
    "fn_my_permissions(null,'database')": (
        [("entity_name", _NAME), ("subentity_name", _NAME), ("permission_name", _NAME)],
        my_permissions,
    ),
    "sys.database_permissions": (
        [("class_desc", _NAME), ("major_id", _INT), ("grantee_principal_id", _INT),
         ("permission_name", _NAME), ("state_desc", _NAME)],
        lambda db, _c: database_permissions(db),
    ),
    "sys.schemas": (
        [("name", _NAME), ("schema_id", _INT), ("principal_id", _INT)],
        lambda db, _c: schemas(db),
    ),
}  # fmt: skip

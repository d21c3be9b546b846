"""What grant reads before planning: a database's principals, memberships, grants and schemas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .identity import sid_bytes
from .ports import QuerySession


@dataclass
class DbState:
    principals: list[dict[str, Any]]  # name, principal_id, type, sid (bytes|None)
    members: set[tuple[str, str]]  # (role, member), lower-cased
    permissions: set[tuple[str, str, str]]  # (grantee, permission, schema) lower-cased grantee/schema; schema "" = database
    schemas: list[str]

    def principal(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.principals if str(p["name"]).lower() == name.lower()), None)

    def by_sid(self, guid: str) -> dict[str, Any] | None:
        if not guid:
            return None
        wanted = sid_bytes(guid)
        return next((p for p in self.principals if p.get("sid") is not None and bytes(p["sid"]) == wanted), None)


STATE_QUERIES = {
    "principals": "SELECT name, principal_id, type, sid FROM sys.database_principals",
    "members": "SELECT role_principal_id, member_principal_id FROM sys.database_role_members",
    "permissions": "SELECT class_desc, major_id, grantee_principal_id, permission_name, state_desc FROM sys.database_permissions",
    "schemas": "SELECT name, schema_id FROM sys.schemas",
}


def read_state(session: QuerySession) -> DbState:
    principals = session.query(STATE_QUERIES["principals"])
    names = {int(p["principal_id"]): str(p["name"]) for p in principals}
    members = {
        (names[int(r["role_principal_id"])].lower(), names[int(r["member_principal_id"])].lower())
        for r in session.query(STATE_QUERIES["members"])
        if int(r["role_principal_id"]) in names and int(r["member_principal_id"]) in names
    }
    schemas_rows = session.query(STATE_QUERIES["schemas"])
    schema_names = {int(r["schema_id"]): str(r["name"]) for r in schemas_rows}
    perms = set()
    for r in session.query(STATE_QUERIES["permissions"]):
        if r["state_desc"] != "GRANT" or int(r["grantee_principal_id"]) not in names:
            continue
        schema = schema_names.get(int(r["major_id"]), "") if r["class_desc"] == "SCHEMA" else ""
        perms.add((names[int(r["grantee_principal_id"])].lower(), str(r["permission_name"]).upper(), schema.lower()))
    return DbState(principals, members, perms, [str(r["name"]) for r in schemas_rows])

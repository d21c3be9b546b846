"""What grant reads before planning: a database's principals, memberships, grants and schemas."""

from __future__ import annotations

from dataclasses import dataclass

from .identity import sid_bytes
from .ports import QuerySession, Row, row_bytes, row_int


@dataclass
class DbState:
    principals: list[Row]  # name, principal_id, type, sid (bytes|None)
    members: set[tuple[str, str]]  # (role, member), lower-cased
    permissions: set[tuple[str, str, str]]  # (grantee, permission, schema) lower-cased grantee/schema; schema "" = database
    schemas: list[str]

    def principal(self, name: str) -> Row | None:
        return next((p for p in self.principals if str(p["name"]).lower() == name.lower()), None)

    def by_sid(self, guid: str) -> Row | None:
        if not guid:
            return None
        wanted = sid_bytes(guid)
        return next((p for p in self.principals if row_bytes(p.get("sid")) == wanted), None)


STATE_QUERIES = {
    "principals": "SELECT name, principal_id, type, sid FROM sys.database_principals",
    "members": "SELECT role_principal_id, member_principal_id FROM sys.database_role_members",
    "permissions": "SELECT class_desc, major_id, grantee_principal_id, permission_name, state_desc FROM sys.database_permissions",
    "schemas": "SELECT name, schema_id FROM sys.schemas",
}


def read_state(session: QuerySession) -> DbState:
    principals = session.query(STATE_QUERIES["principals"])
    names = {row_int(p["principal_id"]): str(p["name"]) for p in principals}
    members = {
        (names[row_int(r["role_principal_id"])].lower(), names[row_int(r["member_principal_id"])].lower())
        for r in session.query(STATE_QUERIES["members"])
        if row_int(r["role_principal_id"]) in names and row_int(r["member_principal_id"]) in names
    }
    schemas_rows = session.query(STATE_QUERIES["schemas"])
    schema_names = {row_int(r["schema_id"]): str(r["name"]) for r in schemas_rows}
    perms = set()
    for r in session.query(STATE_QUERIES["permissions"]):
        if r["state_desc"] != "GRANT" or row_int(r["grantee_principal_id"]) not in names:
            continue
        if r["class_desc"] not in ("DATABASE", "SCHEMA"):
            continue  # object-level grants are not a role's database or schema grants (grant export lists them)
        schema = schema_names.get(row_int(r["major_id"]), "") if r["class_desc"] == "SCHEMA" else ""
        perms.add((names[row_int(r["grantee_principal_id"])].lower(), str(r["permission_name"]).upper(), schema.lower()))
    return DbState(principals, members, perms, [str(r["name"]) for r in schemas_rows])

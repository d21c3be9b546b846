"""What grant reads before planning: a database's principals, memberships, grants and schemas."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..identity import sid_bytes
from ..ports import QuerySession, Row, row_bytes, row_int

_NO_ROLES: frozenset[str] = frozenset()


@dataclass
class DbState:
    principals: list[Row]  # name, principal_id, type, sid (bytes|None)
    members: set[tuple[str, str]]  # (role, member), lower-cased
    permissions: set[tuple[str, str, str]]  # (grantee, permission, schema) lower-cased grantee/schema; schema "" = database
    schemas: list[str]
    # Indexes built once (the state is read-only once read): a policy of 60,000 identities looks each one up
    # by name, by SID and by membership, which must not rescan every principal per identity.
    _by_name: dict[str, Row] = field(init=False, repr=False, compare=False)
    _by_sid: dict[bytes, Row] = field(init=False, repr=False, compare=False)
    _roles_of: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name, self._by_sid, self._roles_of = {}, {}, {}
        for p in self.principals:  # the first principal with a name or SID wins, as a scan in order would find it
            self._by_name.setdefault(str(p["name"]).lower(), p)
            sid = row_bytes(p.get("sid"))
            if sid is not None:
                self._by_sid.setdefault(sid, p)
        roles_of: dict[str, set[str]] = {}
        for role, member in self.members:
            roles_of.setdefault(member, set()).add(role)
        self._roles_of = {member: frozenset(roles) for member, roles in roles_of.items()}

    def principal(self, name: str) -> Row | None:
        return self._by_name.get(name.lower())

    def by_sid(self, guid: str) -> Row | None:
        if not guid:
            return None
        return self._by_sid.get(sid_bytes(guid))

    def roles_of(self, member: str) -> frozenset[str]:
        """The roles ``member`` belongs to (lower-cased names)."""
        return self._roles_of.get(member.lower(), _NO_ROLES)


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

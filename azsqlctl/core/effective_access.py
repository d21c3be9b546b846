"""Who the server says the connected principal is, and what it may do: the queries whoami and doctor share.

Roles are read transitively (a role can be a member of a role); the least-privilege warnings name the
elevated roles and permissions from the one list in ``roles``.
"""

from __future__ import annotations

from .ports import QuerySession, row_int
from .roles import CI_ONLY_ROLES, ELEVATED_PERMISSIONS, ELEVATED_ROLES

IDENTITY_SQL = "SELECT SUSER_SNAME() AS login_name, USER_NAME() AS user_name, DB_NAME() AS database_name, @@VERSION AS version"
ROLE_MEMBERS_SQL = "SELECT role_principal_id, member_principal_id FROM sys.database_role_members"
PRINCIPALS_SQL = "SELECT name, principal_id, type FROM sys.database_principals"
MY_PERMISSIONS_SQL = "SELECT permission_name FROM fn_my_permissions(NULL, 'DATABASE')"


def effective_roles(session: QuerySession, user_name: str) -> list[str]:
    """Roles of the connected user, transitively (roles can be members of roles)."""
    principals = {row_int(r["principal_id"]): str(r["name"]) for r in session.query(PRINCIPALS_SQL)}
    members = [(row_int(r["role_principal_id"]), row_int(r["member_principal_id"])) for r in session.query(ROLE_MEMBERS_SQL)]
    me = next((pid for pid, name in principals.items() if name.lower() == user_name.lower()), None)
    found: set[int] = set()
    frontier = {me} if me is not None else set()
    while frontier:
        nxt = {role for role, member in members if member in frontier and role not in found}
        found |= nxt
        frontier = nxt
    return sorted(principals[r] for r in found if r in principals)


def least_privilege_warnings(roles: list[str], permissions: list[str]) -> list[str]:
    out = [f"member of {r}: more than an application needs (see azsqlctl grant)" for r in roles if r in ELEVATED_ROLES | CI_ONLY_ROLES]
    out += [f"holds {p} on the database (see azsqlctl grant)" for p in permissions if p in ELEVATED_PERMISSIONS and "db_owner" not in roles]
    return out

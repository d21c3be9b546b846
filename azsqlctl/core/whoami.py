"""Log in with a token and report who the server says you are.

The smallest end-to-end proof that a passwordless login works: token ->
driver -> server -> identity functions, roles and effective permissions.
doctor's login and permissions checks build on the same queries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .identity import TokenIdentity, identity_from_claims
from .ports import Connector, QuerySession, TokenSource, row_int
from .roles import CI_ONLY_ROLES, ELEVATED_PERMISSIONS, ELEVATED_ROLES
from .settings import ConnectionSettings

IDENTITY_SQL = "SELECT SUSER_SNAME() AS login_name, USER_NAME() AS user_name, DB_NAME() AS database_name, @@VERSION AS version"
ROLE_MEMBERS_SQL = "SELECT role_principal_id, member_principal_id FROM sys.database_role_members"
PRINCIPALS_SQL = "SELECT name, principal_id, type FROM sys.database_principals"
MY_PERMISSIONS_SQL = "SELECT permission_name FROM fn_my_permissions(NULL, 'DATABASE')"


@dataclass
class WhoAmI:
    server: str
    database: str
    credential: str
    token_ms: float
    login_ms: float
    identity: TokenIdentity
    login_name: str
    user_name: str
    database_name: str
    server_version: str
    roles: list[str]
    permissions: list[str]
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "server": self.server, "database": self.database, "credential": self.credential,
            "token_ms": round(self.token_ms, 1), "login_ms": round(self.login_ms, 1),
            "identity": self.identity.as_dict(), "login_name": self.login_name, "user_name": self.user_name,
            "database_name": self.database_name, "server_version": self.server_version,
            "roles": self.roles, "permissions": self.permissions, "warnings": self.warnings,
        }  # fmt: skip


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


def whoami(settings: ConnectionSettings, tokens: TokenSource, connector: Connector) -> WhoAmI:
    server = settings.require_server()
    token = tokens.token(settings.cloud.sql_scope)
    identity = identity_from_claims(token.claims)
    start = time.perf_counter()
    session = connector.connect(settings.database, token)
    login_ms = (time.perf_counter() - start) * 1000
    try:
        row = session.query(IDENTITY_SQL)[0]
        roles = effective_roles(session, str(row["user_name"]))
        permissions = [str(r["permission_name"]) for r in session.query(MY_PERMISSIONS_SQL)]
    finally:
        session.close()
    version = str(row["version"]).splitlines()[0].strip()
    return WhoAmI(
        server=server.display, database=settings.database, credential=token.credential, token_ms=token.elapsed_ms,
        login_ms=login_ms, identity=identity, login_name=str(row["login_name"]), user_name=str(row["user_name"]),
        database_name=str(row["database_name"]), server_version=version, roles=roles, permissions=permissions,
        warnings=least_privilege_warnings(roles, permissions),
    )  # fmt: skip

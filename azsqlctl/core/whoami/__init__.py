"""`azsqlctl whoami`: log in with a token and report who the server says you are.

The smallest end-to-end proof that a passwordless login works: token -> driver -> server -> identity
functions, roles and effective permissions (the queries doctor's checks share: ``core.effective_access``).

``WhoamiRequest`` (what the command line said) -> ``settings_for`` (the one precedence rule) ->
``whoami`` over the token and SQL ports -> ``WhoAmI``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..effective_access import IDENTITY_SQL, MY_PERMISSIONS_SQL, effective_roles, least_privilege_warnings
from ..identity import TokenIdentity, identity_from_claims
from ..ports import Connector, TokenSource
from ..settings import ConnectionSettings, SettingsInput, resolve_settings


@dataclass(frozen=True)
class WhoamiRequest:
    target: SettingsInput


@dataclass(frozen=True)
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
    roles: tuple[str, ...]
    permissions: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "server": self.server, "database": self.database, "credential": self.credential,
            "token_ms": round(self.token_ms, 1), "login_ms": round(self.login_ms, 1),
            "identity": self.identity.as_dict(), "login_name": self.login_name, "user_name": self.user_name,
            "database_name": self.database_name, "server_version": self.server_version,
            "roles": list(self.roles), "permissions": list(self.permissions), "warnings": list(self.warnings),
        }  # fmt: skip


def settings_for(request: WhoamiRequest, env: Mapping[str, str], cwd: Path) -> ConnectionSettings:
    return resolve_settings(request.target, env, cwd)  # the server is required by ``whoami``: after the driver is found


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
        database_name=str(row["database_name"]), server_version=version, roles=tuple(roles),
        permissions=tuple(permissions), warnings=tuple(least_privilege_warnings(roles, permissions)),
    )  # fmt: skip

"""core/whoami: the request's settings and the report, over an in-memory token source and SQL session (ports
written here: a token with chosen claims, a session answering whoami's queries as a server would)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from azsqlctl.core import effective_access as ea
from azsqlctl.core.config import FileConfig
from azsqlctl.core.errors import UsageError
from azsqlctl.core.ports import AccessToken, Row
from azsqlctl.core.settings import SettingsInput, resolve_settings
from azsqlctl.core.whoami import WhoAmI, WhoamiRequest, settings_for, whoami

OID = "11111111-2222-3333-4444-555555555555"
APPID = "66666666-7777-8888-9999-000000000000"
TID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def jwt_of(claims: dict[str, object]) -> str:
    def part(d: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class Tokens:
    def __init__(self) -> None:
        self.scopes: list[str] = []

    def token(self, scope: str) -> AccessToken:
        self.scopes.append(scope)
        claims: dict[str, object] = {"oid": OID, "appid": APPID, "tid": TID, "idtyp": "app"}
        return AccessToken(jwt_of(claims), 1_900_000_000, "ManagedIdentityCredential", 12.34)


class Server:
    """What the server answers: the identity row, the catalog for roles, the user's permissions."""

    def __init__(
        self, roles: list[str], permissions: list[str], version: str = "Microsoft SQL Azure (RTM) - 12.0.2000.8\n\tJul 2 2026\n"
    ) -> None:
        self.roles, self.permissions, self.version = roles, permissions, version
        self.connected: list[tuple[str, str]] = []
        self.sent: list[str] = []
        self.closed = 0

    def connect(self, database: str, token: AccessToken) -> Server:
        self.connected.append((database, token.credential))
        time.sleep(0.0123)  # a login takes time: login_ms is measured around this call (and has decimals to round)
        return self

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        self.sent.append(sql)
        if sql == ea.IDENTITY_SQL:
            return [{"login_name": f"{APPID}@{TID}", "user_name": "orders-api", "database_name": "appdb", "version": self.version}]
        if sql == ea.PRINCIPALS_SQL:
            ids = {name: 16384 + i for i, name in enumerate(self.roles)}
            rows: list[Row] = [{"name": "orders-api", "principal_id": "5", "type": "E"}]
            return rows + [{"name": n, "principal_id": str(i), "type": "R"} for n, i in ids.items()]
        if sql == ea.ROLE_MEMBERS_SQL:
            return [{"role_principal_id": 16384 + i, "member_principal_id": 5} for i in range(len(self.roles))]
        if sql == ea.MY_PERMISSIONS_SQL:
            return [{"permission_name": p} for p in self.permissions]
        raise AssertionError(f"unexpected query {sql}")

    def close(self) -> None:
        self.closed += 1


def test_settings_for_resolves_the_request_with_the_one_precedence_rule(tmp_path: Path) -> None:
    request = WhoamiRequest(SettingsInput(server="sql1.database.windows.net", database="orders"))
    got = settings_for(request, {"AZSQLCTL_DATABASE": "ignored"}, tmp_path)
    assert got.database == "orders"  # the flag over the environment
    assert got.require_server().display == "sql1.database.windows.net"
    from_env = settings_for(WhoamiRequest(SettingsInput(server="sql1.database.windows.net")), {"AZSQLCTL_DATABASE": "env_db"}, tmp_path)
    assert from_env.database == "env_db"


def test_the_report_is_what_the_server_and_the_token_said(tmp_path: Path) -> None:
    s = resolve_settings(SettingsInput(server="sql1.database.windows.net", database="appdb"), {}, tmp_path, FileConfig(None, {}))
    tokens, server = Tokens(), Server(["db_datareader"], ["CONNECT", "SELECT"])
    got = whoami(s, tokens, server)
    assert tokens.scopes == [s.cloud.sql_scope]
    assert server.connected == [("appdb", "ManagedIdentityCredential")]
    assert server.closed == 1
    assert server.sent[0] == ea.IDENTITY_SQL and server.sent[-1] == ea.MY_PERMISSIONS_SQL
    assert isinstance(got, WhoAmI)
    assert (got.server, got.database, got.credential, got.token_ms) == (
        "sql1.database.windows.net",
        "appdb",
        "ManagedIdentityCredential",
        12.34,
    )
    assert got.login_ms >= 12.0  # the connect call's time, in milliseconds
    assert (got.identity.object_id, got.identity.tenant_id) == (OID, TID)
    assert (got.login_name, got.user_name, got.database_name) == (f"{APPID}@{TID}", "orders-api", "appdb")
    assert got.server_version == "Microsoft SQL Azure (RTM) - 12.0.2000.8"  # the first line, stripped
    assert got.roles == ("db_datareader",)
    assert got.permissions == ("CONNECT", "SELECT")
    assert got.warnings == tuple(ea.least_privilege_warnings(["db_datareader"], ["CONNECT", "SELECT"]))


def test_an_elevated_role_is_warned_about_and_as_dict_carries_everything(tmp_path: Path) -> None:
    s = resolve_settings(SettingsInput(server="sql1.database.windows.net", database="appdb"), {}, tmp_path, FileConfig(None, {}))
    got = whoami(s, Tokens(), Server(["db_owner"], ["CONTROL"], version="  v12 \nmore"))
    assert got.server_version == "v12"
    assert got.warnings and got.warnings == tuple(ea.least_privilege_warnings(["db_owner"], ["CONTROL"]))
    shown = got.as_dict()
    assert shown == {
        "server": "sql1.database.windows.net", "database": "appdb", "credential": "ManagedIdentityCredential",
        "token_ms": 12.3, "login_ms": round(got.login_ms, 1), "identity": got.identity.as_dict(),
        "login_name": f"{APPID}@{TID}", "user_name": "orders-api", "database_name": "appdb", "server_version": "v12",
        "roles": ["db_owner"], "permissions": ["CONTROL"], "warnings": list(got.warnings),
    }  # fmt: skip


def test_the_session_is_closed_when_a_query_fails(tmp_path: Path) -> None:
    class Failing(Server):
        def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
            if sql == ea.MY_PERMISSIONS_SQL:
                raise RuntimeError("connection lost")
            return super().query(sql, params)

    s = resolve_settings(SettingsInput(server="sql1.database.windows.net", database="appdb"), {}, tmp_path, FileConfig(None, {}))
    server = Failing([], [])
    with pytest.raises(RuntimeError, match="connection lost"):
        whoami(s, Tokens(), server)
    assert server.closed == 1


def test_no_server_is_a_usage_error_before_any_token(tmp_path: Path) -> None:
    s = resolve_settings(SettingsInput(database="appdb"), {}, tmp_path, FileConfig(None, {}))
    tokens = Tokens()
    with pytest.raises(UsageError):
        whoami(s, tokens, Server([], []))
    assert tokens.scopes == []

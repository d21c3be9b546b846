"""Each refused login reaches pyodbc with the SQLSTATE, number and text Azure SQL gives."""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import pytest

from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import FirewallRule
from tests.conftest import raw_connect
from tests.e2e.test_tds_login import client_id_of, mi_token

TOKEN_PRINCIPAL = "Login failed for user '<token-identified principal>'."
DRIVER = r"\[Microsoft\]\[ODBC Driver 18 for SQL Server\]\[SQL Server\]"


def refused(sandbox: Sandbox, token: str | None, **kwargs: object) -> tuple[str, str]:
    import pyodbc

    with pytest.raises(pyodbc.Error) as info:
        raw_connect(sandbox, token, **kwargs)  # type: ignore[arg-type]
    return str(info.value.args[0]), str(info.value.args[1])


def last_audit(sandbox: Sandbox) -> tuple[int, int, str]:
    """(error, state, message) of the newest refused login, read back from the audit store's row."""
    row = sandbox.store.audit.last()
    assert row is not None and row["action_id_s"] == "DBAF" and row["succeeded_s"] == "false", row
    info = row["additional_information_s"]
    found = re.search(r"<error_code>(\d+)</error_code><error_state>(\d+)</error_state>", info) or re.search(
        r"<failure_reason>Err (\d+), Level \d+, State (\d+), ", info
    )
    assert found, info
    return int(found[1]), int(found[2]), row["statement_s"]


def test_no_matching_user(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    state, message = refused(sandbox, mi_token(client_id_of(sandbox, "billing-worker")))
    assert state == "28000"
    assert re.search(DRIVER + re.escape(TOKEN_PRINCIPAL) + r" \(18456\) \(SQLDriverConnect\)", message)
    assert last_audit(sandbox)[:2] == (18456, 132)


def test_contained_user_connecting_to_master(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    state, message = refused(sandbox, mi_token(client_id_of(sandbox, "orders-api")), database="master")
    assert (state, TOKEN_PRINCIPAL in message) == ("28000", True)


def test_user_created_with_the_object_id_instead_of_the_client_id(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    worker = sandbox.store.read(lambda s: next(i for i in s.identities if i.name == "billing-worker"))
    with sandbox.sql.storage.edit_security("appdb") as appdb:
        from azsqlctl.sandbox.state import DbUser

        appdb.users.append(DbUser("billing-worker", worker.object_id, "E", 20))
    state, message = refused(sandbox, mi_token(client_id_of(sandbox, "billing-worker")))
    assert (state, TOKEN_PRINCIPAL in message) == ("28000", True)


@pytest.mark.parametrize(
    ("overrides", "suffix", "audit_state"),
    [
        ({"exp": int(time.time()) - 3600}, "", 104),
        ({"aud": "https://management.azure.com/"}, "", 103),
        ({"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"}, " The server is not currently configured to accept this token.", 105),
    ],
    ids=["expired", "wrong-audience", "wrong-tenant"],
)
def test_rejected_tokens(sandbox: Sandbox, client_env: dict[str, str], overrides: dict[str, Any], suffix: str, audit_state: int) -> None:
    token = sandbox.issue_token("orders-api", **overrides)
    state, message = refused(sandbox, token)
    assert state == "28000"
    assert f"Login failed for user '<token-identified principal>'.{suffix} (18456)" in message
    assert last_audit(sandbox)[:2] == (18456, audit_state)


def test_token_signed_by_another_key(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azsqlctl.sandbox.entra.tokens import Issuer

    forged = Issuer.load_or_create(None)
    ident = sandbox.store.read(lambda s: next(i for i in s.identities if i.name == "orders-api"))
    token = forged.issue(ident, "https://database.windows.net/", sandbox.store.read(lambda s: s.tenant_id), 3600)
    state, message = refused(sandbox, token)
    assert (state, TOKEN_PRINCIPAL in message) == ("28000", True)


def test_malformed_token_struct(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    import struct

    token = mi_token().encode("utf-8")
    # pyodbc #228: the length prefix is right but the token is UTF-8, not UTF-16-LE.
    # (Leaving the prefix out entirely crashes the driver itself, reading past the buffer.)
    state, message = refused(sandbox, None, struct_bytes=struct.pack("<I", len(token)) + token)
    assert state == "28000"
    assert "Login failed for user ''. (18456)" in message


def test_token_with_uid_pwd_is_refused_by_the_driver(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    state, message = refused(sandbox, mi_token(), extra="UID=admin;PWD=secret;")
    assert state == "FA005"
    assert "Cannot use Access Token with any of the following options" in message


def test_firewall_40615_names_the_client_ip(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.client_ip = "203.0.113.7"  # what the gateway would see behind NAT
    state, message = refused(sandbox, mi_token())
    assert state == "42000"
    assert (
        "Cannot open server 'sandbox-sql' requested by the login. Client with IP address '203.0.113.7' is not allowed to access the server."
        in message
    )
    assert "(40615)" in message
    with sandbox.store.mutate() as s:
        s.server.firewall_rules.append(FirewallRule("office", "203.0.113.0", "203.0.113.255"))
    raw_connect(sandbox, mi_token()).close()


def test_public_network_access_disabled_47073(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.server.public_network_access = "Disabled"
    state, message = refused(sandbox, mi_token())
    assert "Connection was denied since Deny Public Network Access is set to Yes" in message
    assert "(47073)" in message
    assert state == "42000"


def test_missing_database_4060(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    state, message = refused(sandbox, mi_token(), database="nosuchdb")
    assert 'Cannot open database "nosuchdb" requested by the login. The login failed. (4060)' in message
    assert state == "42000"
    assert last_audit(sandbox)[:2] == (4060, 38)


def test_database_unavailable_40613(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    sandbox.faults.inject("tds", "unavailable")
    _state, message = refused(sandbox, mi_token())
    assert re.search(r"Database 'appdb' on server 'sandbox-sql' is not currently available\..*\(40613\)", message)
    raw_connect(sandbox, mi_token()).close()  # transient: the next attempt works


def test_drop_during_handshake(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    sandbox.faults.inject("tds", "drop_handshake")
    state, _message = refused(sandbox, mi_token())
    assert state in ("08001", "08S01")
    raw_connect(sandbox, mi_token()).close()


def test_stall_gives_login_timeout(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    sandbox.faults.inject("tds", "stall", delay=5)
    state, message = refused(sandbox, mi_token(), timeout=2)
    assert state == "HYT00"
    assert "Login timeout expired" in message


def test_connection_refused_when_nothing_listens(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    import pyodbc

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(pyodbc.OperationalError) as info:
        pyodbc.connect(
            f"DRIVER={{{__import__('tests.conftest', fromlist=['driver_path']).driver_path()}}};SERVER=tcp:127.0.0.1,{free_port};Encrypt=yes",
            timeout=1,  # refused at once; the driver retries the refused address until the login timeout
        )
    assert info.value.args[0] in ("08001", "HYT00")

"""The real ODBC Driver 18 logs in to the sandbox with a token and reads its state."""

from __future__ import annotations

import pytest

from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import DbUser
from tests.conftest import raw_connect

SQL_SCOPE = "https://database.windows.net/.default"


def mi_token(client_id: str | None = None) -> str:
    from azure.identity import ManagedIdentityCredential

    return str(ManagedIdentityCredential(client_id=client_id).get_token(SQL_SCOPE).token)


def client_id_of(sandbox: Sandbox, name: str) -> str:
    return sandbox.store.read(lambda s: next(i.client_id for i in s.identities if i.name == name))


@pytest.mark.parametrize("encrypt", ["yes", "strict"])
def test_token_login_with_verified_certificate(sandbox: Sandbox, client_env: dict[str, str], encrypt: str) -> None:
    token = mi_token(client_id_of(sandbox, "orders-api"))
    cnxn = raw_connect(sandbox, token, extra=f"Encrypt={encrypt};")
    try:
        row = cnxn.cursor().execute("SELECT SUSER_SNAME(), USER_NAME(), DB_NAME(), ORIGINAL_LOGIN(), @@VERSION").fetchone()
    finally:
        cnxn.close()
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    assert row[0] == f"orders-api@{tenant}"
    assert row[1] == "orders-api"
    assert row[2] == "appdb"
    assert row[3] == row[0]
    assert row[4].startswith("Microsoft SQL Azure (RTM) - 12.0.2000.8")


def test_trust_server_certificate_without_the_ca(sandbox: Sandbox, client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    token = mi_token()
    import pyodbc

    with pytest.raises(pyodbc.OperationalError, match="certificate verify failed"):
        raw_connect(sandbox, token)
    cnxn = raw_connect(sandbox, token, extra="TrustServerCertificate=yes;")
    assert cnxn.cursor().execute("SELECT 1").fetchone()[0] == 1
    cnxn.close()


def test_results_come_from_the_databases_security_state(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azsqlctl.sandbox.state import DbUser

    worker = {"client_id": client_id_of(sandbox, "billing-worker")}
    with sandbox.sql.storage.edit_security("appdb") as appdb:  # committed in appdb's data file, as a grant's COMMIT does
        appdb.users.append(DbUser("billing-worker", worker["client_id"], "E", 9))
        appdb.members["db_datawriter"] = ["billing-worker"]

    cnxn = raw_connect(sandbox, mi_token(worker["client_id"]))
    cur = cnxn.cursor()
    assert cur.execute("SELECT USER_NAME()").fetchone()[0] == "billing-worker"
    rows = cur.execute("SELECT name, type, sid FROM sys.database_principals WHERE type = 'E'").fetchall()
    import uuid

    assert {(r.name, r.type, bytes(r.sid)) for r in rows} == {
        ("orders-api", "E", uuid.UUID(client_id_of(sandbox, "orders-api")).bytes_le),
        ("billing-worker", "E", uuid.UUID(worker["client_id"]).bytes_le),
    }
    perms = [r[0] for r in cur.execute("SELECT permission_name FROM fn_my_permissions(NULL, 'DATABASE')")]
    assert perms == ["CONNECT", "DELETE", "INSERT", "UPDATE"]
    assert tuple(cur.execute("SELECT IS_ROLEMEMBER('db_datawriter'), IS_ROLEMEMBER('db_owner')").fetchone()) == (1, 0)
    cnxn.close()


def test_entra_admin_is_dbo_and_group_membership_maps_to_group_user(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azsqlctl.sandbox.state import Identity

    with sandbox.store.mutate() as s:
        group = Identity("app-readers", "group", "5d1c2f3a-0000-4000-8000-00000000a001")
        user = Identity("dana", "user", "5d1c2f3a-0000-4000-8000-00000000a002", upn="dana@contoso.example", groups=[group.object_id])
        s.identities += [group, user]
    with sandbox.sql.storage.edit_security("appdb") as appdb:
        appdb.users.append(DbUser("app-readers", group.object_id, "X", 12))
        appdb.members["db_datareader"].append("app-readers")
    cnxn = raw_connect(sandbox, sandbox.issue_token("dana"))
    row = cnxn.cursor().execute("SELECT SUSER_SNAME(), USER_NAME(), IS_ROLEMEMBER('db_datareader')").fetchone()
    assert tuple(row) == ("dana@contoso.example", "app-readers", 1)
    cnxn.close()

    cnxn = raw_connect(sandbox, mi_token(), database="master")
    assert tuple(cnxn.cursor().execute("SELECT USER_NAME(), DB_NAME()").fetchone()) == ("dbo", "master")
    cnxn.close()


def test_transactions_and_unsupported_statements(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    import pyodbc

    cnxn = raw_connect(sandbox, mi_token())
    cur = cnxn.cursor()
    cnxn.commit()
    cnxn.rollback()
    cnxn.autocommit = True
    with pytest.raises(pyodbc.Error, match=r"'CREATE SEQUENCE' is not supported by the azsqlctl sandbox.*\(40517\)"):
        cur.execute("CREATE SEQUENCE dbo.s START WITH 1")
    with pytest.raises(pyodbc.Error, match=r"'sys.dm_exec_requests' is not supported"):
        cur.execute("SELECT session_id FROM sys.dm_exec_requests")
    assert cur.execute("SET NOCOUNT ON; SELECT 42 AS answer").fetchone().answer == 42
    cnxn.close()
    statements = [sql for _db, sql in sandbox.sql.statements]
    assert "CREATE SEQUENCE dbo.s START WITH 1" in statements

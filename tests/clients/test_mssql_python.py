"""mssql-python, Microsoft's own driver (its bundled ODBC Driver 18), against the sandbox."""

from __future__ import annotations

from typing import Any

import mssql_python  # in the test extra: a missing client is a broken install, not a skip
import pytest

from .support import ADMIN, READER, REFUSED_TEXT, SQL_COPT_SS_ACCESS_TOKEN, STRANGER, Clients, token_struct


def connect(clients: Clients, token: str, extra: str = "", **kwargs: Any) -> Any:
    conn_str = f"Server=tcp:{clients.host},{clients.port};Database=appdb;Encrypt=yes;TrustServerCertificate=no;{extra}"
    return mssql_python.connect(conn_str, attrs_before={SQL_COPT_SS_ACCESS_TOKEN: token_struct(token)}, **kwargs)


def test_token_login_over_verified_tls(clients: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    cnxn = connect(clients, clients.token(ADMIN))
    try:
        row = cnxn.cursor().execute("SELECT SUSER_SNAME(), USER_NAME(), DB_NAME()").fetchone()
    finally:
        cnxn.close()
    assert tuple(row) == (f"{ADMIN}@{clients.env['AZSQLCTL_TENANT_ID']}", "dbo", "appdb")
    # Without the sandbox CA the driver refuses the certificate (another connection string: not served from mssql-python's pool).
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    with pytest.raises(mssql_python.Error, match="certificate verify failed"):
        connect(clients, clients.token(ADMIN), extra="ConnectRetryCount=0")


def test_token_provider_login(clients: Clients) -> None:
    """mssql-python's own token acquisition: a credential object, asked for the SQL scope at connect."""
    from azure.identity import ManagedIdentityCredential

    credential = ManagedIdentityCredential(client_id=clients.client_id(ADMIN))
    conn_str = f"Server=tcp:{clients.host},{clients.port};Database=appdb;Encrypt=yes"
    cnxn = mssql_python.connect(conn_str, token_provider=credential)
    try:
        row = cnxn.cursor().execute("SELECT USER_NAME()").fetchone()
        assert row is not None and row[0] == "dbo"
    finally:
        cnxn.close()


def test_authentication_active_directory_msi(clients: Clients) -> None:
    """Authentication=ActiveDirectoryMSI: mssql-python gets the token itself (azure-identity, IDENTITY_ENDPOINT)."""
    conn_str = f"Server=tcp:{clients.host},{clients.port};Database=appdb;Encrypt=yes;Authentication=ActiveDirectoryMSI;UID={clients.client_id(READER)}"
    cnxn = mssql_python.connect(conn_str)
    try:
        row = cnxn.cursor().execute("SELECT SUSER_SNAME(), USER_NAME()").fetchone()
        assert row is not None
        assert tuple(row) == (
            f"{READER}@{clients.env['AZSQLCTL_TENANT_ID']}",
            READER,
        )
    finally:
        cnxn.close()


def test_parameterised_query(clients: Clients) -> None:
    cnxn = connect(clients, clients.token(ADMIN))
    try:
        cur = cnxn.cursor()
        row = cur.execute("SELECT ? AS n, ? AS s, ? AS missing", 42, "grüße 🙂", None).fetchone()
        assert tuple(row) == (42, "grüße 🙂", None)
        assert cur.execute("SELECT USER_NAME() WHERE ? = 1", 1).fetchone()[0] == "dbo"
        assert cur.execute("SELECT USER_NAME() WHERE ? = 1", 2).fetchone() is None
    finally:
        cnxn.close()


def test_transaction_commit_and_rollback(clients: Clients) -> None:
    cnxn = connect(clients, clients.token(ADMIN))
    other = connect(clients, clients.token(ADMIN), autocommit=True)
    try:
        cur = cnxn.cursor()
        cur.execute("CREATE TABLE dbo.mp_tx (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50) NOT NULL)")
        cnxn.commit()
        cur.execute("INSERT INTO dbo.mp_tx (id, name) VALUES (?, ?)", 1, "rolled back")
        assert cur.execute("SELECT COUNT(*) FROM dbo.mp_tx").fetchone()[0] == 1  # visible inside the transaction
        cnxn.rollback()
        assert cur.execute("SELECT COUNT(*) FROM dbo.mp_tx").fetchone()[0] == 0
        cur.execute("INSERT INTO dbo.mp_tx (id, name) VALUES (?, ?)", 2, "kept")
        cnxn.commit()
        rows = other.cursor().execute("SELECT id, name FROM dbo.mp_tx").fetchall()
        assert [tuple(r) for r in rows] == [(2, "kept")]
    finally:
        cnxn.close()
        other.close()


def test_refused_login_has_azures_text(clients: Clients) -> None:
    """mssql-python surfaces SQLSTATE 28000 and the server's text; it does not expose the native number (18456)."""
    token = clients.token(STRANGER)
    _ok, refused_before = clients.logins()
    with pytest.raises(mssql_python.OperationalError) as raised:
        connect(clients, token)
    assert raised.value.driver_error == "Invalid authorization specification"  # SQLSTATE 28000
    assert raised.value.ddbc_error == f"[Microsoft][SQL Server]{REFUSED_TEXT}"
    assert clients.logins()[1] == refused_before + 1

"""python-tds (pytds), a pure-Python TDS client: its own TLS (pyOpenSSL) and token login via access_token_callable."""

from __future__ import annotations

from typing import Any

import pytds  # in the test extra: a missing client is a broken install, not a skip
import pytest

from .support import ADMIN, REFUSED_TEXT, STRANGER, Clients


def connect(clients: Clients, identity: str = ADMIN, cafile: str | None = None, **kwargs: Any) -> Any:
    return pytds.connect(
        dsn=clients.host,
        port=clients.port,
        database="appdb",
        access_token_callable=lambda: clients.token(identity),
        cafile=cafile or clients.ca_file,
        validate_host=True,
        login_timeout=10,
        **kwargs,
    )


def test_token_login_over_verified_tls(clients: Clients) -> None:
    with connect(clients, autocommit=True) as cnxn, cnxn.cursor() as cur:
        cur.execute("SELECT SUSER_SNAME(), USER_NAME(), DB_NAME()")
        assert tuple(cur.fetchone()) == (f"{ADMIN}@{clients.env['AZSQLCTL_TENANT_ID']}", "dbo", "appdb")
    # Against the system roots only, the sandbox's certificate does not verify.
    with pytest.raises(Exception, match="certificate verify failed"):
        connect(clients, cafile="/etc/ssl/certs/ca-certificates.crt")


def test_parameterised_query(clients: Clients) -> None:
    with connect(clients, autocommit=True) as cnxn, cnxn.cursor() as cur:
        cur.execute("SELECT %s AS n, %s AS s, %s AS missing", (42, "grüße 🙂", None))
        assert tuple(cur.fetchone()) == (42, "grüße 🙂", None)
        cur.execute("SELECT USER_NAME() WHERE %(v)s = 1", {"v": 2})
        assert cur.fetchall() == []


def test_transaction_commit_and_rollback(clients: Clients) -> None:
    with connect(clients, autocommit=False) as cnxn, connect(clients, autocommit=True) as other:
        cur = cnxn.cursor()
        cur.execute("CREATE TABLE dbo.pytds_tx (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50) NOT NULL)")
        cnxn.commit()
        cur.execute("INSERT INTO dbo.pytds_tx (id, name) VALUES (%s, %s)", (1, "rolled back"))
        cur.execute("SELECT COUNT(*) FROM dbo.pytds_tx")
        assert cur.fetchone()[0] == 1
        cnxn.rollback()
        cur.execute("SELECT COUNT(*) FROM dbo.pytds_tx")
        assert cur.fetchone()[0] == 0
        cur.execute("INSERT INTO dbo.pytds_tx (id, name) VALUES (%s, %s)", (2, "kept"))
        cnxn.commit()
        with other.cursor() as ocur:
            ocur.execute("SELECT id, name FROM dbo.pytds_tx")
            assert [tuple(r) for r in ocur.fetchall()] == [(2, "kept")]


def test_refused_login_has_azures_number_and_text(clients: Clients) -> None:
    with pytest.raises(pytds.OperationalError) as raised:
        connect(clients, identity=STRANGER)
    assert (raised.value.number, raised.value.severity) == (18456, 14)
    assert raised.value.text == REFUSED_TEXT

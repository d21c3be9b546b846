"""pyodbc with ODBC Driver 18, the way application code uses it: token in attrs_before, ? parameters, transactions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyodbc
import pytest

from tests.conftest import raw_connect

from .support import ADMIN, REFUSED_TEXT, STRANGER, Clients


@pytest.fixture
def cnxn(clients: Clients) -> Iterator[Any]:
    conn = raw_connect(clients.sandbox, clients.token(ADMIN))
    yield conn
    conn.close()


def test_parameterised_query(cnxn: Any) -> None:
    cur = cnxn.cursor()
    assert tuple(cur.execute("SELECT ? AS n, ? AS s, ? AS missing", 42, "grüße 🙂", None).fetchone()) == (42, "grüße 🙂", None)
    assert cur.execute("SELECT USER_NAME() WHERE ? = 1", 1).fetchone()[0] == "dbo"
    assert cur.execute("SELECT USER_NAME() WHERE ? = 1", 2).fetchone() is None


def test_prepared_statement_reused(cnxn: Any) -> None:
    """The same SQL executed again: the driver prepares once (sp_prepexec), then runs the handle (sp_execute)."""
    cur = cnxn.cursor()
    assert [cur.execute("SELECT ? * 2 AS doubled", i).fetchone()[0] for i in range(5)] == [0, 2, 4, 6, 8]


def test_transaction_commit_and_rollback(clients: Clients, cnxn: Any) -> None:
    cur = cnxn.cursor()
    cur.execute("CREATE TABLE dbo.pyodbc_tx (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50) NOT NULL)")
    cnxn.commit()
    cur.execute("INSERT INTO dbo.pyodbc_tx (id, name) VALUES (?, ?)", 1, "rolled back")
    assert cur.execute("SELECT COUNT(*) FROM dbo.pyodbc_tx").fetchone()[0] == 1
    cnxn.rollback()
    assert cur.execute("SELECT COUNT(*) FROM dbo.pyodbc_tx").fetchone()[0] == 0
    cur.execute("INSERT INTO dbo.pyodbc_tx (id, name) VALUES (?, ?)", 2, "kept")
    cnxn.commit()
    other = raw_connect(clients.sandbox, clients.token(ADMIN))
    try:
        assert [tuple(r) for r in other.cursor().execute("SELECT id, name FROM dbo.pyodbc_tx")] == [(2, "kept")]
    finally:
        other.close()


def test_refused_login_has_azures_number_and_text(clients: Clients) -> None:
    with pytest.raises(pyodbc.Error) as raised:
        raw_connect(clients.sandbox, clients.token(STRANGER))
    assert raised.value.args[0] == "28000"
    assert f"[SQL Server]{REFUSED_TEXT} (18456)" in raised.value.args[1]

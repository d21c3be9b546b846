"""Principals, memberships, permissions and user data commit together, through the real ODBC driver: a failure
while the security state is written at COMMIT leaves neither the data nor the security changes (both live in the
database's one SQLite file, written in one SQLite transaction: sql/engine/storage.py). The failure is a trigger in
that file refusing the write, as a failing disk would: nothing is mocked."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import pyodbc
import pytest

from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.sql.engine.storage import SECURITY, data_directory
from tests.conftest import raw_connect
from tests.e2e.test_sql_frontend import admin_token, error_of

REFUSED = "The service has encountered an error processing your request. Please try again."


@pytest.fixture
def two(sandbox: Sandbox, client_env: dict[str, str]) -> Iterator[tuple[Any, Any]]:
    """Two sessions as the Entra admin and a table; the data file refuses the security state's next write."""
    a, b = raw_connect(sandbox, admin_token()), raw_connect(sandbox, admin_token())
    a.autocommit = b.autocommit = True
    a.cursor().execute("CREATE TABLE dbo.orders (id int PRIMARY KEY, qty int)")
    assert sandbox.state_path is not None
    file = sqlite3.connect(data_directory(sandbox.state_path) / "appdb.sqlite")
    file.execute(f"CREATE TRIGGER refuse BEFORE UPDATE ON {SECURITY} BEGIN SELECT RAISE(ABORT, 'write refused'); END")
    file.commit()
    yield a, b
    for c in (a, b):
        with contextlib.suppress(pyodbc.Error):
            c.close()
    file.close()


def seen(cur: Any) -> tuple[int, list[str]]:
    """The committed rows of dbo.orders and the custom roles, as another session sees them."""
    count = int(cur.execute("SELECT COUNT(*) FROM dbo.orders").fetchval())
    roles = [str(r[0]) for r in cur.execute("SELECT name FROM sys.database_principals WHERE name = 'app_rw'").fetchall()]
    return count, roles


def test_a_commit_that_fails_writing_security_keeps_neither_the_data_nor_the_grants(two: tuple[Any, Any]) -> None:
    a, b = two
    a.autocommit = False  # the driver's own transaction: COMMIT is its transaction-manager request
    cur = a.cursor()
    cur.execute("INSERT INTO dbo.orders VALUES (1, 1)")
    cur.execute("CREATE ROLE app_rw; ALTER ROLE app_rw ADD MEMBER [orders-api]; GRANT SELECT ON SCHEMA::app TO app_rw")
    cur.execute("UPDATE dbo.orders SET qty = 2")
    with pytest.raises(pyodbc.Error) as info:
        a.commit()
    assert "(40197)" in str(info.value)
    assert seen(b.cursor()) == (0, [])
    # The answer carried the rollback (ENVCHANGE): the driver's next transaction starts from nothing open.
    cur.execute("INSERT INTO dbo.orders VALUES (3, 3)")
    assert cur.execute("SELECT @@TRANCOUNT").fetchval() == 1
    a.rollback()
    assert seen(b.cursor()) == (0, [])
    a.autocommit = True

    # A T-SQL COMMIT in a batch, and the autocommit statement: the same.
    assert "(40197)" in error_of(cur, "BEGIN TRAN; INSERT INTO dbo.orders VALUES (2, 2); CREATE ROLE app_rw; COMMIT")
    assert cur.execute("SELECT @@TRANCOUNT").fetchval() == 0  # rolled back, not left open
    assert REFUSED in error_of(cur, "CREATE ROLE app_rw")
    assert seen(b.cursor()) == (0, [])


def test_once_the_file_takes_writes_again_both_commit(sandbox: Sandbox, two: tuple[Any, Any]) -> None:
    a, b = two
    assert sandbox.state_path is not None
    with contextlib.closing(sqlite3.connect(data_directory(sandbox.state_path) / "appdb.sqlite")) as file:
        file.execute("DROP TRIGGER refuse")
        file.commit()
    a.cursor().execute("BEGIN TRAN; INSERT INTO dbo.orders VALUES (1, 1); CREATE ROLE app_rw; COMMIT")
    assert seen(b.cursor()) == (1, ["app_rw"])


def test_the_plugins_reset_puts_each_databases_security_state_back(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    """azsql_control's reset: users it made are gone, and a database a scenario added starts afresh the next time."""
    from azsqlctl.testing.control import SandboxControl

    control = SandboxControl(sandbox)
    control.make_user("billing-worker", ["writer"])
    control.load_scenario("fleet")
    with sandbox.sql.storage.edit_security("tenant_a") as db:
        db.roles.append("leftover")
    control.reset()
    appdb = sandbox.sql.storage.security("appdb")
    assert appdb is not None and appdb.user("billing-worker") is None and appdb.user("orders-api") is not None
    assert sandbox.sql.storage.security("tenant_a") is None  # no longer a database of the server
    control.load_scenario("fleet")
    tenant_a = sandbox.sql.storage.security("tenant_a")
    assert tenant_a is not None and tenant_a.roles == [] and tenant_a.schemas == ["dbo", "app"]

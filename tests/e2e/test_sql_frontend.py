"""The sandbox's T-SQL front end through the real ODBC Driver 18: batches, user tables, transactions, connect-time queries."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from azsqlctl.sandbox.serve import Sandbox
from tests.conftest import raw_connect

SQL_SCOPE = "https://database.windows.net/.default"


def admin_token() -> str:
    from azure.identity import ManagedIdentityCredential

    return str(ManagedIdentityCredential().get_token(SQL_SCOPE).token)


@pytest.fixture
def admin(sandbox: Sandbox, client_env: dict[str, str]) -> Iterator[Any]:
    """A connection as the server's Entra admin (dbo), autocommit on like most tools."""
    cnxn = raw_connect(sandbox, admin_token())
    cnxn.autocommit = True
    yield cnxn
    cnxn.close()


def error_of(cur: Any, sql: str) -> str:
    import pyodbc

    with pytest.raises(pyodbc.Error) as info:
        cur.execute(sql)
        while cur.nextset():
            pass
    return str(info.value)


def test_statements_without_semicolons(admin: Any) -> None:
    cur = admin.cursor()
    cur.execute("SET NOCOUNT ON\nSELECT SUSER_SNAME() AS who")
    row = cur.fetchone()
    assert row.who.startswith("sandbox-operator@")
    assert "(8134)" in error_of(cur, "SET XACT_ABORT ON SELECT 1/0")
    assert "Divide by zero error encountered." in error_of(cur, "SELECT 1/0")
    assert tuple(cur.execute("SELECT 'a  b', N'it''s', 7 / 2, -7 / 2, 7 % 3, 'x' + 'y'").fetchone()) == ("a  b", "it's", 3, -3, 1, "xy")
    cur.execute("SELECT 1 AS a; SELECT 2 AS b SELECT 3 AS c")
    seen = [cur.fetchone()[0]]
    while cur.nextset():
        seen.append(cur.fetchone()[0])
    assert seen == [1, 2, 3]


def test_sql_server_errors(admin: Any) -> None:
    cur = admin.cursor()
    assert "Invalid object name 'app.nosuch'. (208)" in error_of(cur, "SELECT * FROM app.nosuch")
    assert "Incorrect syntax near" in error_of(cur, "SELEC 1 FROM") or "(40517)" in error_of(cur, "SELEC 1 FROM")
    assert "(102)" in error_of(cur, "SELECT 1 FROM WHERE")
    assert "Conversion failed when converting the varchar value 'abc' to data type int. (245)" in error_of(cur, "SELECT CAST('abc' AS INT)")
    assert "is not supported by the azsqlctl sandbox" in error_of(cur, "CREATE VIEW v AS SELECT 1 AS x")
    assert "(40517)" in error_of(cur, "SELECT name FROM sys.indexes")
    assert 'Must declare the scalar variable "@nope". (137)' in error_of(cur, "SELECT @nope")
    cur.execute("CREATE TABLE dbo.t1 (id INT PRIMARY KEY, name NVARCHAR(10) NOT NULL)")
    assert "Invalid column name 'nope'. (207)" in error_of(cur, "SELECT nope FROM dbo.t1")
    assert "There is already an object named 't1' in the database. (2714)" in error_of(cur, "CREATE TABLE t1 (x INT)")
    cur.execute("INSERT INTO t1 (id, name) VALUES (1, 'one')")
    text = error_of(cur, "INSERT INTO t1 (id, name) VALUES (1, 'again')")
    assert (
        "Violation of PRIMARY KEY constraint 'PK__t1__" in text
        and "Cannot insert duplicate key in object 'dbo.t1'. The duplicate key value is (1). (2627)" in text
    )
    assert (
        "Cannot insert the value NULL into column 'name', table 'appdb.dbo.t1'; column does not allow nulls. INSERT fails. (515)"
        in error_of(cur, "INSERT INTO t1 (id) VALUES (2)")
    )
    assert (
        "String or binary data would be truncated in table 'appdb.dbo.t1', column 'name'. Truncated value: 'abcdefghij'. (2628)"
        in error_of(cur, "INSERT INTO t1 (id, name) VALUES (3, 'abcdefghijk')")
    )
    assert "(245)" in error_of(cur, "INSERT INTO t1 (id, name) VALUES ('three', 'x')")
    # A statement-level error does not end the batch; the next statement still runs.
    assert "(2627)" in error_of(cur, "INSERT INTO t1 (id, name) VALUES (1, 'dup') INSERT INTO t1 (id, name) VALUES (9, 'nine')")
    assert cur.execute("SELECT name FROM t1 WHERE id = 9").fetchval() == "nine"


def test_user_table_round_trip(admin: Any) -> None:
    cur = admin.cursor()
    cur.execute(
        "CREATE TABLE [app].[Orders] (id INT IDENTITY(1,1) PRIMARY KEY, customer NVARCHAR(50) NOT NULL, amount DECIMAL(10,2) NOT NULL DEFAULT 0, "
        "paid BIT NOT NULL DEFAULT 0, placed DATETIME2 DEFAULT SYSUTCDATETIME(), day DATE NULL, ref UNIQUEIDENTIFIER DEFAULT NEWID(), "
        "blob VARBINARY(MAX) NULL, score FLOAT NULL, big BIGINT NULL, note NVARCHAR(MAX) NULL)"
    )
    cur.execute(
        "INSERT INTO app.orders (customer, amount, day, blob, score, big) OUTPUT INSERTED.* VALUES (N'Zoë', 12.5, '2024-02-29', 0x0102, 1.25, 5000000000)"
    )
    row = cur.fetchone()
    assert row.id == 1 and row.customer == "Zoë" and row.amount == decimal.Decimal("12.50") and row.paid is False
    assert isinstance(row.placed, dt.datetime) and row.day == dt.date(2024, 2, 29) and isinstance(uuid.UUID(str(row.ref)), uuid.UUID)
    assert bytes(row.blob) == b"\x01\x02" and row.score == 1.25 and row.big == 5000000000
    cur.execute("INSERT INTO app.orders (customer, amount) VALUES ('bob', 3), ('carol', 4.75), ('BOB', 1)")
    assert cur.rowcount == 3
    assert cur.execute("SELECT SCOPE_IDENTITY()").fetchval() == 4
    rows = cur.execute(
        "SELECT TOP 2 o.customer, o.amount AS amt FROM [app].[orders] AS o WHERE o.amount > 2 ORDER BY o.amount DESC"
    ).fetchall()
    assert [(r.customer, r.amt) for r in rows] == [("Zoë", decimal.Decimal("12.50")), ("carol", decimal.Decimal("4.75"))]
    grouped = cur.execute(
        "SELECT customer, COUNT(*) AS n, SUM(amount) AS total FROM app.orders WHERE customer = 'bob' GROUP BY customer"
    ).fetchall()
    assert [(r.n, r.total) for r in grouped] == [(2, decimal.Decimal("4.00"))]  # the default collation is case-insensitive
    page = cur.execute("SELECT id FROM app.orders ORDER BY id OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY").fetchall()
    assert [r.id for r in page] == [2, 3]
    assert cur.execute("SELECT COUNT(*) FROM app.orders").fetchval() == 4
    cur.execute("UPDATE app.orders SET paid = 1, amount = amount + 1 WHERE customer = 'bob'")
    assert cur.rowcount == 2
    cur.execute("CREATE TABLE app.customers (name NVARCHAR(50) PRIMARY KEY, city NVARCHAR(50))")
    cur.execute("INSERT INTO app.customers VALUES ('bob', 'Oslo'), ('carol', 'Lima')")
    joined = cur.execute(
        "SELECT c.city, COUNT(*) AS n FROM app.orders o JOIN app.customers c ON c.name = o.customer GROUP BY c.city ORDER BY c.city"
    ).fetchall()
    assert [(r.city, r.n) for r in joined] == [("Lima", 1), ("Oslo", 2)]
    big = "x" * 3000
    cur.execute(f"UPDATE app.orders SET note = '{big}' WHERE id = 1")  # noqa: S608 - a literal longer than 4000 bytes
    assert cur.execute("SELECT note FROM app.orders WHERE id = 1").fetchval() == big
    cur.execute("DELETE FROM app.orders WHERE paid = 1")
    assert cur.rowcount == 2
    cur.execute("DROP TABLE app.customers")
    assert "(208)" in error_of(cur, "SELECT * FROM app.customers")
    assert "Cannot drop the table 'app.customers', because it does not exist or you do not have permission. (3701)" in error_of(
        cur, "DROP TABLE app.customers"
    )
    cur.execute("DROP TABLE IF EXISTS app.customers")


def test_transactions_roll_back(sandbox: Sandbox, admin: Any) -> None:
    cur = admin.cursor()
    cur.execute("CREATE TABLE dbo.ledger (id INT PRIMARY KEY, v NVARCHAR(20))")
    cur.execute("BEGIN TRAN INSERT INTO dbo.ledger VALUES (1, 'kept') COMMIT")
    cur.execute("BEGIN TRANSACTION; INSERT INTO dbo.ledger VALUES (2, 'gone'); SELECT @@TRANCOUNT AS n")
    assert cur.rowcount == 1  # the INSERT's count comes first, as from SQL Server without NOCOUNT
    assert cur.nextset()
    assert cur.fetchone().n == 1
    cur.execute("ROLLBACK")
    assert [r.id for r in cur.execute("SELECT id FROM dbo.ledger").fetchall()] == [1]
    assert "(3902)" in error_of(cur, "COMMIT")
    # XACT_ABORT ON: any error rolls the whole transaction back.
    assert "(2627)" in error_of(
        cur, "SET XACT_ABORT ON BEGIN TRAN INSERT INTO dbo.ledger VALUES (3, 'x') INSERT INTO dbo.ledger VALUES (1, 'dup')"
    )
    cur.execute("SET XACT_ABORT OFF")
    assert cur.execute("SELECT COUNT(*) FROM dbo.ledger").fetchval() == 1
    assert cur.execute("SELECT @@TRANCOUNT").fetchval() == 0

    # The driver's own transactions (autocommit off): TDS transaction-manager requests.
    other = raw_connect(sandbox, admin_token())
    ocur = other.cursor()
    ocur.execute("INSERT INTO dbo.ledger VALUES (4, 'driver')")
    other.rollback()
    ocur.execute("INSERT INTO dbo.ledger VALUES (5, 'driver')")
    other.commit()
    other.close()
    assert [r.id for r in cur.execute("SELECT id FROM dbo.ledger ORDER BY id").fetchall()] == [1, 5]


def test_tables_persist_beside_the_state(sandbox: Sandbox, admin: Any) -> None:
    admin.cursor().execute("CREATE TABLE dbo.kept (x INT) INSERT INTO dbo.kept VALUES (42)")
    assert sandbox.state_path is not None
    files = list(sandbox.state_path.parent.glob("state.data/*.sqlite"))
    assert [f.name for f in files] == ["appdb.sqlite"]
    import sqlite3

    with sqlite3.connect(files[0]) as db:
        assert db.execute('SELECT x FROM "dbo.kept"').fetchall() == [(42,)]


def test_connect_time_queries_answer_as_azure_sql(admin: Any) -> None:
    cur = admin.cursor()
    assert cur.execute("SELECT CAST(SERVERPROPERTY('ProductVersion') AS VARCHAR)").fetchval() == "12.0.2000.8"
    row = cur.execute("SELECT SERVERPROPERTY('Edition'), SERVERPROPERTY('EngineEdition'), SERVERPROPERTY('ProductLevel')").fetchone()
    assert tuple(row) == ("SQL Azure", 5, "RTM")
    assert cur.execute("SELECT schema_name()").fetchval() == "dbo"
    assert cur.execute("select db_name()").fetchval() == "appdb"
    assert cur.execute("SELECT @@SPID").fetchval() > 0
    assert cur.execute("SELECT CAST('test max support' AS NVARCHAR(max))").fetchval() == "test max support"
    views = cur.execute("SELECT name FROM sys.system_views WHERE name IN ('dm_exec_sessions', 'dm_pdw_nodes_exec_sessions')").fetchall()
    assert [r.name for r in views] == ["dm_exec_sessions"]
    level = cur.execute(
        """
        SELECT CASE transaction_isolation_level
        WHEN 0 THEN NULL
        WHEN 1 THEN 'READ UNCOMMITTED'
        WHEN 2 THEN 'READ COMMITTED'
        WHEN 3 THEN 'REPEATABLE READ'
        WHEN 4 THEN 'SERIALIZABLE'
        WHEN 5 THEN 'SNAPSHOT' END
        AS TRANSACTION_ISOLATION_LEVEL
        FROM sys.dm_exec_sessions
        where session_id = @@SPID
        """
    ).fetchval()
    assert level == "READ COMMITTED"
    cur.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
    assert cur.execute("SELECT transaction_isolation_level FROM sys.dm_exec_sessions WHERE session_id = @@SPID").fetchval() == 4
    ext = cur.execute("SELECT 1 FROM fn_listextendedproperty(default, default, default, default, default, default, default)")
    assert ext.fetchall() == []
    # What tedious sends after login, in one batch.
    cur.execute(
        "set textsize 2147483647\nset quoted_identifier on\nset arithabort off\nset numeric_roundabort off\nset ansi_warnings on\n"
        "set ansi_padding on\nset ansi_nulls on\nset concat_null_yields_null on\nset cursor_close_on_commit off\n"
        "set implicit_transactions off\nset language us_english\nset dateformat mdy\nset datefirst 7\n"
        "set transaction isolation level read committed"
    )
    assert cur.execute("IF @@TRANCOUNT = 0 BEGIN TRANSACTION SELECT @@TRANCOUNT").fetchval() == 1
    cur.execute("ROLLBACK")
    perms = [r[0] for r in cur.execute("SELECT permission_name FROM fn_my_permissions(NULL, 'DATABASE')").fetchall()]
    assert perms[0] == "CONTROL"
    # SQLAlchemy 2's has_table (create_all's check), with its parameters written as literals.
    cur.execute("CREATE TABLE app.widgets (id INT)")
    found = cur.execute(
        "SELECT sys.objects.name FROM sys.objects JOIN sys.schemas ON sys.objects.schema_id = sys.schemas.schema_id "
        "WHERE sys.schemas.name = CAST('app' AS NVARCHAR(max)) AND sys.objects.type IN ('U', 'V') AND sys.objects.name IN ('widgets', 'gadgets')"
    ).fetchall()
    assert [r.name for r in found] == ["widgets"]
    names = cur.execute("SELECT TOP 3 [p].[name] FROM [sys].[database_principals] AS p ORDER BY p.principal_id").fetchall()
    assert [r.name for r in names] == ["public", "dbo", "guest"]

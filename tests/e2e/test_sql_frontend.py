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
    return str(info.value.args[-1])  # the driver's message: [SQL Server]<text> (<number>)


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


def test_print_sends_a_message(admin: Any) -> None:
    cur = admin.cursor()
    cur.execute("DECLARE @n INT = 41 PRINT 'answer: ' + CAST(@n + 1 AS VARCHAR(10)) SELECT 1 AS one")
    assert any("answer: 42" in text for _state, text in cur.messages)
    while cur.description is None:  # as with SQL Server, the PRINT comes before the result set
        assert cur.nextset()
    assert cur.fetchone().one == 1


def test_sql_server_errors(admin: Any) -> None:
    cur = admin.cursor()
    assert "Invalid object name 'app.nosuch'. (208)" in error_of(cur, "SELECT * FROM app.nosuch")
    assert "Incorrect syntax near" in error_of(cur, "SELEC 1 FROM") or "(40517)" in error_of(cur, "SELEC 1 FROM")
    assert "(102)" in error_of(cur, "SELECT 1 FROM WHERE")
    assert "Conversion failed when converting the varchar value 'abc' to data type int. (245)" in error_of(cur, "SELECT CAST('abc' AS INT)")
    assert "is not supported by the azsqlctl sandbox" in error_of(cur, "CREATE SEQUENCE dbo.s START WITH 1")
    assert "(40517)" in error_of(cur, "SELECT session_id FROM sys.dm_exec_requests")
    assert 'Must declare the scalar variable "@nope". (137)' in error_of(cur, "SELECT @nope")
    cur.execute("CREATE TABLE dbo.t1 (id INT PRIMARY KEY, name NVARCHAR(10) NOT NULL)")
    assert "Invalid column name 'nope'. (207)" in error_of(cur, "SELECT nope FROM dbo.t1")
    assert "Invalid column name 'nope'. (207)" in error_of(cur, "SELECT t.nope FROM dbo.t1 AS t")
    assert 'The multi-part identifier "x.id" could not be bound. (4104)' in error_of(cur, "SELECT x.id FROM dbo.t1 AS t")
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
    deleted = cur.execute("DELETE FROM app.orders OUTPUT DELETED.id, DELETED.customer WHERE paid = 1").fetchall()
    assert sorted((r.id, r.customer) for r in deleted) == [(2, "bob"), (4, "BOB")]
    updated = cur.execute("UPDATE app.orders SET amount = 5 OUTPUT INSERTED.id, INSERTED.amount WHERE id = 3").fetchall()
    assert [(r.id, r.amount) for r in updated] == [(3, decimal.Decimal("5.00"))]
    cur.execute("DROP TABLE app.customers")
    assert "(208)" in error_of(cur, "SELECT * FROM app.customers")
    assert "Cannot drop the table 'app.customers', because it does not exist or you do not have permission. (3701)" in error_of(
        cur, "DROP TABLE app.customers"
    )
    cur.execute("DROP TABLE IF EXISTS app.customers")


def test_more_types_having_and_schemas(admin: Any) -> None:
    cur = admin.cursor()
    cur.execute("CREATE SCHEMA sales")
    assert "(2714)" in error_of(cur, "CREATE SCHEMA sales")
    cur.execute("CREATE TABLE sales.visits (at_time TIME(3), at_zone DATETIMEOFFSET, n SMALLINT, t TINYINT, legacy DATETIME, r REAL)")
    cur.execute("INSERT INTO sales.visits VALUES ('13:14:15.123', '2024-01-02 03:04:05 +02:00', 7, 255, '2020-01-01 10:00:00', 0.5)")
    import struct

    def offset_value(raw: bytes) -> dt.datetime:  # pyodbc hands SQL_SS_TIMESTAMPOFFSET over as its C struct
        y, mo, d, h, mi, sec, frac, oh, om = struct.unpack("<6hI2h", raw)
        return dt.datetime(y, mo, d, h, mi, sec, frac // 1000, dt.timezone(dt.timedelta(hours=oh, minutes=om)))

    admin.add_output_converter(-155, offset_value)
    row = cur.execute("SELECT at_time, at_zone, n, t, legacy, r FROM sales.visits").fetchone()
    assert row.at_time == dt.time(13, 14, 15, 123000)
    assert row.at_zone == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert row.n == 7 and row.t == 255 and row.legacy == dt.datetime(2020, 1, 1, 10) and row.r == 0.5
    assert "(8115)" in error_of(cur, "INSERT INTO sales.visits (t) VALUES (256)")
    cur.execute("INSERT INTO sales.visits (n) VALUES (7), (8)")
    having = cur.execute("SELECT n, COUNT(*) AS c FROM sales.visits GROUP BY n HAVING COUNT(*) > 1").fetchall()
    assert [(r.n, r.c) for r in having] == [(7, 2)]
    assert "Cannot drop schema 'sales' because it is being referenced by object 'visits'. (3729)" in error_of(cur, "DROP SCHEMA sales")
    cur.execute("DROP TABLE sales.visits DROP SCHEMA sales")
    assert "sales" not in [r.name for r in cur.execute("SELECT name FROM sys.schemas").fetchall()]


def test_alter_and_truncate(admin: Any) -> None:
    cur = admin.cursor()
    cur.execute("CREATE TABLE dbo.evolving (id INT IDENTITY PRIMARY KEY, a NVARCHAR(10))")
    cur.execute("INSERT INTO dbo.evolving (a) VALUES ('x')")
    cur.execute("ALTER TABLE dbo.evolving ADD b INT NOT NULL DEFAULT 7, c DATE NULL")
    assert tuple(cur.execute("SELECT id, a, b, c FROM dbo.evolving").fetchone()) == (1, "x", 7, None)
    assert "(4901)" in error_of(cur, "ALTER TABLE dbo.evolving ADD d INT NOT NULL")
    assert "(2705)" in error_of(cur, "ALTER TABLE dbo.evolving ADD a INT")
    cur.execute("ALTER TABLE dbo.evolving DROP COLUMN c")
    assert "(207)" in error_of(cur, "SELECT c FROM dbo.evolving")
    assert "(5074)" in error_of(cur, "ALTER TABLE dbo.evolving DROP COLUMN id")
    cur.execute("TRUNCATE TABLE dbo.evolving")
    cur.execute("INSERT INTO dbo.evolving (a) VALUES ('y')")
    assert tuple(cur.execute("SELECT id, b FROM dbo.evolving").fetchone()) == (1, 7)  # TRUNCATE reseeds IDENTITY
    assert '"dbo.nope" because it does not exist or you do not have permissions. (4902)' in error_of(cur, "TRUNCATE TABLE dbo.nope")


# SQLAlchemy 2.1's column reflection query (mssql/base.py _columns_select), its parameters written as literals.
REFLECT_COLUMNS = (
    "SELECT sys.objects.name AS table_name, sys.schemas.name AS owner, sys.columns.name AS column_name, sys.types.n"
    "ame AS type_name, base_types.name AS base_type, sys.columns.is_nullable, sys.columns.max_length, sys.columns.["
    "precision], sys.columns.scale, sys.default_constraints.definition AS default_value, sys.columns.collation_name"
    ", sys.computed_columns.definition AS computed_definition, sys.computed_columns.is_persisted, sys.identity_colu"
    "mns.is_identity, CAST(sys.identity_columns.seed_value AS NUMERIC(38, 0)) AS seed_value, CAST(sys.identity_colu"
    "mns.increment_value AS NUMERIC(38, 0)) AS increment_value, CAST(sys.extended_properties.value AS NVARCHAR(max)"
    ") AS comment, sys.columns.column_id  FROM sys.columns JOIN sys.objects ON sys.columns.object_id = sys.objects."
    "object_id JOIN sys.schemas ON sys.objects.schema_id = sys.schemas.schema_id JOIN sys.types ON sys.columns.user"
    "_type_id = sys.types.user_type_id LEFT OUTER JOIN sys.types AS base_types ON sys.types.system_type_id = base_t"
    "ypes.system_type_id AND base_types.user_type_id = base_types.system_type_id LEFT OUTER JOIN sys.default_constr"
    "aints ON sys.default_constraints.object_id = sys.columns.default_object_id AND sys.default_constraints.parent_"
    "column_id = sys.columns.column_id LEFT OUTER JOIN sys.computed_columns ON sys.computed_columns.object_id = sys"
    ".columns.object_id AND sys.computed_columns.column_id = sys.columns.column_id LEFT OUTER JOIN sys.identity_col"
    "umns ON sys.identity_columns.object_id = sys.columns.object_id AND sys.identity_columns.column_id = sys.column"
    "s.column_id LEFT OUTER JOIN sys.extended_properties ON sys.extended_properties.class = 1 AND sys.extended_prop"
    "erties.name = 'MS_Description' AND sys.columns.object_id = sys.extended_properties.major_id AND sys.columns.co"
    "lumn_id = sys.extended_properties.minor_id  WHERE sys.schemas.name = 'app' AND sys.objects.name IN ('orders') "
    "ORDER BY sys.objects.name, sys.columns.column_id"
)


def test_reflection_catalog_views(admin: Any) -> None:
    cur = admin.cursor()
    cur.execute(
        "CREATE TABLE app.orders (id INT IDENTITY(5,1) PRIMARY KEY, item NVARCHAR(40) NOT NULL DEFAULT 'x', amt DECIMAL(10,2) DEFAULT 0, "
        "at DATETIME2 DEFAULT GETDATE(), notes NVARCHAR(max))"
    )
    rows = cur.execute(REFLECT_COLUMNS).fetchall()
    got = [
        (r.column_name, r.type_name, r.is_nullable, r.max_length, r.precision, r.scale, r.default_value, r.is_identity, r.seed_value)
        for r in rows
    ]
    assert got == [
        ("id", "int", False, 4, 10, 0, None, True, 5),
        ("item", "nvarchar", False, 80, 0, 0, "('x')", None, None),
        ("amt", "decimal", True, 9, 10, 2, "((0))", None, None),
        ("at", "datetime2", True, 8, 27, 7, "(getdate())", None, None),
        ("notes", "nvarchar", True, -1, 0, 0, None, None, None),
    ]
    assert {r.table_name for r in rows} == {"orders"} and {r.owner for r in rows} == {"app"}


def test_foreign_keys(admin: Any) -> None:
    cur = admin.cursor()
    cur.execute("CREATE TABLE app.customers (id INT PRIMARY KEY, name NVARCHAR(20))")
    cur.execute(
        "CREATE TABLE app.invoices (id INT IDENTITY PRIMARY KEY, customer_id INT NOT NULL, "
        "CONSTRAINT FK_invoices_customers FOREIGN KEY (customer_id) REFERENCES app.customers (id))"
    )
    cur.execute("INSERT INTO app.customers VALUES (1, 'ann')")
    cur.execute("INSERT INTO app.invoices (customer_id) VALUES (1)")
    text = error_of(cur, "INSERT INTO app.invoices (customer_id) VALUES (2)")
    assert (
        'The INSERT statement conflicted with the FOREIGN KEY constraint "FK_invoices_customers". '
        'The conflict occurred in database "appdb", table "app.customers", column \'id\'. (547)' in text
    )
    text = error_of(cur, "DELETE FROM app.customers WHERE id = 1")
    assert (
        'The DELETE statement conflicted with the REFERENCE constraint "FK_invoices_customers"' in text
        and "table \"app.invoices\", column 'customer_id'" in text
    )
    assert cur.execute("SELECT COUNT(*) FROM app.customers").fetchval() == 1  # the failed statement changed nothing
    assert "(3726)" in error_of(cur, "DROP TABLE app.customers")
    assert "(1767)" in error_of(cur, "CREATE TABLE app.x (c INT REFERENCES app.nowhere (id))")
    assert "(1776)" in error_of(cur, "CREATE TABLE app.y (c NVARCHAR(20) REFERENCES app.customers (name))")
    assert "(40517)" in error_of(cur, "CREATE TABLE app.z (c INT REFERENCES app.customers (id) NOT FOR REPLICATION)")


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


def test_concurrent_sessions_see_committed_data_and_wait_for_writers(sandbox: Sandbox, admin: Any) -> None:
    import threading
    import time

    cur = admin.cursor()
    cur.execute("CREATE TABLE dbo.shared (id INT PRIMARY KEY, v INT)")
    cur.execute("INSERT INTO dbo.shared VALUES (1, 0)")
    cur.execute("BEGIN TRAN UPDATE dbo.shared SET v = 1 WHERE id = 1 INSERT INTO dbo.shared VALUES (2, 0)")
    other = raw_connect(sandbox, admin_token())
    other.autocommit = True
    ocur = other.cursor()
    # Azure SQL Database reads committed versions (READ_COMMITTED_SNAPSHOT ON): no wait, no dirty row.
    assert [tuple(r) for r in ocur.execute("SELECT id, v FROM dbo.shared").fetchall()] == [(1, 0)]
    done: list[float] = []

    def write() -> None:
        ocur.execute("UPDATE dbo.shared SET v = 2 WHERE id = 1")
        done.append(time.monotonic())

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.3)
    assert not done  # the second writer waits for the first transaction's lock
    committed_at = time.monotonic()
    cur.execute("COMMIT")
    writer.join(timeout=10)
    assert done and done[0] >= committed_at
    assert [tuple(r) for r in cur.execute("SELECT id, v FROM dbo.shared ORDER BY id").fetchall()] == [(1, 2), (2, 0)]
    other.close()


def test_parameterised_statements_through_the_driver(admin: Any) -> None:
    """pyodbc's ``?`` parameters arrive as sp_prepexec/sp_executesql RPCs and are bound as values."""
    cur = admin.cursor()
    cur.execute(
        "CREATE TABLE app.people (id INT IDENTITY PRIMARY KEY, name NVARCHAR(50) NOT NULL, born DATE, score DECIMAL(9,3), tag UNIQUEIDENTIFIER)"
    )
    tag = uuid.uuid4()
    hostile = "Robert'); DROP TABLE app.people; --"
    cur.execute(
        "INSERT INTO app.people (name, born, score, tag) VALUES (?, ?, ?, ?)", hostile, dt.date(1990, 1, 2), decimal.Decimal("12.345"), tag
    )
    assert cur.rowcount == 1
    cur.executemany("INSERT INTO app.people (name) VALUES (?)", [("zoë 😀",), ("ann",)])
    row = cur.execute(
        "SELECT id, name, born, score, tag FROM app.people WHERE name = ? AND born > ?", hostile, dt.date(1980, 1, 1)
    ).fetchone()
    assert (row.id, row.name, row.born, row.score, str(row.tag).lower()) == (
        1,
        hostile,
        dt.date(1990, 1, 2),
        decimal.Decimal("12.345"),
        str(tag),
    )
    assert cur.execute("SELECT name FROM app.people WHERE name = ?", "ANN").fetchval() == "ann"  # case-insensitive, as the collation
    inserted = cur.execute("INSERT INTO app.people (name) OUTPUT INSERTED.id VALUES (?)", "out").fetchval()
    assert inserted == 4
    cur.execute("UPDATE app.people SET score = ? WHERE id = ?", decimal.Decimal("-1.5"), inserted)
    assert cur.rowcount == 1
    assert cur.execute("SELECT COUNT(*) FROM app.people WHERE score < ?", 0).fetchval() == 1
    cur.execute("DELETE FROM app.people WHERE id = ?", inserted)
    assert cur.rowcount == 1
    import pyodbc

    with pytest.raises(pyodbc.Error, match=r"Cannot insert the value NULL into column 'name', table 'appdb.app.people'.*\(515\)"):
        cur.execute("INSERT INTO app.people (name) VALUES (?)", None)

    with pytest.raises(pyodbc.Error, match=r"\(2628\)"):
        cur.execute("INSERT INTO app.people (name) VALUES (?)", "x" * 51)

"""SqlEndpoint's SQL side without a socket: parameters bound as values, DONEINPROC, batch splitting, fuzzing."""

# ruff: noqa: S608 - these tests build T-SQL text on purpose, to feed the sandbox's parser

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import functools
import itertools
import struct
import uuid
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from azsqlctl.sandbox.sql.engine.batch import split
from azsqlctl.sandbox.sql.engine.session import SqlSession
from azsqlctl.sandbox.sql.engine.storage import Storage
from azsqlctl.sandbox.sql.session_context import SessionContext
from azsqlctl.sandbox.sql.sqltypes import MAX, Param, SqlType, TypeSpec
from azsqlctl.sandbox.sql.tds import results as tds_results
from azsqlctl.sandbox.sql.tds import tokens as tk
from azsqlctl.sandbox.store import StateStore
from tests.property_budget import examples


@contextlib.contextmanager
def _session(ids: Iterator[int]) -> Iterator[SqlSession]:
    """A session as dbo in appdb whose transaction ids are ``ids``."""
    store = StateStore(None)  # no state file: user tables live in memory
    storage = Storage(None, store)  # the security state seeds from the store's default state
    ctx = SessionContext(61, "127.0.0.1", "appdb", principal="sandbox-operator@tenant")
    ctx.extra["user"] = "dbo"
    s = SqlSession(store, storage, "sandbox-sql", lambda: next(ids).to_bytes(8, "little"), ctx)
    try:
        yield s
    finally:
        s.close()
        storage.close()


@pytest.fixture
def session() -> Iterator[SqlSession]:
    with _session(itertools.count(1)) as s:  # unbounded: a property test opens a transaction per example
        yield s


def test_a_transaction_whose_id_cannot_be_had_has_not_begun() -> None:
    with _session(iter([7])) as s:  # one id, then none: the second BEGIN's id source fails
        assert run(s, "BEGIN TRAN")[1] and s.trancount == 1
        assert run(s, "COMMIT")[1] and s.trancount == 0
        _out, ok = run(s, "BEGIN TRAN")
        assert not ok and s.trancount == 0 and s.ctx.transaction is None


def run(session: SqlSession, sql: str, params: Sequence[Param] = (), done_token: int = tk.DONE) -> tuple[bytes, bool]:
    """The session's results as the wire carries them (sql/tds encodes what the engine returns)."""
    found, ok = session.run(sql, params)
    return tds_results.statements(found, session.server, done_token), ok


def last_done(out: bytes) -> tuple[int, int, int, int]:
    token, status, curcmd, rowcount = struct.unpack("<BHHQ", out[-13:])
    return token, status, curcmd, rowcount


def p(name: str, sql_type: SqlType, value: object, length: int | None = None) -> Param:
    return Param(name, TypeSpec(sql_type, length), value)  # type: ignore[arg-type]


def test_parameters_are_bound_as_values_never_pasted(session: SqlSession) -> None:
    out, ok = run(
        session,
        "CREATE TABLE dbo.t (id INT IDENTITY PRIMARY KEY, name NVARCHAR(max), amount DECIMAL(10,2), at DATETIME2, ref UNIQUEIDENTIFIER, data VARBINARY(max), flag BIT)",
    )
    assert ok, out
    hostile = "x'); DROP TABLE dbo.t; --"
    ref = uuid.uuid4()
    params = [
        p("@P1", SqlType.NVARCHAR, hostile, MAX),
        p("@P2", SqlType.DECIMAL, decimal.Decimal("12.34")),
        p("@P3", SqlType.DATETIME2, dt.datetime(2024, 5, 6, 7, 8, 9, 123456)),
        p("@P4", SqlType.UNIQUEIDENTIFIER, ref),
        p("@P5", SqlType.VARBINARY, b"\x00\xff" * 600_000, MAX),
        p("@P6", SqlType.BIT, True),
    ]
    out, ok = run(
        session,
        "INSERT INTO dbo.t (name, amount, at, ref, data, flag) VALUES (@P1, @P2, @P3, @p4, @P5, @P6)",
        params,
        done_token=tk.DONEINPROC,
    )
    assert ok
    assert last_done(out) == (tk.DONEINPROC, tk.DONE_COUNT, 0xC3, 1)
    row = session.conn.execute('SELECT name, amount, at, ref, length(data), flag FROM "dbo.t"').fetchone()
    assert row == (hostile, 12.34, "2024-05-06 07:08:09.123456", str(ref).upper(), 1_200_000, 1)

    out, ok = run(
        session,
        "SELECT id FROM dbo.t WHERE name = @name AND flag = @on",
        [p("@name", SqlType.NVARCHAR, hostile, 100), p("@on", SqlType.BIT, True)],
        done_token=tk.DONEINPROC,
    )
    assert ok and last_done(out) == (tk.DONEINPROC, tk.DONE_COUNT, 0xC1, 1)
    out, ok = run(
        session, "SELECT id FROM dbo.t WHERE name = @name", [p("@name", SqlType.NVARCHAR, "other", 100)], done_token=tk.DONEINPROC
    )
    assert ok and last_done(out)[3] == 0
    failed, fine = run(session, "SELECT id FROM dbo.t WHERE name = @missing", [], done_token=tk.DONEINPROC)
    out = failed
    assert not fine and b"M\x00u\x00s\x00t\x00 \x00d\x00e\x00c\x00l\x00a\x00r\x00e" in out
    assert last_done(out)[0] == tk.DONEINPROC and last_done(out)[1] & tk.DONE_ERROR


def test_rollback_and_reset_discard_open_work(session: SqlSession) -> None:
    run(session, "CREATE TABLE dbo.r (x INT)")
    run(session, "BEGIN TRAN INSERT INTO dbo.r VALUES (1)")
    assert (session.trancount, session.ctx.transaction is not None) == (1, True)
    session.reset()  # RESETCONNECTION: a pooled connection's next user must not inherit this
    assert session.trancount == 0 and session.ctx.transaction is None
    assert session.conn.execute('SELECT COUNT(*) FROM "dbo.r"').fetchone() == (0,)
    run(session, "SET NOCOUNT ON SET XACT_ABORT ON")
    assert (session.nocount, session.xact_abort) == (True, True)
    session.reset()
    assert (session.nocount, session.xact_abort) == (False, False)


@pytest.mark.parametrize(
    ("batch", "statements"),
    [
        ("SET NOCOUNT ON\nSELECT SUSER_SNAME()", ["SET NOCOUNT ON", "SELECT SUSER_SNAME()"]),
        ("SET XACT_ABORT ON SELECT 1/0", ["SET XACT_ABORT ON", "SELECT 1/0"]),
        ("SELECT 1 UNION ALL SELECT 2 SELECT 3", ["SELECT 1 UNION ALL SELECT 2", "SELECT 3"]),
        ("INSERT INTO t (a) SELECT x FROM (SELECT 1 AS x) q SELECT 2", ["INSERT INTO t (a) SELECT x FROM (SELECT 1 AS x) q", "SELECT 2"]),
        ("UPDATE t SET a = 1 WHERE b = 2 SET NOCOUNT OFF", ["UPDATE t SET a = 1 WHERE b = 2", "SET NOCOUNT OFF"]),
        ("GRANT SELECT, INSERT ON SCHEMA::app TO r CREATE ROLE x", ["GRANT SELECT, INSERT ON SCHEMA::app TO r", "CREATE ROLE x"]),
        ("DROP TABLE IF EXISTS a.b CREATE TABLE a.b (id int)", ["DROP TABLE IF EXISTS a.b", "CREATE TABLE a.b (id int)"]),
        ("WITH c AS (SELECT 1 AS x) SELECT * FROM c SELECT 2", ["WITH c AS (SELECT 1 AS x) SELECT * FROM c", "SELECT 2"]),
        ("SELECT 'SELECT 1' AS [SELECT] SELECT 2 -- SELECT 3", ["SELECT 'SELECT 1' AS [SELECT]", "SELECT 2"]),
        ("ALTER ROLE db_owner DROP MEMBER x", ["ALTER ROLE db_owner DROP MEMBER x"]),
        ("SELECT * FROM t WITH (NOLOCK) WHERE a = 1", ["SELECT * FROM t WITH (NOLOCK) WHERE a = 1"]),
        ("IF @@TRANCOUNT = 0 BEGIN TRANSACTION", ["IF @@TRANCOUNT = 0 BEGIN TRANSACTION"]),
    ],
)
def test_batches_split_where_sql_server_splits_them(batch: str, statements: list[str]) -> None:
    assert [s.text for s in split(batch)] == statements


_FRAGMENTS = [
    "SELECT", "INSERT", "INTO", "UPDATE", "DELETE", "FROM", "WHERE", "SET", "VALUES", "CREATE", "TABLE", "DROP", "BEGIN", "TRAN",
    "COMMIT", "ROLLBACK", "IF", "TOP", "1", "0", "'a''b'", "N'x'", "@p1", "@@SPID", "(", ")", ",", ";", "*", "/", "+", "=", "dbo.t",
    "t", "[x y]", "id", "name", "AS", "ORDER", "BY", "GROUP", "COUNT(*)", "NULL", "CAST(", "AS INT)", "OUTPUT", "INSERTED.*", "--",
    "\n", "GRANT", "SELECT ON SCHEMA::app TO", "DENY", "sys.schemas", "OFFSET", "ROWS", "FETCH", "NEXT", "ONLY", "JOIN", "ON",
    "DECLARE @v INT", "SET @v =", "@v", "PRINT", "ALTER TABLE t ADD", "TRUNCATE TABLE", "REFERENCES", "FOREIGN KEY",
]  # fmt: skip


@given(hst.lists(hst.sampled_from(_FRAGMENTS), max_size=14))
@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_batch_is_answered_never_crashed(session: SqlSession, words: list[str]) -> None:
    run(session, "CREATE TABLE dbo.t (id INT PRIMARY KEY, name NVARCHAR(20))")
    out, _ok = run(session, " ".join(words), [p("@p1", SqlType.INT, 1)])
    token, status, _cmd, _count = last_done(out)
    assert token == tk.DONE and not status & tk.DONE_MORE  # the stream always ends in a final DONE
    for sandbox_failure in ("could not execute", "could not translate"):  # no unforeseen failure, no SQLite the translator got wrong
        assert sandbox_failure.encode("utf-16-le") not in out, " ".join(words)
    session.reset()


def test_a_statement_after_a_comment_ended_by_a_carriage_return_runs(session: SqlSession) -> None:
    """A line comment ends at a lone \\r too: the second CREATE ROLE had text but no tokens, and the session failed."""
    pieces, ok = session.run("CREATE ROLE r1 -- first\rCREATE ROLE r2 /* a /* nested */ comment */ CREATE ROLE r3")
    assert ok and len(pieces) == 3, [p.error for p in pieces]
    pieces, ok = session.run("SELECT name FROM sys.database_principals WHERE type = 'R' AND name LIKE 'r_' ORDER BY name")
    result = pieces[0].result
    assert ok and result is not None and [row[0] for row in result.rows] == ["r1", "r2", "r3"]


def test_errors_report_the_statement_line(session: SqlSession) -> None:
    out, ok = run(session, "SELECT 1\n\nSELECT 1/0")
    assert not ok
    at = out.index(bytes([tk.ERROR]))
    body = out[at + 3 :]
    number, _state, _severity = struct.unpack_from("<iBB", body, 0)
    (length,) = struct.unpack_from("<H", body, 6)
    rest = body[8 + 2 * length :]
    rest = rest[1 + 2 * rest[0] :]  # server name
    rest = rest[1 + 2 * rest[0] :]  # procedure name
    assert number == 8134 and struct.unpack_from("<i", rest, 0)[0] == 3


def test_declared_variables_are_bound_values(session: SqlSession) -> None:
    run(session, "CREATE TABLE dbo.v (id INT PRIMARY KEY, name NVARCHAR(20))")
    out, ok = run(
        session,
        "DECLARE @n INT = 2, @name NVARCHAR(20) = N'it''s'\n"
        "SET @n = @n + 1\n"
        "INSERT INTO dbo.v VALUES (@n, @name)\n"
        "DECLARE @seen INT\n"
        "SELECT @seen = COUNT(*) FROM dbo.v WHERE name = @name\n"
        "INSERT INTO dbo.v VALUES (@seen * 10, 'count')",
    )
    assert ok, out
    assert session.conn.execute('SELECT id, name FROM "dbo.v" ORDER BY id').fetchall() == [(3, "it's"), (10, "count")]
    out, ok = run(session, "SET @undeclared = 1")
    assert not ok and "Must declare".encode("utf-16-le") in out
    out, ok = run(session, "DECLARE @a INT DECLARE @a INT")
    assert not ok and b"\x86\x00\x00\x00" in out  # 134: declared twice in one batch


# --- grammar fuzzing: well-formed queries and DML over a populated table ------------------------------

_ATOMS = [
    "id",
    "name",
    "amt",
    "at",
    "ok",
    "b",
    "o.id",
    "[name]",
    "1",
    "0",
    "2.5",
    "'x'",
    "N'y'",
    "NULL",
    "@p1",
    "@@SPID",
    "GETDATE()",
    "SUSER_SNAME()",
]
_TYPES = ["INT", "NVARCHAR(10)", "VARCHAR", "DECIMAL(8,3)", "FLOAT", "BIT", "DATE", "DATETIME2", "UNIQUEIDENTIFIER", "VARBINARY(4)"]


@functools.cache  # one strategy per depth: built anew in each draw, its building and validating cost a third of the test
def _expr(depth: int = 2) -> hst.SearchStrategy[str]:
    atoms = hst.sampled_from(_ATOMS)
    if depth == 0:
        return atoms
    sub = _expr(depth - 1)
    return hst.one_of(
        atoms,
        hst.tuples(sub, hst.sampled_from(["+", "-", "*", "/", "%"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        hst.tuples(sub, sub).map(lambda t: f"ISNULL({t[0]}, {t[1]})"),
        hst.tuples(sub, hst.sampled_from(_TYPES)).map(lambda t: f"CAST({t[0]} AS {t[1]})"),
        hst.tuples(hst.sampled_from(["LEN", "UPPER", "ABS", "DATALENGTH"]), sub).map(lambda t: f"{t[0]}({t[1]})"),
        hst.tuples(sub, sub).map(lambda t: f"CASE WHEN {t[0]} > {t[1]} THEN {t[0]} ELSE {t[1]} END"),
    )


_KINDS = hst.sampled_from(["select", "aggregate", "insert", "update", "delete"])
_PROJECTIONS = hst.lists(_expr(), min_size=1, max_size=3)
_QUANTIFIERS = hst.sampled_from(["", "TOP 2 ", "DISTINCT "])
_AGGREGATES = hst.sampled_from(["COUNT(*)", "SUM(amt)", "MAX(at)", "AVG(id)"])
_COLUMNS = hst.sampled_from(["name", "amt", "at", "ok", "b"])


@hst.composite
def _statement(draw: hst.DrawFn) -> str:
    # The strategies are module constants: built inside the composite, each draw built and validated them anew.
    kind = draw(_KINDS)
    e = _expr(1)
    if kind == "select":
        projections = ", ".join(f"{x} AS c{i}" for i, x in enumerate(draw(_PROJECTIONS)))
        return f"SELECT {draw(_QUANTIFIERS)}{projections} FROM app.o AS o WHERE {draw(e)} <= {draw(e)} ORDER BY 1"
    if kind == "aggregate":
        return f"SELECT name, {draw(_AGGREGATES)} FROM app.o GROUP BY name"
    column = draw(_COLUMNS)
    if kind == "insert":
        return f"INSERT INTO app.o ({column}) OUTPUT INSERTED.* VALUES ({draw(e)})"
    if kind == "update":
        return f"UPDATE app.o SET {column} = {draw(e)} WHERE {draw(e)} = {draw(e)}"
    return f"DELETE FROM app.o WHERE {draw(e)} > {draw(e)}"


_ROWS = 'SELECT id, name, amt, at, ok, b FROM "app.o" ORDER BY id'  # read from SQLite directly: no leak between examples
_TWO_ROWS = [(1, "a", 1.5, "2024-01-01 00:00:00", 1, b"\x01"), (2, "Zoë", None, None, 0, None)]


@pytest.fixture
def orders(session: SqlSession) -> SqlSession:
    """The session with app.o and its two rows, once per test: each example works inside a transaction it rolls back.

    Per test, not per example: inserting the rows in every example's transaction cost a fifth of the test, and as
    IDENTITY values are not rolled back (as in SQL Server) each example met other ids (1, 2 ... 599, 600), so an
    example's outcome depended on how many ran before it."""
    out, ok = run(
        session,
        "CREATE TABLE app.o (id INT IDENTITY PRIMARY KEY, name NVARCHAR(20), amt DECIMAL(10,2), at DATETIME2, ok BIT, b VARBINARY(10)) "
        "INSERT INTO app.o (name, amt, at, ok, b) VALUES ('a', 1.5, '2024-01-01', 1, 0x01), (N'Zoë', NULL, NULL, 0, NULL)",
    )
    assert ok and session.conn.execute(_ROWS).fetchall() == _TWO_ROWS, out
    return session


@given(_statement())
@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_generated_statements_translate(orders: SqlSession, statement: str) -> None:
    """Every generated statement either runs or gets SQL Server's own error, never a translation failure."""
    out, ok = run(orders, "BEGIN TRAN")
    assert ok and orders.trancount == 1, out
    out, _ok = run(orders, statement, [p("@p1", SqlType.NVARCHAR, "7", 10)])
    run(orders, "ROLLBACK")
    assert orders.trancount == 0 and orders.conn.execute(_ROWS).fetchall() == _TWO_ROWS  # the next example meets the same rows
    for sandbox_failure in ("could not execute", "could not translate", "of these values"):
        assert sandbox_failure.encode("utf-16-le") not in out, statement


def test_transaction_names_with_at_signs_stay_in_their_statement(session: SqlSession) -> None:
    """sqlglot gives each @ of @@SPID its own token: the name is still one, so no empty statement follows
    (hypothesis found `COMMIT @@SPID` crashing the session on an empty statement)."""
    assert [st.text for st in split("BEGIN TRAN @@SPID SELECT 1")] == ["BEGIN TRAN @@SPID", "SELECT 1"]
    assert [st.text for st in split("COMMIT @@SPID")] == ["COMMIT @@SPID"]
    out, ok = run(session, "COMMIT @@SPID")
    assert not ok and last_done(out)[0] == tk.DONE  # an error, not a dropped connection
    assert struct.unpack_from("<i", out, out.index(bytes([tk.ERROR])) + 3)[0] == 3902  # no BEGIN TRANSACTION to commit

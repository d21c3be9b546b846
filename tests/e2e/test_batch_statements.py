"""No statement is ever dropped: a batch has the effects and row counts of its statements run one by one.

Through the real ODBC Driver 18 (pyodbc): hypothesis builds batches of mixed statements (SET options,
INSERT/UPDATE/DELETE, SELECT, transactions committed or rolled back, savepoints) joined by ``;``, a space, a newline or CRLF -- T-SQL needs no
separator -- runs each batch once as one batch and once statement by statement on fresh tables, and
compares what the client sees (result sets and row counts, in order) and what the tables hold afterwards.
"""

# ruff: noqa: S608 - the batches are built from T-SQL text on purpose, to feed the sandbox's splitter

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azsqlctl.sandbox.serve import Sandbox
from tests.conftest import raw_connect
from tests.e2e.test_sql_frontend import admin_token
from tests.property_budget import examples

_SETUP = (
    "DROP TABLE IF EXISTS dbo.t1; DROP TABLE IF EXISTS dbo.t2; "
    "CREATE TABLE dbo.t1 (id int IDENTITY(1,1) PRIMARY KEY, v int NOT NULL); "
    "CREATE TABLE dbo.t2 (id int IDENTITY(1,1) PRIMARY KEY, v nvarchar(20) NULL)"
)
_SETS = st.sampled_from(
    [
        "SET NOCOUNT ON",
        "SET NOCOUNT OFF",
        "SET XACT_ABORT ON",
        "SET XACT_ABORT OFF",
        "SET ANSI_NULLS ON",
        "SET QUOTED_IDENTIFIER, ANSI_NULLS ON",
        "SET LOCK_TIMEOUT 5000",
        "SET LOCK_TIMEOUT -1",
        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET IMPLICIT_TRANSACTIONS OFF",
    ]
)
_N = st.integers(min_value=0, max_value=9)
_WORD = st.sampled_from(["a", "it''s", "SET NOCOUNT ON", "x;y", "INSERT", "--", "END"])
_DML = st.one_of(
    _N.map(lambda n: f"INSERT INTO t1 (v) VALUES ({n})"),
    _N.map(lambda n: f"INSERT INTO dbo.t1 (v) VALUES ({n}), ({n + 1})"),
    _WORD.map(lambda w: f"INSERT INTO t2 (v) VALUES (N'{w}')"),
    st.just("INSERT INTO t1 (v) SELECT v FROM t1 WHERE v > 7"),
    _N.map(lambda n: f"UPDATE t1 SET v = v + 1 WHERE v > {n}"),
    _N.map(lambda n: f"UPDATE t2 SET v = CASE WHEN id > {n} THEN N'big' ELSE v END"),
    _N.map(lambda n: f"DELETE FROM t1 WHERE v = {n}"),
    _N.map(lambda n: f"DELETE t2 WHERE id = {n}"),
)
_SELECTS = st.sampled_from(
    [
        "SELECT COUNT(*) AS n FROM t1",
        "SELECT id, v FROM t2 ORDER BY id",
        "SELECT @@TRANCOUNT AS open_transactions",
        "SELECT v FROM t1 WHERE v IN (SELECT v FROM t1 WHERE v > 3) ORDER BY v",
        "SELECT 1 AS a UNION ALL SELECT 2 ORDER BY a",
        "SELECT CASE WHEN COUNT(*) > 2 THEN 'many' ELSE 'few' END AS c FROM t2",
    ]
)
_SIMPLE = st.one_of(_SETS, _DML, _DML, _SELECTS)
_TRANSACTION = st.builds(
    lambda first, second, save, end: ["BEGIN TRAN", *first, *(["SAVE TRAN s1", *second, "ROLLBACK TRAN s1"] if save else second), end],
    st.lists(_DML, min_size=1, max_size=3),
    st.lists(_DML, max_size=2),
    st.booleans(),
    st.sampled_from(["COMMIT TRAN", "COMMIT", "ROLLBACK TRAN", "ROLLBACK"]),
)
_STATEMENTS = st.lists(st.one_of(_SIMPLE.map(lambda s: [s]), _TRANSACTION), min_size=1, max_size=8).map(
    lambda groups: [s for g in groups for s in g]
)
_JOINERS = st.sampled_from(["; ", " ", "\n", "\r\n", ";\r\n", "  \t"])


@pytest.fixture
def admin(sandbox: Sandbox, client_env: dict[str, str]) -> Iterator[Any]:
    cnxn = raw_connect(sandbox, admin_token())
    cnxn.autocommit = True
    yield cnxn
    cnxn.close()


def _observe(cur: Any) -> list[Any]:
    """Every result the driver reports for the executed batch: rows of a result set, or a row count."""
    seen: list[Any] = []
    while True:
        if cur.description is not None:
            seen.append([tuple(r) for r in cur.fetchall()])
        elif cur.rowcount >= 0:
            seen.append(cur.rowcount)
        if not cur.nextset():
            return seen


def _tables(cur: Any) -> list[Any]:
    t1 = [tuple(r) for r in cur.execute("SELECT id, v FROM t1 ORDER BY id").fetchall()]
    t2 = [tuple(r) for r in cur.execute("SELECT id, v FROM t2 ORDER BY id").fetchall()]
    return [t1, t2]


def _fresh(cur: Any) -> None:
    cur.execute("SET NOCOUNT OFF; SET XACT_ABORT OFF; SET LOCK_TIMEOUT -1")
    cur.execute(_SETUP)
    while cur.nextset():
        pass


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(statements=_STATEMENTS, joiners=st.lists(_JOINERS, min_size=8, max_size=8))
def test_a_batch_does_what_its_statements_do_one_by_one(admin: Any, statements: list[str], joiners: list[str]) -> None:
    cur = admin.cursor()
    batch = statements[0] + "".join(joiners[k % len(joiners)] + s for k, s in enumerate(statements[1:]))

    _fresh(cur)
    cur.execute(batch)
    together = _observe(cur)
    after_batch = _tables(cur)

    _fresh(cur)
    one_by_one: list[Any] = []
    for statement in statements:
        cur.execute(statement)
        one_by_one.extend(_observe(cur))
    after_each = _tables(cur)

    assert together == one_by_one, batch
    assert after_batch == after_each, batch


def test_the_orm_batches_that_were_dropped(admin: Any) -> None:
    """mssql-django's create() and a migration's SET XACT_ABORT + DELETE: each statement runs, with its own count."""
    cur = admin.cursor()
    _fresh(cur)
    cur.execute("SET NOCOUNT ON INSERT INTO t1 (v) VALUES (?); SELECT CAST(SCOPE_IDENTITY() AS bigint)", 41)
    assert _observe(cur) == [[(1,)]]
    cur.execute("SET NOCOUNT OFF INSERT INTO t1 (v) VALUES (42)\r\nINSERT INTO t1 (v) VALUES (43)")
    assert _observe(cur) == [1, 1]
    cur.execute("SET XACT_ABORT ON\nDELETE FROM t1 WHERE v = 42")
    assert _observe(cur) == [1]
    assert _tables(cur)[0] == [(1, 41), (3, 43)]

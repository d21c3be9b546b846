"""Locks as Azure SQL shows them to a client, through the real ODBC driver: table locks held to the transaction's
end, LOCK_TIMEOUT and 1222, deadlock victims (1205), committed reads while a writer's transaction is open, rollback
of statements that already reached the file, and sp_getapplock / sp_releaseapplock's return codes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyodbc
import pytest

from azsqlctl.sandbox.serve import Sandbox
from tests.conftest import raw_connect
from tests.e2e.test_sql_frontend import admin_token, error_of

GETAPPLOCK = "DECLARE @rc int; EXEC @rc = sp_getapplock @Resource = ?, @LockMode = ?, @LockOwner = ?, @LockTimeout = ?; SELECT @rc"


@pytest.fixture
def two(sandbox: Sandbox, client_env: dict[str, str]) -> Iterator[tuple[Any, Any]]:
    """Two sessions as the Entra admin, autocommit on (transactions are explicit), and two tables."""
    a, b = raw_connect(sandbox, admin_token()), raw_connect(sandbox, admin_token())
    a.autocommit = b.autocommit = True
    a.cursor().execute("CREATE TABLE dbo.t1 (id int PRIMARY KEY, v int); CREATE TABLE dbo.t2 (id int PRIMARY KEY, v int)")
    a.cursor().execute("INSERT INTO t1 VALUES (1, 10), (2, 20); INSERT INTO t2 VALUES (1, 10)")
    yield a, b
    for c in (a, b):
        with contextlib.suppress(pyodbc.Error):  # a test may have closed one already
            c.close()


def rows(cur: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in cur.execute(sql).fetchall()]


def test_writers_of_different_tables_do_not_wait(two: tuple[Any, Any]) -> None:
    a, b = (c.cursor() for c in two)
    a.execute("BEGIN TRAN; INSERT INTO t1 VALUES (3, 30)")
    b.execute("SET LOCK_TIMEOUT 0")  # any wait would be 1222 at once
    b.execute("INSERT INTO t2 VALUES (2, 20)")
    b.execute("BEGIN TRAN; UPDATE t2 SET v = v + 1; COMMIT")
    a.execute("COMMIT")
    assert rows(b, "SELECT id, v FROM t2 ORDER BY id") == [(1, 11), (2, 21)]


def test_a_waiter_honours_lock_timeout_and_keeps_its_transaction(two: tuple[Any, Any]) -> None:
    a, b = (c.cursor() for c in two)
    a.execute("BEGIN TRAN; UPDATE t1 SET v = 11 WHERE id = 1")
    b.execute("SET LOCK_TIMEOUT 200; BEGIN TRAN; INSERT INTO t2 VALUES (5, 50)")
    assert b.execute("SELECT @@LOCK_TIMEOUT").fetchval() == 200
    assert b.execute("SELECT lock_timeout FROM sys.dm_exec_sessions WHERE session_id = @@SPID").fetchval() == 200
    assert "[SQL Server]Lock request time out period exceeded. (1222)" in error_of(b, "UPDATE t1 SET v = 99")
    assert b.execute("SELECT @@TRANCOUNT").fetchval() == 1  # 1222 ends the statement, not the transaction
    b.execute("COMMIT")
    a.execute("COMMIT")
    assert rows(a, "SELECT id FROM t2 ORDER BY id") == [(1,), (5,)]
    assert rows(a, "SELECT v FROM t1 ORDER BY id") == [(11,), (20,)]


def test_readers_see_committed_rows_and_nolock_sees_the_rest(two: tuple[Any, Any]) -> None:
    a, b = (c.cursor() for c in two)
    a.execute("BEGIN TRAN; UPDATE t1 SET v = 0 WHERE id = 1; DELETE FROM t1 WHERE id = 2; INSERT INTO t1 VALUES (9, 90)")
    b.execute("SET LOCK_TIMEOUT 0")
    assert rows(b, "SELECT id, v FROM t1 ORDER BY id") == [(1, 10), (2, 20)]  # no wait, no uncommitted row
    assert rows(b, "SELECT id, v FROM t1 WITH (NOLOCK) ORDER BY id") == [(1, 0), (9, 90)]
    assert rows(a, "SELECT id, v FROM t1 ORDER BY id") == [(1, 0), (9, 90)]  # the writer sees its own changes
    a.execute("COMMIT")
    assert rows(b, "SELECT id, v FROM t1 ORDER BY id") == [(1, 0), (9, 90)]


def test_rollback_and_savepoints_undo_what_reached_the_file(two: tuple[Any, Any]) -> None:
    a, b = (c.cursor() for c in two)
    a.execute(
        "BEGIN TRAN; UPDATE t1 SET v = v * 2; INSERT INTO t2 VALUES (7, 70); SAVE TRAN half; DELETE FROM t1; INSERT INTO t1 VALUES (8, 80)"
    )
    a.execute("ROLLBACK TRAN half")
    assert rows(a, "SELECT id, v FROM t1 ORDER BY id") == [(1, 20), (2, 40)]
    a.execute("UPDATE t1 SET v = -1 WHERE id = 2; ROLLBACK")
    assert rows(b, "SELECT id, v FROM t1 ORDER BY id") == [(1, 10), (2, 20)]
    assert rows(b, "SELECT id FROM t2 ORDER BY id") == [(1,)]
    a.execute("BEGIN TRAN; INSERT INTO t2 VALUES (3, 30)")
    two[0].close()  # a session that ends with its transaction open is rolled back (once the server sees it go)
    assert rows(b, "SELECT id FROM t2 ORDER BY id") == [(1,)]
    for _ in range(100):
        if rows(b, "SELECT id FROM t2 WITH (NOLOCK) ORDER BY id") == [(1,)]:
            break
        time.sleep(0.05)
    assert rows(b, "SELECT id FROM t2 WITH (NOLOCK) ORDER BY id") == [(1,)]


def test_a_deadlock_ends_one_victim_with_1205(two: tuple[Any, Any]) -> None:
    a, b = (c.cursor() for c in two)
    a.execute("BEGIN TRAN; UPDATE t1 SET v = 1")
    b.execute("BEGIN TRAN; UPDATE t2 SET v = 2")
    spid = b.execute("SELECT @@SPID").fetchval()
    done: list[int] = []
    waiter = threading.Thread(target=lambda: done.append(a.execute("UPDATE t2 SET v = 1").rowcount))
    waiter.start()
    for _ in range(100):  # until a waits for b's lock
        waiter.join(0.02)
    assert not done
    message = error_of(b, "UPDATE t1 SET v = 2")
    assert (
        f"[SQL Server]Transaction (Process ID {spid}) was deadlocked on lock resources "
        "with another process and has been chosen as the deadlock victim. Rerun the transaction. (1205)"
    ) in message
    waiter.join(10)
    assert done == [1]
    assert b.execute("SELECT @@TRANCOUNT").fetchval() == 0  # the victim's transaction was rolled back
    a.execute("COMMIT")
    assert rows(b, "SELECT v FROM t1 UNION ALL SELECT v FROM t2") == [(1,), (1,), (1,)]


def test_application_locks(two: tuple[Any, Any]) -> None:
    a, b = (c.cursor() for c in two)
    assert a.execute(GETAPPLOCK, "deploy", "Exclusive", "Transaction", -1).fetchval() == -999  # needs a transaction
    a.execute("BEGIN TRAN")
    assert a.execute(GETAPPLOCK, "deploy", "Exclusive", "Transaction", -1).fetchval() == 0
    b.execute("BEGIN TRAN")
    assert b.execute(GETAPPLOCK, "deploy", "Shared", "Transaction", 100).fetchval() == -1
    assert b.execute(GETAPPLOCK, "Deploy", "Exclusive", "Transaction", 0).fetchval() == 0  # names compare binary
    assert b.execute(GETAPPLOCK, "deploy", "Sideways", "Transaction", 0).fetchval() == -999
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(b.execute(GETAPPLOCK, "deploy", "Exclusive", "Transaction", -1).fetchval()))
    waiter.start()
    try:
        waiter.join(0.3)
        assert not got
        a.execute("COMMIT")  # a transaction's application locks end with it
        waiter.join(10)
        assert got == [1]  # granted after waiting
    finally:
        if waiter.is_alive():  # the fixture must not close b under its running statement: the driver takes the worker down
            with contextlib.suppress(pyodbc.Error):
                a.execute("IF @@TRANCOUNT > 0 ROLLBACK")
            waiter.join(30)
    b.execute("COMMIT")
    assert a.execute(GETAPPLOCK, "s", "Exclusive", "Session", 0).fetchval() == 0
    assert b.execute(GETAPPLOCK, "s", "Exclusive", "Session", 0).fetchval() == -1
    a.execute("EXEC sp_releaseapplock @Resource = N's', @LockOwner = 'Session'")
    assert b.execute(GETAPPLOCK, "s", "Exclusive", "Session", 0).fetchval() == 0
    assert "is not currently held. (1223)" in error_of(a, "EXEC sp_releaseapplock N's', 'Session'")


def test_inserters_of_one_table_do_not_wait_and_each_undoes_only_its_rows(two: tuple[Any, Any]) -> None:
    a, b = (c.cursor() for c in two)
    a.execute("BEGIN TRAN; INSERT INTO t1 VALUES (3, 30)")
    b.execute("SET LOCK_TIMEOUT 0; BEGIN TRAN; INSERT INTO t1 VALUES (4, 40)")
    assert rows(b, "SELECT id FROM t1 ORDER BY id") == [(1,), (2,), (4,)]  # its own row, not a's
    assert "(1222)" in error_of(b, "UPDATE t1 SET v = 0")  # an UPDATE waits for the inserters (lock timeout 0)
    a.execute("ROLLBACK")
    b.execute("COMMIT")
    assert rows(a, "SELECT id, v FROM t1 ORDER BY id") == [(1, 10), (2, 20), (4, 40)]


def test_a_sandbox_stopped_mid_transaction_is_rolled_back_when_it_starts_again(
    sandbox: Sandbox, two: tuple[Any, Any], tmp_path: Path, material_dir: Path
) -> None:
    """Its changes reached the SQLite file statement by statement; the next start undoes them from the undo log."""
    import sqlite3

    a = two[0].cursor()
    a.execute("BEGIN TRAN; UPDATE t1 SET v = 0 WHERE id = 1; DELETE FROM t1 WHERE id = 2; INSERT INTO t1 VALUES (3, 30)")
    copy = tmp_path / "copy"
    (copy / "state.data").mkdir(parents=True)
    (copy / "state.json").write_bytes((tmp_path / "state.json").read_bytes())
    for source in (tmp_path / "state.data").glob("*.sqlite"):  # the file as a crash would leave it
        with sqlite3.connect(source) as live, sqlite3.connect(copy / "state.data" / source.name) as snapshot:
            live.backup(snapshot)
    with Sandbox(copy / "state.json", material_dir=material_dir) as again:
        cnxn = raw_connect(again, admin_token())
        cur = cnxn.cursor()
        assert rows(cur, "SELECT id, v FROM t1 WITH (NOLOCK) ORDER BY id") == [(1, 10), (2, 20)]
        cnxn.close()


def test_statements_that_write_one_table_read_others_as_committed(two: tuple[Any, Any]) -> None:
    a, b = (c.cursor() for c in two)
    a.execute("BEGIN TRAN; UPDATE t2 SET v = 99")
    b.execute("SET LOCK_TIMEOUT 0; UPDATE t1 SET v = (SELECT MAX(v) FROM t2) WHERE id = 1")
    b.execute("IF EXISTS (SELECT 1 FROM t2 WHERE v = 99) DELETE FROM t1")
    assert rows(b, "SELECT id, v FROM t1 ORDER BY id") == [(1, 10), (2, 20)]
    a.execute("ROLLBACK")


def test_ddl_waits_for_a_transaction_that_changed_the_table(two: tuple[Any, Any]) -> None:
    a, b = (c.cursor() for c in two)
    a.execute("BEGIN TRAN; INSERT INTO t2 VALUES (2, 20)")
    assert "(1222)" in error_of(b, "SET LOCK_TIMEOUT 100; DROP TABLE t2")
    a.execute("ROLLBACK")
    b.execute("DROP TABLE t2")


def test_views_indexes_renames_and_table_variables_follow_the_same_locks(two: tuple[Any, Any]) -> None:
    """The ORM-facing statements (views, indexes, ALTER TABLE ... ADD DEFAULT, sp_rename, OUTPUT ... INTO, table
    variables) read committed rows and wait for a transaction that changed their table, as tables' own statements do."""
    a, b = (c.cursor() for c in two)
    b.execute("CREATE VIEW dbo.v1 AS SELECT id, v FROM dbo.t1")
    a.execute("BEGIN TRAN; UPDATE t1 SET v = 0 WHERE id = 1; INSERT INTO t1 VALUES (9, 90)")
    b.execute("SET LOCK_TIMEOUT 100")
    assert rows(b, "SELECT id, v FROM dbo.v1 ORDER BY id") == [(1, 10), (2, 20)]  # through the view: committed rows
    for ddl in (
        "CREATE INDEX ix_t1_v ON dbo.t1 (v)",
        "ALTER TABLE dbo.t1 ADD CONSTRAINT df_t1_v DEFAULT 5 FOR v",
        "EXEC sp_rename 'dbo.t1.v', 'w', 'COLUMN'",
    ):
        assert "(1222)" in error_of(b, ddl), ddl
    # A table variable is the batch's own: no wait for a's lock on t1, and OUTPUT ... INTO it from another table.
    b.execute(
        "SET NOCOUNT ON; DECLARE @out TABLE (id int); INSERT INTO t2 OUTPUT INSERTED.id INTO @out VALUES (3, 30); "
        "INSERT INTO @out VALUES (4); SELECT id FROM @out ORDER BY id"
    )
    assert [tuple(r) for r in b.fetchall()] == [(3,), (4,)]
    a.execute("ROLLBACK")
    b.execute("CREATE INDEX ix_t1_v ON dbo.t1 (v); EXEC sp_rename 'dbo.t1.v', 'w', 'COLUMN'")
    assert rows(b, "SELECT id, w FROM dbo.t1 ORDER BY id") == [(1, 10), (2, 20)]


def test_rollback_puts_back_a_row_whose_primary_key_changed(two: tuple[Any, Any]) -> None:
    """An UPDATE of the key moves the row in SQLite (its rowid is the key): rollback and committed reads still find it."""
    a, b = (c.cursor() for c in two)
    a.execute("BEGIN TRAN; UPDATE t1 SET id = 5, v = 50 WHERE id = 1; INSERT INTO t1 VALUES (1, 99)")
    assert rows(a, "SELECT id, v FROM t1 ORDER BY id") == [(1, 99), (2, 20), (5, 50)]
    assert rows(b, "SELECT id, v FROM t1 ORDER BY id") == [(1, 10), (2, 20)]
    a.execute("ROLLBACK")
    assert rows(b, "SELECT id, v FROM t1 ORDER BY id") == [(1, 10), (2, 20)]

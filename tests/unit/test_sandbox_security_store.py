"""A database's security state and its data: one SQLite file, one transaction (sql/engine/storage.py, session.py).

Real SQLite files, real sessions: the failure at commit is a trigger inside the file that refuses the security
row's write, so nothing is mocked."""

# ruff: noqa: S608 - these tests build T-SQL text on purpose (the private table's name, role names)

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azsqlctl.sandbox import state as st
from azsqlctl.sandbox.sql.engine.results import TransactionChange, TransactionEvent
from azsqlctl.sandbox.sql.engine.session import SqlSession
from azsqlctl.sandbox.sql.engine.storage import SECURITY, Storage, data_directory
from azsqlctl.sandbox.sql.session_context import SessionContext
from azsqlctl.sandbox.store import StateStore


class Sandbox:
    """A state store and the storage of its databases, as one ``sandbox serve`` process has them."""

    def __init__(self, path: Path | None) -> None:
        self.store = StateStore(path)
        self.storage = Storage(path, self.store)
        self.sessions: list[SqlSession] = []
        self._spid = 60

    def session(self, user: str = "dbo", database: str = "appdb") -> SqlSession:
        self._spid += 1
        ctx = SessionContext(self._spid, "127.0.0.1", database, principal=f"{user}@tenant")
        ctx.extra["user"] = user
        ids = iter(range(1, 1000))
        s = SqlSession(self.store, self.storage, "sandbox-sql", lambda: next(ids).to_bytes(8, "little"), ctx)
        self.sessions.append(s)
        return s

    def close(self) -> None:
        sessions, self.sessions = self.sessions, []
        for s in sessions:
            s.close()
        self.storage.close()


@pytest.fixture
def opened() -> Iterator[list[Sandbox]]:
    found: list[Sandbox] = []
    yield found
    for sb in found:
        sb.close()


def open_sandbox(opened: list[Sandbox], path: Path | None) -> Sandbox:
    sb = Sandbox(path)
    opened.append(sb)
    return sb


def run(session: SqlSession, sql: str) -> list[tuple[Any, ...]]:
    """The rows of the batch's last result set; an error fails the test."""
    pieces, ok = session.run(sql)
    errors = [p.error for p in pieces if p.error is not None]
    assert ok and not errors, errors
    sets = [p.result for p in pieces if p.result is not None]
    return list(sets[-1].rows) if sets else []


def error(session: SqlSession, sql: str) -> int:
    pieces, ok = session.run(sql)
    numbers = [p.error.number for p in pieces if p.error is not None]
    assert not ok and numbers, pieces
    return numbers[0]


def principals(session: SqlSession) -> set[str]:
    names = {str(r[0]) for r in run(session, "SELECT name FROM sys.database_principals WHERE type IN ('E', 'R')")}
    return {n for n in names if n != "public" and not n.startswith("db_")}  # not the fixed roles


def members(session: SqlSession, role: str) -> set[str]:
    rows = run(
        session,
        "SELECT m.name FROM sys.database_role_members AS rm "
        "JOIN sys.database_principals AS r ON r.principal_id = rm.role_principal_id "
        f"JOIN sys.database_principals AS m ON m.principal_id = rm.member_principal_id WHERE r.name = '{role}'",
    )
    return {str(r[0]) for r in rows}


def refuse_security_writes(path: Path) -> None:
    """What a failing disk would do to the security row's write, from inside the file (no mock)."""
    conn = sqlite3.connect(data_directory(path) / "appdb.sqlite")
    conn.execute(f"CREATE TRIGGER refuse BEFORE UPDATE ON {SECURITY} BEGIN SELECT RAISE(ABORT, 'write refused'); END")
    conn.commit()
    conn.close()


def allow_security_writes(path: Path) -> None:
    conn = sqlite3.connect(data_directory(path) / "appdb.sqlite")
    conn.execute("DROP TRIGGER refuse")
    conn.commit()
    conn.close()


def test_an_old_state_file_seeds_the_data_file_once_then_no_longer_carries_it(
    tmp_path: Path, opened: list[Sandbox], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    old = st.default_state()
    appdb = old.server.database("appdb")
    assert appdb is not None
    appdb.roles.append("app_rw")
    appdb.members["app_rw"] = ["orders-api"]
    appdb.permissions.append(st.Permission("app_rw", "SELECT", "SCHEMA", "app"))
    path.write_text(json.dumps(st.to_dict(old)))  # what sandboxes wrote before: users and grants in the state file
    assert "users" in json.loads(path.read_text())["server"]["databases"][0]

    first = open_sandbox(opened, path)
    s = first.session()
    assert principals(s) == {"orders-api", "app_rw"}
    assert members(s, "app_rw") == {"orders-api"} and members(s, "db_datareader") == {"orders-api"}
    entry = json.loads(path.read_text())["server"]["databases"][0]
    assert entry == {"name": "appdb", "available": True}  # seeded: the file keeps the name, not the security state
    run(s, "CREATE ROLE auditors")
    first.close()

    # A hand edit that puts users back in the file does not override the database's own (it says so).
    data = json.loads(path.read_text())
    data["server"]["databases"][0]["users"] = [{"name": "intruder", "sid": "00000000-0000-0000-0000-000000000001"}]
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger="azsqlctl.sandbox.sql"):
        second = open_sandbox(opened, path)
        assert principals(second.session()) == {"orders-api", "app_rw", "auditors"}
    assert any("are ignored" in r.getMessage() for r in caplog.records)
    assert "users" not in json.loads(path.read_text())["server"]["databases"][0]


def test_a_database_created_later_seeds_from_its_entry(tmp_path: Path, opened: list[Sandbox]) -> None:
    sb = open_sandbox(opened, tmp_path / "state.json")
    with sb.store.mutate() as s:
        s.server.databases.append(
            st.Database("tenant_a", users=[st.DbUser("orders-api", st.stable_id("x"), "E", 5)], schemas=["dbo", "app"])
        )
    found = sb.storage.security("tenant_a")
    assert found is not None and [u.name for u in found.users] == ["orders-api"] and found.schemas == ["dbo", "app"]
    assert sb.storage.security("master") is None and sb.storage.security("nowhere") is None
    assert not (data_directory(tmp_path / "state.json") / "nowhere.sqlite").exists()  # a login's typo creates no file


@pytest.mark.parametrize("where", ["file", "memory"])
def test_other_sessions_see_only_committed_security_state(tmp_path: Path, opened: list[Sandbox], where: str) -> None:
    sb = open_sandbox(opened, tmp_path / "state.json" if where == "file" else None)
    writer, reader = sb.session(), sb.session()
    before = reader.security_version()
    assert isinstance(before, int) and before >= 1
    run(writer, "BEGIN TRAN; CREATE ROLE app_rw; ALTER ROLE app_rw ADD MEMBER [orders-api]")
    assert writer.security_version() is None  # its own view: uncommitted changes
    assert "app_rw" in principals(writer)
    assert "app_rw" not in principals(reader) and reader.security_version() == before
    run(writer, "COMMIT")
    assert "app_rw" in principals(reader)
    assert reader.security_version() == before + 1 == writer.security_version()
    assert members(reader, "app_rw") == {"orders-api"}
    run(writer, "BEGIN TRAN")
    assert error(writer, "DROP ROLE app_rw") == 15144  # it has members; a statement-level error: the transaction goes on
    run(writer, "ALTER ROLE app_rw DROP MEMBER [orders-api]; DROP ROLE app_rw")
    assert "app_rw" not in principals(writer) and "app_rw" in principals(reader)
    run(writer, "ROLLBACK")
    assert members(reader, "app_rw") == {"orders-api"} and reader.security_version() == before + 1  # a rollback writes nothing
    assert members(writer, "app_rw") == {"orders-api"}


def test_security_and_data_commit_together_or_not_at_all(tmp_path: Path, opened: list[Sandbox]) -> None:
    path = tmp_path / "state.json"
    sb = open_sandbox(opened, path)
    s = sb.session()
    run(s, "CREATE TABLE dbo.orders (id INT PRIMARY KEY, qty INT)")
    refuse_security_writes(path)

    # One transaction with both: the COMMIT fails while writing the security state; the data goes too.
    run(s, "BEGIN TRAN; INSERT INTO dbo.orders VALUES (1, 1); CREATE ROLE app_rw; UPDATE dbo.orders SET qty = 2")
    (failed,), _ = s.run("COMMIT")
    assert failed.error is not None and failed.error.number == 40197
    assert [e.event for e in failed.events if isinstance(e, TransactionChange)] == [TransactionEvent.ROLLBACK]  # the driver learns it
    assert s.trancount == 0 and s.security_version() is not None
    other = sb.session()
    assert run(other, "SELECT COUNT(*) FROM dbo.orders") == [(0,)]
    assert "app_rw" not in principals(other)

    # DDL holds SQLite's transaction open until COMMIT: the same.
    run(s, "BEGIN TRAN; CREATE TABLE dbo.items (id INT); INSERT INTO dbo.orders VALUES (3, 3); CREATE ROLE app_rw")
    assert error(s, "COMMIT") == 40197
    assert error(other, "SELECT * FROM dbo.items") == 208
    assert run(other, "SELECT COUNT(*) FROM dbo.orders") == [(0,)] and "app_rw" not in principals(other)

    # Autocommit: the statement fails whole.
    assert error(s, "CREATE ROLE app_rw") == 40197
    assert "app_rw" not in principals(other)

    # A sandbox restarted on the same files finds neither, and nothing left to undo.
    sb.close()
    allow_security_writes(path)
    again = open_sandbox(opened, path).session()
    assert run(again, "SELECT COUNT(*) FROM dbo.orders") == [(0,)] and "app_rw" not in principals(again)
    run(again, "BEGIN TRAN; INSERT INTO dbo.orders VALUES (1, 1); CREATE ROLE app_rw; COMMIT")
    restarted = open_sandbox(opened, path).session()
    assert run(restarted, "SELECT id, qty FROM dbo.orders") == [(1, 1)] and "app_rw" in principals(restarted)


def test_the_security_table_is_out_of_every_users_reach(tmp_path: Path, opened: list[Sandbox]) -> None:
    sb = open_sandbox(opened, tmp_path / "state.json")
    s = sb.session()
    version = s.security_version()
    for sql in (f"SELECT * FROM {SECURITY}", f"SELECT * FROM dbo.[{SECURITY}]", f"DELETE FROM [{SECURITY}]", f"DROP TABLE {SECURITY}"):
        assert error(s, sql) in (208, 3701), sql
    # The user's own table of that name is theirs alone (dbo.__azsqlctl_security), listed as any other.
    run(s, f"CREATE TABLE {SECURITY} (id INT); INSERT INTO {SECURITY} VALUES (7)")
    assert run(s, f"SELECT id FROM {SECURITY}") == [(7,)]
    run(s, f"DROP TABLE {SECURITY}")
    assert run(s, "SELECT COUNT(*) FROM sys.tables WHERE name LIKE '__azsqlctl%'") == [(0,)]
    assert run(s, "SELECT COUNT(*) FROM sys.objects WHERE name LIKE '%azsqlctl%'") == [(0,)]
    assert run(s, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME LIKE '%azsqlctl%'") == [(0,)]
    assert s.security_version() == version and "orders-api" in principals(s)  # untouched


def test_rollback_to_a_savepoint_undoes_the_security_changes_since(tmp_path: Path, opened: list[Sandbox]) -> None:
    s = open_sandbox(opened, tmp_path / "state.json").session()
    run(s, "BEGIN TRAN; CREATE ROLE kept; SAVE TRAN before_b; CREATE ROLE dropped; ALTER ROLE kept ADD MEMBER [orders-api]")
    run(s, "ROLLBACK TRAN before_b; COMMIT")
    assert {"kept", "dropped"} & principals(s) == {"kept"} and members(s, "kept") == set()
    run(s, "BEGIN TRAN; SAVE TRAN nothing_yet; CREATE ROLE later; ROLLBACK TRAN nothing_yet; COMMIT")
    assert "later" not in principals(s)


def test_a_second_sandbox_process_on_the_same_files_never_loses_the_others_grants(tmp_path: Path, opened: list[Sandbox]) -> None:
    """Two sandboxes serving one state (each with its own lock table, as two processes have): a transaction whose
    security state another one committed meanwhile fails at COMMIT (40197, retry) instead of overwriting it."""
    path = tmp_path / "state.json"
    a = open_sandbox(opened, path).session()
    b = open_sandbox(opened, path).session()
    run(a, "BEGIN TRAN; CREATE ROLE from_a")
    run(b, "CREATE ROLE from_b")
    assert error(a, "COMMIT") == 40197
    assert principals(b) >= {"from_b"} and "from_a" not in principals(b)
    run(a, "BEGIN TRAN; CREATE ROLE from_a; COMMIT")  # the retry starts from what b committed
    assert principals(b) >= {"from_a", "from_b"}

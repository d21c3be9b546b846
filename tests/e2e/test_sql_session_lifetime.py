"""Nothing of a SQL session outlives it: once the connection is gone -- closed by the driver or cut mid-session,
with or without an open transaction and its locks -- the session object is freed, and with it every batch's text.

Freed by reference counting, checked with the cyclic collector off: an idle sandbox allocates too little for the
collector to run, so what only it would free stays in memory (the issue measured +16 MB per closed session that
had sent a 32 MB batch: sqlglot trees and parse errors, which are reference cycles, holding the batch's comments).
Locks the session held are released and its transaction rolled back, so a session waiting for them goes on."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from azsqlctl.protocol.tds import SQL_BATCH
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.sql.engine.session import SqlSession
from tests.conftest import raw_connect
from tests.e2e import hostile_client as hc
from tests.e2e.test_sql_frontend import admin_token
from tests.e2e.test_sql_locks import GETAPPLOCK

MARKER = "session-lifetime-marker"
BIG = 1 << 20  # characters: far above anything the sandbox keeps of its own


@pytest.fixture
def freed() -> Iterator[Callable[[list[weakref.ref[SqlSession]]], bool]]:
    """``_wait_freed``, for a test that runs with the cyclic collector off (what it alone frees counts as leaked)."""
    gc.collect()
    gc.disable()
    try:
        yield _wait_freed
    finally:
        gc.enable()


def _filler() -> str:
    return MARKER + "x" * BIG


def _live_sessions() -> list[SqlSession]:
    """Every live SqlSession: each refers to its class, so the collector's own walk finds them (in C, ~3x faster
    than a Python loop over every object of a test worker's heap); subclasses' instances refer to the subclass."""
    classes: list[type] = [SqlSession]
    for cls in classes:
        classes += cls.__subclasses__()
    return [o for o in gc.get_referrers(*classes) if isinstance(o, SqlSession)]


def _sessions() -> set[int]:
    """The live SQL sessions, by id (a list of them would keep them alive)."""
    return {id(o) for o in _live_sessions()}


def _big_texts() -> list[int]:
    """Lengths of the marked batch texts (or parts of them) that any object still refers to."""
    found = []
    for o in gc.get_objects():
        for r in gc.get_referents(o):
            if isinstance(r, str) and len(r) >= BIG and MARKER in r[:200]:
                found.append(len(r))
    return found


def _wait_freed(refs: list[weakref.ref[SqlSession]]) -> bool:
    """Whether the sessions were freed once the server saw their connections go (it notices within moments)."""
    for _ in range(250):
        if all(r() is None for r in refs):
            return True
        time.sleep(0.02)
    return False


def _new_session(before: set[int]) -> weakref.ref[SqlSession]:
    new = [o for o in _live_sessions() if id(o) not in before]
    assert len(new) == 1, new
    return weakref.ref(new[0])


# The batches (made when sent: the test keeps none): a large trailing comment (the issue's), one inside a
# statement, and one that does not parse.
BATCHES: list[Callable[[], str]] = [
    lambda: "SELECT 1 AS n -- " + _filler(),
    lambda: "SELECT 1 /* " + _filler() + " */ AS n",
    lambda: "SELECT 1 AS n, ( -- " + _filler(),
]


def _send(sock: Any, sql: str) -> bytes:
    """One SQL_BATCH request, in as many packets as it takes; its answer."""
    body = hc.ALL_HEADERS + sql.encode("utf-16-le")
    step = 32_000
    for at in range(0, len(body), step):
        sock.sendall(hc.packet(SQL_BATCH, body[at : at + step], status=int(at + step >= len(body))))
    return hc.read_message(sock)


@pytest.mark.parametrize("transaction", [False, True], ids=["autocommit", "open-transaction"])
def test_a_raw_session_cut_mid_session_is_freed_with_its_batches(
    sandbox: Sandbox, client_env: dict[str, str], freed: Callable[[list[weakref.ref[SqlSession]]], bool], transaction: bool
) -> None:
    before = _sessions()
    setup = raw_connect(sandbox, admin_token())
    setup.autocommit = True
    setup.cursor().execute("CREATE TABLE dbo.life (id int PRIMARY KEY, v int); INSERT INTO life VALUES (1, 1)")
    ref_setup = _new_session(before)
    setup.close()
    assert freed([ref_setup])  # closed by the driver
    sock = hc.logged_in(sandbox, admin_token())
    sock.settimeout(60)
    others = _sessions()  # sessions of other sandboxes in this process (module-scoped ones, under xdist)
    assert hc.error_numbers(_send(sock, "SELECT 0 AS n")) == []  # the SQL session begins with the first request
    ref = _new_session(others)
    if transaction:  # locks: the table's (X), a transaction's and a session's application lock
        assert hc.error_numbers(_send(sock, "BEGIN TRAN; UPDATE life SET v = 2")) == []
        assert hc.error_numbers(_send(sock, "DECLARE @rc int; EXEC @rc = sp_getapplock 'a', 'Exclusive', 'Transaction'")) == []
        assert hc.error_numbers(_send(sock, "DECLARE @rc int; EXEC @rc = sp_getapplock 'b', 'Exclusive', 'Session'")) == []
    for make in BATCHES:
        _send(sock, make())
    assert hc.error_numbers(_send(sock, "SELECT 2 AS n")) == []
    assert _big_texts() == []  # an idle session holds no old request
    sock.close()  # no logout, no attention: the socket just goes
    assert freed([ref])
    assert _big_texts() == []
    check = raw_connect(sandbox, admin_token())
    check.autocommit = True
    cur = check.cursor()
    cur.execute("SET LOCK_TIMEOUT 5000")
    assert cur.execute("SELECT v FROM life WITH (UPDLOCK)").fetchval() == 1
    assert cur.execute("UPDATE life SET v = 3").rowcount == 1  # the table's lock went with the session
    cur.execute("BEGIN TRAN")
    for name in ("a", "b"):
        assert cur.execute(GETAPPLOCK, name, "Exclusive", "Transaction", 0).fetchval() == 0
    cur.execute("COMMIT")
    check.close()


def _waits_then_goes(start: Callable[[], Any]) -> list[Any]:
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(start()), daemon=True)
    waiter.start()
    waiter.join(0.3)
    assert not got  # it waits for the other session's lock
    return got


def test_a_driver_session_closed_mid_transaction_releases_its_waiters_and_is_freed(
    sandbox: Sandbox, client_env: dict[str, str], freed: Callable[[list[weakref.ref[SqlSession]]], bool]
) -> None:
    before = _sessions()
    a = raw_connect(sandbox, admin_token())
    a.autocommit = True
    a.cursor().execute("CREATE TABLE dbo.life (id int PRIMARY KEY, v int); INSERT INTO life VALUES (1, 1)")
    ref_a = _new_session(before)
    before = _sessions()
    b = raw_connect(sandbox, admin_token())
    b.autocommit = True
    cur_a, cur_b = a.cursor(), b.cursor()
    cur_b.execute("SELECT 0")
    ref_b = _new_session(before)
    cur_a.execute("BEGIN TRAN; UPDATE life SET v = 2")
    assert cur_a.execute(GETAPPLOCK, "deploy", "Exclusive", "Session", 0).fetchval() == 0
    cur_a.execute("SELECT 1 AS n -- " + _filler())
    # b waits for ever (LOCK_TIMEOUT -1, @LockTimeout -1) for what a holds: a's going must end both waits.
    table_wait = _waits_then_goes(lambda: cur_b.execute("UPDATE life SET v = v + 10").rowcount)
    a.close()
    for _ in range(500):
        if table_wait:
            break
        time.sleep(0.02)
    assert table_wait == [1]  # a's transaction was rolled back (v back to 1) and its X lock released
    assert freed([ref_a])
    assert cur_b.execute("SELECT v FROM life").fetchval() == 11
    cur_b.execute("BEGIN TRAN")
    assert cur_b.execute(GETAPPLOCK, "deploy", "Exclusive", "Transaction", -1).fetchval() == 0  # a's session lock too
    cur_b.execute("COMMIT")
    assert _big_texts() == []
    b.close()
    assert freed([ref_b])

"""Undo logs: how a client transaction rolls back, and how others read its tables' committed rows meanwhile.

A statement's changes reach the SQLite file when the statement ends (``locks`` says why); the tables a
transaction changed stay exclusively locked until it ends. Each change's before-image goes to the table's
undo table (``__azsqlctl_undo:<table>``, in the same file, written in the same SQLite transaction as the
change), recorded by TEMP triggers that only the writing session has and that fire only inside its
transaction. Rolling back replays the session's before-images newest first; committing deletes them.

Azure SQL Database reads committed versions (READ_COMMITTED_SNAPSHOT is on): a reader neither waits for a
writer nor sees its uncommitted rows. The sandbox does the same with the undo table: for the length of one
statement, a reader's connection gets a TEMP VIEW of the same name (temp objects come first in SQLite's name
resolution) showing the table as it was before the other transactions' changes: the rows nobody changed,
plus each changed row's oldest before-image. The view and the undo rows are read in one SQLite statement, so
a writer committing meanwhile is seen either wholly before or wholly after.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable

from .storage import quote

PREFIX = "__azsqlctl_undo:"
_META = ("az_seq", "az_owner", "az_op", "az_rid")


def undo_table(table: str) -> str:
    return PREFIX + table.lower()


def _columns(conn: sqlite3.Connection, table: str) -> tuple[str, ...]:
    return tuple(str(r[1]) for r in conn.execute(f"PRAGMA main.table_info({quote(table)})"))


class UndoLog:
    def __init__(self, conn: sqlite3.Connection, logging: Callable[[], bool]) -> None:
        self.conn = conn
        self.owner = secrets.randbits(62)  # unique across sessions and sandbox processes sharing the file
        self._seq = 0
        self._touched: set[str] = set()  # undo tables holding this session's before-images
        conn.create_function("az_undo_seq", 0, self._next)
        conn.create_function("az_undo_on", 0, lambda: int(logging()))

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def track(self, table: str) -> None:
        """Log this session's changes to ``table`` inside its transaction; call inside the statement's SQLite transaction."""
        columns = _columns(self.conn, table)
        if not columns:
            return
        undo = undo_table(table)
        have = _columns(self.conn, undo)
        if not have:
            self.conn.execute(
                f"CREATE TABLE {quote(undo)} (az_seq INTEGER, az_owner INTEGER, az_op TEXT, az_rid INTEGER, {', '.join(quote(c) for c in columns)})"
            )
            self.conn.execute(f"CREATE INDEX {quote(undo + ':owner')} ON {quote(undo)} (az_owner, az_rid, az_seq)")
        for c in columns:
            if c not in have and have:
                self.conn.execute(f"ALTER TABLE {quote(undo)} ADD COLUMN {quote(c)}")
        self._touched.add(undo)
        signature = "az_undo:" + table.lower() + ":" + str(hash(columns))
        if self.conn.execute("SELECT 1 FROM sqlite_temp_master WHERE type = 'trigger' AND name = ?", (signature + ":I",)).fetchone():
            return
        for old in self.conn.execute(
            "SELECT name FROM sqlite_temp_master WHERE type = 'trigger' AND name LIKE ?", (f"az_undo:{table.lower()}:%",)
        ):
            self.conn.execute(f"DROP TRIGGER temp.{quote(old[0])}")
        names = ", ".join(quote(c) for c in columns)
        before = ", ".join(f"OLD.{quote(c)}" for c in columns)
        nothing = ", ".join("NULL" for _ in columns)

        def entry(op: str, rid: str, values: str) -> str:
            return f"INSERT INTO {quote(undo)} ({', '.join(_META)}, {names}) VALUES (az_undo_seq(), {self.owner}, '{op}', {rid}, {values});"

        # An UPDATE of an INTEGER PRIMARY KEY moves the row to another rowid: logged as a delete of the old row and
        # an insert of the new one, so rollback finds it, and committed-row views hide both rowids.
        for name, event, when, body in (
            ("I", "INSERT", "", entry("I", "NEW.rowid", nothing)),
            ("D", "DELETE", "", entry("D", "OLD.rowid", before)),
            ("U", "UPDATE", " AND NEW.rowid = OLD.rowid", entry("U", "OLD.rowid", before)),
            ("M", "UPDATE", " AND NEW.rowid != OLD.rowid", entry("D", "OLD.rowid", before) + " " + entry("I", "NEW.rowid", nothing)),
        ):
            self.conn.execute(
                f"CREATE TEMP TRIGGER {quote(signature + ':' + name)} AFTER {event} ON main.{quote(table)} "
                f"WHEN az_undo_on(){when} BEGIN {body} END"
            )

    def mark(self) -> int:
        """The log's position now (for SAVE TRANSACTION)."""
        return self._seq

    def pending(self) -> bool:
        return bool(self._touched)

    def undo(self, since: int = 0) -> None:
        """Put back what this session changed after ``since``, newest first; the caller holds a SQLite transaction."""
        existing = {str(r[0]) for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self._touched &= existing  # one created by DDL that SQLite has rolled back is gone, with its rows
        _replay(self.conn, self._touched, "az_owner = ? AND az_seq > ?", (self.owner, since))
        if since == 0:
            self._touched.clear()

    def forget(self) -> None:
        """The transaction commits: its before-images go, inside the caller's SQLite transaction. Until ``clear`` (after
        that transaction's COMMIT) the log still knows its tables, so a commit that fails can still be rolled back."""
        for undo in self._touched:
            self.conn.execute(f"DELETE FROM {quote(undo)} WHERE az_owner = ?", (self.owner,))

    def clear(self) -> None:
        """The transaction committed: nothing of it is left to undo."""
        self._touched.clear()


def _replay(conn: sqlite3.Connection, undo_tables: set[str], where: str, binds: tuple[int, ...]) -> None:
    """Replay the before-images ``where`` selects, each owner's newest first, then delete them.

    Owners' changes never overlap (a table's updates and deletes are exclusive; inserters touch their own rows),
    so owners replay independently."""
    entries: list[tuple[int, int, str, str, int, dict[str, object]]] = []
    for undo in undo_tables:
        cur = conn.execute(f"SELECT * FROM {quote(undo)} WHERE {where}", binds)
        names = [d[0] for d in cur.description]
        for row in cur.fetchall():
            v = dict(zip(names, row, strict=True))
            rest = {k: x for k, x in v.items() if k not in _META}
            entries.append((int(v["az_owner"]), int(v["az_seq"]), undo, str(v["az_op"]), int(v["az_rid"]), rest))
    for _owner, _seq, undo, op, rid, row in sorted(entries, key=lambda e: (e[0], e[1]), reverse=True):
        table = undo.removeprefix(PREFIX)
        target = f"main.{quote(table)}"
        live = set(_columns(conn, table))
        if not live:
            continue  # the table is gone
        row = {k: x for k, x in row.items() if k in live}
        if op == "I":
            conn.execute(f"DELETE FROM {target} WHERE rowid = ?", (rid,))
        elif op == "D":
            marks = ", ".join("?" for _ in row)
            conn.execute(f"INSERT INTO {target} (rowid, {', '.join(quote(c) for c in row)}) VALUES (?, {marks})", (rid, *row.values()))
        else:
            sets = ", ".join(f"{quote(c)} = ?" for c in row)
            conn.execute(f"UPDATE {target} SET {sets} WHERE rowid = ?", (*row.values(), rid))
    for undo in undo_tables:
        conn.execute(f"DELETE FROM {quote(undo)} WHERE {where}", binds)


def recover(conn: sqlite3.Connection) -> int:
    """Roll back what sessions of a sandbox that stopped mid-transaction left behind (as a server's recovery does);
    returns how many changes were undone. Run before any session uses the file."""
    tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?", (PREFIX + "%",))}
    if not tables:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        count = sum(int(conn.execute(f"SELECT COUNT(*) FROM {quote(t)}").fetchone()[0]) for t in tables)
        _replay(conn, tables, "1 = 1", ())
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return count


def committed_view(conn: sqlite3.Connection, table: str, owner: int) -> str | None:
    """SQL for a TEMP VIEW of ``table`` as committed, when other sessions may hold uncommitted changes to it; else None."""
    undo = undo_table(table)
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (undo,)).fetchone():
        return None
    names = _columns(conn, table)
    if not names:
        return None
    columns = ", ".join(quote(c) for c in names)
    u, t = quote(undo), f"main.{quote(table)}"
    return (
        f"SELECT {columns} FROM {t} WHERE rowid NOT IN (SELECT az_rid FROM main.{u} WHERE az_owner != {owner}) "
        f"UNION ALL SELECT {columns} FROM main.{u} AS b WHERE b.az_owner != {owner} AND b.az_op != 'I' AND b.az_seq = "
        f"(SELECT MIN(f.az_seq) FROM main.{u} AS f WHERE f.az_owner = b.az_owner AND f.az_rid = b.az_rid)"
    )

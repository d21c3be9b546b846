"""The SQLite side of the schema model: every user table's SQLite DDL is generated from its ``TableInfo``.

The model (``storage.TableInfo``: columns, keys, CHECK constraints, indexes) is the one truth; the
SQLite table, its indexes and the triggers that carry out foreign keys' ON DELETE/ON UPDATE actions
are derived from it. SQLite cannot add or drop a constraint or change a column in place, so a change
of shape is SQLite's documented table rebuild (create the new shape, copy the rows, drop the old
table, rename the new one, recreate indexes and triggers) -- inside the statement's savepoint, so a
failed rebuild (rows that break the new constraint) leaves the table as it was.

Enforcement: NOT NULL, PRIMARY KEY, UNIQUE and CHECK by SQLite itself (their failures are mapped to
SQL Server's 515, 2627, 2601 and 547 by the session); FOREIGN KEYs by ``PRAGMA foreign_key_check``
after each statement (SQL Server checks them per statement, and the check names the violated key)
and their referential actions by the triggers below (SQLite's own enforcement stays off).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping

from . import ownership, storage, types
from .storage import IndexInfo, KeyInfo, TableInfo, quote

_TRIGGER_PREFIX = "az_fk_"
_REBUILD = "__az_rebuild"


def table_sql(info: TableInfo, sqlite_name: str | None = None) -> str:
    """The SQLite CREATE TABLE for a table's model."""
    by_name = {c.name.lower(): c for c in info.columns}
    rowid = next((c for c in info.columns if c.identity), None)
    parts: list[str] = []
    for c in info.columns:
        if c is rowid:
            # SQLite's AUTOINCREMENT rowid is SQL Server's IDENTITY(seed, 1): never reused, even after rollback.
            parts.append(f"{quote(c.name)} INTEGER PRIMARY KEY AUTOINCREMENT")
            continue
        decl = f"{quote(c.name)} {types.affinity(c.spec)}"
        if not c.nullable:
            decl += " NOT NULL"
        if c.default_sqlite:
            decl += f" DEFAULT ({c.default_sqlite})"
        parts.append(decl)

    def cols(names: list[str]) -> str:
        return ", ".join(quote(by_name[n.lower()].name) for n in names)

    for key in info.keys:
        if key.kind == "PRIMARY KEY":
            if rowid is None:
                parts.append(f"CONSTRAINT {quote(key.name)} PRIMARY KEY ({cols(key.columns)})")
        elif key.kind == "UNIQUE KEY" and not _nullable(info, key.columns):
            parts.append(f"CONSTRAINT {quote(key.name)} UNIQUE ({cols(key.columns)})")
        elif key.kind == "CHECK":
            parts.append(f"CONSTRAINT {quote(key.name)} CHECK ({key.check_sqlite})")
        elif key.kind == "FOREIGN KEY":
            ref = ", ".join(quote(c) for c in key.ref_columns)
            parts.append(f"CONSTRAINT {quote(key.name)} FOREIGN KEY ({cols(key.columns)}) REFERENCES {quote(key.ref_key)} ({ref})")
    return f"CREATE TABLE {quote(sqlite_name or info.key)} ({', '.join(parts)})"


def index_name(info: TableInfo, index: IndexInfo | KeyInfo) -> str:
    """SQLite's index names are per database, SQL Server's per table."""
    return f"{info.key}.{index.name}"


def _nullable(info: TableInfo, columns: list[str]) -> bool:
    return any(c is not None and c.nullable for c in (info.column(n) for n in columns))


def _null_as_value(info: TableInfo, column: str) -> str:
    """A key column as SQL Server's unique indexes compare it: NULL equals NULL (one NULL per key), text case-insensitively."""
    col = info.column(column)
    text = col is not None and types.affinity(col.spec).startswith("TEXT")
    return f"({quote(column)} IS NULL), COALESCE({quote(column)}, 0){' COLLATE NOCASE' if text else ''}"


def index_sql(info: TableInfo, index: IndexInfo) -> str:
    if index.unique and _nullable(info, index.columns):
        columns = ", ".join(_null_as_value(info, c) for c in index.columns)
    else:
        columns = ", ".join(
            quote(c) + (" DESC" if i < len(index.descending) and index.descending[i] else "") for i, c in enumerate(index.columns)
        )
    where = f" WHERE {index.where_sqlite}" if index.where_sqlite else ""
    unique = "UNIQUE " if index.unique else ""
    return f"CREATE {unique}INDEX {quote(index_name(info, index))} ON {quote(info.key)} ({columns}){where}"


def _key_indexes(conn: sqlite3.Connection, info: TableInfo) -> None:
    """UNIQUE constraints on nullable columns: an index that lets one NULL per key in, as SQL Server's does (SQLite's lets many)."""
    for key in info.keys:
        if key.kind == "UNIQUE KEY" and _nullable(info, key.columns):
            columns = ", ".join(_null_as_value(info, c) for c in key.columns)
            conn.execute(f"CREATE UNIQUE INDEX {quote(index_name(info, key))} ON {quote(info.key)} ({columns})")


def unique_violated(info: TableInfo | None, detail: str) -> tuple[KeyInfo | None, IndexInfo | None, list[str]]:
    """Which key or unique index SQLite's "UNIQUE constraint failed: <detail>" names, and its columns."""
    if info is None:
        return None, None, []
    if detail.startswith("index '"):
        name = detail.removeprefix("index '").removesuffix("'").removeprefix(info.key + ".")
        key = next((k for k in info.keys if k.name == name), None)
        index = next((i for i in info.indexes if i.name == name), None)
        return key, index, list(key.columns if key else index.columns if index else [])
    columns = [c.rsplit(".", 1)[-1] for c in detail.split(", ")]
    lowered = [c.lower() for c in columns]
    key = next((k for k in info.keys if k.kind != "FOREIGN KEY" and [c.lower() for c in k.columns] == lowered), None)
    index = next((i for i in info.indexes if i.unique and [c.lower() for c in i.columns] == lowered), None)
    return key, index, columns


def create(conn: sqlite3.Connection, info: TableInfo, seed: int | None = None) -> None:
    """A new table: its SQLite table, its indexes, its row in the model, and the FK action triggers."""
    conn.execute(table_sql(info))
    _key_indexes(conn, info)
    for index in info.indexes:
        conn.execute(index_sql(info, index))
    storage.register(conn, info)
    if seed is not None and seed != 1:
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (info.key, seed - 1))
    sync_triggers(conn)


def save(conn: sqlite3.Connection, info: TableInfo) -> None:
    """The model changed in a way SQLite's table need not follow (a default's name, an index): store it."""
    storage.unregister(conn, info)
    storage.register(conn, info)


def rebuild(conn: sqlite3.Connection, old: TableInfo, new: TableInfo, sources: Mapping[str, str]) -> None:
    """Give ``old``'s SQLite table the shape of ``new``, keeping its rows.

    ``sources`` maps each column of ``new`` to the SQL (over the old table's columns) its values come
    from; a column missing from it takes its default. Constraint failures while copying are the
    caller's to map (they mean rows that break the new shape).
    """
    _drop_triggers(conn)
    conn.execute(f"DROP TABLE IF EXISTS {quote(_REBUILD)}")
    conn.execute(table_sql(new, _REBUILD))
    filled = [c for c in new.columns if c.name.lower() in sources]
    if filled:
        names = ", ".join(quote(c.name) for c in filled)
        picks = ", ".join(sources[c.name.lower()] for c in filled)
        conn.execute(f"INSERT INTO {quote(_REBUILD)} ({names}) SELECT {picks} FROM {quote(old.key)}")
    else:
        (count,) = conn.execute(f"SELECT COUNT(*) FROM {quote(old.key)}").fetchone()
        for _ in range(count):
            conn.execute(f"INSERT INTO {quote(_REBUILD)} DEFAULT VALUES")
    has_sequences = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone() is not None
    sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (old.key,)).fetchone() if has_sequences else None
    conn.execute(f"DROP TABLE {quote(old.key)}")
    conn.execute(f"ALTER TABLE {quote(_REBUILD)} RENAME TO {quote(new.key)}")
    if sequence is not None and any(c.identity for c in new.columns):
        conn.execute("DELETE FROM sqlite_sequence WHERE name = ?", (new.key,))
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (new.key, sequence[0]))
    _key_indexes(conn, new)
    for index in new.indexes:
        conn.execute(index_sql(new, index))
    storage.unregister(conn, old)
    storage.register(conn, new)
    sync_triggers(conn)


def rename(conn: sqlite3.Connection, old: TableInfo, new: TableInfo) -> None:
    """sp_rename of a table: SQLite renames it (and rewrites other tables' REFERENCES); the models follow."""
    _drop_triggers(conn)
    named: list[IndexInfo | KeyInfo] = [*old.indexes, *(k for k in old.keys if k.kind == "UNIQUE KEY")]
    for index in named:
        conn.execute(f"DROP INDEX IF EXISTS {quote(index_name(old, index))}")
    conn.execute(f"ALTER TABLE {quote(old.key)} RENAME TO {quote(new.key)}")
    for key in new.keys:
        if key.kind == "FOREIGN KEY" and key.ref_key.lower() == old.key.lower():
            key.ref_table = new.name
    _key_indexes(conn, new)
    for index in new.indexes:
        conn.execute(index_sql(new, index))
    storage.unregister(conn, old)
    storage.register(conn, new)
    for other in storage.tables(conn):
        referencing = [k for k in other.keys if k.kind == "FOREIGN KEY" and k.ref_key.lower() == old.key.lower()]
        for key in referencing:
            key.ref_table = new.name
        if referencing:
            save(conn, other)
    sync_triggers(conn)


def drop(conn: sqlite3.Connection, info: TableInfo) -> None:
    _drop_triggers(conn)
    conn.execute(f"DROP TABLE {quote(info.key)}")
    storage.unregister(conn, info)
    ownership.forget_object(conn, info.object_id)  # its owner (ALTER AUTHORIZATION) goes with it
    sync_triggers(conn)


def _drop_triggers(conn: sqlite3.Connection) -> None:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?", (_TRIGGER_PREFIX + "%",))]
    for name in names:
        conn.execute(f"DROP TRIGGER {quote(name)}")


def sync_triggers(conn: sqlite3.Connection) -> None:
    """One trigger per foreign key action (ON DELETE/UPDATE CASCADE, SET NULL, SET DEFAULT), from every table's model."""
    _drop_triggers(conn)
    tables = storage.tables(conn)
    for table in tables:
        for key in table.keys:
            if key.kind != "FOREIGN KEY":
                continue
            parent = next((t for t in tables if t.key.lower() == key.ref_key.lower()), None)
            if parent is None:
                continue
            for event, action in (("DELETE", key.on_delete), ("UPDATE", key.on_update)):
                body = _action(table, key, event, action)
                if body is None:
                    continue
                digest = hashlib.sha1(f"{table.key}.{key.name}.{event}".encode(), usedforsecurity=False).hexdigest()[:16]
                when = ""
                if event == "UPDATE":
                    when = " WHEN " + " OR ".join(f"OLD.{quote(r)} IS NOT NEW.{quote(r)}" for r in key.ref_columns)
                conn.execute(
                    f"CREATE TRIGGER {quote(_TRIGGER_PREFIX + digest)} AFTER {event} ON {quote(parent.key)}{when} BEGIN {body}; END"
                )


def _action(table: TableInfo, key: KeyInfo, event: str, action: str) -> str | None:
    match = " AND ".join(f"{quote(c)} = OLD.{quote(r)}" for c, r in zip(key.columns, key.ref_columns, strict=True))
    if action == "CASCADE" and event == "DELETE":
        return f"DELETE FROM {quote(table.key)} WHERE {match}"
    if action == "CASCADE":
        sets = ", ".join(f"{quote(c)} = NEW.{quote(r)}" for c, r in zip(key.columns, key.ref_columns, strict=True))
        return f"UPDATE {quote(table.key)} SET {sets} WHERE {match}"
    if action in ("SET_NULL", "SET_DEFAULT"):
        values = []
        for c in key.columns:
            col = table.column(c)
            default = col.default_sqlite if col is not None and action == "SET_DEFAULT" and col.default_sqlite else "NULL"
            values.append(f"{quote(c)} = ({default})")
        return f"UPDATE {quote(table.key)} SET {', '.join(values)} WHERE {match}"
    return None

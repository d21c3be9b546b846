"""Table variables (DECLARE @t TABLE (...)): a batch-scoped table in the connection's SQLite temp schema.

TypeORM's save() sends ``DECLARE @OutputTable TABLE (id int); INSERT ... OUTPUT INSERTED.id INTO
@OutputTable VALUES (...); SELECT * FROM @OutputTable``. A table variable is shaped like any table
(``table_ddl.table_shape``: types, NOT NULL, keys, CHECK, IDENTITY), lives as a TEMP table of the
session's own SQLite connection (so no other session sees it, and unqualified names find it first),
needs no permission, and is dropped when the batch ends, as SQL Server scopes it.
"""

from __future__ import annotations

import sqlite3

from sqlglot import exp

from . import errors, sqlite_schema, table_ddl
from .context import StatementSession
from .errors import SqlError
from .storage import TableInfo, quote

SCHEMA = "#table variable"  # the model's schema of a table variable: no user schema can be named so


def declare(session: StatementSession, name: str, shape: exp.Schema, declared: dict[str, TableInfo]) -> None:
    key = f"@{name}".lower()
    if key in declared:
        raise SqlError(
            134,
            f"The variable name '@{name}' has already been declared. Variable names must be unique within a query batch or stored procedure.",
            15,
        )
    for item in shape.expressions:
        if isinstance(item, exp.ColumnDef) and any(isinstance(c.kind, exp.Reference) for c in item.constraints):
            raise errors.unsupported("FOREIGN KEY in a table variable")  # SQL Server refuses it too (1766 ...): keep it out
    info, seed = table_ddl.table_shape(session, SCHEMA, f"@{name}", shape)
    session.conn.execute(f"DROP TABLE IF EXISTS temp.{quote(info.key)}")
    session.conn.execute(sqlite_schema.table_sql(info).replace("CREATE TABLE", "CREATE TEMP TABLE", 1))
    if seed is not None and seed != 1:
        session.conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (info.key, seed - 1))
    declared[key] = info


def is_variable(info: TableInfo) -> bool:
    return info.schema == SCHEMA


def drop_all(conn: sqlite3.Connection, declared: dict[str, TableInfo]) -> None:
    """The batch ended: its table variables go."""
    for info in declared.values():
        conn.execute(f"DROP TABLE IF EXISTS temp.{quote(info.key)}")
    declared.clear()

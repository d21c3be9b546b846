"""Catalog views and table-valued functions, as rows the query engine joins and filters like tables.

The security views grant and doctor read (sys.database_principals, role members,
permissions, schemas, fn_my_permissions, sys.databases) come from the state through
``sandbox/catalog.py``; the ones drivers and ORMs read on connect and for reflection
(sys.dm_exec_sessions for the current session, sys.system_views,
fn_listextendedproperty, sys.tables, INFORMATION_SCHEMA.TABLES/COLUMNS) are added
here. A query materialises only the views it names, per statement, into SQLite temp
tables, so WHERE, JOIN, ORDER BY and TOP work on them exactly as on user tables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..catalog import RELATIONS, Caller
from ..sqltypes import MAX, SqlType, TypeSpec
from ..state import Database
from . import storage, types

NAME = TypeSpec(SqlType.NVARCHAR, 128)  # sysname
INT = TypeSpec(SqlType.INT)

# The old codec's column kinds, for the views sandbox/catalog.py defines.
_KIND_SPECS = {
    "nvarchar": NAME,
    "int": INT,
    "bigint": TypeSpec(SqlType.BIGINT),
    "bit": TypeSpec(SqlType.BIT),
    "tinyint": TypeSpec(SqlType.TINYINT),
    "varbinary": TypeSpec(SqlType.VARBINARY, 85),
    "guid": TypeSpec(SqlType.UNIQUEIDENTIFIER),
}

# Isolation levels as sys.dm_exec_sessions numbers them.
ISOLATION_LEVELS = {"READ UNCOMMITTED": 1, "READ COMMITTED": 2, "REPEATABLE READ": 3, "SERIALIZABLE": 4, "SNAPSHOT": 5}


@dataclass
class CatalogContext:
    caller: Caller
    db: Database | None
    databases: list[tuple[str, bool]]
    conn: sqlite3.Connection
    isolation: str = "READ COMMITTED"
    lock_timeout: int = -1
    program: str = ""
    host: str = ""


Rows = list[dict[str, Any]]
Columns = list[tuple[str, TypeSpec]]


@dataclass(frozen=True)
class View:
    columns: Columns
    rows: Callable[[CatalogContext], Rows]
    needs_database: bool = True  # master has no contained users, roles or tables


def _legacy(key: str) -> View:
    cols, producer = RELATIONS[key]

    def rows(c: CatalogContext) -> Rows:
        assert c.db is not None
        return producer(c.db, c.caller)

    return View([(col.name, _KIND_SPECS[col.kind]) for col in cols], rows)


def _databases(c: CatalogContext) -> Rows:
    dbs = [("master", True), *c.databases]
    return [{"name": n, "database_id": i + 1, "state_desc": "ONLINE" if up else "OFFLINE"} for i, (n, up) in enumerate(dbs)]


def _sessions(c: CatalogContext) -> Rows:
    # Without VIEW DATABASE STATE a session sees only itself; that is what every client asks for.
    return [
        {
            "session_id": c.caller.spid,
            "login_name": c.caller.login,
            "original_login_name": c.caller.login,
            "nt_user_name": "",
            "host_name": c.host,
            "program_name": c.program,
            "status": "running",
            "database_id": next((i + 2 for i, (n, _) in enumerate(c.databases) if n.lower() == c.caller.database.lower()), 1),
            "transaction_isolation_level": ISOLATION_LEVELS.get(c.isolation, 2),
            "is_user_process": 1,
            "language": "us_english",
            "date_format": "mdy",
            "date_first": 7,
            "quoted_identifier": 1,
            "arithabort": 0,
            "ansi_nulls": 1,
            "lock_timeout": c.lock_timeout,
        }
    ]


_SESSION_COLUMNS: Columns = [
    ("session_id", TypeSpec(SqlType.SMALLINT)), ("login_name", NAME), ("original_login_name", NAME), ("nt_user_name", NAME),
    ("host_name", NAME), ("program_name", NAME), ("status", TypeSpec(SqlType.NVARCHAR, 30)), ("database_id", TypeSpec(SqlType.SMALLINT)),
    ("transaction_isolation_level", TypeSpec(SqlType.SMALLINT)), ("is_user_process", TypeSpec(SqlType.BIT)),
    ("language", NAME), ("date_format", TypeSpec(SqlType.NVARCHAR, 3)), ("date_first", TypeSpec(SqlType.SMALLINT)),
    ("quoted_identifier", TypeSpec(SqlType.BIT)), ("arithabort", TypeSpec(SqlType.BIT)), ("ansi_nulls", TypeSpec(SqlType.BIT)),
    ("lock_timeout", INT),
]  # fmt: skip

# The dynamic management and catalog views this sandbox can answer, as sys.system_views lists them.
_SYSTEM_VIEWS = [
    "database_permissions",
    "database_principals",
    "database_role_members",
    "databases",
    "dm_exec_sessions",
    "schemas",
    "system_views",
    "tables",
]


def _system_views(c: CatalogContext) -> Rows:
    del c
    return [{"name": n, "object_id": -100 - i, "schema_id": 4, "type": "V", "type_desc": "VIEW"} for i, n in enumerate(_SYSTEM_VIEWS)]


def _schema_id(db: Database | None, name: str) -> int:
    if db is None:
        return 1
    return next((i + 1 for i, s in enumerate(db.schemas) if s.lower() == name.lower()), 0)


def _tables(c: CatalogContext) -> Rows:
    return [
        {"name": t.name, "object_id": t.object_id, "schema_id": _schema_id(c.db, t.schema), "type": "U", "type_desc": "USER_TABLE"}
        for t in storage.tables(c.conn)
    ]


def _objects(c: CatalogContext) -> Rows:
    # User tables only: the sandbox has no views, procedures or constraints as objects of their own.
    return [
        {"name": t.name, "object_id": t.object_id, "principal_id": None, "schema_id": _schema_id(c.db, t.schema), "parent_object_id": 0,
         "type": "U", "type_desc": "USER_TABLE", "is_ms_shipped": 0}
        for t in storage.tables(c.conn)
    ]  # fmt: skip


# sys.types: (name, system_type_id, max_length, precision, scale) of the types the sandbox stores.
_TYPES = [
    ("tinyint", 48, 1, 3, 0), ("smallint", 52, 2, 5, 0), ("int", 56, 4, 10, 0), ("bigint", 127, 8, 19, 0), ("bit", 104, 1, 1, 0),
    ("decimal", 106, 17, 38, 38), ("numeric", 108, 17, 38, 38), ("money", 60, 8, 19, 4), ("real", 59, 4, 24, 0), ("float", 62, 8, 53, 0),
    ("date", 40, 3, 10, 0), ("time", 41, 5, 16, 7), ("datetime", 61, 8, 23, 3), ("datetime2", 42, 8, 27, 7), ("datetimeoffset", 43, 10, 34, 7),
    ("uniqueidentifier", 36, 16, 0, 0), ("varbinary", 165, 8000, 0, 0), ("varchar", 167, 8000, 0, 0), ("nvarchar", 231, 8000, 0, 0),
]  # fmt: skip
_TYPE_IDS = {name: (tid, length, precision, scale) for name, tid, length, precision, scale in _TYPES}


def _types(c: CatalogContext) -> Rows:
    del c
    return [
        {"name": n, "system_type_id": t, "user_type_id": t, "schema_id": 4, "max_length": length, "precision": p, "scale": sc,
         "collation_name": "SQL_Latin1_General_CP1_CI_AS" if n in ("varchar", "nvarchar") else None, "is_nullable": 1, "is_user_defined": 0}
        for n, t, length, p, sc in _TYPES
    ]  # fmt: skip


def _column_rows(c: CatalogContext) -> Rows:
    rows: Rows = []
    for t in storage.tables(c.conn):
        for i, col in enumerate(t.columns):
            s = col.spec
            name = str(s.type)
            tid, length, precision, scale = _TYPE_IDS[name]
            if s.type in (SqlType.NVARCHAR, SqlType.VARCHAR, SqlType.VARBINARY):
                length = -1 if s.is_max else (s.length or 1) * (2 if s.type == SqlType.NVARCHAR else 1)
            elif s.type == SqlType.DECIMAL:
                precision, scale = s.precision, s.scale
                length = 5 if precision <= 9 else 9 if precision <= 19 else 13 if precision <= 28 else 17
            elif s.type in (SqlType.TIME, SqlType.DATETIME2, SqlType.DATETIMEOFFSET):
                scale = s.scale
            rows.append({
                "object_id": t.object_id, "name": col.name, "column_id": i + 1, "system_type_id": tid, "user_type_id": tid,
                "max_length": length, "precision": precision, "scale": scale, "is_nullable": int(col.nullable),
                "collation_name": "SQL_Latin1_General_CP1_CI_AS" if s.type in (SqlType.NVARCHAR, SqlType.VARCHAR) else None,
                "default_object_id": t.object_id + 100 + i if col.default else 0, "is_identity": int(col.identity), "is_computed": 0,
                "_default": col.default, "_seed": col.seed,
            })  # fmt: skip
    return rows


def _default_constraints(c: CatalogContext) -> Rows:
    return [
        {"name": f"DF__{r['name'][:8]}__{r['default_object_id']:X}", "object_id": r["default_object_id"], "parent_object_id": r["object_id"],
         "parent_column_id": r["column_id"], "definition": r["_default"], "type": "D", "type_desc": "DEFAULT_CONSTRAINT"}
        for r in _column_rows(c) if r["_default"]
    ]  # fmt: skip


def _identity_columns(c: CatalogContext) -> Rows:
    return [
        {
            "object_id": r["object_id"],
            "name": r["name"],
            "column_id": r["column_id"],
            "is_identity": 1,
            "seed_value": r["_seed"],
            "increment_value": 1,
            "last_value": None,
        }
        for r in _column_rows(c)
        if r["is_identity"]
    ]


def _info_tables(c: CatalogContext) -> Rows:
    return [
        {"TABLE_CATALOG": c.caller.database, "TABLE_SCHEMA": t.schema, "TABLE_NAME": t.name, "TABLE_TYPE": "BASE TABLE"}
        for t in storage.tables(c.conn)
    ]


def _info_columns(c: CatalogContext) -> Rows:
    rows: Rows = []
    for t in storage.tables(c.conn):
        for i, col in enumerate(t.columns):
            s = col.spec
            char_len = (-1 if s.is_max else s.length) if s.type in (SqlType.NVARCHAR, SqlType.VARCHAR, SqlType.VARBINARY) else None
            rows.append({
                "TABLE_CATALOG": c.caller.database, "TABLE_SCHEMA": t.schema, "TABLE_NAME": t.name, "COLUMN_NAME": col.name,
                "ORDINAL_POSITION": i + 1, "COLUMN_DEFAULT": None, "IS_NULLABLE": "YES" if col.nullable else "NO",
                "DATA_TYPE": types.type_name(s) if s.type != SqlType.DECIMAL else "decimal", "CHARACTER_MAXIMUM_LENGTH": char_len,
                "NUMERIC_PRECISION": s.precision if s.type == SqlType.DECIMAL else None,
                "NUMERIC_SCALE": s.scale if s.type == SqlType.DECIMAL else None, "COLLATION_NAME": None,
            })  # fmt: skip
    return rows


_TEXT = TypeSpec(SqlType.NVARCHAR, 4000)
VIEWS: dict[str, View] = {
    **{key: _legacy(key) for key in RELATIONS if key.startswith("sys.")},
    "sys.databases": View([("name", NAME), ("database_id", INT), ("state_desc", TypeSpec(SqlType.NVARCHAR, 60))], _databases, needs_database=False),
    "sys.dm_exec_sessions": View(_SESSION_COLUMNS, _sessions, needs_database=False),
    "sys.system_views": View(
        [("name", NAME), ("object_id", INT), ("schema_id", INT), ("type", TypeSpec(SqlType.VARCHAR, 2)), ("type_desc", TypeSpec(SqlType.NVARCHAR, 60))],
        _system_views,
        needs_database=False,
    ),
    "sys.tables": View(
        [("name", NAME), ("object_id", INT), ("schema_id", INT), ("type", TypeSpec(SqlType.VARCHAR, 2)), ("type_desc", TypeSpec(SqlType.NVARCHAR, 60))],
        _tables,
        needs_database=False,
    ),
    "sys.objects": View(
        [("name", NAME), ("object_id", INT), ("principal_id", INT), ("schema_id", INT), ("parent_object_id", INT),
         ("type", TypeSpec(SqlType.VARCHAR, 2)), ("type_desc", TypeSpec(SqlType.NVARCHAR, 60)), ("is_ms_shipped", TypeSpec(SqlType.BIT))],
        _objects,
        needs_database=False,
    ),
    "sys.types": View(
        [("name", NAME), ("system_type_id", TypeSpec(SqlType.TINYINT)), ("user_type_id", INT), ("schema_id", INT), ("max_length", TypeSpec(SqlType.SMALLINT)),
         ("precision", TypeSpec(SqlType.TINYINT)), ("scale", TypeSpec(SqlType.TINYINT)), ("collation_name", NAME), ("is_nullable", TypeSpec(SqlType.BIT)),
         ("is_user_defined", TypeSpec(SqlType.BIT))],
        _types,
        needs_database=False,
    ),
    "sys.columns": View(
        [("object_id", INT), ("name", NAME), ("column_id", INT), ("system_type_id", TypeSpec(SqlType.TINYINT)), ("user_type_id", INT),
         ("max_length", TypeSpec(SqlType.SMALLINT)), ("precision", TypeSpec(SqlType.TINYINT)), ("scale", TypeSpec(SqlType.TINYINT)),
         ("is_nullable", TypeSpec(SqlType.BIT)), ("collation_name", NAME), ("default_object_id", INT), ("is_identity", TypeSpec(SqlType.BIT)),
         ("is_computed", TypeSpec(SqlType.BIT))],
        _column_rows,
        needs_database=False,
    ),
    "sys.default_constraints": View(
        [("name", NAME), ("object_id", INT), ("parent_object_id", INT), ("parent_column_id", INT), ("definition", TypeSpec(SqlType.NVARCHAR, MAX)),
         ("type", TypeSpec(SqlType.VARCHAR, 2)), ("type_desc", TypeSpec(SqlType.NVARCHAR, 60))],
        _default_constraints,
        needs_database=False,
    ),
    "sys.identity_columns": View(
        [("object_id", INT), ("name", NAME), ("column_id", INT), ("is_identity", TypeSpec(SqlType.BIT)), ("seed_value", TypeSpec(SqlType.BIGINT)),
         ("increment_value", TypeSpec(SqlType.BIGINT)), ("last_value", TypeSpec(SqlType.BIGINT))],
        _identity_columns,
        needs_database=False,
    ),
    # The sandbox has no computed columns and stores no extended properties: the right columns, no rows.
    "sys.computed_columns": View(
        [("object_id", INT), ("name", NAME), ("column_id", INT), ("definition", TypeSpec(SqlType.NVARCHAR, MAX)), ("is_persisted", TypeSpec(SqlType.BIT))],
        lambda c: [],
        needs_database=False,
    ),
    "sys.extended_properties": View(
        [("class", TypeSpec(SqlType.TINYINT)), ("class_desc", TypeSpec(SqlType.NVARCHAR, 60)), ("major_id", INT), ("minor_id", INT), ("name", NAME),
         ("value", TypeSpec(SqlType.NVARCHAR, 4000))],
        lambda c: [],
        needs_database=False,
    ),
    "information_schema.tables": View(
        [("TABLE_CATALOG", NAME), ("TABLE_SCHEMA", NAME), ("TABLE_NAME", NAME), ("TABLE_TYPE", TypeSpec(SqlType.VARCHAR, 10))],
        _info_tables,
        needs_database=False,
    ),
    "information_schema.columns": View(
        [
            ("TABLE_CATALOG", NAME), ("TABLE_SCHEMA", NAME), ("TABLE_NAME", NAME), ("COLUMN_NAME", NAME), ("ORDINAL_POSITION", INT),
            ("COLUMN_DEFAULT", _TEXT), ("IS_NULLABLE", TypeSpec(SqlType.VARCHAR, 3)), ("DATA_TYPE", NAME),
            ("CHARACTER_MAXIMUM_LENGTH", INT), ("NUMERIC_PRECISION", TypeSpec(SqlType.TINYINT)), ("NUMERIC_SCALE", INT), ("COLLATION_NAME", NAME),
        ],
        _info_columns,
        needs_database=False,
    ),
}  # fmt: skip

# Table-valued functions: (columns, rows given the literal arguments), keyed by name.
_MY_PERMISSIONS = _legacy("fn_my_permissions(null,'database')")
_EXTENDED_PROPERTY_COLUMNS: Columns = [
    ("objtype", NAME),
    ("objname", NAME),
    ("name", NAME),
    ("value", TypeSpec(SqlType.NVARCHAR, MAX)),
]


def table_function(name: str, args: list[Any]) -> View | None:
    """fn_my_permissions(NULL, 'DATABASE') and fn_listextendedproperty(...); None for any other call."""
    low = name.lower()
    if low == "fn_my_permissions" and len(args) == 2 and args[0] is None and str(args[1]).upper() == "DATABASE":
        return _MY_PERMISSIONS
    if low == "fn_listextendedproperty" and len(args) == 7:
        # The sandbox stores no extended properties: the right columns and no rows is the true answer.
        return View(_EXTENDED_PROPERTY_COLUMNS, lambda c: [], needs_database=False)
    return None

"""Catalog views and table-valued functions, as rows the query engine joins and filters like tables.

The security views grant and doctor read (sys.database_principals, role members,
permissions, schemas, fn_my_permissions, sys.databases) come from the state through
``catalog/security_views.py``; the ones drivers and ORMs read on connect and for reflection
(sys.dm_exec_sessions for the current session, sys.system_views,
fn_listextendedproperty, sys.tables, INFORMATION_SCHEMA.TABLES/COLUMNS) are added
here. A query materialises only the views it names, per statement, into SQLite temp
tables, so WHERE, JOIN, ORDER BY and TOP work on them exactly as on user tables.
"""

from __future__ import annotations

from typing import Any

from ..sqltypes import MAX, SqlType, TypeSpec
from . import schema_views
from .model import INT, NAME, CatalogContext, Columns, Rows, View
from .security_views import RELATIONS

# Isolation levels as sys.dm_exec_sessions numbers them.
ISOLATION_LEVELS = {"READ UNCOMMITTED": 1, "READ COMMITTED": 2, "REPEATABLE READ": 3, "SERIALIZABLE": 4, "SNAPSHOT": 5}


def _legacy(key: str) -> View:
    cols, producer = RELATIONS[key]

    def rows(c: CatalogContext) -> Rows:
        assert c.db is not None
        return producer(c.db, c.caller)

    return View(list(cols), rows)


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


def _system_views(c: CatalogContext) -> Rows:
    """The catalog and dynamic management views this sandbox answers, as sys.system_views lists them."""
    del c
    names = sorted(k.removeprefix("sys.") for k in [*VIEWS, *schema_views.VIEWS] if k.startswith("sys."))
    return [{"name": n, "object_id": -100 - i, "schema_id": 4, "type": "V", "type_desc": "VIEW"} for i, n in enumerate(names)]


VIEWS: dict[str, View] = {
    **{key: _legacy(key) for key in RELATIONS if key.startswith("sys.")},
    "sys.databases": View([("name", NAME), ("database_id", INT), ("state_desc", TypeSpec(SqlType.NVARCHAR, 60))], _databases, needs_database=False),
    "sys.dm_exec_sessions": View(_SESSION_COLUMNS, _sessions, needs_database=False),
    "sys.system_views": View(
        [("name", NAME), ("object_id", INT), ("schema_id", INT), ("type", TypeSpec(SqlType.VARCHAR, 2)), ("type_desc", TypeSpec(SqlType.NVARCHAR, 60))],
        _system_views,
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


def view(key: str) -> View | None:
    """A catalog view by its lower-cased two-part name: the user schema's (catalog_schema) or the session and security ones here."""
    return schema_views.VIEWS.get(key) or VIEWS.get(key)


def table_function(name: str, args: list[Any]) -> View | None:
    """fn_my_permissions(NULL, 'DATABASE') and fn_listextendedproperty(...); None for any other call."""
    low = name.lower()
    if low == "fn_my_permissions" and len(args) == 2 and args[0] is None and str(args[1]).upper() == "DATABASE":
        return _MY_PERMISSIONS
    if low == "fn_listextendedproperty" and len(args) == 7:
        # The sandbox stores no extended properties: the right columns and no rows is the true answer.
        return View(_EXTENDED_PROPERTY_COLUMNS, lambda c: [], needs_database=False)
    return None

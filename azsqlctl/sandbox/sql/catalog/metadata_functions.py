"""The metadata and string built-ins ORMs and drivers call, as SQLite functions over the schema model.

OBJECT_ID, OBJECT_NAME, COL_NAME, COL_LENGTH, OBJECTPROPERTY, COLUMNPROPERTY, IDENT_CURRENT/SEED/INCR,
TYPE_NAME/TYPE_ID and SCHEMA_ID answer from the tables' models (``catalog_schema``) and, like SQL
Server's, return NULL for an object the caller may not see (metadata visibility). REVERSE, LEFT, RIGHT,
REPLICATE, SPACE, STUFF and QUOTENAME are the string built-ins SQLite lacks (LEFT and RIGHT as az_left and
az_right: SQLite reads LEFT( as a join). Names are registered as
T-SQL spells them: the translator passes these calls through unchanged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from ..engine import ownership, storage, types, views
from ..engine.context import StatementSession
from ..engine.storage import TableInfo
from . import schema_views as catalog_schema

# OBJECTPROPERTY names: what each says of a table (U) or a constraint (PK, UQ, F, C, D).
_OBJECT_PROPERTIES: dict[str, Callable[[str, TableInfo], int]] = {
    "isusertable": lambda kind, t: int(kind == "U"),
    "istable": lambda kind, t: int(kind == "U"),
    "isview": lambda kind, t: int(kind == "V"),
    "isprocedure": lambda kind, t: 0,
    "isconstraint": lambda kind, t: int(kind in ("PK", "UQ", "F", "C", "D")),
    "isprimarykey": lambda kind, t: int(kind == "PK"),
    "isforeignkey": lambda kind, t: int(kind == "F"),
    "ischeckcnst": lambda kind, t: int(kind == "C"),
    "isdefaultcnst": lambda kind, t: int(kind == "D"),
    "isuniquecnst": lambda kind, t: int(kind == "UQ"),
    "ismsshipped": lambda kind, t: 0,
    "tablehasprimarykey": lambda kind, t: int(kind == "U" and any(k.kind == "PRIMARY KEY" for k in t.keys)),
    "tablehasidentity": lambda kind, t: int(kind == "U" and any(c.identity for c in t.columns)),
    "tablehasforeignkey": lambda kind, t: int(kind == "U" and any(k.kind == "FOREIGN KEY" for k in t.keys)),
    "tablehasindex": lambda kind, t: int(kind == "U" and bool(t.indexes or any(k.kind in ("PRIMARY KEY", "UNIQUE KEY") for k in t.keys))),
    "tablehasclustindex": lambda kind, t: int(kind == "U" and any(i.clustered for i in catalog_schema.indexes(t))),
}


def register(session: StatementSession, guard: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    def visible() -> list[TableInfo]:
        db = session.db()
        if db is None:
            return []
        owners = ownership.object_owners(session.conn)
        return [t for t in storage.tables(session.conn) if catalog_schema.visible(db, session.user, t, owners.get(t.object_id))]

    def visible_views() -> list[views.ViewInfo]:
        db = session.db()
        owners = ownership.object_owners(session.conn)
        return [
            v
            for v in views.all_views(session.conn)
            if db is not None and catalog_schema.visible_schema(db, session.user, v.schema, owners.get(v.object_id))
        ]

    def split(name: Any) -> tuple[str, str] | None:
        parts = [p.strip().strip('[]"') for p in str(name).split(".")]
        if len(parts) > 3 or (len(parts) == 3 and parts[0].lower() != session.ctx.database.lower()):
            return None
        return (parts[-2] if len(parts) >= 2 and parts[-2] else "dbo"), parts[-1]

    def object_id(name: Any, kind: Any = None) -> Any:
        if name is None:
            return None
        target = split(name)
        found = catalog_schema.find_object(visible(), *target, visible_views()) if target else None
        if found is None or (kind is not None and str(kind).strip().upper() != found[1]):
            return None
        return found[0]

    def by_id(object_id_: Any) -> tuple[str, str, TableInfo] | None:
        return None if object_id_ is None else catalog_schema.object_by_id(visible(), int(object_id_), visible_views())

    def object_name(object_id_: Any, database_id: Any = None) -> Any:
        del database_id  # one database per connection (Azure SQL Database)
        found = by_id(object_id_)
        return found[0] if found else None

    def object_schema_name(object_id_: Any, database_id: Any = None) -> Any:
        del database_id
        found = by_id(object_id_)
        return found[2].schema if found else None

    def col_name(object_id_: Any, column_id: Any) -> Any:
        found = by_id(object_id_)
        if found is None or found[1] not in ("U", "V") or column_id is None or not 1 <= int(column_id) <= len(found[2].columns):
            return None
        return found[2].columns[int(column_id) - 1].name

    def col_length(table: Any, column: Any) -> Any:
        target = split(table) if table is not None else None
        found = catalog_schema.find_object(visible(), *target) if target else None
        col = found[2].column(str(column)) if found and found[1] in ("U", "V") and column is not None else None
        return None if col is None else catalog_schema.column_type(col)[1]

    def object_property(object_id_: Any, prop: Any) -> Any:
        found = by_id(object_id_)
        rule = _OBJECT_PROPERTIES.get(str(prop).lower()) if prop is not None else None
        return None if found is None or rule is None else rule(found[1], found[2])

    def column_property(object_id_: Any, column: Any, prop: Any) -> Any:
        found = by_id(object_id_)
        col = found[2].column(str(column)) if found and found[1] in ("U", "V") and column is not None else None
        if found is None or col is None or prop is None:
            return None
        values = {
            "isidentity": int(col.identity),
            "allowsnull": int(col.nullable),
            "iscomputed": 0,
            "precision": catalog_schema.column_type(col)[2] or catalog_schema.column_type(col)[1],
            "scale": catalog_schema.column_type(col)[3],
            "columnid": next(i + 1 for i, c in enumerate(found[2].columns) if c is col),
            "isrowguidcol": 0,
        }
        return values.get(str(prop).lower())

    def identity_of(name: Any) -> tuple[TableInfo, Any] | None:
        target = split(name) if name is not None else None
        found = catalog_schema.find_object(visible(), *target) if target else None
        if found is None or found[1] != "U":
            return None
        col = next((c for c in found[2].columns if c.identity), None)
        return (found[2], col) if col is not None else None

    def ident_current(name: Any) -> Any:
        found = identity_of(name)
        if found is None:
            return None
        row = session.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (found[0].key,)).fetchone()
        # Before the first row, IDENT_CURRENT is the seed, as SQL Server reports it.
        return row[0] if row and row[0] >= found[1].seed else found[1].seed

    def ident_seed(name: Any) -> Any:
        found = identity_of(name)
        return found[1].seed if found else None

    def ident_incr(name: Any) -> Any:
        return 1 if identity_of(name) else None

    def type_name(type_id: Any) -> Any:
        return next((n for n, (tid, *_rest) in catalog_schema.TYPE_IDS.items() if type_id is not None and tid == int(type_id)), None)

    def type_id(name: Any) -> Any:
        found = catalog_schema.TYPE_IDS.get(str(name).lower()) if name is not None else None
        return found[0] if found else None

    def schema_id(name: Any = None) -> Any:
        db = session.db()
        schemas = db.schemas if db is not None else ["dbo"]
        wanted = "dbo" if name is None else str(name)
        return next((i + 1 for i, s in enumerate(schemas) if s.lower() == wanted.lower()), None)

    def db_id(name: Any = None) -> Any:
        # As sys.databases numbers them: master is 1, the server's databases follow in order.
        names = ["master", *session.store.read(lambda s: [d.name for d in s.server.databases])]
        wanted = session.ctx.database if name is None else types.text(name)
        return next((i + 1 for i, n in enumerate(names) if n.lower() == wanted.lower()), None)

    for fname, fn, arities in (
        ("OBJECT_ID", object_id, (1, 2)), ("OBJECT_NAME", object_name, (1, 2)), ("OBJECT_SCHEMA_NAME", object_schema_name, (1, 2)),
        ("COL_NAME", col_name, (2,)), ("COL_LENGTH", col_length, (2,)), ("OBJECTPROPERTY", object_property, (2,)),
        ("OBJECTPROPERTYEX", object_property, (2,)), ("COLUMNPROPERTY", column_property, (3,)), ("IDENT_CURRENT", ident_current, (1,)),
        ("IDENT_SEED", ident_seed, (1,)), ("IDENT_INCR", ident_incr, (1,)), ("TYPE_NAME", type_name, (1,)), ("TYPE_ID", type_id, (1,)),
        ("SCHEMA_ID", schema_id, (0, 1)), ("DB_ID", db_id, (0, 1)),
    ):  # fmt: skip
        for n in arities:
            session.conn.create_function(fname, n, guard(fn))
    for fname, pure, n in (
        ("REVERSE", lambda s: None if s is None else types.text(s)[::-1], 1),
        ("az_left", lambda s, k: None if s is None or k is None else types.text(s)[: max(int(k), 0)], 2),
        ("az_right", lambda s, k: None if s is None or k is None else (types.text(s)[-int(k) :] if int(k) > 0 else ""), 2),
        ("REPLICATE", lambda s, k: None if s is None or k is None or int(k) < 0 else types.text(s) * int(k), 2),
        ("SPACE", lambda k: None if k is None or int(k) < 0 else " " * int(k), 1),
        ("STUFF", _stuff, 4),
        ("QUOTENAME", lambda s: None if s is None else "[" + types.text(s).replace("]", "]]") + "]", 1),
        ("az_like", like, 2),
    ):
        session.conn.create_function(fname, n, guard(pure), deterministic=True)


def _stuff(s: Any, start: Any, length: Any, insert: Any) -> Any:
    if s is None or start is None or length is None:
        return None
    text, i, n = types.text(s), int(start), int(length)
    if i < 1 or i > len(text) or n < 0:
        return None
    return text[: i - 1] + ("" if insert is None else types.text(insert)) + text[i - 1 + n :]


@functools.lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    """A T-SQL LIKE pattern as a regular expression: % _ [set] [^set] [a-z], case-insensitive as the default collation."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        elif c == "[" and pattern.find("]", i + 2) > 0:
            end = pattern.find("]", i + 2)  # a set's first character may be ] itself: [ ] ]
            body = pattern[i + 1 : end]
            negate = body.startswith("^") and len(body) > 1
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + "".join("\\" + ch if ch in "\\]^[" else ch for ch in body) + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def like(value: Any, pattern: Any) -> int | None:
    if value is None or pattern is None:
        return None
    return int(_pattern(types.text(pattern)).fullmatch(types.text(value)) is not None)

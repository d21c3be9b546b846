"""CREATE [OR ALTER] VIEW, ALTER VIEW and DROP VIEW: a view is its SELECT, kept in the schema model.

A view's definition (the statement as written, for sys.sql_modules), its query and its result columns
live in ``__azsqlctl_views`` beside the tables' model, in the same SQLite file, so they commit and roll
back with the data. A query that names a view reads it as a derived table (``expand``), as SQL Server's
view expansion does. Permissions follow ownership chaining (Microsoft Learn, "Ownership Chains"): the caller
needs SELECT on the view; an object the view reads that has the view's owner (its own owner, or its schema's:
``ownership.effective_owner``) is not checked again, and one with another owner breaks the chain and is
checked for the caller, as SQL Server does.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from ..security import permissions
from ..sqltypes import SqlType, TypeSpec
from . import errors, ownership, translate
from .context import StatementSession
from .errors import SqlError
from .results import CMD_DDL, StatementResult
from .storage import TableInfo

META = "__azsqlctl_views"
_FIRST_ID = 1_509_580_416  # view ids: a range of their own, far above the tables' (storage.next_object_id)
_NESTING = 32  # SQL Server's limit on nested views (error 217)


@dataclass
class ViewInfo:
    schema: str
    name: str
    object_id: int
    definition: str  # the CREATE VIEW statement as written (sys.sql_modules.definition)
    query: str  # the SELECT, as T-SQL
    columns: list[tuple[str, TypeSpec]]


def _ensure(conn: sqlite3.Connection) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {META} (schema_name TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL COLLATE NOCASE, "
        "object_id INTEGER NOT NULL, info TEXT NOT NULL, PRIMARY KEY (schema_name, name))"
    )


def _load(row: tuple[str, str, int, str]) -> ViewInfo:
    data = json.loads(row[3])
    columns = [(c["name"], TypeSpec(SqlType(c["type"]), c["length"], c["precision"], c["scale"])) for c in data["columns"]]
    return ViewInfo(row[0], row[1], row[2], data["definition"], data["query"], columns)


def _rows(conn: sqlite3.Connection, where: str = "", args: tuple[str, ...] = ()) -> list[tuple[str, str, int, str]]:
    """The stored views; none before the first CREATE VIEW made the table (readers never create it: no write lock)."""
    try:
        return list(conn.execute(f"SELECT schema_name, name, object_id, info FROM {META}{where} ORDER BY object_id", args))
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


def all_views(conn: sqlite3.Connection) -> list[ViewInfo]:
    return [_load(r) for r in _rows(conn)]


def find(conn: sqlite3.Connection, schema: str, name: str) -> ViewInfo | None:
    rows = _rows(conn, " WHERE schema_name = ? AND name = ?", (schema, name))
    return _load(rows[0]) if rows else None


def _save(conn: sqlite3.Connection, view: ViewInfo) -> None:
    info = {
        "definition": view.definition,
        "query": view.query,
        "columns": [
            {"name": n, "type": str(s.type), "length": s.length, "precision": s.precision, "scale": s.scale} for n, s in view.columns
        ],
    }
    _ensure(conn)
    conn.execute(f"DELETE FROM {META} WHERE schema_name = ? AND name = ?", (view.schema, view.name))
    conn.execute(f"INSERT INTO {META} VALUES (?, ?, ?, ?)", (view.schema, view.name, view.object_id, json.dumps(info)))


def create(
    session: StatementSession, tree: exp.Create | exp.Alter, text: str, run: Callable[[exp.Expression], StatementResult]
) -> StatementResult:
    """CREATE VIEW, CREATE OR ALTER VIEW (``replace``) and ALTER VIEW; ``run`` runs the SELECT (its columns are the view's)."""
    target = tree.this
    names = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else []
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(table, exp.Table):
        raise errors.syntax("VIEW")
    if table.catalog and table.catalog.lower() != session.ctx.database.lower():
        raise errors.cross_database(translate.qualified_name(table))
    query = tree.expression if isinstance(tree, exp.Create) else next(iter(tree.args.get("actions") or []), None)
    if not isinstance(query, exp.Select | exp.SetOperation):
        raise errors.syntax("AS")
    if isinstance(tree, exp.Create) and tree.args.get("properties"):
        raise errors.unsupported(f"CREATE VIEW ... WITH {tree.args['properties'].sql(dialect='tsql')}")
    db = session.db()
    schema = table.db or "dbo"
    real = next((s for s in (db.schemas if db else []) if s.lower() == schema.lower()), None)
    if db is None or not permissions.has(db, session.user, "CREATE VIEW"):
        raise errors.database_permission_denied("CREATE VIEW", session.ctx.database)
    if real is None or not permissions.may_alter_schema(db, session.user, real):
        raise errors.schema_unusable(schema)
    existing = find(session.conn, real, table.name)
    altering = isinstance(tree, exp.Alter) or bool(tree.args.get("replace"))
    if isinstance(tree, exp.Alter) and existing is None:
        raise errors.invalid_object(translate.qualified_name(table))
    if (existing is not None and not altering) or session.table_info(real, table.name) is not None:
        raise errors.object_exists(table.name)
    result = run(query.copy()).result  # a copy: running rewrites the tree; the view's T-SQL text is made from it below
    columns = result.columns if result is not None else ()
    declared = [(c.name, c.spec) for c in columns]
    if names:
        if len(names) != len(declared):
            raise SqlError(8158, f"'{table.name}' has more columns than were specified in the column list.")
        declared = [(n, spec) for n, (_old, spec) in zip(names, declared, strict=True)]
    for i, (name, _spec) in enumerate(declared):
        if not name:
            raise SqlError(4511, f"Create View or Function failed because no column name was specified for column {i + 1}.")
    query_sql = _renamed(query, [c.name for c in columns], names) if names else query.sql(dialect="tsql")
    object_id = existing.object_id if existing is not None else _next_id(session.conn)
    _save(session.conn, ViewInfo(real, table.name, object_id, text, query_sql, declared))
    return StatementResult(command=CMD_DDL)


def _renamed(query: exp.Expression, old: list[str], new: list[str]) -> str:
    """The view's SELECT with its columns named as the view's column list says."""
    inner = exp.Subquery(this=query.copy(), alias=exp.TableAlias(this=exp.to_identifier("__v")))
    picks = [exp.alias_(exp.column(o, table="__v"), n) for o, n in zip(old, new, strict=True)]
    return exp.select(*picks).from_(inner).sql(dialect="tsql")


def _next_id(conn: sqlite3.Connection) -> int:
    _ensure(conn)
    (top,) = conn.execute(f"SELECT COALESCE(MAX(object_id), ?) FROM {META}", (_FIRST_ID,)).fetchone()
    return int(top) + 16003


def drop(session: StatementSession, tree: exp.Drop) -> StatementResult:
    db = session.db()
    for table in tree.args.get("tables") or []:
        schema = table.db or "dbo"
        view = find(session.conn, schema, table.name)
        if view is None or db is None or not permissions.may_alter_schema(db, session.user, view.schema):
            if view is None and tree.args.get("exists"):
                continue
            raise SqlError(
                3701,
                f"Cannot drop the view '{translate.qualified_name(table)}', because it does not exist or you do not have permission.",
                11,
                5,
            )
        session.conn.execute(f"DELETE FROM {META} WHERE schema_name = ? AND name = ?", (view.schema, view.name))
        ownership.forget_object(session.conn, view.object_id)
    return StatementResult(command=CMD_DDL)


def expand(session: StatementSession, tree: exp.Expression, depth: int = 0, chain: str | None = None) -> None:
    """Replace each view a query names by its SELECT, as a derived table under the view's name.

    ``chain``: the owner of the view whose SELECT ``tree`` is (None for the caller's own query)."""
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for node in list(tree.find_all(exp.Table)):
        if node.meta.get("az_owned") or isinstance(node.this, exp.Parameter | exp.Anonymous):
            continue
        schema = node.db or ""
        if schema.lower() in ("sys", "information_schema") or (not schema and node.name.lower() in ctes):
            continue
        if session.table_info(schema or "dbo", node.name) is not None:
            continue
        view = find(session.conn, schema or "dbo", node.name)
        if view is None:
            continue
        if depth >= _NESTING:
            raise SqlError(217, "Maximum stored procedure, function, trigger, or view nesting level exceeded (limit 32).")
        db = session.db()
        owner = ownership.effective_owner(db, session.conn, view.schema, view.object_id).lower() if db is not None else None
        if chain is None or owner != chain:
            session.require("SELECT", TableInfo(view.schema, view.name, view.object_id, []))
        body = translate.parse(view.query)
        expand(session, body, depth + 1, owner)
        for inner in body.find_all(exp.Table):
            if inner.meta.get("az_chained"):
                continue  # a nested view's table: that view's owner decided
            inner.meta["az_chained"] = True
            info = session.table_info(inner.db or "dbo", inner.name)
            if info is None or db is None or ownership.effective_owner(db, session.conn, info.schema, info.object_id).lower() == owner:
                inner.meta["az_owned"] = True  # ownership chaining: the view's owner owns what it reads
        node.replace(exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(node.alias or node.name))))


def refuse_write(session: StatementSession, node: exp.Expression) -> None:
    """INSERT/UPDATE/DELETE through a view: not something the sandbox does."""
    if isinstance(node, exp.Table) and find(session.conn, node.db or "dbo", node.name) is not None:
        raise errors.unsupported(f"changing data through the view {translate.qualified_name(node)}")

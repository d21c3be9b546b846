"""CREATE and DROP SCHEMA: schemas live in the state (with their permissions), not in SQLite."""

from __future__ import annotations

from sqlglot import exp

from ...state import SandboxState
from ..security import permissions
from . import errors, storage
from .context import StatementSession
from .errors import SqlError
from .results import CMD_DDL, StatementResult


def create_schema(session: StatementSession, tree: exp.Create) -> StatementResult:
    name = _schema_name(tree)
    db = session.db()
    if db is None or not permissions.has(db, session.user, "CREATE SCHEMA"):
        raise errors.database_permission_denied("CREATE SCHEMA", session.ctx.database)
    if any(s.lower() == name.lower() for s in [*db.schemas, "sys", "INFORMATION_SCHEMA", "guest"]):
        raise errors.object_exists(name)

    def add(s: SandboxState) -> None:
        session.mutable_db(s).schemas.append(name)

    session.store.read(add)
    return StatementResult(command=CMD_DDL)


def drop_schema(session: StatementSession, tree: exp.Drop) -> StatementResult:
    name = _schema_name(tree)
    db = session.db()
    real = next((s for s in (db.schemas if db else []) if s.lower() == name.lower()), None)
    if db is None or real is None or not permissions.may_alter_schema(db, session.user, real) or real.lower() == "dbo":
        if real is None and tree.args.get("exists"):
            return StatementResult(command=CMD_DDL)
        raise SqlError(15151, f"Cannot drop the schema '{name}', because it does not exist or you do not have permission.")
    in_use = next((t for t in storage.tables(session.conn) if t.schema.lower() == real.lower()), None)
    if in_use is not None:
        raise errors.schema_in_use(real, in_use.name)

    def remove(s: SandboxState) -> None:
        work = session.mutable_db(s)
        work.schemas = [x for x in work.schemas if x.lower() != real.lower()]
        work.schema_owners = {s: o for s, o in work.schema_owners.items() if s.lower() != real.lower()}
        work.permissions = [p for p in work.permissions if not (p.scope == "SCHEMA" and p.target.lower() == real.lower())]

    session.store.read(remove)
    return StatementResult(command=CMD_DDL)


def _schema_name(tree: exp.Expression) -> str:
    """CREATE/DROP SCHEMA name: sqlglot parses the name as a Table whose ``db`` is the schema."""
    node = tree.this if tree.this is not None else (tree.args.get("tables") or [None])[0]
    if isinstance(node, exp.Table):
        return node.db or node.name
    if isinstance(node, exp.Expression):
        return node.name
    raise errors.syntax("SCHEMA")

"""CREATE and DROP SCHEMA: schemas live in the state (with their permissions and owners), not in SQLite.

CREATE SCHEMA name [AUTHORIZATION owner] (Microsoft Learn, "CREATE SCHEMA (Transact-SQL)",
https://learn.microsoft.com/en-us/sql/t-sql/statements/create-schema-transact-sql): CREATE SCHEMA permission on the
database and, to name an owner other than oneself, IMPERSONATE on that user or membership in / ALTER on that role
(``ownership``). The schema elements that may follow (CREATE TABLE/VIEW, GRANT, REVOKE, DENY in the same
statement) are refused with 40517 naming them: the sandbox runs them as statements of their own.
"""

from __future__ import annotations

from sqlglot import exp

from ...state import SandboxState
from ..security import permissions
from . import errors, ownership, storage
from .context import StatementSession
from .errors import SqlError
from .lexer import Tok
from .principal_ddl import Parser
from .results import CMD_DDL, StatementResult


def create_schema(session: StatementSession, toks: list[Tok]) -> StatementResult:
    p = Parser(toks)
    p.word("CREATE")
    p.word("SCHEMA")
    if p.peek("AUTHORIZATION"):  # CREATE SCHEMA AUTHORIZATION owner: the schema takes the owner's name
        raise errors.unsupported("CREATE SCHEMA AUTHORIZATION without a schema name")
    name = p.name()
    owner: str | None = None
    if p.peek("AUTHORIZATION"):
        p.word("AUTHORIZATION")
        owner = p.name()
    if not p.done():
        element = " ".join(t.text.upper() for t in toks[p.i : p.i + 2])
        raise errors.unsupported(f"CREATE SCHEMA with schema elements ({element} ...)")
    db = session.db()
    if db is None or not permissions.has(db, session.user, "CREATE SCHEMA"):
        raise errors.database_permission_denied("CREATE SCHEMA", session.ctx.database)
    if any(s.lower() == name.lower() for s in [*db.schemas, "sys", "INFORMATION_SCHEMA", "guest"]):
        raise errors.object_exists(name)
    real_owner = ownership.create_owner(db, session.user, owner) if owner is not None else None

    def add(s: SandboxState) -> None:
        work = session.mutable_db(s)
        work.schemas.append(name)
        if real_owner is not None and real_owner.lower() != "dbo":
            work.schema_owners[name] = real_owner

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

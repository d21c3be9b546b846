"""Who owns a schema or an object, and ALTER AUTHORIZATION, as Azure SQL Database answers it.

Microsoft Learn, "ALTER AUTHORIZATION (Transact-SQL)"
(https://learn.microsoft.com/en-us/sql/t-sql/statements/alter-authorization-transact-sql): ``ALTER AUTHORIZATION
ON [ <class_type>:: ] entity_name TO { principal_name | SCHEMA OWNER }``, OBJECT the default class; SCHEMA OWNER
is valid only for schema-contained entities and gives the entity back to its schema's owner; when an entity
(other than a database) moves to a new owner, all permissions on it are dropped. Permissions: TAKE OWNERSHIP on
the entity and, when the new owner is not the caller, IMPERSONATE on a new owner that is a user, or membership in
(or ALTER on) a new owner that is a role.

Where the sandbox keeps it:
- a schema's owner is the database's security state (``Database.schema_owners``; absent: dbo), changed through
  the session's working copy like every other security DDL, so it commits and rolls back with the transaction
  and is saved in the state file;
- an object's explicit owner is a row of ``__azsqlctl_owners`` (object id -> principal name) in the database's
  SQLite file, beside the tables' and views' model, so it commits and rolls back with the DDL that made it and
  goes when the object is dropped. No row: the object belongs to its schema's owner, and sys.objects.principal_id
  is NULL (Microsoft Learn, "sys.objects": "ID of the individual owner, if different from the schema owner ...
  NULL if there is no alternate individual owner"), while ``TO dbo`` on a dbo schema's table records dbo (1).

What is modelled of the permission hierarchy (Microsoft Learn, "Permissions hierarchy (Database Engine)"):
an owner holds CONTROL on what it owns -- a schema's owner on the schema and so on every object in it, an
object's owner on the object --, and an owner that is a role shares it with the role's members; CONTROL on the
database (dbo, db_owner, GRANT CONTROL) implies TAKE OWNERSHIP on everything and IMPERSONATE on every user; TAKE
OWNERSHIP and CONTROL granted on a schema imply TAKE OWNERSHIP on its objects; ALTER ANY ROLE implies ALTER on
every role. The sandbox has no IMPERSONATE grant of its own: without CONTROL on the database a caller may give
ownership only to itself or to a role as just said.

Errors (numbers and templates from Microsoft Learn, "Database Engine events and errors (15000 to 15999)"):
15151 "Cannot %S_MSG the %S_MSG '%.*ls', because it does not exist or you do not have permission." for a missing
entity or principal and for a caller without the permission (SQL Server does not say which), 15150 "Cannot
%S_MSG the %S_MSG '%.*ls'." for the schemas nobody may give away (dbo, guest, sys, INFORMATION_SCHEMA), 156 for an
unbracketed ``public`` (a reserved word), 15346
"Cannot change owner for an object that is owned by a parent object. ..." is not reached: the sandbox's only
objects with a parent are constraints, which ALTER AUTHORIZATION cannot name (their names are not objects the
sandbox resolves), so they answer 15151.
"""

from __future__ import annotations

import sqlite3

from ...state import Database
from ..catalog.security_views import principals as principal_rows
from ..security import permissions
from .errors import SqlError, keyword_syntax
from .lexer import Tok
from .principal_ddl import Parser

OWNERS = "__azsqlctl_owners"
# Schemas every database has and nobody can give away (ALTER AUTHORIZATION ON SCHEMA::dbo answers 15150).
FIXED_SCHEMAS = frozenset({"dbo", "guest", "sys", "information_schema"})
_NOT_OWNERS = frozenset({"sys", "information_schema"})  # principals that cannot own anything


def not_found(kind: str, name: str) -> SqlError:
    return SqlError(15151, f"Cannot find the {kind} '{name}', because it does not exist or you do not have permission.")


# --- object owners in SQLite ---------------------------------------------------------------------


def _ensure(conn: sqlite3.Connection) -> None:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {OWNERS} (object_id INTEGER PRIMARY KEY, principal TEXT NOT NULL COLLATE NOCASE)")


def object_owners(conn: sqlite3.Connection) -> dict[int, str]:
    """Each object's explicit owner; none before the first ALTER AUTHORIZATION made the table (readers never create it)."""
    try:
        return {int(r[0]): str(r[1]) for r in conn.execute(f"SELECT object_id, principal FROM {OWNERS}")}
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return {}
        raise


def object_owner(conn: sqlite3.Connection, object_id: int) -> str | None:
    return object_owners(conn).get(object_id)


def set_object_owner(conn: sqlite3.Connection, object_id: int, principal: str | None) -> None:
    """Record (or, with None, clear: SCHEMA OWNER) an object's explicit owner."""
    _ensure(conn)
    conn.execute(f"DELETE FROM {OWNERS} WHERE object_id = ?", (object_id,))
    if principal is not None:
        conn.execute(f"INSERT INTO {OWNERS} VALUES (?, ?)", (object_id, principal))


def forget_object(conn: sqlite3.Connection, object_id: int) -> None:
    """A dropped object's owner goes with it (in the DROP's own SQLite transaction)."""
    if object_owners(conn).get(object_id) is not None:
        conn.execute(f"DELETE FROM {OWNERS} WHERE object_id = ?", (object_id,))


def owns_objects(conn: sqlite3.Connection, principal: str) -> bool:
    return any(p.lower() == principal.lower() for p in object_owners(conn).values())


def effective_owner(db: Database, conn: sqlite3.Connection, schema: str, object_id: int) -> str:
    """The principal that owns an object: its own owner, or its schema's (what ownership chaining compares)."""
    return object_owner(conn, object_id) or permissions.schema_owner(db, schema)


# --- who may give what to whom -------------------------------------------------------------------


def resolve_principal(db: Database, name: str) -> str:
    """The database principal named ``name`` as the catalog spells it; 15151 'user' when there is none."""
    real = next((str(r["name"]) for r in principal_rows(db) if str(r["name"]).lower() == name.lower()), None)
    if real is None:
        raise not_found("user", name)
    if real.lower() in _NOT_OWNERS:
        raise not_found("principal", name)
    return real


def may_give_to(db: Database, caller: str, owner: str) -> bool:
    """IMPERSONATE on a user (CONTROL on the database implies it), or membership in / ALTER on a role."""
    if owner.lower() == caller.lower() or permissions.has(db, caller, "CONTROL"):
        return True
    is_role = any(str(r["name"]).lower() == owner.lower() and r["type"] == "R" for r in principal_rows(db))
    return is_role and (owner.lower() in permissions.principals(db, caller) or permissions.has(db, caller, "ALTER ANY ROLE"))


def may_take(db: Database, caller: str, schema: str, object_owner_name: str | None = None) -> bool:
    """TAKE OWNERSHIP on a schema (``object_owner_name`` None) or on an object in it (whose own owner is given)."""
    return permissions.has(db, caller, "TAKE OWNERSHIP", schema, object_owner_name)


# --- ALTER AUTHORIZATION -------------------------------------------------------------------------


def parse(toks: list[Tok]) -> tuple[str, list[str], str | None]:
    """(class, the entity's name parts, the new owner or None for SCHEMA OWNER) of ALTER AUTHORIZATION."""
    p = Parser(toks)
    p.word("ALTER")
    p.word("AUTHORIZATION")
    p.word("ON")
    kind = "OBJECT"
    scope = next((j for j in range(p.i, len(toks)) if toks[j].text == "::"), None)
    if scope is not None and all(t.kind == "word" for t in toks[p.i : scope]):  # OBJECT::, SCHEMA::, XML SCHEMA COLLECTION:: ...
        kind = " ".join(t.text.upper() for t in toks[p.i : scope])
        p.i = scope
        p.punct("::")
    parts = [p.name()]
    while not p.done() and toks[p.i].text == ".":
        p.punct(".")
        parts.append(p.name())
    p.word("TO")
    if p.peek("SCHEMA") and p.i + 1 < len(toks) and toks[p.i + 1].is_word("OWNER"):
        p.i += 2
        p.end()
        return kind, parts, None
    if p.peek("PUBLIC"):  # a reserved word: only [public] names the role
        raise keyword_syntax(toks[p.i].text)
    owner = p.name()
    p.end()
    return kind, parts, owner


def alter_schema(db: Database, caller: str, name: str, owner: str | None) -> None:
    """ALTER AUTHORIZATION ON SCHEMA::name TO owner, on the session's working copy of the database's state."""
    real = next((s for s in [*db.schemas, "guest", "sys", "INFORMATION_SCHEMA"] if s.lower() == name.lower()), None)
    if real is None:
        raise not_found("schema", name)
    if owner is None:  # SCHEMA OWNER names nobody for a schema: SQL Server looks for a user of that name
        raise not_found("user", "SCHEMA OWNER")
    if real.lower() in FIXED_SCHEMAS:
        raise SqlError(15150, f"Cannot alter the schema '{real}'.")
    if not may_take(db, caller, real):
        raise not_found("schema", name)
    new = resolve_principal(db, owner)
    if not may_give_to(db, caller, new):
        raise not_found("principal", owner)
    old = permissions.schema_owner(db, real)
    db.schema_owners = {s: o for s, o in db.schema_owners.items() if s.lower() != real.lower()}
    if new.lower() != "dbo":
        db.schema_owners[real] = new
    if old.lower() != new.lower():  # a new owner: every permission on the schema is dropped
        db.permissions = [p for p in db.permissions if not (p.scope == "SCHEMA" and p.target.lower() == real.lower())]


def create_owner(db: Database, caller: str, owner: str) -> str:
    """CREATE SCHEMA ... AUTHORIZATION owner: the owner as the catalog spells it, if the caller may name it
    (Microsoft Learn, "CREATE SCHEMA (Transact-SQL)", Permissions: IMPERSONATE on a user, membership in or ALTER on a role)."""
    new = resolve_principal(db, owner)
    if not may_give_to(db, caller, new):
        raise not_found("user", owner)
    return new


def alter_object(db: Database, conn: sqlite3.Connection, caller: str, schema: str, object_id: int, name: str, owner: str | None) -> None:
    """ALTER AUTHORIZATION ON [OBJECT::]schema.name TO owner | SCHEMA OWNER, in the statement's SQLite transaction.

    The sandbox has no object-level permissions, so none are there to drop when the owner moves."""
    current = object_owner(conn, object_id)
    if not may_take(db, caller, schema, current):
        raise not_found("object", name)
    new = resolve_principal(db, owner) if owner is not None else None
    if new is not None and not may_give_to(db, caller, new):
        raise not_found("principal", owner or "")
    set_object_owner(conn, object_id, new)

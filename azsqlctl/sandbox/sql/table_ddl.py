"""CREATE, ALTER, TRUNCATE and DROP TABLE: a table's declared shape, its SQLite table and its keys."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlglot import exp

from ..sqltypes import SqlType
from . import errors, functions, permissions, storage, translate, types
from .errors import SqlError
from .results import CMD_DDL, Piece
from .storage import ColumnInfo, KeyInfo, TableInfo, quote

if TYPE_CHECKING:  # session.py imports this module: only the type comes back, or the imports would cycle
    from .session import SqlSession


def _schema_for_ddl(session: SqlSession, schema: str) -> str:
    db = session.db()
    real = next((s for s in (db.schemas if db else []) if s.lower() == schema.lower()), None)
    if db is None or real is None or not permissions.may_alter_schema(db, session.user, real):
        raise errors.schema_unusable(schema)
    return real


def create_table(session: SqlSession, tree: exp.Create) -> Piece:
    shape = tree.this
    if not isinstance(shape, exp.Schema) or not isinstance(shape.this, exp.Table):
        raise errors.unsupported("CREATE TABLE ... AS")
    table = shape.this
    if table.catalog and table.catalog.lower() != session.ctx.database.lower():
        raise errors.cross_database(translate._name(table))
    db = session.db()
    if db is None or not permissions.has(db, session.user, "CREATE TABLE"):
        raise errors.database_permission_denied("CREATE TABLE", session.ctx.database)
    schema = _schema_for_ddl(session, table.db or "dbo")
    if session._table(schema, table.name) is not None:
        raise errors.object_exists(table.name)
    if table.name.startswith("#"):
        raise errors.unsupported("temporary tables")
    info, ddl_sql, seed, _decls = _table_shape(session, schema, table.name, shape)
    session._exec(ddl_sql)
    storage.register(session.conn, info)
    if seed is not None and seed != 1:
        session._exec("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (info.key, seed - 1))
    return Piece(curcmd=CMD_DDL)


def _table_shape(session: SqlSession, schema: str, name: str, shape: exp.Schema) -> tuple[TableInfo, str, int | None, dict[str, str]]:
    """The table's declared shape, its SQLite CREATE TABLE, the IDENTITY seed and each column's SQLite declaration."""
    columns: list[ColumnInfo] = []
    defaults: dict[str, str] = {}
    keys: list[KeyInfo] = []
    seed: int | None = None
    foreign: list[tuple[str | None, list[str], exp.Expression]] = []
    tr = session._translator({})

    def key_name(kind: str, given: str | None) -> str:
        digest = hashlib.sha1(f"{schema}.{name}.{kind}.{len(keys)}".encode(), usedforsecurity=False).hexdigest()[:16].upper()
        return given or f"{'PK' if kind == 'PRIMARY KEY' else 'UQ'}__{name[:8]}__{digest}"

    for item in shape.expressions:
        if isinstance(item, exp.ColumnDef):
            kind_node = item.args.get("kind")
            if kind_node is None:
                raise errors.syntax(item.name)
            spec = types.spec_of(kind_node)
            col = ColumnInfo(item.name, spec)
            for constraint in item.constraints:
                k = constraint.kind
                given = constraint.name or None
                if isinstance(k, exp.NotNullColumnConstraint):
                    col.nullable = bool(k.args.get("allow_null"))
                elif isinstance(k, exp.PrimaryKeyColumnConstraint):
                    keys.append(KeyInfo(key_name("PRIMARY KEY", given), "PRIMARY KEY", [item.name]))
                elif isinstance(k, exp.UniqueColumnConstraint):
                    keys.append(KeyInfo(key_name("UNIQUE KEY", given), "UNIQUE KEY", [item.name]))
                elif isinstance(k, exp.DefaultColumnConstraint):
                    before = len(tr.resolved.binds)
                    sql = tr.sqlite(tr.rewrite(k.this.copy()))
                    if len(tr.resolved.binds) != before:
                        raise errors.unsupported(f"DEFAULT {k.this.sql(dialect='tsql')}")
                    defaults[item.name.lower()] = functions.conv(sql, col, "varchar", f"{session.ctx.database}.{schema}.{name}")
                    col.default = _default_text(k.this)
                elif isinstance(k, exp.GeneratedAsIdentityColumnConstraint):
                    increment = int(k.args["increment"].name) if k.args.get("increment") else 1
                    seed = int(k.args["start"].name) if k.args.get("start") else 1
                    if increment != 1:
                        raise errors.unsupported("IDENTITY with an increment other than 1")
                    col.identity = True
                    col.nullable = False
                    col.seed = seed
                elif isinstance(k, exp.AutoIncrementColumnConstraint):  # IDENTITY without (seed, increment)
                    seed = 1
                    col.identity = True
                    col.nullable = False
                elif isinstance(k, exp.Reference):
                    foreign.append((given, [item.name], k))
                elif isinstance(k, exp.CollateColumnConstraint):
                    pass  # every text column compares case-insensitively, as the default collation does
                else:
                    raise errors.unsupported(f"column constraint {constraint.sql(dialect='tsql')}")
            columns.append(col)
        elif isinstance(item, exp.Constraint | exp.PrimaryKey | exp.UniqueColumnConstraint | exp.ForeignKey):
            given = item.name if isinstance(item, exp.Constraint) else None
            for part in item.expressions if isinstance(item, exp.Constraint) else [item]:
                if isinstance(part, exp.PrimaryKey):
                    keys.append(KeyInfo(key_name("PRIMARY KEY", given), "PRIMARY KEY", [_column_name(e) for e in part.expressions]))
                elif isinstance(part, exp.ForeignKey):
                    foreign.append((given, [_column_name(e) for e in part.expressions], part.args["reference"]))
                elif isinstance(part, exp.UniqueColumnConstraint):
                    cols = part.this.expressions if isinstance(part.this, exp.Schema) else part.expressions
                    keys.append(KeyInfo(key_name("UNIQUE KEY", given), "UNIQUE KEY", [_column_name(e) for e in cols]))
                else:
                    raise errors.unsupported(f"table constraint {part.sql(dialect='tsql')}")
        else:
            raise errors.unsupported(f"table element {item.sql(dialect='tsql')}")
    by_name = {c.name.lower(): c for c in columns}
    if len(by_name) != len(columns):
        dup = next(c.name for c in columns if sum(x.name.lower() == c.name.lower() for x in columns) > 1)
        raise SqlError(
            2705,
            f"Column names in each table must be unique. Column name '{dup}' in table '{schema}.{name}' is specified more than once.",
        )
    primary = [k for k in keys if k.kind == "PRIMARY KEY"]
    if len(primary) > 1:
        raise SqlError(8110, f"Cannot add multiple PRIMARY KEY constraints to table '{schema}.{name}'.")
    for key in keys:
        for key_column in key.columns:
            if key_column.lower() not in by_name:
                raise SqlError(1911, f"Column name '{key_column}' does not exist in the target table or view.")
            if key.kind == "PRIMARY KEY":
                by_name[key_column.lower()].nullable = False
    for given, fk_columns, reference in foreign:
        keys.append(_foreign_key(session, schema, name, given, fk_columns, reference, columns, keys))
    identity = [c for c in columns if c.identity]
    if len(identity) > 1:
        raise SqlError(2744, f"Multiple identity columns specified for table '{name}'. Only one identity column per table is allowed.")
    rowid = identity[0] if identity else None
    if rowid is not None and (rowid.spec.type not in (SqlType.INT, SqlType.BIGINT, SqlType.SMALLINT, SqlType.TINYINT)):
        raise errors.unsupported("IDENTITY on a non-integer column")
    if rowid is not None and primary and [c.lower() for c in primary[0].columns] != [rowid.name.lower()]:
        raise errors.unsupported("IDENTITY on a column that is not the table's only PRIMARY KEY column")
    parts = []
    decls: dict[str, str] = {}
    for c in columns:
        if c is rowid:
            # SQLite's AUTOINCREMENT rowid is SQL Server's IDENTITY(seed, 1): never reused, even after rollback.
            parts.append(f"{quote(c.name)} INTEGER PRIMARY KEY AUTOINCREMENT")
            continue
        decl = f"{quote(c.name)} {types.affinity(c.spec)}"
        if not c.nullable:
            decl += " NOT NULL"
        if c.name.lower() in defaults:
            decl += f" DEFAULT ({defaults[c.name.lower()]})"
        parts.append(decl)
        decls[c.name.lower()] = decl
    for key in keys:
        if rowid is not None and key.kind == "PRIMARY KEY":
            continue
        if key.kind == "FOREIGN KEY":
            ref = ", ".join(quote(c) for c in key.ref_columns)
            parts.append(
                f"FOREIGN KEY ({', '.join(quote(by_name[c.lower()].name) for c in key.columns)}) REFERENCES {quote(key.ref_key)} ({ref})"
            )
            continue
        parts.append(
            f"{'PRIMARY KEY' if key.kind == 'PRIMARY KEY' else 'UNIQUE'} ({', '.join(quote(by_name[c.lower()].name) for c in key.columns)})"
        )
    info = TableInfo(schema, name, storage.next_object_id(session.conn), columns, keys)
    return info, f"CREATE TABLE {quote(info.key)} ({', '.join(parts)})", seed if rowid is not None else None, decls


def _altered(session: SqlSession, table: exp.Expression) -> TableInfo:
    """The table an ALTER TABLE or TRUNCATE TABLE names, if it exists and the caller may alter it (4902 otherwise)."""
    if not isinstance(table, exp.Table):
        raise errors.unsupported(table.sql(dialect="tsql"))
    info = session._table(table.db or "dbo", table.name)
    db = session.db()
    if (
        info is None
        or db is None
        or not (permissions.may_alter_schema(db, session.user, info.schema) or permissions.has(db, session.user, "CONTROL", info.schema))
    ):
        raise SqlError(4902, f'Cannot find the object "{translate._name(table)}" because it does not exist or you do not have permissions.')
    return info


def alter_table(session: SqlSession, tree: exp.Alter) -> Piece:
    info = _altered(session, tree.this)
    actions = tree.args.get("actions") or []
    if actions and all(isinstance(a, exp.ColumnDef) for a in actions):
        added, _sql, _seed, decls = _table_shape(session, info.schema, info.name, exp.Schema(expressions=[a.copy() for a in actions]))
        if added.keys or any(c.identity for c in added.columns):
            raise errors.unsupported("ALTER TABLE ADD with a PRIMARY KEY, UNIQUE or IDENTITY column")
        for col in added.columns:
            if info.column(col.name) is not None:
                raise SqlError(
                    2705,
                    f"Column names in each table must be unique. Column name '{col.name}' in table '{info.display}' is specified more than once.",
                )
            if not col.nullable and "DEFAULT" not in decls[col.name.lower()]:
                raise SqlError(
                    4901,
                    "ALTER TABLE only allows columns to be added that can contain nulls, or have a DEFAULT definition specified, or the column "
                    "being added is an identity or timestamp column, or alternatively if none of the previous conditions are satisfied the table "
                    f"must be empty to allow addition of this column. Column '{col.name}' cannot be added to non-empty table '{info.name}' "
                    "because it does not satisfy these conditions.",
                )
            decl = decls[col.name.lower()]
            if " DEFAULT (" in decl:
                # SQLite adds columns only with constant defaults: evaluate the T-SQL default once.
                head, default_sql = decl.split(" DEFAULT (", 1)
                if "az_now(" in default_sql or "az_newid(" in default_sql:
                    raise errors.unsupported("ALTER TABLE ADD with a DEFAULT that is not a constant")
                (value,) = session._exec(f"SELECT {default_sql[:-1]}").fetchone()
                decl = f"{head} DEFAULT ({exp.convert(value).sql(dialect='sqlite') if not isinstance(value, bytes) else 'X' + repr(value.hex())})"
            session._exec(f"ALTER TABLE {quote(info.key)} ADD COLUMN {decl}")
            info.columns.append(col)
    elif len(actions) == 1 and isinstance(actions[0], exp.Drop) and str(actions[0].args.get("kind", "")).upper() == "COLUMN":
        for target in actions[0].args.get("tables") or []:
            dropped = info.column(target.name)
            if dropped is None:
                raise SqlError(
                    4924, f"ALTER TABLE DROP COLUMN failed because column '{target.name}' does not exist in table '{info.name}'."
                )
            key = next((k for k in info.keys if dropped.name.lower() in (c.lower() for c in k.columns)), None)
            if key is not None or dropped.identity:
                raise SqlError(5074, f"The object '{key.name if key else 'IDENTITY'}' is dependent on column '{dropped.name}'.")
            session._exec(f"ALTER TABLE {quote(info.key)} DROP COLUMN {quote(dropped.name)}")
            info.columns.remove(dropped)
    else:
        raise errors.unsupported("ALTER TABLE other than ADD column / DROP COLUMN")
    storage.unregister(session.conn, info)
    storage.register(session.conn, info)
    return Piece(curcmd=CMD_DDL)


def truncate(session: SqlSession, tree: exp.TruncateTable) -> Piece:
    tables = tree.expressions
    if len(tables) != 1:
        raise errors.unsupported("TRUNCATE TABLE of several tables")
    info = _altered(session, tables[0])  # TRUNCATE needs ALTER on the table, as on SQL Server
    if _referencing(session, info) is not None:
        raise SqlError(4712, f"Cannot truncate table '{info.display}' because it is being referenced by a FOREIGN KEY constraint.")
    session._exec(f"DELETE FROM {quote(info.key)}")
    if any(c.identity for c in info.columns):
        session._exec("UPDATE sqlite_sequence SET seq = 0 WHERE name = ?", (info.key,))  # TRUNCATE reseeds IDENTITY
    return Piece(curcmd=CMD_DDL)


def _foreign_key(
    session: SqlSession,
    schema: str,
    name: str,
    given: str | None,
    columns: list[str],
    reference: exp.Expression,
    own: list[ColumnInfo],
    own_keys: list[KeyInfo],
) -> KeyInfo:
    """A FOREIGN KEY: it must reference a primary or unique key, and the caller needs REFERENCES on that table."""
    if reference.args.get("options"):
        raise errors.unsupported(f"FOREIGN KEY ... {' '.join(str(o) for o in reference.args['options'])}")
    target = reference.this.this if isinstance(reference.this, exp.Schema) else reference.this
    ref_columns = [c.name for c in reference.this.expressions] if isinstance(reference.this, exp.Schema) else []
    if not isinstance(target, exp.Table):
        raise errors.syntax("REFERENCES")
    ref_schema, ref_name = target.db or "dbo", target.name
    fk_name = (
        given
        or f"FK__{name[:10]}__{columns[0][:8]}__{hashlib.sha1(f'{schema}.{name}.{columns}'.encode(), usedforsecurity=False).hexdigest()[:16].upper()}"
    )
    if (ref_schema.lower(), ref_name.lower()) == (schema.lower(), name.lower()):
        ref_keys, ref_display, real_schema, real_name = own_keys, f"{schema}.{name}", schema, name
    else:
        ref = session._table(ref_schema, ref_name)
        if ref is None:
            raise SqlError(1767, f"Foreign key '{fk_name}' references invalid table '{translate._name(target)}'.")
        db = session.db()
        if db is None or not permissions.has(db, session.user, "REFERENCES", ref.schema):
            raise errors.permission_denied("REFERENCES", ref.name, session.ctx.database, ref.schema)
        ref_keys, ref_display, real_schema, real_name = ref.keys, ref.display, ref.schema, ref.name
    candidates = [k for k in ref_keys if k.kind in ("PRIMARY KEY", "UNIQUE KEY")]
    if not ref_columns:
        primary = next((k for k in candidates if k.kind == "PRIMARY KEY"), None)
        ref_columns = list(primary.columns) if primary else []
    if len(ref_columns) != len(columns) or not any(
        sorted(c.lower() for c in k.columns) == sorted(c.lower() for c in ref_columns) for k in candidates
    ):
        raise SqlError(
            1776,
            f"There are no primary or candidate keys in the referenced table '{ref_display}' that match the referencing column list in the foreign key '{fk_name}'.",
        )
    del own
    return KeyInfo(fk_name, "FOREIGN KEY", columns, real_schema, real_name, ref_columns)


def _referencing(session: SqlSession, info: TableInfo) -> TableInfo | None:
    """Another table with a FOREIGN KEY to ``info``, if any."""
    return next(
        (
            t
            for t in storage.tables(session.conn)
            if t.key.lower() != info.key.lower() and any(k.kind == "FOREIGN KEY" and k.ref_key.lower() == info.key.lower() for k in t.keys)
        ),
        None,
    )


def drop_table(session: SqlSession, tree: exp.Drop) -> Piece:
    tables = tree.args.get("tables") or ([tree.this] if tree.this is not None else [])
    if len(tables) != 1 or not isinstance(tables[0], exp.Table):
        raise errors.unsupported("DROP TABLE of several tables")
    table = tables[0]
    info = session._table(table.db or "dbo", table.name)
    db = session.db()
    if info is None:
        if tree.args.get("exists"):
            return Piece(curcmd=CMD_DDL)
        raise errors.cannot_drop_table(translate._name(table))
    if db is None or not (
        permissions.may_alter_schema(db, session.user, info.schema) or permissions.has(db, session.user, "CONTROL", info.schema)
    ):
        raise errors.cannot_drop_table(translate._name(table))
    referencing = _referencing(session, info)
    if referencing is not None:
        raise SqlError(3726, f"Could not drop object '{info.display}' because it is referenced by a FOREIGN KEY constraint.")
    session._exec(f"DROP TABLE {quote(info.key)}")
    storage.unregister(session.conn, info)
    return Piece(curcmd=CMD_DDL)


def _default_text(node: exp.Expression) -> str:
    """A DEFAULT as SQL Server stores it: ((0)) for numbers, ('x') for strings, (getdate()) for calls."""
    while isinstance(node, exp.Paren):
        node = node.this
    text = node.sql(dialect="tsql")
    if isinstance(node, exp.Literal) and not node.is_string:
        return f"(({text}))"
    if isinstance(node, exp.Anonymous | exp.Func):
        return f"({text.lower()})"
    return f"({text})"


def _column_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Ordered):
        node = node.this
    return node.name

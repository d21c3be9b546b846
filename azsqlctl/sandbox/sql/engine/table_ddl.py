"""CREATE, ALTER, TRUNCATE and DROP TABLE: a table's declared shape, its SQLite table and its keys."""

from __future__ import annotations

import hashlib

from sqlglot import exp

from ..security import permissions
from ..sqltypes import SqlType
from . import errors, functions, sqlite_schema, storage, translate, types
from .context import StatementSession
from .errors import SqlError
from .results import CMD_DDL, StatementResult
from .storage import ColumnInfo, KeyInfo, TableInfo, quote


def _schema_for_ddl(session: StatementSession, schema: str) -> str:
    db = session.db()
    real = next((s for s in (db.schemas if db else []) if s.lower() == schema.lower()), None)
    if db is None or real is None or not permissions.may_alter_schema(db, session.user, real):
        raise errors.schema_unusable(schema)
    return real


def create_table(session: StatementSession, tree: exp.Create) -> StatementResult:
    shape = tree.this
    if not isinstance(shape, exp.Schema) or not isinstance(shape.this, exp.Table):
        raise errors.unsupported("CREATE TABLE ... AS")
    table = shape.this
    if table.catalog and table.catalog.lower() != session.ctx.database.lower():
        raise errors.cross_database(translate.qualified_name(table))
    db = session.db()
    if db is None or not permissions.has(db, session.user, "CREATE TABLE"):
        raise errors.database_permission_denied("CREATE TABLE", session.ctx.database)
    schema = _schema_for_ddl(session, table.db or "dbo")
    if session.table_info(schema, table.name) is not None:
        raise errors.object_exists(table.name)
    if table.name.startswith("#"):
        raise errors.unsupported("temporary tables")
    info, seed = table_shape(session, schema, table.name, shape)
    sqlite_schema.create(session.conn, info, seed)
    return StatementResult(command=CMD_DDL)


def _generated_name(prefix: str, table: str, column: str, salt: str) -> str:
    """A constraint name as SQL Server makes one: PK__orders__3213E83F..., DF__orders__status__..."""
    digest = hashlib.sha1(salt.encode(), usedforsecurity=False).hexdigest()[:16].upper()
    middle = f"{table[:8]}__{column[:8]}__" if column else f"{table[:8]}__"
    return f"{prefix}__{middle}{digest}"


def constraint_name(prefix: str, schema: str, table: str, column: str, given: str | None, salt: str) -> str:
    return given or _generated_name(prefix, table, column, f"{schema}.{table}.{column}.{salt}")


def default_constraint(
    session: StatementSession, schema: str, table: str, col: ColumnInfo, value: exp.Expression, given: str | None
) -> None:
    """A DEFAULT: what SQLite evaluates (through the column's conversion) and what sys.default_constraints shows."""
    tr = session.translator({})
    before = len(tr.resolved.binds)
    sql = tr.sqlite(tr.rewrite(value.copy()))  # a copy: rewrite changes its tree, and value's T-SQL text is read below
    if len(tr.resolved.binds) != before or value.find(exp.Column, exp.Select):
        raise errors.unsupported(f"DEFAULT {value.sql(dialect='tsql')}")
    col.default_sqlite = functions.conv(sql, col, "varchar", f"{session.ctx.database}.{schema}.{table}")
    col.default = _default_text(value)
    col.default_name = constraint_name("DF", schema, table, col.name, given, "default")


def check_constraint(
    session: StatementSession, schema: str, table: str, condition: exp.Expression, given: str | None, salt: str
) -> KeyInfo:
    """A CHECK constraint: its condition translated for SQLite, which enforces it (547 on failure)."""
    tr = session.translator({})
    if condition.find(exp.Select, exp.Parameter):
        raise errors.unsupported(f"CHECK {condition.sql(dialect='tsql')}")
    tr.resolved.scope[table.lower()] = []
    sql = tr.sqlite(tr.rewrite(condition.copy()))  # a copy: rewrite changes its tree; the T-SQL definition is read below
    if tr.resolved.binds:
        raise errors.unsupported(f"CHECK {condition.sql(dialect='tsql')}")
    columns = sorted({c.name for c in condition.find_all(exp.Column)})
    name = constraint_name("CK", schema, table, columns[0] if len(columns) == 1 else "", given, salt)
    return KeyInfo(name, "CHECK", columns, definition=f"({condition.sql(dialect='tsql')})", check_sqlite=sql)


def table_shape(session: StatementSession, schema: str, name: str, shape: exp.Schema, taken: int = 0) -> tuple[TableInfo, int | None]:
    """The table's declared shape (columns, keys, CHECKs, foreign keys) and its IDENTITY seed; ``taken``: constraints it has already."""
    columns: list[ColumnInfo] = []
    keys: list[KeyInfo] = []
    seed: int | None = None
    foreign: list[tuple[str | None, list[str], exp.Expression]] = []

    def key_name(kind: str, given: str | None) -> str:
        salt = f"{kind}.{taken + len(keys)}"
        return constraint_name("PK" if kind == "PRIMARY KEY" else "UQ", schema, name, "", given, salt)

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
                    default_constraint(session, schema, name, col, k.this, given)
                elif isinstance(k, exp.CheckColumnConstraint):
                    keys.append(check_constraint(session, schema, name, k.this, given, f"check.{taken + len(keys)}"))
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
        elif isinstance(item, exp.Constraint | exp.PrimaryKey | exp.UniqueColumnConstraint | exp.ForeignKey | exp.CheckColumnConstraint):
            given = item.name if isinstance(item, exp.Constraint) else None
            for part in item.expressions if isinstance(item, exp.Constraint) else [item]:
                if isinstance(part, exp.PrimaryKey):
                    keys.append(KeyInfo(key_name("PRIMARY KEY", given), "PRIMARY KEY", [_column_name(e) for e in part.expressions]))
                elif isinstance(part, exp.ForeignKey):
                    foreign.append((given, [_column_name(e) for e in part.expressions], part.args["reference"]))
                elif isinstance(part, exp.UniqueColumnConstraint):
                    cols = part.this.expressions if isinstance(part.this, exp.Schema) else part.expressions
                    keys.append(KeyInfo(key_name("UNIQUE KEY", given), "UNIQUE KEY", [_column_name(e) for e in cols]))
                elif isinstance(part, exp.CheckColumnConstraint):
                    keys.append(check_constraint(session, schema, name, part.this, given, f"check.{taken + len(keys)}"))
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
        for i, key_column in enumerate(key.columns):
            if key_column.lower() not in by_name:
                if key.kind == "CHECK":
                    raise errors.invalid_column(key_column)
                raise SqlError(1911, f"Column name '{key_column}' does not exist in the target table or view.")
            key.columns[i] = by_name[key_column.lower()].name
            if key.kind == "PRIMARY KEY":
                by_name[key_column.lower()].nullable = False
    for given, fk_columns, reference in foreign:
        keys.append(foreign_key(session, schema, name, given, fk_columns, reference, keys))
    identity = [c for c in columns if c.identity]
    if len(identity) > 1:
        raise SqlError(2744, f"Multiple identity columns specified for table '{name}'. Only one identity column per table is allowed.")
    rowid = identity[0] if identity else None
    if rowid is not None and (rowid.spec.type not in (SqlType.INT, SqlType.BIGINT, SqlType.SMALLINT, SqlType.TINYINT)):
        raise errors.unsupported("IDENTITY on a non-integer column")
    if rowid is not None and primary and [c.lower() for c in primary[0].columns] != [rowid.name.lower()]:
        raise errors.unsupported("IDENTITY on a column that is not the table's only PRIMARY KEY column")
    info = TableInfo(schema, name, storage.next_object_id(session.conn), columns, keys)
    return info, seed if rowid is not None else None


def altered(session: StatementSession, table: exp.Expression) -> TableInfo:
    """The table an ALTER TABLE or TRUNCATE TABLE names, if it exists and the caller may alter it (4902 otherwise)."""
    if not isinstance(table, exp.Table):
        raise errors.unsupported(table.sql(dialect="tsql"))
    info = session.table_info(table.db or "dbo", table.name)
    db = session.db()
    if (
        info is None
        or db is None
        or not (permissions.may_alter_schema(db, session.user, info.schema) or permissions.has(db, session.user, "CONTROL", info.schema))
    ):
        raise SqlError(
            4902, f'Cannot find the object "{translate.qualified_name(table)}" because it does not exist or you do not have permissions.'
        )
    return info


def truncate(session: StatementSession, tree: exp.TruncateTable) -> StatementResult:
    tables = tree.expressions
    if len(tables) != 1:
        raise errors.unsupported("TRUNCATE TABLE of several tables")
    info = altered(session, tables[0])  # TRUNCATE needs ALTER on the table, as on SQL Server
    if _referencing(session, info) is not None:
        raise SqlError(4712, f"Cannot truncate table '{info.display}' because it is being referenced by a FOREIGN KEY constraint.")
    session.exec_sqlite(f"DELETE FROM {quote(info.key)}")
    if any(c.identity for c in info.columns):
        session.exec_sqlite("UPDATE sqlite_sequence SET seq = 0 WHERE name = ?", (info.key,))  # TRUNCATE reseeds IDENTITY
    return StatementResult(command=CMD_DDL)


_ACTIONS = {"CASCADE": "CASCADE", "SET NULL": "SET_NULL", "SET DEFAULT": "SET_DEFAULT", "NO ACTION": "NO_ACTION"}


def foreign_key(
    session: StatementSession,
    schema: str,
    name: str,
    given: str | None,
    columns: list[str],
    reference: exp.Expression,
    own_keys: list[KeyInfo],
) -> KeyInfo:
    """A FOREIGN KEY: it must reference a primary or unique key, and the caller needs REFERENCES on that table."""
    actions = {"DELETE": "NO_ACTION", "UPDATE": "NO_ACTION"}
    for option in reference.args.get("options") or []:
        words = " ".join(str(option).upper().split())
        event, _, action = words.removeprefix("ON ").partition(" ")
        if not words.startswith("ON ") or event not in actions or action not in _ACTIONS:
            raise errors.unsupported(f"FOREIGN KEY ... {option}")
        actions[event] = _ACTIONS[action]
    target = reference.this.this if isinstance(reference.this, exp.Schema) else reference.this
    ref_columns = [c.name for c in reference.this.expressions] if isinstance(reference.this, exp.Schema) else []
    if not isinstance(target, exp.Table):
        raise errors.syntax("REFERENCES")
    ref_schema, ref_name = target.db or "dbo", target.name
    fk_name = constraint_name("FK", schema, name, columns[0], given, ".".join(columns))
    if (ref_schema.lower(), ref_name.lower()) == (schema.lower(), name.lower()):
        ref_keys, ref_display, real_schema, real_name = own_keys, f"{schema}.{name}", schema, name
    else:
        ref = session.table_info(ref_schema, ref_name)
        if ref is None:
            raise SqlError(1767, f"Foreign key '{fk_name}' references invalid table '{translate.qualified_name(target)}'.")
        db = session.db()
        if db is None or not permissions.has(db, session.user, "REFERENCES", ref.schema):
            raise errors.permission_denied("REFERENCES", ref.name, session.ctx.database, ref.schema)
        ref_keys, ref_display, real_schema, real_name = ref.keys, ref.display, ref.schema, ref.name
    candidates = [k for k in ref_keys if k.kind in ("PRIMARY KEY", "UNIQUE KEY")]
    if not ref_columns:
        primary = next((k for k in candidates if k.kind == "PRIMARY KEY"), None)
        ref_columns = list(primary.columns) if primary else []
    matching = next((k for k in candidates if sorted(c.lower() for c in k.columns) == sorted(c.lower() for c in ref_columns)), None)
    if len(ref_columns) != len(columns) or matching is None:
        raise SqlError(
            1776,
            f"There are no primary or candidate keys in the referenced table '{ref_display}' that match the referencing column list in the foreign key '{fk_name}'.",
        )
    ref_columns = [next(k for k in matching.columns if k.lower() == c.lower()) for c in ref_columns]
    return KeyInfo(
        fk_name, "FOREIGN KEY", columns, real_schema, real_name, ref_columns, on_delete=actions["DELETE"], on_update=actions["UPDATE"]
    )


def _referencing(session: StatementSession, info: TableInfo) -> TableInfo | None:
    """Another table with a FOREIGN KEY to ``info``, if any."""
    return next(
        (
            t
            for t in storage.tables(session.conn)
            if t.key.lower() != info.key.lower() and any(k.kind == "FOREIGN KEY" and k.ref_key.lower() == info.key.lower() for k in t.keys)
        ),
        None,
    )


def drop_table(session: StatementSession, tree: exp.Drop) -> StatementResult:
    tables = tree.args.get("tables") or ([tree.this] if tree.this is not None else [])
    if len(tables) != 1 or not isinstance(tables[0], exp.Table):
        raise errors.unsupported("DROP TABLE of several tables")
    table = tables[0]
    info = session.table_info(table.db or "dbo", table.name)
    db = session.db()
    if info is None:
        if tree.args.get("exists"):
            return StatementResult(command=CMD_DDL)
        raise errors.cannot_drop_table(translate.qualified_name(table))
    if db is None or not (
        permissions.may_alter_schema(db, session.user, info.schema) or permissions.has(db, session.user, "CONTROL", info.schema)
    ):
        raise errors.cannot_drop_table(translate.qualified_name(table))
    referencing = _referencing(session, info)
    if referencing is not None:
        raise SqlError(3726, f"Could not drop object '{info.display}' because it is referenced by a FOREIGN KEY constraint.")
    sqlite_schema.drop(session.conn, info)
    return StatementResult(command=CMD_DDL)


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

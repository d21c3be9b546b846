"""Changes to an existing table's model: ALTER TABLE ADD/DROP column and constraint, ALTER COLUMN, CREATE/DROP INDEX.

Each change is made to a copy of the table's model (``storage.TableInfo``), then SQLite is brought to
that shape by ``sqlite_schema.rebuild`` (or, for an index, by creating or dropping it): the rows
already in the table are checked against the new constraints as they are copied, and a row that
breaks one fails the statement with SQL Server's error (547, 1505, 515 ...) and leaves the table as
it was (the statement's savepoint).
"""

from __future__ import annotations

import copy
import re
import sqlite3

from sqlglot import exp

from . import errors, functions, sqlite_schema, table_ddl, translate, types
from .context import StatementSession
from .errors import SqlError
from .results import CMD_DDL, StatementResult
from .storage import IndexInfo, KeyInfo, TableInfo, quote


def alter_table(session: StatementSession, info: TableInfo, tree: exp.Alter) -> StatementResult:
    actions = tree.args.get("actions") or []
    if not actions:
        raise errors.syntax(info.name)
    new = copy.deepcopy(info)
    sources = {c.name.lower(): quote(c.name) for c in info.columns}
    for action in actions:
        if isinstance(action, exp.ColumnDef):
            _add_column(session, info, new, action, sources)
        elif isinstance(action, exp.AddConstraint):
            for constraint in action.expressions:
                _add_constraint(session, new, constraint)
        elif isinstance(action, exp.Drop) and str(action.args.get("kind", "")).upper() == "COLUMN":
            for target in action.args.get("tables") or []:
                _drop_column(new, target.name, action.args.get("exists"), sources)
        elif isinstance(action, exp.Drop) and str(action.args.get("kind", "")).upper() == "CONSTRAINT":
            for target in action.args.get("tables") or []:
                _drop_constraint(new, target.name, action.args.get("exists"))
        elif isinstance(action, exp.AlterColumn):
            _alter_column(session, new, action, sources)
        else:
            raise errors.unsupported(f"ALTER TABLE {action.sql(dialect='tsql')}")
    apply(session, info, new, sources)
    return StatementResult(command=CMD_DDL)


def apply(session: StatementSession, old: TableInfo, new: TableInfo, sources: dict[str, str]) -> None:
    """Rebuild the SQLite table in ``new``'s shape; rows that break it end the statement with SQL Server's error."""
    try:
        sqlite_schema.rebuild(session.conn, old, new, sources)
    except sqlite3.IntegrityError as exc:
        raise _conflict(session, new, str(exc)) from None
    except sqlite3.OperationalError:
        pending, session.pending_error = session.pending_error, None
        if pending is not None:
            raise pending from None
        raise
    for key in new.keys:
        new_key = key.kind == "FOREIGN KEY" and not any(k.name == key.name for k in old.keys)
        if new_key and session.conn.execute(f"PRAGMA foreign_key_check({quote(new.key)})").fetchone():
            raise errors.constraint_conflict("ALTER TABLE", "FOREIGN KEY", key.name, session.ctx.database, key.ref_key, key.ref_columns)


def _conflict(session: StatementSession, new: TableInfo, text: str) -> SqlError:
    pending, session.pending_error = session.pending_error, None
    if pending is not None:
        return pending
    if m := re.match(r"CHECK constraint failed: (.+)", text):
        key = next((k for k in new.keys if k.name == m[1]), None)
        return errors.constraint_conflict("ALTER TABLE", "CHECK", m[1], session.ctx.database, new.display, key.columns if key else [])
    if m := re.match(r"NOT NULL constraint failed: .+\.([^.]+)$", text):
        return errors.null_into_not_null(m[1], f"{session.ctx.database}.{new.display}", "UPDATE")
    if text.startswith("UNIQUE constraint failed"):
        return SqlError(
            1505,
            f"The CREATE UNIQUE INDEX statement terminated because a duplicate key was found for the object name '{new.display}'.",
        )
    return errors.unsupported(f"ALTER TABLE the sandbox could not apply ({text})")


def _add_column(session: StatementSession, info: TableInfo, new: TableInfo, action: exp.ColumnDef, sources: dict[str, str]) -> None:
    # A copy: a node built around it would take it as its child (its parent link), out of the ALTER statement's tree.
    added, _seed = table_ddl.table_shape(session, new.schema, new.name, exp.Schema(expressions=[action.copy()]), taken=len(new.keys))
    col = added.columns[0]
    if new.column(col.name) is not None:
        raise SqlError(
            2705,
            f"Column names in each table must be unique. Column name '{col.name}' in table '{new.display}' is specified more than once.",
        )
    if col.identity:
        raise errors.unsupported("ALTER TABLE ADD of an IDENTITY column")
    empty = session.conn.execute(f"SELECT 1 FROM {quote(info.key)} LIMIT 1").fetchone() is None
    if not col.nullable and not col.default_sqlite and not empty:
        raise SqlError(
            4901,
            "ALTER TABLE only allows columns to be added that can contain nulls, or have a DEFAULT definition specified, or the column "
            "being added is an identity or timestamp column, or alternatively if none of the previous conditions are satisfied the table "
            f"must be empty to allow addition of this column. Column '{col.name}' cannot be added to non-empty table '{new.name}' "
            "because it does not satisfy these conditions.",
        )
    new.columns.append(col)
    if col.nullable:
        sources[col.name.lower()] = "NULL"  # a nullable column's DEFAULT fills existing rows only WITH VALUES
    for key in added.keys:
        _add_key(session, new, key)


def _add_constraint(session: StatementSession, new: TableInfo, constraint: exp.Expression) -> None:
    if not isinstance(
        constraint, exp.Constraint | exp.PrimaryKey | exp.ForeignKey | exp.UniqueColumnConstraint | exp.CheckColumnConstraint
    ):
        raise errors.unsupported(f"ADD {constraint.sql(dialect='tsql')}")
    shape = exp.Schema(
        expressions=[
            *(exp.ColumnDef(this=exp.to_identifier(c.name), kind=exp.DataType.build("INT")) for c in new.columns),
            constraint.copy(),  # as _add_column's: the ALTER statement's tree stays whole
        ]
    )
    added, _seed = table_ddl.table_shape(session, new.schema, new.name, shape, taken=len(new.keys))
    for key in added.keys:
        if key.kind in ("PRIMARY KEY", "UNIQUE KEY"):
            for column in key.columns:
                col = new.column(column)
                if key.kind == "PRIMARY KEY" and col is not None and col.nullable:
                    raise SqlError(8111, f"Cannot define PRIMARY KEY constraint on nullable column in table '{new.name}'.")
        _add_key(session, new, key)


def _add_key(session: StatementSession, new: TableInfo, key: KeyInfo) -> None:
    if _constraint_names(session, new, key.name):
        raise errors.object_exists(key.name)
    if key.kind == "PRIMARY KEY" and any(k.kind == "PRIMARY KEY" for k in new.keys):
        raise SqlError(1779, f"Table '{new.name}' already has a primary key defined on it.")
    if key.kind == "PRIMARY KEY" and any(c.identity for c in new.columns):
        identity = next(c for c in new.columns if c.identity)
        if [c.lower() for c in key.columns] != [identity.name.lower()]:
            raise errors.unsupported("a PRIMARY KEY on a table whose IDENTITY column is not its only key column")
    new.keys.append(key)


def _constraint_names(session: StatementSession, table: TableInfo, name: str) -> bool:
    """Whether ``name`` is taken by a constraint in the table's schema (constraint names are schema-scoped objects)."""
    from . import storage

    for other in storage.tables(session.conn):
        if other.schema.lower() != table.schema.lower():
            continue
        model = table if other.key.lower() == table.key.lower() else other
        if any(k.name.lower() == name.lower() for k in model.keys) or any(
            (c.default_name or "").lower() == name.lower() for c in model.columns
        ):
            return True
    return False


def _drop_column(new: TableInfo, name: str, if_exists: object, sources: dict[str, str]) -> None:
    dropped = new.column(name)
    if dropped is None:
        if if_exists:
            return
        raise SqlError(4924, f"ALTER TABLE DROP COLUMN failed because column '{name}' does not exist in table '{new.name}'.")
    dependent = next((k.name for k in new.keys if dropped.name.lower() in (c.lower() for c in k.columns)), None)
    dependent = dependent or next(
        (i.name for i in new.indexes if dropped.name.lower() in (c.lower() for c in [*i.columns, *i.include])), None
    )
    dependent = dependent or dropped.default_name
    if dependent is not None:
        raise SqlError(5074, f"The object '{dependent}' is dependent on column '{dropped.name}'.")
    if dropped.identity:
        raise errors.unsupported("ALTER TABLE DROP COLUMN of the IDENTITY column")
    new.columns.remove(dropped)
    sources.pop(dropped.name.lower(), None)


def _drop_constraint(new: TableInfo, name: str, if_exists: object) -> None:
    key = next((k for k in new.keys if k.name.lower() == name.lower()), None)
    if key is not None:
        new.keys.remove(key)
        return
    col = next((c for c in new.columns if (c.default_name or "").lower() == name.lower()), None)
    if col is not None:
        col.default = col.default_sqlite = col.default_name = None
        return
    if not if_exists:
        raise SqlError(3728, f"'{name}' is not a constraint.")


def _alter_column(session: StatementSession, new: TableInfo, action: exp.AlterColumn, sources: dict[str, str]) -> None:
    col = new.column(action.name)
    if col is None:
        raise SqlError(4924, f"ALTER TABLE ALTER COLUMN failed because column '{action.name}' does not exist in table '{new.name}'.")
    dtype = action.args.get("dtype")
    if not isinstance(dtype, exp.DataType) or any(
        action.args.get(k) for k in ("default", "drop", "comment", "using", "visible", "collate")
    ):
        raise errors.unsupported(f"ALTER TABLE {action.sql(dialect='tsql')}")
    if col.identity:
        raise errors.unsupported("ALTER COLUMN of the IDENTITY column")
    keyed = next((k for k in new.keys if col.name.lower() in (c.lower() for c in k.columns) and k.kind != "CHECK"), None)
    spec = types.spec_of(dtype)
    if keyed is not None and spec != col.spec:
        raise SqlError(5074, f"The object '{keyed.name}' is dependent on column '{col.name}'.")
    old_spec = col.spec
    col.spec = spec
    # ALTER COLUMN without NULL / NOT NULL makes the column nullable, as in SQL Server.
    col.nullable = action.args.get("allow_null") is not False
    if keyed is not None and keyed.kind == "PRIMARY KEY" and col.nullable:
        raise SqlError(5074, f"The object '{keyed.name}' is dependent on column '{col.name}'.")
    if col.default_sqlite and old_spec != spec:
        raise SqlError(5074, f"The object '{col.default_name}' is dependent on column '{col.name}'.")
    qualified = f"{session.ctx.database}.{new.display}"
    sources[col.name.lower()] = functions.conv(quote(col.name), col, types.type_name(old_spec), qualified)


def alter_command(session: StatementSession, text: str) -> StatementResult:
    """An ALTER TABLE sqlglot reads only as a command: ADD DEFAULT ... FOR, or T-SQL's syntax errors."""
    m = re.search(
        r"\bALTER\s+COLUMN\b.*?\b(UNIQUE|PRIMARY|REFERENCES|CHECK|DEFAULT|CONSTRAINT|IDENTITY)\b", text, re.IGNORECASE | re.DOTALL
    )
    if m is not None:  # ALTER COLUMN takes a type, NULL/NOT NULL and COLLATE only (Sequelize's sync({alter}) sends UNIQUE)
        raise errors.keyword_syntax(m[1].upper())
    if re.search(r"\bDEFAULT\b.+\bFOR\b", text, re.IGNORECASE | re.DOTALL):
        return _add_default(session, text)
    raise errors.unsupported("ALTER TABLE in this form")


def _add_default(session: StatementSession, text: str) -> StatementResult:
    """ALTER TABLE t ADD [CONSTRAINT name] DEFAULT expr FOR column (sqlglot reads it as a command)."""
    m = re.match(
        r"\s*ALTER\s+TABLE\s+(?P<table>.+?)\s+ADD\s+(?:CONSTRAINT\s+(?P<name>\[[^\]]+\]|\"[^\"]+\"|\w+)\s+)?DEFAULT\s+(?P<expr>.+)\s+FOR\s+(?P<col>\[[^\]]+\]|\"[^\"]+\"|\w+)\s*;?\s*$",
        text,
        re.IGNORECASE | re.DOTALL,
    )
    if m is None:
        raise errors.unsupported("ALTER TABLE ... ADD DEFAULT in this form")
    table = translate.parse(f"SELECT 1 FROM {m['table']}").find(exp.Table)
    assert table is not None
    info = table_ddl.altered(session, table)
    new = copy.deepcopy(info)
    col_name = m["col"].strip('[]"')
    col = new.column(col_name)
    if col is None:
        raise errors.invalid_column(col_name)
    if col.default_sqlite:
        raise SqlError(1781, "Column already has a DEFAULT bound to it.")
    given = m["name"].strip('[]"') if m["name"] else None
    if given and _constraint_names(session, new, given):
        raise errors.object_exists(given)
    select = translate.parse(f"SELECT {m['expr']}")
    assert isinstance(select, exp.Select)
    table_ddl.default_constraint(session, new.schema, new.name, col, select.expressions[0], given)
    apply(session, info, new, {c.name.lower(): quote(c.name) for c in info.columns})
    return StatementResult(command=CMD_DDL)


def create_index(session: StatementSession, tree: exp.Create) -> StatementResult:
    index = tree.this
    assert isinstance(index, exp.Index)
    table = index.args.get("table")
    if not isinstance(table, exp.Table):
        raise errors.syntax("INDEX")
    info = table_ddl.altered(session, table)
    name = index.name
    params = index.args.get("params")
    ordered = params.args.get("columns") if isinstance(params, exp.IndexParameters) else None
    if not ordered:
        raise errors.syntax(name)
    if any(i.name.lower() == name.lower() for i in info.indexes) or any(
        k.name.lower() == name.lower() for k in info.keys if k.kind in ("PRIMARY KEY", "UNIQUE KEY")
    ):
        raise SqlError(
            1913, f"The operation failed because an index or statistics with name '{name}' already exists on table '{info.display}'."
        )
    columns, descending = [], []
    for item in ordered:
        node = item.this if isinstance(item, exp.Ordered) else item
        col = info.column(node.name) if isinstance(node, exp.Column | exp.Identifier) else None
        if col is None:
            raise SqlError(1911, f"Column name '{node.name}' does not exist in the target table or view.")
        columns.append(col.name)
        descending.append(bool(isinstance(item, exp.Ordered) and item.args.get("desc")))
    include = []
    for ident in params.args.get("include") or [] if isinstance(params, exp.IndexParameters) else []:
        col = info.column(ident.name)
        if col is None:
            raise SqlError(1911, f"Column name '{ident.name}' does not exist in the target table or view.")
        include.append(col.name)
    where = params.args.get("where") if isinstance(params, exp.IndexParameters) else None
    where_text = where_sql = ""
    if isinstance(where, exp.Where):
        condition = where.this
        if condition.find(exp.Select, exp.Parameter, exp.Anonymous):
            raise errors.unsupported(f"filtered index WHERE {condition.sql(dialect='tsql')}")
        for c in condition.find_all(exp.Column):
            if info.column(c.name) is None:
                raise errors.invalid_column(c.name)
        tr = session.translator({})
        where_sql = tr.sqlite(tr.rewrite(condition.copy()))  # a copy: rewrite changes its tree; its T-SQL text is read next
        where_text = f"({condition.sql(dialect='tsql')})"
    kind = str(tree.args.get("kind") or "").upper()
    new_index = IndexInfo(
        name, columns, bool(tree.args.get("unique")), kind.startswith("CLUSTERED"), descending, include, where_text, where_sql
    )
    try:
        session.conn.execute(sqlite_schema.index_sql(info, new_index))
    except sqlite3.IntegrityError:
        raise SqlError(
            1505,
            f"The CREATE UNIQUE INDEX statement terminated because a duplicate key was found for the object name '{info.display}' and the index name '{name}'.",
        ) from None
    info.indexes.append(new_index)
    sqlite_schema.save(session.conn, info)
    return StatementResult(command=CMD_DDL)


def drop_index(session: StatementSession, tree: exp.Drop) -> StatementResult:
    targets = tree.args.get("tables") or []
    on = tree.args.get("cluster")
    for target in targets:
        if isinstance(on, exp.OnProperty) and isinstance(on.this, exp.Table):
            table, name = on.this, target.name
        elif target.db:  # DROP INDEX table.index (the old form)
            table, name = (
                exp.Table(this=exp.to_identifier(target.db), db=exp.to_identifier(target.catalog) if target.catalog else None),
                target.name,
            )
        else:
            raise errors.syntax(target.name)
        info = session.table_info(table.db or "dbo", table.name)
        shown = f"{table.name}.{name}"
        if info is None:
            if tree.args.get("exists"):
                continue
            raise SqlError(3701, f"Cannot drop the index '{shown}', because it does not exist or you do not have permission.", 11, 7)
        info = table_ddl.altered(session, table)
        key = next((k for k in info.keys if k.name.lower() == name.lower() and k.kind in ("PRIMARY KEY", "UNIQUE KEY")), None)
        if key is not None:
            raise SqlError(
                3723, f"An explicit DROP INDEX is not allowed on index '{shown}'. It is being used for {key.kind} constraint enforcement."
            )
        index = next((i for i in info.indexes if i.name.lower() == name.lower()), None)
        if index is None:
            if tree.args.get("exists"):
                continue
            raise SqlError(3701, f"Cannot drop the index '{shown}', because it does not exist or you do not have permission.", 11, 7)
        session.conn.execute(f"DROP INDEX {quote(sqlite_schema.index_name(info, index))}")
        info.indexes.remove(index)
        sqlite_schema.save(session.conn, info)
    return StatementResult(command=CMD_DDL)

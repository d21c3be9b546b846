"""INSERT, UPDATE and DELETE (with OUTPUT) against the session's SQLite tables, and the per-statement foreign key check."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlglot import exp

from ..sqltypes import Param, TypeSpec
from . import errors, functions, storage, translate, types, views
from .context import StatementSession
from .errors import SqlError
from .results import CMD_DELETE, CMD_INSERT, CMD_UPDATE, StatementResult
from .storage import ColumnInfo, TableInfo, quote
from .table_variables import is_variable


def _target(session: StatementSession, node: exp.Expression) -> TableInfo:
    if not isinstance(node, exp.Table) or isinstance(node.this, exp.Anonymous):
        raise errors.unsupported(node.sql(dialect="tsql"))
    if node.catalog and node.catalog.lower() != session.ctx.database.lower():
        raise errors.cross_database(translate.qualified_name(node))
    name = translate.table_name(node)
    info = session.table_info(node.db or "dbo", name)
    if info is None and name.startswith("@"):
        raise errors.undeclared_table_variable(name)
    if info is None:
        views.refuse_write(session, node)
        if (node.db or "").lower() in ("sys", "information_schema"):
            raise errors.unsupported(f"changing {translate.qualified_name(node)}")
        raise errors.invalid_object(translate.qualified_name(node))
    return info


def _output(session: StatementSession, tree: exp.Expression, info: TableInfo, prefix: str) -> tuple[str, list[tuple[str, TypeSpec | None]]]:
    """OUTPUT INSERTED.* / DELETED.col as SQLite RETURNING, with the columns' declared types."""
    returning = tree.args.get("returning")
    if returning is None:
        return "", []
    if not is_variable(info):
        session.require("SELECT", info)
    parts: list[str] = []
    declared: list[tuple[str, TypeSpec | None]] = []
    for item in returning.expressions:
        alias = item.alias if isinstance(item, exp.Alias) else ""
        col = item.this if isinstance(item, exp.Alias) else item
        if not isinstance(col, exp.Column) or col.table.upper() != prefix:
            raise errors.unsupported(f"OUTPUT {item.sql(dialect='tsql')}")
        if isinstance(col.this, exp.Star):
            for c in info.columns:
                parts.append(quote(c.name))
                declared.append((c.name, c.spec))
            continue
        found = info.column(col.name)
        if found is None:
            raise errors.invalid_column(col.name)
        parts.append(f"{quote(found.name)} AS {quote(alias or found.name)}")
        declared.append((alias or found.name, found.spec))
    return " RETURNING " + ", ".join(parts), declared


def _into(session: StatementSession, tree: exp.Expression) -> TableInfo | None:
    """OUTPUT ... INTO's target: a table variable, or a table the caller may insert into."""
    returning = tree.args.get("returning")
    target = returning.args.get("into") if returning is not None else None
    if not isinstance(target, exp.Expression):  # sqlglot leaves False when there is no INTO
        return None
    if isinstance(target, exp.Parameter):
        target = exp.Table(this=target)
    if not isinstance(target, exp.Table):
        raise errors.unsupported(f"OUTPUT ... INTO {target.sql(dialect='tsql')}")
    into = _target(session, target)
    session.require("INSERT", into)
    return into


def _finish(
    session: StatementSession,
    cur: sqlite3.Cursor,
    declared: list[tuple[str, TypeSpec | None]],
    curcmd: int,
    verb: str,
    info: TableInfo,
    into: TableInfo | None = None,
) -> StatementResult:
    if declared and into is not None:  # OUTPUT ... INTO: the rows go to a table (or table variable), not to the client
        rows = session.fetch(cur, verb, info)
        if len(into.columns) != len(declared) and len([c for c in into.columns if not c.identity]) != len(declared):
            raise SqlError(213, "Column name or number of supplied values does not match table definition.")
        targets = [c for c in into.columns if not c.identity] if len(into.columns) != len(declared) else into.columns
        names = ", ".join(quote(c.name) for c in targets)
        marks = ", ".join("?" for _ in targets)
        for row in rows:
            session.exec_sqlite(f"INSERT INTO {quote(into.key)} ({names}) VALUES ({marks})", row, "INSERT", into)
        session.rowcount = len(rows)
        return StatementResult(rowcount=len(rows), command=curcmd)
    if declared:
        rows = session.fetch(cur, verb, info)
        session.rowcount = len(rows)
        return StatementResult(result=types.typed_result(declared, rows), rowcount=len(rows), command=curcmd)
    session.rowcount = max(cur.rowcount, 0)
    return StatementResult(rowcount=session.rowcount, command=curcmd)


def insert(session: StatementSession, tree: exp.Insert, params: dict[str, Param]) -> StatementResult:
    target = tree.this
    given = [i.name for i in target.expressions] if isinstance(target, exp.Schema) else None
    info = _target(session, target.this if isinstance(target, exp.Schema) else target)
    session.require("INSERT", info)
    if given is None:
        columns = [c for c in info.columns if not c.identity]
    else:
        columns = []
        for name in given:
            col = info.column(name)
            if col is None:
                raise errors.invalid_column(name)
            if col.identity:
                raise errors.identity_insert(info.name)
            columns.append(col)
    tr = session.translator(params)
    returning, declared = _output(session, tree, info, "INSERTED")
    qualified = f"{session.ctx.database}.{info.display}"
    names = ", ".join(quote(c.name) for c in columns)
    source = tree.expression
    rows_sql: list[str] = []
    if isinstance(source, exp.Values):
        for tup in source.expressions:
            values = tup.expressions if isinstance(tup, exp.Tuple) else [tup]
            if len(values) != len(columns):
                if len(values) > len(columns):
                    raise SqlError(
                        110,
                        "There are fewer columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.",
                        15,
                    )
                raise SqlError(
                    109,
                    "There are more columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.",
                    15,
                )
            converted = []
            for value, col in zip(values, columns, strict=True):
                if isinstance(value, exp.Var | exp.Column) and value.name.upper() == "DEFAULT" and not value.args.get("table"):
                    converted.append(col.default_sqlite or "NULL")  # VALUES (@0, DEFAULT, @1): the column's default
                    continue
                tr.resolve_tables(value)
                source_type = tr.source_type(value)
                sql = tr.sqlite(tr.rewrite(value))
                converted.append(functions.conv(sql, col, source_type, qualified))
            rows_sql.append("(" + ", ".join(converted) + ")")
        for read in tr.resolved.reads:
            session.require("SELECT", read)
        session.materialize(tr.resolved.views)
        sql = f"INSERT INTO {quote(info.key)} ({names}) VALUES {', '.join(rows_sql)}{returning}"
    elif isinstance(source, exp.Select | exp.SetOperation):
        tr.resolve_tables(source)
        for read in tr.resolved.reads:
            session.require("SELECT", read)
        inner = tr.sqlite(tr.rewrite(source))
        session.materialize(tr.resolved.views)
        aliases = [f"c{i}" for i in range(len(columns))]
        picks = ", ".join(functions.conv(a, c, "varchar", qualified) for a, c in zip(aliases, columns, strict=True))
        sql = f"WITH __src({', '.join(aliases)}) AS ({inner}) INSERT INTO {quote(info.key)} ({names}) SELECT {picks} FROM __src{returning}"
    elif tree.args.get("default") and source is None:  # INSERT ... DEFAULT VALUES
        sql = f"INSERT INTO {quote(info.key)} DEFAULT VALUES{returning}"
    else:
        raise errors.unsupported("INSERT without VALUES or SELECT")
    try:
        cur = session.exec_sqlite(sql, tr.resolved.binds, "INSERT", info)
    except SqlError as err:
        if err.number in (2601, 2627) and isinstance(source, exp.Values) and session.last_unique is not None:
            value = _duplicate_value(session, info, columns, rows_sql, tr.resolved.binds)
            if value is not None and err.number == 2601:
                raise errors.duplicate_index_row(info.display, session.last_unique.name, value) from None
            if value is not None:
                raise errors.duplicate_key(session.last_unique.kind, session.last_unique.name, info.display, value) from None
        raise
    piece = _finish(session, cur, declared, CMD_INSERT, "INSERT", info, _into(session, tree))
    _check_foreign_keys(session, info, "INSERT")
    if any(c.identity for c in info.columns) and piece.rowcount:
        session.identity = cur.lastrowid
    return piece


def _duplicate_value(
    session: StatementSession, info: TableInfo, columns: list[ColumnInfo], rows_sql: list[str], binds: dict[str, Any]
) -> str | None:
    """The key value 2627 reports: the first VALUES row whose key exists already or repeats an earlier row's."""
    key = session.last_unique
    if key is None:
        return None
    positions = [
        next(i for i, c in enumerate(columns) if c.name.lower() == k.lower())
        for k in key.columns
        if any(c.name.lower() == k.lower() for c in columns)
    ]
    if len(positions) != len(key.columns):
        return None
    seen: set[tuple[Any, ...]] = set()
    for row_sql in rows_sql:
        values = session.conn.execute(f"SELECT {row_sql[1:-1]}", binds).fetchone()
        picked = tuple(values[i] for i in positions)
        lowered = tuple(v.lower() if isinstance(v, str) else v for v in picked)
        where = " AND ".join(f"{quote(k)} IS ?" for k in key.columns)  # IS: a NULL key equals a NULL, as in a unique index
        if lowered in seen or session.conn.execute(f"SELECT 1 FROM {quote(info.key)} WHERE {where}", picked).fetchone():
            return ", ".join(types.text(v) if v is not None else "<NULL>" for v in picked)
        seen.add(lowered)
    return None


def update(session: StatementSession, tree: exp.Update, params: dict[str, Param]) -> StatementResult:
    if tree.args.get("from") or tree.args.get("from_") or tree.args.get("limit") or tree.args.get("joins"):
        raise errors.unsupported("UPDATE with FROM, JOIN or TOP")
    target = tree.this
    info = _target(session, target)
    alias = target.alias or info.name
    session.require("UPDATE", info)
    tr = session.translator(params)
    where = tree.args.get("where")
    reads_columns = where is not None or any(e.expression.find(exp.Column) for e in tree.expressions if isinstance(e, exp.EQ))
    if reads_columns:
        session.require("SELECT", info)  # SQL Server: UPDATE that reads the table's columns needs SELECT too
    qualified = f"{session.ctx.database}.{info.display}"
    sets = []
    for assignment in tree.expressions:
        if not isinstance(assignment, exp.EQ) or not isinstance(assignment.this, exp.Column):
            raise errors.unsupported(assignment.sql(dialect="tsql"))
        col = info.column(assignment.this.name)
        if col is None:
            raise errors.invalid_column(assignment.this.name)
        if col.identity:
            raise SqlError(8102, f"Cannot update identity column '{col.name}'.")
        value = assignment.expression
        # No copy (sqlglot's builders copy by default): the value is translated once, and the statement's tree is
        # read afterwards only for its OUTPUT clause (_output, _into).
        scoped = exp.Select(expressions=[value]).from_(
            exp.Table(
                this=exp.to_identifier(info.name),
                db=exp.to_identifier(info.schema),
                alias=exp.TableAlias(this=exp.to_identifier(alias)),
            ),
            copy=False,
        )
        tr.resolve_tables(scoped)
        source_type = tr.source_type(scoped.expressions[0])
        sets.append(f"{quote(col.name)} = {functions.conv(tr.sqlite(tr.rewrite(scoped.expressions[0])), col, source_type, qualified)}")
    where_sql = "" if where is None else _where_sql(tr, info, alias, where)
    for read in tr.resolved.reads:
        if read.key.lower() != info.key.lower():
            session.require("SELECT", read)
    session.materialize(tr.resolved.views)
    returning, declared = _output(session, tree, info, "INSERTED")
    sql = f"UPDATE {quote(info.key)} AS {quote(alias)} SET {', '.join(sets)}{where_sql}{returning}"
    cur = session.exec_sqlite(sql, tr.resolved.binds, "UPDATE", info)
    piece = _finish(session, cur, declared, CMD_UPDATE, "UPDATE", info, _into(session, tree))
    _check_foreign_keys(session, info, "UPDATE")
    return piece


def delete(session: StatementSession, tree: exp.Delete, params: dict[str, Param]) -> StatementResult:
    if tree.args.get("using") or tree.args.get("limit") or tree.args.get("joins"):
        raise errors.unsupported("DELETE with FROM, JOIN or TOP")
    target = tree.this if isinstance(tree.this, exp.Table) else next(iter(tree.args.get("tables") or []), None)
    if not isinstance(target, exp.Table):
        raise errors.unsupported("DELETE without a table")
    info = _target(session, target)
    alias = target.alias or info.name
    session.require("DELETE", info)
    tr = session.translator(params)
    where = tree.args.get("where")
    where_sql = ""
    if where is not None:
        session.require("SELECT", info)
        where_sql = _where_sql(tr, info, alias, where)
        for read in tr.resolved.reads:
            if read.key.lower() != info.key.lower():
                session.require("SELECT", read)
        session.materialize(tr.resolved.views)
    returning, declared = _output(session, tree, info, "DELETED")
    cur = session.exec_sqlite(f"DELETE FROM {quote(info.key)} AS {quote(alias)}{where_sql}{returning}", tr.resolved.binds, "DELETE", info)
    piece = _finish(session, cur, declared, CMD_DELETE, "DELETE", info, _into(session, tree))
    _check_foreign_keys(session, info, "DELETE")
    return piece


def _check_foreign_keys(session: StatementSession, info: TableInfo, verb: str) -> None:
    """SQL Server checks foreign keys per statement: rows of ``info`` referencing nothing, or rows elsewhere it orphaned (547).

    SQLite's own enforcement stays off; ``PRAGMA foreign_key_check`` after the statement names the
    violated key exactly, and the statement is rolled back by the caller's savepoint.
    """
    for table in storage.tables(session.conn, with_foreign_keys=True):
        keys = [k for k in table.keys if k.kind == "FOREIGN KEY"]
        if not any(table.key.lower() == info.key.lower() or k.ref_key.lower() == info.key.lower() for k in keys):
            continue
        violations = session.conn.execute(f"PRAGMA foreign_key_check({quote(table.key)})").fetchall()
        if not violations:
            continue
        listing = session.conn.execute(f"PRAGMA foreign_key_list({quote(table.key)})").fetchall()  # id, seq, table, from, to, ...
        for _table, _rowid, _parent, fkid in violations:
            source = [row[3].lower() for row in sorted(listing, key=lambda r: r[1]) if row[0] == fkid]
            key = next((k for k in keys if [c.lower() for c in k.columns] == source), None)
            if key is None:
                continue
            if table.key.lower() == info.key.lower() and verb in ("INSERT", "UPDATE"):
                raise errors.foreign_key_conflict(verb, False, key.name, session.ctx.database, key.ref_key, key.ref_columns)
            raise errors.foreign_key_conflict(verb, True, key.name, session.ctx.database, table.display, key.columns)


def _where_sql(tr: translate.Translator, info: TableInfo, alias: str, where: exp.Expression) -> str:
    """An UPDATE/DELETE's WHERE, resolved as a SELECT over the target table (names, subqueries, reads to check)."""
    table = exp.Table(
        this=exp.to_identifier(info.name), db=exp.to_identifier(info.schema), alias=exp.TableAlias(this=exp.to_identifier(alias))
    )
    # No copies, as update's values: the condition is translated once; the statement's OUTPUT clause is read after.
    scoped = exp.Select(expressions=[exp.Literal.number(1)]).from_(table, copy=False).where(where.this, copy=False)
    tr.resolve_tables(scoped)
    return " WHERE " + tr.sqlite(tr.rewrite(scoped.args["where"].this))

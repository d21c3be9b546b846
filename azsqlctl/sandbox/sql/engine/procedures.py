"""EXEC of the system procedures drivers, ORMs and migration tools call, over the schema model.

``sp_executesql`` and ``EXEC ('...')`` run dynamic SQL as a nested batch (its own variable scope, as
in SQL Server); ``sp_rename`` renames a table, column, index or constraint in the model and rebuilds
SQLite to match; ``sp_helpindex``, ``sp_pkeys``, ``sp_fkeys``, ``sp_tables`` and ``sp_columns`` /
``sp_columns_100`` answer from the model with the result shapes Microsoft documents for them
(Transact-SQL reference, "System stored procedures"), showing only tables the caller may see.
Any other procedure is refused: 40517 for a system procedure the sandbox does not run, 2812 for
one that does not exist (the sandbox has no user procedures).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from ..catalog import schema_views as catalog_schema
from ..catalog.metadata_functions import like
from ..sqltypes import Param, SqlType, TypeSpec
from . import batch, errors, ownership, queries, sqlite_schema, storage, translate, types
from .alter_ddl import apply
from .batch import Statement
from .context import StatementSession
from .errors import SqlError
from .results import Message, StatementResult
from .storage import TableInfo, quote

Args = dict[str, Any]  # by parameter name (lower-case, no @), positional ones under their documented names

NAME = TypeSpec(SqlType.NVARCHAR, 128)
SMALL = TypeSpec(SqlType.SMALLINT)
INT = TypeSpec(SqlType.INT)
TEXT = TypeSpec(SqlType.NVARCHAR, 4000)


def execute_procedure(session: StatementSession, st: Statement, params: dict[str, Param]) -> list[StatementResult]:
    toks = st.toks[1:]
    base = st.toks[0].start
    if toks and toks[0].text == "(":  # EXEC ('...' + @x): dynamic SQL
        value, _spec = queries.evaluate(session, _expression(st.text[toks[0].start - base :]), params)
        return _nested(session, "" if value is None else types.text(value), {})
    if len(toks) > 1 and toks[0].text.startswith("@") and toks[1].text == "=":
        toks = toks[2:]  # EXEC @status = proc ...: the status is 0 for every procedure the sandbox runs
    name_parts: list[str] = []
    i = 0
    while i < len(toks) and toks[i].kind in ("word", "ident"):
        name_parts.append(toks[i].name)
        if i + 1 < len(toks) and toks[i + 1].text == ".":
            i += 2
            continue
        i += 1
        break
    if not name_parts:
        raise errors.syntax(toks[0].text if toks else "EXEC")
    proc = name_parts[-1].lower()
    if len(name_parts) > 1 and name_parts[-2].lower() not in ("sys", "dbo", ""):
        raise SqlError(2812, f"Could not find stored procedure '{'.'.join(name_parts)}'.")
    rest = st.text[toks[i].start - base :] if i < len(toks) else ""
    spec = _PROCEDURES.get(proc)
    if spec is None:
        if proc.startswith(("sp_", "xp_")):
            raise errors.unsupported(f"EXEC {name_parts[-1]}")
        raise SqlError(2812, f"Could not find stored procedure '{'.'.join(name_parts)}'.")
    names, run = spec
    args = _arguments(session, rest, names, params, name_parts[-1])
    if proc == "sp_rename":  # DDL: the renamed object's table lock, then the schema lock and DDL's transaction, as ALTER TABLE
        old = args.get("objname")
        parts = [p.strip().strip('[]"') for p in types.text(old).split(".")] if old is not None else []
        for table in (parts[-2:], parts[-3:-1]):  # OBJECT: [schema.]table; COLUMN/INDEX: [schema.]table.name
            if table:
                session.lock_tables_for_ddl(
                    exp.Table(this=exp.to_identifier(table[-1]), db=exp.to_identifier(table[0]) if len(table) == 2 else None)
                )
        return [session.atomic(lambda: _one_piece(run(session, args, params)))]
    return run(session, args, params)


def _one_piece(pieces: list[StatementResult]) -> StatementResult:
    (piece,) = pieces
    return piece


def _expression(text: str) -> exp.Expression:
    tree = translate.parse(f"SELECT {text}")
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1:
        raise errors.syntax(text.split()[0] if text.split() else "EXEC")
    first: exp.Expression = tree.expressions[0]
    return first


def _arguments(session: StatementSession, text: str, names: list[str], params: dict[str, Param], proc: str) -> Args:
    if not text.strip():
        return {}
    if any(t.is_word("OUTPUT", "OUT") for t in _tokens(text)):
        raise errors.unsupported(f"EXEC {proc} with an OUTPUT parameter")
    tree = translate.parse(f"SELECT {text}")
    if not isinstance(tree, exp.Select):
        raise errors.syntax(proc)
    args: Args = {}
    for position, item in enumerate(tree.expressions):
        if isinstance(item, exp.EQ) and isinstance(item.this, exp.Parameter):
            key, value = item.this.name.lower(), item.expression
        elif position < len(names):
            key, value = names[position], item
        else:
            raise SqlError(8144, f"Procedure or function {proc} has too many arguments specified.")
        if isinstance(value, exp.Column) and value.name.upper() == "DEFAULT" and not value.table:
            continue
        if isinstance(value, exp.Column) and not value.table:  # EXEC sp_pkeys orders: a bare word is a string
            args[key] = value.name
            continue
        args[key], _spec = queries.evaluate(session, value, params)
    return args


def _tokens(text: str) -> list[Any]:
    from . import lexer

    return lexer.tokenize(text)


def _nested(session: StatementSession, sql: str, scope: dict[str, Param]) -> list[StatementResult]:
    pieces, ok = session.execute_batch(sql, scope)
    if not ok:
        error = next(p.error for p in pieces if p.error is not None)
        raise SqlError(error.number, error.text, error.severity, error.state)
    return pieces


# --- sp_executesql --------------------------------------------------------------------------------


def _executesql(session: StatementSession, args: Args, params: dict[str, Param]) -> list[StatementResult]:
    del params  # dynamic SQL does not see the caller's variables
    stmt = args.pop("stmt", None)
    if stmt is None:
        raise SqlError(201, "Procedure or function 'sp_executesql' expects parameter '@statement', which was not supplied.", 16, 4)
    scope: dict[str, Param] = {}
    declared = args.pop("params", None)
    if declared:
        tree = translate.parse(f"DECLARE {declared}")
        for item in tree.expressions if isinstance(tree, exp.Declare) else []:
            names = item.this if isinstance(item.this, list) else [item.this]
            kind = item.args.get("kind")
            if len(names) != 1 or not isinstance(kind, exp.DataType):
                raise errors.syntax(str(declared))
            scope[names[0].name.lower()] = Param(f"@{names[0].name}", types.spec_of(kind), None)
    positional = [k for k in args if k.startswith("#")]
    for n, key in enumerate(positional):
        if n >= len(scope):
            raise SqlError(8144, "Procedure or function sp_executesql has too many arguments specified.")
        name = list(scope)[n]
        scope[name] = Param(scope[name].name, scope[name].spec, args.pop(key))
    for key, value in args.items():
        if key not in scope:
            raise SqlError(8145, f"@{key} is not a parameter for procedure sp_executesql.")
        scope[key] = Param(scope[key].name, scope[key].spec, value)
    return _nested(session, types.text(stmt), scope)


# --- sp_rename ------------------------------------------------------------------------------------


def _rename(session: StatementSession, args: Args, params: dict[str, Param]) -> list[StatementResult]:
    del params
    old, new, kind = args.get("objname"), args.get("newname"), str(args.get("objtype") or "").upper()
    if old is None or new is None:
        raise SqlError(15248, "Either the parameter @objname is ambiguous or the claimed @objtype () is wrong.", 11)
    parts = [p.strip().strip('[]"') for p in types.text(old).split(".")]
    new_name = types.text(new).strip().strip('[]"')
    caution = StatementResult(
        events=(Message(15477, 1, "Caution: Changing any part of an object name could break scripts and stored procedures."),)
    )
    if kind == "COLUMN":
        table = _table_for_rename(session, parts[:-1], old)
        new_info = copy.deepcopy(table)
        col = new_info.column(parts[-1])
        if col is None:
            raise SqlError(15248, f"Either the parameter @objname is ambiguous or the claimed @objtype ({kind}) is wrong.", 11)
        if new_info.column(new_name) is not None:
            raise SqlError(
                15335,
                f"Error: The new name '{new_name}' is already in use as a COLUMN name and would cause a duplicate that is not permitted.",
                11,
            )
        old_col = col.name
        col.name = new_name
        _rename_column_refs(new_info, old_col, new_name)
        sources = {c.name.lower(): quote(old_col if c is col else c.name) for c in new_info.columns}
        apply(session, table, new_info, sources)
        _rename_referencing(session, table, old_col, new_name)
        return [caution]
    if kind == "INDEX":
        table = _table_for_rename(session, parts[:-1], old)
        index = next((i for i in table.indexes if i.name.lower() == parts[-1].lower()), None)
        key = next((k for k in table.keys if k.name.lower() == parts[-1].lower() and k.kind in ("PRIMARY KEY", "UNIQUE KEY")), None)
        if index is None and key is None:
            raise SqlError(15248, f"Either the parameter @objname is ambiguous or the claimed @objtype ({kind}) is wrong.", 11)
        if index is not None:
            session.conn.execute(f"DROP INDEX {quote(sqlite_schema.index_name(table, index))}")
            index.name = new_name
            session.conn.execute(sqlite_schema.index_sql(table, index))
            sqlite_schema.save(session.conn, table)
            return [caution]
        return _rename_constraint(session, table, parts[-1], new_name, caution)
    if kind not in ("", "OBJECT"):
        raise errors.unsupported(f"sp_rename of a {kind}")
    schema = parts[-2] if len(parts) > 1 else "dbo"
    found = session.table_info(schema, parts[-1])
    if found is not None:
        from . import table_ddl

        table_ddl.altered(session, exp.Table(this=exp.to_identifier(found.name), db=exp.to_identifier(found.schema)))
        if session.table_info(found.schema, new_name) is not None:
            raise errors.object_exists(new_name)
        renamed = copy.deepcopy(found)
        renamed.name = new_name
        sqlite_schema.rename(session.conn, found, renamed)
        return [caution]
    owner = next((t for t in storage.tables(session.conn) if t.schema.lower() == schema.lower() and _constraint_in(t, parts[-1])), None)
    if owner is None:
        raise SqlError(15248, "Either the parameter @objname is ambiguous or the claimed @objtype (OBJECT) is wrong.", 11)
    return _rename_constraint(session, owner, parts[-1], new_name, caution)


def _constraint_in(table: TableInfo, name: str) -> bool:
    return any(k.name.lower() == name.lower() for k in table.keys) or any(
        (c.default_name or "").lower() == name.lower() for c in table.columns
    )


def _rename_constraint(session: StatementSession, table: TableInfo, old: str, new: str, caution: StatementResult) -> list[StatementResult]:
    from . import table_ddl

    table_ddl.altered(session, exp.Table(this=exp.to_identifier(table.name), db=exp.to_identifier(table.schema)))
    renamed = copy.deepcopy(table)
    for key in renamed.keys:
        if key.name.lower() == old.lower():
            key.name = new
    for col in renamed.columns:
        if (col.default_name or "").lower() == old.lower():
            col.default_name = new
    apply(session, table, renamed, {c.name.lower(): quote(c.name) for c in table.columns})
    return [caution]


def _table_for_rename(session: StatementSession, parts: list[str], shown: Any) -> TableInfo:
    from . import table_ddl

    if not parts:
        raise SqlError(15248, f"Either the parameter @objname is ambiguous or the claimed @objtype is wrong ({types.text(shown)}).", 11)
    node = exp.Table(this=exp.to_identifier(parts[-1]), db=exp.to_identifier(parts[-2]) if len(parts) > 1 else None)
    return table_ddl.altered(session, node)


def _rename_column_refs(info: TableInfo, old: str, new: str) -> None:
    for key in info.keys:
        key.columns = [new if c.lower() == old.lower() else c for c in key.columns]
        if key.ref_key.lower() == info.key.lower():
            key.ref_columns = [new if c.lower() == old.lower() else c for c in key.ref_columns]
    for index in info.indexes:
        index.columns = [new if c.lower() == old.lower() else c for c in index.columns]
        index.include = [new if c.lower() == old.lower() else c for c in index.include]


def _rename_referencing(session: StatementSession, table: TableInfo, old: str, new: str) -> None:
    """Foreign keys of other tables that name the renamed column follow it (SQLite's rebuild names columns in text)."""
    for other in storage.tables(session.conn):
        if other.key.lower() == table.key.lower():
            continue
        if any(
            k.kind == "FOREIGN KEY" and k.ref_key.lower() == table.key.lower() and old.lower() in (c.lower() for c in k.ref_columns)
            for k in other.keys
        ):
            changed = copy.deepcopy(other)
            for k in changed.keys:
                if k.kind == "FOREIGN KEY" and k.ref_key.lower() == table.key.lower():
                    k.ref_columns = [new if c.lower() == old.lower() else c for c in k.ref_columns]
            apply(session, other, changed, {c.name.lower(): quote(c.name) for c in other.columns})


# --- catalog procedures ---------------------------------------------------------------------------


def _visible(session: StatementSession) -> list[TableInfo]:
    db = session.db()
    owners = ownership.object_owners(session.conn)
    return [
        t for t in storage.tables(session.conn) if db is not None and catalog_schema.visible(db, session.user, t, owners.get(t.object_id))
    ]


def _like(value: Any, pattern: Any) -> bool:
    """sp_tables/sp_columns name patterns: T-SQL LIKE patterns; no pattern matches everything."""
    return pattern is None or like(value, pattern) == 1


def _result(declared: list[tuple[str, TypeSpec]], rows: list[tuple[Any, ...]]) -> StatementResult:
    return StatementResult(result=types.typed_result(declared, rows), rowcount=len(rows))


def _helpindex(session: StatementSession, args: Args, params: dict[str, Param]) -> list[StatementResult]:
    del params
    name = args.get("objname")
    parts = [p.strip('[]"') for p in types.text(name).split(".")] if name is not None else []
    table = session.table_info(parts[-2] if len(parts) > 1 else "dbo", parts[-1]) if parts else None
    db = session.db()
    if (
        table is None
        or db is None
        or not catalog_schema.visible(db, session.user, table, ownership.object_owner(session.conn, table.object_id))
    ):
        raise SqlError(
            15009,
            f"The object '{types.text(name) if name is not None else ''}' does not exist in database '{session.ctx.database}' or is invalid for this operation.",
        )
    rows = []
    for index in catalog_schema.indexes(table):
        if index.index_id == 0 or index.name is None:
            continue
        words = ["clustered" if index.clustered else "nonclustered"]
        if index.unique:
            words.append("unique")
        if index.primary:
            words.append("primary key")
        elif index.constraint:
            words.append("unique key")
        description = ", ".join(words) + " located on PRIMARY"
        keys = ", ".join(c + ("(-)" if n < len(index.descending) and index.descending[n] else "") for n, c in enumerate(index.columns))
        rows.append((index.name, description, keys))
    if not rows:
        return [StatementResult(events=(Message(15472, 1, "The object does not have any indexes, or you do not have permissions."),))]
    return [
        _result(
            [("index_name", NAME), ("index_description", TypeSpec(SqlType.VARCHAR, 210)), ("index_keys", TypeSpec(SqlType.NVARCHAR, 2126))],
            rows,
        )
    ]


def _pkeys(session: StatementSession, args: Args, params: dict[str, Param]) -> list[StatementResult]:
    del params
    rows = []
    for t in _visible(session):
        if not _like(t.name, args.get("table_name")) or not _like(t.schema, args.get("table_owner")):
            continue
        for key in t.keys:
            if key.kind == "PRIMARY KEY":
                rows += [(session.ctx.database, t.schema, t.name, c, n + 1, key.name) for n, c in enumerate(key.columns)]
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[4]))
    declared = [
        ("TABLE_QUALIFIER", NAME),
        ("TABLE_OWNER", NAME),
        ("TABLE_NAME", NAME),
        ("COLUMN_NAME", NAME),
        ("KEY_SEQ", SMALL),
        ("PK_NAME", NAME),
    ]
    return [_result(declared, rows)]


# sp_fkeys' rule codes (Transact-SQL reference, sp_fkeys): 0 CASCADE, 1 NO ACTION, 2 SET NULL, 3 SET DEFAULT.
_RULES = {"CASCADE": 0, "NO_ACTION": 1, "SET_NULL": 2, "SET_DEFAULT": 3}


def _fkeys(session: StatementSession, args: Args, params: dict[str, Param]) -> list[StatementResult]:
    del params
    if args.get("pktable_name") is None and args.get("fktable_name") is None:
        raise SqlError(15252, "The primary or foreign key table name must be given.", 11)
    tables = _visible(session)
    rows = []
    for t in tables:
        for key in t.keys:
            if key.kind != "FOREIGN KEY":
                continue
            ref = next((r for r in tables if r.key.lower() == key.ref_key.lower()), None)
            if ref is None:
                continue
            if args.get("pktable_name") is not None and (
                not _like(ref.name, args["pktable_name"]) or not _like(ref.schema, args.get("pktable_owner"))
            ):
                continue
            if args.get("fktable_name") is not None and (
                not _like(t.name, args["fktable_name"]) or not _like(t.schema, args.get("fktable_owner"))
            ):
                continue
            pk = next(
                (
                    k.name
                    for k in ref.keys
                    if k.kind in ("PRIMARY KEY", "UNIQUE KEY")
                    and sorted(c.lower() for c in k.columns) == sorted(c.lower() for c in key.ref_columns)
                ),
                None,
            )
            for n, (fc, pc) in enumerate(zip(key.columns, key.ref_columns, strict=True)):
                rows.append((session.ctx.database, ref.schema, ref.name, pc, session.ctx.database, t.schema, t.name, fc, n + 1,
                             _RULES[key.on_update], _RULES[key.on_delete], key.name, pk, 7))  # fmt: skip
    rows.sort(key=lambda r: (r[5], r[6], r[8]))
    declared = [
        ("PKTABLE_QUALIFIER", NAME), ("PKTABLE_OWNER", NAME), ("PKTABLE_NAME", NAME), ("PKCOLUMN_NAME", NAME), ("FKTABLE_QUALIFIER", NAME),
        ("FKTABLE_OWNER", NAME), ("FKTABLE_NAME", NAME), ("FKCOLUMN_NAME", NAME), ("KEY_SEQ", SMALL), ("UPDATE_RULE", SMALL), ("DELETE_RULE", SMALL),
        ("FK_NAME", NAME), ("PK_NAME", NAME), ("DEFERRABILITY", SMALL),
    ]  # fmt: skip
    return [_result(declared, rows)]


def _tables(session: StatementSession, args: Args, params: dict[str, Param]) -> list[StatementResult]:
    del params
    wanted = args.get("table_type")
    kinds = (
        {k.strip().strip("'\"").upper() for k in types.text(wanted).split(",")} if wanted is not None else {"TABLE", "VIEW", "SYSTEM TABLE"}
    )
    rows = []
    if "TABLE" in kinds:
        rows = [
            (session.ctx.database, t.schema, t.name, "TABLE", None)
            for t in _visible(session)
            if _like(t.name, args.get("table_name")) and _like(t.schema, args.get("table_owner"))
        ]
    rows.sort(key=lambda r: (r[3], r[1], r[2]))
    declared = [
        ("TABLE_QUALIFIER", NAME),
        ("TABLE_OWNER", NAME),
        ("TABLE_NAME", NAME),
        ("TABLE_TYPE", TypeSpec(SqlType.VARCHAR, 32)),
        ("REMARKS", TypeSpec(SqlType.VARCHAR, 254)),
    ]
    return [_result(declared, rows)]


# ODBC SQL type codes (ODBC 3: sp_columns' DATA_TYPE) of the types the sandbox stores.
_ODBC_TYPES = {
    SqlType.TINYINT: -6, SqlType.SMALLINT: 5, SqlType.INT: 4, SqlType.BIGINT: -5, SqlType.BIT: -7, SqlType.DECIMAL: 3, SqlType.MONEY: 3,
    SqlType.FLOAT: 6, SqlType.REAL: 7, SqlType.NVARCHAR: -9, SqlType.VARCHAR: 12, SqlType.VARBINARY: -3, SqlType.UNIQUEIDENTIFIER: -11,
    SqlType.DATE: -9, SqlType.TIME: -9, SqlType.DATETIME: 11, SqlType.DATETIME2: -9, SqlType.DATETIMEOFFSET: -155,
}  # fmt: skip


def _columns(session: StatementSession, args: Args, params: dict[str, Param], extended: bool) -> list[StatementResult]:
    del params
    rows = []
    for t in _visible(session):
        if not _like(t.name, args.get("table_name")) or not _like(t.schema, args.get("table_owner")):
            continue
        for n, col in enumerate(t.columns):
            if not _like(col.name, args.get("column_name")):
                continue
            s = col.spec
            _tid, length, precision, scale = catalog_schema.column_type(col)
            text = s.type in (SqlType.NVARCHAR, SqlType.VARCHAR, SqlType.VARBINARY)
            chars = (2**30 - 1 if s.type == SqlType.NVARCHAR else 2**31 - 1) if s.is_max and text else (s.length if text else None)
            shown_precision = chars if text else (precision or length)
            octets = (2**31 - 1 if s.is_max else length) if text else None
            type_name = ("numeric" if s.type == SqlType.DECIMAL else str(s.type)) + (" identity" if col.identity else "")
            row: tuple[Any, ...] = (
                session.ctx.database, t.schema, t.name, col.name, _ODBC_TYPES.get(s.type, 12), type_name, shown_precision,
                octets if text else length, scale if s.type in (SqlType.DECIMAL, SqlType.TIME, SqlType.DATETIME2, SqlType.DATETIMEOFFSET) or s.type in (SqlType.TINYINT, SqlType.SMALLINT, SqlType.INT, SqlType.BIGINT) else None,
                10 if s.type in (SqlType.TINYINT, SqlType.SMALLINT, SqlType.INT, SqlType.BIGINT, SqlType.DECIMAL) else (2 if s.type in (SqlType.FLOAT, SqlType.REAL) else None),
                int(col.nullable), None, col.default, _ODBC_TYPES.get(s.type, 12), None, octets, n + 1, "YES" if col.nullable else "NO", 0,
            )  # fmt: skip
            if extended:
                row += (0, 0, 0, int(col.identity), None, None, None, None, None, None, None, None, None)
            rows.append(row)
    declared = [
        ("TABLE_QUALIFIER", NAME), ("TABLE_OWNER", NAME), ("TABLE_NAME", NAME), ("COLUMN_NAME", NAME), ("DATA_TYPE", SMALL), ("TYPE_NAME", NAME),
        ("PRECISION", INT), ("LENGTH", INT), ("SCALE", SMALL), ("RADIX", SMALL), ("NULLABLE", SMALL), ("REMARKS", TypeSpec(SqlType.VARCHAR, 254)),
        ("COLUMN_DEF", TEXT), ("SQL_DATA_TYPE", SMALL), ("SQL_DATETIME_SUB", SMALL), ("CHAR_OCTET_LENGTH", INT), ("ORDINAL_POSITION", INT),
        ("IS_NULLABLE", TypeSpec(SqlType.VARCHAR, 254)), ("SS_DATA_TYPE", TypeSpec(SqlType.TINYINT)),
    ]  # fmt: skip
    if extended:
        declared += [
            ("SS_IS_SPARSE", SMALL), ("SS_IS_COLUMN_SET", SMALL), ("SS_IS_COMPUTED", SMALL), ("SS_IS_IDENTITY", SMALL), ("SS_UDT_CATALOG_NAME", NAME),
            ("SS_UDT_SCHEMA_NAME", NAME), ("SS_UDT_ASSEMBLY_TYPE_NAME", TypeSpec(SqlType.NVARCHAR, 4000)), ("SS_XML_SCHEMACOLLECTION_CATALOG_NAME", NAME),
            ("SS_XML_SCHEMACOLLECTION_SCHEMA_NAME", NAME), ("SS_XML_SCHEMACOLLECTION_NAME", NAME), ("SS_UDT_CATALOG_NAME_COMPAT", NAME),
            ("SS_UDT_SCHEMA_NAME_COMPAT", NAME), ("SS_UDT_ASSEMBLY_TYPE_NAME_COMPAT", NAME),
        ]  # fmt: skip
    return [_result(declared, rows)]


# --- sp_describe_undeclared_parameters ------------------------------------------------------------

# TDS type ids (MS-TDS 2.2.5.4) and lengths the driver reads from suggested_tds_type_id / _length.
_TDS_TYPES = {
    SqlType.TINYINT: (38, 1), SqlType.SMALLINT: (38, 2), SqlType.INT: (38, 4), SqlType.BIGINT: (38, 8), SqlType.BIT: (104, 1),
    SqlType.DECIMAL: (106, 17), SqlType.MONEY: (110, 8), SqlType.FLOAT: (109, 8), SqlType.REAL: (109, 4), SqlType.DATE: (40, 3),
    SqlType.TIME: (41, 5), SqlType.DATETIME: (111, 8), SqlType.DATETIME2: (42, 8), SqlType.DATETIMEOFFSET: (43, 10),
    SqlType.UNIQUEIDENTIFIER: (36, 16), SqlType.NVARCHAR: (231, 0), SqlType.VARCHAR: (167, 0), SqlType.VARBINARY: (165, 0),
}  # fmt: skip


def _type_name(spec: TypeSpec) -> str:
    name = "decimal" if spec.type == SqlType.DECIMAL else str(spec.type)
    if spec.type in (SqlType.NVARCHAR, SqlType.VARCHAR, SqlType.VARBINARY):
        return f"{name}({'max' if spec.is_max else spec.length})"
    if spec.type == SqlType.DECIMAL:
        return f"{name}({spec.precision},{spec.scale})"
    if spec.type in (SqlType.TIME, SqlType.DATETIME2, SqlType.DATETIMEOFFSET):
        return f"{name}({spec.scale})"
    return name


def _target_type(session: StatementSession, tree: exp.Expression, param: exp.Parameter) -> TypeSpec:
    """Simple deduction (Transact-SQL reference, "Parameter Selection Algorithm", step 3): the type of what @p meets directly."""
    parent = param.parent
    while isinstance(parent, exp.Paren):
        parent = parent.parent
    name = f"@{param.name}"
    other: exp.Expression | None = None
    if isinstance(parent, exp.EQ | exp.NEQ):
        other = parent.expression if parent.this is param or param in parent.this.find_all(exp.Parameter) else parent.this
    elif isinstance(parent, exp.Cast | exp.TryCast) and parent.this is param:
        return types.spec_of(parent.args["to"], in_cast=True)
    elif isinstance(parent, exp.Tuple) and isinstance(parent.parent, exp.Values) and isinstance(tree, exp.Insert):
        position = parent.expressions.index(param)
        target = tree.this
        columns = [i.name for i in target.expressions] if isinstance(target, exp.Schema) else None
        info = _statement_table(session, target.this if isinstance(target, exp.Schema) else target)
        names = columns if columns is not None else [c.name for c in info.columns if not c.identity]
        col = info.column(names[position]) if position < len(names) else None
        if col is not None:
            return col.spec
    if isinstance(other, exp.Column):
        spec = _column_spec(session, tree, other)
        if spec is not None:
            return spec
    raise errors.unsupported(
        f"sp_describe_undeclared_parameters deducing the type of {name} (only simple deduction: @p = column, INSERT VALUES, CAST)"
    )


def _statement_table(session: StatementSession, node: exp.Expression) -> TableInfo:
    if not isinstance(node, exp.Table):
        raise errors.unsupported(node.sql(dialect="tsql"))
    info = session.table_info(node.db or "dbo", node.name)
    if info is None:
        raise errors.invalid_object(translate.qualified_name(node))
    return info


def _column_spec(session: StatementSession, tree: exp.Expression, column: exp.Column) -> TypeSpec | None:
    for table in tree.find_all(exp.Table):
        if column.table and column.table.lower() not in (table.alias_or_name.lower(), table.name.lower()):
            continue
        info = session.table_info(table.db or "dbo", table.name)
        col = info.column(column.name) if info is not None else None
        if col is not None:
            return col.spec
    return None


def _describe_undeclared(session: StatementSession, args: Args, params: dict[str, Param]) -> list[StatementResult]:
    del params
    tsql = args.get("tsql")
    if tsql is None:
        raise SqlError(
            201, "Procedure or function 'sp_describe_undeclared_parameters' expects parameter '@tsql', which was not supplied.", 16, 4
        )
    declared: set[str] = set()
    if args.get("params"):
        tree = translate.parse(f"DECLARE {types.text(args['params'])}")
        for item in tree.expressions if isinstance(tree, exp.Declare) else []:
            for name in item.this if isinstance(item.this, list) else [item.this]:
                declared.add(name.name.lower())
    rows: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    for st in _split(types.text(tsql)):
        tree = translate.parse(st)
        for param in tree.find_all(exp.Parameter):
            if isinstance(param.this, exp.Parameter) or isinstance(param.parent, exp.Parameter):
                continue  # @@ functions
            key = param.name.lower()
            if key in declared or key in seen:
                continue
            seen.add(key)
            spec = _target_type(session, tree, param)
            tid, length, precision, scale = catalog_schema.column_type(storage.ColumnInfo(param.name, spec))
            tds_id, tds_length = _TDS_TYPES[spec.type]
            if spec.type in (SqlType.NVARCHAR, SqlType.VARCHAR, SqlType.VARBINARY):
                tds_length = 65535 if spec.is_max else length
            rows.append((len(rows) + 1, f"@{param.name}", tid, _type_name(spec), length, precision, scale, None, None, None, None, None, None, None,
                         None, None, 0, 0, 0, 1, 0, None, tds_id, tds_length))  # fmt: skip
    declared_columns = [
        ("parameter_ordinal", INT), ("name", NAME), ("suggested_system_type_id", INT), ("suggested_system_type_name", TypeSpec(SqlType.NVARCHAR, 256)),
        ("suggested_max_length", SMALL), ("suggested_precision", TypeSpec(SqlType.TINYINT)), ("suggested_scale", TypeSpec(SqlType.TINYINT)),
        ("suggested_user_type_id", INT), ("suggested_user_type_database", NAME), ("suggested_user_type_schema", NAME), ("suggested_user_type_name", NAME),
        ("suggested_assembly_qualified_type_name", TEXT), ("suggested_xml_collection_id", INT), ("suggested_xml_collection_database", NAME),
        ("suggested_xml_collection_schema", NAME), ("suggested_xml_collection_name", NAME), ("suggested_is_xml_document", TypeSpec(SqlType.BIT)),
        ("suggested_is_case_sensitive", TypeSpec(SqlType.BIT)), ("suggested_is_fixed_length_clr_type", TypeSpec(SqlType.BIT)),
        ("suggested_is_input", TypeSpec(SqlType.BIT)), ("suggested_is_output", TypeSpec(SqlType.BIT)), ("formal_parameter_name", NAME),
        ("suggested_tds_type_id", INT), ("suggested_tds_length", INT),
    ]  # fmt: skip
    return [_result(declared_columns, rows)]


def _split(sql: str) -> list[str]:
    return [st.text for st in batch.split(sql)]


_COLUMNS_ARGS = ["table_name", "table_owner", "table_qualifier", "column_name", "odbcver", "fusepattern"]
Procedure = Callable[["StatementSession", Args, dict[str, Param]], list[StatementResult]]
_PROCEDURES: dict[str, tuple[list[str], Procedure]] = {
    "sp_executesql": (["stmt", "params", "#1", "#2", "#3", "#4", "#5", "#6", "#7", "#8", "#9"], _executesql),
    "sp_rename": (["objname", "newname", "objtype"], _rename),
    "sp_helpindex": (["objname"], _helpindex),
    "sp_pkeys": (["table_name", "table_owner", "table_qualifier"], _pkeys),
    "sp_fkeys": (["pktable_name", "pktable_owner", "pktable_qualifier", "fktable_name", "fktable_owner", "fktable_qualifier"], _fkeys),
    "sp_tables": (["table_name", "table_owner", "table_qualifier", "table_type", "fusepattern"], _tables),
    "sp_columns": (_COLUMNS_ARGS, lambda s, a, p: _columns(s, a, p, extended=False)),
    "sp_columns_100": (_COLUMNS_ARGS, lambda s, a, p: _columns(s, a, p, extended=True)),
    "sp_describe_undeclared_parameters": (["tsql", "params"], _describe_undeclared),
}

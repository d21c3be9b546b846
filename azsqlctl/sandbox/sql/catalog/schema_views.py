"""The catalog views of the user's schema, all generated from one model: the tables' ``storage.TableInfo``.

``SchemaModel`` reads every table's model once per view and numbers what SQL Server numbers
(schema ids, object ids of constraints, index ids); each view below -- sys.tables, sys.columns,
sys.indexes, sys.key_constraints, sys.foreign_keys, the INFORMATION_SCHEMA views ... -- is a
projection of it, so they agree with each other and with the DDL that built the tables.

Visibility follows SQL Server's metadata visibility rule (Microsoft Learn, "Metadata Visibility
Configuration"): a principal sees a securable's metadata only if it owns it or holds some permission
on it; for the sandbox's tables, whose permissions are granted at database or schema scope, that is
any object permission on the table's schema (or the database), or ownership (dbo, db_owner).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...state import Database
from ..engine import ownership, storage, types, views
from ..engine.storage import ColumnInfo, KeyInfo, TableInfo
from ..security import permissions
from ..sqltypes import MAX, SqlType, TypeSpec
from .model import INT, NAME, CatalogContext, Columns, Rows, View
from .security_views import principal_ids

# The permissions any one of which makes a table's metadata visible (Metadata Visibility Configuration).
_VISIBLE_WITH = ("SELECT", "INSERT", "UPDATE", "DELETE", "REFERENCES", "ALTER", "CONTROL", "VIEW DEFINITION", "TAKE OWNERSHIP")

BIT = TypeSpec(SqlType.BIT)
TINY = TypeSpec(SqlType.TINYINT)
SMALL = TypeSpec(SqlType.SMALLINT)
CODE = TypeSpec(SqlType.VARCHAR, 2)
DESC = TypeSpec(SqlType.NVARCHAR, 60)
TEXT = TypeSpec(SqlType.NVARCHAR, MAX)
WHEN = TypeSpec(SqlType.DATETIME, scale=3)
_CREATED = "2024-01-01 00:00:00"  # the sandbox keeps no creation times; one fixed instant, not an invented history

# sys.types: (name, system_type_id, max_length, precision, scale) of the types the sandbox stores.
_TYPES = [
    ("tinyint", 48, 1, 3, 0), ("smallint", 52, 2, 5, 0), ("int", 56, 4, 10, 0), ("bigint", 127, 8, 19, 0), ("bit", 104, 1, 1, 0),
    ("decimal", 106, 17, 38, 38), ("numeric", 108, 17, 38, 38), ("money", 60, 8, 19, 4), ("real", 59, 4, 24, 0), ("float", 62, 8, 53, 0),
    ("date", 40, 3, 10, 0), ("time", 41, 5, 16, 7), ("datetime", 61, 8, 23, 3), ("datetime2", 42, 8, 27, 7), ("datetimeoffset", 43, 10, 34, 7),
    ("uniqueidentifier", 36, 16, 0, 0), ("varbinary", 165, 8000, 0, 0), ("varchar", 167, 8000, 0, 0), ("nvarchar", 231, 8000, 0, 0),
]  # fmt: skip
TYPE_IDS = {name: (tid, length, precision, scale) for name, tid, length, precision, scale in _TYPES}
_COLLATION = "SQL_Latin1_General_CP1_CI_AS"
_ACTION_CODES = {"NO_ACTION": 0, "CASCADE": 1, "SET_NULL": 2, "SET_DEFAULT": 3}


@dataclass(frozen=True)
class Constraint:
    """A constraint as an object of its own (sys.objects): a key, a foreign key, a CHECK or a DEFAULT."""

    table: TableInfo
    object_id: int
    name: str
    type: str  # PK, UQ, F, C, D
    key: KeyInfo | None = None
    column: ColumnInfo | None = None


@dataclass(frozen=True)
class Index:
    """A row of sys.indexes: the heap or the index of a PRIMARY KEY / UNIQUE constraint, or a CREATE INDEX."""

    table: TableInfo
    index_id: int
    name: str | None
    columns: list[str]
    unique: bool
    clustered: bool
    primary: bool = False
    constraint: bool = False
    descending: list[bool] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    where: str = ""


def object_ids(table: TableInfo) -> list[Constraint]:
    """The table's constraints with their object ids: near the table's own, in declaration order."""
    out = [
        Constraint(
            table, table.object_id + 1 + i, k.name, {"PRIMARY KEY": "PK", "UNIQUE KEY": "UQ", "FOREIGN KEY": "F"}.get(k.kind, "C"), k
        )
        for i, k in enumerate(table.keys)
    ]
    out += [
        Constraint(table, table.object_id + 8000 + i, c.default_name or "", "D", column=c)
        for i, c in enumerate(table.columns)
        if c.default_sqlite
    ]
    return out


def indexes(table: TableInfo) -> list[Index]:
    """sys.indexes for a table: index 1 is the clustered index (the PRIMARY KEY's, as by default), 0 the heap without one."""
    keys = [k for k in table.keys if k.kind in ("PRIMARY KEY", "UNIQUE KEY")]
    clustered_index = next((i for i in table.indexes if i.clustered), None)
    primary = next((k for k in keys if k.kind == "PRIMARY KEY"), None)
    out: list[Index] = []
    if clustered_index is None and primary is None:
        out.append(Index(table, 0, None, [], False, False))
    next_id = 2
    for k in keys:
        clustered = k is primary and clustered_index is None
        out.append(
            Index(table, 1 if clustered else next_id, k.name, k.columns, True, clustered, k is primary, True, [False] * len(k.columns))
        )
        next_id += not clustered
    for i in table.indexes:
        out.append(
            Index(
                table,
                1 if i is clustered_index else next_id,
                i.name,
                i.columns,
                i.unique,
                i.clustered,
                False,
                False,
                i.descending,
                i.include,
                i.where,
            )
        )
        next_id += i is not clustered_index
    return sorted(out, key=lambda x: x.index_id)


class SchemaModel:
    """The user's schema as the caller may see it."""

    def __init__(self, c: CatalogContext) -> None:
        self.database = c.caller.database
        self.schemas = list(c.db.schemas) if c.db is not None else ["dbo"]
        names = ownership.object_owners(c.conn)  # an object's own owner (ALTER AUTHORIZATION ON OBJECT), by object id
        self.tables = [t for t in storage.tables(c.conn) if c.db is not None and visible(c.db, c.caller.user, t, names.get(t.object_id))]
        self.by_key = {t.key.lower(): t for t in self.tables}
        self.views = [
            v for v in views.all_views(c.conn) if c.db is not None and visible_schema(c.db, c.caller.user, v.schema, names.get(v.object_id))
        ]
        # sys.objects.principal_id: the object's own owner; NULL when its schema's owner owns it.
        ids = principal_ids(c.db) if c.db is not None else {}
        self.owners = {oid: ids.get(owner.lower()) for oid, owner in names.items()}
        self.schema_owners = {s.lower(): o for s, o in (c.db.schema_owners.items() if c.db is not None else [])}

    def schema_id(self, name: str) -> int:
        return next((i + 1 for i, s in enumerate(self.schemas) if s.lower() == name.lower()), 0)

    def constraints(self) -> list[Constraint]:
        return [c for t in self.tables for c in object_ids(t)]

    def column_id(self, table: TableInfo, name: str) -> int:
        return next((i + 1 for i, c in enumerate(table.columns) if c.name.lower() == name.lower()), 0)


def visible(db: Database, user: str, table: TableInfo, owner: str | None = None) -> bool:
    """Whether ``user`` may see ``table``'s metadata: it holds some permission on it (or owns it; ``owner``: its own owner)."""
    return visible_schema(db, user, table.schema, owner)


def visible_schema(db: Database, user: str, schema: str, owner: str | None = None) -> bool:
    """Whether ``user`` may see the metadata of an object in ``schema`` (permissions are held at schema or database scope,
    ownership on the schema or, ``owner``, on the object)."""
    return any(permissions.has(db, user, p, schema, owner) for p in _VISIBLE_WITH)


def _object_row(m: SchemaModel, name: str, object_id: int, schema: str, parent: int, code: str, desc: str) -> dict[str, object]:
    return {
        "name": name, "object_id": object_id, "principal_id": m.owners.get(object_id), "schema_id": m.schema_id(schema), "parent_object_id": parent,
        "type": code, "type_desc": desc, "create_date": _CREATED, "modify_date": _CREATED, "is_ms_shipped": 0,
        "is_published": 0, "is_schema_published": 0,
    }  # fmt: skip


_OBJECT_DESC = {
    "PK": "PRIMARY_KEY_CONSTRAINT",
    "UQ": "UNIQUE_CONSTRAINT",
    "F": "FOREIGN_KEY_CONSTRAINT",
    "C": "CHECK_CONSTRAINT",
    "D": "DEFAULT_CONSTRAINT",
}
_OBJECT_COLUMNS: Columns = [
    ("name", NAME), ("object_id", INT), ("principal_id", INT), ("schema_id", INT), ("parent_object_id", INT), ("type", CODE),
    ("type_desc", DESC), ("create_date", WHEN), ("modify_date", WHEN), ("is_ms_shipped", BIT), ("is_published", BIT),
    ("is_schema_published", BIT),
]  # fmt: skip


def _objects(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    rows = [_object_row(m, t.name, t.object_id, t.schema, 0, "U", "USER_TABLE") for t in m.tables]
    rows += [_object_row(m, k.name, k.object_id, k.table.schema, k.table.object_id, k.type, _OBJECT_DESC[k.type]) for k in m.constraints()]
    rows += [_object_row(m, v.name, v.object_id, v.schema, 0, "V", "VIEW") for v in m.views]
    return rows


def _views(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {
            **_object_row(m, v.name, v.object_id, v.schema, 0, "V", "VIEW"),
            "is_replicated": 0,
            "has_opaque_metadata": 0,
            "with_check_option": 0,
        }
        for v in m.views
    ]


def _sql_modules(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {"object_id": v.object_id, "definition": v.definition, "uses_ansi_nulls": 1, "uses_quoted_identifier": 1, "is_schema_bound": 0}
        for v in m.views
    ]


def _info_views(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {"TABLE_CATALOG": m.database, "TABLE_SCHEMA": v.schema, "TABLE_NAME": v.name, "VIEW_DEFINITION": v.definition[:4000],
         "CHECK_OPTION": "NONE", "IS_UPDATABLE": "NO"}
        for v in m.views
    ]  # fmt: skip


def _tables(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {**_object_row(m, t.name, t.object_id, t.schema, 0, "U", "USER_TABLE"), "lob_data_space_id": 0, "max_column_id_used": len(t.columns),
         "uses_ansi_nulls": 1, "is_replicated": 0, "has_replication_filter": 0, "is_merge_published": 0, "is_sync_tran_subscribed": 0,
         "text_in_row_limit": 0, "large_value_types_out_of_row": 0, "is_tracked_by_cdc": 0, "lock_escalation_desc": "TABLE",
         "is_filetable": 0, "is_memory_optimized": 0, "durability_desc": "SCHEMA_AND_DATA", "temporal_type": 0,
         "temporal_type_desc": "NON_TEMPORAL_TABLE", "history_table_id": None, "is_remote_data_archive_enabled": 0, "is_external": 0,
         "is_node": 0, "is_edge": 0, "ledger_type": 0, "ledger_type_desc": "NON_LEDGER_TABLE", "is_dropped_ledger_table": 0}
        for t in m.tables
    ]  # fmt: skip


def column_type(col: ColumnInfo) -> tuple[int, int, int, int]:
    """(system_type_id, max_length, precision, scale) as sys.columns shows a column."""
    s = col.spec
    tid, length, precision, scale = TYPE_IDS[str(s.type)]
    if s.type in (SqlType.NVARCHAR, SqlType.VARCHAR, SqlType.VARBINARY):
        length = -1 if s.is_max else (s.length or 1) * (2 if s.type == SqlType.NVARCHAR else 1)
    elif s.type == SqlType.DECIMAL:
        precision, scale = s.precision, s.scale
        length = 5 if precision <= 9 else 9 if precision <= 19 else 13 if precision <= 28 else 17
    elif s.type in (SqlType.TIME, SqlType.DATETIME2, SqlType.DATETIMEOFFSET):
        scale = s.scale
    return tid, length, precision, scale


def _with_views(m: SchemaModel) -> list[TableInfo]:
    """Tables and views, each as the columns it has (a view's from its SELECT): what the column views list."""
    return [*m.tables, *(TableInfo(v.schema, v.name, v.object_id, [ColumnInfo(n, spec) for n, spec in v.columns]) for v in m.views)]


def _columns(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    rows: Rows = []
    for t in _with_views(m):
        defaults = {k.column.name.lower(): k.object_id for k in object_ids(t) if k.column is not None}
        for i, col in enumerate(t.columns):
            tid, length, precision, scale = column_type(col)
            text = col.spec.type in (SqlType.NVARCHAR, SqlType.VARCHAR)
            rows.append({
                "object_id": t.object_id, "name": col.name, "column_id": i + 1, "system_type_id": tid, "user_type_id": tid,
                "max_length": length, "precision": precision, "scale": scale, "is_nullable": int(col.nullable),
                "collation_name": _COLLATION if text else None, "default_object_id": defaults.get(col.name.lower(), 0),
                "rule_object_id": 0, "is_identity": int(col.identity), "is_computed": 0, "is_rowguidcol": 0, "is_filestream": 0,
                "is_replicated": 0, "is_sparse": 0, "is_column_set": 0, "is_hidden": 0, "is_masked": 0, "generated_always_type": 0,
                "is_ansi_padded": int(text), "is_xml_document": 0, "xml_collection_id": 0,
            })  # fmt: skip
    return rows


def _types(c: CatalogContext) -> Rows:
    del c
    return [
        {"name": n, "system_type_id": t, "user_type_id": t, "schema_id": 4, "principal_id": None, "max_length": length, "precision": p,
         "scale": sc, "collation_name": _COLLATION if n in ("varchar", "nvarchar") else None, "is_nullable": 1, "is_user_defined": 0,
         "is_assembly_type": 0, "default_object_id": 0, "rule_object_id": 0, "is_table_type": 0}
        for n, t, length, p, sc in _TYPES
    ]  # fmt: skip


def _default_constraints(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {**_object_row(m, k.name, k.object_id, k.table.schema, k.table.object_id, "D", "DEFAULT_CONSTRAINT"),
         "parent_column_id": m.column_id(k.table, k.column.name), "definition": k.column.default, "is_system_named": int(k.name.startswith("DF__"))}
        for k in m.constraints() if k.type == "D" and k.column is not None
    ]  # fmt: skip


def _check_constraints(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {**_object_row(m, k.name, k.object_id, k.table.schema, k.table.object_id, "C", "CHECK_CONSTRAINT"), "is_disabled": 0,
         "is_not_for_replication": 0, "is_not_trusted": 0,
         "parent_column_id": m.column_id(k.table, k.key.columns[0]) if len(k.key.columns) == 1 else 0,
         "definition": k.key.definition, "uses_database_collation": 1, "is_system_named": int(k.name.startswith("CK__"))}
        for k in m.constraints() if k.type == "C" and k.key is not None
    ]  # fmt: skip


def _key_constraints(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    rows: Rows = []
    for t in m.tables:
        ids = {i.name: i.index_id for i in indexes(t) if i.constraint}
        for k in object_ids(t):
            if k.type in ("PK", "UQ"):
                rows.append({**_object_row(m, k.name, k.object_id, t.schema, t.object_id, k.type, _OBJECT_DESC[k.type]),
                             "unique_index_id": ids.get(k.name, 0), "is_system_named": int(k.name.startswith(("PK__", "UQ__"))), "is_enforced": 1})  # fmt: skip
    return rows


def _foreign_keys(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    rows: Rows = []
    for k in m.constraints():
        if k.type != "F" or k.key is None:
            continue
        ref = m.by_key.get(k.key.ref_key.lower())
        key_index = next(
            (i.index_id for i in indexes(ref) if i.unique and sorted(x.lower() for x in i.columns) == sorted(x.lower() for x in k.key.ref_columns)), 0
        ) if ref else 0  # fmt: skip
        rows.append({
            **_object_row(m, k.name, k.object_id, k.table.schema, k.table.object_id, "F", "FOREIGN_KEY_CONSTRAINT"),
            "referenced_object_id": ref.object_id if ref else None, "key_index_id": key_index, "is_disabled": 0,
            "is_not_for_replication": 0, "is_not_trusted": 0,
            "delete_referential_action": _ACTION_CODES[k.key.on_delete], "delete_referential_action_desc": k.key.on_delete,
            "update_referential_action": _ACTION_CODES[k.key.on_update], "update_referential_action_desc": k.key.on_update,
            "is_system_named": int(k.name.startswith("FK__")),
        })  # fmt: skip
    return rows


def _foreign_key_columns(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    rows: Rows = []
    for k in m.constraints():
        if k.type != "F" or k.key is None:
            continue
        ref = m.by_key.get(k.key.ref_key.lower())
        for i, (col, ref_col) in enumerate(zip(k.key.columns, k.key.ref_columns, strict=True)):
            rows.append({
                "constraint_object_id": k.object_id, "constraint_column_id": i + 1, "parent_object_id": k.table.object_id,
                "parent_column_id": m.column_id(k.table, col), "referenced_object_id": ref.object_id if ref else None,
                "referenced_column_id": m.column_id(ref, ref_col) if ref else None,
            })  # fmt: skip
    return rows


def _indexes(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {"object_id": i.table.object_id, "name": i.name, "index_id": i.index_id, "type": 0 if i.index_id == 0 else 1 if i.clustered else 2,
         "type_desc": "HEAP" if i.index_id == 0 else "CLUSTERED" if i.clustered else "NONCLUSTERED", "is_unique": int(i.unique),
         "data_space_id": 1, "ignore_dup_key": 0, "is_primary_key": int(i.primary), "is_unique_constraint": int(i.constraint and not i.primary),
         "fill_factor": 0, "is_padded": 0, "is_disabled": 0, "is_hypothetical": 0, "is_ignored_in_optimization": 0, "allow_row_locks": 1,
         "allow_page_locks": 1, "has_filter": int(bool(i.where)), "filter_definition": i.where or None, "compression_delay": None,
         "suppress_dup_key_messages": 0, "auto_created": 0, "optimize_for_sequential_key": 0}
        for t in m.tables for i in indexes(t)
    ]  # fmt: skip


def _index_columns(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    rows: Rows = []
    for t in m.tables:
        for i in indexes(t):
            listed = [(name, False, n < len(i.descending) and i.descending[n]) for n, name in enumerate(i.columns)]
            listed += [(name, True, False) for name in i.include]
            for n, (name, included, desc) in enumerate(listed):
                rows.append({
                    "object_id": t.object_id, "index_id": i.index_id, "index_column_id": n + 1, "column_id": m.column_id(t, name),
                    "key_ordinal": 0 if included else n + 1, "partition_ordinal": 0, "is_descending_key": int(desc),
                    "is_included_column": int(included), "column_store_order_ordinal": 0,
                })  # fmt: skip
    return rows


def _identity_columns(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {"object_id": t.object_id, "name": col.name, "column_id": i + 1, "is_identity": 1, "seed_value": col.seed, "increment_value": 1,
         "last_value": _last_identity(c, t), "is_not_for_replication": 0}
        for t in m.tables for i, col in enumerate(t.columns) if col.identity
    ]  # fmt: skip


def _last_identity(c: CatalogContext, t: TableInfo) -> int | None:
    row = c.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (t.key,)).fetchone()
    return int(row[0]) if row and row[0] >= next((col.seed for col in t.columns if col.identity), 1) else None


# --- INFORMATION_SCHEMA ----------------------------------------------------------------------------


def _info_tables(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    rows = [{"TABLE_CATALOG": m.database, "TABLE_SCHEMA": t.schema, "TABLE_NAME": t.name, "TABLE_TYPE": "BASE TABLE"} for t in m.tables]
    return rows + [{"TABLE_CATALOG": m.database, "TABLE_SCHEMA": v.schema, "TABLE_NAME": v.name, "TABLE_TYPE": "VIEW"} for v in m.views]


def _info_columns(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    rows: Rows = []
    for t in _with_views(m):
        for i, col in enumerate(t.columns):
            s = col.spec
            text = s.type in (SqlType.NVARCHAR, SqlType.VARCHAR)
            char_len = (-1 if s.is_max else s.length) if text or s.type == SqlType.VARBINARY else None
            numeric = s.type in (
                SqlType.DECIMAL,
                SqlType.TINYINT,
                SqlType.SMALLINT,
                SqlType.INT,
                SqlType.BIGINT,
                SqlType.FLOAT,
                SqlType.REAL,
            )
            _tid, _length, precision, scale = column_type(col)
            rows.append({
                "TABLE_CATALOG": m.database, "TABLE_SCHEMA": t.schema, "TABLE_NAME": t.name, "COLUMN_NAME": col.name,
                "ORDINAL_POSITION": i + 1, "COLUMN_DEFAULT": col.default, "IS_NULLABLE": "YES" if col.nullable else "NO",
                "DATA_TYPE": "decimal" if s.type == SqlType.DECIMAL else types.type_name(s), "CHARACTER_MAXIMUM_LENGTH": char_len,
                "CHARACTER_OCTET_LENGTH": None if char_len is None else -1 if char_len == -1 else char_len * (2 if s.type == SqlType.NVARCHAR else 1),
                "NUMERIC_PRECISION": precision if numeric else None, "NUMERIC_PRECISION_RADIX": (2 if s.type in (SqlType.FLOAT, SqlType.REAL) else 10) if numeric else None,
                "NUMERIC_SCALE": scale if numeric and s.type not in (SqlType.FLOAT, SqlType.REAL) else None,
                "DATETIME_PRECISION": scale if s.type in (SqlType.DATE, SqlType.TIME, SqlType.DATETIME, SqlType.DATETIME2, SqlType.DATETIMEOFFSET) else None,
                "CHARACTER_SET_NAME": ("UNICODE" if s.type == SqlType.NVARCHAR else "iso_1") if text else None,
                "COLLATION_NAME": _COLLATION if text else None,
            })  # fmt: skip
    return rows


def _info_schemata(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {"CATALOG_NAME": m.database, "SCHEMA_NAME": s, "SCHEMA_OWNER": m.schema_owners.get(s.lower(), s if s in ("guest", "INFORMATION_SCHEMA", "sys") else "dbo"), "DEFAULT_CHARACTER_SET_CATALOG": None,
         "DEFAULT_CHARACTER_SET_SCHEMA": None, "DEFAULT_CHARACTER_SET_NAME": "iso_1"}
        for s in [*m.schemas, "guest", "INFORMATION_SCHEMA", "sys"]
    ]  # fmt: skip


_CONSTRAINT_TYPES = {"PK": "PRIMARY KEY", "UQ": "UNIQUE", "F": "FOREIGN KEY", "C": "CHECK"}


def _info_table_constraints(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {"CONSTRAINT_CATALOG": m.database, "CONSTRAINT_SCHEMA": k.table.schema, "CONSTRAINT_NAME": k.name, "TABLE_CATALOG": m.database,
         "TABLE_SCHEMA": k.table.schema, "TABLE_NAME": k.table.name, "CONSTRAINT_TYPE": _CONSTRAINT_TYPES[k.type], "IS_DEFERRABLE": "NO",
         "INITIALLY_DEFERRED": "NO"}
        for k in m.constraints() if k.type in _CONSTRAINT_TYPES
    ]  # fmt: skip


def _info_key_column_usage(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {"CONSTRAINT_CATALOG": m.database, "CONSTRAINT_SCHEMA": k.table.schema, "CONSTRAINT_NAME": k.name, "TABLE_CATALOG": m.database,
         "TABLE_SCHEMA": k.table.schema, "TABLE_NAME": k.table.name, "COLUMN_NAME": col, "ORDINAL_POSITION": i + 1}
        for k in m.constraints() if k.key is not None and k.type in ("PK", "UQ", "F") for i, col in enumerate(k.key.columns)
    ]  # fmt: skip


def _info_constraint_column_usage(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {"TABLE_CATALOG": m.database, "TABLE_SCHEMA": k.table.schema, "TABLE_NAME": k.table.name, "COLUMN_NAME": col,
         "CONSTRAINT_CATALOG": m.database, "CONSTRAINT_SCHEMA": k.table.schema, "CONSTRAINT_NAME": k.name}
        for k in m.constraints() if k.key is not None and k.type in _CONSTRAINT_TYPES for col in k.key.columns
    ]  # fmt: skip


def _info_referential_constraints(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    rows: Rows = []
    for k in m.constraints():
        if k.type != "F" or k.key is None:
            continue
        ref = m.by_key.get(k.key.ref_key.lower())
        unique = next(
            (x for x in (ref.keys if ref else []) if x.kind in ("PRIMARY KEY", "UNIQUE KEY")
             and sorted(y.lower() for y in x.columns) == sorted(y.lower() for y in k.key.ref_columns)),
            None,
        )  # fmt: skip
        rows.append({
            "CONSTRAINT_CATALOG": m.database, "CONSTRAINT_SCHEMA": k.table.schema, "CONSTRAINT_NAME": k.name,
            "UNIQUE_CONSTRAINT_CATALOG": m.database, "UNIQUE_CONSTRAINT_SCHEMA": k.key.ref_schema,
            "UNIQUE_CONSTRAINT_NAME": unique.name if unique else None, "MATCH_OPTION": "SIMPLE",
            "UPDATE_RULE": k.key.on_update.replace("_", " "), "DELETE_RULE": k.key.on_delete.replace("_", " "),
        })  # fmt: skip
    return rows


def _info_check_constraints(c: CatalogContext) -> Rows:
    m = SchemaModel(c)
    return [
        {"CONSTRAINT_CATALOG": m.database, "CONSTRAINT_SCHEMA": k.table.schema, "CONSTRAINT_NAME": k.name, "CHECK_CLAUSE": k.key.definition}
        for k in m.constraints() if k.type == "C" and k.key is not None
    ]  # fmt: skip


def _none(c: CatalogContext) -> Rows:
    """A view of things the sandbox cannot create (views, sequences, computed columns, extended properties): truly empty."""
    del c
    return []


_TC: Columns = [("CONSTRAINT_CATALOG", NAME), ("CONSTRAINT_SCHEMA", NAME), ("CONSTRAINT_NAME", NAME)]
_TT: Columns = [("TABLE_CATALOG", NAME), ("TABLE_SCHEMA", NAME), ("TABLE_NAME", NAME)]

_COLUMN_COLUMNS: Columns = [("object_id", INT), ("name", NAME), ("column_id", INT), ("system_type_id", TINY), ("user_type_id", INT), ("max_length", SMALL),
         ("precision", TINY), ("scale", TINY), ("is_nullable", BIT), ("collation_name", NAME), ("default_object_id", INT),
         ("rule_object_id", INT), ("is_identity", BIT), ("is_computed", BIT), ("is_rowguidcol", BIT), ("is_filestream", BIT),
         ("is_replicated", BIT), ("is_sparse", BIT), ("is_column_set", BIT), ("is_hidden", BIT), ("is_masked", BIT),
         ("generated_always_type", TINY), ("is_ansi_padded", BIT), ("is_xml_document", BIT), ("xml_collection_id", INT)]  # fmt: skip

VIEWS: dict[str, View] = {
    "sys.objects": View(_OBJECT_COLUMNS, _objects, needs_database=False),
    "sys.all_objects": View(_OBJECT_COLUMNS, _objects, needs_database=False),
    "sys.tables": View(
        [*_OBJECT_COLUMNS, ("lob_data_space_id", INT), ("max_column_id_used", INT), ("uses_ansi_nulls", BIT), ("is_replicated", BIT),
         ("has_replication_filter", BIT), ("is_merge_published", BIT), ("is_sync_tran_subscribed", BIT), ("text_in_row_limit", INT),
         ("large_value_types_out_of_row", BIT), ("is_tracked_by_cdc", BIT), ("lock_escalation_desc", DESC), ("is_filetable", BIT),
         ("is_memory_optimized", BIT), ("durability_desc", DESC), ("temporal_type", TINY), ("temporal_type_desc", DESC),
         ("history_table_id", INT), ("is_remote_data_archive_enabled", BIT), ("is_external", BIT), ("is_node", BIT), ("is_edge", BIT),
         ("ledger_type", TINY), ("ledger_type_desc", DESC), ("is_dropped_ledger_table", BIT)],
        _tables, needs_database=False,
    ),
    "sys.views": View([*_OBJECT_COLUMNS, ("is_replicated", BIT), ("has_opaque_metadata", BIT), ("with_check_option", BIT)], _views, needs_database=False),
    "sys.sql_modules": View(
        [("object_id", INT), ("definition", TEXT), ("uses_ansi_nulls", BIT), ("uses_quoted_identifier", BIT), ("is_schema_bound", BIT)],
        _sql_modules, needs_database=False,
    ),
    "sys.columns": View(_COLUMN_COLUMNS, _columns, needs_database=False),
    "sys.all_columns": View(_COLUMN_COLUMNS, _columns, needs_database=False),
    "sys.types": View(
        [("name", NAME), ("system_type_id", TINY), ("user_type_id", INT), ("schema_id", INT), ("principal_id", INT), ("max_length", SMALL),
         ("precision", TINY), ("scale", TINY), ("collation_name", NAME), ("is_nullable", BIT), ("is_user_defined", BIT),
         ("is_assembly_type", BIT), ("default_object_id", INT), ("rule_object_id", INT), ("is_table_type", BIT)],
        _types, needs_database=False,
    ),
    "sys.default_constraints": View(
        [*_OBJECT_COLUMNS, ("parent_column_id", INT), ("definition", TEXT), ("is_system_named", BIT)], _default_constraints, needs_database=False
    ),
    "sys.check_constraints": View(
        [*_OBJECT_COLUMNS, ("is_disabled", BIT), ("is_not_for_replication", BIT), ("is_not_trusted", BIT), ("parent_column_id", INT),
         ("definition", TEXT), ("uses_database_collation", BIT), ("is_system_named", BIT)],
        _check_constraints, needs_database=False,
    ),
    "sys.key_constraints": View(
        [*_OBJECT_COLUMNS, ("unique_index_id", INT), ("is_system_named", BIT), ("is_enforced", BIT)], _key_constraints, needs_database=False
    ),
    "sys.foreign_keys": View(
        [*_OBJECT_COLUMNS, ("referenced_object_id", INT), ("key_index_id", INT), ("is_disabled", BIT), ("is_not_for_replication", BIT),
         ("is_not_trusted", BIT), ("delete_referential_action", TINY), ("delete_referential_action_desc", DESC),
         ("update_referential_action", TINY), ("update_referential_action_desc", DESC), ("is_system_named", BIT)],
        _foreign_keys, needs_database=False,
    ),
    "sys.foreign_key_columns": View(
        [("constraint_object_id", INT), ("constraint_column_id", INT), ("parent_object_id", INT), ("parent_column_id", INT),
         ("referenced_object_id", INT), ("referenced_column_id", INT)],
        _foreign_key_columns, needs_database=False,
    ),
    "sys.indexes": View(
        [("object_id", INT), ("name", NAME), ("index_id", INT), ("type", TINY), ("type_desc", DESC), ("is_unique", BIT), ("data_space_id", INT),
         ("ignore_dup_key", BIT), ("is_primary_key", BIT), ("is_unique_constraint", BIT), ("fill_factor", TINY), ("is_padded", BIT),
         ("is_disabled", BIT), ("is_hypothetical", BIT), ("is_ignored_in_optimization", BIT), ("allow_row_locks", BIT),
         ("allow_page_locks", BIT), ("has_filter", BIT), ("filter_definition", TEXT), ("compression_delay", INT),
         ("suppress_dup_key_messages", BIT), ("auto_created", BIT), ("optimize_for_sequential_key", BIT)],
        _indexes, needs_database=False,
    ),
    "sys.index_columns": View(
        [("object_id", INT), ("index_id", INT), ("index_column_id", INT), ("column_id", INT), ("key_ordinal", TINY),
         ("partition_ordinal", TINY), ("is_descending_key", BIT), ("is_included_column", BIT), ("column_store_order_ordinal", TINY)],
        _index_columns, needs_database=False,
    ),
    "sys.identity_columns": View(
        [("object_id", INT), ("name", NAME), ("column_id", INT), ("is_identity", BIT), ("seed_value", TypeSpec(SqlType.BIGINT)),
         ("increment_value", TypeSpec(SqlType.BIGINT)), ("last_value", TypeSpec(SqlType.BIGINT)), ("is_not_for_replication", BIT)],
        _identity_columns, needs_database=False,
    ),
    "sys.computed_columns": View(
        [("object_id", INT), ("name", NAME), ("column_id", INT), ("definition", TEXT), ("is_persisted", BIT)], _none, needs_database=False
    ),
    "sys.sequences": View([*_OBJECT_COLUMNS, ("start_value", INT), ("increment", INT), ("current_value", INT)], _none, needs_database=False),
    "sys.extended_properties": View(
        [("class", TINY), ("class_desc", DESC), ("major_id", INT), ("minor_id", INT), ("name", NAME), ("value", TypeSpec(SqlType.NVARCHAR, 4000))],
        _none, needs_database=False,
    ),
    "information_schema.tables": View([*_TT, ("TABLE_TYPE", TypeSpec(SqlType.VARCHAR, 10))], _info_tables, needs_database=False),
    "information_schema.columns": View(
        [*_TT, ("COLUMN_NAME", NAME), ("ORDINAL_POSITION", INT), ("COLUMN_DEFAULT", TypeSpec(SqlType.NVARCHAR, 4000)),
         ("IS_NULLABLE", TypeSpec(SqlType.VARCHAR, 3)), ("DATA_TYPE", NAME), ("CHARACTER_MAXIMUM_LENGTH", INT), ("CHARACTER_OCTET_LENGTH", INT),
         ("NUMERIC_PRECISION", TINY), ("NUMERIC_PRECISION_RADIX", SMALL), ("NUMERIC_SCALE", INT), ("DATETIME_PRECISION", SMALL),
         ("CHARACTER_SET_NAME", NAME), ("COLLATION_NAME", NAME)],
        _info_columns, needs_database=False,
    ),
    "information_schema.schemata": View(
        [("CATALOG_NAME", NAME), ("SCHEMA_NAME", NAME), ("SCHEMA_OWNER", NAME), ("DEFAULT_CHARACTER_SET_CATALOG", NAME),
         ("DEFAULT_CHARACTER_SET_SCHEMA", NAME), ("DEFAULT_CHARACTER_SET_NAME", NAME)],
        _info_schemata, needs_database=False,
    ),
    "information_schema.table_constraints": View(
        [*_TC, *_TT, ("CONSTRAINT_TYPE", TypeSpec(SqlType.VARCHAR, 11)), ("IS_DEFERRABLE", TypeSpec(SqlType.VARCHAR, 2)),
         ("INITIALLY_DEFERRED", TypeSpec(SqlType.VARCHAR, 2))],
        _info_table_constraints, needs_database=False,
    ),
    "information_schema.key_column_usage": View(
        [*_TC, *_TT, ("COLUMN_NAME", NAME), ("ORDINAL_POSITION", INT)], _info_key_column_usage, needs_database=False
    ),
    "information_schema.constraint_column_usage": View([*_TT, ("COLUMN_NAME", NAME), *_TC], _info_constraint_column_usage, needs_database=False),
    "information_schema.referential_constraints": View(
        [*_TC, ("UNIQUE_CONSTRAINT_CATALOG", NAME), ("UNIQUE_CONSTRAINT_SCHEMA", NAME), ("UNIQUE_CONSTRAINT_NAME", NAME),
         ("MATCH_OPTION", TypeSpec(SqlType.VARCHAR, 7)), ("UPDATE_RULE", TypeSpec(SqlType.VARCHAR, 11)), ("DELETE_RULE", TypeSpec(SqlType.VARCHAR, 11))],
        _info_referential_constraints, needs_database=False,
    ),
    "information_schema.check_constraints": View(
        [*_TC, ("CHECK_CLAUSE", TypeSpec(SqlType.NVARCHAR, 4000))], _info_check_constraints, needs_database=False
    ),
    "information_schema.views": View(
        [*_TT, ("VIEW_DEFINITION", TypeSpec(SqlType.NVARCHAR, 4000)), ("CHECK_OPTION", TypeSpec(SqlType.VARCHAR, 7)),
         ("IS_UPDATABLE", TypeSpec(SqlType.VARCHAR, 2))],
        _info_views, needs_database=False,
    ),
    "information_schema.sequences": View(
        [("SEQUENCE_CATALOG", NAME), ("SEQUENCE_SCHEMA", NAME), ("SEQUENCE_NAME", NAME), ("DATA_TYPE", NAME), ("START_VALUE", INT),
         ("INCREMENT", INT)],
        _none, needs_database=False,
    ),
}  # fmt: skip


def find_object(
    tables: list[TableInfo], schema: str, name: str, views_: list[views.ViewInfo] | None = None
) -> tuple[int, str, TableInfo] | None:
    """OBJECT_ID's lookup: a table, one of its constraints or a view (as its columns), by (schema, name): (object_id, type, table)."""
    for t in tables:
        if t.schema.lower() != schema.lower():
            continue
        if t.name.lower() == name.lower():
            return t.object_id, "U", t
        for k in object_ids(t):
            if k.name.lower() == name.lower():
                return k.object_id, k.type, t
    for v in views_ or []:
        if v.schema.lower() == schema.lower() and v.name.lower() == name.lower():
            return v.object_id, "V", TableInfo(v.schema, v.name, v.object_id, [ColumnInfo(n, spec) for n, spec in v.columns])
    return None


def object_by_id(tables: list[TableInfo], object_id: int, views_: list[views.ViewInfo] | None = None) -> tuple[str, str, TableInfo] | None:
    """OBJECT_NAME's lookup: (name, type, table) of an object id."""
    for t in tables:
        if t.object_id == object_id:
            return t.name, "U", t
        for k in object_ids(t):
            if k.object_id == object_id:
                return k.name, k.type, t
    for v in views_ or []:
        if v.object_id == object_id:
            return v.name, "V", TableInfo(v.schema, v.name, v.object_id, [ColumnInfo(n, spec) for n, spec in v.columns])
    return None

"""T-SQL syntax trees (sqlglot) to SQLite statements, keeping SQL Server's semantics that matter.

Names: ``[app].[orders]`` is the SQLite table ``"app.orders"`` (aliased by its bare
name, so ``orders.id`` still resolves); unqualified names are in ``dbo``; catalog views
are SQLite temp tables filled for the statement. Session values (``SUSER_SNAME()``,
``@@SPID``, ``SERVERPROPERTY(...)``) become literals, since they are constants for the
statement. Parameters (``@p1``) become SQLite bound parameters -- values are never
pasted into SQL text. Operators whose SQLite meaning differs are routed through
functions the session registers: ``/`` and ``%`` (8134 on zero, integer division),
``+`` (string concatenation, or conversion with 245), CAST/CONVERT (SQL Server's
conversion rules and errors).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.tsql import TSQL

from ..catalog.model import View
from ..sqltypes import Param, SqlType, TypeSpec
from . import errors, scalar_functions, types
from .storage import TableInfo

_LOGIN_FUNCTIONS = ("SUSER_NAME", "SUSER_SNAME", "SYSTEM_USER")

# sqlglot warns when it falls back to an opaque Command; the sandbox answers those with 40517 itself.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


class AzsqlctlTSQL(TSQL):
    """sqlglot's T-SQL dialect, except that the login functions stay distinct from CURRENT_USER."""

    class Parser(TSQL.Parser):  # type: ignore[misc,valid-type]
        FUNCTIONS: ClassVar[dict[str, Any]] = {k: v for k, v in TSQL.Parser.FUNCTIONS.items() if k not in _LOGIN_FUNCTIONS}


# Parsed trees of recent statement texts. Drivers and ORMs send the same parameterised statements again and again
# (sp_executesql, sp_prepexec): parsing one costs ~150 us, copying its tree ~30 us. Texts past CACHED_TEXT are
# parsed every time, so a batch of literal rows (a bulk INSERT) does not pin memory. Callers rewrite their tree
# in place, so each gets its own copy.
CACHED_TEXT = 4096


@functools.lru_cache(maxsize=1024)
def _parse_cached(text: str) -> Any:
    return _parse(text)


def parse(text: str) -> Any:
    """The statement's sqlglot tree (typed Any: sqlglot's own annotations differ between its releases), the caller's own."""
    if len(text) > CACHED_TEXT:
        return _parse(text)
    return _parse_cached(text).copy()


def _parse(text: str) -> Any:
    try:
        tree = sqlglot.parse_one(text, read=AzsqlctlTSQL)
    except sqlglot.errors.ParseError as exc:
        exc.__traceback__ = None  # a cycle through its frames, which hold the parser and the text (see release)
        near = next((str(e.get("highlight") or "") for e in exc.errors), "") or text.split()[-1]
        raise errors.syntax(near) from None
    except sqlglot.errors.TokenError as exc:
        exc.__traceback__ = None
        raise errors.syntax(text.split()[0]) from None
    return uncommented(tree)


def uncommented(tree: Any) -> Any:
    """The tree without its comments: they mean nothing to SQLite; kept, they rode along in every tree and SQL text
    made from it. (batch.split's trees too: they stand for this module's parse of the statement's text.)"""
    for node in tree.walk():
        node.pop_comments()
    return tree


def release(tree: exp.Expr | None) -> None:
    """Take a tree that is done with apart, so that reference counting frees it at once.

    sqlglot's nodes point at their parents, so every tree is a reference cycle that only the cyclic
    collector frees -- and an idle sandbox allocates too little to run it: the trees of a client's
    last batch (its comments and literals, megabytes for a large batch) stayed in memory after the
    session ended. Without parent links a tree is acyclic."""
    if tree is None:
        return
    for node in list(tree.walk()):
        node.parent = None


@dataclass
class Session:
    """What the translator needs to know about the session running the statement."""

    login: str
    user: str
    database: str
    spid: int
    server: str
    trancount: int
    identity: int | None
    rowcount: int
    is_member: Callable[[str], int | None]
    principal_id: int | None
    lock_timeout: int = -1  # SET LOCK_TIMEOUT


@dataclass
class Resolved:
    """A statement's names resolved: what it reads, and the SQLite it becomes."""

    reads: list[TableInfo] = field(default_factory=list)
    views: dict[str, View] = field(default_factory=dict)  # temp table name -> view to materialise
    scope: dict[str, list[tuple[str, TypeSpec]]] = field(default_factory=dict)  # alias -> columns
    binds: dict[str, Any] = field(default_factory=dict)


Lookup = Callable[[str, str], TableInfo | None]
ViewLookup = Callable[[str], View | None]
FunctionLookup = Callable[[str, list[Any]], View | None]


def qualified_name(node: exp.Table) -> str:
    """A table reference as written, [database.][schema.]name: what SQL Server names in its errors."""
    parts = [p for p in (node.catalog, node.db, node.name) if p]
    return ".".join(parts)


def table_name(node: exp.Table) -> str:
    """A table reference's name; a table variable's keeps its @ (sqlglot parses FROM @t as a parameter)."""
    return f"@{node.this.name}" if isinstance(node.this, exp.Parameter) else node.name


def _literal_value(node: exp.Expression) -> Any:
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.National | exp.Literal) and (isinstance(node, exp.National) or node.is_string):
        return node.name
    if isinstance(node, exp.Literal):
        return float(node.name) if "." in node.name else int(node.name)
    if isinstance(node, exp.Column) and node.name.upper() == "DEFAULT":
        return "DEFAULT"
    raise errors.unsupported(node.sql(dialect="tsql"))


class Translator:
    def __init__(self, session: Session, tables: Lookup, views: ViewLookup, functions: FunctionLookup, params: dict[str, Param]) -> None:
        self.session = session
        self.tables = tables
        self.views = views
        self.functions = functions
        self.params = params
        self.resolved = Resolved()

    # --- names ---------------------------------------------------------------------------------

    def resolve_tables(self, tree: exp.Expression) -> None:
        """Point every table reference at its SQLite table; 208 for what does not exist."""
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for node in list(tree.find_all(exp.Table)):
            if isinstance(node.this, exp.Anonymous):
                self._table_function(node)
                continue
            name = table_name(node)
            if not node.db and name.lower() in ctes:
                continue
            if node.catalog and node.catalog.lower() != self.session.database.lower():
                raise errors.cross_database(qualified_name(node))
            schema = node.db or ""
            alias = node.alias or name
            if schema.lower() in ("sys", "information_schema"):
                view = self.views(f"{schema}.{name}".lower())
                if view is None:
                    raise errors.unsupported(f"{schema}.{name}")
                self._use_view(node, f"{schema.lower()}.{name.lower()}", view, alias)
                continue
            info = self.tables(schema or "dbo", name)
            if info is None and name.startswith("@"):
                raise errors.undeclared_table_variable(name)
            if info is None:
                raise errors.invalid_object(qualified_name(node))
            if not node.meta.get("az_owned"):  # a table a view reads: ownership chaining (views.expand)
                self.resolved.reads.append(info)
            self.resolved.scope[alias.lower()] = [(c.name, c.spec) for c in info.columns]
            node.set("this", exp.to_identifier(info.key, quoted=True))
            node.set("db", None)
            node.set("catalog", None)
            node.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
        for col in tree.find_all(exp.Column):
            if col.args.get("db") is not None:  # app.orders.id -> orders.id
                col.set("db", None)
                col.set("catalog", None)
            if col.table:
                col.set("table", exp.to_identifier(col.table, quoted=True))

    def _use_view(self, node: exp.Table, key: str, view: View, alias: str) -> None:
        temp = f"__view.{key}"
        self.resolved.views[temp] = view
        self.resolved.scope[alias.lower()] = view.columns
        node.set("this", exp.to_identifier(temp, quoted=True))
        node.set("db", None)
        node.set("catalog", None)
        node.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))

    def _table_function(self, node: exp.Table) -> None:
        call = node.this
        assert isinstance(call, exp.Anonymous)
        args = [_literal_value(a) for a in call.expressions]
        args = [None if a == "DEFAULT" else a for a in args]
        view = self.functions(call.name, args)
        if view is None:
            raise errors.unsupported(call.sql(dialect="tsql"))
        self._use_view(node, call.name.lower(), view, node.alias or call.name)

    # --- result types --------------------------------------------------------------------------

    def column_spec(self, col: exp.Column) -> TypeSpec | None:
        name = col.name.lower()
        candidates = (
            [self.resolved.scope[col.table.lower()]]
            if col.table and col.table.lower() in self.resolved.scope
            else list(self.resolved.scope.values())
        )
        for columns in candidates:
            for cname, spec in columns:
                if cname.lower() == name:
                    return spec
        return None

    def infer(self, node: exp.Expression) -> TypeSpec | None:
        """The declared type of an expression, where SQL Server's rules give one; None: judge by the values."""
        if isinstance(node, exp.Alias | exp.Paren):
            return self.infer(node.this)
        if isinstance(node, exp.Column):
            return self.column_spec(node)
        if isinstance(node, exp.Cast | exp.TryCast):
            return types.spec_of(node.args["to"], in_cast=True)
        if isinstance(node, exp.Convert):
            return types.spec_of(node.this, in_cast=True)
        if isinstance(node, exp.Count):
            return TypeSpec(SqlType.INT)
        if isinstance(node, exp.Sum | exp.Min | exp.Max | exp.Avg):
            inner = self.infer(node.this)
            if isinstance(node, exp.Sum) and inner is not None and inner.type in (SqlType.TINYINT, SqlType.SMALLINT):
                return TypeSpec(SqlType.INT)
            if isinstance(node, exp.Sum | exp.Avg) and inner is not None and inner.type == SqlType.DECIMAL:
                return TypeSpec(SqlType.DECIMAL, precision=38, scale=max(inner.scale, 6) if isinstance(node, exp.Avg) else inner.scale)
            return inner
        if isinstance(node, exp.Case):
            ifs = node.args.get("ifs") or []
            return self.infer(ifs[0].args["true"]) if ifs else None
        if isinstance(node, exp.Parameter) and not isinstance(node.this, exp.Parameter):
            param = self.params.get(node.name.lower())
            return param.spec if param is not None else None
        if isinstance(node, exp.CurrentTimestamp) or (
            isinstance(node, exp.Anonymous) and node.name.upper() in ("SYSUTCDATETIME", "SYSDATETIME", "GETUTCDATE")
        ):
            return (
                TypeSpec(SqlType.DATETIME2, scale=7)
                if isinstance(node, exp.Anonymous) and node.name.upper() != "GETUTCDATE"
                else TypeSpec(SqlType.DATETIME, scale=3)
            )
        if isinstance(node, exp.Uuid):
            return TypeSpec(SqlType.UNIQUEIDENTIFIER)
        builtin = scalar_functions.result_spec(node, self.infer)
        if builtin is not None:
            return builtin
        session = self._session_value(node)
        if session is not None:
            return session[1]
        return types.literal_spec(node)

    # --- expressions ---------------------------------------------------------------------------

    def _session_value(self, node: exp.Expression) -> tuple[Any, TypeSpec] | None:
        """Session constants: the identity functions, @@ variables, SERVERPROPERTY."""
        from .connect import VERSION, server_property

        s = self.session
        name_spec = TypeSpec(SqlType.NVARCHAR, 128)
        if isinstance(node, exp.Parameter) and isinstance(node.this, exp.Parameter):
            var = node.this.name.upper()
            values: dict[str, tuple[Any, TypeSpec]] = {
                "SPID": (s.spid, TypeSpec(SqlType.SMALLINT)),
                "VERSION": (VERSION, TypeSpec(SqlType.NVARCHAR, 300)),
                "TRANCOUNT": (s.trancount, TypeSpec(SqlType.INT)),
                "SERVERNAME": (s.server, name_spec),
                "IDENTITY": (s.identity, TypeSpec(SqlType.DECIMAL, precision=38)),
                "ROWCOUNT": (s.rowcount, TypeSpec(SqlType.INT)),
                "LANGUAGE": ("us_english", name_spec),
                "MAX_PRECISION": (38, TypeSpec(SqlType.TINYINT)),
                "DATEFIRST": (7, TypeSpec(SqlType.TINYINT)),
                "LOCK_TIMEOUT": (s.lock_timeout, TypeSpec(SqlType.INT)),
                "TEXTSIZE": (2147483647, TypeSpec(SqlType.INT)),
                "ERROR": (0, TypeSpec(SqlType.INT)),
                "OPTIONS": (5496, TypeSpec(SqlType.INT)),
                "MICROSOFTVERSION": (201328592, TypeSpec(SqlType.INT)),
            }
            if var not in values:
                raise errors.unsupported(f"@@{var}")
            return values[var]
        if isinstance(node, exp.CurrentUser):
            return s.user, name_spec
        if isinstance(node, exp.CurrentSchema) and node.this is None:
            return "dbo", name_spec
        if isinstance(node, exp.Anonymous):
            fname = node.name.upper()
            args = node.expressions
            if fname in (*_LOGIN_FUNCTIONS, "ORIGINAL_LOGIN") and not args:
                return s.login, name_spec
            if fname == "USER_NAME" and not args:
                return s.user, name_spec
            if fname == "DB_NAME" and not args:
                return s.database, name_spec
            if fname in ("APP_NAME", "HOST_NAME") and not args:
                return "", name_spec
            if fname == "SCOPE_IDENTITY" and not args:
                return s.identity, TypeSpec(SqlType.DECIMAL, precision=38)
            if fname == "DATABASE_PRINCIPAL_ID" and not args:
                return s.principal_id, TypeSpec(SqlType.INT)
            if fname == "SERVERPROPERTY" and len(args) == 1 and isinstance(args[0], exp.Literal | exp.National):
                return server_property(args[0].name, s.server)
            if fname == "IS_ROLEMEMBER" and len(args) == 1 and isinstance(args[0], exp.Literal | exp.National):
                return s.is_member(args[0].name), TypeSpec(SqlType.INT)
        return None

    def rewrite(self, tree: exp.Expression) -> exp.Expression:
        return _bottom_up(tree, self._rewrite_node)

    def _rewrite_node(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter) and isinstance(node.parent, exp.Parameter):
            return node  # the SPID of @@SPID: its parent is the variable
        session = self._session_value(node)
        if session is not None:
            value = session[0]
            name = f"__s{len(self.resolved.binds)}"
            self.resolved.binds[name] = types.storage(value)
            return exp.Placeholder(this=name)
        if isinstance(node, exp.Parameter):
            key = node.name.lower()
            param = self.params.get(key)
            if param is None:
                raise errors.must_declare(f"@{node.name}")
            bind = f"p_{key}"
            self.resolved.binds[bind] = types.storage(param.value)
            return exp.Placeholder(this=bind)
        if isinstance(node, exp.National):
            return exp.Literal.string(node.name)
        if isinstance(node, exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE) and not any(
            isinstance(side, exp.Column) for side in (node.this, node.expression)
        ):
            # Two values, no column to lend its collation: compare case-insensitively, as the default collation does.
            node.set("this", exp.Collate(this=node.this, expression=exp.var("NOCASE")))
            return node
        if isinstance(node, exp.Values) and isinstance(node.args.get("alias"), exp.TableAlias) and node.args["alias"].columns:
            # (VALUES ...) AS t(a, b): SQLite names a VALUES list's columns column1, column2 ...
            alias = node.args["alias"]
            picks = [exp.alias_(exp.column(f"column{i + 1}"), c.name) for i, c in enumerate(alias.columns)]
            inner = exp.Values(expressions=node.expressions)
            return exp.Subquery(this=exp.Select(expressions=picks).from_(exp.Subquery(this=inner)), alias=exp.TableAlias(this=alias.this))
        builtin = scalar_functions.rewrite(node)
        if builtin is not None:
            return builtin
        if isinstance(node, exp.Div):
            return exp.Anonymous(this="az_div", expressions=[node.this, node.expression])
        if isinstance(node, exp.Mod):
            return exp.Anonymous(this="az_mod", expressions=[node.this, node.expression])
        if isinstance(node, exp.Add):
            return exp.Anonymous(this="az_add", expressions=[node.this, node.expression])
        if isinstance(node, exp.Cast | exp.TryCast | exp.Convert):
            target, value = (node.args["to"], node.this) if not isinstance(node, exp.Convert) else (node.this, node.expression)
            spec = types.spec_of(target, in_cast=True)
            func = "az_try_cast" if node.args.get("safe") else "az_cast"  # TRY_CAST, TRY_CONVERT
            return exp.Anonymous(
                this=func, expressions=[value, exp.Literal.string(spec_text(spec)), exp.Literal.string(self.source_type(value))]
            )
        if isinstance(node, exp.CurrentTimestamp) or (
            isinstance(node, exp.Anonymous) and node.name.upper() in ("SYSUTCDATETIME", "SYSDATETIME", "GETUTCDATE")
        ):
            return exp.Anonymous(this="az_now", expressions=[])
        if isinstance(node, exp.Uuid) or (
            isinstance(node, exp.Anonymous) and node.name.upper() == "NEWSEQUENTIALID" and not node.expressions
        ):
            return exp.Anonymous(this="az_newid", expressions=[])  # unique, as NEWSEQUENTIALID's are (their order is not kept)
        if isinstance(node, exp.CurrentSchema):
            return exp.Anonymous(this="az_schema_name", expressions=[node.this])
        if isinstance(node, exp.ObjectId):
            return exp.Anonymous(this="OBJECT_ID", expressions=[node.this, node.expression or exp.Null()])
        if isinstance(node, exp.Like) and not isinstance(node.parent, exp.Escape):
            # T-SQL patterns have character classes ([_], [a-z], [^0-9]) SQLite's LIKE lacks.
            return exp.Anonymous(this="az_like", expressions=[node.this, node.expression])
        if isinstance(node, exp.Left | exp.Right):  # LEFT and RIGHT are keywords in SQLite: call them by other names
            name = "az_left" if isinstance(node, exp.Left) else "az_right"
            return exp.Anonymous(this=name, expressions=[node.this, node.expression])
        if isinstance(node, exp.Length):
            return exp.Anonymous(this="az_len", expressions=[node.this])
        if isinstance(node, exp.Anonymous) and node.name.upper() == "DATALENGTH":
            return exp.Anonymous(this="az_datalength", expressions=node.expressions)
        return node

    def source_type(self, node: exp.Expression) -> str:
        """What SQL Server calls the type of a value being converted, for 245's text."""
        spec = self.infer(node)
        if spec is None:
            return "varchar"
        return types.type_name(spec)

    def sqlite(self, tree: exp.Expression) -> str:
        """The SQLite text of a rewritten tree, which is used up: the generator may change it (its dialect transforms).

        sqlglot copies the tree first by default (half of the generation's cost). A whole statement's tree is the
        caller's own and read no more, so it is generated as it is; a subtree (a VALUES row's value, a WHERE) still
        hangs in its statement, which is read afterwards, and the generator writes a node with a parent differently
        (CTEs are moved to the top only at the root), so it is generated from a detached copy, as before."""
        return tree.sql(dialect="sqlite", comments=False, copy=tree.parent is not None)


def spec_text(spec: TypeSpec) -> str:
    return json.dumps([str(spec.type), spec.length, spec.precision, spec.scale])


def spec_from_text(text: str) -> TypeSpec:
    t, length, precision, scale = json.loads(text)
    return TypeSpec(SqlType(t), length, precision, scale)


def _bottom_up(node: exp.Expression, fn: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """Rewrite children before their parent (sqlglot's transform does not descend into replacements)."""
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _bottom_up(value, fn))
        elif isinstance(value, list):
            node.set(key, [_bottom_up(v, fn) if isinstance(v, exp.Expression) else v for v in value])
    return fn(node)

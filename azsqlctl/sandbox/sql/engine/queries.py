"""SELECT and the batch's variables (DECLARE, SET @v, SELECT @v = ...), which are bound like parameters."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from ..sqltypes import Param, TypeSpec
from . import errors, ownership, plans, storage, table_variables, translate, types, undo, views
from .context import StatementSession
from .errors import SqlError
from .results import StatementResult


def evaluate(session: StatementSession, expr: exp.Expression, params: dict[str, Param]) -> tuple[Any, TypeSpec]:
    result = query(session, exp.Select(expressions=[expr]), params).result
    assert result is not None
    return result.rows[0][0], result.columns[0].spec


def _assign(session: StatementSession, params: dict[str, Param], name: str, value: Any, source: TypeSpec) -> None:
    var = params.get(name.lower())
    if var is None:
        raise errors.must_declare(f"@{name}")
    stored = types.convert(types.storage(value), var.spec, types.type_name(source))
    params[name.lower()] = Param(var.name, var.spec, types.python_value(stored, var.spec))


def declare(session: StatementSession, text: str, params: dict[str, Param]) -> StatementResult:
    tree = translate.parse(text)
    if not isinstance(tree, exp.Declare):
        raise errors.unsupported("DECLARE")
    for item in tree.expressions:
        names = item.this if isinstance(item.this, list) else [item.this]
        kind = item.args.get("kind")
        if len(names) == 1 and isinstance(kind, exp.Schema):
            table_variables.declare(session, names[0].name, kind, session.table_variables)
            continue
        if len(names) != 1 or not isinstance(kind, exp.DataType):
            raise errors.unsupported("DECLARE of a cursor variable")
        name = names[0].name
        if name.lower() in params:
            raise SqlError(
                134,
                f"The variable name '@{name}' has already been declared. Variable names must be unique within a query batch or stored procedure.",
                15,
            )
        params[name.lower()] = Param(f"@{name}", types.spec_of(kind), None)
        default = item.args.get("default")
        if isinstance(default, exp.Expression):
            value, source = evaluate(session, default, params)
            _assign(session, params, name, value, source)
    return StatementResult()


def set_variable(session: StatementSession, text: str, params: dict[str, Param]) -> StatementResult:
    tree = translate.parse(text)
    items = tree.expressions if isinstance(tree, exp.Set) else []
    if len(items) != 1 or not isinstance(items[0].this, exp.EQ) or not isinstance(items[0].this.this, exp.Parameter):
        raise errors.unsupported("SET @variable with an operator other than =")
    target = items[0].this.this.name
    if target.lower() not in params:
        raise errors.must_declare(f"@{target}")
    value, source = evaluate(session, items[0].this.expression, params)
    _assign(session, params, target, value, source)
    return StatementResult()


def query(session: StatementSession, tree: exp.Expression, params: dict[str, Param], plan_text: str | None = None) -> StatementResult:
    """A SELECT's result. ``plan_text``: the statement's text, when it may be kept as a plan (plans.py)."""
    if tree.find(exp.Into):
        raise errors.unsupported("SELECT ... INTO")
    if (
        isinstance(tree, exp.Select)
        and tree.expressions
        and all(isinstance(p, exp.EQ) and isinstance(p.this, exp.Parameter) for p in tree.expressions)
    ):
        # SELECT @a = expr, ... FROM ...: assigns from the last row and returns no result set.
        targets = [p.this.name for p in tree.expressions]
        tree.set("expressions", [p.expression for p in tree.expressions])
        result = query(session, tree, params).result
        assert result is not None
        for i, name in enumerate(targets):
            if result.rows:
                _assign(session, params, name, result.rows[-1][i], result.columns[i].spec)
            elif name.lower() not in params:
                raise errors.must_declare(f"@{name}")
        return StatementResult(rowcount=len(result.rows))
    plan_key = plans.key(plan_text, params) if plan_text is not None else None
    named = plans.named_tables(tree) if plan_key is not None else None
    if named is not None and any(session.table_info(schema, name) is None for schema, name in named):
        named = None  # a view (its expansion depends on other objects) or a missing table (208 below)
    snapshot = session.snapshot_keys(tree) if named is not None else []
    views.expand(session, tree)
    tr = session.translator(params)
    tr.resolve_tables(tree)
    for info in tr.resolved.reads:
        session.require("SELECT", info)
    session.enter(write=False)
    head: exp.Expression = tree
    while isinstance(head, exp.SetOperation | exp.Subquery):
        head = head.this if isinstance(head, exp.Subquery) else head.args["this"]
    projections = head.expressions if isinstance(head, exp.Select) else []
    starred = any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star)) for p in projections)
    declared = [(_output_name(p), tr.infer(p)) for p in projections]
    sql = tr.sqlite(tr.rewrite(tree))
    session.materialize(tr.resolved.views)
    scope = tuple((alias, tuple(columns)) for alias, columns in tr.resolved.scope.items())
    if (
        plan_key is not None
        and named is not None
        and not tr.resolved.views
        and all(bind.startswith("p_") for bind in tr.resolved.binds)  # parameters only: no session value was bound
    ):
        rows = [storage.table_row(session.conn, schema, name) for schema, name in named]
        if all(row is not None for row in rows):
            probe, probe_args = _probe(named, snapshot)
            plan = plans.Plan(
                tables=tuple(row for row in rows if row is not None),
                probe=probe,
                probe_args=probe_args,
                reads=tuple(tr.resolved.reads),
                snapshot=tuple(snapshot),
                sql=sql,
                binds=tuple(tr.resolved.binds),
                declared=tuple(declared),
                starred=starred,
                scope=scope,
                aliases=frozenset(tr.resolved.scope),
            )
            session.plans.put(plan_key, plan)
    return _run(session, sql, tr.resolved.binds, declared, starred, scope, set(tr.resolved.scope))


def run_plan(session: StatementSession, text: str, params: dict[str, Param]) -> StatementResult | None:
    """The SELECT run from its cached plan; None when there is none, or a table it was made for has changed (the
    caller translates the statement again, which replaces the plan)."""
    plan_key = plans.key(text, params)
    plan = session.plans.get(plan_key) if plan_key is not None else None
    if plan is None:
        return None
    session.enter(write=False)  # schema stability first: no DDL commits between the check and the query
    now: dict[int, storage.TableRow] = {}
    present: set[str] = set()
    version = 0
    for i, schema, name, object_id, info in session.conn.execute(plan.probe, plan.probe_args):
        if i == _SECURITY_ROW:
            version = int(object_id)
        elif i < 0:
            present.add(str(name))
        else:
            now[int(i)] = (str(schema), str(name), int(object_id), str(info))
    if any(now.get(i) != row for i, row in enumerate(plan.tables)):
        return None
    session.security_version_seen(version)  # the permission checks below need not read it again
    # A table without an undo log has no uncommitted rows to hide (committed_view would say None).
    session.read_committed([key for key in plan.snapshot if undo.undo_table(key) in present])
    for info in plan.reads:
        session.require("SELECT", info, owners=ownership.OWNERS in present)
    binds = {bind: types.storage(params[bind[2:]].value) for bind in plan.binds}
    return _run(session, plan.sql, binds, list(plan.declared), plan.starred, plan.scope, set(plan.aliases))


def _probe(named: list[tuple[str, str]], snapshot: list[str]) -> tuple[str, tuple[str, ...]]:
    """A plan's one query for what it depends on: each table's model row (tagged with its position), and which of
    the tables' undo logs and the object-owners table exist (tagged -1): one SQLite call instead of one per check."""
    selects = [
        f"SELECT {i}, schema_name, name, object_id, info FROM {storage.META} WHERE schema_name = ? AND name = ?" for i in range(len(named))
    ]
    names = (*(undo.undo_table(key) for key in snapshot), ownership.OWNERS)
    marks = ", ".join("?" for _ in names)
    selects.append(f"SELECT -1, '', name, 0, '' FROM sqlite_master WHERE type = 'table' AND name IN ({marks})")
    selects.append(f"SELECT {_SECURITY_ROW}, '', '', version, '' FROM {storage.SECURITY} WHERE id = 1")
    return " UNION ALL ".join(selects), (*(part for pair in named for part in pair), *names)


_SECURITY_ROW = -2  # the probe's row with the committed security state's version, read in the same SQLite statement


def _run(
    session: StatementSession,
    sql: str,
    binds: dict[str, Any],
    declared: list[tuple[str, TypeSpec | None]],
    starred: bool,
    scope: tuple[tuple[str, tuple[tuple[str, TypeSpec], ...]], ...],
    aliases: set[str],
) -> StatementResult:
    session.aliases = aliases
    cur = session.exec_sqlite(sql, binds)
    rows = session.fetch(cur)
    names = [d[0] for d in cur.description or []]
    if starred or len(declared) != len(names):
        declared = [(n, _scope_spec(scope, n)) for n in names]
    session.rowcount = len(rows)
    return StatementResult(result=types.typed_result(declared, rows), rowcount=len(rows))


def _output_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Alias):
        return node.alias
    if isinstance(node, exp.Column):
        return node.name
    return ""  # SQL Server sends an unnamed expression column with an empty name


def _scope_spec(scope: tuple[tuple[str, tuple[tuple[str, TypeSpec], ...]], ...], name: str) -> TypeSpec | None:
    for _alias, columns in scope:
        for cname, spec in columns:
            if cname.lower() == name.lower():
                return spec
    return None

"""The KQL subset the sandbox's Log Analytics endpoint executes: what ``core/logs/kql.py`` emits, no more.

Supported (anything else is a ``KqlUnsupported`` the endpoint answers with the service's
``BadArgumentError`` shape, naming what the sandbox does not support - never an empty result)::

    AzureDiagnostics
    | where COND                      COND: a and b, a or b, not(a), (a);
                                      x == y, x != y, x =~ y, x !~ y, x < y, x <= y, x > y, x >= y,
                                      x contains y, x !contains y, x has y, x in (v, ...), x !in (v, ...),
                                      x in~ (v, ...), x !in~ (v, ...)
    | extend NAME = EXPR, ...
    | project NAME | NAME = EXPR, ...
    | sort by EXPR [asc|desc], ...    (also "order by"; default desc, as Kusto's)
    | take N                          (also "limit N")
    | summarize NAME = AGG, ... by NAME | NAME = EXPR, ...     AGG: count(), min(x), max(x), dcount(x)
    | count

    EXPR: a column, "string" / h"string" / @"verbatim" / 'string', an integer, true/false,
          datetime(ISO 8601), ingestion_time(), now(), ago(TIMESPAN), toint(x), tostring(x),
          coalesce(a, b, ...), extract(regex, group, x), isempty(x), isnotempty(x)

Values: datetimes are epoch seconds (float) inside, ISO 8601 text with 7 fractional digits outside;
``extract`` runs Python's ``re`` (the patterns core/logs/kql.py emits are common to RE2 and Python).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .kusto_lex import KqlUnsupported, Tok, iso, tokenize
from .kusto_ops import (
    BINARY,
    Expr,
    Row,
    all_of,
    column_ref,
    compare,
    project_stage,
    sort_by,
    take_stage,
    toint_value,
    where_stage,
)

__all__ = ["INGESTION", "KqlUnsupported", "Plan", "compile_query", "iso", "to_wire"]


# --- the plan -----------------------------------------------------------------------------------


@dataclass
class Column:
    name: str
    type: str  # Kusto type: string, datetime, long, int, real, bool


@dataclass
class Plan:
    table: str
    stages: list[Callable[[Iterable[Row]], Iterable[Row]]]
    columns: list[Column]
    # Bounds the store can apply before the rows reach Python (from leading where clauses):
    event_from: float | None = None
    event_to: float | None = None
    ingested_from: float | None = None
    ingested_to: float | None = None

    def run(self, rows: Iterable[Row]) -> list[Row]:
        out: Iterable[Row] = rows
        for stage in self.stages:
            out = stage(out)
        return list(out)


class Context:
    """Per-query values the functions need (now(), the row's ingestion time)."""

    def __init__(self, now: float) -> None:
        self.now = now


class Parser:
    def __init__(self, text: str, schema: dict[str, str], ctx: Context) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.ctx = ctx
        self.schema = dict(schema)  # column -> type, as the pipeline goes

    # token helpers
    def peek(self, offset: int = 0) -> Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def at(self, *texts: str) -> bool:
        t = self.peek()
        return t is not None and t.kind in ("op", "name") and t.text.lower() in texts

    def take(self, *texts: str) -> Tok:
        t = self.peek()
        if t is None or (texts and (t.kind not in ("op", "name") or t.text.lower() not in texts)):
            where = f"'{t.text}'" if t else "the end of the query"
            raise KqlUnsupported(f"Query could not be parsed at {where}: expected {' or '.join(texts) or 'more'}", "syntax",
                                 t.text if t else "", t.pos if t else len(self.text))  # fmt: skip
        self.i += 1
        return t

    def name(self) -> str:
        t = self.peek()
        if t is None or t.kind != "name":
            raise KqlUnsupported(f"Query could not be parsed at '{t.text if t else ''}': expected a name", "syntax",
                                 t.text if t else "", t.pos if t else len(self.text))  # fmt: skip
        self.i += 1
        return t.text

    # the pipeline
    def parse(self) -> Plan:
        table = self.name()
        if table != "AzureDiagnostics":
            raise KqlUnsupported(f"'{table}': the sandbox's workspace holds only the AzureDiagnostics table", near=table)
        plan = Plan(table, [], [Column(n, t) for n, t in self.schema.items()])
        leading = True
        while self.peek() is not None:
            self.take("|")
            op = self.name().lower()
            if op == "where":
                cond, bounds = self.condition()
                plan.stages.append(where_stage(cond))
                if leading:
                    for key, value in bounds.items():
                        current = getattr(plan, key)
                        better = value if current is None else (max(current, value) if key.endswith("from") else min(current, value))
                        setattr(plan, key, better)
                continue
            leading = False
            if op == "extend":
                plan.stages.append(self._extend(self.assignments(allow_plain=False)))
            elif op == "project":
                pairs = self.assignments(allow_plain=True)
                plan.stages.append(project_stage(pairs))
                self.schema = {n: t for n, _, t in pairs}
            elif op in ("sort", "order"):
                self.take("by")
                plan.stages.append(self._sort())
            elif op in ("take", "limit"):
                n = self.integer()
                plan.stages.append(take_stage(n))
            elif op == "summarize":
                plan.stages.append(self._summarize())
            elif op == "count":
                plan.stages.append(lambda rows: iter([{"Count": sum(1 for _ in rows)}]))
                self.schema = {"Count": "long"}
            else:
                raise KqlUnsupported(f"the '{op}' operator is not supported by the azsqlctl sandbox (it runs the KQL subset azsqlctl logs emits)",
                                     near=op)  # fmt: skip
        plan.columns = [Column(n, t) for n, t in self.schema.items()]
        return plan

    def integer(self) -> int:
        t = self.peek()
        if t is None or t.kind != "lit" or not isinstance(t.value, int):
            raise KqlUnsupported("expected a whole number", "syntax", t.text if t else "", t.pos if t else len(self.text))
        self.i += 1
        return int(t.value)

    def _extend(self, pairs: list[tuple[str, Expr, str]]) -> Callable[[Iterable[Row]], Iterable[Row]]:
        for n, _, t in pairs:
            self.schema[n] = t

        def stage(rows: Iterable[Row]) -> Iterator[Row]:
            for r in rows:
                extra = {n: e(r) for n, e, _ in pairs}
                yield {**r, **extra}

        return stage

    def assignments(self, allow_plain: bool) -> list[tuple[str, Expr, str]]:
        out = []
        while True:
            t, nxt = self.peek(), self.peek(1)
            if t is not None and t.kind == "name" and nxt is not None and nxt.text == "=":
                name = self.name()
                self.take("=")
                expr, kind = self.expr()
            elif allow_plain:
                name = self.name()
                if name not in self.schema:
                    raise self._unknown(name)
                expr, kind = column_ref(name), self.schema[name]
            else:
                raise KqlUnsupported("expected NAME = expression", "syntax", t.text if t else "", t.pos if t else 0)
            out.append((name, expr, kind))
            if not self.at(","):
                return out
            self.take(",")

    def _sort(self) -> Callable[[Iterable[Row]], Iterable[Row]]:
        keys: list[tuple[Expr, bool]] = []
        while True:
            expr, _ = self.expr()
            desc = True  # Kusto's default
            if self.at("asc", "desc"):
                desc = self.take().text.lower() == "desc"
            keys.append((expr, desc))
            if not self.at(","):
                break
            self.take(",")

        def stage(rows: Iterable[Row]) -> list[Row]:
            out = list(rows)
            for expr, desc in reversed(keys):  # stable sorts, last key first; nulls first ascending, last descending
                out.sort(key=sort_by(expr), reverse=desc)
            return out

        return stage

    def _summarize(self) -> Callable[[Iterable[Row]], Iterable[Row]]:
        aggs: list[tuple[str, str, Expr | None]] = []
        agg_kinds: dict[str, str] = {}
        while not self.at("by"):
            name = self.name()
            self.take("=")
            fn = self.name().lower()
            self.take("(")
            arg: Expr | None = None
            if fn == "count":
                kind = "long"
            elif fn in ("min", "max", "dcount"):
                arg, arg_kind = self.expr()
                kind = "long" if fn == "dcount" else arg_kind
            else:
                raise KqlUnsupported(f"the aggregation '{fn}()' is not supported by the azsqlctl sandbox", near=fn)
            self.take(")")
            aggs.append((name, fn, arg))
            agg_kinds[name] = kind
            if not self.at(","):
                break
            self.take(",")
        self.take("by")
        keys = self.assignments(allow_plain=True)
        self.schema = {**{n: t for n, _, t in keys}, **agg_kinds}

        def stage(rows: Iterable[Row]) -> list[Row]:
            groups: dict[tuple[Any, ...], list[Any]] = {}
            for r in rows:
                k = tuple(e(r) for _, e, _ in keys)
                acc = groups.get(k)
                if acc is None:
                    acc = groups[k] = [0 if fn == "count" else (set() if fn == "dcount" else None) for _, fn, _ in aggs]
                for i, (_, fn, arg) in enumerate(aggs):
                    if fn == "count":
                        acc[i] += 1
                        continue
                    assert arg is not None
                    v = arg(r)
                    if v is None:
                        continue
                    if fn == "dcount":
                        acc[i].add(v)
                    elif acc[i] is None or (v < acc[i] if fn == "min" else v > acc[i]):
                        acc[i] = v
            out = []
            for k, acc in groups.items():
                row = {n: v for (n, _, _), v in zip(keys, k, strict=True)}
                for (name, fn, _), v in zip(aggs, acc, strict=True):
                    row[name] = len(v) if fn == "dcount" else v
                out.append(row)
            return out

        return stage

    # expressions
    def condition(self) -> tuple[Expr, dict[str, float]]:
        """A where predicate, plus the time bounds of its top-level and-ed comparisons (for the store)."""
        bounds: dict[str, float] = {}
        parts = [self.comparison(bounds)]
        while self.at("and"):
            self.take("and")
            parts.append(self.comparison(bounds))
        if self.at("or"):
            bounds.clear()
            alternatives = [all_of(parts)]
            while self.at("or"):
                self.take("or")
                more = [self.comparison({})]
                while self.at("and"):
                    self.take("and")
                    more.append(self.comparison({}))
                alternatives.append(all_of(more))
            return (lambda r: any(a(r) is True for a in alternatives)), bounds
        return all_of(parts), bounds

    def comparison(self, bounds: dict[str, float]) -> Expr:
        if self.at("not"):
            self.take("not")
            self.take("(")
            inner, _ = self.condition()
            self.take(")")
            return lambda r: not inner(r)
        if self.at("("):
            self.take("(")
            inner, _ = self.condition()
            self.take(")")
            return inner
        start = self.i
        left, _ = self.expr()
        left_src = self.toks[start : self.i]
        t = self.peek()
        if t is None or t.kind not in ("op", "name"):
            return left
        op = t.text.lower()
        if op in ("in", "!in", "in~", "!in~"):
            self.take()
            self.take("(")
            values = []
            while True:
                v, _ = self.expr()
                values.append(v({}))
                if not self.at(","):
                    break
                self.take(",")
            self.take(")")
            if op.endswith("~"):  # in~ / !in~: case-insensitive, as =~
                lowered = {str(v).lower() for v in values}
                found: Expr = lambda r: isinstance(left(r), str) and str(left(r)).lower() in lowered  # noqa: E731
            else:
                wanted = set(values)
                found = lambda r: left(r) in wanted  # noqa: E731
            return found if not op.startswith("!") else (lambda r: not found(r))
        if op not in BINARY:
            return left
        self.take()
        right, _ = self.expr()
        fn = BINARY[op]
        right_tok = self.toks[self.i - 1]
        if right_tok.kind == "lit" and isinstance(right_tok.value, float) and op in (">=", ">", "<", "<="):
            column = _bound_column(left_src)
            if column is not None:
                side = "from" if op in (">=", ">") else "to"
                bounds[f"{column}_{side}"] = right_tok.value
        return lambda r: compare(fn, left(r), right(r))

    def expr(self) -> tuple[Expr, str]:
        t = self.peek()
        if t is None:
            raise KqlUnsupported("expected an expression at the end of the query", "syntax", "", len(self.text))
        if t.kind == "lit":
            self.i += 1
            v = t.value
            kind = "datetime" if t.text.lower().startswith("datetime") else "timespan" if isinstance(v, float) and t.text[-1].isalpha() else \
                "string" if isinstance(v, str) else "long" if isinstance(v, int) else "real"  # fmt: skip
            return (lambda r, v=v: v), kind
        if t.kind != "name":
            raise KqlUnsupported(f"Query could not be parsed at '{t.text}'", "syntax", t.text, t.pos)
        self.i += 1
        name = t.text
        if name in ("true", "false"):
            return (lambda r, v=name == "true": v), "bool"
        if self.at("("):
            return self.call(name.lower(), t)
        if name not in self.schema:
            raise self._unknown(name)
        return column_ref(name), self.schema[name]

    def call(self, fn: str, tok: Tok) -> tuple[Expr, str]:
        self.take("(")
        args: list[tuple[Expr, str]] = []
        while not self.at(")"):
            args.append(self.expr())
            if not self.at(","):
                break
            self.take(",")
        self.take(")")
        ctx = self.ctx
        if fn == "ingestion_time" and not args:
            return (lambda r: r.get(INGESTION)), "datetime"
        if fn == "now" and not args:
            return (lambda r: ctx.now), "datetime"
        if fn == "ago" and len(args) == 1:
            span = args[0][0]
            return (lambda r: ctx.now - span(r)), "datetime"
        if fn == "toint" and len(args) == 1:
            inner = args[0][0]
            return (lambda r: toint_value(inner(r))), "int"
        if fn == "tostring" and len(args) == 1:
            inner = args[0][0]
            return (lambda r: "" if inner(r) is None else str(inner(r))), "string"
        if fn == "coalesce" and args:
            exprs = [a[0] for a in args]
            return (lambda r: next((v for v in (e(r) for e in exprs) if v is not None and v != ""), None)), args[0][1]
        if fn in ("isempty", "isnotempty") and len(args) == 1:
            inner = args[0][0]
            empty = fn == "isempty"
            return (lambda r: (inner(r) in (None, "")) is empty), "bool"
        if fn == "extract" and len(args) == 3:
            pattern_src = args[0][0]({})
            group = args[1][0]({})
            if not isinstance(pattern_src, str) or not isinstance(group, int):
                raise KqlUnsupported("extract() takes a constant regex and a constant group number", near="extract")
            try:
                pattern = re.compile(pattern_src)
            except re.error as exc:
                raise KqlUnsupported(f"extract(): the regex is invalid ({exc})", near="extract") from None
            source = args[2][0]

            def extract(r: Row) -> str | None:
                text = source(r)
                m = pattern.search(text) if isinstance(text, str) else None
                return m[group] if m and m.lastindex and group <= m.lastindex else None

            return extract, "string"
        raise KqlUnsupported(f"the function '{tok.text}()' is not supported by the azsqlctl sandbox (it runs the KQL subset azsqlctl logs emits)",
                             near=tok.text, pos=tok.pos)  # fmt: skip

    def _unknown(self, name: str) -> KqlUnsupported:
        return KqlUnsupported(f"Failed to resolve scalar expression named '{name}'", near=name)


INGESTION = "\x00ingestion_time"  # the row key ingestion_time() reads (never a column of the output)


def _bound_column(src: list[Tok]) -> str | None:
    text = "".join(t.text for t in src)
    if text == "event_time_t":
        return "event"
    if text == "ingestion_time()":
        return "ingested"
    return None


def compile_query(text: str, schema: dict[str, str], now: float) -> Plan:
    return Parser(text, schema, Context(now)).parse()


def to_wire(value: Any, kind: str) -> Any:
    """A value as the query API's JSON carries it."""
    if value is None:
        return None
    if kind == "datetime":
        return iso(float(value))
    if kind in ("long", "int"):
        return int(value)
    return value

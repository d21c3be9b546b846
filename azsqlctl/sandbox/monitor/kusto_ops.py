"""Pipeline stages and value semantics of the sandbox's KQL subset (see ``kusto.py``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Row = dict[str, Any]
Expr = Callable[[Row], Any]


Stage = Callable[[Iterable[Row]], Iterable[Row]]


def where_stage(cond: Expr) -> Stage:
    return lambda rows: (r for r in rows if cond(r) is True)


def project_stage(pairs: list[tuple[str, Expr, str]]) -> Stage:
    return lambda rows: ({n: e(r) for n, e, _ in pairs} for r in rows)


def take_stage(n: int) -> Stage:
    return lambda rows: _first(rows, n)


def column_ref(name: str) -> Expr:
    return lambda r: r.get(name)


def sort_by(expr: Expr) -> Callable[[Row], tuple[int, Any]]:
    return lambda r: _sort_key(expr(r))


def all_of(parts: list[Expr]) -> Expr:
    return lambda r: all(p(r) is True for p in parts)


def _first(rows: Iterable[Row], n: int) -> Iterator[Row]:
    for i, r in enumerate(rows):
        if i >= n:
            return
        yield r


def toint_value(v: Any) -> int | None:
    if v is None or v == "":
        return None
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None


def _sort_key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, 0)
    if isinstance(v, str):
        return (2, v)
    return (1, v)


def _lower(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


def compare(fn: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    try:
        return fn(a, b)
    except TypeError:
        return False


BINARY: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "=~": lambda a, b: _lower(a) == _lower(b),
    "!~": lambda a, b: _lower(a) != _lower(b),
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "contains": lambda a, b: str(b).lower() in str(a).lower(),
    "!contains": lambda a, b: str(b).lower() not in str(a).lower(),
    "has": lambda a, b: re.search(rf"(?<![A-Za-z0-9]){re.escape(str(b))}(?![A-Za-z0-9])", str(a), re.I) is not None,
}

"""T-SQL's date, string and math built-ins that SQLite lacks or spells differently.

The translator hands each expression node to ``rewrite`` (sqlglot's DateAdd, DateDiff, Extract ... become
calls of the ``az_*`` functions registered here) and asks ``result_spec`` for the type SQL Server gives
the result, so a client receives DATEADD's value as a datetime, not as text. Semantics follow the
Transact-SQL reference: DATEDIFF counts the datepart boundaries crossed, DATEADD of a month clamps
to the month's last day, EOMONTH adds months first, CONCAT reads NULL as an empty string.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from ..sqltypes import SqlType, TypeSpec
from . import errors, types
from .errors import SqlError

_PARTS = {
    "year": "year", "yy": "year", "yyyy": "year", "quarter": "quarter", "qq": "quarter", "q": "quarter",
    "month": "month", "mm": "month", "m": "month", "dayofyear": "dayofyear", "dy": "dayofyear", "y": "dayofyear",
    "day": "day", "dd": "day", "d": "day", "week": "week", "wk": "week", "ww": "week", "weekday": "weekday", "dw": "weekday",
    "hour": "hour", "hh": "hour", "minute": "minute", "mi": "minute", "n": "minute", "second": "second", "ss": "second", "s": "second",
    "millisecond": "millisecond", "ms": "millisecond", "microsecond": "microsecond", "mcs": "microsecond",
}  # fmt: skip
_DATETIME = TypeSpec(SqlType.DATETIME, scale=3)
_TEMPORAL = (SqlType.DATE, SqlType.TIME, SqlType.DATETIME, SqlType.DATETIME2, SqlType.DATETIMEOFFSET)


def _part(node: exp.Expression | None) -> str:
    name = (node.name if node is not None else "").lower()
    part = _PARTS.get(name)
    if part is None:
        raise errors.unsupported(f"datepart {name}")
    return part


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def rewrite(node: exp.Expression) -> exp.Expression | None:
    """The SQLite form of a T-SQL built-in, or None when the node is not one of these."""
    if isinstance(node, exp.DateAdd):
        return _call("az_dateadd", exp.Literal.string(_part(node.args.get("unit"))), node.expression, node.this)
    if isinstance(node, exp.DateDiff):
        return _call("az_datediff", exp.Literal.string(_part(node.args.get("unit"))), node.expression, node.this)
    if isinstance(node, exp.Extract):
        return _call("az_datepart", exp.Literal.string(_part(node.this)), node.expression)
    if isinstance(node, exp.Year | exp.Month | exp.Day):
        return _call("az_datepart", exp.Literal.string(type(node).__name__.lower()), node.this)
    if isinstance(node, exp.LastDay):
        return _call("az_eomonth", node.this, node.args.get("unit") or exp.Literal.number(0))
    if isinstance(node, exp.DateFromParts):
        return _call("az_datefromparts", node.args["year"], node.args["month"], node.args["day"])
    if isinstance(node, exp.CurrentTimestampLTZ):
        return _call("az_now_offset")
    if isinstance(node, exp.Rand):
        return _call("az_rand", *([node.this] if node.this is not None else []))
    if isinstance(node, exp.Concat):
        return _call("az_concat", *node.expressions)
    if isinstance(node, exp.Repeat):
        return _call("REPLICATE", node.this, node.args["times"])
    if isinstance(node, exp.Space):
        return _call("SPACE", node.this)
    if isinstance(node, exp.TimeToStr):  # DATENAME, FORMAT and CONVERT's date styles, as strftime formats
        return _call("az_strftime", node.this, node.args["format"])
    if isinstance(node, exp.Anonymous) and node.name.upper() in ("PARSE", "TRY_PARSE"):
        raise errors.unsupported(node.name.upper())  # culture-aware parsing: refused by name, never a syntax error
    return None


def result_spec(node: exp.Expression, infer: Callable[[exp.Expression], TypeSpec | None]) -> TypeSpec | None:
    """SQL Server's result type of the built-ins above (DATEADD keeps its date argument's type)."""
    if isinstance(node, exp.DateAdd):
        inner = infer(node.this)
        return inner if inner is not None and inner.type in _TEMPORAL else _DATETIME
    if isinstance(node, exp.DateDiff | exp.Extract | exp.Year | exp.Month | exp.Day):
        return TypeSpec(SqlType.INT)
    if isinstance(node, exp.LastDay | exp.DateFromParts):
        return TypeSpec(SqlType.DATE)
    if isinstance(node, exp.CurrentTimestampLTZ):
        return TypeSpec(SqlType.DATETIMEOFFSET, scale=7)
    if isinstance(node, exp.Rand):
        return TypeSpec(SqlType.FLOAT)
    if isinstance(node, exp.Concat | exp.Repeat | exp.TimeToStr):
        return TypeSpec(SqlType.NVARCHAR, 4000)
    return None


def _when(value: Any) -> tuple[dt.datetime, bool]:
    """A stored date/time value as a datetime, and whether it was a date alone."""
    if isinstance(value, dt.datetime):
        return value, False
    text = types.text(value).strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise errors.datetime_conversion() from None
    return parsed, len(text) <= 10


def _shown(moment: dt.datetime, date_only: bool) -> str:
    return moment.date().isoformat() if date_only else moment.isoformat(sep=" ")


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def dateadd(part: str, number: Any, value: Any) -> Any:
    if number is None or value is None:
        return None
    moment, date_only = _when(value)
    n = int(number)
    if part in ("year", "quarter", "month"):
        moment = _add_months(moment, n * {"year": 12, "quarter": 3, "month": 1}[part])
    else:
        unit = {"dayofyear": "days", "day": "days", "weekday": "days", "week": "weeks", "hour": "hours", "minute": "minutes",
                "second": "seconds", "millisecond": "milliseconds", "microsecond": "microseconds"}[part]  # fmt: skip
        moment = moment + dt.timedelta(**{unit: n})
        date_only = date_only and unit in ("days", "weeks")
    return _shown(moment, date_only)


def datediff(part: str, start: Any, end: Any) -> Any:
    if start is None or end is None:
        return None
    a, _ = _when(start)
    b, _ = _when(end)
    if part == "year":
        return b.year - a.year
    if part == "quarter":
        return (b.year - a.year) * 4 + (b.month - 1) // 3 - (a.month - 1) // 3
    if part == "month":
        return (b.year - a.year) * 12 + b.month - a.month
    if part in ("day", "dayofyear", "weekday"):
        return (b.date() - a.date()).days
    if part == "week":  # Sunday starts a week (DATEFIRST 7)
        return ((b.date() - dt.timedelta(days=(b.weekday() + 1) % 7)) - (a.date() - dt.timedelta(days=(a.weekday() + 1) % 7))).days // 7
    size = {"hour": 3600, "minute": 60, "second": 1, "millisecond": 0.001, "microsecond": 0.000001}[part]
    epoch = dt.datetime(1900, 1, 1, tzinfo=a.tzinfo)
    return int((b.replace(tzinfo=a.tzinfo) - epoch).total_seconds() // size - (a - epoch).total_seconds() // size)


def datepart(part: str, value: Any) -> Any:
    if value is None:
        return None
    moment, _ = _when(value)
    if part == "quarter":
        return (moment.month - 1) // 3 + 1
    if part == "dayofyear":
        return moment.timetuple().tm_yday
    if part == "weekday":
        return (moment.weekday() + 1) % 7 + 1  # Sunday is 1 (DATEFIRST 7)
    if part == "week":
        first = dt.date(moment.year, 1, 1)
        return ((moment.date() - first).days + (first.weekday() + 1) % 7) // 7 + 1
    if part == "millisecond":
        return moment.microsecond // 1000
    return int(getattr(moment, part))


def eomonth(value: Any, months: Any) -> Any:
    if value is None:
        return None
    moment, _ = _when(value)
    moment = _add_months(moment.replace(day=1), int(months or 0))
    return moment.replace(day=calendar.monthrange(moment.year, moment.month)[1]).date().isoformat()


def datefromparts(year: Any, month: Any, day: Any) -> Any:
    if year is None or month is None or day is None:
        return None
    try:
        return dt.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        raise SqlError(289, "Cannot construct data type date, some of the arguments have values which are not valid.") from None


def strftime(value: Any, fmt: Any) -> Any:
    if value is None or fmt is None:
        return None
    moment, _ = _when(value)
    return moment.strftime(types.text(fmt))


def concat(*values: Any) -> str:
    return "".join("" if v is None else types.text(v) for v in values)


def register(conn: Any, guard: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    rng = random.Random()

    def rand(seed: Any = None) -> float:
        if seed is not None:
            rng.seed(int(seed))
        return rng.random()

    for name, fn, arity in (
        ("az_dateadd", dateadd, 3), ("az_datediff", datediff, 3), ("az_datepart", datepart, 2), ("az_eomonth", eomonth, 2),
        ("az_datefromparts", datefromparts, 3), ("az_concat", concat, -1), ("az_strftime", strftime, 2),
    ):  # fmt: skip
        conn.create_function(name, arity, guard(fn), deterministic=True)
    conn.create_function("az_rand", 0, rand)
    conn.create_function("az_rand", 1, rand)
    conn.create_function("az_now_offset", 0, lambda: dt.datetime.now(dt.UTC).isoformat(sep=" "))

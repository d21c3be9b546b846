"""The T-SQL semantics SQLite lacks, registered on each session's connection as ``az_*`` functions.

The translator (``translate``) rewrites T-SQL operators and built-ins into calls to these, so integer
division, ``+`` on strings, CAST/CONVERT and the like behave as in SQL Server.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from ..catalog import metadata_functions
from . import errors, scalar_functions, translate, types
from .context import StatementSession
from .errors import SqlError
from .storage import ColumnInfo


def register(session: StatementSession) -> None:
    def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
        # SQLite reports only "user-defined function raised exception": keep the real error for session.exec_sqlite.
        def call(*args: Any) -> Any:
            try:
                return fn(*args)
            except SqlError as err:
                session.pending_error = err
                raise
            except (ValueError, TypeError, ArithmeticError) as exc:
                session.pending_error = errors.unsupported(f"{fn.__name__} of these values ({type(exc).__name__})")
                raise

        return call

    def div(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        a, b = _number(a), _number(b)
        if b == 0:
            raise errors.divide_by_zero()
        if isinstance(a, int) and isinstance(b, int):
            q = abs(a) // abs(b)
            return q if (a >= 0) == (b >= 0) else -q  # T-SQL integer division truncates toward zero
        return a / b

    def mod(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        a, b = _number(a), _number(b)
        if b == 0:
            raise errors.divide_by_zero()
        r = abs(a) % abs(b)
        return r if a >= 0 else -r

    def add(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        if isinstance(a, str) and isinstance(b, str):
            return a + b
        if isinstance(a, bytes) and isinstance(b, bytes):
            return a + b
        return _number(a) + _number(b)

    def cast(value: Any, spec: str, source: str) -> Any:
        return types.convert(value, translate.spec_from_text(spec), source)

    def try_cast(value: Any, spec: str, source: str) -> Any:
        try:
            return types.convert(value, translate.spec_from_text(spec), source)
        except SqlError:
            return None

    def conv(value: Any, spec: str, source: str, table: str, column: str) -> Any:
        return types.convert(value, translate.spec_from_text(spec), source, table=table, column=column)

    def schema_name(schema_id: Any) -> Any:
        db = session.db()
        schemas = db.schemas if db else ["dbo"]
        if schema_id is None:
            return "dbo"
        sid = int(schema_id)
        return schemas[sid - 1] if 1 <= sid <= len(schemas) else {4: "sys", 3: "INFORMATION_SCHEMA"}.get(sid)

    session.conn.create_function("az_div", 2, guard(div), deterministic=True)
    session.conn.create_function("az_mod", 2, guard(mod), deterministic=True)
    session.conn.create_function("az_add", 2, guard(add), deterministic=True)
    session.conn.create_function("az_cast", 3, guard(cast), deterministic=True)
    session.conn.create_function("az_try_cast", 3, guard(try_cast), deterministic=True)
    session.conn.create_function("az_conv", 5, guard(conv), deterministic=True)
    session.conn.create_function("az_now", 0, lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" "))
    session.conn.create_function("az_newid", 0, lambda: str(uuid.uuid4()).upper())
    session.conn.create_function("az_schema_name", 1, guard(schema_name))
    metadata_functions.register(session, guard)
    scalar_functions.register(session.conn, guard)
    session.conn.create_function("az_len", 1, lambda v: None if v is None else len(types.text(v).rstrip(" ")), deterministic=True)
    session.conn.create_function("az_datalength", 1, _datalength, deterministic=True)


def _number(value: Any) -> int | float:
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise errors.conversion(value, "varchar", "int") from None
    raise errors.conversion(types.text(value), "varbinary", "int")


def _datalength(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, str):
        return len(value.encode("utf-16-le"))
    return 8 if isinstance(value, float) or abs(value) >= 2**31 else 4


def conv(sql: str, col: ColumnInfo, source: str, table: str) -> str:
    """SQL that converts ``sql`` to a column's type on the way in, through ``az_conv``, as SQL Server does on assignment."""
    args = [translate.spec_text(col.spec), source, table, col.name]
    # SQLite's string literal is the text in single quotes with each quote doubled; written out rather than through
    # sqlglot's generator, which cost more than the rest of a one-row INSERT (it runs per column per row).
    return f"az_conv({sql}, " + ", ".join("'" + a.replace("'", "''") + "'" for a in args) + ")"

"""What a statement hands back to the batch: a ``Piece`` (result set, row count or error) and its typed columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..sqltypes import SqlType, TypeSpec
from ..tds import tokens as tk
from . import principal_ddl as ddl
from . import types
from .errors import SqlError

CMD_SELECT, CMD_INSERT, CMD_DELETE, CMD_UPDATE, CMD_DDL = 0xC1, 0xC3, 0xC4, 0xC5, 0xC6


@dataclass
class Piece:
    """What one statement returns, before the DONE flags that depend on what follows are known."""

    env: bytes = b""
    columns: list[tk.Column] | None = None
    rows: list[list[Any]] = field(default_factory=list)
    rowcount: int | None = None  # None: no DONE_COUNT
    curcmd: int = CMD_SELECT
    error: SqlError | ddl.DdlError | None = None
    line: int = 1  # the statement's line in the batch, which an error reports as SQL Server does


def _cp1252(value: Any) -> bool:
    """Whether a varchar value fits the default collation's code page (what a varchar column carries on the wire)."""
    if not isinstance(value, str):
        return True
    try:
        value.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def typed(declared: list[tuple[str, TypeSpec | None]], rows: list[tuple[Any, ...]]) -> tuple[list[tk.Column], list[list[Any]]]:
    """Result columns with their declared types (or, for computed ones, the type their values have) and Python values."""
    columns: list[tk.Column] = []
    converted: list[list[Any]] = [[None] * len(declared) for _ in rows]
    for i, (name, spec) in enumerate(declared):
        raw = [r[i] for r in rows]
        values: list[Any] | None = None
        if spec is not None:
            try:
                values = [types.python_value(v, spec) for v in raw]
            except (ValueError, TypeError, ArithmeticError):
                values = None
        if values is None:
            spec = types.of_value(raw)
            values = [types.python_value(v, spec) for v in raw]
        assert spec is not None
        if spec.type == SqlType.VARCHAR and not all(_cp1252(v) for v in values):
            # SQL Server would have stored '?' for these characters; the sandbox kept them, so it sends Unicode.
            spec = TypeSpec(SqlType.NVARCHAR, spec.length)
        columns.append(tk.Column(name, spec=spec))
        for r, v in zip(converted, values, strict=True):
            r[i] = v
    return columns, converted

"""What the engine hands back for each statement: typed, frozen results, never wire bytes.

A ``StatementResult`` carries a statement's result set (``ResultSet``: typed columns and Python values),
its row count, the command it ran (DONE's CurCmd), the messages and transaction changes it produced, in
order, and its error. ``sql/tds/results.py`` is the one place that turns them into TDS tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..sqltypes import TypeSpec

# The command a statement ran, as DONE's CurCmd reports it ([MS-TDS] 2.2.7.6; SQL Server's numbering).
CMD_SELECT, CMD_INSERT, CMD_DELETE, CMD_UPDATE, CMD_DDL = 0xC1, 0xC3, 0xC4, 0xC5, 0xC6
CMD_BEGIN_TRAN, CMD_END_TRAN, CMD_EXECUTE = 0xD4, 0xD5, 0xE0


@dataclass(frozen=True)
class Column:
    name: str
    spec: TypeSpec


@dataclass(frozen=True)
class ResultSet:
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]  # one Python value per column (None is NULL), as sqltypes describes


@dataclass(frozen=True)
class Message:
    """An informational message (severity 0): SQL Server's PRINT and its notices (15477 …)."""

    number: int
    state: int
    text: str


@dataclass(frozen=True)
class ErrorMessage:
    number: int
    state: int
    severity: int
    text: str
    line: int = 1  # the statement's line in the batch, which SQL Server reports


class TransactionEvent(StrEnum):
    BEGIN = "begin"
    COMMIT = "commit"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class TransactionChange:
    """A transaction began or ended: the new and the old transaction descriptor (empty when there is none)."""

    event: TransactionEvent
    new: bytes
    old: bytes


@dataclass(frozen=True)
class ReturnStatus:
    """A procedure's return value (what EXEC @r = proc receives)."""

    value: int


Event = Message | TransactionChange | ReturnStatus


@dataclass(frozen=True)
class StatementResult:
    """One statement's outcome, before the DONE flags that depend on what follows are known."""

    events: tuple[Event, ...] = ()
    result: ResultSet | None = None
    rowcount: int | None = None  # None: no row count (DONE without DONE_COUNT)
    command: int = CMD_SELECT
    error: ErrorMessage | None = None

"""SQL Server's data types as the sandbox models them: the contract between its SQL engine and its TDS codec.

The engine (``sandbox/sql/engine``) says what a result column or a parameter *is* with a
``TypeSpec``; the TDS codec (``sandbox/sql/tds``) turns a ``TypeSpec`` into TYPE_INFO
bytes and back. Values travel as plain Python objects, one Python type per SQL type:

=================  ===========================================
SqlType            Python value (``None`` is SQL NULL)
=================  ===========================================
NVARCHAR/VARCHAR   ``str``
VARBINARY          ``bytes``
BIT                ``bool``
TINYINT..BIGINT    ``int``
DECIMAL, MONEY     ``decimal.Decimal``
FLOAT, REAL        ``float``
UNIQUEIDENTIFIER   ``uuid.UUID``
DATE               ``datetime.date``
TIME               ``datetime.time``
DATETIME(2)        ``datetime.datetime`` (naive)
DATETIMEOFFSET     ``datetime.datetime`` (aware)
=================  ===========================================
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from dataclasses import dataclass
from enum import StrEnum

MAX = -1  # the length of a (n)varchar(max) / varbinary(max): sent as PLP on the wire

SqlValue = str | bytes | bool | int | decimal.Decimal | float | uuid.UUID | dt.date | dt.time | dt.datetime | None


class SqlType(StrEnum):
    NVARCHAR = "nvarchar"
    VARCHAR = "varchar"
    VARBINARY = "varbinary"
    BIT = "bit"
    TINYINT = "tinyint"
    SMALLINT = "smallint"
    INT = "int"
    BIGINT = "bigint"
    DECIMAL = "decimal"
    MONEY = "money"
    FLOAT = "float"
    REAL = "real"
    UNIQUEIDENTIFIER = "uniqueidentifier"
    DATE = "date"
    TIME = "time"
    DATETIME = "datetime"
    DATETIME2 = "datetime2"
    DATETIMEOFFSET = "datetimeoffset"


@dataclass(frozen=True)
class TypeSpec:
    """A declared type: ``NVARCHAR(50)`` is ``TypeSpec(SqlType.NVARCHAR, length=50)``.

    ``length`` is in characters for (n)varchar, bytes for varbinary, ``MAX`` for the MAX
    types, and ``None`` where the type has no length (the codec then picks a width
    that fits the values it sends). ``precision``/``scale`` are for DECIMAL, and
    ``scale`` is the fractional-second digits for TIME, DATETIME2 and DATETIMEOFFSET.
    """

    type: SqlType
    length: int | None = None
    precision: int = 18
    scale: int = 0

    @property
    def is_max(self) -> bool:
        return self.length == MAX


@dataclass(frozen=True)
class Param:
    """One RPC parameter as the client sent it: ``name`` includes the ``@`` (or is "" when positional)."""

    name: str
    spec: TypeSpec
    value: SqlValue
    output: bool = False

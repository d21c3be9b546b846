"""SQL Server types over SQLite storage: declared types, storage form and conversions.

SQLite stores five classes (NULL, INTEGER, REAL, TEXT, BLOB); the declared T-SQL type
of every column is kept in the sandbox's own metadata, and values are converted on the
way in (with SQL Server's conversion errors: 245, 8114, 8115, 241, 8169, 2628) and on
the way out (to the Python value ``sqltypes`` promises for the column's type).
Storage forms: integers and bit as INTEGER, float as REAL, decimal/money as REAL when a double
holds the value exactly and as its digits otherwise (``exact_number``), date and time
types as ISO-8601 TEXT (sorts in time order), uniqueidentifier as upper-case TEXT,
varbinary as BLOB.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import struct
import uuid
from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from ..sqltypes import MAX, SqlType, TypeSpec
from . import errors
from .results import Column, ResultSet

_INT_RANGES = {
    SqlType.TINYINT: (0, 255),
    SqlType.SMALLINT: (-(2**15), 2**15 - 1),
    SqlType.INT: (-(2**31), 2**31 - 1),
    SqlType.BIGINT: (-(2**63), 2**63 - 1),
}
_STRINGS = (SqlType.NVARCHAR, SqlType.VARCHAR)
_TEMPORAL = (SqlType.DATE, SqlType.TIME, SqlType.DATETIME, SqlType.DATETIME2, SqlType.DATETIMEOFFSET)

_BY_NAME = {
    "INT": SqlType.INT, "INTEGER": SqlType.INT, "BIGINT": SqlType.BIGINT, "SMALLINT": SqlType.SMALLINT,
    "TINYINT": SqlType.TINYINT, "UTINYINT": SqlType.TINYINT, "BIT": SqlType.BIT, "BOOLEAN": SqlType.BIT,
    "DECIMAL": SqlType.DECIMAL, "NUMERIC": SqlType.DECIMAL, "MONEY": SqlType.MONEY, "SMALLMONEY": SqlType.MONEY,
    "FLOAT": SqlType.FLOAT, "DOUBLE": SqlType.FLOAT, "REAL": SqlType.REAL, "NVARCHAR": SqlType.NVARCHAR,
    "NCHAR": SqlType.NVARCHAR, "VARCHAR": SqlType.VARCHAR, "CHAR": SqlType.VARCHAR, "TEXT": SqlType.VARCHAR,
    "NTEXT": SqlType.NVARCHAR, "SYSNAME": SqlType.NVARCHAR,
    "VARBINARY": SqlType.VARBINARY, "BINARY": SqlType.VARBINARY, "UNIQUEIDENTIFIER": SqlType.UNIQUEIDENTIFIER,
    "UUID": SqlType.UNIQUEIDENTIFIER, "DATE": SqlType.DATE, "TIME": SqlType.TIME, "DATETIME": SqlType.DATETIME,
    "SMALLDATETIME": SqlType.DATETIME, "DATETIME2": SqlType.DATETIME2, "DATETIMEOFFSET": SqlType.DATETIMEOFFSET,
    "TIMESTAMPTZ": SqlType.DATETIMEOFFSET,
}  # fmt: skip


def spec_of(dtype: exp.DataType, *, in_cast: bool = False) -> TypeSpec:
    """The TypeSpec a parsed T-SQL type declares; 40517 for types outside the sandbox's subset."""
    name = dtype.this.name if hasattr(dtype.this, "name") else str(dtype.this)
    sql_type = _BY_NAME.get(name.upper())
    if sql_type is None:
        raise errors.unsupported(f"data type {dtype.sql(dialect='tsql')}")
    params = [p.this if isinstance(p, exp.DataTypeParam) else p for p in dtype.expressions]
    args = [str(p.name if isinstance(p, exp.Expression) else p).upper() for p in params]
    if sql_type in _STRINGS or sql_type == SqlType.VARBINARY:
        if name.upper() in ("NTEXT", "TEXT"):
            return TypeSpec(sql_type, MAX)
        if name.upper() == "SYSNAME":
            return TypeSpec(sql_type, 128)
        if not args:
            # CAST(x AS VARCHAR) is 30 characters; a column declared VARCHAR is 1.
            return TypeSpec(sql_type, 30 if in_cast else 1)
        return TypeSpec(sql_type, MAX if args[0] == "MAX" else int(args[0]))
    if sql_type == SqlType.DECIMAL:
        precision = int(args[0]) if args else 18
        return TypeSpec(sql_type, precision=precision, scale=int(args[1]) if len(args) > 1 else 0)
    if sql_type == SqlType.MONEY:
        return TypeSpec(SqlType.DECIMAL, precision=19, scale=4)
    if sql_type in (SqlType.TIME, SqlType.DATETIME2, SqlType.DATETIMEOFFSET):
        return TypeSpec(sql_type, scale=int(args[0]) if args else 7)
    if sql_type == SqlType.DATETIME:
        return TypeSpec(sql_type, scale=3)
    if sql_type == SqlType.FLOAT and args and int(args[0]) <= 24:
        return TypeSpec(SqlType.REAL)
    return TypeSpec(sql_type)


def type_name(spec: TypeSpec) -> str:
    """The type as SQL Server names it in messages and INFORMATION_SCHEMA."""
    return "numeric" if spec.type == SqlType.DECIMAL else str(spec.type)


def affinity(spec: TypeSpec) -> str:
    """The SQLite column declaration storing ``spec``; text compares case-insensitively as SQL Server's default collation does."""
    if spec.type in (*_INT_RANGES, SqlType.BIT):
        return "INTEGER"
    if spec.type in (SqlType.DECIMAL, SqlType.MONEY):
        return "BLOB"  # no affinity: a REAL stays a REAL and an exact text form stays text (exact_number)
    if spec.type in (SqlType.FLOAT, SqlType.REAL):
        return "REAL"
    if spec.type == SqlType.VARBINARY:
        return "BLOB"
    return "TEXT COLLATE NOCASE"


def storage(value: Any) -> Any:
    """A Python value (a bound parameter) as SQLite stores it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, decimal.Decimal):
        return exact_number(value)
    if isinstance(value, uuid.UUID):
        return str(value).upper()
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


_WIDE = decimal.Context(prec=80)  # DECIMAL(38, s) needs more than the default context's 28 digits


def exact_number(value: decimal.Decimal) -> float | str:
    """A decimal as SQLite keeps it: a REAL when a double holds it exactly, else its digits as text.

    REALs compare, sort and sum as numbers; the text form keeps DECIMAL(38, s) values that a
    double would round (they still read back exactly; they compare as text).
    """
    as_float = float(value)
    return as_float if decimal.Decimal(repr(as_float)) == value else str(value)


def text(value: Any) -> str:
    """A stored value as T-SQL's string functions see it."""
    return _text(value)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    if isinstance(value, bytes):
        return "0x" + value.hex().upper()
    return str(value)


def convert(value: Any, spec: TypeSpec, source: str = "varchar", *, table: str = "", column: str = "") -> Any:
    """Convert a SQLite value to ``spec`` as SQL Server converts implicitly or by CAST, in storage form.

    ``table``/``column`` name the target of an INSERT or UPDATE: a string too long for it
    is then error 2628 instead of being cut as CAST cuts it.
    """
    if value is None:
        return None
    t = spec.type
    if t in _INT_RANGES or t == SqlType.BIT:
        if isinstance(value, str):
            text = value.strip()
            try:
                number = int(text)
            except ValueError:
                if t == SqlType.BIT and text.lower() in ("true", "false"):
                    return int(text.lower() == "true")
                raise errors.conversion(value, source, str(t)) from None
        elif isinstance(value, bytes):
            number = int.from_bytes(value, "big")
        else:
            number = int(value)  # float -> int truncates toward zero, as CAST does
        if t == SqlType.BIT:
            return int(number != 0)
        low, high = _INT_RANGES[t]
        if not low <= number <= high:
            raise errors.overflow(str(t))
        return number
    if t in (SqlType.DECIMAL, SqlType.MONEY):
        try:
            number_d = decimal.Decimal(value.strip() if isinstance(value, str) else str(value))
        except decimal.InvalidOperation:
            raise errors.numeric_conversion(source, "numeric") from None
        quantum = decimal.Decimal(1).scaleb(-spec.scale)
        rounded = number_d.quantize(quantum, rounding=decimal.ROUND_HALF_UP, context=_WIDE)
        if rounded.adjusted() >= spec.precision - spec.scale:
            raise errors.overflow("numeric")
        return exact_number(rounded)
    if t in (SqlType.FLOAT, SqlType.REAL):
        try:
            number_f = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise errors.numeric_conversion(source, "float") from None
        if t == SqlType.REAL:  # a 4-byte float: SQL Server keeps 24 bits of mantissa
            try:
                return float(struct.unpack("<f", struct.pack("<f", number_f))[0])
            except OverflowError:
                raise errors.overflow("real") from None
        return number_f
    if t in _STRINGS:
        text = _decode(value, source) if isinstance(value, bytes) else _text(value)
        if not spec.is_max and spec.length is not None and len(text) > spec.length:
            if table:
                raise errors.truncated(table, column, text[: spec.length])
            text = text[: spec.length]
        return text
    if t == SqlType.VARBINARY:
        data = value if isinstance(value, bytes) else str(value).encode("utf-16-le" if source == "nvarchar" else "latin-1")
        if not spec.is_max and spec.length is not None and len(data) > spec.length:
            if table:
                raise errors.truncated(table, column, "0x" + data[: spec.length].hex().upper())
            data = data[: spec.length]
        return data
    if t == SqlType.UNIQUEIDENTIFIER:
        try:
            return str(uuid.UUID(str(value).strip().strip("{}"))).upper()
        except ValueError:
            raise errors.guid_conversion() from None
    if t in _TEMPORAL:
        return _temporal(value, spec)
    raise errors.unsupported(f"conversion to {t}")


def _decode(data: bytes, source: str) -> str:
    """varbinary to text as CONVERT reads it: UTF-16 code units for nvarchar (an odd last byte dropped), one byte per character otherwise."""
    if source == "nvarchar":
        return data[: len(data) // 2 * 2].decode("utf-16-le", errors="replace")
    return data.decode("cp1252", errors="replace")


def _temporal(value: Any, spec: TypeSpec) -> str:
    # 'YYYY-MM-DD hh:mm:ss.nnnnnnn +hh:mm' (SQL Server's datetimeoffset literal) has a space before the offset.
    text = re.sub(r"\s+([+-]\d{2}:\d{2})$", r"\1", str(value).strip().replace("T", " ")).replace("Z", "+00:00")
    text = re.sub(r"^(\d{1,3})-", lambda m: m[1].zfill(4) + "-", text)  # year 999 written without its leading zero
    try:
        if spec.type == SqlType.TIME:
            return dt.time.fromisoformat(_six_digits(text)).isoformat()
        parsed = dt.datetime.fromisoformat(_six_digits(text))
    except ValueError:
        raise errors.datetime_conversion() from None
    if spec.type == SqlType.DATE:
        return parsed.date().isoformat()
    if spec.type == SqlType.DATETIMEOFFSET:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).isoformat(sep=" ")
    return parsed.replace(tzinfo=None).isoformat(sep=" ")


def _six_digits(text: str) -> str:
    """Python parses at most 6 fractional digits; SQL Server sends up to 7."""
    if "." in text:
        head, _, tail = text.partition(".")
        digits = re.match(r"\d*", tail)[0]  # type: ignore[index]  # always matches
        rest = tail[len(digits) :]
        return f"{head}.{(digits + '000000')[:6]}{rest}"
    return text


def python_value(value: Any, spec: TypeSpec) -> Any:
    """A stored value as the Python object ``sqltypes`` promises for ``spec`` (what the TDS codec encodes)."""
    if value is None:
        return None
    t = spec.type
    if t in _INT_RANGES:
        return int(value)
    if t == SqlType.BIT:
        return bool(value)
    if t in (SqlType.DECIMAL, SqlType.MONEY):
        number = decimal.Decimal(repr(value) if isinstance(value, float) else str(value))
        return number.quantize(decimal.Decimal(1).scaleb(-spec.scale), rounding=decimal.ROUND_HALF_UP, context=_WIDE)
    if t in (SqlType.FLOAT, SqlType.REAL):
        return float(value)
    if t in _STRINGS:
        return _text(value) if not isinstance(value, bytes) else value.decode("latin-1")
    if t == SqlType.VARBINARY:
        return bytes(value) if not isinstance(value, str) else value.encode("utf-16-le")
    if t == SqlType.UNIQUEIDENTIFIER:
        return uuid.UUID(str(value))
    text = _six_digits(str(value))
    if t == SqlType.DATE:
        return dt.date.fromisoformat(text[:10])
    if t == SqlType.TIME:
        return dt.time.fromisoformat(text)
    parsed = dt.datetime.fromisoformat(text)
    return parsed if t == SqlType.DATETIMEOFFSET else parsed.replace(tzinfo=None)


def of_value(values: list[Any]) -> TypeSpec:
    """The type of a computed column nothing declares, from the values it produced."""
    present = [v for v in values if v is not None]
    if not present:
        return TypeSpec(SqlType.INT)  # SELECT NULL is an int column in SQL Server
    if all(isinstance(v, bool) for v in present):
        return TypeSpec(SqlType.BIT)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        fits = all(-(2**31) <= v < 2**31 for v in present)
        return TypeSpec(SqlType.INT if fits else SqlType.BIGINT)
    if all(isinstance(v, int | float) for v in present):
        return TypeSpec(SqlType.FLOAT)
    if all(isinstance(v, bytes) for v in present):
        longest = max(len(v) for v in present)
        return TypeSpec(SqlType.VARBINARY, MAX if longest > 8000 else 8000)
    longest = max(len(_text(v)) for v in present)
    return TypeSpec(SqlType.NVARCHAR, MAX if longest > 4000 else 4000)


def literal_spec(node: exp.Expression) -> TypeSpec | None:
    """The type SQL Server gives a literal: 'abc' varchar(3), N'abc' nvarchar(3), 1 int, 1.5 numeric(2,1)."""
    if isinstance(node, exp.National):
        return TypeSpec(SqlType.NVARCHAR, max(len(node.name), 1))
    if isinstance(node, exp.Literal):
        if node.is_string:
            return TypeSpec(SqlType.VARCHAR, max(len(node.name), 1))
        text = node.name
        if "e" in text.lower():
            return TypeSpec(SqlType.FLOAT)
        if "." in text:
            whole, _, frac = text.lstrip("-").partition(".")
            return TypeSpec(SqlType.DECIMAL, precision=max(len(whole.lstrip("0")) + len(frac), 1), scale=len(frac))
        number = int(text)
        if -(2**31) <= number < 2**31:
            return TypeSpec(SqlType.INT)
        return TypeSpec(SqlType.BIGINT) if -(2**63) <= number < 2**63 else TypeSpec(SqlType.DECIMAL, precision=38)
    if isinstance(node, exp.HexString):
        return TypeSpec(SqlType.VARBINARY, max(len(node.name) // 2, 1))
    return None


def _cp1252(value: Any) -> bool:
    """Whether a varchar value fits the default collation's code page (what a varchar column carries on the wire)."""
    if not isinstance(value, str):
        return True
    try:
        value.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def typed_result(declared: Sequence[tuple[str, TypeSpec | None]], rows: Sequence[tuple[Any, ...]]) -> ResultSet:
    """Result columns with their declared types (or, for computed ones, the type their values have) and Python values."""
    columns: list[Column] = []
    converted: list[list[Any]] = [[None] * len(declared) for _ in rows]
    for i, (name, spec) in enumerate(declared):
        raw = [r[i] for r in rows]
        values: list[Any] | None = None
        if spec is not None:
            try:
                values = [python_value(v, spec) for v in raw]
            except (ValueError, TypeError, ArithmeticError):
                values = None
        if values is None:
            spec = of_value(raw)
            values = [python_value(v, spec) for v in raw]
        assert spec is not None
        if spec.type == SqlType.VARCHAR and not all(_cp1252(v) for v in values):
            # SQL Server would have stored '?' for these characters; the sandbox kept them, so it sends Unicode.
            spec = TypeSpec(SqlType.NVARCHAR, spec.length)
        columns.append(Column(name, spec))
        for r, v in zip(converted, values, strict=True):
            r[i] = v
    return ResultSet(tuple(columns), tuple(tuple(r) for r in converted))

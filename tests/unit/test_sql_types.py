"""SQL Server's conversions over SQLite storage: values in, values out, and the errors in between."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as hst

from azsqlctl.sandbox.sql.engine import types
from azsqlctl.sandbox.sql.engine.errors import SqlError
from azsqlctl.sandbox.sql.sqltypes import MAX, SqlType, TypeSpec

INT = TypeSpec(SqlType.INT)


@pytest.mark.parametrize(
    ("value", "spec", "number", "text"),
    [
        ("abc", INT, 245, "Conversion failed when converting the varchar value 'abc' to data type int."),
        ("1.5", INT, 245, "Conversion failed when converting the varchar value '1.5' to data type int."),
        (2**31, INT, 8115, "Arithmetic overflow error converting expression to data type int."),
        (256, TypeSpec(SqlType.TINYINT), 8115, "Arithmetic overflow error converting expression to data type tinyint."),
        ("x", TypeSpec(SqlType.DECIMAL, precision=5, scale=2), 8114, "Error converting data type varchar to numeric."),
        (
            1000,
            TypeSpec(SqlType.DECIMAL, precision=5, scale=2),
            8115,
            "Arithmetic overflow error converting expression to data type numeric.",
        ),
        ("nope", TypeSpec(SqlType.FLOAT), 8114, "Error converting data type varchar to float."),
        ("2024-13-01", TypeSpec(SqlType.DATE), 241, "Conversion failed when converting date and/or time from character string."),
        (
            "not-a-guid",
            TypeSpec(SqlType.UNIQUEIDENTIFIER),
            8169,
            "Conversion failed when converting from a character string to uniqueidentifier.",
        ),
    ],
)
def test_conversion_errors(value: object, spec: TypeSpec, number: int, text: str) -> None:
    with pytest.raises(SqlError) as info:
        types.convert(value, spec)
    assert (info.value.number, info.value.message) == (number, text)


def test_strings_truncate_in_cast_but_fail_into_a_column() -> None:
    spec = TypeSpec(SqlType.NVARCHAR, 3)
    assert types.convert("abcdef", spec) == "abc"
    with pytest.raises(SqlError) as info:
        types.convert("abcdef", spec, table="appdb.app.t", column="c")
    assert info.value.number == 2628
    assert info.value.message == "String or binary data would be truncated in table 'appdb.app.t', column 'c'. Truncated value: 'abc'."
    assert types.convert("x" * 10_000, TypeSpec(SqlType.NVARCHAR, MAX)) == "x" * 10_000


def test_values_round_trip_through_storage() -> None:
    cases = [
        (decimal.Decimal("12.345"), TypeSpec(SqlType.DECIMAL, precision=10, scale=2), decimal.Decimal("12.35")),  # rounds half up
        (True, TypeSpec(SqlType.BIT), True),
        (
            uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
            TypeSpec(SqlType.UNIQUEIDENTIFIER),
            uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
        ),
        (dt.datetime(2024, 2, 29, 23, 59, 59, 999999), TypeSpec(SqlType.DATETIME2, scale=7), dt.datetime(2024, 2, 29, 23, 59, 59, 999999)),
        ("2024-02-29 23:59:59.1234567", TypeSpec(SqlType.DATETIME2, scale=7), dt.datetime(2024, 2, 29, 23, 59, 59, 123456)),
        (dt.date(1, 1, 1), TypeSpec(SqlType.DATE), dt.date(1, 1, 1)),
        (dt.time(13, 14, 15, 500000), TypeSpec(SqlType.TIME, scale=3), dt.time(13, 14, 15, 500000)),
        (b"\x00\xff", TypeSpec(SqlType.VARBINARY, MAX), b"\x00\xff"),
        ("42", INT, 42),
        (
            "2024-02-29 23:30:00.1234567 -09:30",
            TypeSpec(SqlType.DATETIMEOFFSET, scale=7),
            dt.datetime(2024, 2, 29, 23, 30, 0, 123456, tzinfo=dt.timezone(-dt.timedelta(hours=9, minutes=30))),
        ),
        (
            decimal.Decimal("-9999999999999999999999999999.9999999999"),
            TypeSpec(SqlType.DECIMAL, precision=38, scale=10),
            decimal.Decimal("-9999999999999999999999999999.9999999999"),
        ),
        (3.4028234663852886e38, TypeSpec(SqlType.REAL), 3.4028234663852886e38),
        (0.1, TypeSpec(SqlType.REAL), 0.10000000149011612),  # a 4-byte float
        (" 7 ", INT, 7),
        ("true", TypeSpec(SqlType.BIT), True),
    ]
    for value, spec, expected in cases:
        stored = types.convert(types.storage(value), spec)
        assert types.python_value(stored, spec) == expected, (value, spec)


@given(hst.text())
def test_any_text_survives_nvarchar_max(text: str) -> None:
    spec = TypeSpec(SqlType.NVARCHAR, MAX)
    assert types.python_value(types.convert(types.storage(text), spec), spec) == text


@given(hst.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_bigint_range(value: int) -> None:
    spec = TypeSpec(SqlType.BIGINT)
    assert types.python_value(types.convert(str(value), spec), spec) == value


def test_types_of_computed_columns_come_from_their_values() -> None:
    assert types.of_value([None]) == TypeSpec(SqlType.INT)  # SELECT NULL is an int column
    assert types.of_value([1, 2**40]) == TypeSpec(SqlType.BIGINT)
    assert types.of_value(["a" * 5000]).is_max
    assert types.of_value([1.5]) == TypeSpec(SqlType.FLOAT)

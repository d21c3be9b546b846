"""Every parameter type issue 7 lists, round-tripped as bound parameters (never pasted into SQL text).

Two shapes per client: an echo (``SELECT ?``: the parameter's own TDS type comes back as a result
column) and a user table with one column of each SQL type (INSERT with parameters, SELECT back).
Values come from hypothesis: NULLs, extremes, non-BMP text; MAX values over 1 MB separately.
Clients: pyodbc with ODBC Driver 18, mssql-python, and python-tds (an independent TDS implementation);
tedious's are in test_node.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import struct
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from decimal import Decimal
from typing import Any, TypeVar

import mssql_python  # in the test extra: a missing client is a broken install, not a skip
import pytds  # in the test extra: a missing client is a broken install, not a skip
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import raw_connect

from .support import ADMIN, Clients

EXAMPLES = settings(
    max_examples=int(os.environ.get("CLIENT_EXAMPLES", "30")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Text as applications send it: any Unicode scalar value except NUL, including astral-plane characters.
TEXT = st.characters(codec="utf-8", exclude_characters="\x00")
ASTRAL = st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, codec="utf-8")
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))


def _f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def _aware(value: dt.datetime) -> tuple[dt.datetime, Any]:
    return value, value.utcoffset()


_Chars = TypeVar("_Chars", str, bytes)


def _repeated(pattern: _Chars, size: int) -> _Chars:
    """``pattern`` repeated to ``size`` characters or bytes. A MAX value past 8,000 bytes drawn character by character
    was past hypothesis's per-example budget (8 KiB of choices): most such draws were thrown away (a row with a big
    VARBINARY(MAX) in 3 % of examples, with both big values in none), and a run whose first draws were mostly thrown
    away failed its data_too_large health check. A random pattern of up to 64 puts every kind of character at every
    offset of the server's packet and PLP chunk boundaries, for a few bytes of choices."""
    return (pattern * (size // len(pattern) + 1))[:size]


# (column, SQL type, strategy of non-NULL values, what the database gives back for a value)
COLUMNS: list[tuple[str, str, st.SearchStrategy[Any], Callable[[Any], Any]]] = [
    ("c_tinyint", "TINYINT", st.integers(0, 255), int),
    ("c_smallint", "SMALLINT", st.integers(-(2**15), 2**15 - 1), int),
    ("c_int", "INT", st.integers(-(2**31), 2**31 - 1), int),
    ("c_bigint", "BIGINT", st.integers(-(2**63), 2**63 - 1), int),
    ("c_bit", "BIT", st.booleans(), bool),
    ("c_decimal", "DECIMAL(18,4)", st.decimals(Decimal("-99999999999999.9999"), Decimal("99999999999999.9999"), places=4), Decimal),
    ("c_numeric", "NUMERIC(38,10)", st.decimals(Decimal("-1e27") + 1, Decimal("1e27") - 1, places=10), Decimal),
    ("c_float", "FLOAT", st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False), float),
    ("c_real", "REAL", st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False), _f32),
    ("c_nvarchar", "NVARCHAR(200)", st.text(TEXT, max_size=100), str),
    ("c_varchar", "VARCHAR(200)", st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200), str),
    ("c_varbinary", "VARBINARY(200)", st.binary(max_size=200), bytes),
    (
        "c_nvmax",
        "NVARCHAR(MAX)",
        st.builds(_repeated, st.text(TEXT, min_size=1, max_size=64), st.integers(3000, 5000)) | st.text(ASTRAL, max_size=20),
        str,
    ),
    (
        "c_vbmax",
        "VARBINARY(MAX)",
        st.builds(_repeated, st.binary(min_size=1, max_size=64), st.integers(8001, 12000)) | st.binary(max_size=10),
        bytes,
    ),
    ("c_guid", "UNIQUEIDENTIFIER", st.uuids(), lambda u: u),
    ("c_date", "DATE", st.dates(), lambda d: d),
    ("c_time", "TIME", st.times(), lambda t: t),
    (
        "c_datetime",
        "DATETIME",
        st.datetimes(dt.datetime(1753, 1, 1)).map(lambda d: d.replace(microsecond=d.microsecond // 10000 * 10000)),
        lambda d: d,
    ),
    ("c_datetime2", "DATETIME2", st.datetimes(), lambda d: d),
]
# DATETIMEOFFSET has tests of its own (below), so a fault in it does not hide the other types' results.
DTO = st.datetimes(dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30), timezones=OFFSETS)
CREATE_DTO = "CREATE TABLE dbo.{table} (k INT NOT NULL PRIMARY KEY, v DATETIMEOFFSET NULL)"
NAMES = [c[0] for c in COLUMNS]
ROWS = st.fixed_dictionaries({name: st.none() | strat for name, _t, strat, _n in COLUMNS})
# pyodbc itself sends TIME without fractional seconds (SQL_TYPE_TIME) and datetimes with the precision
# SQLGetTypeInfo reports for SQL_TYPE_TIMESTAMP (datetime's 23: milliseconds), as it does against Azure SQL.
_MS = st.datetimes().map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
_WHOLE_SECONDS = st.times().map(lambda t: t.replace(microsecond=0))
# Edge values every run tries first (hypothesis may or may not reach them in a few dozen examples).
EDGE_ROW: dict[str, Any] = {
    **dict.fromkeys(NAMES),
    "c_bigint": -(2**63),
    "c_decimal": Decimal("99999999999999.9999"),  # 18 significant digits
    "c_numeric": Decimal("-9999999999999999999999999999.9999999999"),  # 38
    "c_float": 2.2250738585072014e-308,
    "c_real": _f32(3.4028234663852886e38),
    "c_nvarchar": "𝄞😀 ünï",
    "c_nvmax": "😀" * 2001,  # 4,002 UTF-16 code units: past nvarchar(4000)
    "c_date": dt.date(1, 1, 1),
    "c_datetime2": dt.datetime(9999, 12, 31, 23, 59, 59, 999000),
}
PYODBC_ROWS = st.fixed_dictionaries(
    {name: st.none() | {"c_time": _WHOLE_SECONDS, "c_datetime2": _MS}.get(name, strat) for name, _t, strat, _n in COLUMNS}
)
# SQL text from the fixed column list above; every value travels as a bound parameter.
CREATE = "CREATE TABLE dbo.{table} (k INT NOT NULL PRIMARY KEY, " + ", ".join(f"{n} {t} NULL" for n, t, _s, _f in COLUMNS) + ")"
INSERT_QMARK = "INSERT INTO dbo.{table} (k, " + ", ".join(NAMES) + ") VALUES (" + ", ".join("?" for _ in range(len(NAMES) + 1)) + ")"  # noqa: S608
INSERT_PYFORMAT = "INSERT INTO dbo.{{table}} (k, {}) VALUES (%(k)s, {})".format(", ".join(NAMES), ", ".join(f"%({n})s" for n in NAMES))  # noqa: S608
SELECT_BY_KEY = "SELECT " + ", ".join(NAMES) + " FROM dbo.{table} WHERE k = {marker}"  # noqa: S608


def expected(name: str, value: Any) -> Any:
    if value is None:
        return None
    return next(norm for n, _t, _s, norm in COLUMNS if n == name)(value)


def got(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "c_guid" and isinstance(value, str):
        return uuid.UUID(value)
    return value


# --- pyodbc + ODBC Driver 18 --------------------------------------------------------------------------


def _dto_from_odbc(raw: bytes) -> dt.datetime:
    # SQL_SS_TIMESTAMPOFFSET_STRUCT: year, month, day, hour, minute, second (int16 each), fraction (ns), tz hour, tz minute
    y, mo, d, h, mi, s, ns, tzh, tzm = struct.unpack("<6hI2h", raw)
    return dt.datetime(y, mo, d, h, mi, s, ns // 1000, dt.timezone(dt.timedelta(hours=tzh, minutes=tzm)))


@pytest.fixture  # one connection per test (shared by its examples): a connection one test breaks stays there
def odbc(clients: Clients) -> Iterator[Any]:
    cnxn = raw_connect(clients.sandbox, clients.token(ADMIN))
    cnxn.autocommit = True
    cnxn.add_output_converter(-155, _dto_from_odbc)  # DATETIMEOFFSET
    yield cnxn
    cnxn.close()


def _dto_literal(value: dt.datetime) -> str:
    # pyodbc binds no timezone-aware datetime: DATETIMEOFFSET goes as its documented literal form,
    # 'YYYY-MM-DD hh:mm:ss.nnnnnnn {+|-}hh:mm', converted by the server on INSERT.
    offset = value.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{value:%Y-%m-%d %H:%M:%S.%f} {sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_keys = itertools.count(1)
_created: set[str] = set()


def ensure_table(cur: Any, table: str, create: str = CREATE) -> None:
    if table not in _created:
        cur.execute(create.format(table=table))
        _created.add(table)


@EXAMPLES
@given(row=PYODBC_ROWS)
@example(row=EDGE_ROW)
def test_pyodbc_user_table_round_trip(odbc: Any, row: dict[str, Any]) -> None:
    with closing(odbc.cursor()) as cur:  # a failed example must not leave the shared connection busy
        ensure_table(cur, "rt_pyodbc")
        key = next(_keys)
        cur.execute(INSERT_QMARK.format(table="rt_pyodbc"), key, *(row[n] for n in NAMES))
        back = cur.execute(SELECT_BY_KEY.format(table="rt_pyodbc", marker="?"), key).fetchone()
    assert {n: got(n, back[i]) for i, n in enumerate(NAMES)} == {n: expected(n, row[n]) for n in NAMES}


# Values whose Python type pyodbc maps to one SQL type: that type goes out as the parameter's TDS type.
ECHO = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False),
    st.decimals(Decimal("-1e20") + 1, Decimal("1e20") - 1, places=6),
    st.text(TEXT, max_size=300),
    st.text(ASTRAL, min_size=1, max_size=10),
    st.binary(max_size=300),
    st.uuids(),
    st.dates(),
)
PYODBC_ECHO = st.one_of(ECHO, _MS, _WHOLE_SECONDS)


def _same(sent: Any, back: Any) -> bool:
    if isinstance(sent, Decimal):
        return isinstance(back, Decimal) and back == sent
    return type(back) is type(sent) and back == sent


@EXAMPLES
@given(value=PYODBC_ECHO)
@example(value=Decimal("12345678901234567890.123456"))
def test_pyodbc_select_parameter_echo(odbc: Any, value: Any) -> None:
    with closing(odbc.cursor()) as cur:
        back = cur.execute("SELECT ?", value).fetchone()[0]
    if isinstance(back, str) and isinstance(value, uuid.UUID):
        back = uuid.UUID(back)
    assert _same(value, back), (value, back)


@EXAMPLES
@given(value=st.none() | DTO)
@example(value=dt.datetime(2024, 2, 29, 23, 30, 0, 123456, dt.timezone(dt.timedelta(hours=-9, minutes=-30))))
def test_pyodbc_datetimeoffset_round_trip(odbc: Any, value: dt.datetime | None) -> None:
    with closing(odbc.cursor()) as cur:
        ensure_table(cur, "rt_pyodbc_dto", CREATE_DTO)
        key = next(_keys)
        cur.execute("INSERT INTO dbo.rt_pyodbc_dto (k, v) VALUES (?, ?)", key, None if value is None else _dto_literal(value))
        back = cur.execute("SELECT v FROM dbo.rt_pyodbc_dto WHERE k = ?", key).fetchone()[0]
    assert (back and _aware(back)) == (value and _aware(value))


def test_pyodbc_max_values_over_one_megabyte(odbc: Any) -> None:
    text = ("A🙂é" * 180_000)[:500_000]  # 500,000 characters, > 1 MB in UTF-16
    blob = os.urandom(1_500_000)
    cur = odbc.cursor()
    echoed = cur.execute("SELECT ?, ?", text, blob).fetchone()
    assert (len(echoed[0]), echoed[0] == text, len(echoed[1]), echoed[1] == blob) == (len(text), True, len(blob), True)
    cur.execute("CREATE TABLE dbo.rt_pyodbc_max (k INT NOT NULL PRIMARY KEY, t NVARCHAR(MAX) NULL, b VARBINARY(MAX) NULL)")
    cur.execute("INSERT INTO dbo.rt_pyodbc_max (k, t, b) VALUES (?, ?, ?)", 1, text, blob)
    back = cur.execute("SELECT t, b, LEN(t), DATALENGTH(b) FROM dbo.rt_pyodbc_max WHERE k = ?", 1).fetchone()
    assert (back[0] == text, back[1] == blob, back[3]) == (True, True, len(blob))


# --- python-tds ---------------------------------------------------------------------------------------


@pytest.fixture
def tds(clients: Clients) -> Iterator[Any]:
    token = clients.token(ADMIN)
    cnxn = pytds.connect(
        dsn=clients.host, port=clients.port, database="appdb", access_token_callable=lambda: token,
        cafile=clients.ca_file, validate_host=True, autocommit=True, login_timeout=10,
    )  # fmt: skip
    yield cnxn
    cnxn.close()


def _tds_param(value: Any) -> Any:
    # python-tds sends plain bytes as VARCHAR(MAX); binary data is pytds.Binary (the DB-API constructor).
    return pytds.Binary(value) if isinstance(value, bytes) else value


@EXAMPLES
@given(row=ROWS)
@example(row=EDGE_ROW)
def test_pytds_user_table_round_trip(tds: Any, row: dict[str, Any]) -> None:
    with closing(tds.cursor()) as cur:
        ensure_table(cur, "rt_pytds")
        key = next(_keys)
        params = {"k": key, **{n: _tds_param(v) for n, v in row.items()}}
        cur.execute(INSERT_PYFORMAT.format(table="rt_pytds"), params)
        cur.execute(SELECT_BY_KEY.format(table="rt_pytds", marker="%s"), (key,))
        back = cur.fetchall()[0]
    assert {n: got(n, back[i]) for i, n in enumerate(NAMES)} == {n: expected(n, row[n]) for n in NAMES}


PYTDS_ECHO = st.one_of(
    ECHO,
    st.datetimes(),  # DATETIME2
    st.times(),  # TIME
)


@EXAMPLES
@given(value=PYTDS_ECHO)
@example(value=Decimal("12345678901234567890.123456"))
def test_pytds_select_parameter_echo(tds: Any, value: Any) -> None:
    with closing(tds.cursor()) as cur:
        cur.execute("SELECT %s", (_tds_param(value),))
        back = cur.fetchall()[0][0]
    assert _same(value, back), (value, back)


@EXAMPLES
@given(value=DTO)
@example(value=dt.datetime(2024, 2, 29, 23, 30, 0, 123456, dt.timezone(dt.timedelta(hours=14))))
def test_pytds_datetimeoffset_echo_and_round_trip(tds: Any, value: dt.datetime) -> None:
    with closing(tds.cursor()) as cur:
        cur.execute("SELECT %s", (value,))
        echoed = cur.fetchall()[0][0]
        ensure_table(cur, "rt_pytds_dto", CREATE_DTO)
        key = next(_keys)
        cur.execute("INSERT INTO dbo.rt_pytds_dto (k, v) VALUES (%s, %s)", (key, value))
        cur.execute("SELECT v FROM dbo.rt_pytds_dto WHERE k = %s", (key,))
        stored = cur.fetchall()[0][0]
    assert (_aware(echoed), _aware(stored)) == (_aware(value), _aware(value))


def test_pytds_max_values_over_one_megabyte(tds: Any) -> None:
    text = ("B🙂ü" * 180_000)[:500_000]
    blob = os.urandom(1_500_000)
    cur = tds.cursor()
    cur.execute("SELECT %s, %s", (text, pytds.Binary(blob)))
    echoed = cur.fetchone()
    assert (echoed[0] == text, echoed[1] == blob) == (True, True)


# --- mssql-python (Microsoft's driver; binds DATETIMEOFFSET natively) ---------------------------------

# mssql-python refuses date/datetime parameters before 1753 on the client side ("Date out of range for SQL Server").
_SINCE_1753 = {"c_date": st.dates(dt.date(1753, 1, 1)), "c_datetime2": st.datetimes(dt.datetime(1753, 1, 1))}
MSSQL_PYTHON_ROWS = st.fixed_dictionaries({name: st.none() | _SINCE_1753.get(name, strat) for name, _t, strat, _n in COLUMNS})
MSSQL_PYTHON_ECHO = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False),
    st.decimals(Decimal("-1e20") + 1, Decimal("1e20") - 1, places=6),
    st.text(TEXT, max_size=300),
    st.binary(max_size=300),
    st.uuids(),
    st.dates(dt.date(1753, 1, 1)),
    st.times(),
    st.datetimes(dt.datetime(1753, 1, 1)),
)


@pytest.fixture
def msp(clients: Clients) -> Iterator[Any]:
    from .support import SQL_COPT_SS_ACCESS_TOKEN, token_struct

    conn_str = f"Server=tcp:{clients.host},{clients.port};Database=appdb;Encrypt=yes"
    cnxn = mssql_python.connect(conn_str, autocommit=True, attrs_before={SQL_COPT_SS_ACCESS_TOKEN: token_struct(clients.token(ADMIN))})
    yield cnxn
    cnxn.close()


@EXAMPLES
@given(value=MSSQL_PYTHON_ECHO)
@example(value=Decimal("12345678901234567890.123456"))
def test_mssql_python_select_parameter_echo(msp: Any, value: Any) -> None:
    with closing(msp.cursor()) as cur:
        back = cur.execute("SELECT ?", value).fetchone()[0]
    assert _same(value, back), (value, back)


@EXAMPLES
@given(row=MSSQL_PYTHON_ROWS)
@example(row=EDGE_ROW | {"c_date": dt.date(1753, 1, 1)})
def test_mssql_python_user_table_round_trip(msp: Any, row: dict[str, Any]) -> None:
    with closing(msp.cursor()) as cur:
        ensure_table(cur, "rt_mssql_python")
        key = next(_keys)
        cur.execute(INSERT_QMARK.format(table="rt_mssql_python"), key, *(row[n] for n in NAMES))
        back = cur.execute(SELECT_BY_KEY.format(table="rt_mssql_python", marker="?"), key).fetchone()
    assert {n: got(n, back[i]) for i, n in enumerate(NAMES)} == {n: expected(n, row[n]) for n in NAMES}


@EXAMPLES
@given(value=DTO.filter(lambda d: d.year >= 1753))
@example(value=dt.datetime(2024, 2, 29, 23, 30, 0, 123456, dt.timezone(dt.timedelta(hours=-9, minutes=-30))))
def test_mssql_python_datetimeoffset_echo_and_round_trip(msp: Any, value: dt.datetime) -> None:
    with closing(msp.cursor()) as cur:
        echoed = cur.execute("SELECT ?", value).fetchone()[0]
        ensure_table(cur, "rt_mssql_python_dto", CREATE_DTO)
        key = next(_keys)
        cur.execute("INSERT INTO dbo.rt_mssql_python_dto (k, v) VALUES (?, ?)", key, value)
        stored = cur.execute("SELECT v FROM dbo.rt_mssql_python_dto WHERE k = ?", key).fetchone()[0]
    assert (_aware(echoed), _aware(stored)) == (_aware(value), _aware(value))

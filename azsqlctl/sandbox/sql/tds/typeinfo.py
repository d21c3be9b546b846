"""TYPE_INFO and typed values ([MS-TDS] 2.2.5.4-2.2.5.6): type codes, and TypeSpec -> wire bytes.

The server encodes result columns and RETURNVALUEs from a ``TypeSpec``; it decodes
RPC parameters from whatever TYPE_INFO the client chose (clients pick INTN, FLTN,
DATETIME2N … and sometimes the legacy fixed-length or TEXT/NTEXT/IMAGE types).
Values are the Python objects listed in ``sqltypes``. Reading is in ``typeread``.

Byte counts in a TYPE_INFO are bytes; (n)varchar lengths in a ``TypeSpec`` are
characters, and for NVARCHAR a character is one UTF-16 code unit, so a non-BMP
character counts twice (as SQL Server counts it).
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
import uuid
from collections.abc import Iterable

from azsqlctl.sandbox.sql.sqltypes import MAX, SqlType, SqlValue, TypeSpec

# Type codes ([MS-TDS] 2.2.5.4.1-2.2.5.4.3)
NULLTYPE = 0x1F
INT1 = 0x30
BIT = 0x32
INT2 = 0x34
INT4 = 0x38
DATETIM4 = 0x3A
FLT4 = 0x3B
MONEY = 0x3C
DATETIME = 0x3D
FLT8 = 0x3E
MONEY4 = 0x7A
INT8 = 0x7F
GUID = 0x24
INTN = 0x26
DECIMAL = 0x37
NUMERIC = 0x3F
BITN = 0x68
DECIMALN = 0x6A
NUMERICN = 0x6C
FLTN = 0x6D
MONEYN = 0x6E
DATETIMN = 0x6F
DATEN = 0x28
TIMEN = 0x29
DATETIME2N = 0x2A
DATETIMEOFFSETN = 0x2B
CHAR = 0x2F
VARCHAR = 0x27
BINARY = 0x2D
VARBINARY = 0x25
BIGVARBIN = 0xA5
BIGVARCHR = 0xA7
BIGBINARY = 0xAD
BIGCHAR = 0xAF
NVARCHAR = 0xE7
NCHAR = 0xEF
TEXT = 0x23
IMAGE = 0x22
NTEXT = 0x63
SSVARIANT = 0x62
XML = 0xF1
UDT = 0xF0
TVP = 0xF3

PLP_NULL = 0xFFFFFFFFFFFFFFFF
PLP_UNKNOWN = 0xFFFFFFFFFFFFFFFE
USHORT_MAX = 0xFFFF  # a USHORTLEN max length of 0xFFFF means (n)varchar(max)/varbinary(max): PLP values

# SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, CI/AI/width flags, sort id 52.
COLLATION = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])
NVARCHAR_MAX_CHARS = 4000  # longest nvarchar(n); a longer string goes out as nvarchar(max)
VARBINARY_MAX_BYTES = 8000

FIXED_SIZES = {INT1: 1, BIT: 1, INT2: 2, INT4: 4, INT8: 8, DATETIM4: 4, FLT4: 4, MONEY: 8, DATETIME: 8, FLT8: 8, MONEY4: 4, NULLTYPE: 0}
BYTELEN_TYPES = {GUID, INTN, BITN, FLTN, MONEYN, DATETIMN, DECIMALN, NUMERICN, DECIMAL, NUMERIC, CHAR, VARCHAR, BINARY, VARBINARY}
USHORTLEN_TYPES = {BIGVARBIN, BIGVARCHR, BIGBINARY, BIGCHAR, NVARCHAR, NCHAR}
LONGLEN_TYPES = {TEXT, IMAGE, NTEXT}
COLLATED_TYPES = {BIGVARCHR, BIGCHAR, NVARCHAR, NCHAR, TEXT, NTEXT, CHAR, VARCHAR}
UNICODE_TYPES = {NVARCHAR, NCHAR, NTEXT}
BINARY_TYPES = {BIGVARBIN, BIGBINARY, BINARY, VARBINARY, IMAGE}

EXACT_CONTEXT = decimal.Context(prec=80)  # wide enough for decimal(38, s) and money without rounding
DATETIME_EPOCH = dt.date(1900, 1, 1)
DATE_EPOCH = dt.date(1, 1, 1)


def time_bytes(scale: int) -> int:
    return 3 if scale <= 2 else 4 if scale <= 4 else 5


# --- writing ---------------------------------------------------------------------------------------


def utf16_units(s: str) -> int:
    """Length in UTF-16 code units: what TDS lengths and nvarchar(n) count."""
    return len(s.encode("utf-16-le", errors="surrogatepass")) // 2


def decimal_bytes(precision: int) -> int:
    return 5 if precision <= 9 else 9 if precision <= 19 else 13 if precision <= 28 else 17


def fit(spec: TypeSpec, values: Iterable[SqlValue]) -> TypeSpec:
    """The spec a column goes out with: strings and binaries too long for their declared length go out as MAX."""
    if spec.type == SqlType.NVARCHAR or (spec.type == SqlType.VARCHAR and not _all_cp1252(values)):
        # A varchar holding what cp1252 cannot spell goes out as nvarchar: the text must never be mangled.
        longest = max((utf16_units(v) for v in values if isinstance(v, str)), default=0)
        length = spec.length if spec.length is not None else NVARCHAR_MAX_CHARS
        if length == MAX or length > NVARCHAR_MAX_CHARS or longest > NVARCHAR_MAX_CHARS:
            return TypeSpec(SqlType.NVARCHAR, MAX)
        return TypeSpec(SqlType.NVARCHAR, max(length, longest, 1))
    if spec.type == SqlType.VARCHAR:
        longest = max((len(v) for v in values if isinstance(v, str)), default=0)
        length = spec.length if spec.length is not None else VARBINARY_MAX_BYTES
        if length == MAX or length > VARBINARY_MAX_BYTES or longest > VARBINARY_MAX_BYTES:
            return TypeSpec(SqlType.VARCHAR, MAX)
        return TypeSpec(SqlType.VARCHAR, max(length, longest, 1))
    if spec.type == SqlType.VARBINARY:
        longest = max((len(v) for v in values if isinstance(v, bytes | bytearray)), default=0)
        length = spec.length if spec.length is not None else VARBINARY_MAX_BYTES
        if length == MAX or length > VARBINARY_MAX_BYTES or longest > VARBINARY_MAX_BYTES:
            return TypeSpec(SqlType.VARBINARY, MAX)
        return TypeSpec(SqlType.VARBINARY, max(length, longest, 1))
    if spec.type == SqlType.DECIMAL:
        precision = min(max(spec.precision, 1), 38)
        return TypeSpec(SqlType.DECIMAL, precision=precision, scale=min(max(spec.scale, 0), precision))
    if spec.type in (SqlType.TIME, SqlType.DATETIME2, SqlType.DATETIMEOFFSET):
        return TypeSpec(spec.type, scale=min(max(spec.scale, 0), 7))
    return spec


def _all_cp1252(values: Iterable[SqlValue]) -> bool:
    for v in values:
        if isinstance(v, str):
            try:
                v.encode("cp1252")
            except UnicodeEncodeError:
                return False
    return True


_INT_SIZE = {SqlType.TINYINT: 1, SqlType.SMALLINT: 2, SqlType.INT: 4, SqlType.BIGINT: 8}


def type_info(spec: TypeSpec) -> bytes:
    """TYPE_INFO for a spec already passed through ``fit``."""
    t = spec.type
    if t in _INT_SIZE:
        return bytes([INTN, _INT_SIZE[t]])
    if t == SqlType.BIT:
        return bytes([BITN, 1])
    if t == SqlType.DECIMAL:
        return bytes([DECIMALN, decimal_bytes(spec.precision), spec.precision, spec.scale])
    if t == SqlType.MONEY:
        return bytes([MONEYN, 8])
    if t == SqlType.FLOAT:
        return bytes([FLTN, 8])
    if t == SqlType.REAL:
        return bytes([FLTN, 4])
    if t == SqlType.UNIQUEIDENTIFIER:
        return bytes([GUID, 16])
    if t == SqlType.DATE:
        return bytes([DATEN])
    if t == SqlType.TIME:
        return bytes([TIMEN, spec.scale])
    if t == SqlType.DATETIME2:
        return bytes([DATETIME2N, spec.scale])
    if t == SqlType.DATETIMEOFFSET:
        return bytes([DATETIMEOFFSETN, spec.scale])
    if t == SqlType.DATETIME:
        return bytes([DATETIMN, 8])
    if t == SqlType.NVARCHAR:
        size = USHORT_MAX if spec.is_max else 2 * (spec.length or NVARCHAR_MAX_CHARS)
        return bytes([NVARCHAR]) + struct.pack("<H", size) + COLLATION
    if t == SqlType.VARCHAR:
        size = USHORT_MAX if spec.is_max else (spec.length or VARBINARY_MAX_BYTES)
        return bytes([BIGVARCHR]) + struct.pack("<H", size) + COLLATION
    if t == SqlType.VARBINARY:
        size = USHORT_MAX if spec.is_max else (spec.length or VARBINARY_MAX_BYTES)
        return bytes([BIGVARBIN]) + struct.pack("<H", size)
    raise ValueError(f"no TYPE_INFO for {t}")


def plp(data: bytes | None, chunk: int = 1 << 20) -> bytes:
    """A PLP value with its known total length, in chunks of at most ``chunk`` bytes."""
    if data is None:
        return struct.pack("<Q", PLP_NULL)
    out = bytearray(struct.pack("<Q", len(data)))
    for i in range(0, len(data), chunk):
        part = data[i : i + chunk]
        out += struct.pack("<I", len(part)) + part
    out += b"\x00\x00\x00\x00"
    return bytes(out)


def value(spec: TypeSpec, v: SqlValue) -> bytes:
    """The bytes of one value of ``spec`` (a spec already passed through ``fit``), NULL included."""
    t = spec.type
    if t in (SqlType.NVARCHAR, SqlType.VARCHAR, SqlType.VARBINARY):
        if v is None:
            data = None
        elif t == SqlType.NVARCHAR:
            data = str(v).encode("utf-16-le", errors="surrogatepass")
        elif t == SqlType.VARCHAR:
            data = str(v).encode("cp1252", errors="replace")
        else:
            data = bytes(v) if isinstance(v, bytes | bytearray | memoryview) else str(v).encode()
        if spec.is_max:
            return plp(data)
        if data is None:
            return b"\xff\xff"
        if len(data) >= USHORT_MAX:
            raise ValueError("a value of 65,535 bytes or more needs a MAX type")
        return struct.pack("<H", len(data)) + data
    if v is None:
        return b"\x00"
    raw = _to_bytes(spec, v)
    return bytes([len(raw)]) + raw


def _to_bytes(spec: TypeSpec, v: SqlValue) -> bytes:
    t = spec.type
    if t in _INT_SIZE:
        assert not isinstance(v, (bytes, dt.date, dt.time, uuid.UUID))
        return int(v).to_bytes(_INT_SIZE[t], "little", signed=t != SqlType.TINYINT)  # type: ignore[arg-type]
    if t == SqlType.BIT:
        return b"\x01" if v else b"\x00"
    if t == SqlType.DECIMAL:
        scaled = decimal.Decimal(str(v)).scaleb(spec.scale, EXACT_CONTEXT).to_integral_value(decimal.ROUND_HALF_UP, EXACT_CONTEXT)
        n = decimal_bytes(spec.precision) - 1
        magnitude = int(scaled.copy_abs())
        if magnitude >= 10**spec.precision:
            raise ValueError(f"{v!s} does not fit decimal({spec.precision}, {spec.scale})")
        return bytes([0 if scaled < 0 else 1]) + magnitude.to_bytes(n, "little")
    if t == SqlType.MONEY:
        cents = int(decimal.Decimal(str(v)).scaleb(4, EXACT_CONTEXT).to_integral_value(decimal.ROUND_HALF_UP, EXACT_CONTEXT))
        return struct.pack("<iI", cents >> 32, cents & 0xFFFFFFFF)
    if t == SqlType.FLOAT:
        return struct.pack("<d", float(v))  # type: ignore[arg-type]
    if t == SqlType.REAL:
        return struct.pack("<f", float(v))  # type: ignore[arg-type]
    if t == SqlType.UNIQUEIDENTIFIER:
        return (v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))).bytes_le
    if t == SqlType.DATE:
        assert isinstance(v, dt.date)
        return _date_to(v if not isinstance(v, dt.datetime) else v.date())
    if t == SqlType.TIME:
        tv = v.time() if isinstance(v, dt.datetime) else v
        assert isinstance(tv, dt.time)
        return _time_to(tv, spec.scale)
    if t == SqlType.DATETIME2:
        assert isinstance(v, dt.datetime)
        return _datetime2_to(v.replace(tzinfo=None), spec.scale)
    if t == SqlType.DATETIMEOFFSET:
        assert isinstance(v, dt.datetime)
        offset = v.utcoffset() or dt.timedelta()
        utc = (v - offset).replace(tzinfo=None)
        return _datetime2_to(utc, spec.scale) + struct.pack("<h", int(offset.total_seconds() // 60))
    if t == SqlType.DATETIME:
        assert isinstance(v, dt.datetime)
        base = dt.datetime.combine(DATETIME_EPOCH, dt.time())
        delta = v.replace(tzinfo=None) - base
        ticks = round((delta.seconds * 10**6 + delta.microseconds) * 3 / 10_000)
        days = delta.days + ticks // (300 * 86_400)
        return struct.pack("<iI", days, ticks % (300 * 86_400))
    raise ValueError(f"no encoder for {t}")


def _date_to(d: dt.date) -> bytes:
    return (d - DATE_EPOCH).days.to_bytes(3, "little")


def _time_units(t: dt.time, scale: int) -> int:
    micro = ((t.hour * 60 + t.minute) * 60 + t.second) * 10**6 + t.microsecond
    return int(micro * 10**scale // 10**6)


def _time_to(t: dt.time, scale: int) -> bytes:
    return _time_units(t, scale).to_bytes(time_bytes(scale), "little")


def _datetime2_to(v: dt.datetime, scale: int) -> bytes:
    return _time_to(v.time(), scale) + _date_to(v.date())

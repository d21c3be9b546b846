"""TYPE_INFO and typed values ([MS-TDS] 2.2.5.4-2.2.5.6): TypeSpec <-> wire bytes, both directions.

The server encodes result columns and RETURNVALUEs from a ``TypeSpec``; it decodes
RPC parameters from whatever TYPE_INFO the client chose (clients pick INTN, FLTN,
DATETIME2N … and sometimes the legacy fixed-length or TEXT/NTEXT/IMAGE types).
Values are the Python objects listed in ``sqltypes``.

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
from dataclasses import dataclass

from azsqlctl.sandbox.sqltypes import MAX, SqlType, SqlValue, TypeSpec

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

_FIXED = {INT1: 1, BIT: 1, INT2: 2, INT4: 4, INT8: 8, DATETIM4: 4, FLT4: 4, MONEY: 8, DATETIME: 8, FLT8: 8, MONEY4: 4, NULLTYPE: 0}
_BYTELEN = {GUID, INTN, BITN, FLTN, MONEYN, DATETIMN, DECIMALN, NUMERICN, DECIMAL, NUMERIC, CHAR, VARCHAR, BINARY, VARBINARY}
_USHORTLEN = {BIGVARBIN, BIGVARCHR, BIGBINARY, BIGCHAR, NVARCHAR, NCHAR}
_LONGLEN = {TEXT, IMAGE, NTEXT}
_COLLATED = {BIGVARCHR, BIGCHAR, NVARCHAR, NCHAR, TEXT, NTEXT, CHAR, VARCHAR}
_UNICODE = {NVARCHAR, NCHAR, NTEXT}
_BINARY = {BIGVARBIN, BIGBINARY, BINARY, VARBINARY, IMAGE}

_EXACT = decimal.Context(prec=80)  # wide enough for decimal(38, s) and money without rounding
_DAY0_DATETIME = dt.date(1900, 1, 1)
_DAY0 = dt.date(1, 1, 1)


class TdsDecodeError(ValueError):
    """The client sent bytes this codec cannot read as a TYPE_INFO or value."""


class Reader:
    """A cursor over a request body; every read past the end raises TdsDecodeError."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TdsDecodeError(f"needs {n} bytes at offset {self.pos}, {self.remaining} left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def peek(self) -> int:
        if self.pos >= len(self.data):
            raise TdsDecodeError("unexpected end of request")
        return self.data[self.pos]

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack("<H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def b_varchar(self) -> str:
        return self.take(2 * self.u8()).decode("utf-16-le", errors="surrogatepass")

    def us_varchar(self) -> str:
        return self.take(2 * self.u16()).decode("utf-16-le", errors="surrogatepass")


@dataclass(frozen=True)
class WireType:
    """A TYPE_INFO as read from the wire: the type code and its length/precision/scale/collation."""

    code: int
    size: int = 0  # max length in bytes (0xFFFF: PLP)
    precision: int = 0
    scale: int = 0
    collation: bytes = b""

    @property
    def plp(self) -> bool:
        return self.code in _USHORTLEN and self.size == USHORT_MAX

    def spec(self) -> TypeSpec:
        """The SQL type this wire type carries."""
        c = self.code
        if c in (INTN, INT1, INT2, INT4, INT8):
            size = self.size if c == INTN else _FIXED[c]
            return TypeSpec({1: SqlType.TINYINT, 2: SqlType.SMALLINT, 4: SqlType.INT, 8: SqlType.BIGINT}[size])
        if c in (BITN, BIT):
            return TypeSpec(SqlType.BIT)
        if c in (DECIMALN, NUMERICN, DECIMAL, NUMERIC):
            return TypeSpec(SqlType.DECIMAL, precision=self.precision, scale=self.scale)
        if c in (FLTN, FLT4, FLT8):
            size = self.size if c == FLTN else _FIXED[c]
            return TypeSpec(SqlType.REAL if size == 4 else SqlType.FLOAT)
        if c in (MONEYN, MONEY, MONEY4):
            return TypeSpec(SqlType.MONEY, precision=19, scale=4)
        if c in (DATETIMN, DATETIME, DATETIM4):
            return TypeSpec(SqlType.DATETIME)
        if c == GUID:
            return TypeSpec(SqlType.UNIQUEIDENTIFIER)
        if c == DATEN:
            return TypeSpec(SqlType.DATE)
        if c == TIMEN:
            return TypeSpec(SqlType.TIME, scale=self.scale)
        if c == DATETIME2N:
            return TypeSpec(SqlType.DATETIME2, scale=self.scale)
        if c == DATETIMEOFFSETN:
            return TypeSpec(SqlType.DATETIMEOFFSET, scale=self.scale)
        if c in _UNICODE:
            return TypeSpec(SqlType.NVARCHAR, MAX if c == NTEXT or self.plp else self.size // 2)
        if c in _COLLATED:
            return TypeSpec(SqlType.VARCHAR, MAX if c == TEXT or self.plp else self.size)
        if c in _BINARY:
            return TypeSpec(SqlType.VARBINARY, MAX if c == IMAGE or self.plp else self.size)
        if c == NULLTYPE:
            return TypeSpec(SqlType.INT)
        raise TdsDecodeError(f"unsupported TYPE_INFO {c:#04x}")


# --- reading ---------------------------------------------------------------------------------------


def read_type_info(r: Reader) -> WireType:
    code = r.u8()
    if code in _FIXED or code in (DATEN,):
        return WireType(code)
    if code in (TIMEN, DATETIME2N, DATETIMEOFFSETN):
        scale = r.u8()
        if scale > 7:
            raise TdsDecodeError(f"fractional-second scale {scale} > 7")
        return WireType(code, scale=scale)
    if code in (DECIMALN, NUMERICN, DECIMAL, NUMERIC):
        size, precision, scale = r.u8(), r.u8(), r.u8()
        if not 1 <= precision <= 38 or scale > precision:
            raise TdsDecodeError(f"decimal({precision}, {scale}) is out of range")
        return WireType(code, size, precision, scale)
    if code in _BYTELEN:
        size = r.u8()
        return WireType(code, size, collation=r.take(5) if code in _COLLATED else b"")
    if code in _USHORTLEN:
        size = r.u16()
        return WireType(code, size, collation=r.take(5) if code in _COLLATED else b"")
    if code in _LONGLEN:
        size = r.u32()
        return WireType(code, size, collation=r.take(5) if code in _COLLATED else b"")
    raise TdsDecodeError(f"unsupported TYPE_INFO {code:#04x}")


def read_plp(r: Reader) -> bytes | None:
    """A PLP value ([MS-TDS] 2.2.5.2.3): total length (or unknown), then chunks up to a zero-length one."""
    total = r.u64()
    if total == PLP_NULL:
        return None
    parts: list[bytes] = []
    got = 0
    while True:
        n = r.u32()
        if n == 0:
            break
        parts.append(r.take(n))
        got += n
    if total != PLP_UNKNOWN and got != total:
        raise TdsDecodeError(f"PLP value announced {total} bytes, carried {got}")
    return b"".join(parts)


def read_value(r: Reader, wt: WireType) -> SqlValue:
    """One value of type ``wt`` (the ParamLenData / row data of [MS-TDS] 2.2.6.6 / 2.2.7.19)."""
    c = wt.code
    if wt.plp:
        raw = read_plp(r)
    elif c in _FIXED:
        raw = r.take(_FIXED[c]) if c != NULLTYPE else None
    elif c in _LONGLEN:
        # RPC parameters of the legacy LOB types: a LONGLEN length (0xFFFFFFFF: NULL), then the data.
        n = r.u32()
        raw = None if n == 0xFFFFFFFF else r.take(n)
    elif c in _USHORTLEN:
        n = r.u16()
        raw = None if n == USHORT_MAX else r.take(n)
    else:  # BYTELEN types and the date/time family
        n = r.u8()
        raw = None if n == 0 and c not in (CHAR, VARCHAR, BINARY, VARBINARY) else r.take(n)
        if c in (CHAR, VARCHAR, BINARY, VARBINARY) and n == 0xFF:
            raw = None
    if raw is None:
        return None
    return _from_bytes(raw, wt)


def _from_bytes(raw: bytes, wt: WireType) -> SqlValue:
    c = wt.code
    spec = wt.spec()
    t = spec.type
    if t in (SqlType.TINYINT, SqlType.SMALLINT, SqlType.INT, SqlType.BIGINT):
        if len(raw) not in (1, 2, 4, 8):
            raise TdsDecodeError(f"integer of {len(raw)} bytes")
        return int.from_bytes(raw, "little", signed=len(raw) > 1)
    if t == SqlType.BIT:
        return raw != b"\x00" * len(raw)
    if t == SqlType.DECIMAL:
        if len(raw) < 1:
            raise TdsDecodeError("empty decimal")
        magnitude = int.from_bytes(raw[1:], "little")
        value = decimal.Decimal(magnitude).scaleb(-wt.scale, _EXACT)
        return value if raw[0] == 1 else value.copy_negate()
    if t in (SqlType.REAL, SqlType.FLOAT):
        if len(raw) == 4:
            return float(struct.unpack("<f", raw)[0])
        if len(raw) == 8:
            return float(struct.unpack("<d", raw)[0])
        raise TdsDecodeError(f"float of {len(raw)} bytes")
    if t == SqlType.MONEY:
        return _money_from(raw)
    if t == SqlType.DATETIME:
        return _datetime_from(raw)
    if t == SqlType.UNIQUEIDENTIFIER:
        if len(raw) != 16:
            raise TdsDecodeError(f"uniqueidentifier of {len(raw)} bytes")
        return uuid.UUID(bytes_le=raw)
    if t == SqlType.DATE:
        return _date_from(raw)
    if t == SqlType.TIME:
        return _time_from(raw, wt.scale)
    if t == SqlType.DATETIME2:
        n = len(raw) - 3
        return dt.datetime.combine(_date_from(raw[n:]), _time_from(raw[:n], wt.scale))
    if t == SqlType.DATETIMEOFFSET:
        n = len(raw) - 5
        if n < 3:
            raise TdsDecodeError("datetimeoffset too short")
        utc = dt.datetime.combine(_date_from(raw[n : n + 3]), _time_from(raw[:n], wt.scale))
        (offset,) = struct.unpack("<h", raw[n + 3 :])
        if not -840 <= offset <= 840:
            raise TdsDecodeError(f"offset {offset} minutes is out of range")
        tz = dt.timezone(dt.timedelta(minutes=offset))
        try:
            return utc.replace(tzinfo=dt.UTC).astimezone(tz)
        except OverflowError as exc:
            raise TdsDecodeError("datetimeoffset out of range") from exc
    if t == SqlType.NVARCHAR:
        if len(raw) % 2:
            raise TdsDecodeError("odd byte count in UTF-16 text")
        return raw.decode("utf-16-le", errors="surrogatepass")
    if t == SqlType.VARCHAR:
        return raw.decode(_codec(wt.collation), errors="replace")
    if t == SqlType.VARBINARY:
        return bytes(raw)
    raise TdsDecodeError(f"no decoder for {c:#04x}")


def _codec(collation: bytes) -> str:
    """Single-byte text: UTF-8 for a _UTF8 collation, else the Latin1_General code page."""
    if len(collation) == 5 and collation[3] & 0x04:  # fUTF8 (bit 26 of the collation info)
        return "utf-8"
    return "cp1252"


def _money_from(raw: bytes) -> decimal.Decimal:
    if len(raw) == 4:
        (cents,) = struct.unpack("<i", raw)
    elif len(raw) == 8:
        high, low = struct.unpack("<iI", raw)
        cents = (high << 32) | low
    else:
        raise TdsDecodeError(f"money of {len(raw)} bytes")
    return decimal.Decimal(cents).scaleb(-4, _EXACT)


def _datetime_from(raw: bytes) -> dt.datetime:
    if len(raw) == 4:
        days, minutes = struct.unpack("<HH", raw)
        return dt.datetime.combine(_DAY0_DATETIME, dt.time()) + dt.timedelta(days=days, minutes=minutes)
    if len(raw) != 8:
        raise TdsDecodeError(f"datetime of {len(raw)} bytes")
    days, ticks = struct.unpack("<iI", raw)
    micro = (ticks * 10_000 + 1) // 3  # 1/300 s ticks, to the nearest microsecond
    try:
        return dt.datetime.combine(_DAY0_DATETIME, dt.time()) + dt.timedelta(days=days, microseconds=micro)
    except OverflowError as exc:
        raise TdsDecodeError("datetime out of range") from exc


def _date_from(raw: bytes) -> dt.date:
    if len(raw) != 3:
        raise TdsDecodeError(f"date of {len(raw)} bytes")
    days = int.from_bytes(raw, "little")
    try:
        return _DAY0 + dt.timedelta(days=days)
    except OverflowError as exc:
        raise TdsDecodeError("date out of range") from exc


def _time_from(raw: bytes, scale: int) -> dt.time:
    if len(raw) != time_bytes(scale):
        raise TdsDecodeError(f"time({scale}) of {len(raw)} bytes")
    units = int.from_bytes(raw, "little")
    micro = units * 10**6 // 10**scale
    if micro >= 86_400 * 10**6:
        raise TdsDecodeError("time of day out of range")
    seconds, micro = divmod(micro, 10**6)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return dt.time(hour, minute, second, micro)


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
        scaled = decimal.Decimal(str(v)).scaleb(spec.scale, _EXACT).to_integral_value(decimal.ROUND_HALF_UP, _EXACT)
        n = decimal_bytes(spec.precision) - 1
        magnitude = int(scaled.copy_abs())
        if magnitude >= 10**spec.precision:
            raise ValueError(f"{v!s} does not fit decimal({spec.precision}, {spec.scale})")
        return bytes([0 if scaled < 0 else 1]) + magnitude.to_bytes(n, "little")
    if t == SqlType.MONEY:
        cents = int(decimal.Decimal(str(v)).scaleb(4, _EXACT).to_integral_value(decimal.ROUND_HALF_UP, _EXACT))
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
        base = dt.datetime.combine(_DAY0_DATETIME, dt.time())
        delta = v.replace(tzinfo=None) - base
        ticks = round((delta.seconds * 10**6 + delta.microseconds) * 3 / 10_000)
        days = delta.days + ticks // (300 * 86_400)
        return struct.pack("<iI", days, ticks % (300 * 86_400))
    raise ValueError(f"no encoder for {t}")


def _date_to(d: dt.date) -> bytes:
    return (d - _DAY0).days.to_bytes(3, "little")


def _time_units(t: dt.time, scale: int) -> int:
    micro = ((t.hour * 60 + t.minute) * 60 + t.second) * 10**6 + t.microsecond
    return int(micro * 10**scale // 10**6)


def _time_to(t: dt.time, scale: int) -> bytes:
    return _time_units(t, scale).to_bytes(time_bytes(scale), "little")


def _datetime2_to(v: dt.datetime, scale: int) -> bytes:
    return _time_to(v.time(), scale) + _date_to(v.date())

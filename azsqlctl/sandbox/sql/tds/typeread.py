"""Reading TYPE_INFO and typed values from a request ([MS-TDS] 2.2.5.4-2.2.5.6): RPC parameters.

Clients choose the wire type of a parameter (INTN, FLTN, DATETIME2N ... and sometimes the
legacy fixed-length or TEXT/NTEXT/IMAGE types); this module turns it back into a
``TypeSpec`` and the Python value ``sqltypes`` lists for it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import struct
import uuid
from dataclasses import dataclass

from azsqlctl.sandbox.sql.sqltypes import MAX, SqlType, SqlValue, TypeSpec

from .typeinfo import (
    BINARY,
    BINARY_TYPES,
    BIT,
    BITN,
    BYTELEN_TYPES,
    CHAR,
    COLLATED_TYPES,
    DATE_EPOCH,
    DATEN,
    DATETIM4,
    DATETIME,
    DATETIME2N,
    DATETIME_EPOCH,
    DATETIMEOFFSETN,
    DATETIMN,
    DECIMAL,
    DECIMALN,
    EXACT_CONTEXT,
    FIXED_SIZES,
    FLT4,
    FLT8,
    FLTN,
    GUID,
    IMAGE,
    INT1,
    INT2,
    INT4,
    INT8,
    INTN,
    LONGLEN_TYPES,
    MONEY,
    MONEY4,
    MONEYN,
    NTEXT,
    NULLTYPE,
    NUMERIC,
    NUMERICN,
    PLP_NULL,
    PLP_UNKNOWN,
    TEXT,
    TIMEN,
    UNICODE_TYPES,
    USHORT_MAX,
    USHORTLEN_TYPES,
    VARBINARY,
    VARCHAR,
    time_bytes,
)

MAX_PLP_BYTES = 2**31 - 1  # varchar(max) / nvarchar(max) / varbinary(max): at most 2^31-1 bytes

# The lengths a nullable fixed-size type may declare ([MS-TDS] 2.2.5.4.1); anything else cannot be read.
_NULLABLE_SIZES = {
    INTN: (1, 2, 4, 8), FLTN: (4, 8), MONEYN: (4, 8), DATETIMN: (4, 8), BITN: (1,), GUID: (16,),
}  # fmt: skip


class TdsDecodeError(ValueError):
    """The client sent bytes this codec cannot read as a TYPE_INFO or value."""


_U16, _U32, _U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")


class Reader:
    """A cursor over a request body; every read past the end raises TdsDecodeError."""

    def __init__(self, data: bytes, pos: int = 0, *, max_plp: int = MAX_PLP_BYTES) -> None:
        self.data = data
        self.pos = pos
        self.max_plp = max_plp  # the longest PLP value a parameter may declare or carry

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    # A request's every byte goes through these (a point query's sp_prepexec: ~40 reads), so they index and unpack in
    # place rather than slice; what they accept and the errors they raise are take()'s.
    def take(self, n: int) -> bytes:
        pos = self.pos
        end = pos + n
        if n < 0 or end > len(self.data):
            raise TdsDecodeError(f"needs {n} bytes at offset {pos}, {self.remaining} left")
        self.pos = end
        return self.data[pos:end]

    def peek(self) -> int:
        if self.pos >= len(self.data):
            raise TdsDecodeError("unexpected end of request")
        return self.data[self.pos]

    def _advance(self, n: int) -> int:
        """The offset of the next ``n`` bytes, which are then consumed."""
        pos = self.pos
        if pos + n > len(self.data):
            self.take(n)  # raises
        self.pos = pos + n
        return pos

    def u8(self) -> int:
        return self.data[self._advance(1)]

    def u16(self) -> int:
        return int(_U16.unpack_from(self.data, self._advance(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack_from(self.data, self._advance(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack_from(self.data, self._advance(8))[0])

    def b_varchar(self) -> str:
        return self.take(2 * self.u8()).decode("utf-16-le", errors="surrogatepass")

    def us_varchar(self) -> str:
        return self.take(2 * self.u16()).decode("utf-16-le", errors="surrogatepass")


_INT_TYPES = {1: SqlType.TINYINT, 2: SqlType.SMALLINT, 4: SqlType.INT, 8: SqlType.BIGINT}


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
        return self.code in USHORTLEN_TYPES and self.size == USHORT_MAX

    def spec(self) -> TypeSpec:
        """The SQL type this wire type carries."""
        return _spec_of(self)


@functools.lru_cache(maxsize=256)  # a request's parameters repeat a handful of wire types
def _spec_of(wt: WireType) -> TypeSpec:
    c = wt.code
    if c in (INTN, INT1, INT2, INT4, INT8):
        size = wt.size if c == INTN else FIXED_SIZES[c]
        if size not in _INT_TYPES:
            raise TdsDecodeError(f"integer of {size} bytes")
        return TypeSpec(_INT_TYPES[size])
    if c in (BITN, BIT):
        return TypeSpec(SqlType.BIT)
    if c in (DECIMALN, NUMERICN, DECIMAL, NUMERIC):
        return TypeSpec(SqlType.DECIMAL, precision=wt.precision, scale=wt.scale)
    if c in (FLTN, FLT4, FLT8):
        size = wt.size if c == FLTN else FIXED_SIZES[c]
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
        return TypeSpec(SqlType.TIME, scale=wt.scale)
    if c == DATETIME2N:
        return TypeSpec(SqlType.DATETIME2, scale=wt.scale)
    if c == DATETIMEOFFSETN:
        return TypeSpec(SqlType.DATETIMEOFFSET, scale=wt.scale)
    if c in UNICODE_TYPES:
        return TypeSpec(SqlType.NVARCHAR, MAX if c == NTEXT or wt.plp else wt.size // 2)
    if c in COLLATED_TYPES:
        return TypeSpec(SqlType.VARCHAR, MAX if c == TEXT or wt.plp else wt.size)
    if c in BINARY_TYPES:
        return TypeSpec(SqlType.VARBINARY, MAX if c == IMAGE or wt.plp else wt.size)
    if c == NULLTYPE:
        return TypeSpec(SqlType.INT)
    raise TdsDecodeError(f"unsupported TYPE_INFO {c:#04x}")


# --- reading ---------------------------------------------------------------------------------------


def read_type_info(r: Reader) -> WireType:
    code = r.u8()
    if code in FIXED_SIZES or code in (DATEN,):
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
        _check_size(code, size)
        return WireType(code, size, precision, scale)
    if code in BYTELEN_TYPES:
        size = r.u8()
        _check_size(code, size)
        return WireType(code, size, collation=r.take(5) if code in COLLATED_TYPES else b"")
    if code in USHORTLEN_TYPES:
        size = r.u16()
        return WireType(code, size, collation=r.take(5) if code in COLLATED_TYPES else b"")
    if code in LONGLEN_TYPES:
        size = r.u32()
        return WireType(code, size, collation=r.take(5) if code in COLLATED_TYPES else b"")
    raise TdsDecodeError(f"unsupported TYPE_INFO {code:#04x}")


def _type_info_bytes(code: int) -> int:
    """How many bytes a TYPE_INFO starting with ``code`` takes (the code itself included); 0 for an unknown code."""
    if code in FIXED_SIZES or code == DATEN:
        return 1
    if code in (TIMEN, DATETIME2N, DATETIMEOFFSETN):
        return 2
    if code in (DECIMALN, NUMERICN, DECIMAL, NUMERIC):
        return 4
    collation = 5 if code in COLLATED_TYPES else 0
    for kinds, size in ((BYTELEN_TYPES, 1), (USHORTLEN_TYPES, 2), (LONGLEN_TYPES, 4)):
        if code in kinds:
            return 1 + size + collation
    return 0


_TYPE_INFO_BYTES = {code: n for code in range(256) if (n := _type_info_bytes(code))}
# A session's parameters repeat a handful of TYPE_INFOs (a point query's sp_prepexec: INTN, then NVARCHAR(MAX) twice):
# each is read and checked once, then found by its bytes. Only TYPE_INFOs that read_type_info accepted are kept.
_KNOWN_TYPE_INFOS: dict[bytes, tuple[WireType, TypeSpec]] = {}
_KNOWN_TYPE_INFOS_MAX = 512


def read_param_type(r: Reader) -> tuple[WireType, TypeSpec]:
    """``read_type_info`` and the SQL type it carries: what an RPC parameter declares."""
    pos = r.pos
    n = _TYPE_INFO_BYTES.get(r.data[pos]) if pos < len(r.data) else None
    if n is not None:
        known = _KNOWN_TYPE_INFOS.get(r.data[pos : pos + n])
        if known is not None:
            r.pos = pos + n
            return known
    wt = read_type_info(r)
    found = (wt, wt.spec())
    if len(_KNOWN_TYPE_INFOS) >= _KNOWN_TYPE_INFOS_MAX:
        _KNOWN_TYPE_INFOS.clear()
    _KNOWN_TYPE_INFOS[r.data[pos : r.pos]] = found
    return found


def _check_size(code: int, size: int) -> None:
    allowed = _NULLABLE_SIZES.get(code)
    if allowed is not None and size not in allowed:
        raise TdsDecodeError(f"TYPE_INFO {code:#04x} cannot have length {size}")


def read_plp(r: Reader) -> bytes | None:
    """A PLP value ([MS-TDS] 2.2.5.2.3): total length (or unknown), then chunks up to a zero-length one."""
    total = r.u64()
    if total == PLP_NULL:
        return None
    if total != PLP_UNKNOWN and total > r.max_plp:
        raise TdsDecodeError(f"PLP value of {total} bytes is over the {r.max_plp}-byte limit")
    parts: list[bytes] = []
    got = 0
    while True:
        n = r.u32()
        if n == 0:
            break
        parts.append(r.take(n))
        got += n
        if got > r.max_plp:
            raise TdsDecodeError(f"PLP value over the {r.max_plp}-byte limit")
    if total != PLP_UNKNOWN and got != total:
        raise TdsDecodeError(f"PLP value announced {total} bytes, carried {got}")
    return b"".join(parts)


def read_value(r: Reader, wt: WireType, spec: TypeSpec | None = None) -> SqlValue:
    """One value of type ``wt`` (the ParamLenData / row data of [MS-TDS] 2.2.6.6 / 2.2.7.19); ``spec``: ``wt.spec()``
    when the caller has it."""
    c = wt.code
    if wt.plp:
        raw = read_plp(r)
    elif c in FIXED_SIZES:
        raw = r.take(FIXED_SIZES[c]) if c != NULLTYPE else None
    elif c in LONGLEN_TYPES:
        # RPC parameters of the legacy LOB types: a LONGLEN length (0xFFFFFFFF: NULL), then the data.
        n = r.u32()
        raw = None if n == 0xFFFFFFFF else r.take(n)
    elif c in USHORTLEN_TYPES:
        n = r.u16()
        raw = None if n == USHORT_MAX else r.take(n)
    else:  # BYTELEN types and the date/time family
        n = r.u8()
        raw = None if n == 0 and c not in (CHAR, VARCHAR, BINARY, VARBINARY) else r.take(n)
        if c in (CHAR, VARCHAR, BINARY, VARBINARY) and n == 0xFF:
            raw = None
    if raw is None:
        return None
    return _from_bytes(raw, wt, spec or wt.spec())


def _from_bytes(raw: bytes, wt: WireType, spec: TypeSpec) -> SqlValue:
    c = wt.code
    t = spec.type
    if t == SqlType.NVARCHAR:  # first: every statement and declaration list is one
        if len(raw) % 2:
            raise TdsDecodeError("odd byte count in UTF-16 text")
        return raw.decode("utf-16-le", errors="surrogatepass")
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
        value = decimal.Decimal(magnitude).scaleb(-wt.scale, EXACT_CONTEXT)
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
    return decimal.Decimal(cents).scaleb(-4, EXACT_CONTEXT)


def _datetime_from(raw: bytes) -> dt.datetime:
    if len(raw) == 4:
        days, minutes = struct.unpack("<HH", raw)
        return dt.datetime.combine(DATETIME_EPOCH, dt.time()) + dt.timedelta(days=days, minutes=minutes)
    if len(raw) != 8:
        raise TdsDecodeError(f"datetime of {len(raw)} bytes")
    days, ticks = struct.unpack("<iI", raw)
    micro = (ticks * 10_000 + 1) // 3  # 1/300 s ticks, to the nearest microsecond
    try:
        return dt.datetime.combine(DATETIME_EPOCH, dt.time()) + dt.timedelta(days=days, microseconds=micro)
    except OverflowError as exc:
        raise TdsDecodeError("datetime out of range") from exc


def _date_from(raw: bytes) -> dt.date:
    if len(raw) != 3:
        raise TdsDecodeError(f"date of {len(raw)} bytes")
    days = int.from_bytes(raw, "little")
    try:
        return DATE_EPOCH + dt.timedelta(days=days)
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

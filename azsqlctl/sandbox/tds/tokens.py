"""Encoders for the server's token stream ([MS-TDS] 2.2.7).

Byte order is the usual trap: token lengths and row counts are little-endian,
the LOGINACK TDS version is big-endian.
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..sqltypes import SqlType, TypeSpec

# Token types
COLMETADATA = 0x81
ERROR = 0xAA
INFO = 0xAB
LOGINACK = 0xAD
FEATUREEXTACK = 0xAE
ROW = 0xD1
ENVCHANGE = 0xE3
DONE = 0xFD
DONEPROC = 0xFE
DONEINPROC = 0xFF
RETURNSTATUS = 0x79

DONE_FINAL = 0x00
DONE_MORE = 0x01
DONE_ERROR = 0x02
DONE_COUNT = 0x10

# ENVCHANGE types
ENV_DATABASE = 1
ENV_LANGUAGE = 2
ENV_PACKETSIZE = 4
ENV_COLLATION = 7
ENV_BEGIN_TRAN = 8
ENV_COMMIT_TRAN = 9
ENV_ROLLBACK_TRAN = 10

# SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, CI/AI/width flags, sort id 52.
COLLATION = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])
TDS_74 = 0x74000004
SERVER_VERSION = (12, 0, 2000, 8)  # what Azure SQL Database reports: 12.0.2000.8


def b_varchar(s: str) -> bytes:
    data = s.encode("utf-16-le")
    return bytes([len(s)]) + data


def us_varchar(s: str) -> bytes:
    return struct.pack("<H", len(s)) + s.encode("utf-16-le")


def b_varbyte(b: bytes) -> bytes:
    return bytes([len(b)]) + b


def envchange(kind: int, new: bytes, old: bytes) -> bytes:
    body = bytes([kind]) + new + old
    return bytes([ENVCHANGE]) + struct.pack("<H", len(body)) + body


def env_text(kind: int, new: str, old: str) -> bytes:
    return envchange(kind, b_varchar(new), b_varchar(old))


def message(token: int, number: int, state: int, severity: int, text: str, server: str, line: int = 1) -> bytes:
    body = struct.pack("<iBB", number, state, severity) + us_varchar(text) + b_varchar(server) + b_varchar("") + struct.pack("<i", line)
    return bytes([token]) + struct.pack("<H", len(body)) + body


def error(number: int, state: int, severity: int, text: str, server: str, line: int = 1) -> bytes:
    return message(ERROR, number, state, severity, text, server, line)


def info(number: int, state: int, text: str, server: str) -> bytes:
    return message(INFO, number, state, 0, text, server, 0)


def loginack(program: str = "Microsoft SQL Server") -> bytes:
    major, minor, build, sub = SERVER_VERSION
    body = bytes([1]) + struct.pack(">I", TDS_74) + b_varchar(program) + bytes([major, minor]) + struct.pack(">H", build)
    del sub  # LOGINACK carries major.minor.build only
    return bytes([LOGINACK]) + struct.pack("<H", len(body)) + body


def featureextack(features: Sequence[tuple[int, bytes]]) -> bytes:
    out = bytearray([FEATUREEXTACK])
    for fid, data in features:
        out += bytes([fid]) + struct.pack("<I", len(data)) + data
    out.append(0xFF)
    return bytes(out)


def done(status: int = DONE_FINAL, rowcount: int = 0, token: int = DONE, curcmd: int = 0xC1) -> bytes:
    return bytes([token]) + struct.pack("<HHQ", status, curcmd, rowcount)


@dataclass(frozen=True)
class Column:
    """A result column; ``kind`` is one of nvarchar, int, bigint, bit, varbinary, guid; ``spec``, when given, wins."""

    name: str
    kind: str = "nvarchar"
    spec: TypeSpec | None = None


# --- interim TypeSpec encoding (helper A, wp-sql) ----------------------------------------------------
# The contract has helper B's codec encode every TypeSpec (PLP for MAX included); until that branch
# lands, the SQL engine's typed columns go out through this small additive subset so they can be
# tested end to end. The integrator keeps B's encoding and drops this block.
_SPEC_KIND = {
    SqlType.NVARCHAR: "nvarchar", SqlType.VARCHAR: "nvarchar", SqlType.INT: "int", SqlType.SMALLINT: "int",
    SqlType.TINYINT: "tinyint", SqlType.BIGINT: "bigint", SqlType.BIT: "bit", SqlType.VARBINARY: "varbinary",
    SqlType.UNIQUEIDENTIFIER: "guid", SqlType.FLOAT: "float", SqlType.REAL: "float", SqlType.DECIMAL: "decimal",
    SqlType.MONEY: "decimal", SqlType.DATE: "date", SqlType.TIME: "time", SqlType.DATETIME: "datetime2",
    SqlType.DATETIME2: "datetime2", SqlType.DATETIMEOFFSET: "datetimeoffset",
}  # fmt: skip
_EPOCH = dt.date(1, 1, 1)


def _kind(col: Column) -> str:
    return _SPEC_KIND[col.spec.type] if col.spec is not None else col.kind


def _scale(col: Column) -> int:
    return min(col.spec.scale, 7) if col.spec is not None else 7


def _time_bytes(value: dt.time | dt.datetime, scale: int) -> bytes:
    seconds = value.hour * 3600 + value.minute * 60 + value.second
    ticks = int((seconds * 1_000_000 + value.microsecond) * 10**scale // 1_000_000)
    width = 3 if scale <= 2 else 4 if scale <= 4 else 5
    return ticks.to_bytes(width, "little")


def _typed_info(col: Column) -> bytes:
    kind = _kind(col)
    if kind == "float":
        return bytes([0x6D, 8])
    if kind == "decimal":
        spec = col.spec
        assert spec is not None
        return bytes([0x6A, 17, min(spec.precision, 38), spec.scale])
    if kind == "date":
        return bytes([0x28])
    return bytes([{"time": 0x29, "datetime2": 0x2A, "datetimeoffset": 0x2B}[kind], _scale(col)])


def _typed_value(col: Column, value: Any) -> bytes:
    kind = _kind(col)
    if value is None:
        return b"\x00"
    if kind == "float":
        return bytes([8]) + struct.pack("<d", float(value))
    if kind == "decimal":
        spec = col.spec
        assert spec is not None
        unscaled = int(decimal.Decimal(value).scaleb(spec.scale).to_integral_value())
        return bytes([17, 1 if unscaled >= 0 else 0]) + abs(unscaled).to_bytes(16, "little")
    if kind == "date":
        days: int = (value - _EPOCH).days
        return bytes([3]) + days.to_bytes(3, "little")
    scale = _scale(col)
    if kind == "time":
        data = _time_bytes(value, scale)
    elif kind == "datetime2":
        data = _time_bytes(value, scale) + (value.date() - _EPOCH).days.to_bytes(3, "little")
    else:
        offset = value.utcoffset() or dt.timedelta(0)
        utc = (value - offset).replace(tzinfo=None)
        data = (
            _time_bytes(utc, scale)
            + (utc.date() - _EPOCH).days.to_bytes(3, "little")
            + struct.pack("<h", int(offset.total_seconds() // 60))
        )
    return bytes([len(data)]) + data


_TYPED = ("float", "decimal", "date", "time", "datetime2", "datetimeoffset")


def colmetadata(columns: Sequence[Column]) -> bytes:
    out = bytearray([COLMETADATA]) + struct.pack("<H", len(columns))
    for col in columns:
        out += struct.pack("<IH", 0, 0x0001 | 0x0008)  # user type 0; nullable, updateable-unknown
        kind = _kind(col)
        if kind in _TYPED:
            out += _typed_info(col)
        elif kind == "nvarchar":
            out += bytes([0xE7]) + struct.pack("<H", 8000) + COLLATION
        elif kind in ("int", "bigint", "bit", "tinyint"):
            size = {"int": 4, "bigint": 8, "bit": 1, "tinyint": 1}[kind]
            out += bytes([0x68 if kind == "bit" else 0x26, size])
        elif kind == "varbinary":
            out += bytes([0xA5]) + struct.pack("<H", 8000)
        elif kind == "guid":
            out += bytes([0x24, 16])
        else:
            raise ValueError(f"unsupported column kind {col.kind}")
        out += b_varchar(col.name)
    return bytes(out)


def row(columns: Sequence[Column], values: Sequence[Any]) -> bytes:
    out = bytearray([ROW])
    for col, value in zip(columns, values, strict=True):
        kind = _kind(col)
        if kind in _TYPED:
            out += _typed_value(col, value)
        elif kind == "nvarchar":
            if value is None:
                out += b"\xff\xff"
            else:
                data = str(value).encode("utf-16-le")
                out += struct.pack("<H", len(data)) + data
        elif kind in ("int", "bigint", "bit", "tinyint"):
            if value is None:
                out.append(0)
            else:
                fmt = {"int": "<i", "bigint": "<q", "bit": "<B", "tinyint": "<B"}[kind]
                data = struct.pack(fmt, int(value))
                out += bytes([len(data)]) + data
        elif kind == "varbinary":
            if value is None:
                out += b"\xff\xff"
            else:
                out += struct.pack("<H", len(value)) + bytes(value)
        elif kind == "guid":
            if value is None:
                out.append(0)
            else:
                out += bytes([16]) + uuid.UUID(str(value)).bytes_le
    return bytes(out)


def result_set(columns: Sequence[Column], rows: Sequence[Sequence[Any]], more: bool = False, done_token: int = DONE) -> bytes:
    out = bytearray(colmetadata(columns))
    for values in rows:
        out += row(columns, values)
    status = DONE_COUNT | (DONE_MORE if more else 0)
    out += done(status, len(rows), token=done_token)
    return bytes(out)

"""Encoders for the server's token stream ([MS-TDS] 2.2.7).

Byte order is the usual trap: token lengths and row counts are little-endian,
the LOGINACK TDS version is big-endian.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
    """A result column; ``kind`` is one of nvarchar, int, bigint, bit, varbinary, guid."""

    name: str
    kind: str = "nvarchar"


def colmetadata(columns: Sequence[Column]) -> bytes:
    out = bytearray([COLMETADATA]) + struct.pack("<H", len(columns))
    for col in columns:
        out += struct.pack("<IH", 0, 0x0001 | 0x0008)  # user type 0; nullable, updateable-unknown
        if col.kind == "nvarchar":
            out += bytes([0xE7]) + struct.pack("<H", 8000) + COLLATION
        elif col.kind in ("int", "bigint", "bit", "tinyint"):
            size = {"int": 4, "bigint": 8, "bit": 1, "tinyint": 1}[col.kind]
            out += bytes([0x68 if col.kind == "bit" else 0x26, size])
        elif col.kind == "varbinary":
            out += bytes([0xA5]) + struct.pack("<H", 8000)
        elif col.kind == "guid":
            out += bytes([0x24, 16])
        else:
            raise ValueError(f"unsupported column kind {col.kind}")
        out += b_varchar(col.name)
    return bytes(out)


def row(columns: Sequence[Column], values: Sequence[Any]) -> bytes:
    out = bytearray([ROW])
    for col, value in zip(columns, values, strict=True):
        if col.kind == "nvarchar":
            if value is None:
                out += b"\xff\xff"
            else:
                data = str(value).encode("utf-16-le")
                out += struct.pack("<H", len(data)) + data
        elif col.kind in ("int", "bigint", "bit", "tinyint"):
            if value is None:
                out.append(0)
            else:
                fmt = {"int": "<i", "bigint": "<q", "bit": "<B", "tinyint": "<B"}[col.kind]
                data = struct.pack(fmt, int(value))
                out += bytes([len(data)]) + data
        elif col.kind == "varbinary":
            if value is None:
                out += b"\xff\xff"
            else:
                out += struct.pack("<H", len(value)) + bytes(value)
        elif col.kind == "guid":
            if value is None:
                out.append(0)
            else:
                out += bytes([16]) + uuid.UUID(str(value)).bytes_le
    return bytes(out)


def result_set(columns: Sequence[Column], rows: Sequence[Sequence[Any]], more: bool = False) -> bytes:
    out = bytearray(colmetadata(columns))
    for values in rows:
        out += row(columns, values)
    status = DONE_COUNT | (DONE_MORE if more else 0)
    out += done(status, len(rows))
    return bytes(out)

"""Encoders for the server's token stream ([MS-TDS] 2.2.7).

Byte order is the usual trap: token lengths and row counts are little-endian,
the LOGINACK TDS version is big-endian.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from azsqlctl.sandbox.sql.sqltypes import SqlType, TypeSpec

from . import typeinfo as ti

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
RETURNVALUE = 0xAC
FEDAUTHINFO = 0xEE

# FEDAUTHINFO option ids ([MS-TDS] 2.2.7.12)
FEDAUTHINFO_STSURL = 0x01
FEDAUTHINFO_SPN = 0x02

DONE_FINAL = 0x00
DONE_MORE = 0x01
DONE_ERROR = 0x02
DONE_COUNT = 0x10
DONE_ATTN = 0x20

# ENVCHANGE types
ENV_DATABASE = 1
ENV_LANGUAGE = 2
ENV_PACKETSIZE = 4
ENV_COLLATION = 7
ENV_BEGIN_TRAN = 8
ENV_COMMIT_TRAN = 9
ENV_ROLLBACK_TRAN = 10
ENV_RESET_ACK = 18  # acknowledges RESETCONNECTION; new and old values are empty

COLLATION = ti.COLLATION  # SQL_Latin1_General_CP1_CI_AS
TDS_74 = 0x74000004
SERVER_VERSION = (12, 0, 2000, 8)  # what Azure SQL Database reports: 12.0.2000.8


def b_varchar(s: str) -> bytes:
    """A byte count of UTF-16 code units, then the text (a non-BMP character is two units)."""
    data = s.encode("utf-16-le", errors="surrogatepass")[: 2 * 255]
    return bytes([len(data) // 2]) + data


def us_varchar(s: str) -> bytes:
    data = s.encode("utf-16-le", errors="surrogatepass")[: 2 * 0xFFFF]
    return struct.pack("<H", len(data) // 2) + data


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


def done(status: int = DONE_FINAL, rowcount: int = 0, token: int | None = None, curcmd: int = 0xC1) -> bytes:
    token = DONE if token is None else token  # DONEINPROC for the statements of an RPC (tds/results.py passes it)
    return bytes([token]) + struct.pack("<HHQ", status, curcmd, rowcount)


def returnstatus(status: int) -> bytes:
    return bytes([RETURNSTATUS]) + struct.pack("<i", status)


def returnvalue(ordinal: int, name: str, spec: TypeSpec, value: Any, udf: bool = False) -> bytes:
    """An output parameter's value ([MS-TDS] 2.2.7.18): ordinal, name, status, user type, flags, TYPE_INFO, value."""
    fitted = ti.fit(spec, [value])
    status = 0x02 if udf else 0x01
    head = bytes([RETURNVALUE]) + struct.pack("<H", ordinal) + b_varchar(name) + bytes([status])
    return head + struct.pack("<IH", 0, 0x0001 | 0x0008) + ti.type_info(fitted) + ti.value(fitted, value)


def fedauthinfo(sts_url: str, spn: str) -> bytes:
    """FEDAUTHINFO ([MS-TDS] 2.2.7.12): where the client gets its token (STS URL) and for what (SPN)."""
    options = [(FEDAUTHINFO_STSURL, sts_url.encode("utf-16-le")), (FEDAUTHINFO_SPN, spn.encode("utf-16-le"))]
    header = 4 + 9 * len(options)  # CountOfInfoIDs, then (id, length, offset) per option
    body = bytearray(struct.pack("<I", len(options)))
    data = bytearray()
    for fid, raw in options:
        body += bytes([fid]) + struct.pack("<II", len(raw), header + len(data))
        data += raw
    body += data
    return bytes([FEDAUTHINFO]) + struct.pack("<I", len(body)) + bytes(body)


_KINDS = {
    "nvarchar": TypeSpec(SqlType.NVARCHAR),
    "int": TypeSpec(SqlType.INT),
    "bigint": TypeSpec(SqlType.BIGINT),
    "bit": TypeSpec(SqlType.BIT),
    "tinyint": TypeSpec(SqlType.TINYINT),
    "varbinary": TypeSpec(SqlType.VARBINARY),
    "guid": TypeSpec(SqlType.UNIQUEIDENTIFIER),
}


@dataclass(frozen=True)
class Column:
    """A result column: ``spec`` when given, else ``kind`` (a SqlType or nvarchar, int, bigint, bit, tinyint, varbinary, guid)."""

    name: str
    kind: str | SqlType = "nvarchar"
    spec: TypeSpec | None = None

    @property
    def type_spec(self) -> TypeSpec:
        if self.spec is not None:
            return self.spec
        if self.kind in _KINDS:
            return _KINDS[str(self.kind)]
        try:
            return TypeSpec(SqlType(self.kind))
        except ValueError:
            raise ValueError(f"unsupported column kind {self.kind}") from None


def _fitted(columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> list[TypeSpec]:
    return [ti.fit(col.type_spec, [r[i] for r in rows]) for i, col in enumerate(columns)]


def colmetadata(columns: Sequence[Column], specs: Sequence[TypeSpec] | None = None) -> bytes:
    specs = list(specs) if specs is not None else _fitted(columns, [])
    if len(columns) != len(specs):
        raise ValueError(f"{len(columns)} columns, {len(specs)} types")
    return _colmetadata(tuple(col.name for col in columns), tuple(specs))


@functools.lru_cache(maxsize=512)  # an application sends the same few queries again and again: the same result shapes
def _colmetadata(names: tuple[str, ...], specs: tuple[TypeSpec, ...]) -> bytes:
    out = bytearray([COLMETADATA]) + struct.pack("<H", len(names))
    for name, spec in zip(names, specs, strict=True):
        out += struct.pack("<IH", 0, 0x0001 | 0x0008)  # user type 0; nullable, updateable-unknown
        out += ti.type_info(spec)
        out += b_varchar(name)
    return bytes(out)


def row(columns: Sequence[Column], values: Sequence[Any], specs: Sequence[TypeSpec] | None = None) -> bytes:
    specs = list(specs) if specs is not None else _fitted(columns, [values])
    out = bytearray([ROW])
    for spec, value in zip(specs, values, strict=True):
        out += ti.value(spec, value)
    return bytes(out)


def result_set(columns: Sequence[Column], rows: Sequence[Sequence[Any]], more: bool = False, done_token: int | None = None) -> bytes:
    """COLMETADATA, ROWs, and the DONE (or ``done_token``) with the row count."""
    specs = _fitted(columns, rows)
    out = bytearray(colmetadata(columns, specs))
    for values in rows:
        out += row(columns, values, specs)
    status = DONE_COUNT | (DONE_MORE if more else 0)
    out += done(status, len(rows), token=done_token)
    return bytes(out)

"""``sp_datatype_info_100`` / ``sp_datatype_info``: the type catalog ODBC drivers read for SQLGetTypeInfo.

ODBC Driver 18 calls ``[sys].[sp_datatype_info_100] <odbc type>, @ODBCVer = 4`` before it
binds a parameter of a type it has not described yet; the answer is one row per SQL Server
type with the ODBC columns, for the types the sandbox has.
"""

from __future__ import annotations

from typing import Any

from azsqlctl.sandbox.sql.sqltypes import SqlType, TypeSpec

from . import tokens as tk

_NV = TypeSpec(SqlType.NVARCHAR, 128)
_VC = TypeSpec(SqlType.VARCHAR, 32)
_SI = TypeSpec(SqlType.SMALLINT)
_IN = TypeSpec(SqlType.INT)
TYPE_INFO_COLUMNS = [
    tk.Column("TYPE_NAME", spec=_NV),
    tk.Column("DATA_TYPE", spec=_SI),
    tk.Column("PRECISION", spec=_IN),
    tk.Column("LITERAL_PREFIX", spec=_VC),
    tk.Column("LITERAL_SUFFIX", spec=_VC),
    tk.Column("CREATE_PARAMS", spec=_VC),
    tk.Column("NULLABLE", spec=_SI),
    tk.Column("CASE_SENSITIVE", spec=_SI),
    tk.Column("SEARCHABLE", spec=_SI),
    tk.Column("UNSIGNED_ATTRIBUTE", spec=_SI),
    tk.Column("MONEY", spec=_SI),
    tk.Column("AUTO_INCREMENT", spec=_SI),
    tk.Column("LOCAL_TYPE_NAME", spec=_NV),
    tk.Column("MINIMUM_SCALE", spec=_SI),
    tk.Column("MAXIMUM_SCALE", spec=_SI),
    tk.Column("SQL_DATA_TYPE", spec=_SI),
    tk.Column("SQL_DATETIME_SUB", spec=_SI),
    tk.Column("NUM_PREC_RADIX", spec=_IN),
    tk.Column("INTERVAL_PRECISION", spec=_SI),
    tk.Column("USERTYPE", spec=_SI),
]
_Q = "'"
# (name, ODBC type, column size, prefix, suffix, create params, searchable, unsigned, money, auto, min, max scale,
#  SQL_DATA_TYPE, datetime sub, radix, user type) - the rows SQL Server returns for the types the sandbox has.
_TYPES: list[tuple[Any, ...]] = [
    ("uniqueidentifier", -11, 36, _Q, _Q, None, 2, None, 0, None, None, None, -11, None, None, 0),
    ("nvarchar", -9, 4000, "N'", _Q, "max length", 3, None, 0, None, None, None, -9, None, None, 0),
    ("bit", -7, 1, None, None, None, 2, None, 0, None, 0, 0, -7, None, None, 16),
    ("tinyint", -6, 3, None, None, None, 2, 1, 0, 0, 0, 0, -6, None, 10, 5),
    ("bigint", -5, 19, None, None, None, 2, 0, 0, 0, 0, 0, -5, None, 10, 0),
    ("varbinary", -3, 8000, "0x", None, "max length", 2, None, 0, None, None, None, -3, None, None, 4),
    ("decimal", 3, 38, None, None, "precision,scale", 2, 0, 0, 0, 0, 38, 3, None, 10, 24),
    ("money", 3, 19, "$", None, None, 2, 0, 1, 0, 4, 4, 3, None, 10, 11),
    ("int", 4, 10, None, None, None, 2, 0, 0, 0, 0, 0, 4, None, 10, 7),
    ("smallint", 5, 5, None, None, None, 2, 0, 0, 0, 0, 0, 5, None, 10, 6),
    ("float", 6, 53, None, None, None, 2, 0, 0, 0, None, None, 6, None, 2, 8),
    ("real", 7, 24, None, None, None, 2, 0, 0, 0, None, None, 7, None, 2, 23),
    ("varchar", 12, 8000, _Q, _Q, "max length", 3, None, 0, None, None, None, 12, None, None, 2),
    ("date", 91, 10, _Q, _Q, None, 3, None, 0, None, None, None, 9, 1, None, 0),
    ("datetime", 93, 23, _Q, _Q, None, 3, None, 0, None, 3, 3, 9, 3, None, 12),
    ("datetime2", 93, 27, _Q, _Q, "scale", 3, None, 0, None, 0, 7, 9, 3, None, 0),
    ("time", -154, 16, _Q, _Q, "scale", 3, None, 0, None, 0, 7, -154, 0, None, 0),
    ("datetimeoffset", -155, 34, _Q, _Q, "scale", 3, None, 0, None, 0, 7, -155, 0, None, 0),
]


def datatype_info(data_type: int = 0) -> bytes:
    """sp_datatype_info_100's result set (the ODBC SQLGetTypeInfo columns), all types or one ODBC type."""
    rows = []
    for name, odbc, size, prefix, suffix, create, searchable, unsigned, money, auto, smin, smax, sqltype, sub, radix, utype in _TYPES:
        if data_type and odbc != data_type:
            continue
        rows.append(
            [
                name,
                odbc,
                size,
                prefix,
                suffix,
                create,
                1,
                0,
                searchable,
                unsigned,
                money,
                auto,
                name,
                smin,
                smax,
                sqltype,
                sub,
                radix,
                None,
                utype,
            ]
        )
    rows.sort(key=lambda r: r[1])
    return tk.result_set(TYPE_INFO_COLUMNS, rows, done_token=tk.DONEINPROC)

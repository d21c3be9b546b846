"""What drivers and ORMs ask on connect, answered as Azure SQL Database answers it.

SERVERPROPERTY, the @@ variables, the session's identity functions and the SET
options tedious, the ODBC driver and SQLAlchemy send. Values that describe the
server are Azure SQL Database's: version 12.0.2000.8, edition 'SQL Azure', engine
edition 5, so a client's feature detection lands where it lands against Azure.
"""

from __future__ import annotations

from typing import Any

from ..sqltypes import SqlType, TypeSpec
from . import errors

PRODUCT_VERSION = "12.0.2000.8"
VERSION = f"Microsoft SQL Azure (RTM) - {PRODUCT_VERSION} \n\tJul 31 2025 00:00:00 \n\tCopyright (C) 2022 Microsoft Corporation\n"
COLLATION = "SQL_Latin1_General_CP1_CI_AS"

NAME = TypeSpec(SqlType.NVARCHAR, 128)


def server_property(name: str, server: str) -> tuple[Any, TypeSpec]:
    """SERVERPROPERTY(name): a sql_variant in SQL Server; here the value with the type it carries."""
    values: dict[str, tuple[Any, TypeSpec]] = {
        "productversion": (PRODUCT_VERSION, NAME),
        "productmajorversion": ("12", NAME),
        "productminorversion": ("0", NAME),
        "productbuild": ("2000", NAME),
        "productlevel": ("RTM", NAME),
        "productupdatelevel": (None, NAME),
        "edition": ("SQL Azure", NAME),
        "editionid": (1674378470, TypeSpec(SqlType.BIGINT)),
        "engineedition": (5, TypeSpec(SqlType.INT)),  # 5 = Azure SQL Database
        "servername": (server, NAME),
        "machinename": (server, NAME),
        "instancename": (None, NAME),
        "collation": (COLLATION, NAME),
        "isintegratedsecurityonly": (0, TypeSpec(SqlType.INT)),
        "isclustered": (0, TypeSpec(SqlType.INT)),
        "isfulltextinstalled": (1, TypeSpec(SqlType.INT)),
        "ishadrenabled": (1, TypeSpec(SqlType.INT)),
        "isxtpsupported": (1, TypeSpec(SqlType.INT)),
        "lcid": (1033, TypeSpec(SqlType.INT)),
        "sqlsortorder": (52, TypeSpec(SqlType.TINYINT)),
    }
    # An unknown property is NULL on SQL Server, not an error.
    return values.get(name.lower(), (None, NAME))


# SET options: accepted and remembered where they change behaviour, accepted as no-ops where
# the sandbox already behaves as the option asks (ANSI defaults of a modern client).
SET_OPTIONS = frozenset(
    {
        "NOCOUNT", "XACT_ABORT", "ANSI_NULLS", "ANSI_PADDING", "ANSI_WARNINGS", "ANSI_NULL_DFLT_ON", "ANSI_DEFAULTS",
        "QUOTED_IDENTIFIER", "ARITHABORT", "ARITHIGNORE", "CONCAT_NULL_YIELDS_NULL", "NUMERIC_ROUNDABORT", "TEXTSIZE",
        "LOCK_TIMEOUT", "DATEFORMAT", "DATEFIRST", "LANGUAGE", "IMPLICIT_TRANSACTIONS", "CURSOR_CLOSE_ON_COMMIT",
        "DEADLOCK_PRIORITY", "ROWCOUNT", "STATISTICS", "SHOWPLAN_ALL", "FMTONLY", "NO_BROWSETABLE", "TRANSACTION",
        "CONTEXT_INFO", "QUERY_GOVERNOR_COST_LIMIT",
    }
)  # fmt: skip
ISOLATION = ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE", "SNAPSHOT")


def parse_set(words: list[str]) -> tuple[str, str]:
    """``SET <option> <value>`` as (option, value) upper-cased; 40517 for what the sandbox cannot honour."""
    if not words:
        raise errors.syntax("SET")
    option = words[0]
    if option.startswith("@"):
        raise errors.unsupported("SET @variable")
    if option not in SET_OPTIONS:
        raise errors.unsupported(f"SET {option}")
    if option == "TRANSACTION":
        level = " ".join(words[3:])
        if words[1:3] != ["ISOLATION", "LEVEL"] or level not in ISOLATION:
            raise errors.syntax(words[-1] if len(words) > 1 else "TRANSACTION")
        return option, level
    value = " ".join(words[1:])
    if option in ("STATISTICS", "SHOWPLAN_ALL", "FMTONLY") and value.endswith("ON"):
        raise errors.unsupported(f"SET {option} ON")  # these change what a batch returns; not emulated
    if option == "IMPLICIT_TRANSACTIONS" and value == "ON":
        raise errors.unsupported("SET IMPLICIT_TRANSACTIONS ON")
    if option == "ROWCOUNT" and value not in ("0",):
        raise errors.unsupported("SET ROWCOUNT")
    return option, value

"""What a catalog view is: its typed columns and the rows it computes from the caller's context.

The relations (``relations``, ``schema_views``, ``security_views``) are built from these; the engine
materialises a ``View`` per statement into a SQLite temp table (``SqlSession.materialize``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...state import Database
from ..sqltypes import SqlType, TypeSpec
from .security_views import Caller

NAME = TypeSpec(SqlType.NVARCHAR, 128)  # sysname
INT = TypeSpec(SqlType.INT)


@dataclass
class CatalogContext:
    caller: Caller
    db: Database | None
    databases: list[tuple[str, bool]]
    conn: sqlite3.Connection
    isolation: str = "READ COMMITTED"
    lock_timeout: int = -1
    program: str = ""
    host: str = ""


Rows = list[dict[str, Any]]
Columns = list[tuple[str, TypeSpec]]


@dataclass(frozen=True)
class View:
    columns: Columns
    rows: Callable[[CatalogContext], Rows]
    needs_database: bool = True  # master has no contained users, roles or tables

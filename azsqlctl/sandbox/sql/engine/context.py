"""What the statement modules may use of a session: the one interface between ``SqlSession`` and the code that
runs each kind of statement (queries, dml, the DDL modules, procedures, applock, functions, catalog built-ins).

``session.py`` implements it and imports those modules; they import this Protocol, never ``session.py``, so
the engine has no import circle (tests/unit/test_sandbox_layout.py), and what a statement may touch of its
session is written down in one place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlglot import exp

from ...state import Database, SandboxState
from ...store import StateStore
from ..catalog.model import View
from ..session_context import SessionContext
from ..sqltypes import Param
from .errors import SqlError
from .locks import LockManager, Mode, Owner, Resource, Scope
from .plans import PlanCache
from .results import StatementResult
from .storage import KeyInfo, TableInfo
from .translate import Translator


class StatementSession(Protocol):
    conn: sqlite3.Connection  # the session's SQLite connection to its database's file
    ctx: SessionContext
    store: StateStore
    owner: Owner  # the session's identity in the lock manager
    locks: LockManager
    plans: PlanCache  # the database's translated SELECTs (plans.py)
    rowcount: int  # @@ROWCOUNT
    identity: int | None  # SCOPE_IDENTITY()
    trancount: int  # @@TRANCOUNT
    lock_timeout: int  # SET LOCK_TIMEOUT
    pending_error: SqlError | None  # an error a SQLite function raised, surfaced when SQLite returns
    last_unique: KeyInfo | None  # the key a unique violation names
    aliases: set[str]  # the running query's table names and aliases
    table_variables: dict[str, TableInfo]  # the running batch's DECLARE @t TABLE, by '@t'

    @property
    def user(self) -> str: ...

    def db(self) -> Database | None: ...

    def mutable_db(self, s: SandboxState) -> Database: ...

    def table_info(self, schema: str, name: str) -> TableInfo | None: ...

    def require(self, permission: str, info: TableInfo, owners: bool = True) -> None: ...

    def security_version_seen(self, version: int) -> None: ...

    def translator(self, params: dict[str, Param]) -> Translator: ...

    def exec_sqlite(
        self, sql: str, binds: dict[str, Any] | Sequence[Any] = (), verb: str = "INSERT", table: TableInfo | None = None
    ) -> sqlite3.Cursor: ...

    def fetch(self, cur: sqlite3.Cursor, verb: str = "INSERT", table: TableInfo | None = None) -> list[Any]: ...

    def materialize(self, views: dict[str, View]) -> None: ...

    def enter(self, write: bool) -> None: ...

    def snapshot_keys(self, tree: exp.Expression, tables: list[exp.Table] | None = None) -> list[str]: ...

    def read_committed(self, keys: Sequence[str]) -> None: ...

    def lock(self, resource: Resource, mode: Mode, scope: Scope, timeout_ms: int | None = None) -> bool: ...

    def lock_tables_for_ddl(self, tree: exp.Expression) -> None: ...

    def atomic(
        self, fn: Callable[[], StatementResult], writes: Sequence[str] | None = None, insert_only: bool = False
    ) -> StatementResult: ...

    def execute_batch(self, sql: str, by_name: dict[str, Param]) -> tuple[list[StatementResult], bool]: ...

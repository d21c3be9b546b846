"""Query plans cached by statement text, as SQL Server's plan cache keeps them.

Drivers and ORMs send the same parameterised SELECT again and again (sp_executesql, sp_prepexec/sp_execute),
and turning its T-SQL tree into SQLite (resolving names, rewriting, generating the text) cost more than the
query itself. A plan keeps what that translation produced: the SQLite text, the bind names, the result's
declared columns, and which user tables it read -- each with the schema-model row it was translated against.

What keeps a plan correct:
- It is reused only while every table it names still has the very model row it was made from, as the running
  session sees it (its own uncommitted DDL included): ALTER TABLE, DROP + CREATE, sp_rename, an index, an
  ownership transfer of the schema... any change to a table's description makes the plan miss, and the
  statement is translated again (and, where the table is gone, answered 208 as before).
- Permissions are never cached: every execution checks SELECT on each table read against the security state
  of that moment (``session.require``), as the uncached path does.
- Only statements whose translation depends on nothing else are cached: plain user tables (no views, whose
  expansion and ownership chaining depend on other objects; no catalog views, whose rows depend on the caller;
  no table variables, temp tables or table functions) and no session values (``@@SPID``, ``USER_NAME()``,
  ``IS_ROLEMEMBER(...)`` ... are bound from the session when translated). The key is the database's cache
  (one per database: Storage.plans), the statement's text and its parameters' names and declared types (a
  parameter's type decides the result column's).
- Rows are always read by executing the SQLite statement: a plan is how to run the query, never its result.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from sqlglot import exp

from ..sqltypes import Param, TypeSpec
from .storage import Storage, TableInfo, TableRow

# Statement texts longer than this are not cached (as translate.CACHED_TEXT: a batch of literal rows does not pin memory).
CACHED_TEXT = 4096
PLANS_PER_DATABASE = 512

PlanKey = tuple[str, tuple[tuple[str, TypeSpec], ...]]


@dataclass(frozen=True)
class Plan:
    """A SELECT translated to SQLite, and what it was translated against."""

    tables: tuple[TableRow, ...]  # the model row of each table the statement names, when it was translated
    probe: str  # one SQLite query for those rows as they are now, and which undo logs and owners table exist
    probe_args: tuple[str, ...]
    reads: tuple[TableInfo, ...]  # the tables SELECT permission is checked on, in the order the uncached path checks
    snapshot: tuple[str, ...]  # the tables whose committed rows the statement reads (session.read_committed)
    sql: str  # the SQLite statement
    binds: tuple[str, ...]  # its bind names, each ``p_<parameter>``
    declared: tuple[tuple[str, TypeSpec | None], ...]  # the result's columns as the projection declares them
    starred: bool  # SELECT *: the columns are SQLite's, typed from ``scope``
    scope: tuple[tuple[str, tuple[tuple[str, TypeSpec], ...]], ...]  # alias -> its columns
    aliases: frozenset[str]  # the statement's table names and aliases (207 vs 4104)


class PlanCache:
    """One database's plans, shared by its sessions; the oldest go when it is full."""

    def __init__(self, size: int = PLANS_PER_DATABASE) -> None:
        self._size = size
        self._plans: dict[PlanKey, Plan] = {}
        self._lock = threading.Lock()

    def get(self, key: PlanKey) -> Plan | None:
        return self._plans.get(key)

    def put(self, key: PlanKey, plan: Plan) -> None:
        with self._lock:
            self._plans.pop(key, None)
            self._plans[key] = plan
            while len(self._plans) > self._size:
                del self._plans[next(iter(self._plans))]

    def __len__(self) -> int:
        return len(self._plans)


# Each sandbox's (Storage's) caches, one per database: a sandbox's databases are its own even where another
# sandbox in the same process has one of the same name.
_CACHES: weakref.WeakKeyDictionary[Storage, dict[str, PlanCache]] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache(storage: Storage, database: str) -> PlanCache:
    """The database's plans, shared by every session of this sandbox."""
    with _CACHES_LOCK:
        return _CACHES.setdefault(storage, {}).setdefault(database.lower(), PlanCache())


def key(text: str, params: dict[str, Param]) -> PlanKey | None:
    """The cache key of a statement run with these parameters (None: not cached)."""
    if len(text) > CACHED_TEXT:
        return None
    return text, tuple(sorted((name, p.spec) for name, p in params.items()))


def named_tables(tree: exp.Expression) -> list[tuple[str, str]] | None:
    """The (schema, name) of each table the statement names, as name resolution looks them up; None when one is
    not a plain user-table name (a catalog view, table variable, temp table, table function, another database)."""
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    found: list[tuple[str, str]] = []
    for node in tree.find_all(exp.Table):
        if isinstance(node.this, exp.Anonymous | exp.Parameter) or node.catalog:
            return None
        name = node.name
        if not node.db and name.lower() in ctes:
            continue
        schema = node.db or "dbo"
        if not name or name.startswith(("#", "@")) or schema.lower() in ("sys", "information_schema"):
            return None
        found.append((schema, name))
    return found

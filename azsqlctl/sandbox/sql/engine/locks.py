"""Locks as Azure SQL shows them to a client: waits, LOCK_TIMEOUT (1222), deadlock victims (1205), application locks.

Why a lock manager of its own over SQLite, with table-granular locks (the design, chosen by measurement):
SQLite allows one writer per database file. Holding SQLite's write transaction for the length of a
client's transaction (what the sandbox did) made every write transaction lock the whole database: with
10 writers among 40 clients 7.6 % of writes failed with 1222 after 5 s (p99 1.85 s), and one leaked open
transaction blocked writers of every other table. A database file per table (ATTACHed) would give
per-table writers in SQLite itself, but this Python's SQLite attaches at most 10 files to a connection
(SQLITE_MAX_ATTACHED), fewer than a Django schema has tables; another embedded engine would mean a second
SQL translation. So SQLite's write transaction now lasts one statement -- opened at the statement's first
write, after its translation, with this sandbox's sessions queued on a per-database mutex -- and isolation
between client transactions comes from this module: a transaction holds an exclusive lock (X) on each table
it updates or deletes from, an intent-exclusive one (IX) on each it inserts into, until it ends; its changes
are undone from an undo log on rollback (``undo``); readers take no lock and read committed rows through the
same log (READ_COMMITTED_SNAPSHOT, Azure SQL Database's default); DDL takes the database's schema lock
(Sch-M) until its transaction ends, every statement a schema-stability lock (Sch-S) for its duration.
Measured with ``python -m bench mixed`` (docs/performance.md): 0 errors, p99 under 250 ms with 40 clients,
writers on distinct tables or on one.

What differs from Azure SQL, knowingly: locks are per table, not per row (two transactions updating
different rows of one table wait here); two transactions inserting the same key get 2627 at once instead
of the second waiting for the first; DDL locks the database's schema, not one object; the deadlock victim
is the session whose request closed the cycle (SQL Server weighs DEADLOCK_PRIORITY and the log used).

Semantics from "SET LOCK_TIMEOUT" (https://learn.microsoft.com/en-us/sql/t-sql/statements/set-lock-timeout-transact-sql):
-1 (the default) waits for ever, 0 does not wait, n waits n milliseconds then fails with 1222; and from
"sp_getapplock" (https://learn.microsoft.com/en-us/sql/relational-databases/system-stored-procedures/sp-getapplock-transact-sql):
modes Shared, Update, IntentShared, IntentExclusive, Exclusive with the lock compatibility matrix of
"Transaction locking and row versioning guide" (https://learn.microsoft.com/en-us/sql/relational-databases/sql-server-transaction-locking-and-row-versioning-guide).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import StrEnum

from .errors import SqlError


class Mode(StrEnum):
    SCH_S = "Sch-S"
    IS = "IntentShared"
    S = "Shared"
    U = "Update"
    IX = "IntentExclusive"
    X = "Exclusive"
    SCH_M = "Sch-M"


# Which granted mode (key) lets which requested modes (values) be granted too.
_COMPATIBLE: dict[Mode, frozenset[Mode]] = {
    Mode.SCH_S: frozenset(Mode) - {Mode.SCH_M},
    Mode.IS: frozenset({Mode.SCH_S, Mode.IS, Mode.S, Mode.U, Mode.IX}),
    Mode.S: frozenset({Mode.SCH_S, Mode.IS, Mode.S, Mode.U}),
    Mode.U: frozenset({Mode.SCH_S, Mode.IS, Mode.S}),
    Mode.IX: frozenset({Mode.SCH_S, Mode.IS, Mode.IX}),
    Mode.X: frozenset({Mode.SCH_S}),
    Mode.SCH_M: frozenset(),
}


class Scope(StrEnum):
    STATEMENT = "statement"
    TRANSACTION = "transaction"
    SESSION = "session"  # sp_getapplock @LockOwner = 'Session'


Resource = tuple[str, str]  # (kind, name): ("table", "dbo.orders"), ("schema", ""), ("security", ""), ("app", "grant:appdb")


class LockTimeout(SqlError):
    def __init__(self) -> None:
        super().__init__(1222, "Lock request time out period exceeded.")


class DeadlockVictim(SqlError):
    def __init__(self, spid: int) -> None:
        super().__init__(
            1205,
            f"Transaction (Process ID {spid}) was deadlocked on lock resources with another process and has been chosen "
            "as the deadlock victim. Rerun the transaction.",
            13,
            45,
        )


@dataclass(eq=False)
class Owner:
    """One session's side of the lock table."""

    spid: int


@dataclass
class _Grant:
    owner: Owner
    mode: Mode
    scope: Scope
    count: int = 1


class LockManager:
    """The lock table of one database. Thread-safe; waiters sleep on one condition, woken by every release."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._grants: dict[Resource, list[_Grant]] = {}
        self._waits: dict[Owner, tuple[Resource, Mode]] = {}
        self._queue: dict[Resource, list[tuple[Owner, Mode]]] = {}

    def acquire(self, owner: Owner, resource: Resource, mode: Mode, scope: Scope, timeout_ms: int) -> bool:
        """Grant ``mode`` on ``resource`` to ``owner``; True when it had to wait. Raises LockTimeout or DeadlockVictim."""
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        with self._cond:
            if not self._blockers(owner, resource, mode):
                self._grant(owner, resource, mode, scope)
                return False
            queue = self._queue.setdefault(resource, [])
            queue.append((owner, mode))
            self._waits[owner] = (resource, mode)
            try:
                while self._blockers(owner, resource, mode):
                    if self._in_cycle(owner):
                        raise DeadlockVictim(owner.spid)
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise LockTimeout
                    # Woken by each release; the periodic wake re-checks for a cycle formed by a later waiter.
                    self._cond.wait(0.2 if remaining is None else min(remaining, 0.2))
            finally:
                del self._waits[owner]
                queue.remove((owner, mode))
                if not queue:
                    del self._queue[resource]
            self._grant(owner, resource, mode, scope)
            self._cond.notify_all()  # the queue moved: the next waiter may now go
            return True

    def release(self, owner: Owner, resource: Resource, scope: Scope | None = None) -> bool:
        """Release one reference ``owner`` holds on ``resource`` (in ``scope`` when given); False when it held none."""
        with self._cond:
            grants = self._grants.get(resource, [])
            grant = next((g for g in reversed(grants) if g.owner is owner and (scope is None or g.scope == scope)), None)
            if grant is None:
                return False
            grant.count -= 1
            if grant.count == 0:
                grants.remove(grant)
                if not grants:
                    del self._grants[resource]
            self._cond.notify_all()
            return True

    def release_all(self, owner: Owner, *scopes: Scope) -> None:
        with self._cond:
            for resource in list(self._grants):
                kept = [g for g in self._grants[resource] if not (g.owner is owner and g.scope in scopes)]
                if kept:
                    self._grants[resource] = kept
                else:
                    del self._grants[resource]
            self._cond.notify_all()

    def held(self, owner: Owner, resource: Resource) -> Mode | None:
        """The strongest mode ``owner`` holds on ``resource`` (APPLOCK_MODE), or None."""
        with self._cond:
            modes = [g.mode for g in self._grants.get(resource, []) if g.owner is owner]
        order = list(Mode)
        return max(modes, key=order.index) if modes else None

    # --- inside the condition's lock ---------------------------------------------------------------

    def _grant(self, owner: Owner, resource: Resource, mode: Mode, scope: Scope) -> None:
        grants = self._grants.setdefault(resource, [])
        for g in grants:
            if g.owner is owner and g.mode == mode and g.scope == scope:
                g.count += 1
                return
        grants.append(_Grant(owner, mode, scope))

    def _blockers(self, owner: Owner, resource: Resource, mode: Mode) -> set[Owner]:
        """Other owners whose granted locks, or earlier queued requests (unless this one converts a lock it holds), ``mode`` must wait for."""
        out = {g.owner for g in self._grants.get(resource, []) if g.owner is not owner and mode not in _COMPATIBLE[g.mode]}
        converting = any(g.owner is owner for g in self._grants.get(resource, []))
        if not converting:  # a new request queues behind earlier incompatible waiters (no writer starves); a conversion does not
            for other, wanted in self._queue.get(resource, []):
                if other is owner:
                    break
                if mode not in _COMPATIBLE[wanted] or wanted not in _COMPATIBLE[mode]:
                    out.add(other)
        return out

    def _in_cycle(self, start: Owner) -> bool:
        """Whether ``start`` waits, through the owners it waits for, on itself."""
        seen: set[int] = set()
        stack = [start]
        while stack:
            current = stack.pop()
            wait = self._waits.get(current)
            if wait is None:
                continue
            for blocker in self._blockers(current, wait[0], wait[1]):
                if blocker is start:
                    return True
                if id(blocker) not in seen:
                    seen.add(id(blocker))
                    stack.append(blocker)
        return False

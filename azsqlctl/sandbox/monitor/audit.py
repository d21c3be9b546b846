"""The sandbox's audit trail: one row per login (refused or successful), as Azure ships
them to Log Analytics (``AzureDiagnostics``, ``Category == "SQLSecurityAuditEvents"``).

Rows live in an embedded, append-only SQLite database beside the state file
(``<state dir>/<state stem>.audit.sqlite``), or in memory when the sandbox has no
state path. The upcoming Log Analytics endpoint reads them through :meth:`AuditStore.rows`
and :meth:`AuditStore.count`.

Logins must stay fast however long the trail gets, so a login never touches SQLite:
:meth:`AuditStore.append` puts the event on a queue (no lock shared with logins, no I/O)
and one writer thread drains the queue in batches, each batch one transaction. A writer
thread rather than per-login connections in WAL mode because a WAL commit still costs an
fsync-ordered write and a lock on the database inside the login's thread, and because one
connection works the same for the in-memory database (which is private to its connection).
Readers share that connection under ``_db_lock``, which only the writer and readers take.
The file is in WAL mode so readers in other processes (``sqlite3``) never block the writer.

Retention is bounded by row count and/or age of ingestion, like a workspace's retention.
Ingestion time (Log Analytics' ``ingestion_time()`` / ``_TimeReceived``) is when the
writer commits the row; ``TimeGenerated`` and ``event_time_t`` are when the login happened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from azsqlctl.atomic_file import SECRET

log = logging.getLogger("azsqlctl.sandbox.monitor.audit")

CATEGORY = "SQLSecurityAuditEvents"
DEFAULT_RETENTION_ROWS = 100_000
DEFAULT_RETENTION_DAYS = 30.0  # a workspace's default retention
_BATCH = 512


@dataclass(frozen=True)
class Retention:
    """Keep at most ``rows`` rows and nothing ingested more than ``days`` ago (None = no bound)."""

    rows: int | None = DEFAULT_RETENTION_ROWS
    days: float | None = DEFAULT_RETENTION_DAYS


@dataclass(frozen=True)
class LoginEvent:
    """What the login path hands over: cheap to build, rendered into a row by the writer."""

    event_time: float
    succeeded: bool
    principal: str
    database: str
    client_ip: str
    application: str
    host: str
    session_id: int = 0
    error: int = 0  # 0 for a successful login
    severity: int = 0
    state: int = 0  # the detailed state Azure records in audit, not the 1 the client sees
    message: str = ""
    received: float | None = None  # when the store took it (None: now); a scenario's past refusals were taken then
    origin: Origin | None = None  # the logical server the login was for (None: the store's, the sandbox's own server)


@dataclass(frozen=True)
class Origin:
    """Where the rows come from: the logical server. Azure's audit rows carry the id of the
    server's master database (the diagnostic setting lives there), upper-cased in ResourceId."""

    server: str
    subscription_id: str
    resource_group: str

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Sql/servers/{self.server}/databases/master"
        )


# Column name -> Kusto type, in the order the Log Analytics endpoint returns them.
COLUMNS: dict[str, str] = {
    "TimeGenerated": "datetime",
    "event_time_t": "datetime",
    "action_id_s": "string",
    "action_name_s": "string",
    "succeeded_s": "string",
    "server_principal_name_s": "string",
    "session_server_principal_name_s": "string",
    "database_name_s": "string",
    "client_ip_s": "string",
    "application_name_s": "string",
    "host_name_s": "string",
    "additional_information_s": "string",
    "statement_s": "string",
    "session_id_d": "real",
    "sequence_number_d": "real",
    "server_instance_name_s": "string",
    "LogicalServerName_s": "string",
    "ResourceId": "string",
    "_ResourceId": "string",
    "_SubscriptionId": "string",
    "SubscriptionId": "string",
    "ResourceGroup": "string",
    "ResourceProvider": "string",
    "ResourceType": "string",
    "Resource": "string",
    "Category": "string",
    "OperationName": "string",
    "Type": "string",
    "_ItemId": "string",
    "_TimeReceived": "datetime",
}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ingestion_time REAL NOT NULL,
    event_time REAL NOT NULL,
    {", ".join(f'"{name}" {"REAL" if kind == "real" else "TEXT"}' for name, kind in COLUMNS.items())},
    UNIQUE ("_ItemId")
);
CREATE INDEX IF NOT EXISTS audit_ingestion ON audit (ingestion_time);
CREATE INDEX IF NOT EXISTS audit_event ON audit (event_time);
"""


# Statements built once from the constant column table; values are always bound parameters.
_NAMES = ", ".join(f'"{n}"' for n in COLUMNS)
_INSERT = f"INSERT INTO audit VALUES ({', '.join('?' * (3 + len(COLUMNS)))})"  # noqa: S608
_SELECT = f"SELECT {_NAMES} FROM audit"  # noqa: S608


def iso(ts: float) -> str:
    """Log Analytics' datetime text: ISO 8601 UTC with 7 fractional digits and a Z."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


def additional_information(event: LoginEvent, seq: int) -> str:
    """Azure writes failed-login detail in two XML shapes; rows alternate between them so
    readers (``logs``) must handle both, as they must against a real workspace."""
    if event.succeeded:
        return ""
    if seq % 2:
        return f"<login_information><error_code>{event.error}</error_code><error_state>{event.state}</error_state></login_information>"
    reason = f"Err {event.error}, Level {event.severity}, State {event.state}, {event.message}"
    return f"<failure_reason>{escape(reason)}</failure_reason>"


def render(event: LoginEvent, origin: Origin, seq: int, ingested: float) -> dict[str, Any]:
    """One ``AzureDiagnostics`` row for a login event."""
    action = ("DBAS", "DATABASE AUTHENTICATION SUCCEEDED") if event.succeeded else ("DBAF", "DATABASE AUTHENTICATION FAILED")
    when = iso(event.event_time)
    return {
        "TimeGenerated": when,
        "event_time_t": when,
        "action_id_s": action[0],
        "action_name_s": action[1],
        "succeeded_s": "true" if event.succeeded else "false",
        "server_principal_name_s": event.principal,
        "session_server_principal_name_s": event.principal,
        "database_name_s": event.database,
        "client_ip_s": event.client_ip,
        "application_name_s": event.application,
        "host_name_s": event.host,
        "additional_information_s": additional_information(event, seq),
        "statement_s": "" if event.succeeded else event.message,
        "session_id_d": float(event.session_id),
        "sequence_number_d": 1.0,
        "server_instance_name_s": origin.server,
        "LogicalServerName_s": origin.server,
        "ResourceId": origin.resource_id.upper(),
        "_ResourceId": origin.resource_id.lower(),
        "_SubscriptionId": origin.subscription_id,
        "SubscriptionId": origin.subscription_id.upper(),
        "ResourceGroup": origin.resource_group.upper(),
        "ResourceProvider": "MICROSOFT.SQL",
        "ResourceType": "SERVERS/DATABASES",
        "Resource": "MASTER",
        "Category": CATEGORY,
        "OperationName": "AuditEvent",
        "Type": "AzureDiagnostics",
        "_ItemId": str(uuid.uuid4()),
        "_TimeReceived": iso(ingested),
    }


def audit_path(state_path: Path) -> Path:
    return state_path.with_name(f"{state_path.stem}.audit.sqlite")


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


class AuditStore:
    """Append-only audit rows with a non-blocking :meth:`append` and a query API."""

    def __init__(self, path: Path | None, origin: Origin, retention: Retention | None = None) -> None:
        self.path = path
        self.origin = origin
        self.retention = retention or Retention()
        self._queue: queue.SimpleQueue[LoginEvent | _Flush | None] = queue.SimpleQueue()
        self._db_lock = threading.Lock()
        self._thread_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None
        self._seq = 0
        self.dropped = 0  # rows the writer could not store (disk full, file removed ...)

    # --- writing ----------------------------------------------------------------------------

    def append(self, event: LoginEvent) -> None:
        """Queue one row; never blocks on SQLite or the disk."""
        self._queue.put(event)
        if self._thread is None:
            self._start_writer()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every row appended so far is stored (and visible to queries)."""
        if self._thread is None:
            return
        marker = _Flush()
        self._queue.put(marker)
        marker.done.wait(timeout)

    def close(self) -> None:
        """Store what is queued and stop the writer; a later append starts it again."""
        with self._thread_lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
                thread.join(timeout=10)
        with self._db_lock:
            if self._db is not None and self.path is not None:  # in memory, the connection IS the data
                self._db.close()
                self._db = None

    def _start_writer(self) -> None:
        with self._thread_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_loop, name="sandbox-audit", daemon=True)
                self._thread.start()

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            target = str(self.path) if self.path is not None else ":memory:"
            if self.path is not None:
                _create_private(self.path)
            db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=10)
            if self.path is not None:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._seq = int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit").fetchone()[0])
            self._db = db
        return self._db

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[LoginEvent] = []
            flushes: list[_Flush] = []
            stop = False
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, _Flush):
                    flushes.append(item)
                else:
                    batch.append(item)
                if stop or len(batch) >= _BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._store(batch)
            for marker in flushes:
                marker.done.set()
            if stop:
                return

    def _store(self, batch: list[LoginEvent]) -> None:
        try:
            with self._db_lock:
                db = self._connection()
                now = time.time()
                rows = []
                for event in batch:
                    self._seq += 1
                    taken = now if event.received is None else event.received
                    row = render(event, event.origin or self.origin, self._seq, taken)
                    # seq NULL: SQLite numbers rows, so two sandboxes sharing a state file share the trail.
                    rows.append((None, taken, event.event_time, *row.values()))
                db.execute("BEGIN")
                db.executemany(_INSERT, rows)
                self._prune(db, now)
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            self.dropped += len(batch)
            log.warning("audit: %d row(s) not stored: %s", len(batch), exc)
            with contextlib.suppress(sqlite3.Error), self._db_lock:
                if self._db is not None and self._db.in_transaction:
                    self._db.execute("ROLLBACK")

    def _prune(self, db: sqlite3.Connection, now: float) -> None:
        if self.retention.rows is not None:
            db.execute("DELETE FROM audit WHERE seq <= (SELECT MAX(seq) FROM audit) - ?", (self.retention.rows,))
        if self.retention.days is not None:
            db.execute("DELETE FROM audit WHERE ingestion_time < ?", (now - self.retention.days * 86400,))

    # --- reading (the Log Analytics endpoint) -----------------------------------------------

    @staticmethod
    def _where(
        ingested_from: float | None, ingested_to: float | None, event_from: float | None, event_to: float | None
    ) -> tuple[str, list[float]]:
        clauses, args = [], []
        for column, op, value in (
            ("ingestion_time", ">=", ingested_from),
            ("ingestion_time", "<", ingested_to),
            ("event_time", ">=", event_from),
            ("event_time", "<", event_to),
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                args.append(value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def rows(
        self,
        *,
        ingested_from: float | None = None,
        ingested_to: float | None = None,
        event_from: float | None = None,
        event_to: float | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Rows in ingestion order, filtered by half-open windows [from, to) in epoch seconds."""
        self.flush()
        where, args = self._where(ingested_from, ingested_to, event_from, event_to)
        sql = f"{_SELECT}{where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._db_lock:
            cursor = self._connection().execute(sql, args)
            return [dict(zip(COLUMNS, row, strict=True)) for row in cursor]

    def count(
        self,
        *,
        ingested_from: float | None = None,
        ingested_to: float | None = None,
        event_from: float | None = None,
        event_to: float | None = None,
    ) -> int:
        self.flush()
        where, args = self._where(ingested_from, ingested_to, event_from, event_to)
        with self._db_lock:
            sql = "SELECT COUNT(*) FROM audit" + where  # noqa: S608 - constant clauses, bound values
            return int(self._connection().execute(sql, args).fetchone()[0])

    def last(self) -> dict[str, Any] | None:
        self.flush()
        with self._db_lock:
            row = self._connection().execute(_SELECT + " ORDER BY seq DESC LIMIT 1").fetchone()
        return dict(zip(COLUMNS, row, strict=True)) if row else None


def _create_private(path: Path) -> None:
    """The audit store (and the -wal/-shm files SQLite gives the database file's mode) is 0600 from creation.

    SQLite would create the file with 0644 minus the umask; creating it empty first, with O_EXCL
    and 0600, leaves no moment in which others can read it. An older, wider file is narrowed.
    """
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), SECRET))
    except FileExistsError:
        for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                if existing.stat().st_mode & 0o077:
                    os.chmod(existing, SECRET)

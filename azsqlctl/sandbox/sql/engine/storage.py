"""Where user tables live: one SQLite database per sandbox database, beside the state file.

``<state dir>/<state stem>.data/<database>.sqlite`` when the sandbox has a state file
(so tables survive restarts and another `sandbox serve` on the same state sees them);
a shared in-memory SQLite database per sandbox database otherwise. Each table's
declared T-SQL shape (types, identity, key and unique constraint names) is kept in
``__azsqlctl_tables`` inside the same file, so DDL commits and rolls back with the data.

The database's security state -- users, roles, role members, permissions, schemas and their
owners (``state.Database``) -- is one row of ``__azsqlctl_security`` in the same file, with a
version that every change increments. A session changes it through a working copy under the
database's security lock and writes it in the very SQLite transaction that commits its data
(``session``): one commit makes the data and the security state durable, or neither -- there
is no moment at which a crash or a failed write leaves one committed without the other, as
there was when the security state lived in the state file. Readers read the committed row
(READ COMMITTED). The row is seeded once from the state's entry for the database (``Seeds``:
the state store), which then no longer carries it. Every private name starts with
``__azsqlctl``: user tables are ``schema.name`` (one identifier with a dot), so no user DDL
can name or reach them, and the catalog lists only what ``__azsqlctl_tables`` describes.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ...state import SECURITY_FIELDS, Database, security_dict, with_security
from ..sqltypes import SqlType, TypeSpec
from .locks import LockManager, Mode, Owner, Resource, Scope

META = "__azsqlctl_tables"
SECURITY = "__azsqlctl_security"
SECURITY_LOCK: Resource = ("security", "")  # held (X) by whoever changes the security state, until it commits
_READERS = 32  # connections kept open for security reads from outside a session (logins), least recently used closed
_LOCKED_WAIT = 30.0  # seconds a read waits out a writer's table lock (in-memory databases: SQLite's shared cache)
log = logging.getLogger("azsqlctl.sandbox.sql")
_instances = itertools.count(1)


@dataclass
class ColumnInfo:
    name: str
    spec: TypeSpec
    nullable: bool = True
    identity: bool = False
    default: str | None = None  # the DEFAULT as SQL Server shows it in sys.default_constraints, e.g. ((0)), (getdate())
    seed: int = 1  # IDENTITY(seed, 1)
    default_sqlite: str | None = None  # the DEFAULT as the SQLite table declares it (sqlite_schema regenerates tables from it)
    default_name: str | None = None  # the DEFAULT constraint's name (given, or generated as SQL Server does)


@dataclass
class KeyInfo:
    name: str
    kind: str  # "PRIMARY KEY" or "UNIQUE KEY", as 2627 names them, "FOREIGN KEY" or "CHECK"
    columns: list[str] = field(default_factory=list)
    ref_schema: str = ""  # FOREIGN KEY: the referenced table and its key columns
    ref_table: str = ""
    ref_columns: list[str] = field(default_factory=list)
    on_delete: str = "NO_ACTION"  # FOREIGN KEY actions as sys.foreign_keys names them: NO_ACTION, CASCADE, SET_NULL, SET_DEFAULT
    on_update: str = "NO_ACTION"
    definition: str = ""  # CHECK: the condition as SQL Server shows it (sys.check_constraints.definition)
    check_sqlite: str = ""  # CHECK: the condition as the SQLite table declares it

    @property
    def ref_key(self) -> str:
        return f"{self.ref_schema}.{self.ref_table}"


@dataclass
class IndexInfo:
    """A CREATE INDEX (not the index behind a PRIMARY KEY or UNIQUE constraint, which its KeyInfo stands for)."""

    name: str
    columns: list[str]
    unique: bool = False
    clustered: bool = False
    descending: list[bool] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    where: str = ""  # the filter as sys.indexes.filter_definition shows it
    where_sqlite: str = ""


@dataclass
class TableInfo:
    schema: str
    name: str
    object_id: int
    columns: list[ColumnInfo]
    keys: list[KeyInfo] = field(default_factory=list)
    indexes: list[IndexInfo] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The SQLite table name: one identifier, so 'app.orders' and 'dbo.orders' never collide."""
        return f"{self.schema}.{self.name}"

    @property
    def display(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name.lower() == name.lower()), None)

    def to_json(self) -> str:
        return json.dumps(
            {
                "columns": [{**asdict(c), "spec": _spec_json(c.spec)} for c in self.columns],
                "keys": [asdict(k) for k in self.keys],
                "indexes": [asdict(i) for i in self.indexes],
            }
        )


def _spec_json(spec: TypeSpec) -> dict[str, Any]:
    return {"type": str(spec.type), "length": spec.length, "precision": spec.precision, "scale": spec.scale}


def _table(schema: str, name: str, object_id: int, info: str) -> TableInfo:
    data = json.loads(info)
    columns = [
        ColumnInfo(
            c["name"],
            TypeSpec(SqlType(c["spec"]["type"]), c["spec"]["length"], c["spec"]["precision"], c["spec"]["scale"]),
            c["nullable"],
            c["identity"],
            c.get("default"),
            c.get("seed", 1),
            c.get("default_sqlite"),
            c.get("default_name"),
        )
        for c in data["columns"]
    ]
    indexes = [IndexInfo(**i) for i in data.get("indexes", [])]
    return TableInfo(schema, name, object_id, columns, [KeyInfo(**k) for k in data["keys"]], indexes)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def data_directory(state_path: Path) -> Path:
    """Where a sandbox's user tables live: one SQLite file per database, beside the state file."""
    return state_path.with_name(state_path.stem + ".data")


class Seeds(Protocol):
    """Where a database's first security state comes from (the state store: ``StateStore.security_seed``)."""

    def security_seed(self, database: str) -> Database | None: ...

    def security_seeded(self, database: str) -> None: ...


def read_security(conn: sqlite3.Connection, known: int = 0) -> tuple[int, dict[str, Any] | None] | None:
    """The committed security state as ``conn`` sees it: its version and ``state.security_dict``'s data (None when the
    version is ``known``: the caller has it already, and a large state is not read again); None: it has none yet."""
    deadline = time.monotonic() + _LOCKED_WAIT
    while True:
        try:
            row = conn.execute(
                f"SELECT version, CASE WHEN version = ? THEN NULL ELSE state END FROM {SECURITY} WHERE id = 1", (known,)
            ).fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) and time.monotonic() < deadline:
                time.sleep(0.002)  # a shared-cache writer holds the table for the length of its commit
                continue
            raise
        return (int(row[0]), json.loads(row[1]) if row[1] is not None else None) if row else None


def write_security(conn: sqlite3.Connection, db: Database) -> None:
    """Write ``db``'s security state, the next version, inside the caller's SQLite transaction (the data's own)."""
    conn.execute(
        f"INSERT INTO {SECURITY} (id, version, state) VALUES (1, 1, ?) "
        "ON CONFLICT (id) DO UPDATE SET version = version + 1, state = excluded.state",
        (json.dumps(security_dict(db)),),
    )


class Storage:
    """Opens per-session SQLite connections to a sandbox database's user tables and security state."""

    def __init__(self, state_path: Path | None, seeds: Seeds | None = None) -> None:
        self.directory = data_directory(state_path) if state_path is not None else None
        self.seeds = seeds
        self._instance = next(_instances)
        self._keepers: dict[str, sqlite3.Connection] = {}  # in-memory databases live while a connection is open
        self._locks: dict[str, LockManager] = {}
        self._writers: dict[str, threading.Lock] = {}
        self._recovered: set[str] = set()  # databases whose leftover undo logs were rolled back (once per process)
        self._seeded: set[str] = set()  # databases whose security row was seeded or found (once per process)
        self._readers: dict[str, sqlite3.Connection] = {}  # security reads from outside a session (logins, tests)
        self._lock = threading.Lock()
        self._seed_lock = threading.Lock()  # taken before the state store's lock, never under it
        self._read_lock = threading.Lock()  # guards _readers; taken before _seed_lock

    def writer(self, database: str) -> threading.Lock:
        """The mutex this sandbox's sessions hold while SQLite's write transaction on ``database`` is theirs."""
        with self._lock:
            return self._writers.setdefault(database.lower(), threading.Lock())

    def locks(self, database: str) -> LockManager:
        """The database's lock table, shared by every session of this sandbox."""
        with self._lock:
            return self._locks.setdefault(database.lower(), LockManager())

    def _target(self, database: str) -> tuple[str, bool]:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", database.lower())
        if self.directory is None:
            return f"file:azsqlctl-{self._instance}-{safe}?mode=memory&cache=shared", True
        self.directory.mkdir(parents=True, exist_ok=True)
        return str(self.directory / f"{safe}.sqlite"), False

    def connect(self, database: str, recover: Callable[[sqlite3.Connection], int]) -> sqlite3.Connection:
        """A connection to the database's file; the first one opened runs ``recover`` (the undo journal's, which the
        session passes: undo builds on this module, so this module does not import it)."""
        conn = self._open(database)
        with self._lock:
            if database.lower() not in self._recovered:
                self._recovered.add(database.lower())
                if undone := recover(conn):
                    log.warning("database %s: rolled back %d change(s) of transactions left open by a stopped sandbox", database, undone)
        self._seed(conn, database)
        return conn

    def _open(self, database: str) -> sqlite3.Connection:
        target, uri = self._target(database)
        with self._lock:
            if uri and database.lower() not in self._keepers:
                self._keepers[database.lower()] = sqlite3.connect(target, uri=True, check_same_thread=False)
        # isolation_level=None: the session says BEGIN/COMMIT itself, as T-SQL does.
        conn = sqlite3.connect(target, uri=uri, check_same_thread=False, isolation_level=None, timeout=5.0)
        if not uri:
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL: durable when the process dies, not on power loss (a sandbox's trade;
            # FULL made every autocommit write wait for an fsync).
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {META} (schema_name TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL COLLATE NOCASE, object_id INTEGER NOT NULL, info TEXT NOT NULL, PRIMARY KEY (schema_name, name))"
        )
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SECURITY} (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, state TEXT NOT NULL)"
        )
        return conn

    def _seed(self, conn: sqlite3.Connection, database: str) -> None:
        """Once per database: give its file the state entry's security state if it has none (a database created since,
        a state file written before the security state moved here); the entry then drops it. A file that already has one
        keeps it: an entry that still carries one (a hand edit) is ignored, and says so."""
        if self.seeds is None or database.lower() in self._seeded:
            return
        with self._seed_lock:
            if database.lower() in self._seeded:
                return
            entry = self.seeds.security_seed(database)
            if entry is None:
                return  # not a database of the state (master): it has no security state of its own
            if read_security(conn) is None:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if read_security(conn) is None:  # another sandbox process sharing the file may have seeded it
                        write_security(conn, entry)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            elif entry.users or entry.roles or entry.permissions:
                log.warning(
                    "database %s: the users, roles and permissions the state file gives it are ignored: its security state "
                    "lives in its data file",
                    entry.name,
                )
            self.seeds.security_seeded(database)
            self._seeded.add(database.lower())

    def security(self, database: str) -> Database | None:
        """``database``'s committed security state, for code outside a SQL session (logins, the pytest plugin, tests);
        None when the state has no such database."""
        entry = self.seeds.security_seed(database) if self.seeds is not None else None
        if entry is None:
            return None
        with self._read_lock:
            conn = self._readers.pop(database.lower(), None) or self._open(database)
            self._readers[database.lower()] = conn  # the most recently used last
            if len(self._readers) > _READERS:  # a fleet of databases: keep the busiest open, not a file handle per database
                self._readers.pop(next(iter(self._readers))).close()
            self._seed(conn, database)
            found = read_security(conn)
        return with_security(entry, found[1]) if found is not None and found[1] is not None else None

    @contextmanager
    def edit_security(self, database: str) -> Iterator[Database]:
        """Change ``database``'s security state from outside a SQL session (the pytest plugin's ``make_user``, tests):
        under its security lock, as a session's security DDL, committed when the block exits without error."""
        owner = Owner(0)
        locks = self.locks(database)
        locks.acquire(owner, SECURITY_LOCK, Mode.X, Scope.TRANSACTION, -1)
        try:
            current = self.security(database)
            if current is None:
                raise KeyError(f"no database {database!r} in the sandbox")
            yield current
            self._write(database, lambda conn: write_security(conn, current))
        finally:
            locks.release_all(owner, Scope.TRANSACTION)

    def forget_security(self, database: str) -> None:
        """``database`` has left the state (the pytest plugin's reset): its security state goes, so a database of that
        name added later starts from its own entry, as a new database does."""
        owner = Owner(0)
        locks = self.locks(database)
        locks.acquire(owner, SECURITY_LOCK, Mode.X, Scope.TRANSACTION, -1)
        try:
            with self._seed_lock:
                self._seeded.discard(database.lower())
                self._write(database, lambda conn: conn.execute(f"DELETE FROM {SECURITY}"))
        finally:
            locks.release_all(owner, Scope.TRANSACTION)

    def _write(self, database: str, change: Callable[[sqlite3.Connection], object]) -> None:
        """``change`` in a SQLite write transaction of its own, queued with the sessions' writers."""
        conn = self._open(database)
        try:
            with self.writer(database):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    change(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        finally:
            conn.close()

    def restore_security(self, database: str, saved: Database) -> None:
        """Put back a security state ``security`` returned earlier (the pytest plugin's reset, benchmarks' passes)."""
        with self.edit_security(database) as current:
            for name in SECURITY_FIELDS:
                setattr(current, name, copy.deepcopy(getattr(saved, name)))

    def close(self) -> None:
        with self._lock:
            for conn in self._keepers.values():
                conn.close()
            self._keepers.clear()
        with self._read_lock:
            for conn in self._readers.values():
                conn.close()
            self._readers.clear()


# A table's row in the schema model: schema, name, object id and its description (TableInfo.to_json).
TableRow = tuple[str, str, int, str]


def table_row(conn: sqlite3.Connection, schema: str, name: str) -> TableRow | None:
    """The table's model row as this connection sees it (what a cached plan is checked against: plans.py)."""
    row = conn.execute(
        f"SELECT schema_name, name, object_id, info FROM {META} WHERE schema_name = ? AND name = ?", (schema, name)
    ).fetchone()
    return (str(row[0]), str(row[1]), int(row[2]), str(row[3])) if row else None


def table(conn: sqlite3.Connection, schema: str, name: str) -> TableInfo | None:
    row = table_row(conn, schema, name)
    return _table(*row) if row else None


def tables(conn: sqlite3.Connection, with_foreign_keys: bool = False) -> list[TableInfo]:
    """Every user table; ``with_foreign_keys``: only those that may declare a FOREIGN KEY (a text prefilter on the
    stored JSON, so a DML statement's foreign-key check does not decode every table's description)."""
    where = " WHERE info LIKE '%FOREIGN KEY%'" if with_foreign_keys else ""
    return [_table(*r) for r in conn.execute(f"SELECT schema_name, name, object_id, info FROM {META}{where} ORDER BY object_id")]


def register(conn: sqlite3.Connection, info: TableInfo) -> None:
    conn.execute(f"INSERT INTO {META} VALUES (?, ?, ?, ?)", (info.schema, info.name, info.object_id, info.to_json()))


def unregister(conn: sqlite3.Connection, info: TableInfo) -> None:
    conn.execute(f"DELETE FROM {META} WHERE schema_name = ? AND name = ?", (info.schema, info.name))


def next_object_id(conn: sqlite3.Connection) -> int:
    (top,) = conn.execute(f"SELECT COALESCE(MAX(object_id), 245575856) FROM {META}").fetchone()
    return int(top) + 16003  # object ids look like SQL Server's: large, sparse

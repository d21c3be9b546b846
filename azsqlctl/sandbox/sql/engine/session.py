"""One TDS session's SQL side: its statements, transactions, options and user-table connection.

A batch is split into statements (``batch``), each routed by what it is: the security
DDL ``grant`` emits goes to the hand-written ``ddl`` parser against the state; BEGIN/
COMMIT/ROLLBACK/SAVE TRAN and SET options are handled here; everything else is parsed
by sqlglot's T-SQL dialect and, for queries and DML, translated to SQLite
(``translate``) after the caller's permissions are checked (``permissions``).

A database's user tables and its security state (users, roles, members, permissions, schemas:
one row in the same SQLite file, ``storage``) are one store, isolated by one lock table per
database (``locks``, which says why). User tables change through SQLite transactions that last
one statement, with table locks held until the transaction ends and an undo log (``undo``) for
rollback; DDL holds SQLite's transaction (and the schema lock) from its statement to the
transaction's end. The security state changes through a working copy taken under the database's
security lock, held until the transaction ends -- so concurrent grants never overwrite each
other. COMMIT writes the working copy in the same SQLite transaction that forgets the undo log
(an autocommit security statement: in its own), so data and security become durable together
or not at all: a failure there rolls the whole transaction back (40197, the client retries), as
does a version of the row moved since the copy was taken (a second sandbox process on the same
files, whose lock table is its own). Why one row beside the data rather than the state file:
two stores cannot commit atomically, and a crash between their writes left data committed and
security not (or the reverse). ROLLBACK TRAN to a savepoint restores the copy as it was then.
Other sessions read only the committed row (READ COMMITTED); ``security_version`` names the
committed version a session's view is (a plan cache's key). Outside a transaction each
statement commits on its own (autocommit), and every statement is atomic, as in SQL Server.
Errors end the statement or the batch as SQL Server's do (``errors.STATEMENT_LEVEL``); with
XACT_ABORT ON any error rolls back, and a deadlock victim (1205) loses its whole transaction.

This module keeps the session itself: its state, transactions, batch loop, statement routing
and SQLite access. What each kind of statement does lives beside it, as functions that take
the session: ``queries`` (SELECT, variables), ``dml`` (INSERT/UPDATE/DELETE), ``table_ddl``
and ``schema_ddl`` (CREATE/ALTER/DROP), with ``functions`` (the ``az_*`` SQLite functions)
and ``results`` (``StatementResult``: typed, the wire is sql/tds's). Those functions use the
session's public helpers (``exec_sqlite``, ``translator``, ``require`` ...).
"""

from __future__ import annotations

import copy
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from sqlglot import exp

from ...internal_errors import log_internal
from ...state import Database, SandboxState, with_security
from ...store import StateStore
from ..catalog import relations as catalog
from ..catalog.model import CatalogContext, View
from ..catalog.security_views import Caller, principal_ids
from ..security import permissions
from ..session_context import SessionContext
from ..sqltypes import Param, SqlType, TypeSpec
from . import (
    alter_ddl,
    applock,
    batch,
    connect,
    dml,
    errors,
    functions,
    lexer,
    ownership,
    plans,
    queries,
    schema_ddl,
    storage,
    table_ddl,
    translate,
    types,
    views,
)
from . import principal_ddl as ddl
from .alter_ddl import alter_command, create_index, drop_index
from .errors import SqlError
from .locks import LockManager, Mode, Owner, Resource, Scope
from .procedures import execute_procedure
from .results import CMD_BEGIN_TRAN, CMD_DDL, CMD_END_TRAN, ErrorMessage, Message, StatementResult, TransactionChange, TransactionEvent
from .sqlite_schema import unique_violated
from .storage import KeyInfo, Storage, TableInfo, quote
from .table_variables import drop_all, is_variable
from .undo import UndoLog, committed_view, recover

log = logging.getLogger("azsqlctl.sandbox.sql")

_STATEMENT_ONLY_UNSUPPORTED = frozenset({"DECLARE", "PRINT", "RETURN", "RAISERROR", "THROW", "WAITFOR", "DBCC", "MERGE"})
_BUSY_WAIT = 30.0  # seconds a statement waits for SQLite's write lock (held for one statement at a time: milliseconds)
_SCHEMA: Resource = ("schema", "")
_SECURITY: Resource = storage.SECURITY_LOCK
_DIRTY_READ_HINTS = frozenset({"NOLOCK", "READUNCOMMITTED"})
# SQL Server runs a WHILE for as long as its condition holds; the sandbox stops a loop that runs this many times
# and says so (40517), rather than hang a test run on a condition that never turns false.
_MAX_ITERATIONS = 100_000
_BLOCK_NOT = frozenset({"TRAN", "TRANSACTION", "DISTRIBUTED", "WORK"})  # BEGIN TRAN ...: a transaction, not a block


class _Overtaken(Exception):
    """At COMMIT: the committed security state is no longer the one the working copy was taken from."""


class _Flow(Enum):
    """How a statement (or a block) ended, for the block around it."""

    NEXT = "next"  # go on with the next statement
    STOP = "stop"  # an error ended the batch
    BREAK = "break"
    CONTINUE = "continue"


@dataclass
class _Run:
    """One batch's (or sp_executesql's) run: its text (for error line numbers), variables and results so far."""

    sql: str
    params: dict[str, Param]
    pieces: list[StatementResult] = field(default_factory=list)
    ok: bool = True
    loops: int = 0  # WHILE loops around the running statement (BREAK/CONTINUE outside one: 135/136)


class SqlSession:
    def __init__(self, store: StateStore, storage_: Storage, server: str, tran_id: Callable[[], bytes], ctx: SessionContext) -> None:
        self.store, self.storage, self.server, self.tran_id, self.ctx = store, storage_, server, tran_id, ctx
        self.conn = storage_.connect(ctx.database, recover=recover)
        self.locks: LockManager = storage_.locks(ctx.database)
        self.plans = plans.cache(storage_, ctx.database)  # translated SELECTs by text, shared by the database's sessions
        self.writer = storage_.writer(ctx.database)
        self._writing = False  # this session holds ``writer`` (SQLite's write transaction is open)
        self._deferred: list[str] | None = None  # a DML statement's write transaction, not opened yet: the tables to log
        self.owner = Owner(ctx.spid)
        self.trancount = 0  # @@TRANCOUNT
        self.undo = UndoLog(self.conn, lambda: self.trancount > 0)
        self._views: list[str] = []  # TEMP VIEWs showing other transactions' tables as committed, for one statement
        self.lock_timeout = -1  # SET LOCK_TIMEOUT: -1 waits for ever (the default), 0 never waits, n milliseconds
        self._savepoints: dict[str, int] = {}  # SAVE TRANSACTION name -> the undo log's position then
        self._security_savepoints: dict[str, Database | None] = {}  # ... and the security working copy then
        functions.register(self)
        self.work: Database | None = None  # the database's security state while it has uncommitted changes
        self._work_version = 0  # the committed version ``work`` was copied from
        self._failed_commit: TransactionChange | None = None  # the rollback a failed COMMIT ended its transaction with
        self.nocount = False
        self.xact_abort = False
        self.isolation = "READ COMMITTED"
        self.identity: int | None = None
        self.rowcount = 0
        self.pending_error: SqlError | None = None
        self._snapshot: Database | None = None  # the committed security state, as last read
        self._snapshot_version = 0  # its version (0: none)
        self._snapshot_fresh = False  # read by the running statement (each statement reads what is committed then)
        self._version_seen: int | None = None  # the committed version a query of the running statement read (0: none)
        self._schema_stable = False  # the running statement holds its Sch-S lock (enter)
        # The running statement's user tables as looked up (translation, permission checks and committed-row views
        # each ask): one SQLite query per table per statement. Each lookup releases and retakes the GIL, which under
        # many sessions costs more than the query itself. Only queries and DML remember (they never change a table's
        # description; SELECT ... INTO, DDL and procedures such as sp_rename look up every time); cleared per statement.
        self._infos: dict[tuple[str, str], TableInfo] = {}
        self._remember_tables = False
        self.last_unique: KeyInfo | None = None
        self._last_word = ""  # the running statement's last token, for 102 on a statement that ends too soon
        self.aliases: set[str] = set()  # the running query's table names and aliases, for 207 vs 4104
        self.table_variables: dict[str, TableInfo] = {}  # the running batch's DECLARE @t TABLE, by '@t'

    # --- the session's view of the state -------------------------------------------------------

    @property
    def user(self) -> str:
        return str(self.ctx.extra.get("user", ""))

    def caller(self) -> Caller:
        return Caller(self.ctx.principal, self.user, self.ctx.database, self.ctx.spid)

    def db(self) -> Database | None:
        """The database's security state as this session sees it: its own uncommitted changes, else the last committed
        (read once per statement, decoded again only when another transaction has committed a change)."""
        if self.work is not None:
            return self.work
        if not self._snapshot_fresh:
            self._committed()
            self._snapshot_fresh = True
        return self._snapshot

    def security_version(self) -> int | None:
        """The version of the committed security state this session sees (it grows with every committed change); None
        while the session has uncommitted security changes of its own (its view is its own then)."""
        if self.work is not None:
            return None
        self.db()
        return self._snapshot_version

    def security_version_seen(self, version: int) -> None:
        """The running statement has just read the committed security state's version (0: there is none) along with
        what it read anyway (a cached plan's probe): db() then reads the state itself only if that version moved."""
        self._version_seen = version

    def _committed(self) -> Database | None:
        """Read the committed security state into the snapshot (decoded again only when its version moved)."""
        exists = self.store.read(lambda s: s.server.database(self.ctx.database) is not None)
        known = self._snapshot_version if self._snapshot is not None else 0
        seen, self._version_seen = self._version_seen, None
        found: tuple[int, dict[str, Any] | None] | None
        if not exists:
            found = None  # master, or a database deleted since
        elif seen is not None and seen == known and known:
            found = (known, None)  # the snapshot is of the committed version: nothing to read
        else:
            found = storage.read_security(self.conn, known)
        if found is None:
            self._snapshot, self._snapshot_version = None, 0
        elif found[1] is not None:
            self._snapshot, self._snapshot_version = with_security(Database(self.ctx.database), found[1]), found[0]
        return self._snapshot

    def mutable_db(self, s: SandboxState) -> Database:
        if self.work is None:
            committed = self._committed() if s.server.database(self.ctx.database) is not None else None
            if committed is None:
                raise SqlError(40508, "USE statement is not supported to switch between databases.")
            self.work = copy.deepcopy(committed)  # taken under the security lock: from what the last writer committed
            self._work_version = self._snapshot_version
        return self.work

    def _lock_security(self) -> None:
        """Before changing the security state: its lock, until the transaction (or, outside one, the statement) ends.

        The working copy is taken under the lock, so it starts from what the last writer committed."""
        self.lock(_SECURITY, Mode.X, Scope.TRANSACTION if self.trancount else Scope.STATEMENT)

    def _commit_writes(self) -> None:
        """Make the transaction durable in one SQLite transaction: the security working copy, if any, and the data (the
        undo log forgotten: DDL's open transaction, or one opened for this). Raises with nothing committed; the caller
        then rolls the transaction back."""
        if not self.conn.in_transaction and (self.undo.pending() or self.work is not None):
            self._write_begin()
        if self.conn.in_transaction:
            if self.work is not None:
                # The security lock orders this sandbox's writers; a second sandbox process on the same files has its
                # own: a version moved since the copy was taken is its commit, which this one must not overwrite.
                found = storage.read_security(self.conn, self._work_version)
                if found is None or found[0] != self._work_version:
                    raise _Overtaken("another sandbox process committed a change to the security state meanwhile")
                storage.write_security(self.conn, self.work)
            self.undo.forget()
            self._write_end("COMMIT")
        self.undo.clear()
        self.work = None

    def _commit_or_roll_back(self) -> None:
        """_commit_writes; when that fails, the whole transaction rolls back (nothing of it stays) and the client gets
        Azure's answer to a failure of its own (40197, which clients retry), the cause logged once."""
        try:
            self._commit_writes()
        except Exception as exc:  # noqa: BLE001 - any failure to commit is the service's, reported as Azure reports it
            if isinstance(exc, _Overtaken):
                log.warning("database %s: %s; the transaction was rolled back", self.ctx.database, exc)
                code = 0
            else:
                code = log_internal(log, "sandbox SQL commit", exc)
            exc.__traceback__ = None
            self._failed_commit = self.rollback()
            text = f"The service has encountered an error processing your request. Please try again. Error code {code}."
            raise SqlError(40197, text, 17) from None

    def take_failed_commit(self) -> TransactionChange | None:
        """The rollback a failed COMMIT ended its transaction with (once): the client must learn its transaction ended."""
        change, self._failed_commit = self._failed_commit, None
        return change

    # --- transactions -----------------------------------------------------------------------------

    def begin(self) -> TransactionChange | None:
        if self.trancount:
            self.trancount += 1
            return None
        # Nothing is opened in SQLite: its write transaction lasts one statement (see locks), so a driver that
        # keeps a transaction open between requests (autocommit off) holds only the table locks it has used.
        # The id first: if that fails, no transaction has begun (@@TRANCOUNT stays 0).
        self.ctx.transaction = self.tran_id()
        self.trancount = 1
        return TransactionChange(TransactionEvent.BEGIN, self.ctx.transaction, b"")

    def commit(self) -> TransactionChange | None:
        if self.trancount == 0:
            raise errors.no_begin("COMMIT")
        self.trancount -= 1
        if self.trancount > 0:
            return None
        self._commit_or_roll_back()
        self._end_transaction()
        old, self.ctx.transaction = self.ctx.transaction, None
        return TransactionChange(TransactionEvent.COMMIT, b"", old or bytes(8))

    def rollback(self) -> TransactionChange | None:
        """Roll back everything: SQL Server's ROLLBACK without a savepoint name ends all nesting."""
        if self.conn.in_transaction:
            self._write_end("ROLLBACK")  # DDL and what followed it
        if self.undo.pending():  # the statements that committed to SQLite one by one, newest first
            self._write_begin()
            self.undo.undo()
            self._write_end("COMMIT")
        self.work = None
        self.trancount = 0
        self._end_transaction()
        old, self.ctx.transaction = self.ctx.transaction, None
        if old is None:
            return None
        return TransactionChange(TransactionEvent.ROLLBACK, b"", old)

    def reset(self, keep_transaction: bool = False) -> None:
        """RESETCONNECTION: roll back open work (unless the client keeps its transaction) and reset the session options."""
        if not keep_transaction:
            self.rollback()
        self.nocount = self.xact_abort = False
        self.isolation = "READ COMMITTED"
        self.lock_timeout = -1
        self.identity, self.rowcount = None, 0

    def close(self) -> None:
        self.rollback()
        self._schema_stable = False
        self.locks.release_all(self.owner, *Scope)  # session-owned application locks end with the session
        self.conn.close()

    def _end_transaction(self) -> None:
        self._savepoints.clear()
        self._security_savepoints.clear()
        self._schema_stable = False
        self.locks.release_all(self.owner, Scope.TRANSACTION, Scope.STATEMENT)

    def lock(self, resource: Resource, mode: Mode, scope: Scope, timeout_ms: int | None = None) -> bool:
        """Wait for a lock as SQL Server does: LOCK_TIMEOUT, then 1222; a deadlock cycle makes this session the victim."""
        return self.locks.acquire(self.owner, resource, mode, scope, self.lock_timeout if timeout_ms is None else timeout_ms)

    # --- batches ----------------------------------------------------------------------------------

    def run(self, sql: str, params: Sequence[Param] = ()) -> tuple[list[StatementResult], bool]:
        """A batch's (or an RPC's SQL's) results, statement by statement, and whether every statement succeeded."""
        # Parameters and the batch's DECLAREd variables: one namespace, both bound as values.
        by_name = {p.name.lstrip("@").lower(): p for p in params if p.name}
        try:
            pieces, ok = self.execute_batch(sql, by_name)
        finally:
            drop_all(self.conn, self.table_variables)
        return pieces, ok

    def execute_batch(self, sql: str, by_name: dict[str, Param]) -> tuple[list[StatementResult], bool]:
        """Run a batch (or sp_executesql's statement) statement by statement, following its IF/WHILE/BEGIN...END.

        The splitter (``batch``) gives each IF, WHILE and BEGIN...END as one statement with its parts marked; their
        inner statements run here one by one, each with its own errors, locks and row count, as SQL Server's do."""
        run = _Run(sql, by_name)
        try:
            statements = batch.split(sql)
        except lexer.LexError:
            statements = []
            rest = sql[sql.rfind("'") + 1 :] if "'" in sql else sql
            run.pieces.append(StatementResult(error=_error_message(errors.unclosed_quote(rest), 1)))
            run.ok = False
        self._run_all(run, statements)
        return run.pieces, run.ok

    def _run_all(self, run: _Run, statements: list[batch.Statement]) -> _Flow:
        for st in statements:
            flow = self._run_one(run, st)
            if flow is not _Flow.NEXT:
                return flow
        return _Flow.NEXT

    def _run_one(self, run: _Run, st: batch.Statement) -> _Flow:
        first = st.first
        if first == "IF":
            verdict = self._test(run, st)
            if verdict is None:
                return _Flow.STOP
            if not verdict:
                return self._run_all(run, _inner(run.sql, st.toks[st.orelse :] if st.orelse else []))
            return self._run_all(run, _inner(run.sql, st.toks[st.body : st.orelse - 1 if st.orelse else len(st.toks)]))  # up to ELSE
        if first == "WHILE":
            body = _inner(run.sql, st.toks[st.body :]) if 1 < st.body < len(st.toks) else []
            run.loops += 1
            try:
                for _ in range(_MAX_ITERATIONS):
                    verdict = self._test(run, st)
                    if verdict is None:
                        return _Flow.STOP
                    if not verdict:
                        return _Flow.NEXT
                    flow = self._run_all(run, body)
                    if flow is _Flow.STOP:
                        return flow
                    if flow is _Flow.BREAK:
                        return _Flow.NEXT
            finally:
                run.loops -= 1
            return self._guarded(run, st, lambda: _refuse(errors.unsupported(f"WHILE loop of more than {_MAX_ITERATIONS} iterations")))
        if first == "BEGIN" and not (len(st.toks) > 1 and st.toks[1].is_word(*_BLOCK_NOT)):
            if len(st.toks) > 1 and st.toks[1].is_word("TRY"):
                return self._guarded(run, st, lambda: _refuse(errors.unsupported("BEGIN TRY")))
            if not st.toks[-1].is_word("END") or len(st.toks) < 2:
                return self._guarded(run, st, lambda: _refuse(errors.syntax(st.toks[-1].text)))
            return self._run_all(run, _inner(run.sql, st.toks[1:-1]))
        if first in ("END", "ELSE"):  # a block's end or an ELSE with nothing open before it
            return self._guarded(run, st, lambda: _refuse(errors.syntax(st.toks[0].text)))
        if first in ("BREAK", "CONTINUE") and len(st.toks) == 1:
            if run.loops:
                return _Flow.BREAK if first == "BREAK" else _Flow.CONTINUE
            number = 135 if first == "BREAK" else 136
            message = f"Cannot use a {first} statement outside the scope of a WHILE statement."
            return self._guarded(run, st, lambda: _refuse(SqlError(number, message, 15)))
        return self._guarded(run, st, lambda: self._statement(st, run.params))

    def _test(self, run: _Run, st: batch.Statement) -> bool | None:
        """An IF or WHILE condition: true, or false (and unknown, as in SQL Server); None when it failed and the
        batch ends (a statement-level error makes it false)."""
        verdicts: list[bool] = []

        def test() -> list[StatementResult]:
            if st.body <= 1 or st.body >= len(st.toks):
                raise errors.syntax(st.toks[-1].text)
            base = st.toks[0].start
            condition = st.text[st.toks[1].start - base : st.toks[st.body - 1].end - base]
            tree = translate.parse(f"SELECT CASE WHEN {condition} THEN 1 ELSE 0 END")
            self._lock_reads(tree)
            piece = queries.query(self, tree, run.params)
            verdicts.append(bool(piece.result is not None and piece.result.rows and piece.result.rows[0][0] == 1))
            return []

        if self._guarded(run, st, test) is _Flow.STOP:
            return None
        return bool(verdicts and verdicts[0])

    def _guarded(self, run: _Run, st: batch.Statement, fn: Callable[[], list[StatementResult]]) -> _Flow:
        """One statement: its pieces, or its error (which ends the statement or the batch, as SQL Server's do);
        then the statement's locks and committed-row views go, and outside a transaction its changes commit."""
        self._snapshot_fresh = False
        self._version_seen = None
        self._failed_commit = None
        self._infos.clear()
        self._remember_tables = False
        self._last_word = st.toks[-1].text if st.toks else st.text.strip()
        try:
            done = fn()
            if self.trancount == 0:
                self._commit_or_roll_back()  # autocommit: the statement's security changes, if any
            if self.nocount:  # as NOCOUNT was when the statement ran: SET NOCOUNT OFF later does not count it
                done = [replace(p, rowcount=None) for p in done]
            run.pieces.extend(done)
        except Exception as caught:  # noqa: BLE001 - an unforeseen failure is an error for this statement, not a dropped connection
            if self.trancount == 0:
                self.work = None  # autocommit: a failed statement changes nothing
            err = caught if isinstance(caught, SqlError | ddl.DdlError) else _internal(caught, st.text)
            # Its traceback holds this frame, which holds ``err``: a cycle keeping the batch until the cyclic collector ran.
            caught.__traceback__ = None
            run.ok = False
            self.pending_error = None
            # A deadlock victim's transaction is rolled back (1205), and with XACT_ABORT ON any error's.
            change = self.rollback() if (self.xact_abort or err.number == 1205) and self.trancount else None
            failed = self.take_failed_commit()
            change = change or failed  # the client learns its transaction ended
            line = run.sql.count("\n", 0, st.toks[0].start) + 1
            run.pieces.append(StatementResult(events=_events(change), error=_error_message(err, line)))
            if self.xact_abort or err.number not in errors.STATEMENT_LEVEL:
                return _Flow.STOP
        finally:
            self._drop_views()
            self._schema_stable = False
            self.locks.release_all(self.owner, Scope.STATEMENT, *((Scope.TRANSACTION,) if self.trancount == 0 else ()))
        return _Flow.NEXT

    def _statement(self, st: batch.Statement, params: dict[str, Param]) -> list[StatementResult]:
        first = st.first
        # A SELECT is none of the statements below but the last ones: its cached plan first, the hot path of every ORM.
        if first == "SELECT" and (cached := queries.run_plan(self, st.text, params)) is not None:
            return [cached]
        words = [t.text.upper() for t in st.toks if t.kind == "word"]
        if first in ("EXEC", "EXECUTE"):
            if applock.procedure(st.toks):
                return [applock.execute(self, st.toks, params)]
            return execute_procedure(self, st, params)
        if first in ("BEGIN", "COMMIT", "ROLLBACK", "SAVE"):
            return [self._transaction_statement(first, words)]
        if first == "SET" and len(st.toks) > 1 and st.toks[1].text.startswith("@") and not st.toks[1].text.startswith("@@"):
            return [queries.set_variable(self, st.text, params)]
        if first == "DECLARE":
            return [queries.declare(self, st.text, params)]
        if first == "PRINT":
            query = translate.parse("SELECT " + st.text[st.toks[1].start - st.toks[0].start :]) if len(st.toks) > 1 else None
            if not isinstance(query, exp.Select) or len(query.expressions) != 1 or query.args.get("from_") or query.args.get("where"):
                raise errors.syntax(st.toks[1].text if len(st.toks) > 1 else "PRINT")
            value, source = queries.evaluate(self, query.expressions[0], params)
            text = "" if value is None else types.convert(types.storage(value), TypeSpec(SqlType.NVARCHAR, 8000), types.type_name(source))
            return [StatementResult(events=(Message(0, 1, str(text)),))]
        if first == "SET":
            self._set(words[1:], st.toks)
            return [StatementResult()]
        if first == "USE":
            if len(st.toks) == 2 and st.toks[1].name.lower() == self.ctx.database.lower():
                return [StatementResult()]
            raise errors.use_database()
        if first == "ALTER" and len(st.toks) > 1 and st.toks[1].is_word("AUTHORIZATION"):
            return [self._alter_authorization(st.toks)]
        if first == "CREATE" and len(st.toks) > 1 and st.toks[1].is_word("SCHEMA"):
            self._lock_security()
            return [schema_ddl.create_schema(self, st.toks)]
        if _is_security_ddl(st.toks):
            self._lock_security()
            owns = lambda name: ownership.owns_objects(self.conn, name)  # noqa: E731 - DROP USER/ROLE asks it
            self.store.read(lambda s: ddl.execute(st.toks, lambda: self.mutable_db(s), s, self.user, owns))
            return [StatementResult(command=CMD_DDL)]
        if first in _STATEMENT_ONLY_UNSUPPORTED:
            raise errors.unsupported(first)
        text = st.text
        if first == "DELETE" and len(st.toks) > 2 and st.toks[1].is_word("FROM") and any(t.is_word("OUTPUT") for t in st.toks):
            # sqlglot reads DELETE t OUTPUT ... WHERE but not DELETE FROM t OUTPUT ... WHERE; FROM is optional in T-SQL.
            base = st.toks[0].start
            text = text[: st.toks[1].start - base] + text[st.toks[1].end - base :]
            tree = translate.parse(text)
        else:
            tree = st.parse()  # the splitter's parse, when it made one: the statement is parsed once
        self._remember_tables = isinstance(
            tree, exp.Select | exp.SetOperation | exp.Subquery | exp.Insert | exp.Update | exp.Delete
        ) and not any(s.args.get("into") for s in tree.find_all(exp.Select))
        self._lock_reads(tree)
        if isinstance(tree, exp.Select | exp.SetOperation | exp.Subquery):
            return [queries.query(self, tree, params, plan_text=text if first == "SELECT" else None)]
        if isinstance(tree, exp.Insert | exp.Update | exp.Delete) and _changes_table_variable(tree):
            return [self._private(lambda: _DML[type(tree)](self, tree, params))]
        if isinstance(tree, exp.Insert):
            return [self.atomic(lambda: dml.insert(self, tree, params), writes=_targets(tree), insert_only=not _output_into(tree))]
        if isinstance(tree, exp.Update):
            return [self.atomic(lambda: dml.update(self, tree, params), writes=_targets(tree))]
        if isinstance(tree, exp.Delete):
            return [self.atomic(lambda: dml.delete(self, tree, params), writes=_targets(tree))]
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
            return [self.atomic(lambda: table_ddl.create_table(self, tree))]
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "TABLE":
            self.lock_tables_for_ddl(tree)
            return [self.atomic(lambda: table_ddl.drop_table(self, tree))]
        if isinstance(tree, exp.Alter) and str(tree.args.get("kind", "")).upper() == "TABLE":
            self.lock_tables_for_ddl(tree)
            return [self.atomic(lambda: alter_ddl.alter_table(self, table_ddl.altered(self, tree.this), tree))]
        if isinstance(tree, exp.TruncateTable):
            self.lock_tables_for_ddl(tree)
            return [self.atomic(lambda: table_ddl.truncate(self, tree))]
        if isinstance(tree, exp.Create | exp.Alter) and str(tree.args.get("kind", "")).upper() == "VIEW":
            return [self.atomic(lambda: views.create(self, tree, text, lambda q: queries.query(self, q, params)))]
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "VIEW":
            return [self.atomic(lambda: views.drop(self, tree))]
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper().endswith("INDEX"):
            self.lock_tables_for_ddl(tree)
            return [self.atomic(lambda: create_index(self, tree))]
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "INDEX":
            self.lock_tables_for_ddl(tree)
            return [self.atomic(lambda: drop_index(self, tree))]
        if isinstance(tree, exp.Command) and first == "ALTER" and len(st.toks) > 1 and st.toks[1].is_word("TABLE"):
            self._lock_table_named(st.toks[2:])
            return [self.atomic(lambda: alter_command(self, text))]
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "SCHEMA":
            self._lock_security()
            return [schema_ddl.drop_schema(self, tree)]
        kind = str(tree.args.get("kind") or "").upper()
        raise errors.unsupported(f"{first} {kind}".strip() if kind else first)

    def _alter_authorization(self, toks: list[lexer.Tok]) -> StatementResult:
        """ALTER AUTHORIZATION ON SCHEMA:: (the security state, under its lock) or ON [OBJECT::] (the object's owner row in
        SQLite, as DDL: the table's lock, then the schema lock and SQLite's transaction until the transaction ends)."""
        kind, parts, owner = ownership.parse(toks)
        if kind == "SCHEMA":
            if len(parts) != 1:
                raise errors.syntax(".")
            self._lock_security()
            self.store.read(lambda s: ownership.alter_schema(self.mutable_db(s), self.user, parts[0], owner))
            return StatementResult(command=CMD_DDL)
        if kind != "OBJECT":
            raise errors.unsupported(f"ALTER AUTHORIZATION ON {kind}::")
        if len(parts) > 2:  # SQL Server does not resolve a database-qualified name here, even the current database's
            raise ownership.not_found("object", parts[-1])
        schema, name = (parts[0], parts[1]) if len(parts) == 2 else ("dbo", parts[0])
        self.lock_tables_for_ddl(exp.Table(this=exp.to_identifier(name), db=exp.to_identifier(schema)))

        def change() -> StatementResult:
            db = self.db()
            info = self.table_info(schema, name)
            view = views.find(self.conn, schema, name) if info is None else None
            found = (info.schema, info.object_id) if info is not None else (view.schema, view.object_id) if view is not None else None
            if db is None or found is None or name.startswith("#"):
                raise ownership.not_found("object", name)
            ownership.alter_object(db, self.conn, self.user, found[0], found[1], name, owner)
            return StatementResult(command=CMD_DDL)

        return self.atomic(change)

    def enter(self, write: bool) -> None:
        """A statement is about to touch user tables: schema stability (Sch-S) for the statement, so DDL in another
        session's open transaction is waited for (LOCK_TIMEOUT) rather than met as SQLite's busy error.

        Reads see the last committed data (READ COMMITTED): SQLite's read transaction lasts one statement."""
        del write  # reads and writes alike; a writer's table locks are taken by _atomic
        if self._schema_stable:
            return  # this statement holds it already (a cached plan takes it before its probe, then reads)
        self.lock(_SCHEMA, Mode.SCH_S, Scope.STATEMENT)
        self._schema_stable = True

    def _lock_reads(self, tree: exp.Expression) -> None:
        """Reads see committed rows (READ_COMMITTED_SNAPSHOT, Azure SQL Database's default): for each user table another
        transaction may be changing, a TEMP VIEW of it as committed, for this statement (none under NOLOCK or READ
        UNCOMMITTED, which read what is there; none for a table this session itself is changing)."""
        self._drop_views()
        tables = [t for t in tree.find_all(exp.Table) if t.name]
        if not tables:
            return
        if isinstance(tree, exp.Select | exp.SetOperation | exp.Subquery | exp.Insert | exp.Update | exp.Delete) and any(
            self.table_info(t.db or "dbo", t.name) is None for t in tables if _table_key(t) is not None
        ):
            probe = tree.copy()  # a view reads its tables: they need committed-row views too
            views.expand(self, probe)
            tables = [t for t in probe.find_all(exp.Table) if t.name]
        if not isinstance(tree, exp.Select | exp.SetOperation | exp.Subquery | exp.Insert | exp.Update | exp.Delete):
            self.enter(write=False)
            return  # DDL and the rest: they name tables, they do not read rows
        self.read_committed(self.snapshot_keys(tree, tables))

    def snapshot_keys(self, tree: exp.Expression, tables: list[exp.Table] | None = None) -> list[str]:
        """The user tables a query or DML statement reads as committed: those it names (``tables``: as found after
        expanding views) but does not change, except CTE names and tables read WITH (NOLOCK)/(READUNCOMMITTED)."""
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        written = set(_targets(tree))
        keys: list[str] = []
        for t in tree.find_all(exp.Table) if tables is None else tables:
            if not t.name:
                continue
            hints = {h.name.upper() for w in t.args.get("hints") or [] for h in ([w] if not w.expressions else w.expressions)}
            key = _table_key(t)
            if key is None or key in written or key in keys or t.name.lower() in ctes or hints & _DIRTY_READ_HINTS:
                continue
            keys.append(key)
        return keys

    def read_committed(self, keys: Sequence[str]) -> None:
        """Schema stability for the statement, and a committed-row view of each of these tables another transaction
        may be changing (none under READ UNCOMMITTED; none for a table this session holds X on)."""
        self.enter(write=False)
        if self.isolation == "READ UNCOMMITTED":
            return
        for key in keys:
            if key in self._views:
                continue
            if self.locks.held(self.owner, ("table", key)) == Mode.X:
                continue  # nobody else has uncommitted changes here (an inserter's IX still needs the view)
            view = committed_view(self.conn, key, self.undo.owner)
            if view is not None:
                self.conn.execute(f"CREATE TEMP VIEW {quote(key)} AS {view}")
                self._views.append(key)

    def lock_tables_for_ddl(self, tree: exp.Expression) -> None:
        """DROP/ALTER/TRUNCATE TABLE wait for transactions that changed the table (their X or IX locks), as Sch-M would."""
        scope = Scope.TRANSACTION if self.trancount else Scope.STATEMENT
        for table in tree.find_all(exp.Table):
            if (key := _table_key(table)) is not None:
                self.lock(("table", key), Mode.X, scope)

    def _lock_table_named(self, toks: Sequence[lexer.Tok]) -> None:
        """ALTER TABLE [schema.]name ... that sqlglot leaves unparsed: the named table's lock, as _lock_tables_for_ddl."""
        parts = [toks[0].name] if toks else []
        if len(toks) > 2 and toks[1].text == ".":
            parts.append(toks[2].name)
        if parts:
            table = exp.Table(this=exp.to_identifier(parts[-1]), db=exp.to_identifier(parts[0]) if len(parts) == 2 else None)
            self.lock_tables_for_ddl(table)

    def _private(self, fn: Callable[[], StatementResult]) -> StatementResult:
        """DML on a table variable: the batch's own TEMP table, which no other session sees and no ROLLBACK undoes (as
        in SQL Server), so no table lock and no undo log; a savepoint keeps the statement whole."""
        self.enter(write=False)
        self.conn.execute("SAVEPOINT az_private")
        try:
            piece = fn()
        except BaseException:
            self.conn.execute("ROLLBACK TO az_private")
            self.conn.execute("RELEASE az_private")
            raise
        self.conn.execute("RELEASE az_private")
        return piece

    def _drop_views(self, only: Sequence[str] | None = None) -> None:
        """Drop this statement's committed-row views (``only``: those of these tables)."""
        for key in [k for k in self._views if only is None or k in only]:
            self.conn.execute(f"DROP VIEW IF EXISTS temp.{quote(key)}")
            self._views.remove(key)

    def _write_begin(self) -> None:
        """Open SQLite's write transaction. Sessions of this sandbox queue on the database's writer mutex (fair, no
        polling; held for one statement, or from DDL to the transaction's end); another process's writer is waited
        out through SQLite's busy timeout."""
        if not self.writer.acquire(timeout=_BUSY_WAIT):
            raise errors.lock_timeout()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self.writer.release()
            raise self._map_error(str(exc), "INSERT", None) from None
        self._writing = True

    def _writes_open(self) -> bool:
        """Whether the statement's first write opened SQLite's transaction (see _exec)."""
        return self.conn.in_transaction

    def _write_end(self, verb: str) -> None:
        """COMMIT or ROLLBACK SQLite's transaction and let the next writer in."""
        try:
            self.conn.execute(verb)
        finally:
            if not self.conn.in_transaction and self._writing:
                self._writing = False
                self.writer.release()

    def atomic(self, fn: Callable[[], StatementResult], writes: Sequence[str] | None = None, insert_only: bool = False) -> StatementResult:
        """A statement's changes apply whole or not at all; outside a transaction it commits at once.

        ``writes``: the tables (``schema.name``) a DML statement changes; they stay exclusively locked until the
        transaction ends, and their before-images go to the undo log. None: DDL, which takes the schema lock
        (Sch-M) and SQLite's transaction until the transaction ends (SQLite undoes DDL, not the undo log).
        ``insert_only``: an INSERT takes an intent-exclusive lock (IX): inserters of one table do not wait for each
        other (their rows are distinct; each undoes only its own), UPDATE/DELETE (X) wait for them and they for it."""
        in_transaction = bool(self.trancount)
        scope = Scope.TRANSACTION if in_transaction else Scope.STATEMENT
        if writes is not None and not writes:
            writes = None  # a DML statement whose target was not recognised: SQLite's own transaction keeps it undoable
        if writes is None:
            self.lock(_SCHEMA, Mode.SCH_M, scope)
        else:
            self.enter(write=True)
            writes = [*writes] if insert_only else [*writes, *self._cascades(writes)]
            for key in writes:
                self.lock(("table", key), Mode.IX if insert_only else Mode.X, scope)
        self._drop_views(writes)  # a view of a table this statement writes (DDL: of any) would stand in its way
        logged = writes if writes is not None and in_transaction else []
        if not self.conn.in_transaction:
            if writes is None:
                self._write_begin()
            else:  # DML: SQLite's write transaction opens at its first write (_exec), after the translation work
                self._deferred = list(logged)
            try:
                piece = fn()
            except BaseException:
                self._deferred = None
                if self._writes_open():
                    self._write_end("ROLLBACK")
                raise
            self._deferred = None
            if writes is None and in_transaction:
                return piece  # DDL: SQLite's transaction stays open until COMMIT/ROLLBACK TRANSACTION
            if self._writes_open():
                self._write_end("COMMIT")
            return piece
        self.conn.execute("SAVEPOINT az_statement")
        try:
            for key in logged:
                self.undo.track(key)
            piece = fn()
        except BaseException:
            self.conn.execute("ROLLBACK TO az_statement")
            self.conn.execute("RELEASE az_statement")
            raise
        self.conn.execute("RELEASE az_statement")
        return piece

    def _cascades(self, writes: Sequence[str]) -> list[str]:
        """Tables whose foreign keys reference ``writes``: a cascading action may change them too."""
        low = {w.lower() for w in writes}
        return [t.key.lower() for t in storage.tables(self.conn) for k in t.keys if k.kind == "FOREIGN KEY" and k.ref_key.lower() in low]

    def _transaction_statement(self, first: str, words: list[str]) -> StatementResult:
        rest = words[1:]
        tran = rest[:1] in (["TRAN"], ["TRANSACTION"], ["WORK"])
        if first == "BEGIN":
            if not tran:
                raise errors.unsupported("BEGIN ... END" if not rest or rest[0] != "DISTRIBUTED" else "BEGIN DISTRIBUTED TRANSACTION")
            return StatementResult(events=_events(self.begin()), command=CMD_BEGIN_TRAN)
        if first == "SAVE":
            if not tran or len(rest) != 2:
                raise errors.syntax(first)
            if self.trancount == 0:
                raise SqlError(628, "Cannot issue SAVE TRANSACTION when there is no active transaction.")
            name = rest[1].lower()
            self._savepoints[name] = self.undo.mark()
            self._security_savepoints[name] = copy.deepcopy(self.work)
            if self.conn.in_transaction:  # after DDL: SQLite holds the transaction, and takes the savepoint too
                self.conn.execute(f"SAVEPOINT {quote('sp_' + name)}")
            return StatementResult(command=CMD_BEGIN_TRAN)
        if first == "COMMIT":
            return StatementResult(events=_events(self.commit()), command=CMD_END_TRAN)
        if tran and len(rest) == 2 and self.trancount and rest[1].lower() in self._savepoints:  # ROLLBACK TRAN <savepoint>
            self._rollback_to(rest[1].lower())
            return StatementResult(command=CMD_END_TRAN)
        if self.trancount == 0:
            raise errors.no_begin("ROLLBACK")
        return StatementResult(events=_events(self.rollback()), command=CMD_END_TRAN)

    def _rollback_to(self, name: str) -> None:
        mark = self._savepoints[name]
        saved = self._security_savepoints[name]
        self.work = copy.deepcopy(saved)  # security changes since the savepoint go too (its lock stays, as SQL Server's do)
        if self.conn.in_transaction:
            try:
                self.conn.execute(f"ROLLBACK TO {quote('sp_' + name)}")
            except sqlite3.OperationalError:  # SQLite's transaction (DDL) began after the savepoint: all of it goes
                self._write_end("ROLLBACK")
        if self.conn.in_transaction:
            self.undo.undo(mark)
            return
        self._write_begin()
        self.undo.undo(mark)
        self._write_end("COMMIT")

    def _set(self, words: list[str], toks: list[lexer.Tok]) -> None:
        if words[:1] == ["LOCK_TIMEOUT"]:
            value = "".join(t.text for t in toks[2:])
            if not re.fullmatch(r"-?\d+", value) or int(value) < -1:
                raise errors.syntax(value or "LOCK_TIMEOUT")
            self.lock_timeout = int(value)
            return
        option, value = connect.parse_set(words)
        if option == "NOCOUNT":
            self.nocount = value == "ON"
        elif option == "XACT_ABORT":
            self.xact_abort = value == "ON"
        elif option == "TRANSACTION":
            self.isolation = value

    # --- SQLite --------------------------------------------------------------------------------------

    def exec_sqlite(
        self, sql: str, binds: dict[str, Any] | Sequence[Any] = (), verb: str = "INSERT", table: TableInfo | None = None
    ) -> sqlite3.Cursor:
        if self._deferred is not None and not self.conn.in_transaction and sql.lstrip()[:6].upper() not in ("SELECT", "PRAGMA"):
            logged, self._deferred = self._deferred, None
            self._write_begin()
            for key in logged:
                self.undo.track(key)
        deadline = time.monotonic() + _BUSY_WAIT
        while True:
            try:
                return self.conn.execute(sql, binds)
            except sqlite3.Error as exc:
                pending, self.pending_error = self.pending_error, None
                if pending is not None:
                    raise pending from None
                text = str(exc)
                if "locked" in text and time.monotonic() < deadline:
                    time.sleep(0.002)  # SQLite's one-writer lock, held by another session's running statement
                    continue
                raise self._map_error(text, verb, table) from None

    def fetch(self, cur: sqlite3.Cursor, verb: str = "INSERT", table: TableInfo | None = None) -> list[Any]:
        """All rows: SQLite computes them while they are fetched, so a row's error (8134, 245 ...) surfaces here."""
        try:
            return cur.fetchall()
        except sqlite3.Error as exc:
            pending, self.pending_error = self.pending_error, None
            if pending is not None:
                raise pending from None
            raise self._map_error(str(exc), verb, table) from None

    def _map_error(self, text: str, verb: str, table: TableInfo | None) -> SqlError:
        if m := re.match(r"no such column: (.+)", text):
            qualifier, _, column = m[1].replace('"', "").rpartition(".")
            if qualifier and qualifier.lower() not in self.aliases:
                return errors.multipart_unbound(m[1].replace('"', ""))
            return errors.invalid_column(column)
        if m := re.match(r"ambiguous column name: (.+)", text):
            return errors.ambiguous_column(m[1].rsplit(".", 1)[-1])
        if m := re.match(r"no such function: (.+)", text):
            return errors.unsupported(f"function {m[1].upper()}")
        if m := re.match(r"no such table: (.+)", text):
            return errors.invalid_object(m[1].removeprefix("main."))
        if m := re.match(r"NOT NULL constraint failed: (.+)\.([^.]+)$", text):
            return errors.null_into_not_null(m[2], f"{self.ctx.database}.{m[1]}", verb)
        if m := re.match(r"UNIQUE constraint failed: (.+)", text):
            key, index, columns = unique_violated(table, m[1])
            if key is None and index is not None and table is not None:  # a unique index, not a constraint: 2601
                self.last_unique = KeyInfo(index.name, "INDEX", index.columns)
                err = errors.duplicate_index_row(table.display, index.name, "")
                err.message = err.message.removesuffix(" The duplicate key value is ().")
                return err
            self.last_unique = key
            if key is None:
                key = KeyInfo("PRIMARY", "PRIMARY KEY", columns)
            # The duplicate value is filled in where the statement's rows can be evaluated (INSERT ... VALUES).
            err = errors.duplicate_key(key.kind, key.name, table.display if table else "", "")
            err.message = err.message.removesuffix(" The duplicate key value is ().")
            return err
        if (m := re.match(r"CHECK constraint failed: (.+)", text)) and table is not None:
            check = next((k for k in table.keys if k.name == m[1]), None)
            return errors.constraint_conflict(verb, "CHECK", m[1], self.ctx.database, table.display, check.columns if check else [])
        if "locked" in text or "busy" in text:
            return errors.lock_timeout()
        # sqlglot reads some malformed T-SQL leniently; SQLite then finds the syntax error.
        if m := re.match(r'near "(.+)": syntax error', text):
            return errors.syntax(m[1])
        if text == "no tables specified":
            return SqlError(263, "Must specify table to select from.")
        if text == "incomplete input":
            return errors.syntax(self._last_word)
        return errors.unsupported(f"statement the sandbox could not translate ({text})")

    # --- names, permissions, catalog -------------------------------------------------------------

    def translator(self, params: dict[str, Param]) -> translate.Translator:
        db = self.db()

        def is_member(role: str) -> int | None:
            if db is None or role.lower() not in principal_ids(db):
                return None
            return int(role.lower() in permissions.principals(db, self.user) or (role.lower() == "db_owner" and self.user == "dbo"))

        session = translate.Session(
            login=self.ctx.principal, user=self.user, database=self.ctx.database, spid=self.ctx.spid, server=self.server,
            trancount=self.trancount, identity=self.identity, rowcount=self.rowcount, is_member=is_member,
            principal_id=principal_ids(db).get(self.user.lower()) if db is not None else None,
            lock_timeout=self.lock_timeout,
        )  # fmt: skip
        return translate.Translator(session, self.table_info, catalog.view, catalog.table_function, params)

    def table_info(self, schema: str, name: str) -> TableInfo | None:
        if name.startswith("@"):
            return self.table_variables.get(name.lower())
        key = (schema.lower(), name.lower())
        found = self._infos.get(key)
        if found is None:
            found = storage.table(self.conn, schema, name)
            if found is not None and self._remember_tables:
                self._infos[key] = found
        return found

    def require(self, permission: str, info: TableInfo, owners: bool = True) -> None:
        """``owners``: False when the caller has just seen that no object has an owner of its own (a cached plan)."""
        if is_variable(info):
            return  # a table variable is the batch's own
        owner = ownership.object_owner(self.conn, info.object_id) if owners else None
        if not self._security_check(lambda db: permissions.has(db, self.user, permission, info.schema, owner)):
            raise errors.permission_denied(permission, info.name, self.ctx.database, info.schema)

    def _security_check(self, check: Callable[[Database], bool]) -> bool:
        """``check`` on the security state as db() gives it (the committed state is decoded again only when its
        version moved, so a point query's permission check copies nothing)."""
        db = self.db()
        return db is not None and check(db)

    def materialize(self, views: dict[str, View]) -> None:
        if not views:
            return
        db = self.db()
        databases = self.store.read(lambda s: [(d.name, d.available) for d in s.server.databases])
        context = CatalogContext(self.caller(), db, databases, self.conn, self.isolation, self.lock_timeout)
        for temp, view in views.items():
            if view.needs_database and db is None:
                raise errors.invalid_object(temp.removeprefix("__view."))
            rows = view.rows(context)
            self.conn.execute(f"DROP TABLE IF EXISTS temp.{quote(temp)}")
            columns = ", ".join(f"{quote(n)} {types.affinity(spec)}" for n, spec in view.columns)
            self.conn.execute(f"CREATE TEMP TABLE {quote(temp)} ({columns})")
            marks = ", ".join("?" for _ in view.columns)
            self.conn.executemany(
                f"INSERT INTO temp.{quote(temp)} VALUES ({marks})", [[types.storage(r.get(n)) for n, _ in view.columns] for r in rows]
            )


# --- helpers -------------------------------------------------------------------------------------


def _events(change: TransactionChange | None) -> tuple[TransactionChange, ...]:
    return () if change is None else (change,)


def _error_message(err: SqlError | ddl.DdlError, line: int) -> ErrorMessage:
    return ErrorMessage(err.number, getattr(err, "state", 1), err.severity, err.message, line)


def _internal(exc: Exception, statement: str) -> SqlError:
    """A statement the sandbox failed on in a way it did not foresee: an error for the client, one line in the log
    (never the SQL text, never a traceback: sandbox/internal_errors.py)."""
    del statement
    if isinstance(exc, RecursionError):  # SQL Server's own limit on nesting (parentheses, NOT, subqueries)
        return SqlError(
            191, "Some part of your SQL statement is nested too deeply. Rewrite the query or break it up into smaller queries.", 15
        )
    if isinstance(exc, UnicodeEncodeError):  # SQLite stores UTF-8, which has no unpaired surrogates
        return errors.unsupported("string with an unpaired UTF-16 surrogate")
    log_internal(log, "sandbox SQL", exc)
    return errors.unsupported(f"statement the sandbox could not execute ({type(exc).__name__})")


def _table_key(table: exp.Table) -> str | None:
    """The lock name of a user table (``schema.name``, lower-cased; dbo by default); None for sys.*, #temp, @vars."""
    schema = (table.db or "dbo").lower()
    name = table.name.lower()
    if schema in ("sys", "information_schema") or name.startswith(("#", "@")) or table.catalog:
        return None
    return f"{schema}.{name}"


def _targets(tree: exp.Expression) -> list[str]:
    """The user tables an INSERT, UPDATE or DELETE changes (its target; DELETE t FROM t JOIN ... names an alias)."""
    target = tree.this if isinstance(tree, exp.Insert | exp.Update | exp.Delete) else None
    if isinstance(tree, exp.Delete) and tree.args.get("tables"):
        target = tree.args["tables"][0]  # DELETE t2 WHERE ... / DELETE t FROM t2 AS t: the table (or alias) named first
    if isinstance(target, exp.Schema):
        target = target.this
    if not isinstance(target, exp.Table):
        return []
    if not target.db and isinstance(tree, exp.Update | exp.Delete):
        for t in tree.find_all(exp.Table):
            if t is not target and t.alias and t.alias.lower() == target.name.lower():
                target = t
                break
    key = _table_key(target)
    into = _output_into(tree)
    return [k for k in (key, _table_key(into) if into is not None else None) if k]


def _output_into(tree: exp.Expression) -> exp.Table | None:
    """OUTPUT ... INTO's table (None for none, or for a table variable)."""
    returning = tree.args.get("returning")
    into = returning.args.get("into") if isinstance(returning, exp.Expression) else None
    return into if isinstance(into, exp.Table) and _table_key(into) is not None else None


def _changes_table_variable(tree: exp.Expression) -> bool:
    """INSERT/UPDATE/DELETE whose target is a table variable (@t)."""
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    if isinstance(tree, exp.Delete) and tree.args.get("tables"):
        target = tree.args["tables"][0]
    return isinstance(target, exp.Table) and (isinstance(target.this, exp.Parameter) or target.name.startswith("@"))


_DML: dict[type[exp.Expression], Callable[[SqlSession, Any, dict[str, Param]], StatementResult]] = {
    exp.Insert: dml.insert,
    exp.Update: dml.update,
    exp.Delete: dml.delete,
}


def _is_security_ddl(toks: list[lexer.Tok]) -> bool:
    if toks and toks[0].is_word("DENY"):
        return True
    if len(toks) > 1 and toks[0].is_word("DROP") and toks[1].is_word("SCHEMA", "TABLE"):
        return False
    return ddl.is_ddl(toks)


def _inner(sql: str, toks: list[lexer.Tok]) -> list[batch.Statement]:
    """The statements of a block's or branch's tokens, split as a batch is; their offsets stay the batch's own."""
    if not toks:
        return []
    start = toks[0].start
    return [
        replace(st, toks=[replace(t, start=t.start + start, end=t.end + start) for t in st.toks])
        for st in batch.split(sql[start : toks[-1].end])
    ]


def _refuse(err: SqlError) -> list[StatementResult]:
    raise err

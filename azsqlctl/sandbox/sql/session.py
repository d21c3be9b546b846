"""One TDS session's SQL side: its statements, transactions, options and user-table connection.

A batch is split into statements (``batch``), each routed by what it is: the security
DDL ``grant`` emits goes to the hand-written ``ddl`` parser against the state; BEGIN/
COMMIT/ROLLBACK/SAVE TRAN and SET options are handled here; everything else is parsed
by sqlglot's T-SQL dialect and, for queries and DML, translated to SQLite
(``translate``) after the caller's permissions are checked (``permissions``).

Transactions span both stores: the state (users, roles, permissions, schemas) through
a working copy of the database, and the SQLite file through BEGIN/COMMIT. Outside a
transaction each statement commits on its own (autocommit), and every statement is
atomic (a SAVEPOINT), as in SQL Server. Errors end the statement or the batch as SQL
Server's do (``errors.STATEMENT_LEVEL``); with XACT_ABORT ON any error rolls back.

This module keeps the session itself: its state, transactions, batch loop, statement routing
and SQLite access. What each kind of statement does lives beside it, as functions that take
the session: ``queries`` (SELECT, variables), ``dml`` (INSERT/UPDATE/DELETE), ``table_ddl``
and ``schema_ddl`` (CREATE/ALTER/DROP), with ``functions`` (the ``az_*`` SQLite functions)
and ``results`` (``Piece``). Those functions use the session's underscored helpers
(``_exec``, ``_translator``, ``_require`` ...): private to the package, not to this file.
"""

from __future__ import annotations

import copy
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlglot import exp

from .. import ddl, lexer
from ..catalog import Caller, _ids
from ..sqltypes import Param, SqlType, TypeSpec
from ..state import Database, SandboxState
from ..store import StateStore
from ..tds import tokens as tk
from ..tds.session import SessionContext
from . import batch, catalog, connect, dml, errors, functions, permissions, queries, schema_ddl, storage, table_ddl, translate, types
from .alter_ddl import alter_command, create_index, drop_index
from .control_flow import Node, Run, has_control_flow, plan, steps
from .errors import SqlError
from .procedures import execute_procedure
from .results import CMD_DDL, Piece
from .sqlite_schema import unique_violated
from .storage import KeyInfo, Storage, TableInfo, quote
from .table_variables import drop_all, is_variable
from .views import create as create_view
from .views import drop as drop_view

log = logging.getLogger("azsqlctl.sandbox.sql")

_STATEMENT_ONLY_UNSUPPORTED = frozenset({"DECLARE", "PRINT", "RETURN", "RAISERROR", "THROW", "WAITFOR", "DBCC", "MERGE"})
_LOCK_WAIT = 5.0  # seconds a statement waits for another session's lock, then 1222


class SqlSession:
    def __init__(self, store: StateStore, storage_: Storage, server: str, tran_id: Callable[[], bytes], ctx: SessionContext) -> None:
        self.store, self.storage, self.server, self.tran_id, self.ctx = store, storage_, server, tran_id, ctx
        self.conn = storage_.connect(ctx.database)
        functions.register(self)
        self.trancount = 0
        self.work: Database | None = None  # the state's database while it has uncommitted changes
        self.nocount = False
        self.xact_abort = False
        self.isolation = "READ COMMITTED"
        self.identity: int | None = None
        self.rowcount = 0
        self._pending: SqlError | None = None
        self._snapshot: Database | None = None
        self._last_unique: KeyInfo | None = None
        self._last_word = ""  # the running statement's last token, for 102 on a statement that ends too soon
        self._aliases: set[str] = set()  # the running query's table names and aliases, for 207 vs 4104
        self.table_variables: dict[str, TableInfo] = {}  # the running batch's DECLARE @t TABLE, by '@t'

    # --- the session's view of the state -------------------------------------------------------

    @property
    def user(self) -> str:
        return str(self.ctx.extra.get("user", ""))

    def caller(self) -> Caller:
        return Caller(self.ctx.principal, self.user, self.ctx.database, self.ctx.spid)

    def db(self) -> Database | None:
        """The database's security state as this session sees it (its own uncommitted changes included)."""
        if self.work is not None:
            return self.work
        if self._snapshot is None:
            self._snapshot = self.store.read(lambda s: copy.deepcopy(s.server.database(self.ctx.database)))
        return self._snapshot

    def _mutable(self, s: SandboxState) -> Database:
        if self.work is None:
            committed = s.server.database(self.ctx.database)
            if committed is None:
                raise SqlError(40508, "USE statement is not supported to switch between databases.")
            self.work = copy.deepcopy(committed)
        return self.work

    def _commit_state(self) -> None:
        work, self.work = self.work, None
        if work is None:
            return
        with self.store.mutate() as s:
            s.server.databases = [work if d.name.lower() == work.name.lower() else d for d in s.server.databases]

    # --- transactions -----------------------------------------------------------------------------

    def begin(self) -> bytes:
        self.trancount += 1
        if self.trancount > 1:
            return b""
        # SQLite's transaction starts with the first statement that touches a table (_enter): a driver
        # that keeps a transaction open between requests (autocommit off) must not hold a lock all along.
        self.ctx.transaction = self.tran_id()
        return tk.envchange(tk.ENV_BEGIN_TRAN, tk.b_varbyte(self.ctx.transaction), b"\x00")

    def commit(self) -> bytes:
        if self.trancount == 0:
            raise errors.no_begin("COMMIT")
        self.trancount -= 1
        if self.trancount > 0:
            return b""
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")
        self._commit_state()
        old, self.ctx.transaction = self.ctx.transaction, None
        return tk.envchange(tk.ENV_COMMIT_TRAN, b"\x00", tk.b_varbyte(old or bytes(8)))

    def rollback(self) -> bytes:
        """Roll back everything: SQL Server's ROLLBACK without a savepoint name ends all nesting."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.work = None
        self.trancount = 0
        old, self.ctx.transaction = self.ctx.transaction, None
        if old is None:
            return b""
        return tk.envchange(tk.ENV_ROLLBACK_TRAN, b"\x00", tk.b_varbyte(old))

    def reset(self, keep_transaction: bool = False) -> None:
        """RESETCONNECTION: roll back open work (unless the client keeps its transaction) and reset the session options."""
        if not keep_transaction:
            self.rollback()
        self.nocount = self.xact_abort = False
        self.isolation = "READ COMMITTED"
        self.identity, self.rowcount = None, 0

    def close(self) -> None:
        self.rollback()
        self.conn.close()

    # --- batches ----------------------------------------------------------------------------------

    def run(self, sql: str, params: Sequence[Param] = (), done_token: int = tk.DONE) -> tuple[bytes, bool]:
        # Parameters and the batch's DECLAREd variables: one namespace, both bound as values.
        by_name = {p.name.lstrip("@").lower(): p for p in params if p.name}
        try:
            pieces, ok = self.execute_batch(sql, by_name)
        finally:
            drop_all(self.conn, self.table_variables)
        return self._encode(pieces, done_token), ok

    def execute_batch(self, sql: str, by_name: dict[str, Param]) -> tuple[list[Piece], bool]:
        """Run a batch (or sp_executesql's statement) statement by statement, following its IF/WHILE/BEGIN...END."""
        pieces: list[Piece] = []
        ok = True
        try:
            statements = batch.split(sql)
        except lexer.LexError:
            statements = []
            rest = sql[sql.rfind("'") + 1 :] if "'" in sql else sql
            pieces.append(Piece(error=errors.unclosed_quote(rest)))
            ok = False
        verdicts: list[bool] = []
        flow: list[Node] = [Run(st) for st in statements]
        try:
            if has_control_flow(statements):
                flow = plan(sql, statements)
        except SqlError as refused:
            flow, ok = [], False
            pieces.append(Piece(error=refused, line=sql.count("\n", 0, statements[0].toks[0].start) + 1 if statements else 1))
        for step in steps(flow, verdicts):
            st = step.statement
            self._snapshot = None
            self._last_word = st.toks[-1].text
            try:
                if step.condition:
                    verdicts.append(self._condition(st, by_name))
                else:
                    pieces.extend(self._statement(st, by_name))
            except Exception as caught:  # noqa: BLE001 - an unforeseen failure is an error for this statement, not a dropped connection
                err = caught if isinstance(caught, SqlError | ddl.DdlError) else _internal(caught, st.text)
                ok = False
                self._pending = None
                env = self.rollback() if self.xact_abort and self.trancount else b""
                pieces.append(Piece(env=env, error=err, line=sql.count("\n", 0, st.toks[0].start) + 1))
                if self.xact_abort or err.number not in errors.STATEMENT_LEVEL:
                    break
            finally:
                if self.trancount == 0:
                    self._commit_state()
        return pieces, ok

    def _encode(self, pieces: list[Piece], done_token: int) -> bytes:
        out = bytearray()
        for i, p in enumerate(pieces):
            more = tk.DONE_MORE if i < len(pieces) - 1 else 0
            if p.error is not None:
                state = getattr(p.error, "state", 1)
                out += tk.error(p.error.number, state, p.error.severity, p.error.message, self.server, p.line) + p.env
                out += tk.done(tk.DONE_ERROR | more, token=done_token, curcmd=p.curcmd)
            elif p.columns is not None:
                out += p.env + tk.result_set(p.columns, p.rows, more=bool(more), done_token=done_token)
            else:
                status = more | (tk.DONE_COUNT if p.rowcount is not None and not self.nocount else 0)
                out += p.env + tk.done(status, p.rowcount or 0, token=done_token, curcmd=p.curcmd)
        return bytes(out or tk.done(token=done_token))

    def _statement(self, st: batch.Statement, params: dict[str, Param]) -> list[Piece]:
        first = st.first
        words = [t.text.upper() for t in st.toks if t.kind == "word"]
        if first in ("EXEC", "EXECUTE"):
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
            return [Piece(env=tk.info(0, 1, str(text), self.server))]
        if first == "SET":
            self._set(words[1:])
            return [Piece()]
        if first == "USE":
            if len(st.toks) == 2 and st.toks[1].name.lower() == self.ctx.database.lower():
                return [Piece()]
            raise errors.use_database()
        if _is_security_ddl(st.toks):
            self.store.read(lambda s: ddl.execute(st.toks, lambda: self._mutable(s), s, self.user))
            return [Piece(curcmd=CMD_DDL)]
        if first in _STATEMENT_ONLY_UNSUPPORTED:
            raise errors.unsupported(first)
        text = st.text
        if first == "DELETE" and len(st.toks) > 2 and st.toks[1].is_word("FROM") and any(t.is_word("OUTPUT") for t in st.toks):
            # sqlglot reads DELETE t OUTPUT ... WHERE but not DELETE FROM t OUTPUT ... WHERE; FROM is optional in T-SQL.
            base = st.toks[0].start
            text = text[: st.toks[1].start - base] + text[st.toks[1].end - base :]
        tree = translate.parse(text)
        if isinstance(tree, exp.Select | exp.SetOperation | exp.Subquery):
            return [queries.query(self, tree, params)]
        if isinstance(tree, exp.Insert):
            return [self._atomic(lambda: dml.insert(self, tree, params))]
        if isinstance(tree, exp.Update):
            return [self._atomic(lambda: dml.update(self, tree, params))]
        if isinstance(tree, exp.Delete):
            return [self._atomic(lambda: dml.delete(self, tree, params))]
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
            return [self._atomic(lambda: table_ddl.create_table(self, tree))]
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "SCHEMA":
            return [schema_ddl.create_schema(self, tree)]
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "TABLE":
            return [self._atomic(lambda: table_ddl.drop_table(self, tree))]
        if isinstance(tree, exp.Alter) and str(tree.args.get("kind", "")).upper() == "TABLE":
            return [self._atomic(lambda: table_ddl.alter_table(self, tree))]
        if isinstance(tree, exp.TruncateTable):
            return [self._atomic(lambda: table_ddl.truncate(self, tree))]
        if isinstance(tree, exp.Create | exp.Alter) and str(tree.args.get("kind", "")).upper() == "VIEW":
            return [self._atomic(lambda: create_view(self, tree, text, lambda q: queries.query(self, q, params)))]
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "VIEW":
            return [self._atomic(lambda: drop_view(self, tree))]
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper().endswith("INDEX"):
            return [self._atomic(lambda: create_index(self, tree))]
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "INDEX":
            return [self._atomic(lambda: drop_index(self, tree))]
        if isinstance(tree, exp.Command) and first == "ALTER" and len(st.toks) > 1 and st.toks[1].is_word("TABLE"):
            return [self._atomic(lambda: alter_command(self, text))]
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "SCHEMA":
            return [schema_ddl.drop_schema(self, tree)]
        kind = str(tree.args.get("kind") or "").upper()
        raise errors.unsupported(f"{first} {kind}".strip() if kind else first)

    def _enter(self, write: bool) -> None:
        """Open the SQLite side of the session's transaction, if it has one and it is not open yet.

        A transaction whose first statement writes takes the write lock at once (BEGIN IMMEDIATE:
        it waits for another writer instead of failing later on a stale snapshot).
        """
        if self.trancount and not self.conn.in_transaction:
            self._exec("BEGIN IMMEDIATE" if write else "BEGIN")

    def _atomic(self, fn: Callable[[], Piece]) -> Piece:
        """A statement's changes apply whole or not at all; outside a transaction it commits at once."""
        self._enter(write=True)
        if not self.conn.in_transaction:
            self._exec("BEGIN IMMEDIATE")  # autocommit: this statement is the transaction
            try:
                piece = fn()
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return piece
        self.conn.execute("SAVEPOINT az_statement")
        try:
            piece = fn()
        except BaseException:
            self.conn.execute("ROLLBACK TO az_statement")
            self.conn.execute("RELEASE az_statement")
            raise
        self.conn.execute("RELEASE az_statement")
        return piece

    def _condition(self, st: batch.Statement, params: dict[str, Param]) -> bool:
        """An IF or WHILE condition: true, or false (and unknown, as in SQL Server)."""
        tree = translate.parse(f"SELECT CASE WHEN {st.text} THEN 1 ELSE 0 END")
        piece = queries.query(self, tree, params)
        return bool(piece.rows and piece.rows[0][0] == 1)

    def _transaction_statement(self, first: str, words: list[str]) -> Piece:
        rest = words[1:]
        tran = rest[:1] in (["TRAN"], ["TRANSACTION"], ["WORK"])
        if first == "BEGIN":
            if not tran:
                raise errors.unsupported("BEGIN ... END" if not rest or rest[0] != "DISTRIBUTED" else "BEGIN DISTRIBUTED TRANSACTION")
            return Piece(env=self.begin(), curcmd=0xD4)
        if first == "SAVE":
            if not tran or len(rest) != 2:
                raise errors.syntax(first)
            if self.trancount == 0:
                raise SqlError(628, "Cannot issue SAVE TRANSACTION when there is no active transaction.")
            self._enter(write=False)
            self.conn.execute(f"SAVEPOINT {quote('sp_' + rest[1].lower())}")
            return Piece(curcmd=0xD4)
        if first == "COMMIT":
            return Piece(env=self.commit(), curcmd=0xD5)
        if tran and len(rest) == 2 and self.trancount:  # ROLLBACK TRAN <savepoint>
            try:
                self.conn.execute(f"ROLLBACK TO {quote('sp_' + rest[1].lower())}")
                return Piece(curcmd=0xD5)
            except sqlite3.OperationalError:
                pass  # not a savepoint: the transaction's own name, so everything rolls back
        if self.trancount == 0:
            raise errors.no_begin("ROLLBACK")
        return Piece(env=self.rollback(), curcmd=0xD5)

    def _set(self, words: list[str]) -> None:
        option, value = connect.parse_set(words)
        if option == "NOCOUNT":
            self.nocount = value == "ON"
        elif option == "XACT_ABORT":
            self.xact_abort = value == "ON"
        elif option == "TRANSACTION":
            self.isolation = value

    # --- SQLite --------------------------------------------------------------------------------------

    def _exec(
        self, sql: str, binds: dict[str, Any] | Sequence[Any] = (), verb: str = "INSERT", table: TableInfo | None = None
    ) -> sqlite3.Cursor:
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                return self.conn.execute(sql, binds)
            except sqlite3.Error as exc:
                pending, self._pending = self._pending, None
                if pending is not None:
                    raise pending from None
                text = str(exc)
                if "locked" in text and time.monotonic() < deadline:
                    time.sleep(0.01)  # another session holds the lock: wait for it, as SQL Server does
                    continue
                raise self._map_error(text, verb, table) from None

    def _fetch(self, cur: sqlite3.Cursor, verb: str = "INSERT", table: TableInfo | None = None) -> list[Any]:
        """All rows: SQLite computes them while they are fetched, so a row's error (8134, 245 ...) surfaces here."""
        try:
            return cur.fetchall()
        except sqlite3.Error as exc:
            pending, self._pending = self._pending, None
            if pending is not None:
                raise pending from None
            raise self._map_error(str(exc), verb, table) from None

    def _map_error(self, text: str, verb: str, table: TableInfo | None) -> SqlError:
        if m := re.match(r"no such column: (.+)", text):
            qualifier, _, column = m[1].replace('"', "").rpartition(".")
            if qualifier and qualifier.lower() not in self._aliases:
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
                self._last_unique = KeyInfo(index.name, "INDEX", index.columns)
                err = errors.duplicate_index_row(table.display, index.name, "")
                err.message = err.message.removesuffix(" The duplicate key value is ().")
                return err
            self._last_unique = key
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

    def _translator(self, params: dict[str, Param]) -> translate.Translator:
        db = self.db()

        def is_member(role: str) -> int | None:
            if db is None or role.lower() not in _ids(db):
                return None
            return int(role.lower() in permissions.principals(db, self.user) or (role.lower() == "db_owner" and self.user == "dbo"))

        session = translate.Session(
            login=self.ctx.principal, user=self.user, database=self.ctx.database, spid=self.ctx.spid, server=self.server,
            trancount=self.trancount, identity=self.identity, rowcount=self.rowcount, is_member=is_member,
            principal_id=_ids(db).get(self.user.lower()) if db is not None else None,
        )  # fmt: skip
        return translate.Translator(session, self._table, catalog.view, catalog.table_function, params)

    def _table(self, schema: str, name: str) -> TableInfo | None:
        if name.startswith("@"):
            return self.table_variables.get(name.lower())
        return storage.table(self.conn, schema, name)

    def _require(self, permission: str, info: TableInfo) -> None:
        if is_variable(info):
            return  # a table variable is the batch's own
        db = self.db()
        if db is None or not permissions.has(db, self.user, permission, info.schema):
            raise errors.permission_denied(permission, info.name, self.ctx.database, info.schema)

    def _materialize(self, views: dict[str, catalog.View]) -> None:
        if not views:
            return
        db = self.db()
        databases = self.store.read(lambda s: [(d.name, d.available) for d in s.server.databases])
        context = catalog.CatalogContext(self.caller(), db, databases, self.conn, self.isolation)
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


def _internal(exc: Exception, statement: str) -> SqlError:
    """A statement the sandbox failed on in a way it did not foresee: an error for the client, a traceback in the log."""
    log.exception("sandbox SQL failed on %r", statement[:200])
    return errors.unsupported(f"statement the sandbox could not execute ({type(exc).__name__})")


def _is_security_ddl(toks: list[lexer.Tok]) -> bool:
    if toks and toks[0].is_word("DENY"):
        return True
    if len(toks) > 1 and toks[0].is_word("DROP") and toks[1].is_word("SCHEMA", "TABLE"):
        return False
    return ddl.is_ddl(toks)

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
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from .. import ddl, lexer
from ..catalog import Caller, _ids
from ..sqltypes import Param, SqlType, TypeSpec
from ..state import Database, SandboxState
from ..store import StateStore
from ..tds import tokens as tk
from ..tds.session import SessionContext
from . import batch, catalog, connect, errors, permissions, storage, translate, types
from .errors import SqlError
from .storage import ColumnInfo, KeyInfo, Storage, TableInfo, quote

log = logging.getLogger("azsqlctl.sandbox.sql")

CMD_SELECT, CMD_INSERT, CMD_DELETE, CMD_UPDATE, CMD_DDL = 0xC1, 0xC3, 0xC4, 0xC5, 0xC6
_STATEMENT_ONLY_UNSUPPORTED = frozenset(
    {"DECLARE", "PRINT", "EXEC", "EXECUTE", "WHILE", "RETURN", "RAISERROR", "THROW", "WAITFOR", "DBCC", "MERGE"}
)
_LOCK_WAIT = 5.0  # seconds a statement waits for another session's lock, then 1222


@dataclass
class Piece:
    """What one statement returns, before the DONE flags that depend on what follows are known."""

    env: bytes = b""
    columns: list[tk.Column] | None = None
    rows: list[list[Any]] = field(default_factory=list)
    rowcount: int | None = None  # None: no DONE_COUNT
    curcmd: int = CMD_SELECT
    error: SqlError | ddl.DdlError | None = None
    line: int = 1  # the statement's line in the batch, which an error reports as SQL Server does


class SqlSession:
    def __init__(self, store: StateStore, storage_: Storage, server: str, tran_id: Callable[[], bytes], ctx: SessionContext) -> None:
        self.store, self.storage, self.server, self.tran_id, self.ctx = store, storage_, server, tran_id, ctx
        self.conn = storage_.connect(ctx.database)
        self._register_functions()
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
        pieces: list[Piece] = []
        ok = True
        try:
            statements = batch.split(sql)
        except lexer.LexError:
            statements = []
            rest = sql[sql.rfind("'") + 1 :] if "'" in sql else sql
            pieces.append(Piece(error=errors.unclosed_quote(rest)))
            ok = False
        for st in statements:
            self._snapshot = None
            self._last_word = st.toks[-1].text
            try:
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
        return self._encode(pieces, done_token), ok

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
        if first == "IF":
            return self._if(st, params)
        if first in ("BEGIN", "COMMIT", "ROLLBACK", "SAVE"):
            return [self._transaction_statement(first, words)]
        if first == "SET" and len(st.toks) > 1 and st.toks[1].text.startswith("@") and not st.toks[1].text.startswith("@@"):
            return [self._set_variable(st.text, params)]
        if first == "DECLARE":
            return [self._declare(st.text, params)]
        if first == "PRINT":
            query = translate.parse("SELECT " + st.text[st.toks[1].start - st.toks[0].start :]) if len(st.toks) > 1 else None
            if not isinstance(query, exp.Select) or len(query.expressions) != 1 or query.args.get("from_") or query.args.get("where"):
                raise errors.syntax(st.toks[1].text if len(st.toks) > 1 else "PRINT")
            value, source = self._evaluate(query.expressions[0], params)
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
            return [self._query(tree, params)]
        if isinstance(tree, exp.Insert):
            return [self._atomic(lambda: self._insert(tree, params))]
        if isinstance(tree, exp.Update):
            return [self._atomic(lambda: self._update(tree, params))]
        if isinstance(tree, exp.Delete):
            return [self._atomic(lambda: self._delete(tree, params))]
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
            return [self._atomic(lambda: self._create_table(tree))]
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "SCHEMA":
            return [self._create_schema(tree)]
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "TABLE":
            return [self._atomic(lambda: self._drop_table(tree))]
        if isinstance(tree, exp.Alter) and str(tree.args.get("kind", "")).upper() == "TABLE":
            return [self._atomic(lambda: self._alter_table(tree))]
        if isinstance(tree, exp.TruncateTable):
            return [self._atomic(lambda: self._truncate(tree))]
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind", "")).upper() == "SCHEMA":
            return [self._drop_schema(tree)]
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

    def _if(self, st: batch.Statement, params: dict[str, Param]) -> list[Piece]:
        if st.body <= 1 or st.body >= len(st.toks):
            raise errors.syntax(st.toks[-1].text)
        base = st.toks[0].start
        condition = st.text[st.toks[1].start - base : st.toks[st.body - 1].end - base]
        tree = translate.parse(f"SELECT CASE WHEN {condition} THEN 1 ELSE 0 END")
        piece = self._query(tree, params)
        if piece.rows and piece.rows[0][0] == 1:
            body = batch.Statement(st.toks[st.body :], st.text[st.toks[st.body].start - base :])
            return self._statement(body, params)
        return [Piece()]

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
            columns = [c.rsplit(".", 1)[-1] for c in m[1].split(", ")]
            key = next((k for k in (table.keys if table else []) if [c.lower() for c in k.columns] == [c.lower() for c in columns]), None)
            self._last_unique = key
            if key is None:
                key = KeyInfo("PRIMARY", "PRIMARY KEY", columns)
            # The duplicate value is filled in where the statement's rows can be evaluated (INSERT ... VALUES).
            err = errors.duplicate_key(key.kind, key.name, table.display if table else "", "")
            err.message = err.message.removesuffix(" The duplicate key value is ().")
            return err
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

    def _register_functions(self) -> None:
        def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
            # SQLite reports only "user-defined function raised exception": keep the real error for _exec.
            def call(*args: Any) -> Any:
                try:
                    return fn(*args)
                except SqlError as err:
                    self._pending = err
                    raise
                except (ValueError, TypeError, ArithmeticError) as exc:
                    self._pending = errors.unsupported(f"{fn.__name__} of these values ({type(exc).__name__})")
                    raise

            return call

        def div(a: Any, b: Any) -> Any:
            if a is None or b is None:
                return None
            a, b = _number(a), _number(b)
            if b == 0:
                raise errors.divide_by_zero()
            if isinstance(a, int) and isinstance(b, int):
                q = abs(a) // abs(b)
                return q if (a >= 0) == (b >= 0) else -q  # T-SQL integer division truncates toward zero
            return a / b

        def mod(a: Any, b: Any) -> Any:
            if a is None or b is None:
                return None
            a, b = _number(a), _number(b)
            if b == 0:
                raise errors.divide_by_zero()
            r = abs(a) % abs(b)
            return r if a >= 0 else -r

        def add(a: Any, b: Any) -> Any:
            if a is None or b is None:
                return None
            if isinstance(a, str) and isinstance(b, str):
                return a + b
            if isinstance(a, bytes) and isinstance(b, bytes):
                return a + b
            return _number(a) + _number(b)

        def cast(value: Any, spec: str, source: str) -> Any:
            return types.convert(value, translate.spec_from_text(spec), source)

        def try_cast(value: Any, spec: str, source: str) -> Any:
            try:
                return types.convert(value, translate.spec_from_text(spec), source)
            except SqlError:
                return None

        def conv(value: Any, spec: str, source: str, table: str, column: str) -> Any:
            return types.convert(value, translate.spec_from_text(spec), source, table=table, column=column)

        def schema_name(schema_id: Any) -> Any:
            db = self.db()
            schemas = db.schemas if db else ["dbo"]
            if schema_id is None:
                return "dbo"
            sid = int(schema_id)
            return schemas[sid - 1] if 1 <= sid <= len(schemas) else {4: "sys", 3: "INFORMATION_SCHEMA"}.get(sid)

        def object_id(name: Any, kind: Any) -> Any:
            if name is None:
                return None
            parts = [p.strip("[]") for p in str(name).split(".")]
            if len(parts) > 3 or (kind is not None and str(kind).strip().upper() not in ("U",)):
                return None
            schema, table_name = (parts[-2] if len(parts) >= 2 and parts[-2] else "dbo"), parts[-1]
            info = storage.table(self.conn, schema, table_name)
            return info.object_id if info else None

        self.conn.create_function("az_div", 2, guard(div), deterministic=True)
        self.conn.create_function("az_mod", 2, guard(mod), deterministic=True)
        self.conn.create_function("az_add", 2, guard(add), deterministic=True)
        self.conn.create_function("az_cast", 3, guard(cast), deterministic=True)
        self.conn.create_function("az_try_cast", 3, guard(try_cast), deterministic=True)
        self.conn.create_function("az_conv", 5, guard(conv), deterministic=True)
        self.conn.create_function("az_now", 0, lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" "))
        self.conn.create_function("az_newid", 0, lambda: str(uuid.uuid4()).upper())
        self.conn.create_function("az_schema_name", 1, guard(schema_name))
        self.conn.create_function("az_object_id", 2, guard(object_id))
        self.conn.create_function("az_len", 1, lambda v: None if v is None else len(types._text(v).rstrip(" ")), deterministic=True)
        self.conn.create_function("az_datalength", 1, _datalength, deterministic=True)

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
        return translate.Translator(session, self._table, lambda key: catalog.VIEWS.get(key), catalog.table_function, params)

    def _table(self, schema: str, name: str) -> TableInfo | None:
        return storage.table(self.conn, schema, name)

    def _require(self, permission: str, info: TableInfo) -> None:
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

    # --- queries -----------------------------------------------------------------------------------

    # --- variables (batch-scoped, like parameters: bound as values) ----------------------------------

    def _evaluate(self, expr: exp.Expression, params: dict[str, Param]) -> tuple[Any, TypeSpec]:
        piece = self._query(exp.Select(expressions=[expr]), params)
        assert piece.columns is not None
        spec = piece.columns[0].spec or TypeSpec(SqlType.NVARCHAR, 4000)
        return piece.rows[0][0], spec

    def _assign(self, params: dict[str, Param], name: str, value: Any, source: TypeSpec) -> None:
        var = params.get(name.lower())
        if var is None:
            raise errors.must_declare(f"@{name}")
        stored = types.convert(types.storage(value), var.spec, types.type_name(source))
        params[name.lower()] = Param(var.name, var.spec, types.python_value(stored, var.spec))

    def _declare(self, text: str, params: dict[str, Param]) -> Piece:
        tree = translate.parse(text)
        if not isinstance(tree, exp.Declare):
            raise errors.unsupported("DECLARE")
        for item in tree.expressions:
            names = item.this if isinstance(item.this, list) else [item.this]
            kind = item.args.get("kind")
            if len(names) != 1 or not isinstance(kind, exp.DataType):
                raise errors.unsupported("DECLARE of a table or cursor variable")
            name = names[0].name
            if name.lower() in params:
                raise SqlError(
                    134,
                    f"The variable name '@{name}' has already been declared. Variable names must be unique within a query batch or stored procedure.",
                    15,
                )
            params[name.lower()] = Param(f"@{name}", types.spec_of(kind), None)
            default = item.args.get("default")
            if isinstance(default, exp.Expression):
                value, source = self._evaluate(default, params)
                self._assign(params, name, value, source)
        return Piece()

    def _set_variable(self, text: str, params: dict[str, Param]) -> Piece:
        tree = translate.parse(text)
        items = tree.expressions if isinstance(tree, exp.Set) else []
        if len(items) != 1 or not isinstance(items[0].this, exp.EQ) or not isinstance(items[0].this.this, exp.Parameter):
            raise errors.unsupported("SET @variable with an operator other than =")
        target = items[0].this.this.name
        if target.lower() not in params:
            raise errors.must_declare(f"@{target}")
        value, source = self._evaluate(items[0].this.expression, params)
        self._assign(params, target, value, source)
        return Piece()

    def _query(self, tree: exp.Expression, params: dict[str, Param]) -> Piece:
        if tree.find(exp.Into):
            raise errors.unsupported("SELECT ... INTO")
        if (
            isinstance(tree, exp.Select)
            and tree.expressions
            and all(isinstance(p, exp.EQ) and isinstance(p.this, exp.Parameter) for p in tree.expressions)
        ):
            # SELECT @a = expr, ... FROM ...: assigns from the last row and returns no result set.
            targets = [p.this.name for p in tree.expressions]
            tree.set("expressions", [p.expression for p in tree.expressions])
            piece = self._query(tree, params)
            assert piece.columns is not None
            for i, name in enumerate(targets):
                if piece.rows:
                    self._assign(params, name, piece.rows[-1][i], piece.columns[i].spec or TypeSpec(SqlType.NVARCHAR, 4000))
                elif name.lower() not in params:
                    raise errors.must_declare(f"@{name}")
            return Piece(rowcount=len(piece.rows))
        tr = self._translator(params)
        tr.resolve_tables(tree)
        for info in tr.resolved.reads:
            self._require("SELECT", info)
        self._enter(write=False)
        head: exp.Expression = tree
        while isinstance(head, exp.SetOperation | exp.Subquery):
            head = head.this if isinstance(head, exp.Subquery) else head.args["this"]
        projections = head.expressions if isinstance(head, exp.Select) else []
        starred = any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star)) for p in projections)
        declared = [(_output_name(p), tr.infer(p)) for p in projections]
        sql = tr.sqlite(tr.rewrite(tree))
        self._materialize(tr.resolved.views)
        self._aliases = set(tr.resolved.scope)
        cur = self._exec(sql, tr.resolved.binds)
        rows = self._fetch(cur)
        names = [d[0] for d in cur.description or []]
        if starred or len(declared) != len(names):
            declared = [(n, _scope_spec(tr, n)) for n in names]
        columns, values = _typed(declared, rows)
        self.rowcount = len(rows)
        return Piece(columns=columns, rows=values, rowcount=len(rows))

    # --- DML ------------------------------------------------------------------------------------

    def _target(self, node: exp.Expression) -> TableInfo:
        if not isinstance(node, exp.Table) or isinstance(node.this, exp.Anonymous):
            raise errors.unsupported(node.sql(dialect="tsql"))
        if node.catalog and node.catalog.lower() != self.ctx.database.lower():
            raise errors.cross_database(translate._name(node))
        info = self._table(node.db or "dbo", node.name)
        if info is None:
            if (node.db or "").lower() in ("sys", "information_schema"):
                raise errors.unsupported(f"changing {translate._name(node)}")
            raise errors.invalid_object(translate._name(node))
        return info

    def _output(self, tree: exp.Expression, info: TableInfo, prefix: str) -> tuple[str, list[tuple[str, TypeSpec | None]]]:
        """OUTPUT INSERTED.* / DELETED.col as SQLite RETURNING, with the columns' declared types."""
        returning = tree.args.get("returning")
        if returning is None:
            return "", []
        self._require("SELECT", info)
        parts: list[str] = []
        declared: list[tuple[str, TypeSpec | None]] = []
        for item in returning.expressions:
            alias = item.alias if isinstance(item, exp.Alias) else ""
            col = item.this if isinstance(item, exp.Alias) else item
            if not isinstance(col, exp.Column) or col.table.upper() != prefix:
                raise errors.unsupported(f"OUTPUT {item.sql(dialect='tsql')}")
            if isinstance(col.this, exp.Star):
                for c in info.columns:
                    parts.append(quote(c.name))
                    declared.append((c.name, c.spec))
                continue
            found = info.column(col.name)
            if found is None:
                raise errors.invalid_column(col.name)
            parts.append(f"{quote(found.name)} AS {quote(alias or found.name)}")
            declared.append((alias or found.name, found.spec))
        return " RETURNING " + ", ".join(parts), declared

    def _finish(self, cur: sqlite3.Cursor, declared: list[tuple[str, TypeSpec | None]], curcmd: int, verb: str, info: TableInfo) -> Piece:
        if declared:
            rows = self._fetch(cur, verb, info)
            columns, values = _typed(declared, rows)
            self.rowcount = len(rows)
            return Piece(columns=columns, rows=values, rowcount=len(rows), curcmd=curcmd)
        self.rowcount = max(cur.rowcount, 0)
        return Piece(rowcount=self.rowcount, curcmd=curcmd)

    def _insert(self, tree: exp.Insert, params: dict[str, Param]) -> Piece:
        target = tree.this
        given = [i.name for i in target.expressions] if isinstance(target, exp.Schema) else None
        info = self._target(target.this if isinstance(target, exp.Schema) else target)
        self._require("INSERT", info)
        if given is None:
            columns = [c for c in info.columns if not c.identity]
        else:
            columns = []
            for name in given:
                col = info.column(name)
                if col is None:
                    raise errors.invalid_column(name)
                if col.identity:
                    raise errors.identity_insert(info.name)
                columns.append(col)
        tr = self._translator(params)
        returning, declared = self._output(tree, info, "INSERTED")
        qualified = f"{self.ctx.database}.{info.display}"
        names = ", ".join(quote(c.name) for c in columns)
        source = tree.expression
        rows_sql: list[str] = []
        if isinstance(source, exp.Values):
            for tup in source.expressions:
                values = tup.expressions if isinstance(tup, exp.Tuple) else [tup]
                if len(values) != len(columns):
                    if len(values) > len(columns):
                        raise SqlError(
                            110,
                            "There are fewer columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.",
                            15,
                        )
                    raise SqlError(
                        109,
                        "There are more columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.",
                        15,
                    )
                converted = []
                for value, col in zip(values, columns, strict=True):
                    if isinstance(value, exp.Column) and value.name.upper() == "DEFAULT" and not value.table:
                        raise errors.unsupported("DEFAULT in a VALUES list")
                    tr.resolve_tables(value)
                    source_type = tr.source_type(value)
                    sql = tr.sqlite(tr.rewrite(value))
                    converted.append(_conv(sql, col, source_type, qualified))
                rows_sql.append("(" + ", ".join(converted) + ")")
            for read in tr.resolved.reads:
                self._require("SELECT", read)
            self._materialize(tr.resolved.views)
            sql = f"INSERT INTO {quote(info.key)} ({names}) VALUES {', '.join(rows_sql)}{returning}"
        elif isinstance(source, exp.Select | exp.SetOperation):
            tr.resolve_tables(source)
            for read in tr.resolved.reads:
                self._require("SELECT", read)
            inner = tr.sqlite(tr.rewrite(source))
            self._materialize(tr.resolved.views)
            aliases = [f"c{i}" for i in range(len(columns))]
            picks = ", ".join(_conv(a, c, "varchar", qualified) for a, c in zip(aliases, columns, strict=True))
            sql = f"WITH __src({', '.join(aliases)}) AS ({inner}) INSERT INTO {quote(info.key)} ({names}) SELECT {picks} FROM __src{returning}"
        else:
            raise errors.unsupported("INSERT without VALUES or SELECT")
        try:
            cur = self._exec(sql, tr.resolved.binds, "INSERT", info)
        except SqlError as err:
            if err.number == 2627 and isinstance(source, exp.Values) and self._last_unique is not None:
                value = self._duplicate_value(info, columns, rows_sql, tr.resolved.binds)
                if value is not None:
                    raise errors.duplicate_key(self._last_unique.kind, self._last_unique.name, info.display, value) from None
            raise
        piece = self._finish(cur, declared, CMD_INSERT, "INSERT", info)
        self._check_foreign_keys(info, "INSERT")
        if any(c.identity for c in info.columns) and piece.rowcount:
            self.identity = cur.lastrowid
        return piece

    def _duplicate_value(self, info: TableInfo, columns: list[ColumnInfo], rows_sql: list[str], binds: dict[str, Any]) -> str | None:
        """The key value 2627 reports: the first VALUES row whose key exists already or repeats an earlier row's."""
        key = self._last_unique
        if key is None:
            return None
        positions = [
            next(i for i, c in enumerate(columns) if c.name.lower() == k.lower())
            for k in key.columns
            if any(c.name.lower() == k.lower() for c in columns)
        ]
        if len(positions) != len(key.columns):
            return None
        seen: set[tuple[Any, ...]] = set()
        for row_sql in rows_sql:
            values = self.conn.execute(f"SELECT {row_sql[1:-1]}", binds).fetchone()
            picked = tuple(values[i] for i in positions)
            lowered = tuple(v.lower() if isinstance(v, str) else v for v in picked)
            where = " AND ".join(f"{quote(k)} = ?" for k in key.columns)
            if lowered in seen or self.conn.execute(f"SELECT 1 FROM {quote(info.key)} WHERE {where}", picked).fetchone():
                return ", ".join(types._text(v) if v is not None else "<NULL>" for v in picked)
            seen.add(lowered)
        return None

    def _update(self, tree: exp.Update, params: dict[str, Param]) -> Piece:
        if tree.args.get("from") or tree.args.get("from_") or tree.args.get("limit") or tree.args.get("joins"):
            raise errors.unsupported("UPDATE with FROM, JOIN or TOP")
        target = tree.this
        info = self._target(target)
        alias = target.alias or info.name
        self._require("UPDATE", info)
        tr = self._translator(params)
        where = tree.args.get("where")
        reads_columns = where is not None or any(e.expression.find(exp.Column) for e in tree.expressions if isinstance(e, exp.EQ))
        if reads_columns:
            self._require("SELECT", info)  # SQL Server: UPDATE that reads the table's columns needs SELECT too
        qualified = f"{self.ctx.database}.{info.display}"
        sets = []
        for assignment in tree.expressions:
            if not isinstance(assignment, exp.EQ) or not isinstance(assignment.this, exp.Column):
                raise errors.unsupported(assignment.sql(dialect="tsql"))
            col = info.column(assignment.this.name)
            if col is None:
                raise errors.invalid_column(assignment.this.name)
            if col.identity:
                raise SqlError(8102, f"Cannot update identity column '{col.name}'.")
            value = assignment.expression
            scoped = exp.Select(expressions=[value]).from_(
                exp.Table(
                    this=exp.to_identifier(info.name),
                    db=exp.to_identifier(info.schema),
                    alias=exp.TableAlias(this=exp.to_identifier(alias)),
                )
            )
            tr.resolve_tables(scoped)
            source_type = tr.source_type(scoped.expressions[0])
            sets.append(f"{quote(col.name)} = {_conv(tr.sqlite(tr.rewrite(scoped.expressions[0])), col, source_type, qualified)}")
        where_sql = "" if where is None else _where_sql(tr, info, alias, where)
        for read in tr.resolved.reads:
            if read.key.lower() != info.key.lower():
                self._require("SELECT", read)
        self._materialize(tr.resolved.views)
        returning, declared = self._output(tree, info, "INSERTED")
        sql = f"UPDATE {quote(info.key)} AS {quote(alias)} SET {', '.join(sets)}{where_sql}{returning}"
        cur = self._exec(sql, tr.resolved.binds, "UPDATE", info)
        piece = self._finish(cur, declared, CMD_UPDATE, "UPDATE", info)
        self._check_foreign_keys(info, "UPDATE")
        return piece

    def _delete(self, tree: exp.Delete, params: dict[str, Param]) -> Piece:
        if tree.args.get("using") or tree.args.get("limit") or tree.args.get("joins"):
            raise errors.unsupported("DELETE with FROM, JOIN or TOP")
        target = tree.this if isinstance(tree.this, exp.Table) else next(iter(tree.args.get("tables") or []), None)
        if not isinstance(target, exp.Table):
            raise errors.unsupported("DELETE without a table")
        info = self._target(target)
        alias = target.alias or info.name
        self._require("DELETE", info)
        tr = self._translator(params)
        where = tree.args.get("where")
        where_sql = ""
        if where is not None:
            self._require("SELECT", info)
            where_sql = _where_sql(tr, info, alias, where)
            for read in tr.resolved.reads:
                if read.key.lower() != info.key.lower():
                    self._require("SELECT", read)
            self._materialize(tr.resolved.views)
        returning, declared = self._output(tree, info, "DELETED")
        cur = self._exec(f"DELETE FROM {quote(info.key)} AS {quote(alias)}{where_sql}{returning}", tr.resolved.binds, "DELETE", info)
        piece = self._finish(cur, declared, CMD_DELETE, "DELETE", info)
        self._check_foreign_keys(info, "DELETE")
        return piece

    # --- DDL ------------------------------------------------------------------------------------

    def _schema_for_ddl(self, schema: str) -> str:
        db = self.db()
        real = next((s for s in (db.schemas if db else []) if s.lower() == schema.lower()), None)
        if db is None or real is None or not permissions.may_alter_schema(db, self.user, real):
            raise errors.schema_unusable(schema)
        return real

    def _create_table(self, tree: exp.Create) -> Piece:
        shape = tree.this
        if not isinstance(shape, exp.Schema) or not isinstance(shape.this, exp.Table):
            raise errors.unsupported("CREATE TABLE ... AS")
        table = shape.this
        if table.catalog and table.catalog.lower() != self.ctx.database.lower():
            raise errors.cross_database(translate._name(table))
        db = self.db()
        if db is None or not permissions.has(db, self.user, "CREATE TABLE"):
            raise errors.database_permission_denied("CREATE TABLE", self.ctx.database)
        schema = self._schema_for_ddl(table.db or "dbo")
        if self._table(schema, table.name) is not None:
            raise errors.object_exists(table.name)
        if table.name.startswith("#"):
            raise errors.unsupported("temporary tables")
        info, ddl_sql, seed, _decls = self._table_shape(schema, table.name, shape)
        self._exec(ddl_sql)
        storage.register(self.conn, info)
        if seed is not None and seed != 1:
            self._exec("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (info.key, seed - 1))
        return Piece(curcmd=CMD_DDL)

    def _table_shape(self, schema: str, name: str, shape: exp.Schema) -> tuple[TableInfo, str, int | None, dict[str, str]]:
        """The table's declared shape, its SQLite CREATE TABLE, the IDENTITY seed and each column's SQLite declaration."""
        columns: list[ColumnInfo] = []
        defaults: dict[str, str] = {}
        keys: list[KeyInfo] = []
        seed: int | None = None
        foreign: list[tuple[str | None, list[str], exp.Expression]] = []
        tr = self._translator({})

        def key_name(kind: str, given: str | None) -> str:
            digest = hashlib.sha1(f"{schema}.{name}.{kind}.{len(keys)}".encode(), usedforsecurity=False).hexdigest()[:16].upper()
            return given or f"{'PK' if kind == 'PRIMARY KEY' else 'UQ'}__{name[:8]}__{digest}"

        for item in shape.expressions:
            if isinstance(item, exp.ColumnDef):
                kind_node = item.args.get("kind")
                if kind_node is None:
                    raise errors.syntax(item.name)
                spec = types.spec_of(kind_node)
                col = ColumnInfo(item.name, spec)
                for constraint in item.constraints:
                    k = constraint.kind
                    given = constraint.name or None
                    if isinstance(k, exp.NotNullColumnConstraint):
                        col.nullable = bool(k.args.get("allow_null"))
                    elif isinstance(k, exp.PrimaryKeyColumnConstraint):
                        keys.append(KeyInfo(key_name("PRIMARY KEY", given), "PRIMARY KEY", [item.name]))
                    elif isinstance(k, exp.UniqueColumnConstraint):
                        keys.append(KeyInfo(key_name("UNIQUE KEY", given), "UNIQUE KEY", [item.name]))
                    elif isinstance(k, exp.DefaultColumnConstraint):
                        before = len(tr.resolved.binds)
                        sql = tr.sqlite(tr.rewrite(k.this.copy()))
                        if len(tr.resolved.binds) != before:
                            raise errors.unsupported(f"DEFAULT {k.this.sql(dialect='tsql')}")
                        defaults[item.name.lower()] = _conv(sql, col, "varchar", f"{self.ctx.database}.{schema}.{name}")
                        col.default = _default_text(k.this)
                    elif isinstance(k, exp.GeneratedAsIdentityColumnConstraint):
                        increment = int(k.args["increment"].name) if k.args.get("increment") else 1
                        seed = int(k.args["start"].name) if k.args.get("start") else 1
                        if increment != 1:
                            raise errors.unsupported("IDENTITY with an increment other than 1")
                        col.identity = True
                        col.nullable = False
                        col.seed = seed
                    elif isinstance(k, exp.AutoIncrementColumnConstraint):  # IDENTITY without (seed, increment)
                        seed = 1
                        col.identity = True
                        col.nullable = False
                    elif isinstance(k, exp.Reference):
                        foreign.append((given, [item.name], k))
                    elif isinstance(k, exp.CollateColumnConstraint):
                        pass  # every text column compares case-insensitively, as the default collation does
                    else:
                        raise errors.unsupported(f"column constraint {constraint.sql(dialect='tsql')}")
                columns.append(col)
            elif isinstance(item, exp.Constraint | exp.PrimaryKey | exp.UniqueColumnConstraint | exp.ForeignKey):
                given = item.name if isinstance(item, exp.Constraint) else None
                for part in item.expressions if isinstance(item, exp.Constraint) else [item]:
                    if isinstance(part, exp.PrimaryKey):
                        keys.append(KeyInfo(key_name("PRIMARY KEY", given), "PRIMARY KEY", [_column_name(e) for e in part.expressions]))
                    elif isinstance(part, exp.ForeignKey):
                        foreign.append((given, [_column_name(e) for e in part.expressions], part.args["reference"]))
                    elif isinstance(part, exp.UniqueColumnConstraint):
                        cols = part.this.expressions if isinstance(part.this, exp.Schema) else part.expressions
                        keys.append(KeyInfo(key_name("UNIQUE KEY", given), "UNIQUE KEY", [_column_name(e) for e in cols]))
                    else:
                        raise errors.unsupported(f"table constraint {part.sql(dialect='tsql')}")
            else:
                raise errors.unsupported(f"table element {item.sql(dialect='tsql')}")
        by_name = {c.name.lower(): c for c in columns}
        if len(by_name) != len(columns):
            dup = next(c.name for c in columns if sum(x.name.lower() == c.name.lower() for x in columns) > 1)
            raise SqlError(
                2705,
                f"Column names in each table must be unique. Column name '{dup}' in table '{schema}.{name}' is specified more than once.",
            )
        primary = [k for k in keys if k.kind == "PRIMARY KEY"]
        if len(primary) > 1:
            raise SqlError(8110, f"Cannot add multiple PRIMARY KEY constraints to table '{schema}.{name}'.")
        for key in keys:
            for key_column in key.columns:
                if key_column.lower() not in by_name:
                    raise SqlError(1911, f"Column name '{key_column}' does not exist in the target table or view.")
                if key.kind == "PRIMARY KEY":
                    by_name[key_column.lower()].nullable = False
        for given, fk_columns, reference in foreign:
            keys.append(self._foreign_key(schema, name, given, fk_columns, reference, columns, keys))
        identity = [c for c in columns if c.identity]
        if len(identity) > 1:
            raise SqlError(2744, f"Multiple identity columns specified for table '{name}'. Only one identity column per table is allowed.")
        rowid = identity[0] if identity else None
        if rowid is not None and (rowid.spec.type not in (SqlType.INT, SqlType.BIGINT, SqlType.SMALLINT, SqlType.TINYINT)):
            raise errors.unsupported("IDENTITY on a non-integer column")
        if rowid is not None and primary and [c.lower() for c in primary[0].columns] != [rowid.name.lower()]:
            raise errors.unsupported("IDENTITY on a column that is not the table's only PRIMARY KEY column")
        parts = []
        decls: dict[str, str] = {}
        for c in columns:
            if c is rowid:
                # SQLite's AUTOINCREMENT rowid is SQL Server's IDENTITY(seed, 1): never reused, even after rollback.
                parts.append(f"{quote(c.name)} INTEGER PRIMARY KEY AUTOINCREMENT")
                continue
            decl = f"{quote(c.name)} {types.affinity(c.spec)}"
            if not c.nullable:
                decl += " NOT NULL"
            if c.name.lower() in defaults:
                decl += f" DEFAULT ({defaults[c.name.lower()]})"
            parts.append(decl)
            decls[c.name.lower()] = decl
        for key in keys:
            if rowid is not None and key.kind == "PRIMARY KEY":
                continue
            if key.kind == "FOREIGN KEY":
                ref = ", ".join(quote(c) for c in key.ref_columns)
                parts.append(
                    f"FOREIGN KEY ({', '.join(quote(by_name[c.lower()].name) for c in key.columns)}) REFERENCES {quote(key.ref_key)} ({ref})"
                )
                continue
            parts.append(
                f"{'PRIMARY KEY' if key.kind == 'PRIMARY KEY' else 'UNIQUE'} ({', '.join(quote(by_name[c.lower()].name) for c in key.columns)})"
            )
        info = TableInfo(schema, name, storage.next_object_id(self.conn), columns, keys)
        return info, f"CREATE TABLE {quote(info.key)} ({', '.join(parts)})", seed if rowid is not None else None, decls

    def _altered(self, table: exp.Expression) -> TableInfo:
        """The table an ALTER TABLE or TRUNCATE TABLE names, if it exists and the caller may alter it (4902 otherwise)."""
        if not isinstance(table, exp.Table):
            raise errors.unsupported(table.sql(dialect="tsql"))
        info = self._table(table.db or "dbo", table.name)
        db = self.db()
        if (
            info is None
            or db is None
            or not (permissions.may_alter_schema(db, self.user, info.schema) or permissions.has(db, self.user, "CONTROL", info.schema))
        ):
            raise SqlError(
                4902, f'Cannot find the object "{translate._name(table)}" because it does not exist or you do not have permissions.'
            )
        return info

    def _alter_table(self, tree: exp.Alter) -> Piece:
        info = self._altered(tree.this)
        actions = tree.args.get("actions") or []
        if actions and all(isinstance(a, exp.ColumnDef) for a in actions):
            added, _sql, _seed, decls = self._table_shape(info.schema, info.name, exp.Schema(expressions=[a.copy() for a in actions]))
            if added.keys or any(c.identity for c in added.columns):
                raise errors.unsupported("ALTER TABLE ADD with a PRIMARY KEY, UNIQUE or IDENTITY column")
            for col in added.columns:
                if info.column(col.name) is not None:
                    raise SqlError(
                        2705,
                        f"Column names in each table must be unique. Column name '{col.name}' in table '{info.display}' is specified more than once.",
                    )
                if not col.nullable and "DEFAULT" not in decls[col.name.lower()]:
                    raise SqlError(
                        4901,
                        "ALTER TABLE only allows columns to be added that can contain nulls, or have a DEFAULT definition specified, or the column "
                        "being added is an identity or timestamp column, or alternatively if none of the previous conditions are satisfied the table "
                        f"must be empty to allow addition of this column. Column '{col.name}' cannot be added to non-empty table '{info.name}' "
                        "because it does not satisfy these conditions.",
                    )
                decl = decls[col.name.lower()]
                if " DEFAULT (" in decl:
                    # SQLite adds columns only with constant defaults: evaluate the T-SQL default once.
                    head, default_sql = decl.split(" DEFAULT (", 1)
                    if "az_now(" in default_sql or "az_newid(" in default_sql:
                        raise errors.unsupported("ALTER TABLE ADD with a DEFAULT that is not a constant")
                    (value,) = self._exec(f"SELECT {default_sql[:-1]}").fetchone()
                    decl = f"{head} DEFAULT ({exp.convert(value).sql(dialect='sqlite') if not isinstance(value, bytes) else 'X' + repr(value.hex())})"
                self._exec(f"ALTER TABLE {quote(info.key)} ADD COLUMN {decl}")
                info.columns.append(col)
        elif len(actions) == 1 and isinstance(actions[0], exp.Drop) and str(actions[0].args.get("kind", "")).upper() == "COLUMN":
            for target in actions[0].args.get("tables") or []:
                dropped = info.column(target.name)
                if dropped is None:
                    raise SqlError(
                        4924, f"ALTER TABLE DROP COLUMN failed because column '{target.name}' does not exist in table '{info.name}'."
                    )
                key = next((k for k in info.keys if dropped.name.lower() in (c.lower() for c in k.columns)), None)
                if key is not None or dropped.identity:
                    raise SqlError(5074, f"The object '{key.name if key else 'IDENTITY'}' is dependent on column '{dropped.name}'.")
                self._exec(f"ALTER TABLE {quote(info.key)} DROP COLUMN {quote(dropped.name)}")
                info.columns.remove(dropped)
        else:
            raise errors.unsupported("ALTER TABLE other than ADD column / DROP COLUMN")
        storage.unregister(self.conn, info)
        storage.register(self.conn, info)
        return Piece(curcmd=CMD_DDL)

    def _truncate(self, tree: exp.TruncateTable) -> Piece:
        tables = tree.expressions
        if len(tables) != 1:
            raise errors.unsupported("TRUNCATE TABLE of several tables")
        info = self._altered(tables[0])  # TRUNCATE needs ALTER on the table, as on SQL Server
        if self._referencing(info) is not None:
            raise SqlError(4712, f"Cannot truncate table '{info.display}' because it is being referenced by a FOREIGN KEY constraint.")
        self._exec(f"DELETE FROM {quote(info.key)}")
        if any(c.identity for c in info.columns):
            self._exec("UPDATE sqlite_sequence SET seq = 0 WHERE name = ?", (info.key,))  # TRUNCATE reseeds IDENTITY
        return Piece(curcmd=CMD_DDL)

    def _foreign_key(
        self,
        schema: str,
        name: str,
        given: str | None,
        columns: list[str],
        reference: exp.Expression,
        own: list[ColumnInfo],
        own_keys: list[KeyInfo],
    ) -> KeyInfo:
        """A FOREIGN KEY: it must reference a primary or unique key, and the caller needs REFERENCES on that table."""
        if reference.args.get("options"):
            raise errors.unsupported(f"FOREIGN KEY ... {' '.join(str(o) for o in reference.args['options'])}")
        target = reference.this.this if isinstance(reference.this, exp.Schema) else reference.this
        ref_columns = [c.name for c in reference.this.expressions] if isinstance(reference.this, exp.Schema) else []
        if not isinstance(target, exp.Table):
            raise errors.syntax("REFERENCES")
        ref_schema, ref_name = target.db or "dbo", target.name
        fk_name = (
            given
            or f"FK__{name[:10]}__{columns[0][:8]}__{hashlib.sha1(f'{schema}.{name}.{columns}'.encode(), usedforsecurity=False).hexdigest()[:16].upper()}"
        )
        if (ref_schema.lower(), ref_name.lower()) == (schema.lower(), name.lower()):
            ref_keys, ref_display, real_schema, real_name = own_keys, f"{schema}.{name}", schema, name
        else:
            ref = self._table(ref_schema, ref_name)
            if ref is None:
                raise SqlError(1767, f"Foreign key '{fk_name}' references invalid table '{translate._name(target)}'.")
            db = self.db()
            if db is None or not permissions.has(db, self.user, "REFERENCES", ref.schema):
                raise errors.permission_denied("REFERENCES", ref.name, self.ctx.database, ref.schema)
            ref_keys, ref_display, real_schema, real_name = ref.keys, ref.display, ref.schema, ref.name
        candidates = [k for k in ref_keys if k.kind in ("PRIMARY KEY", "UNIQUE KEY")]
        if not ref_columns:
            primary = next((k for k in candidates if k.kind == "PRIMARY KEY"), None)
            ref_columns = list(primary.columns) if primary else []
        if len(ref_columns) != len(columns) or not any(
            sorted(c.lower() for c in k.columns) == sorted(c.lower() for c in ref_columns) for k in candidates
        ):
            raise SqlError(
                1776,
                f"There are no primary or candidate keys in the referenced table '{ref_display}' that match the referencing column list in the foreign key '{fk_name}'.",
            )
        del own
        return KeyInfo(fk_name, "FOREIGN KEY", columns, real_schema, real_name, ref_columns)

    def _referencing(self, info: TableInfo) -> TableInfo | None:
        """Another table with a FOREIGN KEY to ``info``, if any."""
        return next(
            (
                t
                for t in storage.tables(self.conn)
                if t.key.lower() != info.key.lower()
                and any(k.kind == "FOREIGN KEY" and k.ref_key.lower() == info.key.lower() for k in t.keys)
            ),
            None,
        )

    def _check_foreign_keys(self, info: TableInfo, verb: str) -> None:
        """SQL Server checks foreign keys per statement: rows of ``info`` referencing nothing, or rows elsewhere it orphaned (547).

        SQLite's own enforcement stays off; ``PRAGMA foreign_key_check`` after the statement names the
        violated key exactly, and the statement is rolled back by the caller's savepoint.
        """
        for table in storage.tables(self.conn):
            keys = [k for k in table.keys if k.kind == "FOREIGN KEY"]
            if not any(table.key.lower() == info.key.lower() or k.ref_key.lower() == info.key.lower() for k in keys):
                continue
            violations = self.conn.execute(f"PRAGMA foreign_key_check({quote(table.key)})").fetchall()
            if not violations:
                continue
            listing = self.conn.execute(f"PRAGMA foreign_key_list({quote(table.key)})").fetchall()  # id, seq, table, from, to, ...
            for _table, _rowid, _parent, fkid in violations:
                source = [row[3].lower() for row in sorted(listing, key=lambda r: r[1]) if row[0] == fkid]
                key = next((k for k in keys if [c.lower() for c in k.columns] == source), None)
                if key is None:
                    continue
                if table.key.lower() == info.key.lower() and verb in ("INSERT", "UPDATE"):
                    raise errors.foreign_key_conflict(verb, False, key.name, self.ctx.database, key.ref_key, key.ref_columns)
                raise errors.foreign_key_conflict(verb, True, key.name, self.ctx.database, table.display, key.columns)

    def _drop_table(self, tree: exp.Drop) -> Piece:
        tables = tree.args.get("tables") or ([tree.this] if tree.this is not None else [])
        if len(tables) != 1 or not isinstance(tables[0], exp.Table):
            raise errors.unsupported("DROP TABLE of several tables")
        table = tables[0]
        info = self._table(table.db or "dbo", table.name)
        db = self.db()
        if info is None:
            if tree.args.get("exists"):
                return Piece(curcmd=CMD_DDL)
            raise errors.cannot_drop_table(translate._name(table))
        if db is None or not (
            permissions.may_alter_schema(db, self.user, info.schema) or permissions.has(db, self.user, "CONTROL", info.schema)
        ):
            raise errors.cannot_drop_table(translate._name(table))
        referencing = self._referencing(info)
        if referencing is not None:
            raise SqlError(3726, f"Could not drop object '{info.display}' because it is referenced by a FOREIGN KEY constraint.")
        self._exec(f"DROP TABLE {quote(info.key)}")
        storage.unregister(self.conn, info)
        return Piece(curcmd=CMD_DDL)

    def _create_schema(self, tree: exp.Create) -> Piece:
        name = _schema_name(tree)
        db = self.db()
        if db is None or not permissions.has(db, self.user, "CREATE SCHEMA"):
            raise errors.database_permission_denied("CREATE SCHEMA", self.ctx.database)
        if any(s.lower() == name.lower() for s in [*db.schemas, "sys", "INFORMATION_SCHEMA", "guest"]):
            raise errors.object_exists(name)

        def add(s: SandboxState) -> None:
            self._mutable(s).schemas.append(name)

        self.store.read(add)
        return Piece(curcmd=CMD_DDL)

    def _drop_schema(self, tree: exp.Drop) -> Piece:
        name = _schema_name(tree)
        db = self.db()
        real = next((s for s in (db.schemas if db else []) if s.lower() == name.lower()), None)
        if db is None or real is None or not permissions.may_alter_schema(db, self.user, real) or real.lower() == "dbo":
            if real is None and tree.args.get("exists"):
                return Piece(curcmd=CMD_DDL)
            raise SqlError(15151, f"Cannot drop the schema '{name}', because it does not exist or you do not have permission.")
        in_use = next((t for t in storage.tables(self.conn) if t.schema.lower() == real.lower()), None)
        if in_use is not None:
            raise errors.schema_in_use(real, in_use.name)

        def remove(s: SandboxState) -> None:
            work = self._mutable(s)
            work.schemas = [x for x in work.schemas if x.lower() != real.lower()]
            work.permissions = [p for p in work.permissions if not (p.scope == "SCHEMA" and p.target.lower() == real.lower())]

        self.store.read(remove)
        return Piece(curcmd=CMD_DDL)


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


def _number(value: Any) -> int | float:
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise errors.conversion(value, "varchar", "int") from None
    raise errors.conversion(types._text(value), "varbinary", "int")


def _cp1252(value: Any) -> bool:
    """Whether a varchar value fits the default collation's code page (what a varchar column carries on the wire)."""
    if not isinstance(value, str):
        return True
    try:
        value.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _datalength(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, str):
        return len(value.encode("utf-16-le"))
    return 8 if isinstance(value, float) or abs(value) >= 2**31 else 4


def _conv(sql: str, col: ColumnInfo, source: str, table: str) -> str:
    args = [translate.spec_text(col.spec), source, table, col.name]
    return f"az_conv({sql}, " + ", ".join(exp.Literal.string(a).sql(dialect="sqlite") for a in args) + ")"


def _schema_name(tree: exp.Expression) -> str:
    """CREATE/DROP SCHEMA name: sqlglot parses the name as a Table whose ``db`` is the schema."""
    node = tree.this if tree.this is not None else (tree.args.get("tables") or [None])[0]
    if isinstance(node, exp.Table):
        return node.db or node.name
    if isinstance(node, exp.Expression):
        return node.name
    raise errors.syntax("SCHEMA")


def _default_text(node: exp.Expression) -> str:
    """A DEFAULT as SQL Server stores it: ((0)) for numbers, ('x') for strings, (getdate()) for calls."""
    while isinstance(node, exp.Paren):
        node = node.this
    text = node.sql(dialect="tsql")
    if isinstance(node, exp.Literal) and not node.is_string:
        return f"(({text}))"
    if isinstance(node, exp.Anonymous | exp.Func):
        return f"({text.lower()})"
    return f"({text})"


def _column_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Ordered):
        node = node.this
    return node.name


def _output_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Alias):
        return node.alias
    if isinstance(node, exp.Column):
        return node.name
    return ""  # SQL Server sends an unnamed expression column with an empty name


def _scope_spec(tr: translate.Translator, name: str) -> TypeSpec | None:
    for columns in tr.resolved.scope.values():
        for cname, spec in columns:
            if cname.lower() == name.lower():
                return spec
    return None


def _typed(declared: list[tuple[str, TypeSpec | None]], rows: list[tuple[Any, ...]]) -> tuple[list[tk.Column], list[list[Any]]]:
    """Result columns with their declared types (or, for computed ones, the type their values have) and Python values."""
    columns: list[tk.Column] = []
    converted: list[list[Any]] = [[None] * len(declared) for _ in rows]
    for i, (name, spec) in enumerate(declared):
        raw = [r[i] for r in rows]
        values: list[Any] | None = None
        if spec is not None:
            try:
                values = [types.python_value(v, spec) for v in raw]
            except (ValueError, TypeError, ArithmeticError):
                values = None
        if values is None:
            spec = types.of_value(raw)
            values = [types.python_value(v, spec) for v in raw]
        assert spec is not None
        if spec.type == SqlType.VARCHAR and not all(_cp1252(v) for v in values):
            # SQL Server would have stored '?' for these characters; the sandbox kept them, so it sends Unicode.
            spec = TypeSpec(SqlType.NVARCHAR, spec.length)
        columns.append(tk.Column(name, spec=spec))
        for r, v in zip(converted, values, strict=True):
            r[i] = v
    return columns, converted


def _where_sql(tr: translate.Translator, info: TableInfo, alias: str, where: exp.Expression) -> str:
    """An UPDATE/DELETE's WHERE, resolved as a SELECT over the target table (names, subqueries, reads to check)."""
    table = exp.Table(
        this=exp.to_identifier(info.name), db=exp.to_identifier(info.schema), alias=exp.TableAlias(this=exp.to_identifier(alias))
    )
    scoped = exp.Select(expressions=[exp.Literal.number(1)]).from_(table).where(where.this)
    tr.resolve_tables(scoped)
    return " WHERE " + tr.sqlite(tr.rewrite(scoped.args["where"].this))

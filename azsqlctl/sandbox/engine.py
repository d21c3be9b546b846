"""The T-SQL the sandbox answers, from its state - a documented subset, never a guess.

Supported: ``SELECT <expressions>`` over literals and the identity functions,
``SELECT <columns> FROM <catalog view> [WHERE col = value [AND ...]]`` for the
catalog views below, and harmless ``SET`` options. Anything else gets error
40517 saying the sandbox does not support it, so a client never mistakes an
unsupported statement for an empty result.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from . import ddl, lexer
from .catalog import RELATIONS, Caller, _ids, roles_of
from .state import Database, SandboxState
from .tds import tokens as tk

VERSION = "Microsoft SQL Azure (RTM) - 12.0.2000.8 \n\tJul 31 2025 00:00:00 \n\tCopyright (C) 2022 Microsoft Corporation\n"


class SqlError(Exception):
    def __init__(self, number: int, message: str, severity: int = 16, state: int = 1) -> None:
        super().__init__(message)
        self.number, self.message, self.severity, self.state = number, message, severity, state


def unsupported(what: str) -> SqlError:
    return SqlError(
        40517,
        f"Keyword or statement option '{what}' is not supported by the azsqlctl sandbox, "
        "which answers only its documented subset of T-SQL.",
    )


# --- statements ---------------------------------------------------------------------------------

_LITERAL = r"(?:N?'(?:[^']|'')*'|-?\d+|NULL)"
_SET_OPTIONS = re.compile(
    r"^SET\s+(NOCOUNT|XACT_ABORT|ANSI_\w+|QUOTED_IDENTIFIER|ARITHABORT|CONCAT_NULL_YIELDS_NULL|"
    r"TEXTSIZE|LOCK_TIMEOUT|DATEFORMAT|DATEFIRST|IMPLICIT_TRANSACTIONS|TRANSACTION\s+ISOLATION\s+LEVEL)\b",
    re.I,
)
_FROM = re.compile(r"^SELECT\s+(?P<cols>.+?)\s+FROM\s+(?P<rel>[\w.]+(?:\s*\([^)]*\))?)(?:\s+WHERE\s+(?P<where>.+))?$", re.I | re.S)


def split_statements(sql: str) -> list[str]:
    """The statements of a batch, split at ';' outside identifiers, strings and comments."""
    return [sql[toks[0].start : toks[-1].end] for toks in lexer.statements(sql)]


class DbHandle:
    """The database a session sees: its own working copy inside a transaction, else the committed one."""

    def __init__(self, committed: Database | None, work: Database | None = None) -> None:
        self.committed, self.work = committed, work

    @property
    def view(self) -> Database | None:
        return self.work if self.work is not None else self.committed

    def mutable(self) -> Database:
        if self.work is None:
            if self.committed is None:
                raise SqlError(40508, "USE statement is not supported to switch between databases.")
            self.work = copy.deepcopy(self.committed)
        return self.work


def execute_batch(state: SandboxState, caller: Caller, sql: str, handle: DbHandle | None = None) -> tuple[bytes, bool]:
    """Run each statement; stop at the first error. Returns the token stream and whether all succeeded."""
    handle = handle or DbHandle(state.server.database(caller.database))
    out = bytearray()
    try:
        statements = lexer.statements(sql)
    except lexer.LexError as exc:
        text = f"Unclosed quotation mark after the character string ({exc})."
        return tk.error(105, 1, 15, text, state.server.name) + tk.done(tk.DONE_ERROR), False
    for i, toks in enumerate(statements):
        more = i < len(statements) - 1
        try:
            if ddl.is_ddl(toks):
                ddl.execute(toks, handle.mutable, state, caller.user)
                out += tk.done(tk.DONE_MORE if more else tk.DONE_FINAL, curcmd=0xC6)
            else:
                out += _statement(state, caller, sql[toks[0].start : toks[-1].end], more, handle.view)
        except (SqlError, ddl.DdlError) as err:
            out += tk.error(err.number, 1, err.severity, err.message, state.server.name)
            out += tk.done(tk.DONE_ERROR)
            return bytes(out), False
    return bytes(out or tk.done()), True


def _statement(state: SandboxState, caller: Caller, stmt: str, more: bool, db: Database | None) -> bytes:
    flat = " ".join(stmt.split())
    if _SET_OPTIONS.match(flat):
        return tk.done(tk.DONE_MORE if more else tk.DONE_FINAL)
    if not flat.upper().startswith("SELECT "):
        raise unsupported(flat.split(" ")[0].upper())
    m = _FROM.match(flat)
    if m:
        if db is None and m["rel"].lower() != "sys.databases":
            raise SqlError(208, f"Invalid object name '{m['rel']}'.")
        return _select_from(state, db, caller, m["cols"], m["rel"], m["where"], more)
    return _select_expressions(state, caller, flat[len("SELECT ") :], more, db)


def _split_list(text: str) -> list[str]:
    items: list[str] = []
    buf: list[str] = []
    depth, quoted = 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if not quoted:
            depth += ch == "("
            depth -= ch == ")"
        if ch == "," and depth == 0 and not quoted:
            items.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
    items.append("".join(buf).strip())
    return items


def _alias(item: str) -> tuple[str, str]:
    m = re.match(r"^(.*?)\s+(?:AS\s+)?\[?(\w+)\]?$", item, re.I | re.S)
    if m and not re.fullmatch(_LITERAL, item.strip(), re.I):
        return m[1].strip(), m[2]
    return item.strip(), ""


def _literal(text: str) -> Any:
    if text.upper() == "NULL":
        return None
    if text.startswith(("'", "N'", "n'")):
        return text[text.index("'") + 1 : -1].replace("''", "'")
    return int(text)


def _select_expressions(state: SandboxState, caller: Caller, text: str, more: bool, db: Database | None) -> bytes:
    functions: dict[str, Callable[[], Any]] = {
        "SUSER_SNAME()": lambda: caller.login,
        "SUSER_NAME()": lambda: caller.login,
        "ORIGINAL_LOGIN()": lambda: caller.login,
        "USER_NAME()": lambda: caller.user,
        "CURRENT_USER": lambda: caller.user,
        "DB_NAME()": lambda: caller.database,
        "@@VERSION": lambda: VERSION,
        "@@SPID": lambda: caller.spid,
        "@@SERVERNAME": lambda: state.server.name,
        "DATABASE_PRINCIPAL_ID()": lambda: _ids(db).get(caller.user.lower()) if db else None,
    }
    columns, values = [], []
    for item in _split_list(text):
        expr, alias = _alias(item)
        key = " ".join(expr.upper().split())
        if key in functions:
            value = functions[key]()
        elif (m := re.fullmatch(r"IS_ROLEMEMBER\s*\(\s*N?'((?:[^']|'')*)'\s*\)", expr, re.I)) and db is not None:
            role = m[1].replace("''", "'")
            known = role.lower() in _ids(db)
            value = None if not known else int(role.lower() in (r.lower() for r in roles_of(db, caller.user)))
        elif re.fullmatch(_LITERAL, expr, re.I):
            value = _literal(expr)
        else:
            raise unsupported(expr)
        columns.append(tk.Column(alias, "int" if isinstance(value, int) and not isinstance(value, bool) else "nvarchar"))
        values.append(value)
    return tk.result_set(columns, [values], more)


def _select_from(state: SandboxState, db: Database | None, caller: Caller, cols: str, rel: str, where: str | None, more: bool) -> bytes:
    key = re.sub(r"\s+", "", rel).lower()
    if key == "sys.databases":
        schema = [tk.Column("name"), tk.Column("database_id", "int"), tk.Column("state_desc")]
        dbs = [("master", True), *((d.name, d.available) for d in state.server.databases)]
        rows = [{"name": n, "database_id": i + 1, "state_desc": "ONLINE" if up else "OFFLINE"} for i, (n, up) in enumerate(dbs)]
    elif key not in RELATIONS or db is None:
        raise unsupported(rel)
    else:
        schema, producer = RELATIONS[key]
        rows = producer(db, caller)
    by_name = {c.name.lower(): c for c in schema}
    if where:
        for cond in re.split(r"\s+AND\s+", where, flags=re.I):
            m = re.fullmatch(rf"\s*\[?(\w+)\]?\s*=\s*({_LITERAL}|DATABASE_PRINCIPAL_ID\(\))\s*", cond, re.I)
            if not m or m[1].lower() not in by_name:
                raise unsupported(f"WHERE {cond.strip()}")
            me = _ids(db).get(caller.user.lower()) if db is not None else None
            wanted = me if m[2].upper().startswith("DATABASE_PRINCIPAL_ID") else _literal(m[2])
            rows = [r for r in rows if _equal(r.get(m[1].lower()), wanted)]
    if cols.strip() == "*":
        chosen = schema
    else:
        chosen = []
        for name in _split_list(cols):
            col = by_name.get(name.strip("[] ").lower())
            if col is None:
                raise SqlError(207, f"Invalid column name '{name.strip()}'.")
            chosen.append(col)
    return tk.result_set(chosen, [[r.get(c.name) for c in chosen] for r in rows], more)


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(value, str) and isinstance(wanted, str):
        return value.lower() == wanted.lower()  # the default collation is case-insensitive
    return bool(value == wanted)

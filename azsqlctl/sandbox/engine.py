"""The T-SQL the sandbox answers, from its state - a documented subset, never a guess.

Supported: ``SELECT <expressions>`` over literals and the identity functions,
``SELECT <columns> FROM <catalog view> [WHERE col = value [AND ...]]`` for the
catalog views below, and harmless ``SET`` options. Anything else gets error
40517 saying the sandbox does not support it, so a client never mistakes an
unsupported statement for an empty result.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azsqlctl.core.roles import FIXED_ROLE_IDS, effective_permissions

from .state import Database, SandboxState
from .tds import tokens as tk

VERSION = "Microsoft SQL Azure (RTM) - 12.0.2000.8 \n\tJul 31 2025 00:00:00 \n\tCopyright (C) 2022 Microsoft Corporation\n"
_FIXED_USERS = [("dbo", 1, "S"), ("guest", 2, "S"), ("INFORMATION_SCHEMA", 3, "S"), ("sys", 4, "S")]
_CUSTOM_ROLE_BASE = 100_000


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


@dataclass
class Caller:
    """Who is running the batch."""

    login: str  # SUSER_SNAME()
    user: str  # USER_NAME(): a database user name, or dbo for the Entra admin
    database: str
    spid: int


# --- catalog views ------------------------------------------------------------------------------

Rows = list[dict[str, Any]]


def principals(db: Database) -> Rows:
    rows: Rows = [
        {"name": n, "principal_id": pid, "type": t, "type_desc": "SQL_USER", "sid": None,
         "authentication_type_desc": "NONE", "default_schema_name": "dbo" if n == "dbo" else None}
        for n, pid, t in _FIXED_USERS
    ]  # fmt: skip
    for user in db.users:
        rows.append({
            "name": user.name, "principal_id": user.principal_id, "type": user.type,
            "type_desc": {"E": "EXTERNAL_USER", "X": "EXTERNAL_GROUP", "S": "SQL_USER"}.get(user.type, "SQL_USER"),
            "sid": uuid.UUID(user.sid).bytes_le, "authentication_type_desc": "EXTERNAL" if user.type in "EX" else "INSTANCE",
            "default_schema_name": "dbo",
        })  # fmt: skip
    roles = [(name, rid) for name, rid in FIXED_ROLE_IDS.items()]
    roles += [(name, _CUSTOM_ROLE_BASE + i) for i, name in enumerate(db.roles)]
    for name, rid in roles:
        rows.append({"name": name, "principal_id": rid, "type": "R", "type_desc": "DATABASE_ROLE", "sid": None,
                     "authentication_type_desc": "NONE", "default_schema_name": None})  # fmt: skip
    return rows


def _ids(db: Database) -> dict[str, int]:
    return {str(r["name"]).lower(): int(r["principal_id"]) for r in principals(db)}


def role_members(db: Database) -> Rows:
    ids = _ids(db)
    rows: Rows = [{"role_principal_id": FIXED_ROLE_IDS["db_owner"], "member_principal_id": 1}]
    for role, members in db.members.items():
        for member in members:
            if role.lower() in ids and member.lower() in ids:
                rows.append({"role_principal_id": ids[role.lower()], "member_principal_id": ids[member.lower()]})
    return rows


def roles_of(db: Database, user: str) -> list[str]:
    if user == "dbo":
        return ["db_owner"]
    return sorted(role for role, members in db.members.items() if user.lower() in (m.lower() for m in members))


def my_permissions(db: Database, caller: Caller) -> Rows:
    roles = roles_of(db, caller.user)
    grantees = {caller.user.lower(), "public"} | {r.lower() for r in roles}
    explicit = [p.permission for p in db.permissions if p.scope == "DATABASE" and p.state == "G" and p.grantee.lower() in grantees]
    return [{"entity_name": "database", "subentity_name": "", "permission_name": p} for p in effective_permissions(roles, explicit)]


RELATIONS: dict[str, tuple[list[tk.Column], Callable[[Database, Caller], Rows]]] = {
    "sys.database_principals": (
        [tk.Column("name"), tk.Column("principal_id", "int"), tk.Column("type"), tk.Column("type_desc"),
         tk.Column("sid", "varbinary"), tk.Column("authentication_type_desc"), tk.Column("default_schema_name")],
        lambda db, _c: principals(db),
    ),
    "sys.database_role_members": (
        [tk.Column("role_principal_id", "int"), tk.Column("member_principal_id", "int")],
        lambda db, _c: role_members(db),
    ),
    "fn_my_permissions(null,'database')": (
        [tk.Column("entity_name"), tk.Column("subentity_name"), tk.Column("permission_name")],
        my_permissions,
    ),
    "sys.schemas": (
        [tk.Column("name"), tk.Column("schema_id", "int")],
        lambda db, _c: [{"name": s, "schema_id": i + 1} for i, s in enumerate(db.schemas)],
    ),
}  # fmt: skip


# --- statements ---------------------------------------------------------------------------------

_LITERAL = r"(?:N?'(?:[^']|'')*'|-?\d+|NULL)"
_SET_OPTIONS = re.compile(
    r"^SET\s+(NOCOUNT|XACT_ABORT|ANSI_\w+|QUOTED_IDENTIFIER|ARITHABORT|CONCAT_NULL_YIELDS_NULL|"
    r"TEXTSIZE|LOCK_TIMEOUT|DATEFORMAT|DATEFIRST|IMPLICIT_TRANSACTIONS|TRANSACTION\s+ISOLATION\s+LEVEL)\b",
    re.I,
)
_FROM = re.compile(r"^SELECT\s+(?P<cols>.+?)\s+FROM\s+(?P<rel>[\w.]+(?:\s*\([^)]*\))?)(?:\s+WHERE\s+(?P<where>.+))?$", re.I | re.S)


def split_statements(sql: str) -> list[str]:
    """Split on ';' outside string literals; drop empties and trailing GO-less whitespace."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


def execute_batch(state: SandboxState, caller: Caller, sql: str) -> bytes:
    """Run each statement; stop at the first error as SQL Server does for batch-aborting errors."""
    out = bytearray()
    statements = split_statements(sql)
    for i, stmt in enumerate(statements):
        more = i < len(statements) - 1
        try:
            out += _statement(state, caller, stmt, more)
        except SqlError as err:
            out += tk.error(err.number, err.state, err.severity, err.message, state.server.name)
            out += tk.done(tk.DONE_ERROR)
            break
    return bytes(out or tk.done())


def _statement(state: SandboxState, caller: Caller, stmt: str, more: bool) -> bytes:
    flat = " ".join(stmt.split())
    if _SET_OPTIONS.match(flat):
        return tk.done(tk.DONE_MORE if more else tk.DONE_FINAL)
    if not flat.upper().startswith("SELECT "):
        raise unsupported(flat.split(" ")[0].upper())
    db = state.server.database(caller.database)
    m = _FROM.match(flat)
    if m:
        if db is None:
            raise SqlError(208, f"Invalid object name '{m['rel']}'.")
        return _select_from(db, caller, m["cols"], m["rel"], m["where"], more)
    return _select_expressions(state, caller, flat[len("SELECT ") :], more)


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


def _select_expressions(state: SandboxState, caller: Caller, text: str, more: bool) -> bytes:
    db = state.server.database(caller.database)
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


def _select_from(db: Database, caller: Caller, cols: str, rel: str, where: str | None, more: bool) -> bytes:
    key = re.sub(r"\s+", "", rel).lower()
    if key not in RELATIONS:
        raise unsupported(rel)
    schema, producer = RELATIONS[key]
    by_name = {c.name.lower(): c for c in schema}
    rows = producer(db, caller)
    if where:
        for cond in re.split(r"\s+AND\s+", where, flags=re.I):
            m = re.fullmatch(rf"\s*\[?(\w+)\]?\s*=\s*({_LITERAL}|DATABASE_PRINCIPAL_ID\(\))\s*", cond, re.I)
            if not m or m[1].lower() not in by_name:
                raise unsupported(f"WHERE {cond.strip()}")
            wanted = _ids(db).get(caller.user.lower()) if m[2].upper().startswith("DATABASE_PRINCIPAL_ID") else _literal(m[2])
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

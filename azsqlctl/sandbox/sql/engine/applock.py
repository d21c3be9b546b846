"""``sp_getapplock`` / ``sp_releaseapplock``: application locks, as documented by Microsoft.

"sp_getapplock" (https://learn.microsoft.com/en-us/sql/relational-databases/system-stored-procedures/sp-getapplock-transact-sql)
and "sp_releaseapplock" (.../sp-releaseapplock-transact-sql): the lock is on (database principal, resource),
the resource name is compared binary (case-sensitive), modes Shared, Update, IntentShared, IntentExclusive,
Exclusive; the owner is the Transaction (the default: it must run inside one, and the lock ends with it) or
the Session. The return code: 0 granted at once, 1 granted after waiting, -1 timed out, -2 cancelled,
-3 chosen as deadlock victim, -999 a parameter or call error. A timeout or a deadlock is a return code,
not an error. ``EXEC @rc = sp_getapplock ...`` stores the code in a declared variable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..security import permissions
from ..sqltypes import Param
from . import errors
from .context import StatementSession
from .errors import SqlError
from .locks import DeadlockVictim, LockTimeout, Mode, Scope
from .results import CMD_EXECUTE, ReturnStatus, StatementResult

if TYPE_CHECKING:
    from .lexer import Tok

PROCEDURES = {
    "sp_getapplock": ("resource", "lockmode", "lockowner", "locktimeout", "dbprincipal"),
    "sp_releaseapplock": ("resource", "lockowner", "dbprincipal"),
}
_MODES = {m.value.lower(): m for m in (Mode.S, Mode.U, Mode.IS, Mode.IX, Mode.X)}
_OWNERS = {"transaction": Scope.TRANSACTION, "session": Scope.SESSION}


def procedure(toks: list[Tok]) -> str | None:
    """The application-lock procedure an EXEC statement calls (``EXEC [@rc =] [sys.]sp_getapplock ...``), or None."""
    i = 1
    if len(toks) > 2 and toks[1].text.startswith("@") and toks[2].text == "=":
        i = 3
    while i + 1 < len(toks) and toks[i + 1].text == ".":
        i += 2
    name = toks[i].text.lower() if i < len(toks) else ""
    return name if name in PROCEDURES else None


def execute(session: StatementSession, toks: list[Tok], params: dict[str, Param]) -> StatementResult:
    name = procedure(toks)
    assert name is not None
    target = toks[1].text[1:] if toks[1].text.startswith("@") else None
    args = _arguments(toks, PROCEDURES[name], params)
    code = _getapplock(session, args) if name == "sp_getapplock" else _releaseapplock(session, args)
    if target is not None:
        if target.lower() not in params:
            raise errors.must_declare(f"@{target}")
        var = params[target.lower()]
        params[target.lower()] = Param(var.name, var.spec, code)
    return StatementResult(events=(ReturnStatus(code),), command=CMD_EXECUTE)


def _arguments(toks: list[Tok], names: tuple[str, ...], params: dict[str, Param]) -> dict[str, object]:
    """Positional or ``@Name = value`` arguments: literals, ``-n``, variables, NULL, DEFAULT."""
    i = 1
    if toks[1].text.startswith("@") and len(toks) > 2 and toks[2].text == "=":
        i = 3
    i += 1
    while i + 1 < len(toks) and toks[i].text == ".":
        i += 2
    out: dict[str, object] = {}
    position = 0
    while i < len(toks):
        key = names[position] if position < len(names) else ""
        if i + 1 < len(toks) and toks[i].text.startswith("@") and toks[i + 1].text == "=":
            key = toks[i].text[1:].lower()
            i += 2
        if key not in names:
            raise SqlError(8145, f"@{key or 'parameter'} is not a parameter for procedure {toks[1].text}.", 16)
        value, i = _value(toks, i, params)
        if value is not _DEFAULT:
            out[key] = value
        position += 1
        if i < len(toks):
            if toks[i].text != ",":
                raise errors.syntax(toks[i].text)
            i += 1
    return out


_DEFAULT = object()


def _value(toks: list[Tok], i: int, params: dict[str, Param]) -> tuple[object, int]:
    tok = toks[i]
    if tok.kind == "string":
        return tok.text, i + 1
    if tok.kind == "number":
        return int(tok.text), i + 1
    if tok.text == "-" and i + 1 < len(toks) and toks[i + 1].kind == "number":
        return -int(toks[i + 1].text), i + 2
    if tok.is_word("NULL"):
        return None, i + 1
    if tok.is_word("DEFAULT"):
        return _DEFAULT, i + 1
    if tok.kind == "word" and tok.text.startswith("@"):
        var = params.get(tok.text[1:].lower())
        if var is None:
            raise errors.must_declare(tok.text)
        return var.value, i + 1
    raise errors.syntax(tok.text)


def _principal(session: StatementSession, args: dict[str, object]) -> str | None:
    """The @DbPrincipal the lock is taken for: public, or a principal the caller is (a member of); None otherwise."""
    principal = str(args.get("dbprincipal") or "public")
    db = session.db()
    if principal.lower() == "public" or (db is not None and permissions.is_owner(db, session.user)):
        return principal
    if db is not None and principal.lower() in permissions.principals(db, session.user):
        return principal
    return None


def _getapplock(session: StatementSession, args: dict[str, object]) -> int:
    resource, mode = args.get("resource"), _MODES.get(str(args.get("lockmode") or "").lower())
    scope = _OWNERS.get(str(args.get("lockowner") or "Transaction").lower())
    timeout = args.get("locktimeout", session.lock_timeout)
    principal = _principal(session, args)
    if not isinstance(resource, str) or not resource or mode is None or scope is None or not isinstance(timeout, int) or principal is None:
        return -999
    if scope is Scope.TRANSACTION and not session.trancount:
        return -999  # a transaction-owned lock needs a transaction
    try:
        waited = session.lock(("app", f"{principal.lower()}:{resource[:255]}"), mode, scope, timeout)
    except LockTimeout:
        return -1
    except DeadlockVictim:
        return -3
    return 1 if waited else 0


def _releaseapplock(session: StatementSession, args: dict[str, object]) -> int:
    resource = args.get("resource")
    scope = _OWNERS.get(str(args.get("lockowner") or "Transaction").lower())
    principal = _principal(session, args)
    if not isinstance(resource, str) or scope is None or principal is None:
        return -999
    if not session.locks.release(session.owner, ("app", f"{principal.lower()}:{resource[:255]}"), scope):
        raise SqlError(
            1223,
            f"Cannot release the application lock (Database Principal: '{principal}', Resource: '{resource}') because it is not currently held.",
        )
    return 0

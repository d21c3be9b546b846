"""The DDL the sandbox executes against a database's state, with SQL Server's errors.

CREATE USER (FROM EXTERNAL PROVIDER, WITH OBJECT_ID, WITH SID/TYPE), CREATE/DROP ROLE,
ALTER ROLE ADD/DROP MEMBER, GRANT/DENY/REVOKE at database or schema scope, DROP USER.
The caller must hold the permission SQL Server requires (15247 otherwise).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ...state import Database, DbUser, Identity, Permission, SandboxState
from ..security import login_messages as ae
from ..security.roles import FIXED_ROLE_IDS, database_permissions
from .errors import unsupported
from .lexer import LexError, Tok

NO_PERMISSION = "User does not have permission to perform this action."


class DdlError(Exception):
    def __init__(self, number: int, message: str, severity: int = 16) -> None:
        super().__init__(message)
        self.number, self.message, self.severity = number, message, severity


def _perms(db: Database, user: str) -> set[str]:
    if user == "dbo":
        return {"CONTROL"}
    roles = sorted(r for r, members in db.members.items() if user.lower() in (m.lower() for m in members))
    explicit = [
        p.permission for p in db.permissions if p.scope == "DATABASE" and p.state == "G" and p.grantee.lower() in {user.lower(), *roles}
    ]
    return set(database_permissions(roles, explicit))


def _require(db: Database, user: str, *needed: str) -> None:
    held = _perms(db, user)
    if "CONTROL" not in held and not any(n in held for n in needed):
        raise DdlError(15247, NO_PERMISSION)


class Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks, self.i = toks, 0

    def peek(self, *words: str) -> bool:
        return self.i < len(self.toks) and self.toks[self.i].is_word(*words)

    def word(self, *words: str) -> str:
        if not self.peek(*words):
            got = self.toks[self.i].text if self.i < len(self.toks) else "end of statement"
            raise DdlError(102, f"Incorrect syntax near '{got}'.", 15)
        self.i += 1
        return self.toks[self.i - 1].text.upper()

    def punct(self, text: str) -> None:
        if self.i >= len(self.toks) or self.toks[self.i].text != text or self.toks[self.i].kind != "punct":
            raise DdlError(102, f"Incorrect syntax near '{self.toks[self.i].text if self.i < len(self.toks) else text}'.", 15)
        self.i += 1

    def name(self) -> str:
        if self.i >= len(self.toks):
            raise DdlError(102, "Incorrect syntax near the end of the statement.", 15)
        tok = self.toks[self.i]
        self.i += 1
        try:
            return tok.name
        except LexError as exc:
            raise DdlError(102, f"Incorrect syntax near '{tok.text}'.", 15) from exc

    def take(self, kind: str) -> str:
        if self.i >= len(self.toks) or self.toks[self.i].kind != kind:
            raise DdlError(102, "Incorrect syntax near the end of the statement.", 15)
        self.i += 1
        return self.toks[self.i - 1].text

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def end(self) -> None:
        if not self.done():
            raise DdlError(102, f"Incorrect syntax near '{self.toks[self.i].text}'.", 15)


def _exists(db: Database, name: str) -> bool:
    low = name.lower()
    return (
        any(u.name.lower() == low for u in db.users)
        or low in (r.lower() for r in db.roles)
        or low in FIXED_ROLE_IDS
        or low in ("dbo", "guest", "sys", "information_schema")
    )


def _directory(state: SandboxState, name: str, object_id: str | None) -> Identity:
    server = state.server
    if not server.identity or not server.directory_readable:
        raise DdlError(33134, ae.PRINCIPAL_NOT_RESOLVED.render(principal=name, reason=ae.SERVER_IDENTITY_MISSING))
    if object_id is not None:
        found = state.identity_by_object_id(object_id)
        if found is None:
            raise DdlError(37545, f"Principal '{name}' with object id '{object_id}' could not be found in the directory.")
        return found
    matches = [i for i in state.identities if name.lower() in (i.name.lower(), i.upn.lower())]
    if len(matches) > 1:
        raise DdlError(
            33131,
            f"Principal '{name}' has a duplicate display name. Make the display name unique in Azure Active Directory and execute this statement again.",
        )
    if not matches:
        raise DdlError(33130, f"Principal '{name}' could not be found or this principal type is not supported.")
    return matches[0]


def create_user(p: Parser, db: Database, state: SandboxState, caller: str) -> None:
    name = p.name()
    _require(db, caller, "ALTER ANY USER")
    if p.peek("FROM"):
        p.word("FROM")
        p.word("EXTERNAL")
        p.word("PROVIDER")
        object_id = None
        if p.peek("WITH"):
            p.word("WITH")
            p.word("OBJECT_ID")
            p.punct("=")
            object_id = p.take("string")
        p.end()
        ident = _directory(state, name, object_id)
        sid, kind = ident.sid_guid, ("X" if ident.kind == "group" else "E")
    else:
        p.word("WITH")
        options: dict[str, str] = {}
        while not p.done():
            key = p.word("SID", "TYPE", "DEFAULT_SCHEMA")
            p.punct("=")
            options[key] = p.take("hex") if key == "SID" else p.name()
            if not p.done():
                p.punct(",")
        if "SID" not in options or len(options["SID"]) != 32:
            raise DdlError(15419, "Supplied parameter sid should be binary(16).")
        sid = str(uuid.UUID(bytes_le=bytes.fromhex(options["SID"])))
        kind = options.get("TYPE", "E").upper()
        if kind not in ("E", "X"):
            raise DdlError(102, f"Incorrect syntax near '{kind}'.", 15)
    if _exists(db, name):
        raise DdlError(15023, f"User, group, or role '{name}' already exists in the current database.")
    if any(u.sid.lower() == sid.lower() for u in db.users):
        raise DdlError(15063, "The login already has an account under a different user name.")
    next_id = max([u.principal_id for u in db.users] + [4]) + 1
    db.users.append(DbUser(name, sid, kind, next_id))


def create_role(p: Parser, db: Database, caller: str) -> None:
    name = p.name()
    if p.peek("AUTHORIZATION"):
        p.word("AUTHORIZATION")
        # A role's owner (sys.database_principals.owning_principal_id) is not modelled: only the default, dbo, is
        # accepted, so a role is never reported created with an owner it does not have.
        if p.name().lower() != "dbo":
            raise unsupported("CREATE ROLE ... AUTHORIZATION (a role owner other than dbo)")
    p.end()
    _require(db, caller, "ALTER ANY ROLE")
    if _exists(db, name):
        raise DdlError(15023, f"User, group, or role '{name}' already exists in the current database.")
    db.roles.append(name)


def _role_name(db: Database, name: str) -> str | None:
    low = name.lower()
    return next((r for r in [*FIXED_ROLE_IDS, *db.roles] if r.lower() == low), None)


def alter_role(p: Parser, db: Database, caller: str) -> None:
    role = p.name()
    action = p.word("ADD", "DROP")
    p.word("MEMBER")
    member = p.name()
    p.end()
    real = _role_name(db, role)
    _require(db, caller, "CONTROL" if real == "db_owner" else "ALTER ANY ROLE")
    if real is None or real == "public":
        raise DdlError(15151, f"Cannot alter the role '{role}', because it does not exist or you do not have permission.")
    user = db.user(member)
    member_name = user.name if user else _role_name(db, member)
    if member_name is None:
        verb = "add" if action == "ADD" else "drop"
        raise DdlError(15151, f"Cannot {verb} the principal '{member}', because it does not exist or you do not have permission.")
    members = db.members.setdefault(real, [])
    present = [m for m in members if m.lower() == member_name.lower()]
    if action == "ADD" and not present:
        members.append(member_name)
    elif action == "DROP":
        for m in present:
            members.remove(m)


_GRANTABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE", "REFERENCES", "VIEW", "ALTER", "CONTROL", "CONNECT", "CREATE", "TAKE")
_CREATABLE = ("TABLE", "SCHEMA", "VIEW", "PROCEDURE", "FUNCTION", "TYPE", "SYNONYM")


def _permission(p: Parser) -> str:
    word = p.word(*_GRANTABLE)
    if word == "VIEW":
        return "VIEW " + p.word("DEFINITION")
    if word == "CREATE":
        return "CREATE " + p.word(*_CREATABLE)
    if word == "TAKE":
        return "TAKE " + p.word("OWNERSHIP")
    if word == "ALTER" and p.peek("ANY"):
        p.word("ANY")
        return "ALTER ANY " + p.word("SCHEMA", "USER", "ROLE")
    return word


def grant_or_revoke(p: Parser, db: Database, caller: str, verb: str) -> None:
    """GRANT, DENY and REVOKE at database or schema scope; a GRANT replaces a DENY and a DENY a GRANT, as on SQL Server."""
    permissions = [_permission(p)]
    while not p.done() and p.toks[p.i].text == ",":
        p.punct(",")
        permissions.append(_permission(p))
    scope, target = "DATABASE", ""
    if p.peek("ON"):
        p.word("ON")
        p.word("SCHEMA")
        p.punct("::")
        target = p.name()
        scope = "SCHEMA"
    p.word("TO", "FROM")
    grantee = p.name()
    p.end()
    _require(db, caller, "ALTER ANY ROLE" if scope == "SCHEMA" else "CONTROL")
    if scope == "SCHEMA":
        real = next((s for s in db.schemas if s.lower() == target.lower()), None)
        if real is None:
            raise DdlError(15151, f"Cannot find the schema '{target}', because it does not exist or you do not have permission.")
        target = real
    who = db.user(grantee)
    grantee_name = who.name if who else _role_name(db, grantee)
    if grantee_name is None:
        raise DdlError(15151, f"Cannot find the user '{grantee}', because it does not exist or you do not have permission.")
    for perm in permissions:
        same = [
            x
            for x in db.permissions
            if x.grantee.lower() == grantee_name.lower()
            and x.permission == perm
            and x.scope == scope
            and x.target.lower() == target.lower()
        ]
        wanted = {"GRANT": "G", "DENY": "D"}.get(verb)
        if wanted is not None and [x.state for x in same] == [wanted]:
            continue  # already so: nothing changes
        for x in same:
            db.permissions.remove(x)
        if verb in ("GRANT", "DENY"):
            db.permissions.append(Permission(grantee_name, perm, scope, target, "G" if verb == "GRANT" else "D"))


def drop(p: Parser, db: Database, caller: str, owns_objects: Callable[[str], bool] = lambda _name: False) -> None:
    """DROP USER / DROP ROLE; a principal that owns objects (15183) or a schema (15138) stays, as on SQL Server."""
    kind = p.word("USER", "ROLE")
    if p.peek("IF"):
        p.word("IF")
        p.word("EXISTS")
        if_exists = True
    else:
        if_exists = False
    name = p.name()
    p.end()
    _require(db, caller, "ALTER ANY USER" if kind == "USER" else "ALTER ANY ROLE")
    if owns_objects(name):
        raise DdlError(15183, "The database principal owns objects in the database and cannot be dropped.")
    if any(owner.lower() == name.lower() for owner in db.schema_owners.values()):
        raise DdlError(15138, "The database principal owns a schema in the database, and cannot be dropped.")
    if kind == "USER":
        user = db.user(name)
        if user is None:
            if if_exists:
                return
            raise DdlError(15151, f"Cannot drop the user '{name}', because it does not exist or you do not have permission.")
        db.users.remove(user)
        for members in db.members.values():
            members[:] = [m for m in members if m.lower() != user.name.lower()]
        db.permissions = [x for x in db.permissions if x.grantee.lower() != user.name.lower()]
        return
    real = next((r for r in db.roles if r.lower() == name.lower()), None)
    if real is None:
        if if_exists:
            return
        raise DdlError(15151, f"Cannot drop the role '{name}', because it does not exist or you do not have permission.")
    if db.members.get(real):
        raise DdlError(15144, "The role has members. It must be empty before it can be dropped.")
    db.roles.remove(real)
    db.members.pop(real, None)
    db.permissions = [x for x in db.permissions if x.grantee.lower() != real.lower()]


def is_ddl(toks: list[Tok]) -> bool:
    """The DDL forms the sandbox executes; anything else falls through to 'not supported'."""
    if not toks:
        return False
    if toks[0].is_word("GRANT", "REVOKE", "DENY"):
        return True
    second = toks[1] if len(toks) > 1 else None
    if toks[0].is_word("CREATE", "DROP"):
        return second is not None and second.is_word("USER", "ROLE")
    return toks[0].is_word("ALTER") and second is not None and second.is_word("ROLE")


def execute(
    toks: list[Tok],
    mutable: Callable[[], Database],
    state: SandboxState,
    caller: str,
    owns_objects: Callable[[str], bool] = lambda _name: False,
) -> None:
    """``owns_objects``: whether a principal owns objects (tables, views), which live beside the state, not in it."""
    p = Parser(toks)
    first = p.word("CREATE", "ALTER", "GRANT", "REVOKE", "DENY", "DROP")
    db = mutable()
    if first == "CREATE":
        what = p.word("USER", "ROLE")
        create_user(p, db, state, caller) if what == "USER" else create_role(p, db, caller)
    elif first == "ALTER":
        p.word("ROLE")
        alter_role(p, db, caller)
    elif first in ("GRANT", "REVOKE", "DENY"):
        grant_or_revoke(p, db, caller, first)
    else:
        drop(p, db, caller, owns_objects)

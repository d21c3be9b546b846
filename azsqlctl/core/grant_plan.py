"""grant's plan: read a database's principals, memberships and grants; diff against what is wanted.

The plan is data: steps (each with the exact T-SQL that will run), unchanged facts,
and drift. Applying runs exactly the printed steps, in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError
from .grant_state import DbState
from .tsql import guid_literal, quote_name, sid_literal

PRESETS: dict[str, tuple[str, ...]] = {
    "reader": ("db_datareader",),
    "writer": ("db_datareader", "db_datawriter"),
    "executor": ("app_executor",),
    "migrator": ("db_ddladmin", "db_datareader", "db_datawriter"),
}
FIXED_ROLES = (
    "db_datareader",
    "db_datawriter",
    "db_ddladmin",
    "db_owner",
    "db_securityadmin",
    "db_accessadmin",
    "db_backupoperator",
    "db_denydatareader",
    "db_denydatawriter",
)
ELEVATED = ("db_owner", "db_securityadmin", "db_accessadmin", "CONTROL")
CI_ONLY = ("migrator", "db_ddladmin")


@dataclass(frozen=True)
class SchemaGrant:
    permissions: tuple[str, ...]
    schema: str = ""  # "" = the whole database


@dataclass(frozen=True)
class RoleSpec:
    name: str
    grants: tuple[SchemaGrant, ...] = ()


BUILTIN_CUSTOM = {"app_executor": RoleSpec("app_executor", (SchemaGrant(("EXECUTE",)),))}


@dataclass(frozen=True)
class IdentitySpec:
    name: str
    kind: str  # app, user, group
    client_id: str = ""
    object_id: str = ""
    sid_mode: bool = False

    @property
    def sid(self) -> str:
        return self.client_id if self.kind == "app" else self.object_id

    @property
    def user_type(self) -> str:
        return "X" if self.kind == "group" else "E"

    def create_sql(self) -> str:
        name = quote_name(self.name)
        if self.sid_mode:
            return f"CREATE USER {name} WITH SID = {sid_literal(self.sid)}, TYPE = {self.user_type}"
        if self.object_id:  # disambiguates duplicate display names; the server still stores the right SID
            return f"CREATE USER {name} FROM EXTERNAL PROVIDER WITH OBJECT_ID = {guid_literal(self.object_id)}"
        return f"CREATE USER {name} FROM EXTERNAL PROVIDER"


def validate_identity(spec: IdentitySpec) -> list[str]:
    """Why this identity could not be matched to a database user, if it could not."""
    out = []
    if spec.kind not in ("app", "user", "group"):
        out.append(f"type must be app, user or group, not '{spec.kind}'")
    for label, value in (("client id", spec.client_id), ("object id", spec.object_id)):
        if value:
            try:
                uuid.UUID(value)
            except ValueError:
                out.append(f"{label} '{value}' is not a GUID")
    if spec.kind == "app" and spec.sid_mode and not spec.client_id:
        out.append(
            "an app or managed identity matches by its client id: --sid-mode with only an object id creates a user that can never log in"
        )
    elif spec.kind == "app" and not spec.client_id:
        out.append("an app or managed identity is matched by its client id: pass it (client_id); an object id alone only names it")
    if spec.kind in ("user", "group") and not spec.object_id:
        out.append(f"a {spec.kind} is matched by its object id: pass it (object_id)")
    if spec.kind in ("user", "group") and spec.client_id:
        out.append(f"a {spec.kind} has no client id; pass --object-id")
    return out


@dataclass
class Step:
    op: str  # create_user, create_role, grant, revoke, add_member, drop_member, drop_user
    sign: str  # + or -
    summary: str
    sql: str


@dataclass
class Plan:
    server: str
    database: str
    identity: str = ""
    steps: list[Step] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)  # differences reported, not changed (stale SID, extra grants)
    blocked: str = ""  # a drift that makes the plan unsafe to apply

    @property
    def empty(self) -> bool:
        return not self.steps and not self.drift and not self.blocked

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server, "database": self.database, "identity": self.identity,
            "steps": [{"op": s.op, "sign": s.sign, "summary": s.summary, "sql": s.sql} for s in self.steps],
            "unchanged": self.unchanged, "drift": self.drift, "blocked": self.blocked,
        }  # fmt: skip


def expand_roles(roles: list[str]) -> list[str]:
    """Presets to role names, in order, without duplicates."""
    out: list[str] = []
    for role in roles:
        for name in PRESETS.get(role.lower(), (role,)):
            if name.lower() not in (o.lower() for o in out):
                out.append(name)
    return out


def refuse_elevated(roles: list[str], allow: bool) -> None:
    elevated = list(dict.fromkeys(r for r in roles if r.lower() in (e.lower() for e in ELEVATED)))
    if elevated and not allow:
        raise UsageError(
            f"refusing elevated role{'s' if len(elevated) > 1 else ''} {', '.join(elevated)}",
            "least privilege: use reader, writer or executor; pass --allow-elevated if you really mean it",
            code="elevated_role",
        )


def plan_role(state: DbState, spec: RoleSpec, plan: Plan, prune: bool) -> None:
    """Create a custom role and bring its grants to the spec."""
    missing_schemas = sorted({g.schema for g in spec.grants if g.schema and g.schema.lower() not in (s.lower() for s in state.schemas)})
    if missing_schemas:
        plan.blocked = (
            f"schema {', '.join(missing_schemas)} does not exist in {plan.database}: create it (a migration) before granting on it"
        )
        plan.drift.append(plan.blocked)
        return
    existing = state.principal(spec.name)
    if existing is None:
        plan.steps.append(Step("create_role", "+", f"create role {spec.name}", f"CREATE ROLE {quote_name(spec.name)}"))
    elif existing["type"] != "R":
        plan.blocked = f"[{spec.name}] exists and is not a role"
        return
    wanted = {(p.upper(), g.schema.lower()) for g in spec.grants for p in g.permissions}
    have = {(perm, schema) for grantee, perm, schema in state.permissions if grantee == spec.name.lower() and perm != "CONNECT"}
    for g in spec.grants:
        missing = [p.upper() for p in g.permissions if (p.upper(), g.schema.lower()) not in have]
        if missing:
            on = f" ON SCHEMA::{quote_name(g.schema)}" if g.schema else ""
            where = f"schema {g.schema}" if g.schema else "the database"
            plan.steps.append(
                Step(
                    "grant",
                    "+",
                    f"grant {', '.join(missing)} on {where} to {spec.name}",
                    f"GRANT {', '.join(missing)}{on} TO {quote_name(spec.name)}",
                )
            )
    for perm, schema in sorted(have - wanted):
        where = f"schema {schema}" if schema else "the database"
        if prune:
            on = f" ON SCHEMA::{quote_name(schema)}" if schema else ""
            plan.steps.append(
                Step("revoke", "-", f"revoke {perm} on {where} from {spec.name}", f"REVOKE {perm}{on} FROM {quote_name(spec.name)}")
            )
        else:
            plan.drift.append(f"role {spec.name} has {perm} on {where}, which the policy does not grant (--prune removes it)")
    if existing is not None and not (wanted - have):
        plan.unchanged.append(f"role {spec.name} and its grants")


def plan_identity(
    state: DbState, ident: IdentitySpec, roles: list[str], plan: Plan,
    *, revoke: bool = False, drop_user: bool = False, exclusive: bool = False, prune: bool = False,
) -> None:  # fmt: skip
    """Add the steps that give ``ident`` exactly ``roles`` (or take them away with ``revoke``)."""
    plan.identity = ident.name
    if ident.kind == "app" and ident.object_id and (wrong := state.by_sid(ident.object_id)) is not None:
        plan.blocked = (
            f"user [{wrong['name']}] was created with the object id {ident.object_id} as its SID; apps match by client id "
            f"{ident.client_id}: DROP USER {quote_name(str(wrong['name']))} and re-run"
        )
        plan.drift.append(plan.blocked)
        return
    by_sid = state.by_sid(ident.sid)
    by_name = state.principal(ident.name)
    if by_name is not None and (by_sid is None or by_sid["name"] != by_name["name"]):
        shown = "0x" + bytes(by_name["sid"]).hex().upper() if by_name.get("sid") is not None else "none"
        plan.blocked = (
            f"user [{by_name['name']}] exists with SID {shown} but {ident.name}'s SID is {sid_literal(ident.sid)} "
            f"({'client' if ident.kind == 'app' else 'object'} id {ident.sid}): a stale SID, or another principal with this name; "
            f"DROP USER {quote_name(str(by_name['name']))} and re-run"
        )
        plan.drift.append(plan.blocked)
        return
    user = str(by_sid["name"]) if by_sid is not None else ident.name
    current = {role for role, member in state.members if member == user.lower()}
    if revoke:
        for role in roles:
            if role.lower() in current:
                plan.steps.append(
                    Step("drop_member", "-", f"remove {user} from {role}", f"ALTER ROLE {quote_name(role)} DROP MEMBER {quote_name(user)}")
                )
        if drop_user and by_sid is not None:
            plan.steps.append(Step("drop_user", "-", f"drop user {user}", f"DROP USER {quote_name(user)}"))
        return
    if by_sid is None:
        plan.steps.append(Step("create_user", "+", f"create user {user} ({ident.kind}, SID {sid_literal(ident.sid)})", ident.create_sql()))
    else:
        plan.unchanged.append(f"user {user} (SID {sid_literal(ident.sid)})")
    for role in roles:
        if role.lower() in current:
            plan.unchanged.append(f"{user} is a member of {role}")
        else:
            plan.steps.append(
                Step("add_member", "+", f"add {user} to {role}", f"ALTER ROLE {quote_name(role)} ADD MEMBER {quote_name(user)}")
            )
    for role in sorted(current - {r.lower() for r in roles}):
        if exclusive and prune:
            plan.steps.append(
                Step("drop_member", "-", f"remove {user} from {role}", f"ALTER ROLE {quote_name(role)} DROP MEMBER {quote_name(user)}")
            )
        elif exclusive:
            plan.drift.append(f"{user} is also a member of {role}, which the policy does not grant (--prune removes it)")
        else:
            plan.unchanged.append(f"{user} is also a member of {role} (not managed here)")

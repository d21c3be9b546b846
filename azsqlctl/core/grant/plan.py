"""grant's plan: read a database's principals, memberships and grants; diff against what is wanted.

The plan is data: steps (each with the exact T-SQL that will run), unchanged facts,
and drift. Applying runs exactly the printed steps, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UsageError
from ..identity import IdentitySpec, Kind, sid_guid, validate_identity
from ..ports import Row, row_bytes
from ..roles import CI_ONLY_ROLES, ELEVATED_ROLES, FIXED_ROLES
from ..tsql import create_user, quote_name, sid_literal
from .state import DbState

__all__ = ["FIXED_ROLES", "IdentitySpec", "validate_identity"]  # re-exported: identity.py and roles.py are their homes

PRESETS: dict[str, tuple[str, ...]] = {
    "reader": ("db_datareader",),
    "writer": ("db_datareader", "db_datawriter"),
    "executor": ("app_executor",),
    "migrator": ("db_ddladmin", "db_datareader", "db_datawriter"),
}
ELEVATED = (*sorted(ELEVATED_ROLES), "CONTROL")  # role names and the permission that make an identity an owner
CI_ONLY = ("migrator", *sorted(CI_ONLY_ROLES))


@dataclass(frozen=True)
class SchemaGrant:
    permissions: tuple[str, ...]
    schema: str = ""  # "" = the whole database


@dataclass(frozen=True)
class RoleSpec:
    name: str
    grants: tuple[SchemaGrant, ...] = ()


BUILTIN_CUSTOM = {"app_executor": RoleSpec("app_executor", (SchemaGrant(("EXECUTE",)),))}


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
    correction: dict[str, str] = field(default_factory=dict)  # the identity as the request should name it

    @property
    def empty(self) -> bool:
        return not self.steps and not self.drift and not self.blocked

    def as_dict(self) -> dict[str, object]:
        return {
            "server": self.server, "database": self.database, "identity": self.identity,
            "steps": [{"op": s.op, "sign": s.sign, "summary": s.summary, "sql": s.sql} for s in self.steps],
            "unchanged": self.unchanged, "drift": self.drift, "blocked": self.blocked, "correction": self.correction,
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
            plan.drift.append(f"role {spec.name} has {perm} on {where}, which is not granted here (--prune removes it)")
    if existing is not None and not (wanted - have):
        plan.unchanged.append(f"role {spec.name} and its grants")


def _not_an_identity(principal: Row, database: str) -> UsageError:
    what = "a database role" if principal["type"] == "R" else "a built-in principal"
    return UsageError(
        f"[{principal['name']}] is {what} in {database}, not a user for an Entra identity",
        "grant names an identity as Azure shows it (az identity show -n NAME -g GROUP --query name); "
        "it never changes roles or built-in principals",
        code="not_an_identity",
    )


def _block(plan: Plan, message: str, correction: dict[str, str] | None = None) -> None:
    plan.blocked = message
    plan.drift.append(message)
    if correction:
        plan.correction = correction


def _match_user(state: DbState, ident: IdentitySpec, plan: Plan) -> Row | bool | None:
    """The existing user for ``ident`` (None: none yet; False: blocked - why is in the plan).

    Never advises DROP USER: a user whose SID is one of the identity's ids is that identity
    (or the request named it with the wrong id), and one whose SID is neither may belong to
    someone else.
    """
    sid = ident.sid
    by_sid = state.by_sid(sid) if sid else None
    by_name = state.principal(ident.name)
    if by_name is not None and (by_name["type"] == "R" or by_name.get("sid") is None):
        raise _not_an_identity(by_name, plan.database)
    if by_sid is not None:
        if by_name is not None and str(by_name["name"]).lower() != str(by_sid["name"]).lower():
            _block(
                plan,
                f"{ident.name}'s SID {ident.sid_hex} ({ident.sid_label} {sid}) belongs to user [{by_sid['name']}], "
                f"and [{by_name['name']}] is another principal: two users cannot stand for one identity; "
                f"name the identity [{by_sid['name']}] or rename one of them",
            )
            return False
        return by_sid
    if by_name is None:
        return None
    existing = sid_guid(row_bytes(by_name.get("sid")))
    shown = sid_literal(existing) if existing else "none"
    other = ident.other_id
    if existing and other and existing.lower() == other.lower():
        swapped = {"type": Kind.APP.value, "client_id": existing, "object_id": ident.client_id}
        _block(
            plan,
            f"user [{by_name['name']}] exists with SID {shown}, which is the object id {other} given for {ident.name}; "
            "Azure SQL stores an app's client id as its SID. Either the two ids are swapped in this request, or the user "
            f"was created with the object id as SID and cannot log in as {ident.name}. Nothing was changed; check which is "
            'which with az identity show --ids ARM_ID --query "{clientId:clientId, principalId:principalId}". '
            f"If they are swapped, the corrected request is: type app, client id {existing}"
            + (f", object id {ident.client_id}" if ident.client_id else ""),
            {k: v for k, v in swapped.items() if v},
        )
        return False
    if not sid:  # an app named by object id only: its SID (the client id) is not known here
        plan.unchanged.append(
            f"user {by_name['name']} exists with SID {shown}; only {ident.name}'s object id was given, so that SID "
            "(its client id) cannot be compared: pass the client id too to verify it"
        )
        return by_name
    candidate = {"type": Kind.APP.value, "client_id": existing} if existing else {}
    if_app = (
        f" If {existing} is {ident.name}'s client id (a managed identity or app: az identity show ... --query clientId), "
        f"the corrected request is: type app, client id {existing}."
        if existing
        else ""
    )
    _block(
        plan,
        f"user [{by_name['name']}] exists with SID {shown} but {ident.name}'s SID is {ident.sid_hex} "
        f"({ident.sid_label} {sid}): a stale SID, or another principal with this name.{if_app} "
        "Nothing was changed; grant never drops a user.",
        candidate,
    )
    return False


def plan_identity(
    state: DbState, ident: IdentitySpec, roles: list[str], plan: Plan,
    *, revoke: bool = False, drop_user: bool = False, exclusive: bool = False, prune: bool = False,
) -> None:  # fmt: skip
    """Add the steps that give ``ident`` exactly ``roles`` (or take them away with ``revoke``)."""
    plan.identity = ident.name
    found = _match_user(state, ident, plan)
    if found is False:
        return
    by_sid = found if isinstance(found, dict) else None
    user = str(by_sid["name"]) if by_sid is not None else ident.name
    current = state.roles_of(user)
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
        how = f"SID {ident.sid_hex}" if ident.sid else f"object id {ident.object_id}; the server stores its client id as SID"
        plan.steps.append(Step("create_user", "+", f"create user {user} ({ident.kind}, {how})", create_user(ident)))
    elif ident.sid:
        renamed = f": {ident.name}'s SID under another name (the SID decides)" if user.lower() != ident.name.lower() else ""
        plan.unchanged.append(f"user {user} (SID {ident.sid_hex}){renamed}")
    for role in roles:
        if role.lower() in current:
            plan.unchanged.append(f"{user} is a member of {role}")
        else:
            plan.steps.append(
                Step("add_member", "+", f"add {user} to {role}", f"ALTER ROLE {quote_name(role)} ADD MEMBER {quote_name(user)}")
            )
    for role in sorted(current - {r.lower() for r in roles}) if current else ():
        if exclusive and prune:
            plan.steps.append(
                Step("drop_member", "-", f"remove {user} from {role}", f"ALTER ROLE {quote_name(role)} DROP MEMBER {quote_name(user)}")
            )
        elif exclusive:
            plan.drift.append(f"{user} is also a member of {role}, which is not granted here (--prune removes it)")
        else:
            plan.unchanged.append(f"{user} is also a member of {role} (not managed here)")

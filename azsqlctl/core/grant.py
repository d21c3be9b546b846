"""grant: plan, then apply in one transaction per database - for one identity or a policy.

A database's plan runs as one transaction: any failing statement rolls the whole
database back and is reported with its position; other databases go on.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import AzsqlctlError, NotFound
from .grant_plan import BUILTIN_CUSTOM, PRESETS, IdentitySpec, Plan, RoleSpec, expand_roles, plan_identity, plan_role
from .grant_state import read_state
from .policy import Policy
from .ports import DdlSession


class GrantPorts(Protocol):
    def session(self, server: str, database: str) -> DdlSession: ...
    def databases(self, server: str) -> list[str]: ...


class ApplyFailed(AzsqlctlError):
    """A statement failed; the transaction was rolled back."""


@dataclass
class TargetResult:
    server: str
    database: str
    status: str  # unchanged, planned, changed, drift, failed
    plan: Plan | None = None
    error: str = ""
    error_code: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"server": self.server, "database": self.database, "status": self.status, "error": self.error, "error_code": self.error_code,
                "plan": self.plan.as_dict() if self.plan else None}  # fmt: skip


@dataclass
class Assignment:
    identity: IdentitySpec
    roles: list[str]  # expanded role names


@dataclass
class Request:
    assignments: list[Assignment]
    custom_roles: dict[str, RoleSpec] = field(default_factory=dict)
    revoke: bool = False
    drop_user: bool = False
    exclusive: bool = False  # policy mode: memberships/grants not declared are drift
    prune: bool = False


def build_plan(session: DdlSession, server: str, database: str, req: Request) -> Plan:
    state = read_state(session)
    plan = Plan(server, database)
    roles_needed = {r for a in req.assignments for r in a.roles}
    custom = {**BUILTIN_CUSTOM, **req.custom_roles}
    if not req.revoke:
        for name in sorted(roles_needed):
            if name in custom:
                plan_role(state, custom[name], plan, req.prune)
                if plan.blocked:
                    return plan
        for name in sorted(roles_needed - set(custom)):
            existing = state.principal(name)
            if existing is None or existing["type"] != "R":
                raise NotFound(
                    f"role '{name}' is neither a preset nor a role in {database}",
                    f"presets: {', '.join(PRESETS)}; or create the role (a custom role in a --policy file)",
                    code="unknown_role",
                )
    for a in req.assignments:
        plan_identity(
            state, a.identity, a.roles, plan, revoke=req.revoke, drop_user=req.drop_user, exclusive=req.exclusive, prune=req.prune
        )
        if plan.blocked:
            break
    if len(req.assignments) > 1:
        plan.identity = ", ".join(a.identity.name for a in req.assignments)
    return plan


def apply_plan(session: DdlSession, plan: Plan) -> None:
    """Run exactly the plan's statements in one transaction; roll back on the first error."""
    for i, step in enumerate(plan.steps, 1):
        try:
            session.execute(step.sql)
        except AzsqlctlError as exc:
            with contextlib.suppress(AzsqlctlError):  # a dead connection: the server rolls back for us
                session.rollback()
            failed = ApplyFailed(
                f"statement {i} of {len(plan.steps)} failed ({step.summary}): {exc.message}",
                f"rolled back: nothing changed in this database. {exc.hint}".strip(),
                code=exc.code,
                details={"statement": i, "sql": step.sql, **exc.details},
            )
            failed.exit_code = exc.exit_code
            raise failed from None
    session.commit()


def run_target(ports: GrantPorts, server: str, database: str, req: Request, mode: str) -> TargetResult:
    """mode: plan (dry-run / check) or apply."""
    try:
        session = ports.session(server, database)
    except AzsqlctlError as exc:
        return TargetResult(server, database, "failed", None, exc.message, exc.code)
    plan: Plan | None = None
    try:
        plan = build_plan(session, server, database, req)
        if plan.blocked:
            return TargetResult(server, database, "drift", plan, plan.blocked, "drift")
        if not plan.steps:
            return TargetResult(server, database, "drift" if plan.drift else "unchanged", plan)
        if mode != "apply":
            return TargetResult(server, database, "planned", plan)
        apply_plan(session, plan)
        return TargetResult(server, database, "changed", plan)
    except AzsqlctlError as exc:
        return TargetResult(server, database, "failed", plan, exc.message, exc.code)
    finally:
        session.close()


def expand_targets(policy: Policy, ports: GrantPorts, default_server: str) -> list[tuple[str, str, Request]]:
    """(server, database, request) per database; globs are matched against the server's databases."""
    out: dict[tuple[str, str], Request] = {}
    for target in policy.targets:
        for server in target.servers or [default_server]:
            names: list[str] = []
            if any(ch in d for d in target.databases for ch in "*?["):
                available = ports.databases(server)
                for pattern in target.databases:
                    names += [n for n in available if fnmatch.fnmatchcase(n.lower(), pattern.lower()) and n.lower() != "master"]
            else:
                names = list(target.databases)
            for database in dict.fromkeys(names):
                req = out.setdefault((server, database), Request([], dict(policy.roles), exclusive=True))
                for ident, roles in target.grants.items():
                    req.assignments.append(Assignment(policy.identities[ident], expand_roles(roles)))
    return [(s, d, r) for (s, d), r in out.items()]


def run_many(
    jobs: list[tuple[str, str, Request]],
    ports: GrantPorts,
    mode: str,
    concurrency: int,
    on_done: Callable[[TargetResult], None] | None = None,
) -> list[TargetResult]:
    """Every database in its own transaction, ``concurrency`` at a time; one failure stops nothing."""
    results: dict[int, TargetResult] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = {pool.submit(run_target, ports, s, d, r, mode): i for i, (s, d, r) in enumerate(jobs)}
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            if on_done is not None:
                on_done(result)
    return [results[i] for i in range(len(jobs))]

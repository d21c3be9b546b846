"""grant: one operation for one identity or a whole policy - plan every target, then apply.

A single-identity grant is a one-target, one-identity policy: both go through
``execute`` (the request's rules, from options to an ``Operation``: ``request``).
The core plans every database; asked to (``Mode.ASK``), it stops there, the CLI shows
the plans and asks once, and ``apply_confirmed`` applies what was shown. Each database's plan
runs as one transaction: a failing statement rolls that database back and is
reported with its position; the other databases go on. Transient Azure SQL
errors (40613, 40501, 40197) are retried with bounded backoff. Status and exit
code come from one place: ``Status`` and ``exit_code``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from ..errors import AzsqlctlError, CheckFailed, ExitCode, Interrupted, NotFound
from ..identity import IdentitySpec
from ..ports import DdlSession
from .entra_admin import AdminSpec, plan_entra_admin, resolve_wanted
from .plan import BUILTIN_CUSTOM, FIXED_ROLES, PRESETS, Plan, RoleSpec, expand_roles, plan_identity, plan_role
from .policy import Policy, did_you_mean
from .state import read_state

log = logging.getLogger("azsqlctl.grant")
TRANSIENT = frozenset({"40613", "40501", "40197"})  # database unavailable, service busy, service error: retry
BACKOFF: tuple[float, ...] = (1.0, 2.0, 4.0)  # seconds before each retry; len = the most retries per database


class GrantPorts(Protocol):
    def session(self, server: str, database: str) -> DdlSession: ...
    def databases(self, server: str) -> list[str]: ...


class AdminPort(Protocol):
    """The server's Entra admin over ARM."""

    def current(self) -> AdminSpec | None: ...
    def set(self, wanted: AdminSpec) -> None: ...


class ApplyFailed(AzsqlctlError):
    """A statement failed; the transaction was rolled back."""


class GrantLockNotGranted(CheckFailed):
    """Another grant kept the database's application lock for longer than we wait, or the server refused it."""

    code = "grant_lock"


# One grant at a time per database, on Azure SQL as in the sandbox: an exclusive application lock owned by the
# apply's transaction (sp_getapplock is database-scoped, so one name serves every database), taken before the
# state is read, so a second pipeline waits, re-reads what the first committed, and applies only what is left.
GRANT_LOCK = "azsqlctl grant"
GRANT_LOCK_WAIT_MS = 120_000
_APPLOCK_RESULTS = {
    -1: "timed out",
    -2: "was cancelled",
    -3: "was chosen as a deadlock victim",
    -999: "was refused (parameter or call error)",
}


def hold_grant_lock(session: DdlSession, database: str) -> None:
    code = session.applock(GRANT_LOCK, GRANT_LOCK_WAIT_MS)
    if code < 0:
        raise GrantLockNotGranted(
            f"the lock that serialises grants on {database} {_APPLOCK_RESULTS.get(code, f'failed ({code})')}: nothing applied",
            f"another `azsqlctl grant` may still be applying to {database}; re-run when it has finished",
            details={"sp_getapplock": code},
        )


class Status(StrEnum):
    UNCHANGED = "unchanged"  # already as requested
    PLANNED = "planned"  # changes shown, not applied (dry run, check, declined)
    CHANGED = "changed"  # changes applied
    DRIFT = "drift"  # differs in a way this run does not change (stale SID, undeclared memberships)
    FAILED = "failed"  # an error: nothing changed in this database


class Phase(StrEnum):
    """Where one database stands, for the report of an interrupted run."""

    UNTOUCHED = "untouched"  # nothing that changes it was sent
    APPLYING = "applying"  # its transaction is open (an interruption rolls it back: never committed after one)
    COMMITTING = "committing"  # the COMMIT is on the wire
    APPLIED = "applied"  # committed
    ROLLED_BACK = "rolled back"  # its transaction was rolled back (a failed statement, or the interruption)


class Progress:
    """Per-database phases of an apply, shared by the worker threads; ``stop()`` is the interruption.

    After ``stop()`` no database starts applying and none commits: an open transaction is rolled
    back (or dies with the connection, which Azure SQL rolls back). A COMMIT already sent is waited
    for (briefly), so the report says what is true: applied, rolled back, or untouched.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._phase: dict[tuple[str, str], Phase] = {}
        self._stopping = False

    def start(self, server: str, database: str) -> bool:
        with self._cond:
            if self._stopping:
                return False
            self._phase[(server, database)] = Phase.APPLYING
            return True

    def may_commit(self, server: str, database: str) -> bool:
        with self._cond:
            if self._stopping:
                self._phase[(server, database)] = Phase.ROLLED_BACK
                return False
            self._phase[(server, database)] = Phase.COMMITTING
            return True

    def finish(self, server: str, database: str, phase: Phase) -> None:
        with self._cond:
            self._phase[(server, database)] = phase
            self._cond.notify_all()

    def stop(self, wait: float = 2.0) -> dict[tuple[str, str], Phase]:
        """Stop applying; wait up to ``wait`` s for COMMITs on the wire; the phases (open transactions: rolled back)."""
        deadline = time.monotonic() + wait
        with self._cond:
            self._stopping = True
            while Phase.COMMITTING in self._phase.values() and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            return {k: Phase.ROLLED_BACK if v is Phase.APPLYING else v for k, v in self._phase.items()}


class Mode(StrEnum):
    APPLY = "apply"
    DRY_RUN = "dry-run"
    CHECK = "check"
    ASK = "ask"  # plan; the caller confirms once, then apply_confirmed applies what was shown


@dataclass
class TargetResult:
    server: str
    database: str
    status: Status
    plan: Plan | None = None
    error: str = ""
    error_code: str = ""
    hint: str = ""
    exit_code: ExitCode = ExitCode.OK  # for failed rows: the error's exit code
    retries: list[str] = field(default_factory=list)  # the transient error codes retried, in order

    @property
    def note(self) -> str:
        if not self.retries:
            return ""
        return f"retried {len(self.retries)}x after transient error {', '.join(dict.fromkeys(self.retries))}"

    def as_dict(self) -> dict[str, object]:
        return {"server": self.server, "database": self.database, "status": self.status.value, "error": self.error,
                "error_code": self.error_code, "hint": self.hint, "retries": self.retries, "note": self.note,
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
    exclusive: bool = True  # memberships/grants not declared are drift (single mode too: a one-identity policy)
    prune: bool = False


@dataclass
class Job:
    server: str
    database: str
    request: Request


@dataclass
class AdminResult:
    action: str  # unchanged, update, set, replace
    status: Status
    message: str
    current: AdminSpec | None
    wanted: AdminSpec

    def as_dict(self) -> dict[str, object]:
        def spec(a: AdminSpec | None) -> dict[str, str] | None:
            return {"login": a.login, "sid": a.sid, "type": a.principal_type} if a else None

        return {"action": self.action, "status": self.status.value, "message": self.message,
                "current": spec(self.current), "wanted": spec(self.wanted)}  # fmt: skip


@dataclass
class Operation:
    """What to do: databases to plan (``jobs``), rows already known to fail, and the optional admin step."""

    jobs: list[Job] = field(default_factory=list)
    failed: list[TargetResult] = field(default_factory=list)  # e.g. globs that match no database
    admin: AdminSpec | None = None
    replace_admin: bool = False


@dataclass
class Outcome:
    mode: Mode
    results: list[TargetResult]
    admin: AdminResult | None = None

    @property
    def exit_code(self) -> ExitCode:
        return exit_code(self.results, self.mode, self.admin)

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status.value] = counts.get(r.status.value, 0) + 1
        return counts

    def as_dict(self) -> dict[str, object]:
        return {"mode": self.mode.value, "targets": [r.as_dict() for r in self.results], "summary": self.summary(),
                "entra_admin": self.admin.as_dict() if self.admin else None}  # fmt: skip


def row_exit(row: TargetResult, mode: Mode) -> ExitCode:
    """One row's exit code; the command's is the worst row's (``exit_code``)."""
    if row.status is Status.FAILED:
        return row.exit_code if row.exit_code != ExitCode.OK else ExitCode.CHECK_FAILED
    if row.status is Status.DRIFT or (row.plan is not None and row.plan.drift):
        return ExitCode.CHECK_FAILED  # something differs that this run leaves as it is
    if row.status is Status.PLANNED and mode is Mode.CHECK:
        return ExitCode.CHECK_FAILED
    return ExitCode.OK


def exit_code(results: Sequence[TargetResult], mode: Mode, admin: AdminResult | None = None) -> ExitCode:
    """The worst row decides: a failure (its own exit code, the first failed row's), then drift, then pending changes under --check."""
    failed = [r for r in results if r.status is Status.FAILED]
    if failed:
        return row_exit(failed[0], mode)
    codes = [row_exit(r, mode) for r in results]
    if admin is not None and admin.status is Status.PLANNED and mode is Mode.CHECK:
        codes.append(ExitCode.CHECK_FAILED)
    return max(codes, default=ExitCode.OK)


def status_of(plan: Plan, applied: bool) -> Status:
    if plan.blocked:
        return Status.DRIFT
    if plan.steps:
        return Status.CHANGED if applied else Status.PLANNED
    return Status.DRIFT if plan.drift else Status.UNCHANGED


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
                roles = [*PRESETS, *FIXED_ROLES, *custom, *(str(p["name"]) for p in state.principals if p["type"] == "R")]
                raise NotFound(
                    f"role '{name}' is neither a preset nor a role in {database}{did_you_mean(name, roles)}",
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


def apply_plan(session: DdlSession, plan: Plan, may_commit: Callable[[], bool] | None = None) -> None:
    """Run exactly the plan's statements in one transaction; roll back on the first error (or if ``may_commit`` says no)."""
    for i, step in enumerate(plan.steps, 1):
        try:
            session.execute(step.sql)
        except AzsqlctlError as exc:
            with contextlib.suppress(AzsqlctlError):  # a dead connection: the server rolls back for us
                session.rollback()
            failed = ApplyFailed(
                f"statement {i} of {len(plan.steps)} failed ({step.summary}): {exc.message}",
                f"rolled back: nothing changed in this database. {exc.hint[:1].upper()}{exc.hint[1:]}".strip(),
                code=exc.code,
                details={"statement": i, "sql": step.sql, **exc.details},
            )
            failed.exit_code = exc.exit_code
            raise failed from None
    if may_commit is not None and not may_commit():  # interrupted: this database stays as it was
        with contextlib.suppress(AzsqlctlError):
            session.rollback()
        raise Interrupted()
    session.commit()


def _attempt(ports: GrantPorts, job: Job, apply: bool, expected: list[str] | None, progress: Progress | None = None) -> TargetResult:
    session = ports.session(job.server, job.database)
    try:
        if apply:  # read the state under the lock, inside the transaction that applies the plan
            hold_grant_lock(session, job.database)
        plan = build_plan(session, job.server, job.database, job.request)
        status = status_of(plan, applied=False)
        if status is not Status.PLANNED or not apply:
            return TargetResult(job.server, job.database, status, plan, plan.blocked, "drift" if plan.blocked else "")
        if expected is not None and [s.sql for s in plan.steps] != expected:
            return TargetResult(
                job.server, job.database, Status.FAILED, plan, f"{job.database} changed after its plan was shown: nothing applied",
                "plan_changed", "re-run to see the new plan", ExitCode.CHECK_FAILED,
            )  # fmt: skip
        if progress is not None and not progress.start(job.server, job.database):
            raise Interrupted()
        try:
            apply_plan(session, plan, None if progress is None else lambda: progress.may_commit(job.server, job.database))
        except ApplyFailed as exc:
            if progress is not None:
                progress.finish(job.server, job.database, Phase.ROLLED_BACK)
            exc.details["plan"] = plan
            raise
        if progress is not None:
            progress.finish(job.server, job.database, Phase.APPLIED)
        return TargetResult(job.server, job.database, status_of(plan, applied=True), plan)
    finally:
        session.close()


def run_target(
    ports: GrantPorts,
    job: Job,
    apply: bool,
    expected: list[str] | None = None,
    backoff: Sequence[float] = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> TargetResult:
    """Plan (and apply) one database. Any error becomes this row's ``failed``; transient ones are retried first."""
    retries: list[str] = []
    while True:
        try:
            result = _attempt(ports, job, apply, expected, progress)
        except AzsqlctlError as exc:
            if exc.code in TRANSIENT and len(retries) < len(backoff):
                sleep(backoff[len(retries)])
                retries.append(exc.code)
                continue
            plan = exc.details.pop("plan", None)
            note = f" (after {len(retries)} retr{'y' if len(retries) == 1 else 'ies'})" if retries and exc.code in TRANSIENT else ""
            result = TargetResult(
                job.server, job.database, Status.FAILED, plan if isinstance(plan, Plan) else None,
                exc.message + note, exc.code, exc.hint, exc.exit_code,
            )  # fmt: skip
        except Exception as exc:
            log.debug("grant: unexpected error in %s/%s", job.server, job.database, exc_info=True)
            result = TargetResult(
                job.server, job.database, Status.FAILED, None, f"unexpected {type(exc).__name__}: {exc}", "internal",
                "rerun with --debug and report the traceback; the other databases were not affected", ExitCode.INTERNAL,
            )  # fmt: skip
        result.retries = retries
        return result


def run_many(
    jobs: list[Job],
    ports: GrantPorts,
    apply: bool,
    concurrency: int,
    on_done: Callable[[TargetResult], None] | None = None,
    expected: dict[int, list[str]] | None = None,
    backoff: Sequence[float] = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> list[TargetResult]:
    """Every database in its own transaction, ``concurrency`` at a time; one failure stops nothing."""
    results: dict[int, TargetResult] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = {
            pool.submit(run_target, ports, job, apply, (expected or {}).get(i), backoff, sleep, progress): i for i, job in enumerate(jobs)
        }
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            if on_done is not None:
                on_done(result)
    return [results[i] for i in range(len(jobs))]


def _admin_step(port: AdminPort | None, op: Operation, write: bool) -> AdminResult | None:
    if op.admin is None:
        return None
    if port is None:
        raise AzsqlctlError("the Entra admin step needs ARM", "pass --subscription and --resource-group", code="no_arm_scope")
    current = port.current()
    wanted = resolve_wanted(current, op.admin)
    action, message = plan_entra_admin(current, wanted, op.replace_admin)
    if action == "refuse":
        raise CheckFailed(message, "Service Connector replaces it silently; azsqlctl does not: nothing was written", code="admin_differs")
    if action == "unchanged":
        return AdminResult(action, Status.UNCHANGED, message, current, wanted)
    if write:
        port.set(wanted)
        return AdminResult(action, Status.CHANGED, "done: " + message, current, wanted)
    return AdminResult(action, Status.PLANNED, "would " + message, current, wanted)


def execute(
    op: Operation,
    ports: GrantPorts | None,
    mode: Mode,
    *,
    admin_port: AdminPort | None = None,
    concurrency: int = 8,
    on_done: Callable[[TargetResult], None] | None = None,
    backoff: Sequence[float] = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> Outcome:
    """The one grant operation. ``Mode.ASK`` only plans: the caller shows the plans, asks, and hands a yes to
    ``apply_confirmed``, which applies exactly what was shown.

    The Entra admin step runs first (a database step may log in through the new admin); a different
    admin without ``replace_admin`` is refused before anything is written.
    """
    run = _runner(ports, concurrency, on_done, backoff, sleep, progress)
    write = mode is Mode.APPLY
    admin = _admin_step(admin_port, op, write=write)
    return Outcome(mode, op.failed + run(op.jobs, write, None), admin)


def pending(planned: Outcome) -> bool:
    """Whether an asked-for plan has anything to confirm: a database's statements or the admin change."""
    return any(r.status is Status.PLANNED for r in planned.results) or (
        planned.admin is not None and planned.admin.status is Status.PLANNED
    )


def apply_confirmed(
    op: Operation,
    planned: Outcome,
    ports: GrantPorts | None,
    *,
    admin_port: AdminPort | None = None,
    concurrency: int = 8,
    on_done: Callable[[TargetResult], None] | None = None,
    backoff: Sequence[float] = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> Outcome:
    """Apply what ``execute(..., Mode.ASK)`` planned and the user confirmed: each database's plan is made again under
    its lock and applied only if it is the one shown (a change in between fails that database, not the others)."""
    run = _runner(ports, concurrency, on_done, backoff, sleep, progress)
    admin = planned.admin
    if admin is not None and admin.status is Status.PLANNED:
        admin = _admin_step(admin_port, op, write=True)
    shown = planned.results[len(op.failed) :]
    todo = [i for i, r in enumerate(shown) if r.status is Status.PLANNED]
    expected = {k: [s.sql for s in shown[i].plan.steps] for k, i in enumerate(todo)}  # type: ignore[union-attr]
    applied = run([op.jobs[i] for i in todo], True, expected)
    results = list(planned.results)
    for i, row in zip(todo, applied, strict=True):
        results[len(op.failed) + i] = row
    return Outcome(planned.mode, results, admin)


def _runner(
    ports: GrantPorts | None,
    concurrency: int,
    on_done: Callable[[TargetResult], None] | None,
    backoff: Sequence[float],
    sleep: Callable[[float], None],
    progress: Progress | None,
) -> Callable[[list[Job], bool, dict[int, list[str]] | None], list[TargetResult]]:
    def run(jobs: list[Job], apply: bool, expected: dict[int, list[str]] | None) -> list[TargetResult]:
        if not jobs:
            return []
        if ports is None:
            raise AzsqlctlError("databases to grant on but no connection to them", "report this", code="internal")
        return run_many(jobs, ports, apply, concurrency, on_done, expected, backoff, sleep, progress)

    return run


def is_glob(name: str) -> bool:
    return any(ch in name for ch in "*?[")


def expand_targets(policy: Policy, ports: GrantPorts, default_server: str, prune: bool = False) -> Operation:
    """One job per (server, database). Literal names always become jobs (a missing one fails with 4060);
    globs are matched against the server's databases, and a glob that matches nothing is a failed row."""
    out: dict[tuple[str, str], Job] = {}
    failed: list[TargetResult] = []
    listed: dict[str, list[str]] = {}
    assigned: dict[tuple[str, str], dict[str, Assignment]] = {}
    expanded: dict[tuple[str, ...], list[str]] = {}  # a policy repeats a few role lists for many identities: expand each once

    def roles_of(roles: list[str]) -> list[str]:
        key = tuple(roles)
        if key not in expanded:
            expanded[key] = expand_roles(roles)
        return list(expanded[key])  # each assignment its own list

    for target in policy.targets:
        for server in target.servers or [default_server]:
            names: list[str] = []
            for pattern in target.databases:
                if not is_glob(pattern):
                    names.append(pattern)
                    continue
                if server not in listed:
                    listed[server] = [n for n in ports.databases(server) if n.lower() != "master"]
                matched = [n for n in listed[server] if fnmatch.fnmatchcase(n.lower(), pattern.lower())]
                if not matched:
                    failed.append(TargetResult(
                        server, pattern, Status.FAILED, None,
                        f"no database on {server} matches '{pattern}' (policy line {target.line})", "no_match",
                        f"databases there: {', '.join(listed[server]) or 'none'}", ExitCode.NOT_FOUND,
                    ))  # fmt: skip
                names += matched
            for database in names:  # database names compare case-insensitively, as Azure SQL's do
                key = (server.lower(), database.lower())
                if key not in out:
                    out[key] = Job(server, database, Request([], dict(policy.roles), exclusive=True, prune=prune))
                req = out[key].request
                given = assigned.setdefault(key, {})  # identity key -> its assignment here: one lookup, not a scan
                for ident, roles in target.grants.items():
                    same = given.get(ident)
                    if same is None:
                        given[ident] = Assignment(policy.identities[ident], roles_of(roles))
                        req.assignments.append(given[ident])
                    else:  # two targets give one identity roles in the same database: it gets both
                        same.roles = expand_roles([*same.roles, *roles])
    return Operation(list(out.values()), failed)

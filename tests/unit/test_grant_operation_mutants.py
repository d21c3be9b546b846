"""grant/operation.py over an in-memory database: the lock, plan -> status -> exit code, one transaction per
database (its failure, its retries, an interruption), the Entra admin step, confirmation, and policy targets.

``MemDb`` is a database's catalog rows (principals, memberships) and a log of what a session did; it does not
interpret DDL, so a second run plans the same changes again unless the test updates the rows itself.
"""

from __future__ import annotations

import logging
import threading
import tomllib
import uuid
from dataclasses import dataclass, field

import pytest

from azsqlctl.core.errors import AzsqlctlError, CheckFailed, ConnectionFailed, ExitCode, Interrupted, NotFound, UsageError
from azsqlctl.core.grant.entra_admin import AdminSpec
from azsqlctl.core.grant.operation import (
    BACKOFF,
    GRANT_LOCK,
    GRANT_LOCK_WAIT_MS,
    TRANSIENT,
    AdminResult,
    ApplyFailed,
    Assignment,
    GrantLockNotGranted,
    Job,
    Mode,
    Operation,
    Outcome,
    Phase,
    Progress,
    Request,
    Status,
    TargetResult,
    apply_confirmed,
    apply_plan,
    build_plan,
    execute,
    exit_code,
    expand_targets,
    hold_grant_lock,
    is_glob,
    pending,
    row_exit,
    run_many,
    run_target,
    status_of,
)
from azsqlctl.core.grant.plan import Plan, RoleSpec, SchemaGrant, Step
from azsqlctl.core.grant.policy import Lines, Policy, parse_policy
from azsqlctl.core.identity import IdentitySpec
from azsqlctl.core.ports import Row

SERVER = "srv.database.windows.net"
APP = "4e0a3f6e-2c1b-4e4d-8f90-123456789abc"
OTHER = "0f6b3e2a-9c8d-4e7f-a1b2-c3d4e5f60718"
ORDERS = IdentitySpec("orders-api", "app", APP)
ROLES = ("db_datareader", "db_datawriter", "db_ddladmin", "db_owner")


@dataclass
class MemDb:
    principals: list[Row] = field(default_factory=list)
    members: list[tuple[str, str]] = field(default_factory=list)  # (role, member)
    log: list[str] = field(default_factory=list)
    fail_at: str = ""  # an executed statement containing this raises ``error``
    error: AzsqlctlError | None = None
    lock: int = 0
    errors_on_open: list[AzsqlctlError] = field(default_factory=list)  # raised by successive sessions' first query

    def __post_init__(self) -> None:
        if not self.principals:
            self.principals = [{"name": "dbo", "principal_id": 1, "type": "S", "sid": b"\x01"},
                               {"name": "public", "principal_id": 0, "type": "R", "sid": None}]  # fmt: skip
            self.principals += [{"name": r, "principal_id": 16384 + i, "type": "R", "sid": None} for i, r in enumerate(ROLES)]

    def add_user(self, name: str, sid: str, *roles: str) -> None:
        pid = 100 + len(self.principals)
        self.principals.append({"name": name, "principal_id": pid, "type": "E", "sid": uuid.UUID(sid).bytes_le})
        self.members += [(r, name) for r in roles]


class MemSession:
    def __init__(self, db: MemDb) -> None:
        self.db = db

    def query(self, sql: str, params: object = ()) -> list[Row]:
        if self.db.errors_on_open:
            raise self.db.errors_on_open.pop(0)
        ids = {str(p["name"]): p["principal_id"] for p in self.db.principals}
        if "database_principals" in sql:
            return [dict(p) for p in self.db.principals]
        if "database_role_members" in sql:
            return [{"role_principal_id": ids[r], "member_principal_id": ids[m]} for r, m in self.db.members]
        if "sys.schemas" in sql:
            return [{"name": "dbo", "schema_id": 1}]
        return []  # permissions

    def execute(self, sql: str) -> None:
        self.db.log.append(sql)
        if self.db.fail_at and self.db.fail_at in sql and self.db.error is not None:
            raise self.db.error

    def commit(self) -> None:
        self.db.log.append("COMMIT")

    def rollback(self) -> None:
        self.db.log.append("ROLLBACK")

    def applock(self, resource: str, timeout_ms: int) -> int:
        self.db.log.append(f"APPLOCK {resource} {timeout_ms}")
        return self.db.lock

    def close(self) -> None:
        self.db.log.append("CLOSE")


@dataclass
class MemPorts:
    dbs: dict[str, MemDb]
    listed: list[str] | None = None
    opened: list[str] = field(default_factory=list)

    def session(self, server: str, database: str) -> MemSession:
        self.opened.append(database)
        return MemSession(self.dbs[database])

    def databases(self, server: str) -> list[str]:
        return list(self.listed if self.listed is not None else ["master", *self.dbs])


@dataclass
class AdminMem:
    now: AdminSpec | None
    written: list[AdminSpec] = field(default_factory=list)

    def current(self) -> AdminSpec | None:
        return self.now

    def set(self, wanted: AdminSpec) -> None:
        self.written.append(wanted)


def _job(database: str = "appdb", roles: tuple[str, ...] = ("db_datareader",), **kw: object) -> Job:
    return Job(SERVER, database, Request([Assignment(ORDERS, list(roles))], **kw))  # type: ignore[arg-type]


def _plan(*sql: str, drift: tuple[str, ...] = (), blocked: str = "") -> Plan:
    return Plan(
        SERVER, "appdb", "x", [Step("grant", "+", f"step {i}", s) for i, s in enumerate(sql, 1)], drift=list(drift), blocked=blocked
    )


# --- constants, the lock -----------------------------------------------------------------------------------


def test_constants() -> None:
    assert {"40613", "40501", "40197"} == TRANSIENT
    assert BACKOFF == (1.0, 2.0, 4.0)
    assert (GRANT_LOCK, GRANT_LOCK_WAIT_MS) == ("azsqlctl grant", 120_000)
    assert [s.value for s in Status] == ["unchanged", "planned", "changed", "drift", "failed"]
    assert [p.value for p in Phase] == ["untouched", "applying", "committing", "applied", "rolled back"]
    assert [m.value for m in Mode] == ["apply", "dry-run", "check", "ask"]
    assert GrantLockNotGranted("x").code == "grant_lock" and GrantLockNotGranted("x").exit_code == ExitCode.CHECK_FAILED


@pytest.mark.parametrize(
    ("code", "words"),
    [(-1, "timed out"), (-2, "was cancelled"), (-3, "was chosen as a deadlock victim"),
     (-999, "was refused (parameter or call error)"), (-7, "failed (-7)")],
)  # fmt: skip
def test_the_lock_refused(code: int, words: str) -> None:
    db = MemDb(lock=code)
    with pytest.raises(GrantLockNotGranted) as info:
        hold_grant_lock(MemSession(db), "appdb")
    assert info.value.message == f"the lock that serialises grants on appdb {words}: nothing applied"
    assert info.value.hint == "another `azsqlctl grant` may still be applying to appdb; re-run when it has finished"
    assert info.value.details == {"sp_getapplock": code}
    assert db.log == ["APPLOCK azsqlctl grant 120000"]


@pytest.mark.parametrize("code", [0, 1])
def test_the_lock_granted(code: int) -> None:
    hold_grant_lock(MemSession(MemDb(lock=code)), "appdb")


# --- progress ----------------------------------------------------------------------------------------------


def test_progress_phases() -> None:
    p = Progress()
    assert p.start("s", "a") and p.start("s", "b") and p.start("s", "c")
    assert p.may_commit("s", "b")
    p.finish("s", "b", Phase.APPLIED)
    assert p.may_commit("s", "c")
    p.finish("s", "c", Phase.ROLLED_BACK)
    assert p.stop(wait=0.0) == {("s", "a"): Phase.ROLLED_BACK, ("s", "b"): Phase.APPLIED, ("s", "c"): Phase.ROLLED_BACK}
    assert not p.start("s", "d")
    assert not p.may_commit("s", "a")
    assert p.stop(wait=0.0)[("s", "a")] is Phase.ROLLED_BACK
    assert ("s", "d") not in p.stop(wait=0.0)


def test_stop_waits_for_a_commit_on_the_wire() -> None:
    p = Progress()
    p.start("s", "a")
    p.may_commit("s", "a")
    timer = threading.Timer(0.05, lambda: p.finish("s", "a", Phase.APPLIED))
    timer.start()
    try:
        assert p.stop(wait=5.0) == {("s", "a"): Phase.APPLIED}
    finally:
        timer.cancel()
    q = Progress()
    q.start("s", "a")
    q.may_commit("s", "a")
    assert q.stop(wait=0.01) == {("s", "a"): Phase.COMMITTING}  # not answered in time: said as it is


# --- rows, exit codes ----------------------------------------------------------------------------------------


def test_a_rows_note_and_dict() -> None:
    row = TargetResult(SERVER, "appdb", Status.CHANGED, _plan("A"), retries=["40613", "40501", "40613"])
    assert row.note == "retried 3x after transient error 40613, 40501"
    assert TargetResult(SERVER, "appdb", Status.UNCHANGED).note == ""
    assert row.as_dict() == {
        "server": SERVER, "database": "appdb", "status": "changed", "error": "", "error_code": "", "hint": "",
        "retries": ["40613", "40501", "40613"], "note": row.note, "plan": _plan("A").as_dict(),
    }  # fmt: skip
    assert TargetResult(SERVER, "x", Status.FAILED).as_dict()["plan"] is None
    bare = TargetResult(SERVER, "x", Status.FAILED)
    assert (bare.plan, bare.error, bare.error_code, bare.hint, bare.exit_code, bare.retries) == (None, "", "", "", ExitCode.OK, [])


def test_admin_result_dict() -> None:
    result = AdminResult("set", Status.PLANNED, "would set", None, AdminSpec("dba", OTHER, "Group"))
    assert result.as_dict() == {"action": "set", "status": "planned", "message": "would set", "current": None,
                                "wanted": {"login": "dba", "sid": OTHER, "type": "Group"}}  # fmt: skip


@pytest.mark.parametrize(
    ("row", "mode", "code"),
    [
        (TargetResult(SERVER, "a", Status.FAILED, exit_code=ExitCode.NOT_FOUND), Mode.APPLY, ExitCode.NOT_FOUND),
        (TargetResult(SERVER, "a", Status.FAILED), Mode.APPLY, ExitCode.CHECK_FAILED),
        (TargetResult(SERVER, "a", Status.DRIFT), Mode.APPLY, ExitCode.CHECK_FAILED),
        (TargetResult(SERVER, "a", Status.CHANGED, _plan("A", drift=("d",))), Mode.APPLY, ExitCode.CHECK_FAILED),
        (TargetResult(SERVER, "a", Status.PLANNED, _plan("A")), Mode.CHECK, ExitCode.CHECK_FAILED),
        (TargetResult(SERVER, "a", Status.PLANNED, _plan("A")), Mode.DRY_RUN, ExitCode.OK),
        (TargetResult(SERVER, "a", Status.PLANNED, _plan("A")), Mode.ASK, ExitCode.OK),
        (TargetResult(SERVER, "a", Status.CHANGED, _plan("A")), Mode.CHECK, ExitCode.OK),
        (TargetResult(SERVER, "a", Status.UNCHANGED), Mode.CHECK, ExitCode.OK),
    ],
)
def test_row_exit(row: TargetResult, mode: Mode, code: ExitCode) -> None:
    assert row_exit(row, mode) is code


def test_exit_code_worst_row_first_failure_and_admin() -> None:
    ok = TargetResult(SERVER, "a", Status.UNCHANGED)
    planned = TargetResult(SERVER, "b", Status.PLANNED, _plan("A"))
    f1 = TargetResult(SERVER, "c", Status.FAILED, exit_code=ExitCode.PERMISSION)
    f2 = TargetResult(SERVER, "d", Status.FAILED, exit_code=ExitCode.NOT_FOUND)
    assert exit_code([], Mode.CHECK) is ExitCode.OK
    assert exit_code([ok, f1, f2], Mode.APPLY) is ExitCode.PERMISSION
    assert exit_code([ok, planned], Mode.CHECK) is ExitCode.CHECK_FAILED
    admin = AdminResult("set", Status.PLANNED, "", None, AdminSpec("a", OTHER))
    assert exit_code([ok], Mode.CHECK, admin) is ExitCode.CHECK_FAILED
    assert exit_code([ok], Mode.DRY_RUN, admin) is ExitCode.OK
    assert exit_code([ok], Mode.CHECK, AdminResult("unchanged", Status.UNCHANGED, "", None, AdminSpec("a", OTHER))) is ExitCode.OK
    outcome = Outcome(Mode.CHECK, [ok, planned, TargetResult(SERVER, "e", Status.PLANNED)], admin)
    assert outcome.exit_code is ExitCode.CHECK_FAILED
    assert outcome.summary() == {"unchanged": 1, "planned": 2}
    assert outcome.as_dict() == {"mode": "check", "targets": [r.as_dict() for r in outcome.results], "summary": {"unchanged": 1, "planned": 2},
                                 "entra_admin": admin.as_dict()}  # fmt: skip
    assert Outcome(Mode.APPLY, []).as_dict()["entra_admin"] is None


def test_status_of() -> None:
    assert status_of(_plan("A", blocked="b"), applied=True) is Status.DRIFT
    assert status_of(_plan("A"), applied=True) is Status.CHANGED
    assert status_of(_plan("A"), applied=False) is Status.PLANNED
    assert status_of(_plan(drift=("d",)), applied=True) is Status.DRIFT
    assert status_of(_plan(), applied=False) is Status.UNCHANGED


# --- plans ------------------------------------------------------------------------------------------------


def test_build_plan_for_a_new_user() -> None:
    db = MemDb()
    plan = build_plan(MemSession(db), SERVER, "appdb", _job(roles=("db_datareader", "db_datawriter")).request)
    assert [s.op for s in plan.steps] == ["create_user", "add_member", "add_member"]
    assert plan.identity == "orders-api" and (plan.server, plan.database) == (SERVER, "appdb")


def test_build_plan_refuses_an_unknown_role_naming_the_presets() -> None:
    with pytest.raises(NotFound) as info:
        build_plan(MemSession(MemDb()), SERVER, "appdb", _job(roles=("db_datareadr",)).request)
    assert info.value.message == "role 'db_datareadr' is neither a preset nor a role in appdb (did you mean db_datareader?)"
    assert info.value.hint == "presets: reader, writer, executor, migrator; or create the role (a custom role in a --policy file)"
    assert info.value.code == "unknown_role"
    db = MemDb()
    db.add_user("svc", OTHER)  # a user, not a role, by that name
    with pytest.raises(NotFound):
        build_plan(MemSession(db), SERVER, "appdb", _job(roles=("svc",)).request)


def test_build_plan_creates_custom_and_builtin_roles_and_joins_identities() -> None:
    second = IdentitySpec("billing", "app", OTHER)
    req = Request([Assignment(ORDERS, ["app_executor"]), Assignment(second, ["team"])],
                  custom_roles={"team": RoleSpec("team", (SchemaGrant(("SELECT",), "dbo"),))})  # fmt: skip
    plan = build_plan(MemSession(MemDb()), SERVER, "appdb", req)
    ops = [s.op for s in plan.steps]
    assert ops.count("create_role") == 2 and ops.count("create_user") == 2
    assert plan.identity == "orders-api, billing"


def test_build_plan_revoke_skips_roles_and_stops_at_a_block() -> None:
    db = MemDb()
    db.add_user("orders-api", APP, "db_datareader")
    plan = build_plan(MemSession(db), SERVER, "appdb", _job(roles=("nonexistent_role",), revoke=True).request)
    assert plan.steps == []  # revoking an unknown role: nothing to do, not an error
    plan = build_plan(MemSession(db), SERVER, "appdb", _job(roles=("db_datareader",), revoke=True, drop_user=True).request)
    assert [s.sql for s in plan.steps] == ["ALTER ROLE [db_datareader] DROP MEMBER [orders-api]", "DROP USER [orders-api]"]
    clash = MemDb()
    clash.add_user("someone", APP)
    clash.add_user("orders-api", OTHER)
    second = IdentitySpec("billing", "app", "11111111-2222-4333-8444-555555555555")
    blocked = build_plan(
        MemSession(clash), SERVER, "appdb", Request([Assignment(ORDERS, ["db_datareader"]), Assignment(second, ["db_datareader"])])
    )
    assert blocked.blocked and blocked.identity == "orders-api, billing"
    assert not any("billing" in s.summary for s in blocked.steps)  # stopped at the first blocked identity


def test_build_plan_stops_at_a_blocked_custom_role() -> None:
    db = MemDb()
    db.add_user("team", OTHER)  # a user where the custom role should be
    req = Request([Assignment(ORDERS, ["team"])], custom_roles={"team": RoleSpec("team", (SchemaGrant(("SELECT",)),))})
    try:
        plan = build_plan(MemSession(db), SERVER, "appdb", req)
    except AzsqlctlError:
        return  # refused outright is as good as blocked
    assert plan.blocked and not any(s.op == "create_user" for s in plan.steps)


# --- applying ---------------------------------------------------------------------------------------------


def test_apply_plan_runs_every_statement_then_commits() -> None:
    db = MemDb()
    apply_plan(MemSession(db), _plan("A", "B"))
    assert db.log == ["A", "B", "COMMIT"]
    apply_plan(MemSession(db), _plan("C"), lambda: True)
    assert db.log[-2:] == ["C", "COMMIT"]


def test_apply_plan_failure_rolls_back_and_says_where() -> None:
    db = MemDb(fail_at="B", error=NotFound("no such role", "create it first", code="x1", details={"n": 1}))
    with pytest.raises(ApplyFailed) as info:
        apply_plan(MemSession(db), _plan("A", "B", "C"))
    assert db.log == ["A", "B", "ROLLBACK"]
    assert info.value.message == "statement 2 of 3 failed (step 2): no such role"
    assert info.value.hint == "rolled back: nothing changed in this database. Create it first"
    assert info.value.code == "x1" and info.value.exit_code == ExitCode.NOT_FOUND
    assert info.value.details == {"statement": 2, "sql": "B", "n": 1}
    db2 = MemDb(fail_at="A", error=ConnectionFailed("gone"))
    with pytest.raises(ApplyFailed) as info:
        apply_plan(MemSession(db2), _plan("A"))
    assert info.value.hint == "rolled back: nothing changed in this database."


def test_apply_plan_interrupted_before_commit_rolls_back() -> None:
    db = MemDb()
    with pytest.raises(Interrupted):
        apply_plan(MemSession(db), _plan("A"), lambda: False)
    assert db.log == ["A", "ROLLBACK"]


def test_a_dry_run_reads_without_the_lock_and_an_apply_takes_it() -> None:
    db = MemDb()
    ports = MemPorts({"appdb": db})
    row = run_target(ports, _job(), apply=False)
    assert row.status is Status.PLANNED and row.plan is not None and not any(e.startswith("APPLOCK") for e in db.log)
    assert db.log == ["CLOSE"]
    db.log.clear()
    row = run_target(ports, _job(), apply=True)
    assert row.status is Status.CHANGED
    assert db.log[0] == "APPLOCK azsqlctl grant 120000" and db.log[-2:] == ["COMMIT", "CLOSE"]


def test_an_unchanged_or_blocked_database_is_not_applied() -> None:
    db = MemDb()
    db.add_user("orders-api", APP, "db_datareader")
    row = run_target(MemPorts({"appdb": db}), _job(), apply=True)
    assert row.status is Status.UNCHANGED and "COMMIT" not in db.log and (row.error, row.error_code) == ("", "")
    clash = MemDb()
    clash.add_user("someone", APP)
    clash.add_user("orders-api", OTHER)
    row = run_target(MemPorts({"appdb": clash}), _job(), apply=True)
    assert row.status is Status.DRIFT and row.error == row.plan.blocked and row.error_code == "drift"  # type: ignore[union-attr]
    assert "COMMIT" not in clash.log


def test_a_plan_that_changed_since_it_was_shown_is_not_applied() -> None:
    db = MemDb()
    row = run_target(MemPorts({"appdb": db}), _job(), apply=True, expected=["something else"])
    assert (row.status, row.error, row.error_code, row.hint, row.exit_code) == (
        Status.FAILED, "appdb changed after its plan was shown: nothing applied", "plan_changed", "re-run to see the new plan",
        ExitCode.CHECK_FAILED,
    )  # fmt: skip
    assert "COMMIT" not in db.log and row.plan is not None


def test_transient_errors_are_retried_with_the_backoff() -> None:
    db = MemDb(errors_on_open=[ConnectionFailed("busy", code="40501"), ConnectionFailed("unavailable", code="40613")])
    slept: list[float] = []
    row = run_target(MemPorts({"appdb": db}), _job(), apply=True, backoff=(0.5, 0.7, 0.9), sleep=slept.append)
    assert row.status is Status.CHANGED and slept == [0.5, 0.7] and row.retries == ["40501", "40613"]


def test_retries_are_bounded_and_the_error_says_how_many() -> None:
    db = MemDb(errors_on_open=[ConnectionFailed("busy", "wait", code="40501") for _ in range(5)])
    slept: list[float] = []
    row = run_target(MemPorts({"appdb": db}), _job(), apply=False, backoff=(0.1, 0.2), sleep=slept.append)
    assert slept == [0.1, 0.2]
    assert (row.status, row.error, row.error_code, row.hint, row.exit_code) == (
        Status.FAILED, "busy (after 2 retries)", "40501", "wait", ExitCode.CONNECTION,
    )  # fmt: skip
    one = MemDb(errors_on_open=[ConnectionFailed("busy", code="40501"), ConnectionFailed("busy", code="40501")])
    assert run_target(MemPorts({"appdb": one}), _job(), apply=False, backoff=(0.1,), sleep=lambda _s: None).error == "busy (after 1 retry)"
    none = MemDb(errors_on_open=[ConnectionFailed("busy", code="40501")])
    assert run_target(MemPorts({"appdb": none}), _job(), apply=False, backoff=(), sleep=lambda _s: None).error == "busy"


def test_a_non_transient_error_after_a_retry_says_no_count() -> None:
    db = MemDb(errors_on_open=[ConnectionFailed("busy", code="40501"), NotFound("gone", code="4060")])
    row = run_target(MemPorts({"appdb": db}), _job(), apply=False, sleep=lambda _s: None)
    assert (row.error, row.error_code, row.retries) == ("gone", "4060", ["40501"])


def test_a_failed_statement_keeps_its_plan_and_marks_the_database_rolled_back() -> None:
    db = MemDb(fail_at="ADD MEMBER", error=PermissionError_("denied"))
    progress = Progress()
    row = run_target(MemPorts({"appdb": db}), _job(), apply=True, progress=progress)
    assert row.status is Status.FAILED and row.plan is not None and row.error.startswith("statement 2 of 2 failed")
    assert progress.stop(0.0) == {(SERVER, "appdb"): Phase.ROLLED_BACK}


def PermissionError_(message: str) -> AzsqlctlError:  # noqa: N802 - reads as the error it builds
    from azsqlctl.core.errors import PermissionDenied

    return PermissionDenied(message)


def test_progress_records_applied_and_an_interruption_applies_nothing() -> None:
    progress = Progress()
    db = MemDb()
    assert run_target(MemPorts({"appdb": db}), _job(), apply=True, progress=progress).status is Status.CHANGED
    assert progress.stop(0.0) == {(SERVER, "appdb"): Phase.APPLIED}
    late = MemDb()
    row = run_target(MemPorts({"b": late}), _job("b"), apply=True, progress=progress)  # stopped: nothing starts
    assert row.status is Status.FAILED and row.error_code == Interrupted().code
    assert not any(e.startswith("ALTER") or e.startswith("CREATE") for e in late.log)


def test_an_unexpected_error_is_an_internal_failure_of_that_row_only() -> None:
    class Broken(MemPorts):
        def session(self, server: str, database: str) -> MemSession:
            if database == "bad":
                raise KeyError("boom")
            return super().session(server, database)

    ports = Broken({"good": MemDb()})
    done: list[str] = []
    rows = run_many([_job("bad"), _job("good")], ports, apply=False, concurrency=0, on_done=lambda r: done.append(r.database))
    assert [r.database for r in rows] == ["bad", "good"] and sorted(done) == ["bad", "good"]
    bad = rows[0]
    assert (bad.status, bad.error, bad.error_code, bad.exit_code) == (
        Status.FAILED,
        "unexpected KeyError: 'boom'",
        "internal",
        ExitCode.INTERNAL,
    )
    assert bad.hint == "rerun with --debug and report the traceback; the other databases were not affected"
    assert rows[1].status is Status.PLANNED


# --- the operation ------------------------------------------------------------------------------------------


def test_execute_modes() -> None:
    db = MemDb()
    ports = MemPorts({"appdb": db})
    failed = TargetResult(SERVER, "x*", Status.FAILED)
    op = Operation([_job()], [failed])
    dry = execute(op, ports, Mode.DRY_RUN, concurrency=1)
    assert [r.status for r in dry.results] == [Status.FAILED, Status.PLANNED] and dry.admin is None and "COMMIT" not in db.log
    applied = execute(op, ports, Mode.APPLY, concurrency=1)
    assert [r.status for r in applied.results] == [Status.FAILED, Status.CHANGED] and "COMMIT" in db.log
    assert execute(Operation(), None, Mode.APPLY).results == []
    with pytest.raises(AzsqlctlError) as info:
        execute(op, None, Mode.DRY_RUN)
    assert (info.value.message, info.value.hint, info.value.code) == (
        "databases to grant on but no connection to them",
        "report this",
        "internal",
    )


def test_the_admin_step() -> None:
    wanted = AdminSpec("dba", OTHER, "Group")
    with pytest.raises(AzsqlctlError) as info:
        execute(Operation(admin=wanted), None, Mode.DRY_RUN)
    assert (info.value.message, info.value.hint, info.value.code) == (
        "the Entra admin step needs ARM",
        "pass --subscription and --resource-group",
        "no_arm_scope",
    )
    port = AdminMem(None)
    planned = execute(Operation(admin=wanted), None, Mode.CHECK, admin_port=port)
    assert planned.admin is not None and planned.admin.status is Status.PLANNED and planned.admin.action == "set"
    assert planned.admin.message.startswith("would set the Entra admin to dba") and port.written == []
    assert planned.exit_code is ExitCode.CHECK_FAILED and pending(planned)
    done = execute(Operation(admin=wanted), None, Mode.APPLY, admin_port=port)
    assert done.admin is not None and done.admin.status is Status.CHANGED and done.admin.message.startswith("done: set the Entra admin")
    assert port.written == [wanted]
    same = execute(Operation(admin=wanted), None, Mode.APPLY, admin_port=AdminMem(wanted))
    assert same.admin is not None and same.admin.status is Status.UNCHANGED and same.admin.action == "unchanged" and not pending(same)
    other = AdminMem(AdminSpec("old", APP, "User"))
    with pytest.raises(CheckFailed) as refused:
        execute(Operation(admin=wanted), None, Mode.APPLY, admin_port=other)
    assert refused.value.code == "admin_differs" and other.written == []
    assert refused.value.hint == "Service Connector replaces it silently; azsqlctl does not: nothing was written"
    replaced = execute(Operation(admin=wanted, replace_admin=True), None, Mode.APPLY, admin_port=other)
    assert replaced.admin is not None and replaced.admin.action == "replace" and other.written == [wanted]
    assert replaced.admin.current == AdminSpec("old", APP, "User") and replaced.admin.wanted == wanted


def test_ask_then_apply_what_was_shown() -> None:
    unchanged = MemDb()
    unchanged.add_user("orders-api", APP, "db_datareader")
    fresh = MemDb()
    ports = MemPorts({"same": unchanged, "new": fresh})
    failed = TargetResult(SERVER, "nomatch*", Status.FAILED)
    op = Operation([_job("same"), _job("new")], [failed], admin=AdminSpec("dba", OTHER, "Group"))
    admin = AdminMem(None)
    asked = execute(op, ports, Mode.ASK, admin_port=admin, concurrency=1)
    assert [r.status for r in asked.results] == [Status.FAILED, Status.UNCHANGED, Status.PLANNED] and pending(asked)
    ports.opened.clear()
    done = apply_confirmed(op, asked, ports, admin_port=admin, concurrency=1)
    assert ports.opened == ["new"]  # only the planned database is opened again
    assert [r.status for r in done.results] == [Status.FAILED, Status.UNCHANGED, Status.CHANGED]
    assert done.mode is Mode.ASK and done.admin is not None and done.admin.status is Status.CHANGED and admin.written


def test_apply_confirmed_refuses_a_database_whose_plan_changed() -> None:
    db = MemDb()
    ports = MemPorts({"appdb": db})
    op = Operation([_job()])
    asked = execute(op, ports, Mode.ASK)
    db.add_user("orders-api", APP)  # created by someone else meanwhile: the plan is now one statement, not two
    done = apply_confirmed(op, asked, ports)
    assert (done.results[0].status, done.results[0].error_code) == (Status.FAILED, "plan_changed")
    assert "COMMIT" not in db.log


def test_apply_confirmed_keeps_an_admin_that_needed_nothing() -> None:
    wanted = AdminSpec("dba", OTHER, "Group")
    port = AdminMem(wanted)
    asked = execute(Operation(admin=wanted), None, Mode.ASK, admin_port=port)
    done = apply_confirmed(Operation(admin=wanted), asked, None, admin_port=port)
    assert done.admin is asked.admin and port.written == []
    assert not pending(Outcome(Mode.ASK, [TargetResult(SERVER, "a", Status.UNCHANGED)]))


# --- targets from a policy --------------------------------------------------------------------------------


def _policy(text: str) -> Policy:
    policy, errors = parse_policy(tomllib.loads(text), Lines(text), allow_elevated=False)
    assert errors == [], errors
    return policy


POLICY = f"""
[identities.orders-api]
type = "app"
client_id = "{APP}"

[identities.billing]
type = "app"
client_id = "{OTHER}"

[[targets]]
databases = ["tenant_*", "Main"]
grants = {{ orders-api = ["reader"], billing = ["reader"] }}

[[targets]]
databases = ["main", "TENANT_A"]
grants = {{ orders-api = ["writer"] }}
"""


def test_is_glob() -> None:
    assert is_glob("a*") and is_glob("a?") and is_glob("a[1]") and not is_glob("plain-name_1")


def test_expand_targets_merges_per_database_case_insensitively() -> None:
    ports = MemPorts({}, listed=["master", "tenant_a", "Tenant_B", "other"])
    op = expand_targets(_policy(POLICY), ports, SERVER, prune=True)
    assert op.failed == []
    assert [(j.server, j.database) for j in op.jobs] == [(SERVER, "tenant_a"), (SERVER, "Tenant_B"), (SERVER, "Main")]
    main = op.jobs[2].request
    assert main.exclusive and main.prune
    assert {a.identity.name: a.roles for a in main.assignments} == {
        "orders-api": ["db_datareader", "db_datawriter"],
        "billing": ["db_datareader"],
    }
    a_roles = {a.identity.name: a.roles for a in op.jobs[0].request.assignments}
    assert a_roles["orders-api"] == ["db_datareader", "db_datawriter"]
    assert op.jobs[0].request.assignments[1].roles is not op.jobs[1].request.assignments[1].roles  # each its own list
    assert ports.opened == []  # listing databases opens no session


def test_a_glob_that_matches_nothing_is_a_failed_row_and_master_never_matches() -> None:
    text = f"""
[identities.orders-api]
type = "app"
client_id = "{APP}"

[[targets]]
databases = ["mast*", "zz*"]
grants = {{ orders-api = ["reader"] }}
"""
    op = expand_targets(_policy(text), MemPorts({}, listed=["master", "appdb"]), SERVER)
    assert op.jobs == []
    first, second = op.failed
    assert (first.server, first.database, first.status, first.error_code, first.exit_code) == (
        SERVER,
        "mast*",
        Status.FAILED,
        "no_match",
        ExitCode.NOT_FOUND,
    )
    assert first.error == "no database on srv.database.windows.net matches 'mast*' (policy line 6)"
    assert first.hint == "databases there: appdb"
    assert (second.database, second.error) == ("zz*", "no database on srv.database.windows.net matches 'zz*' (policy line 6)")
    empty = expand_targets(_policy(text), MemPorts({}, listed=["master"]), SERVER)
    assert empty.failed[0].hint == "databases there: none"
    assert not op.jobs and not expand_targets(_policy(text), MemPorts({}, listed=["master"]), SERVER).jobs


def test_usage_error_is_not_transient() -> None:
    assert UsageError("x").code not in TRANSIENT


def test_an_unexpected_error_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemPorts):
        def session(self, server: str, database: str) -> MemSession:
            raise KeyError("boom")

    with caplog.at_level(logging.DEBUG, logger="azsqlctl.grant"):
        row = run_target(Broken({}), _job("bad"), apply=False)
    assert row.error_code == "internal"
    (record,) = [r for r in caplog.records if r.name == "azsqlctl.grant"]
    assert record.getMessage() == f"grant: unexpected error in {SERVER}/bad"
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_progress_answers_are_booleans_and_a_late_commit_is_recorded_rolled_back() -> None:
    p = Progress()
    assert p.start("s", "a") is True
    p.stop(0.0)
    assert p.start("s", "b") is False
    assert p.may_commit("s", "x") is False
    assert p.stop(0.0) == {("s", "a"): Phase.ROLLED_BACK, ("s", "x"): Phase.ROLLED_BACK}
    q = Progress()
    q.start("s", "a")
    assert q.may_commit("s", "a") is True


def test_request_defaults() -> None:
    req = Request([])
    assert (req.custom_roles, req.revoke, req.drop_user, req.exclusive, req.prune) == ({}, False, False, True, False)


def test_an_unknown_role_suggests_a_role_the_database_has() -> None:
    db = MemDb()
    db.principals.append({"name": "app_reporting", "principal_id": 500, "type": "R", "sid": None})
    db.add_user("app_reportin", OTHER)  # a user by the near name is no suggestion
    with pytest.raises(NotFound) as info:
        build_plan(MemSession(db), SERVER, "appdb", _job(roles=("app_reportng",)).request)
    assert info.value.message == "role 'app_reportng' is neither a preset nor a role in appdb (did you mean app_reporting?)"


def test_a_failed_statement_without_progress_is_that_statements_failure() -> None:
    db = MemDb(fail_at="ADD MEMBER", error=NotFound("no such role", code="15151"))
    row = run_target(MemPorts({"appdb": db}), _job(), apply=True)
    assert (row.status, row.error_code, row.exit_code) == (Status.FAILED, "15151", ExitCode.NOT_FOUND)
    assert row.error == "statement 2 of 2 failed (add orders-api to db_datareader): no such role"


def test_glob_characters_are_only_star_question_mark_and_bracket() -> None:
    assert not is_glob("XX") and not is_glob("tenant-X")


def test_a_glob_without_a_match_lists_every_database_there() -> None:
    text = f"""
[identities.orders-api]
type = "app"
client_id = "{APP}"

[[targets]]
databases = ["zz*"]
grants = {{ orders-api = ["reader"] }}
"""
    op = expand_targets(_policy(text), MemPorts({}, listed=["master", "a", "b"]), SERVER)
    assert op.failed[0].hint == "databases there: a, b"

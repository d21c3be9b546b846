"""grant's identity value object, name refusals, ARM identity shapes, and the one status/exit-code function."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from azsqlctl.core.errors import ExitCode
from azsqlctl.core.grant.operation import Job, Mode, Request, Status, TargetResult, exit_code, run_many
from azsqlctl.core.grant.plan import Plan
from azsqlctl.core.identity import IdentitySpec, identity_from_resource, name_problems, sid_of, validate_identity
from azsqlctl.core.tsql import create_user

APP = "4e0a3f6e-2c1b-5e4d-8f90-123456789abc"
OID = "0f6b3e2a-9c8d-4e7f-a1b2-c3d4e5f60718"


def test_identity_needs_the_id_it_is_matched_by() -> None:
    assert validate_identity(IdentitySpec("a", "app", client_id=APP)) == []
    assert validate_identity(IdentitySpec("a", "app", client_id=APP, object_id=OID)) == []  # WITH OBJECT_ID form
    assert validate_identity(IdentitySpec("a", "app", object_id=OID)) == []  # a system-assigned identity: WITH OBJECT_ID
    assert "can never log in" in validate_identity(IdentitySpec("a", "app", object_id=OID, sid_mode=True))[0]
    assert "matched by its object id" in validate_identity(IdentitySpec("g", "group"))[0]
    assert "has no client id" in validate_identity(IdentitySpec("u", "user", client_id=APP, object_id=OID))[0]


def test_an_object_id_alone_never_guesses_the_kind() -> None:
    problem = validate_identity(IdentitySpec("billing-worker", "", object_id=OID))[0]
    assert problem.startswith("the identity's type is not given and an object id does not say it: never guessed")
    assert "matched by client id" in problem and "by object id" in problem


def test_no_type_and_no_id_reads_as_a_sentence() -> None:
    problem = validate_identity(IdentitySpec("alice", ""))[0]
    assert problem.startswith("the identity's type is not given, and there is no id to tell it by: never guessed")
    assert "no id does not say" not in problem


def test_sid_is_the_client_id_for_apps_and_the_object_id_otherwise() -> None:
    assert sid_of("app", APP, OID) == APP and sid_of("user", "", OID) == OID and sid_of("group", "", OID) == OID
    spec = IdentitySpec("a", "app", APP, OID)
    assert spec.sid == APP and spec.other_id == OID and spec.sid_hex == "0x" + uuid.UUID(APP).bytes_le.hex().upper()
    assert IdentitySpec("a", "app", object_id=OID).sid == ""  # unknown: the server resolves it from the object id


@pytest.mark.parametrize(
    ("spec", "sql"),
    [
        (IdentitySpec("a", "app", APP), "CREATE USER [a] FROM EXTERNAL PROVIDER"),
        (IdentitySpec("a", "app", APP, OID), f"CREATE USER [a] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'{OID}'"),
        (IdentitySpec("a", "app", "", OID), f"CREATE USER [a] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'{OID}'"),
        (
            IdentitySpec("g]", "group", "", OID, sid_mode=True),
            f"CREATE USER [g]]] WITH SID = 0x{uuid.UUID(OID).bytes_le.hex().upper()}, TYPE = X",
        ),
    ],
)
def test_create_user_has_one_rendering(spec: IdentitySpec, sql: str) -> None:
    assert create_user(spec) == sql


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("dbo", "a principal every database has"),
        ("GUEST", "a principal every database has"),
        ("sys", "a principal every database has"),
        ("INFORMATION_SCHEMA", "a principal every database has"),
        ("public", "a principal every database has"),
        ("db_datareader", "a database role"),
        ("app_rw", "a database role"),  # a custom role the caller knows about
        ("   ", "only spaces"),
        ("", "only spaces"),
        ("bad\x07name", "control characters"),
        ("tab\tname", "control characters"),
        ("x" * 129, "129 characters"),
    ],
)
def test_names_that_are_not_identities(name: str, fragment: str) -> None:
    assert any(fragment in p for p in name_problems(name, ["app_rw"])), name_problems(name, ["app_rw"])


def test_ordinary_names_pass() -> None:
    for name in ("billing-worker", "orders api", "user@contoso.com", "x" * 128, "Ünïcode-名前", "a]b"):
        assert name_problems(name) == []


def test_user_assigned_identity_from_arm() -> None:
    arm_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/billing-worker"
    body = {"id": arm_id, "name": "billing-worker", "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "properties": {"tenantId": "t", "principalId": OID, "clientId": APP}}  # fmt: skip
    assert identity_from_resource(arm_id, body) == IdentitySpec("billing-worker", "app", APP, OID, source=arm_id)


def test_system_assigned_identity_from_arm() -> None:
    arm_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/shop-web"
    body = {"name": "shop-web", "type": "Microsoft.Web/sites", "identity": {"type": "SystemAssigned, UserAssigned", "principalId": OID,
            "userAssignedIdentities": {"/x": {}}}}  # fmt: skip
    assert identity_from_resource(arm_id, body) == IdentitySpec("shop-web", "app", "", OID, source=arm_id)
    with pytest.raises(ValueError, match="uses user-assigned ones: pass --identity-resource with one of /x"):
        identity_from_resource(arm_id, {"name": "shop-web", "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/x": {}}}})
    with pytest.raises(ValueError, match="has no managed identity"):
        identity_from_resource(arm_id, {"name": "shop-web", "type": "Microsoft.Web/sites"})


def _row(status: Status, drift: bool = False, code: ExitCode = ExitCode.OK) -> TargetResult:
    plan = Plan("s", "d", drift=["x"] if drift else [])
    return TargetResult("s", "d", status, plan, exit_code=code)


@pytest.mark.parametrize(
    ("rows", "mode", "code"),
    [
        ([_row(Status.UNCHANGED)], Mode.APPLY, ExitCode.OK),
        ([_row(Status.CHANGED)], Mode.APPLY, ExitCode.OK),
        ([_row(Status.PLANNED)], Mode.DRY_RUN, ExitCode.OK),
        ([_row(Status.PLANNED)], Mode.CHECK, ExitCode.CHECK_FAILED),
        ([_row(Status.CHANGED, drift=True)], Mode.APPLY, ExitCode.CHECK_FAILED),  # drift left behind
        ([_row(Status.DRIFT)], Mode.APPLY, ExitCode.CHECK_FAILED),
        ([_row(Status.CHANGED), _row(Status.FAILED, code=ExitCode.PERMISSION), _row(Status.DRIFT)], Mode.APPLY, ExitCode.PERMISSION),
        ([_row(Status.FAILED, code=ExitCode.NOT_FOUND), _row(Status.FAILED, code=ExitCode.PERMISSION)], Mode.APPLY, ExitCode.NOT_FOUND),
        ([], Mode.APPLY, ExitCode.OK),
    ],
)
def test_exit_code_is_the_worst_row(rows: list[TargetResult], mode: Mode, code: ExitCode) -> None:
    assert exit_code(rows, mode) == code


class _Ports:
    """GrantPorts whose sessions fail by database: an in-process stand-in for the fleet (no driver involved)."""

    def __init__(self, boom: dict[str, Exception]) -> None:
        self.boom = boom
        self.opened: list[str] = []

    def session(self, server: str, database: str) -> Any:
        self.opened.append(database)
        raise self.boom[database]

    def databases(self, server: str) -> list[str]:
        return list(self.boom)


def test_any_error_in_one_target_is_that_rows_failure() -> None:
    from azsqlctl.core.errors import ConnectionFailed

    transient = ConnectionFailed("[HYT00] busy (40501)", "retry", code="40501")
    ports = _Ports({"a": RuntimeError("surprise"), "b": transient, "c": ConnectionFailed("gone", "", code="08S01")})
    slept: list[float] = []
    jobs = [Job("s", d, Request([])) for d in ("a", "b", "c")]
    rows = run_many(jobs, ports, apply=True, concurrency=1, backoff=(0.5, 1.0), sleep=slept.append)
    assert [r.status for r in rows] == [Status.FAILED] * 3
    assert (
        rows[0].error == "unexpected RuntimeError: surprise" and rows[0].exit_code == ExitCode.INTERNAL and rows[0].error_code == "internal"
    )
    assert rows[1].retries == ["40501", "40501"] and rows[1].error.endswith("(after 2 retries)") and slept == [0.5, 1.0]
    assert rows[2].retries == [] and rows[2].exit_code == ExitCode.CONNECTION  # not transient: no retry
    assert ports.opened == ["a", "b", "b", "b", "c"]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('roles = "reader"\n[[targets]]\ndatabases = ["a"]\n', 1, "roles must be a table"),
        ('identities = ["x"]\n[[targets]]\ndatabases = ["a"]\n', 1, "identities must be a table"),
        ('targets = "appdb"\n', 1, "targets must be an array of tables"),
        # issue 15: an empty name used to pass validation and fail at the server with 208
        (
            '[identities.a]\ntype = "app"\nclient_id = "27c1c882-4791-57cf-8622-933abbac9865"\n'
            '[[targets]]\ndatabases = [""]\ngrants = { a = ["reader"] }\n',
            5,
            "target 1: database name '' is empty",
        ),
        ('[[targets]]\ndatabases = ["' + "d" * 129 + '"]\n', 2, "target 1: database name 'dddd"),
    ],
)
def test_policy_sections_of_the_wrong_type_are_policy_errors(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    """A section of the wrong TOML type is reported with its line (it used to end in exit 70)."""
    from azsqlctl.core.errors import ConfigError
    from azsqlctl.core.grant.policy import load_policy

    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_policy(path, allow_elevated=False)
    assert f"line {line}: {fragment}" in info.value.message

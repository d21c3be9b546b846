"""grant's request rules (core/grant_request.py) without Azure: options in, an Operation or a usage error out."""

from __future__ import annotations

from pathlib import Path

import pytest

from azsqlctl.core.errors import UsageError
from azsqlctl.core.fleet import GraphPort
from azsqlctl.core.grant import GrantPorts, Mode
from azsqlctl.core.grant_request import MIGRATOR_WARNING, GrantRequest, build, mode_of, refuse_meaningless
from azsqlctl.core.identity import IdentitySpec
from azsqlctl.core.settings import ConnectionSettings, SettingsInput, resolve_settings

CID = "6e3f0a4e-1b2c-4d5e-8f90-123456789abc"


class Refusing:
    """BuildPorts for requests that must not reach Azure."""

    def grant_ports(self) -> GrantPorts:
        raise AssertionError("no database is needed to build a one-identity operation")

    def identity_resource(self, arm_id: str, name: str) -> IdentitySpec:
        raise AssertionError("no ARM lookup was asked for")

    def resource_graph(self) -> GraphPort:
        raise AssertionError("no Resource Graph query was asked for")


def settings(tmp_path: Path, database: str | None = None) -> ConnectionSettings:
    return resolve_settings(SettingsInput(server="sql1.database.windows.net", database=database), {}, tmp_path)


def test_one_identity_becomes_one_job_with_expanded_roles_and_the_admin_step(tmp_path: Path) -> None:
    req = GrantRequest(identity="orders-api", client_id=CID, roles=("reader",), apply=True, ensure_entra_admin="dba",
                       entra_admin_id=CID, replace_admin=True)  # fmt: skip
    built = build(req, settings(tmp_path, database="appdb"), Refusing())
    (job,) = built.operation.jobs
    assert (job.server, job.database) == ("sql1.database.windows.net", "appdb")
    assert job.request.assignments[0].identity.kind == "app"  # --client-id alone says an app
    assert job.request.assignments[0].roles == ["db_datareader"]
    assert built.operation.admin is not None and built.operation.admin.sid == CID and built.operation.replace_admin
    assert built.warnings == ()


def test_migrator_is_returned_as_a_warning_not_printed(tmp_path: Path) -> None:
    req = GrantRequest(identity="ci-deploy", client_id=CID, roles=("migrator",), apply=True)
    assert build(req, settings(tmp_path, database="appdb"), Refusing()).warnings == (MIGRATOR_WARNING,)


@pytest.mark.parametrize(
    ("req", "code"),
    [
        (GrantRequest(identity="orders-api", client_id=CID, apply=True), "no_role"),
        (GrantRequest(roles=("reader",), apply=True), "no_identity"),
        (GrantRequest(identity="orders-api", client_id=CID, roles=("db_owner",), apply=True), "elevated_role"),
    ],
)
def test_refusals_before_any_connection(tmp_path: Path, req: GrantRequest, code: str) -> None:
    with pytest.raises(UsageError) as err:
        build(req, settings(tmp_path, database="appdb"), Refusing())
    assert err.value.code == code


def test_no_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        build(GrantRequest(identity="orders-api", client_id=CID, roles=("reader",), apply=True), settings(tmp_path), Refusing())
    assert err.value.code == "no_database"


def test_modes_and_the_terminal(tmp_path: Path) -> None:
    assert mode_of(GrantRequest(check=True)) is Mode.CHECK
    assert mode_of(GrantRequest(interactive=True)) is Mode.ASK
    with pytest.raises(UsageError) as err:
        mode_of(GrantRequest())
    assert err.value.code == "no_confirmation"
    with pytest.raises(UsageError) as err:
        mode_of(GrantRequest(apply=True, check=True))
    assert err.value.code == "bad_mode"


@pytest.mark.parametrize(
    "req",
    [
        GrantRequest(drop_user=True),
        GrantRequest(policy=Path("p.toml"), roles=("reader",)),
        GrantRequest(revoke=True, prune=True),
        GrantRequest(entra_admin_id=CID),
        GrantRequest(show_targets=True),
        GrantRequest(policy=Path("p.toml"), show_targets=True, apply=True),
    ],
)
def test_options_that_would_be_ignored_are_refused(req: GrantRequest) -> None:
    with pytest.raises(UsageError) as err:
        refuse_meaningless(req)
    assert err.value.code == "conflict"

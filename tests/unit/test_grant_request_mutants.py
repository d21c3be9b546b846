"""grant/request.py to the letter where the broader tests stop: each ignored option named alone, the mode
messages, the admin type refusal, what the identity lookup is asked, and the hint a naming problem gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from azsqlctl.core.errors import UsageError
from azsqlctl.core.grant.fleet import GraphPort
from azsqlctl.core.grant.operation import GrantPorts, Mode
from azsqlctl.core.grant.request import MIGRATOR_WARNING, GrantRequest, admin_spec, build, mode_of, refuse_meaningless, single_identity
from azsqlctl.core.identity import IdentitySpec
from azsqlctl.core.ports import DdlSession
from azsqlctl.core.settings import SettingsInput, resolve_settings

CID = "6e3f0a4e-1b2c-4d5e-8f90-123456789abc"
OID = "0f6b3e2a-9c8d-4e7f-a1b2-c3d4e5f60718"
ARM_ID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-api"
POLICY_IGNORED = "would be ignored: --policy names its own identities, roles and SID modes"
POLICY_HINT = "drop them (or --policy); the policy file declares each identity and its roles"
SHOW_IGNORED = "would be ignored with --show-targets (it changes nothing and reads no database)"


class Ports:
    """BuildPorts: one ARM identity, a server's databases; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def grant_ports(self) -> GrantPorts:
        return self

    def identity_resource(self, arm_id: str, name: str) -> IdentitySpec:
        self.asked.append((arm_id, name))
        return IdentitySpec("orders-api", "app", CID, "", False, arm_id)

    def resource_graph(self) -> GraphPort:
        raise AssertionError("no Resource Graph query was asked for")

    def session(self, server: str, database: str) -> DdlSession:
        raise AssertionError("building an operation opens no session")

    def databases(self, server: str) -> list[str]:
        return ["master", "appdb"]


def _refused(req: GrantRequest) -> UsageError:
    with pytest.raises(UsageError) as info:
        refuse_meaningless(req)
    assert info.value.code == "conflict"
    return info.value


def test_the_migrator_warning() -> None:
    assert MIGRATOR_WARNING == "migrator (db_ddladmin) is for the CI identity that runs schema migrations, not for an application"


@pytest.mark.parametrize(
    ("given", "spelled"),
    [
        ({"identity": "a"}, "IDENTITY"),
        ({"identity_resource": ARM_ID}, "--identity-resource"),
        ({"client_id": CID}, "--client-id"),
        ({"object_id": OID}, "--object-id"),
        ({"kind": "app"}, "--type"),
        ({"roles": ("reader",)}, "--role"),
        ({"sid_mode": True}, "--sid-mode"),
    ],
)
def test_each_option_a_policy_ignores_is_named(given: dict[str, object], spelled: str) -> None:
    err = _refused(GrantRequest(policy=Path("p.toml"), **given))  # type: ignore[arg-type]
    assert (err.message, err.hint) == (f"{spelled} {POLICY_IGNORED}", POLICY_HINT)


@pytest.mark.parametrize(("given", "spelled"), [({"entra_admin_id": CID}, "--entra-admin-id"), ({"entra_admin_type": "Group"}, "--entra-admin-type"),
                                                ({"replace_admin": True}, "--replace-admin")])  # fmt: skip
def test_each_admin_option_needs_the_admin(given: dict[str, object], spelled: str) -> None:
    err = _refused(GrantRequest(**given))  # type: ignore[arg-type]
    assert (err.message, err.hint) == (f"{spelled} only applies with --ensure-entra-admin", "add --ensure-entra-admin NAME (or drop them)")


@pytest.mark.parametrize(
    ("given", "spelled"),
    [({"apply": True}, "--apply"), ({"dry_run": True}, "--dry-run"), ({"check": True}, "--check"), ({"prune": True}, "--prune"),
     ({"ensure_entra_admin": "dba"}, "--ensure-entra-admin")],
)  # fmt: skip
def test_each_option_show_targets_ignores_is_named(given: dict[str, object], spelled: str) -> None:
    err = _refused(GrantRequest(policy=Path("p.toml"), show_targets=True, **given))  # type: ignore[arg-type]
    assert (err.message, err.hint) == (f"{spelled} {SHOW_IGNORED}", "drop them (or --show-targets)")


def test_modes() -> None:
    assert mode_of(GrantRequest(apply=True)) is Mode.APPLY
    assert mode_of(GrantRequest(dry_run=True)) is Mode.DRY_RUN
    assert mode_of(GrantRequest(check=True, interactive=True)) is Mode.CHECK
    with pytest.raises(UsageError) as info:
        mode_of(GrantRequest(apply=True, check=True))
    assert (info.value.message, info.value.hint, info.value.code) == (
        "choose one of --apply, --dry-run, --check (got --apply, --check)", "pass exactly one of them", "bad_mode",
    )  # fmt: skip
    with pytest.raises(UsageError) as info:
        mode_of(GrantRequest())
    assert (info.value.message, info.value.hint, info.value.code) == (
        "no terminal to confirm the plan on", "pass --apply to apply it, or --dry-run to only print it", "no_confirmation",
    )  # fmt: skip


def test_a_bad_admin_type() -> None:
    with pytest.raises(UsageError) as info:
        admin_spec("dba", CID, "Robot")
    assert (info.value.message, info.value.hint, info.value.code) == (
        "--entra-admin-type must be Group, User or Application, not Robot", "pass one of them", "bad_identity",
    )  # fmt: skip
    assert admin_spec("dba", CID.upper(), None).sid == CID and admin_spec("dba", CID, None).principal_type == ""


def test_the_identity_lookup_is_asked_with_no_name_when_none_was_given() -> None:
    ports = Ports()
    spec = single_identity(GrantRequest(identity_resource=ARM_ID), ports)
    assert ports.asked == [(ARM_ID, "")] and spec.name == "orders-api"


def test_no_type_and_an_object_id_is_never_guessed() -> None:
    with pytest.raises(UsageError) as info:
        single_identity(GrantRequest(identity="a", object_id=OID), Ports())
    assert info.value.message.startswith("the identity's type is not given and an object id does not say it: never guessed")


def test_no_name_is_a_naming_problem() -> None:
    with pytest.raises(UsageError) as info:
        single_identity(GrantRequest(client_id=CID), Ports())
    assert info.value.message == "the name is empty or only spaces: name the identity as Azure shows it"
    assert info.value.hint.startswith("name the identity as Azure shows it: az identity show -n NAME -g GROUP --query name")


def test_a_builtin_principals_name_gets_the_naming_hint() -> None:
    with pytest.raises(UsageError) as info:
        single_identity(GrantRequest(identity="dbo", client_id=CID), Ports())
    assert info.value.message == "'dbo' is a principal every database has, not an identity"
    assert info.value.hint.startswith("name the identity as Azure shows it")


def test_a_policy_without_a_server_has_targets_on_no_server(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        f'version = 1\n[identities.a]\ntype = "app"\nclient_id = "{CID}"\n[[targets]]\ndatabases = ["appdb"]\ngrants = {{ a = ["reader"] }}\n'
    )
    built = build(GrantRequest(policy=path), resolve_settings(SettingsInput(), {}, tmp_path), Ports())
    assert [(j.server, j.database) for j in built.operation.jobs] == [("", "appdb")]

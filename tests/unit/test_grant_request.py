"""grant's request rules (core/grant/request.py) without Azure: options in, an Operation or a usage error out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from azsqlctl.core.errors import UsageError
from azsqlctl.core.grant.entra_admin import AdminSpec
from azsqlctl.core.grant.fleet import GraphAnswer, GraphPort
from azsqlctl.core.grant.operation import GrantPorts, Mode
from azsqlctl.core.grant.request import MIGRATOR_WARNING, GrantRequest, admin_spec, build, mode_of, policy_targets, refuse_meaningless
from azsqlctl.core.identity import IdentitySpec
from azsqlctl.core.ports import DdlSession
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


class Known:
    """BuildPorts over a server with known databases, an empty Resource Graph and one ARM identity."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.graph_queries = 0

    def grant_ports(self) -> GrantPorts:
        return Databases()

    def identity_resource(self, arm_id: str, name: str) -> IdentitySpec:
        self.asked.append((arm_id, name))
        return IdentitySpec("orders-api", "app", CID, "", False, arm_id)

    def resource_graph(self) -> GraphPort:
        return self

    def query(self, kql: str, subscriptions: Sequence[str], management_groups: Sequence[str]) -> GraphAnswer:
        self.graph_queries += 1
        return GraphAnswer((), truncated=True)


class Databases:
    def session(self, server: str, database: str) -> DdlSession:
        raise AssertionError("building an operation opens no session")

    def databases(self, server: str) -> list[str]:
        return ["master", "tenant_a", "tenant_b", "appdb"]


ARM_ID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-api"


def policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text("version = 1\n" + text)
    return path


def test_a_policy_becomes_one_job_per_matched_database(tmp_path: Path) -> None:
    path = policy(tmp_path, f'[identities.orders-api]\ntype = "app"\nclient_id = "{CID}"\n\n'
                            '[[targets]]\ndatabases = ["tenant_*"]\ngrants = { orders-api = ["reader"] }\n')  # fmt: skip
    built = build(GrantRequest(policy=path, apply=True, prune=True), settings(tmp_path), Known())
    assert [(j.server, j.database, j.request.prune) for j in built.operation.jobs] == [
        ("sql1.database.windows.net", "tenant_a", True), ("sql1.database.windows.net", "tenant_b", True)
    ]  # fmt: skip
    assert built.warnings == () and built.operation.admin is None


def test_a_policy_identity_named_by_its_resource_is_looked_up_once(tmp_path: Path) -> None:
    path = policy(tmp_path, f'[identities.orders-api]\nresource = "{ARM_ID}"\n\n'
                            '[[targets]]\ndatabases = ["appdb"]\ngrants = { orders-api = ["reader"] }\n')  # fmt: skip
    ports = Known()
    built = build(GrantRequest(policy=path, apply=True), settings(tmp_path), ports)
    assert ports.asked == [(ARM_ID, "")]
    assert built.operation.jobs[0].request.assignments[0].identity.client_id == CID


def test_a_policy_select_asks_resource_graph_and_returns_what_it_could_not_see(tmp_path: Path) -> None:
    path = policy(tmp_path, f'[identities.orders-api]\ntype = "app"\nclient_id = "{CID}"\n\n[[targets]]\n'
                            'select = { subscriptions = ["65221fc5-c868-5287-9e39-cdc31a7384e0"] }\n'
                            'grants = { orders-api = ["reader"] }\n')  # fmt: skip
    ports = Known()
    built = build(GrantRequest(policy=path, apply=True), settings(tmp_path), ports)
    assert ports.graph_queries == 1
    assert any("truncated" in w for w in built.warnings), built.warnings
    targets, fleet = policy_targets(GrantRequest(policy=path, show_targets=True), settings(tmp_path), ports)
    assert ports.graph_queries == 2 and fleet is not None and fleet.partial == list(built.warnings)
    plain = policy(tmp_path, f'[identities.orders-api]\ntype = "app"\nclient_id = "{CID}"\n\n'
                             '[[targets]]\ndatabases = ["appdb"]\ngrants = { orders-api = ["db_owner"] }\n')  # fmt: skip
    targets, fleet = policy_targets(GrantRequest(policy=plain, show_targets=True), settings(tmp_path), ports)
    assert (
        fleet is None and ports.graph_queries == 2 and [t.databases for t in targets.targets] == [["appdb"]]
    )  # elevated: shown, not refused


def test_database_with_a_policy_is_refused(tmp_path: Path) -> None:
    path = policy(tmp_path, f'[identities.orders-api]\ntype = "app"\nclient_id = "{CID}"\n\n'
                            '[[targets]]\ndatabases = ["appdb"]\ngrants = { orders-api = ["reader"] }\n')  # fmt: skip
    with pytest.raises(UsageError) as err:
        build(GrantRequest(policy=path, apply=True), settings(tmp_path, database="appdb"), Known())
    assert (err.value.code, err.value.message) == ("conflict", "--database would be ignored: the policy's targets name the databases")


def test_admin_alone_is_an_operation_without_databases(tmp_path: Path) -> None:
    built = build(GrantRequest(ensure_entra_admin="dba", entra_admin_id=CID.upper(), apply=True), settings(tmp_path), Refusing())
    assert built.operation.jobs == [] and built.operation.admin == AdminSpec("dba", CID, "")
    assert not built.operation.replace_admin
    unasked = build(
        GrantRequest(identity="a", client_id=CID, roles=("reader",), replace_admin=True), settings(tmp_path, "appdb"), Refusing()
    )
    assert unasked.operation.admin is None and not unasked.operation.replace_admin  # --replace-admin means nothing without an admin


def test_revoke_and_drop_need_no_role(tmp_path: Path) -> None:
    built = build(
        GrantRequest(identity="orders-api", client_id=CID, revoke=True, drop_user=True, apply=True), settings(tmp_path, "appdb"), Refusing()
    )
    assert built.operation.jobs[0].request.drop_user and built.operation.jobs[0].request.assignments[0].roles == []
    with pytest.raises(UsageError) as err:
        build(GrantRequest(identity="orders-api", client_id=CID, revoke=True, apply=True), settings(tmp_path, "appdb"), Refusing())
    assert err.value.code == "no_role"


def test_messages_say_what_to_pass(tmp_path: Path) -> None:
    cases = [
        (GrantRequest(roles=("reader",)), settings(tmp_path, "appdb"), "no identity given", "--identity-resource ARM_ID, or --policy FILE"),
        (GrantRequest(identity="a", client_id=CID), settings(tmp_path, "appdb"), "no --role given", "reader, writer, executor or migrator"),
        (GrantRequest(identity="a", client_id=CID, roles=("reader",)), settings(tmp_path), "no database given", "AZSQLCTL_DATABASE"),
    ]
    for req, conn, message, hint in cases:
        with pytest.raises(UsageError) as err:
            build(req, conn, Refusing())
        assert err.value.message == message and hint in err.value.hint


def test_every_identity_problem_is_listed_and_numbered(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        build(GrantRequest(identity="x" * 200, kind="app", roles=("reader",)), settings(tmp_path, "appdb"), Refusing())
    assert err.value.code == "bad_identity"
    assert err.value.message.startswith("2 problems: (1) the name is 200 characters") and "; (2) an app" in err.value.message
    assert err.value.hint.startswith("name the identity as Azure shows it")
    with pytest.raises(UsageError) as err:
        build(GrantRequest(identity="orders-api", kind="app", roles=("reader",)), settings(tmp_path, "appdb"), Refusing())
    assert not err.value.message.startswith(("1 problems", "(1)")) and "az identity show" in err.value.hint


def test_identity_resource_names_the_identity(tmp_path: Path) -> None:
    ports = Known()
    built = build(
        GrantRequest(identity_resource=ARM_ID, identity="orders", sid_mode=True, roles=("reader",)), settings(tmp_path, "appdb"), ports
    )
    spec = built.operation.jobs[0].request.assignments[0].identity
    assert ports.asked == [(ARM_ID, "orders")] and spec.client_id == CID and spec.sid_mode and spec.source == ARM_ID
    with pytest.raises(UsageError) as err:
        build(GrantRequest(identity_resource=ARM_ID, client_id=CID, roles=("reader",)), settings(tmp_path, "appdb"), Known())
    assert err.value.message == "--identity-resource names the identity; --client-id would contradict it"


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        (None, "needs --entra-admin-id GUID (the group's object id)"),
        ("User", "needs --entra-admin-id GUID (the user's object id)"),
        ("Application", "needs --entra-admin-id GUID (the application's client id (az ad sp show --id APP --query appId))"),
    ],
)
def test_admin_without_its_id_says_which_id(kind: str | None, says: str) -> None:
    with pytest.raises(UsageError) as err:
        admin_spec("dba", None, kind)
    assert err.value.code == "bad_identity" and err.value.message == f"--ensure-entra-admin {says}"
    assert err.value.hint.startswith("az ad group show --group NAME --query id")


def test_identity_resource_refuses_every_contradicting_option_by_name(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        build(GrantRequest(identity_resource=ARM_ID, kind="app", object_id=CID, roles=("reader",)), settings(tmp_path, "appdb"), Known())
    assert err.value.message == "--identity-resource names the identity; --type, --object-id would contradict it"
    assert err.value.hint == "drop --type, --object-id" and err.value.code == "bad_identity"


def test_object_id_alone_says_no_kind_and_the_hint_shows_how_to_find_ids(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        build(GrantRequest(identity="orders-api", object_id=CID, roles=("reader",)), settings(tmp_path, "appdb"), Refusing())
    assert err.value.hint.endswith('az identity show -n NAME -g GROUP --query "{clientId:clientId, principalId:principalId}"')
    built = build(
        GrantRequest(identity="orders-api", kind="app", object_id=CID, roles=("reader",)), settings(tmp_path, "appdb"), Refusing()
    )
    spec = built.operation.jobs[0].request.assignments[0].identity
    assert (spec.name, spec.kind, spec.client_id, spec.object_id) == ("orders-api", "app", "", CID)


def test_hints_name_the_way_out(tmp_path: Path) -> None:
    path = policy(tmp_path, f'[identities.orders-api]\ntype = "app"\nclient_id = "{CID}"\n\n'
                            '[[targets]]\ndatabases = ["appdb"]\ngrants = { orders-api = ["reader"] }\n')  # fmt: skip
    with pytest.raises(UsageError) as err:
        build(GrantRequest(policy=path), settings(tmp_path, database="appdb"), Known())
    assert err.value.hint == "drop --database (or --policy)"
    with pytest.raises(UsageError) as err:
        build(GrantRequest(), settings(tmp_path, "appdb"), Refusing())
    assert err.value.hint == "azsqlctl grant IDENTITY --role reader --client-id GUID, --identity-resource ARM_ID, or --policy FILE"
    with pytest.raises(UsageError) as err:
        build(GrantRequest(identity="a", client_id=CID), settings(tmp_path, "appdb"), Refusing())
    assert err.value.hint == "use --role reader, writer, executor or migrator (or an existing role name)"


@pytest.mark.parametrize(
    ("req", "message", "hint"),
    [
        (
            GrantRequest(drop_user=True),
            "--drop-user only applies with --revoke",
            "add --revoke to remove the memberships and drop the user",
        ),
        (
            GrantRequest(policy=Path("p.toml"), identity="a", roles=("reader",)),
            "IDENTITY, --role would be ignored: --policy names its own identities, roles and SID modes",
            "drop them (or --policy); the policy file declares each identity and its roles",
        ),
        (
            GrantRequest(policy=Path("p.toml"), revoke=True),
            "--revoke does not combine with --policy",
            "revoke one identity: azsqlctl grant NAME --role ROLE --revoke (or --prune with the policy)",
        ),
        (
            GrantRequest(revoke=True, sid_mode=True),
            "--sid-mode would be ignored with --revoke (it removes memberships, it creates nothing)",
            "drop them (or --revoke)",
        ),
        (
            GrantRequest(replace_admin=True),
            "--replace-admin only applies with --ensure-entra-admin",
            "add --ensure-entra-admin NAME (or drop them)",
        ),
        (GrantRequest(show_targets=True), "--show-targets needs --policy", "azsqlctl grant --policy FILE --show-targets"),
        (
            GrantRequest(policy=Path("p.toml"), show_targets=True, check=True),
            "--check would be ignored with --show-targets (it changes nothing and reads no database)",
            "drop them (or --show-targets)",
        ),
    ],
)
def test_ignored_options_are_named_as_typed(req: GrantRequest, message: str, hint: str) -> None:
    with pytest.raises(UsageError) as err:
        refuse_meaningless(req)
    assert (err.value.message, err.value.hint) == (message, hint)


def test_meaningful_combinations_pass_and_defaults_match_the_cli() -> None:
    for req in (
        GrantRequest(identity="a", roles=("reader",), revoke=True, drop_user=True),
        GrantRequest(policy=Path("p.toml"), prune=True, ensure_entra_admin="dba", entra_admin_id=CID, replace_admin=True),
        GrantRequest(policy=Path("p.toml"), show_targets=True),
    ):
        refuse_meaningless(req)  # nothing to refuse
    req = GrantRequest()
    assert (req.concurrency, req.retries, req.dry_run, req.prune, req.show_targets) == (8, 3, False, False, False)
    assert GrantRequest(kind="app", roles=("reader",), identity="x").flags("kind", "roles", "identity", "revoke") == [
        "--type",
        "--role",
        "IDENTITY",
    ]

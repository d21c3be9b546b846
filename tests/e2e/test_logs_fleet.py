"""`azsqlctl logs --policy`: a policy's servers -> their audit workspaces -> one Log Analytics request (real SDKs, sandbox)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.sandbox.monitor.audit import LoginEvent
from azsqlctl.sandbox.monitor.state import Workspace
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.surfaces import LogsSurface

runner = CliRunner()


@pytest.fixture
def logs(sandbox: Sandbox, client_env: dict[str, str]) -> Any:
    service = sandbox.surface(LogsSurface).service
    service.ingestion.delay = 0.0
    return service


def failures(sandbox: Sandbox, principal: str, database: str, n: int, state: int = 132, error: int = 18456) -> None:
    now = time.time() - 60
    for i in range(n):
        sandbox.store.audit.append(
            LoginEvent(now + i * 0.001, False, principal, database, "203.0.113.7", "app", "host", error=error, severity=14, state=state)
        )
    sandbox.store.audit.flush()


def test_summary_per_principal_and_database_across_the_policys_servers(sandbox: Sandbox, logs: Any, tmp_path: Path) -> None:
    failures(sandbox, "orders-api@tenant", "appdb", 7)
    failures(sandbox, "billing-worker@tenant", "appdb", 3, state=5)
    failures(sandbox, "orders-api@tenant", "otherdb", 4)  # not a database of the policy
    failures(sandbox, "orders-api@tenant", "appdb", 2, error=40615)  # a firewall refusal, not an 18456
    policy = tmp_path / "access.toml"
    policy.write_text('version = 1\n[[targets]]\ndatabases = ["appdb"]\ngrants = {}\n')
    before = len(logs.log.queries)
    result = runner.invoke(app, ["logs", "--policy", str(policy), "--summary", "-o", "json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    groups = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(g["principal"], g["server_name"], g["database_name"], g["error_state"], g["events"]) for g in groups] == [
        ("orders-api@tenant", "sandbox-sql", "appdb", 132, 7),
        ("billing-worker@tenant", "sandbox-sql", "appdb", 5, 3),
    ]
    assert len(logs.log.queries) - before == 1
    kql = logs.log.queries[-1]
    assert '| where (LogicalServerName_s =~ h"sandbox-sql" and database_name_s in~ (h"appdb"))' in kql
    assert "| where error_number == 18456" in kql
    # Without --summary: the events themselves, the same servers and databases (all failed logins, not only 18456)
    result = runner.invoke(app, ["logs", "--policy", str(policy), "-o", "json"])
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 12


def test_every_workspace_goes_in_one_request(sandbox: Sandbox, logs: Any, client_env: dict[str, str]) -> None:
    """additional_workspaces through azure-monitor-query; the sandbox checks each one, as the service does."""
    import os

    from azsqlctl.azure.credentials import get_credential
    from azsqlctl.azure.monitor import MonitorLogsQuery
    from azsqlctl.core.errors import NotFound
    from azsqlctl.core.logs.ports import LogsTarget, PartialReason
    from azsqlctl.core.settings import SettingsInput, resolve_settings

    second = "3c2d1e0f-1111-4222-8333-944455556666"
    with sandbox.store.mutate() as s:
        s.monitor.workspaces.append(Workspace("second-ws", second))
    settings = resolve_settings(SettingsInput(), os.environ, Path.cwd())
    port = MonitorLogsQuery(get_credential(settings.auth, settings.client_id, settings.cloud, settings.tenant_id), settings.cloud)
    first = client_env["AZSQLCTL_LOGS_WORKSPACE"]
    both = LogsTarget(workspace_id=first, additional_workspaces=(second,))
    assert both.display == f"workspaces {first}, {second}"
    assert port.query(both, "AzureDiagnostics | count").rows is not None
    # A workspace that is gone refuses the whole request (404); each workspace is then asked alone, so the
    # others' rows still come back and the missing one is named as a partial result.
    gone = "9f9f9f9f-0000-4000-8000-000000000000"
    failures(sandbox, "orders-api@tenant", "appdb", 3)
    kql = 'AzureDiagnostics | where server_principal_name_s == "orders-api@tenant" | count'
    before = len(logs.log.queries)
    partial = port.query(LogsTarget(workspace_id=first, additional_workspaces=(gone,)), kql)
    assert partial.rows == [[3]] and [(f.workspace, f.reason) for f in partial.partial] == [(gone, PartialReason.NOT_FOUND)]
    assert partial.partial[0].detail.startswith("Log Analytics answered 404 WorkspaceNotFoundError: ")
    assert len(logs.log.queries) == before + 1  # the refused requests never ran a query; the first workspace's alone did
    with pytest.raises(NotFound) as missing:  # every workspace refused: the error itself, nothing to show
        port.query(LogsTarget(workspace_id=gone, additional_workspaces=("8e8e8e8e-0000-4000-8000-000000000000",)), kql)
    assert gone in missing.value.message


def test_a_workspace_the_identity_cannot_read_does_not_hide_the_others(sandbox: Sandbox, logs: Any, client_env: dict[str, str]) -> None:
    """Two workspaces in one request, one refusing the caller (403, as a workspace without Log Analytics Reader
    does): the readable one's rows come back, the refusal is the partial result (workspace, reason, the service's words); the CLI words it on stderr."""
    import os

    from azsqlctl.azure.credentials import get_credential
    from azsqlctl.azure.monitor import MonitorLogsQuery
    from azsqlctl.core.errors import PermissionDenied
    from azsqlctl.core.logs.ports import LogsTarget, PartialFailure, PartialReason
    from azsqlctl.core.settings import SettingsInput, resolve_settings

    failures(sandbox, "orders-api@tenant", "appdb", 4)
    locked = "4d3e2f10-2222-4333-8444-a55566667777"
    with sandbox.store.mutate() as s:
        s.monitor.workspaces.append(Workspace("locked-ws", locked, readers=["00000000-0000-0000-0000-00000000dead"]))
    settings = resolve_settings(SettingsInput(), os.environ, Path.cwd())
    port = MonitorLogsQuery(get_credential(settings.auth, settings.client_id, settings.cloud, settings.tenant_id), settings.cloud)
    kql = 'AzureDiagnostics | where server_principal_name_s == "orders-api@tenant" | count'
    first = client_env["AZSQLCTL_LOGS_WORKSPACE"]
    for order in ((first, locked), (locked, first)):  # the refusing workspace first or second
        got = port.query(LogsTarget(workspace_id=order[0], additional_workspaces=order[1:]), kql)
        assert got.rows == [[4]]
        assert got.partial == (
            PartialFailure(
                locked,
                PartialReason.NO_ACCESS,
                "Log Analytics answered 403 InsufficientAccessError: "
                "The provided credentials have insufficient access to perform the requested operation",
            ),
        )
    with pytest.raises(PermissionDenied):  # alone, the refusal is the error it always was
        port.query(LogsTarget(workspace_id=locked), kql)


SECOND = Workspace("fleet-logs", "5e4f3a2b-3333-4444-8555-b66677778888")


def two_servers_two_workspaces(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> Path:
    """The sandbox's own server auditing to its workspace, and a fleet server `sql-b` in the same resource group
    turned on with `logs enable` to a workspace of its own; a policy targeting a database on each."""
    from azsqlctl.sandbox.arm.resourcegraph import FleetServer
    from azsqlctl.sandbox.state import Database

    sub, rg = client_env["AZSQLCTL_SUBSCRIPTION"], client_env["AZSQLCTL_RESOURCE_GROUP"]
    with sandbox.store.mutate() as s:
        s.monitor.workspaces.append(Workspace(SECOND.name, SECOND.customer_id))
        s.server.databases.append(Database("tenant_b", schemas=["dbo"]))  # the fleet's databases live in the one engine
    sandbox.arm.graph.inventory.servers.append(FleetServer("sql-b", sub, rg, databases={"tenant_b": {}}))
    arm_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{SECOND.name}"
    enabled = runner.invoke(app, ["logs", "enable", "--server", "sql-b", "--workspace-resource", arm_id, "--yes", "-o", "json"])
    assert enabled.exit_code == 0, (enabled.stdout, enabled.stderr)
    policy = tmp_path / "p.toml"
    policy.write_text(
        'version = 1\n[[targets]]\ndatabases = ["appdb"]\ngrants = {}\n'
        '[[targets]]\nservers = ["sql-b"]\ndatabases = ["tenant_b"]\ngrants = {}\n'
    )
    return policy


def refuse(sandbox: Sandbox, database: str, n: int) -> None:
    """n logins the real ODBC driver makes with a token of an identity that has no user there: 18456."""
    import pyodbc

    from tests.conftest import raw_connect
    from tests.e2e.test_tds_login import client_id_of, mi_token

    token = mi_token(client_id_of(sandbox, "billing-worker"))
    for _ in range(n):
        with pytest.raises(pyodbc.Error, match=r"\(18456\)"):
            raw_connect(sandbox, token, database=database)
    sandbox.store.audit.flush()


def test_refused_logins_on_two_servers_come_back_from_their_own_workspaces_in_one_request(
    sandbox: Sandbox, logs: Any, client_env: dict[str, str], tmp_path: Path
) -> None:
    policy = two_servers_two_workspaces(sandbox, client_env, tmp_path)
    refuse(sandbox, "appdb", 2)
    refuse(sandbox, "tenant_b", 3)
    row = sandbox.store.audit.last()
    # Failed logins to databases the policy names on the *other* server: not the fleet's, so not counted (the
    # filter is per server, not every server x every database).
    import time

    from azsqlctl.sandbox.monitor.audit import LoginEvent, Origin

    sub, rg = client_env["AZSQLCTL_SUBSCRIPTION"], client_env["AZSQLCTL_RESOURCE_GROUP"]
    for server, database in (("sandbox-sql", "tenant_b"), ("sql-b", "appdb")):
        sandbox.store.audit.append(
            LoginEvent(time.time(), False, "stranger", database, "203.0.113.9", "app", "host", error=18456, severity=14, state=132,
                       message="Login failed.", origin=Origin(server, sub, rg))
        )  # fmt: skip
    sandbox.store.audit.flush()  # the fleet server's row names it, as Azure's rows carry their server
    assert row is not None and (row["LogicalServerName_s"], row["server_instance_name_s"], row["database_name_s"]) == (
        "sql-b", "sql-b", "tenant_b",
    )  # fmt: skip
    assert row["_ResourceId"] == f"/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.sql/servers/sql-b/databases/master".lower()
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    first = client_env["AZSQLCTL_LOGS_WORKSPACE"]
    before = len(logs.log.queries)
    result = runner.invoke(app, ["logs", "--policy", str(policy), "--summary", "-o", "json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    groups = {(g["server_name"], g["database_name"]): g for g in map(json.loads, result.stdout.splitlines())}
    assert {k: (g["principal"], g["error_state"], g["events"]) for k, g in groups.items()} == {  # 18456s only (the query's filter)
        ("sandbox-sql", "appdb"): (f"billing-worker@{tenant}", 132, 2),
        ("sql-b", "tenant_b"): (f"billing-worker@{tenant}", 132, 3),
    }
    # One Log Analytics request over both workspaces (additional_workspaces), each server's rows from its own.
    assert logs.log.workspaces[before:] == [(first, SECOND.customer_id)]
    # Each workspace alone holds only its server's rows: the attribution is the sandbox's, not the query's filter.
    for workspace, where, n, other in (
        (first, ("sandbox-sql", "appdb"), 2, ("sandbox-sql", "tenant_b")),
        (SECOND.customer_id, ("sql-b", "tenant_b"), 3, ("sql-b", "appdb")),
    ):
        alone = runner.invoke(app, ["logs", "--workspace", workspace, "-o", "json"])
        assert alone.exit_code == 0, alone.stderr
        assert [(e["server"], e["database"]) for e in map(json.loads, alone.stdout.splitlines())] == [where] * n + [other]
    # A login that succeeds on the fleet server's database is its row too (DBAS, when its action groups say so).
    from azsqlctl.sandbox.state import DbUser
    from tests.conftest import raw_connect
    from tests.e2e.test_tds_login import client_id_of, mi_token

    with sandbox.sql.storage.edit_security("tenant_b") as db:
        db.users.append(DbUser("orders-api", client_id_of(sandbox, "orders-api"), "E", 5))
    raw_connect(sandbox, mi_token(client_id_of(sandbox, "orders-api")), database="tenant_b").close()
    sandbox.store.audit.flush()
    ok = sandbox.store.audit.last()
    assert ok is not None and (ok["action_id_s"], ok["LogicalServerName_s"], ok["database_name_s"]) == ("DBAS", "sql-b", "tenant_b")
    # A resource-centric query for the fleet server (its ARM id, no workspace named) finds its rows too.
    sql_b = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Sql/servers/sql-b"
    by_resource = runner.invoke(app, ["logs", "--resource", sql_b, "-o", "json"])
    assert by_resource.exit_code == 0, by_resource.stderr
    assert [(e["server"], e["database"]) for e in map(json.loads, by_resource.stdout.splitlines())] == [("sql-b", "tenant_b")] * 3 + [
        ("sql-b", "appdb")
    ]


def test_a_workspace_refusing_the_identity_is_named_and_the_other_servers_rows_still_show(
    sandbox: Sandbox, logs: Any, client_env: dict[str, str], tmp_path: Path
) -> None:
    policy = two_servers_two_workspaces(sandbox, client_env, tmp_path)
    refuse(sandbox, "appdb", 2)
    refuse(sandbox, "tenant_b", 1)
    with sandbox.store.mutate() as s:  # the caller lacks Log Analytics Reader on sql-b's workspace
        next(w for w in s.monitor.workspaces if w.name == SECOND.name).readers = ["00000000-0000-0000-0000-00000000dead"]
    before = len(logs.log.queries)
    result = runner.invoke(app, ["logs", "--policy", str(policy), "--summary", "-o", "json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(g["server_name"], g["database_name"], g["events"]) for g in lines if g["type"] == "group"] == [("sandbox-sql", "appdb", 2)]
    warning = next(w for w in lines if w["type"] == "warning")
    assert warning["code"] == "partial_result" and warning["workspaces"] == [SECOND.customer_id]
    assert "LogsQueryStatus" not in result.stderr
    assert f"Warning: Some rows are missing. Workspace {SECOND.customer_id} (where sql-b sends failed logins) was left out" in result.stderr
    assert f"give the identity the Log Analytics Reader role on workspace {SECOND.customer_id}" in result.stderr
    # The joint request was refused before it ran; then each workspace alone: the readable one's query ran.
    assert logs.log.workspaces[before:] == [(client_env["AZSQLCTL_LOGS_WORKSPACE"],)]


def test_select_targets_in_another_subscription_each_read_from_their_own_workspace(
    sandbox: Sandbox, logs: Any, client_env: dict[str, str], tmp_path: Path
) -> None:
    """Resource Graph finds three fleet servers in another subscription; two audit to a workspace each, the third
    does not audit at all (a new server's default): named on stderr and left out; one request over the two."""
    from azsqlctl.sandbox.arm.resourcegraph import FleetServer
    from azsqlctl.sandbox.monitor.state import AUDIT_CATEGORY, DiagnosticSetting, workspace_arm_id
    from azsqlctl.sandbox.monitor.state import AuditingPolicy as SandboxAuditing
    from azsqlctl.sandbox.state import Database

    other = "0b9a1c7e-5f7d-4c1e-9a55-3f0c2d1e4b6a"
    sub, rg = client_env["AZSQLCTL_SUBSCRIPTION"], client_env["AZSQLCTL_RESOURCE_GROUP"]
    ids = {1: "11111111-1111-4111-8111-111111111111", 2: "22222222-2222-4222-8222-222222222222"}
    with sandbox.store.mutate() as s:
        s.monitor.workspaces += [Workspace(f"eu{i}-logs", ids[i]) for i in ids]
        s.server.databases += [Database(f"tenant_{i}", schemas=["dbo"]) for i in (1, 2, 3)]
    for i in (1, 2, 3):
        server = FleetServer(f"sql-eu-{i}", other, "rg-fleet", "northeurope", {"env": "prod"}, {f"tenant_{i}": {}})
        if i in ids:  # auditing on, to Azure Monitor, and a diagnostic setting on master sending to its own workspace
            server.auditing = SandboxAuditing()
            server.diagnostic_settings = [DiagnosticSetting("audit", workspace_arm_id(sub, rg, f"eu{i}-logs"), [AUDIT_CATEGORY])]
        sandbox.arm.graph.inventory.servers.append(server)
    refuse(sandbox, "tenant_1", 1)
    refuse(sandbox, "tenant_2", 2)
    refuse(sandbox, "tenant_3", 4)
    policy = tmp_path / "p.toml"
    policy.write_text(f'version = 1\n[[targets]]\nselect = {{ subscriptions = ["{other}"], tags = {{ env = "prod" }} }}\ngrants = {{}}\n')
    before = len(logs.log.queries)
    result = runner.invoke(app, ["logs", "--policy", str(policy), "--summary", "-o", "json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    groups = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((g["server_name"], g["database_name"], g["events"]) for g in groups) == [
        ("sql-eu-1", "tenant_1", 1),
        ("sql-eu-2", "tenant_2", 2),
    ]
    assert "not recorded, left out: sql-eu-3" in result.stderr
    assert logs.log.workspaces[before:] == [(ids[1], ids[2])]

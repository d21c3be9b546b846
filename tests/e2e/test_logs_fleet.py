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
    assert '| where LogicalServerName_s in~ (h"sandbox-sql")' in kql and '| where database_name_s in~ (h"appdb")' in kql
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
    from azsqlctl.core.logs.ports import LogsTarget
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
    assert partial.rows == [[3]] and f"workspace {gone}: Log Analytics answered 404" in partial.partial_error
    assert len(logs.log.queries) == before + 1  # the refused requests never ran a query; the first workspace's alone did
    with pytest.raises(NotFound) as missing:  # every workspace refused: the error itself, nothing to show
        port.query(LogsTarget(workspace_id=gone, additional_workspaces=("8e8e8e8e-0000-4000-8000-000000000000",)), kql)
    assert gone in missing.value.message


def test_a_workspace_the_identity_cannot_read_does_not_hide_the_others(sandbox: Sandbox, logs: Any, client_env: dict[str, str]) -> None:
    """Two workspaces in one request, one refusing the caller (403, as a workspace without Log Analytics Reader
    does): the readable one's rows come back, the refusal is the partial result's text; the CLI shows it on stderr."""
    import os

    from azsqlctl.azure.credentials import get_credential
    from azsqlctl.azure.monitor import MonitorLogsQuery
    from azsqlctl.core.errors import PermissionDenied
    from azsqlctl.core.logs.ports import LogsTarget
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
        assert got.partial_error == (
            f"workspace {locked}: Log Analytics answered 403 InsufficientAccessError: "
            "The provided credentials have insufficient access to perform the requested operation"
        )
    with pytest.raises(PermissionDenied):  # alone, the refusal is the error it always was
        port.query(LogsTarget(workspace_id=locked), kql)

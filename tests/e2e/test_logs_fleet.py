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
    with pytest.raises(NotFound) as missing:
        port.query(
            LogsTarget(workspace_id=first, additional_workspaces=("9f9f9f9f-0000-4000-8000-000000000000",)), "AzureDiagnostics | count"
        )
    assert "9f9f9f9f-0000-4000-8000-000000000000" in missing.value.message

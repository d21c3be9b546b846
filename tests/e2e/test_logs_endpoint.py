"""The sandbox's Log Analytics endpoint through the real azure-monitor-query LogsQueryClient over HTTPS."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from azsqlctl.core.logs.kql import GroupKey, LogsRequest, build_query
from azsqlctl.sandbox.monitor.audit import LoginEvent
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.surfaces import LogsSurface

pytestmark = pytest.mark.sandbox_keys  # CLI sandboxes over --state in tmp_path: the session's keys (tests/conftest.py)


def _client(env: dict[str, str]) -> Any:
    from azure.identity import ManagedIdentityCredential
    from azure.monitor.query import LogsQueryClient

    return LogsQueryClient(
        ManagedIdentityCredential(),
        endpoint=env["AZSQLCTL_LOGS_ENDPOINT"],
        audience=env["AZSQLCTL_LOGS_RESOURCE"],
        connection_verify=env["AZSQLCTL_CA_BUNDLE"],
        retry_total=0,
    )


def _failures(sandbox: Sandbox, n: int, state: int = 5, ago: float = 0.0) -> None:
    now = time.time() - ago
    for i in range(n):
        sandbox.store.audit.append(
            LoginEvent(
                now - i * 0.01,
                False,
                "orders-api",
                "appdb",
                "203.0.113.7",
                "app",
                "host",
                error=18456,
                severity=14,
                state=state,
                message="Login failed for user 'orders-api'.",
            )
        )
    sandbox.store.audit.flush()


@pytest.fixture
def logs(sandbox: Sandbox) -> Any:
    service = sandbox.surface(LogsSurface).service
    service.ingestion.delay = 0.0
    return service


def _since() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


def test_workspace_query_lists_failed_logins_with_the_real_state(sandbox: Sandbox, client_env: dict[str, str], logs: Any) -> None:
    from azure.monitor.query import LogsQueryStatus

    _failures(sandbox, 3, state=8)
    q = build_query(LogsRequest(since=_since()))
    result = _client(client_env).query_workspace(client_env["AZSQLCTL_LOGS_WORKSPACE"], q.text, timespan=None, server_timeout=42)
    assert result.status == LogsQueryStatus.SUCCESS
    table = result.tables[0]
    assert list(table.columns) == list(q.columns)
    rows = [dict(zip(table.columns, r, strict=True)) for r in table.rows]
    assert len(rows) == 3 and {r["error_state"] for r in rows} == {8} and {r["error_number"] for r in rows} == {18456}
    assert isinstance(rows[0]["event_time_t"], datetime)
    assert [r["event_time_t"] for r in rows] == sorted(r["event_time_t"] for r in rows)
    assert logs.log.prefer[-1] == "wait=42"  # --timeout reaches the service as the server timeout


def test_resource_centric_query_and_summary(sandbox: Sandbox, client_env: dict[str, str], logs: Any) -> None:
    _failures(sandbox, 4, state=133)
    rid = f"/subscriptions/{client_env['AZSQLCTL_SUBSCRIPTION']}/resourceGroups/{client_env['AZSQLCTL_RESOURCE_GROUP']}/providers/Microsoft.Sql/servers/sandbox-sql"
    q = build_query(LogsRequest(since=_since(), summary_by=(GroupKey.PRINCIPAL, GroupKey.STATE)))
    result = _client(client_env).query_resource(rid, q.text, timespan=timedelta(hours=1))
    rows = result.tables[0].rows
    assert len(rows) == 1 and rows[0][0] == "orders-api" and rows[0][1] == 133 and rows[0][2] == 4


def test_partial_result_is_reported_as_partial(sandbox: Sandbox, client_env: dict[str, str], logs: Any) -> None:
    from azure.monitor.query import LogsQueryStatus

    _failures(sandbox, 2)
    sandbox.faults.inject("logs", "partial")
    result = _client(client_env).query_workspace(
        client_env["AZSQLCTL_LOGS_WORKSPACE"], build_query(LogsRequest(since=_since())).text, timespan=None
    )
    assert result.status == LogsQueryStatus.PARTIAL
    assert len(result.partial_data[0].rows) == 2 and "sandbox fault" in str(result.partial_error.details)


def test_unsupported_kql_is_an_error_not_an_empty_result(client_env: dict[str, str], logs: Any) -> None:
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError) as err:
        _client(client_env).query_workspace(client_env["AZSQLCTL_LOGS_WORKSPACE"], "AzureDiagnostics | join (X) on Y", timespan=None)
    assert err.value.status_code == 400 and "not supported by the azsqlctl sandbox" in str(err.value)


def test_unknown_workspace_404_and_no_access_403(sandbox: Sandbox, client_env: dict[str, str], logs: Any) -> None:
    from azure.core.exceptions import HttpResponseError

    client = _client(client_env)
    with pytest.raises(HttpResponseError) as err:
        client.query_workspace("00000000-0000-0000-0000-000000000000", "AzureDiagnostics | take 1", timespan=None)
    assert err.value.status_code == 404 and "WorkspaceNotFoundError" in str(err.value)
    with sandbox.store.mutate() as s:
        s.monitor.workspaces[0].readers = ["someone-else"]
    with pytest.raises(HttpResponseError) as err:
        client.query_workspace(client_env["AZSQLCTL_LOGS_WORKSPACE"], "AzureDiagnostics | take 1", timespan=None)
    assert err.value.status_code == 403 and "InsufficientAccessError" in str(err.value)


def test_token_for_another_resource_is_401(client_env: dict[str, str], logs: Any) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.identity import ManagedIdentityCredential
    from azure.monitor.query import LogsQueryClient

    client = LogsQueryClient(
        ManagedIdentityCredential(), endpoint=client_env["AZSQLCTL_LOGS_ENDPOINT"], audience="https://management.azure.com",
        connection_verify=client_env["AZSQLCTL_CA_BUNDLE"], retry_total=0,
    )  # fmt: skip
    with pytest.raises(HttpResponseError) as err:
        client.query_workspace(client_env["AZSQLCTL_LOGS_WORKSPACE"], "AzureDiagnostics | take 1", timespan=None)
    assert err.value.status_code == 401 and "InvalidTokenError" in str(err.value) and "wrong_audience" in str(err.value)


def test_ingestion_delay_hides_rows_until_ingested(sandbox: Sandbox, client_env: dict[str, str], logs: Any) -> None:
    logs.ingestion.delay = 30.0
    _failures(sandbox, 2)
    text = build_query(LogsRequest(since=_since())).text
    assert _client(client_env).query_workspace(client_env["AZSQLCTL_LOGS_WORKSPACE"], text, timespan=None).tables[0].rows == []
    logs.clock = lambda: time.time() + 31  # the sandbox's clock moves on, no sleeping
    assert len(_client(client_env).query_workspace(client_env["AZSQLCTL_LOGS_WORKSPACE"], text, timespan=None).tables[0].rows) == 2


def test_auditing_off_means_an_empty_workspace(sandbox: Sandbox, client_env: dict[str, str], logs: Any) -> None:
    from azsqlctl.sandbox.monitor.state import monitor_off

    _failures(sandbox, 2)
    with sandbox.store.mutate() as s:
        s.monitor = monitor_off()
    text = build_query(LogsRequest(since=_since())).text
    assert _client(client_env).query_workspace(client_env["AZSQLCTL_LOGS_WORKSPACE"], text, timespan=None).tables[0].rows == []


def test_sandbox_serve_prints_the_workspace_and_takes_logs_options(tmp_path: Any) -> None:
    import os
    import signal
    import socket
    import sys

    from tests.e2e.test_sandbox_cli import serve_announcement

    # A port free a moment ago can be taken (another worker's sandbox) before the child binds it: that attempt ends
    # with exit 2 and the error port_unavailable, and the test asks again with another port.
    for _attempt in range(3):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-c", "from azsqlctl.cli.app import main; main()", "sandbox", "serve", "--state", str(tmp_path / "s.json"),
               "--logs-port", str(port), "--ingestion-delay", "0", "-o", "json"]  # fmt: skip
        ready, _code = serve_announcement(cmd, {**os.environ, "XDG_DATA_HOME": str(tmp_path)}, signal.SIGTERM)
        if [e["code"] for e in ready.get("errors") or []] != ["port_unavailable"]:
            break
    env = ready["data"]["env"]
    assert env["AZSQLCTL_LOGS_ENDPOINT"] == f"https://127.0.0.1:{port}"
    assert env["AZSQLCTL_LOGS_WORKSPACE"] == "ca656d1a-4145-5397-8300-2a5344193fc7"  # stable: the README shows it
    assert env["AZSQLCTL_LOGS_RESOURCE"] == "https://api.loganalytics.io"

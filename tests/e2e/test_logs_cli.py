"""`azsqlctl logs`, `logs enable`, `logs status` end to end: CLI -> azure-monitor-query / azure-mgmt-* -> sandbox over HTTPS."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.sandbox.monitor.audit import LoginEvent
from azsqlctl.sandbox.monitor.state import monitor_off
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import default_state
from azsqlctl.sandbox.surfaces import LogsSurface
from tests import cli_fork
from tests.conftest import raw_connect

pytestmark = pytest.mark.sandbox_keys  # CLI sandboxes over --state in tmp_path: the session's keys (tests/conftest.py)

runner = CliRunner()
STATEMENT_MARKER = "SECRET-STATEMENT-7f3a"


@pytest.fixture
def logs(sandbox: Sandbox, client_env: dict[str, str]) -> Any:
    service = sandbox.surface(LogsSurface).service
    service.ingestion.delay = 0.0
    return service


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


def refuse_billing_worker(sandbox: Sandbox) -> None:
    """billing-worker has a valid token but no database user: the server refuses it (the client sees state 1)."""
    import pyodbc

    with pytest.raises(pyodbc.Error) as err:
        raw_connect(sandbox, sandbox.issue_token("billing-worker"))
    assert "18456" in str(err.value)
    sandbox.store.audit.flush()


def add_rows(sandbox: Sandbox, states: list[int], principal: str = "sa", ip: str = "203.0.113.7", ago: float = 60.0) -> None:
    now = time.time() - ago
    for i, state in enumerate(states):
        sandbox.store.audit.append(
            LoginEvent(now + i * 0.001, False, principal, "appdb", ip, "sqlcmd", "host", error=18456, severity=14, state=state,
                       message=f"Login failed. {STATEMENT_MARKER}")
        )  # fmt: skip
    sandbox.store.audit.flush()


def test_refused_login_through_odbc_shows_real_state_cause_and_fix(sandbox: Sandbox, logs: Any) -> None:
    refuse_billing_worker(sandbox)
    result = cli("logs")  # server from AZSQLCTL_SERVER; workspace found through its diagnostic setting
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "billing-worker" in line]
    assert len(lines) == 1, result.stdout
    assert "18456 state 132" in lines[0]  # the real state, not the 1 the client saw
    assert "sandbox-sql/appdb" in lines[0] and "from 127.0.0.1" in lines[0]
    assert "fix:" in lines[0] and "grant" in lines[0]
    # JSON: NDJSON, one object per event
    out = cli("logs", "-o", "json")
    events = [json.loads(line) for line in out.stdout.splitlines()]
    mine = [e for e in events if e["principal"].startswith("billing-worker")]
    assert mine and mine[0]["type"] == "event" and mine[0]["state"] == 132 and mine[0]["error"] == 18456 and mine[0]["fix"]
    # --summary groups it with the same cause
    summary = cli("logs", "--summary", "-o", "json")
    groups = [json.loads(line) for line in summary.stdout.splitlines()]
    group = next(g for g in groups if str(g["principal"]).startswith("billing-worker"))
    assert group["type"] == "group" and group["error_state"] == 132 and group["events"] == 1 and group["cause"] == mine[0]["cause"]


def test_summary_is_one_aggregation_query_that_downloads_groups(sandbox: Sandbox, logs: Any) -> None:
    add_rows(sandbox, [5] * 40 + [8] * 20, ip="198.51.100.9")
    add_rows(sandbox, [133] * 10, principal="orders-api@tenant")
    before_queries, before_rows = len(logs.log.queries), logs.log.rows_returned
    result = cli("logs", "--summary")
    assert result.exit_code == 0, result.stderr
    assert len(logs.log.queries) - before_queries == 1
    assert "summarize events = count()" in logs.log.queries[-1]
    assert logs.log.rows_returned - before_rows == 3  # three groups, not 70 events
    first = result.stdout.splitlines()[0]
    assert first.split()[0] == "40" and "error_state=5" in first and "likely password guessing" in first


def test_statement_text_never_appears_in_any_output(sandbox: Sandbox, logs: Any) -> None:
    add_rows(sandbox, [5, 8, 18])
    for args in (["logs"], ["logs", "-o", "json"], ["logs", "--summary"], ["logs", "--summary", "-o", "json"], ["logs", "--all-events"]):
        result = cli(*args)
        assert result.exit_code == 0
        assert STATEMENT_MARKER not in result.stdout + result.stderr
    assert all("statement_s" not in q for q in logs.log.queries)  # never even downloaded


def test_redact_masks_principals_and_addresses(sandbox: Sandbox, logs: Any) -> None:
    add_rows(sandbox, [5, 5], principal="alice", ip="192.0.2.44")
    result = cli("logs", "--redact")
    assert result.exit_code == 0 and "alice" not in result.stdout and "192.0.2.44" not in result.stdout
    assert "<principal-" in result.stdout and "<ip-" in result.stdout


def test_partial_result_is_shown_with_a_warning(sandbox: Sandbox, logs: Any) -> None:
    add_rows(sandbox, [5, 8])
    sandbox.faults.inject("logs", "partial")
    result = cli("logs")
    assert result.exit_code == 0
    assert len([line for line in result.stdout.splitlines() if "18456 state" in line]) == 2
    workspace = sandbox.env["AZSQLCTL_LOGS_WORKSPACE"]
    assert result.stderr.startswith(
        f"Warning: Some rows are missing. Log Analytics returned only part of the rows from workspace {workspace} ("
    )
    assert "Query execution has exceeded the allowed limits (sandbox fault)" in result.stderr and "LogsQueryStatus" not in result.stderr


def test_timeout_is_the_server_timeout(sandbox: Sandbox, logs: Any) -> None:
    assert cli("logs", "--timeout", "45").exit_code == 0
    assert logs.log.prefer[-1] == "wait=45"


def test_show_query_prints_kql_and_sends_nothing(logs: Any) -> None:
    result = cli("logs", "--show-query", "--principal", 'x" | take 1 //', "--state", "5")
    assert result.exit_code == 0
    assert result.stdout.startswith("AzureDiagnostics\n") and 'h"x\\" | take 1 //"' in result.stdout
    assert logs.log.queries == []


def test_resource_centric_query(sandbox: Sandbox, logs: Any, client_env: dict[str, str]) -> None:
    add_rows(sandbox, [8])
    rid = f"/subscriptions/{client_env['AZSQLCTL_SUBSCRIPTION']}/resourceGroups/sandbox-rg/providers/Microsoft.Sql/servers/sandbox-sql"
    result = cli("logs", "--resource", rid)
    assert result.exit_code == 0 and "18456 state 8" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--since", "ten minutes"], 2, "is not a duration"),
        (["--since-time", "2099-01-01T00:00:00Z"], 2, "is in the future"),
        (["--until", "2020-01-01T00:00:00Z"], 2, "--until must be later than --since"),
        (["--workspace", "nope"], 2, "--workspace 'nope' is not a GUID"),
        (["--since", "45d"], 2, "further than the workspace keeps data"),
        (["--state", "five"], 2, "--state takes a whole number"),
        (["--state", ""], 2, "--state takes a whole number"),
        (["--workspace", "ca656d1a-4145-5397-8300-2a5344193fc7", "--resource", "/subscriptions/x"], 2, "do not combine"),
        (["--workspace", "00000000-0000-0000-0000-000000000000"], 5, "WorkspaceNotFoundError"),
        (["--limit", "0"], 2, "--limit takes a positive whole number"),
        (["--error", "18456x"], 2, "--error takes a whole number"),
        (["--client-ip", "not-an-ip"], 2, "is not an IP address"),
        (["--follow", "--summary"], 2, "do not combine"),
        (["--by", "state"], 2, "--by needs --summary"),
        (["--summary", "--by", "colour"], 2, "is not a summary key"),
        (["--interval", "soon", "--follow"], 2, "is not a duration"),
        (["--resource", "sandbox-sql"], 2, "is not an ARM resource id"),
    ],
)
def test_bad_input_is_one_error_line_with_a_hint(logs: Any, args: list[str], code: int, message: str) -> None:
    queries = len(logs.log.queries)
    result = cli("logs", *args)
    assert result.exit_code == code, result.stdout + result.stderr
    err = result.stderr.strip().splitlines()
    assert err[0].startswith("Error:") and message in err[0] and err[1].startswith("Hint:") and len(err) == 2
    assert len(err[1]) > len("Hint: ")
    if code == 2:  # refused before any query
        assert len(logs.log.queries) == queries


def test_no_permission_is_403_exit_6(sandbox: Sandbox, logs: Any) -> None:
    with sandbox.store.mutate() as s:
        s.monitor.workspaces[0].readers = [s.identities[1].object_id]  # orders-api only; the CLI runs as sandbox-operator
    result = cli("logs")
    assert result.exit_code == 6
    assert "InsufficientAccessError" in result.stderr and "Log Analytics Reader" in result.stderr


def test_json_error_is_the_envelope(logs: Any) -> None:
    result = cli("logs", "-o", "json", "--workspace", "00000000-0000-0000-0000-000000000000")
    envelope = json.loads(result.stdout)
    assert envelope["status"] == "error" and envelope["errors"][0]["code"] == "workspace_not_found"


# --- auditing off, logs enable, logs status -------------------------------------------------------


@pytest.fixture
def off_sandbox(tmp_path: Path, material_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import os

    state = default_state()
    state.monitor = monitor_off()
    state.monitor.auditing.action_groups = ["BATCH_COMPLETED_GROUP"]  # configured before: must be kept
    with Sandbox(tmp_path / "off.json", material_dir=material_dir, initial=state) as sb:
        for key in list(os.environ):
            if key.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_")):
                monkeypatch.delenv(key)
        for key, value in sb.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        sb.surface(LogsSurface).service.ingestion.delay = 0.0
        yield sb


def _workspace_id(sb: Sandbox) -> str:
    sub, rg = sb.store.read(lambda s: (s.server.subscription_id, s.server.resource_group))
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/sandbox-logs"


def test_auditing_off_says_so_with_the_enable_command(off_sandbox: Sandbox) -> None:
    result = cli("logs")
    assert result.exit_code == 1
    err = result.stderr.strip().splitlines()
    assert "not recorded in Log Analytics" in err[0] and "server auditing is Disabled" in err[0]
    assert err[1] == f"Hint: azsqlctl logs enable --server sandbox-sql --workspace-resource {_workspace_id(off_sandbox)}"
    status = cli("logs", "status", "-o", "json")
    assert json.loads(status.stdout)["data"]["ready"] is False
    assert status.exit_code == 1 and json.loads(status.stdout)["status"] == "failed"  # so it can gate CI
    human = cli("logs", "status")
    assert human.exit_code == 1 and "Failed logins are NOT recorded" in human.stdout


def test_logs_enable_twice_second_writes_nothing_and_keeps_groups(off_sandbox: Sandbox) -> None:
    ws = _workspace_id(off_sandbox)
    no_tty = cli("logs", "enable", "--workspace-resource", ws)  # no terminal and no --yes: refuse, never hang
    assert no_tty.exit_code == 2 and "--yes" in no_tty.stderr
    assert off_sandbox.store.read(lambda s: s.monitor.auditing.state) == "Disabled"

    first = cli("logs", "enable", "--workspace-resource", ws, "--yes")
    assert first.exit_code == 0, first.stderr
    assert "Enabled:" in first.stdout and "keeping BATCH_COMPLETED_GROUP" in first.stdout
    groups = off_sandbox.store.read(lambda s: list(s.monitor.auditing.action_groups))
    assert groups == ["BATCH_COMPLETED_GROUP", "FAILED_DATABASE_AUTHENTICATION_GROUP", "SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP"]

    writes_before = off_sandbox.arm.requests
    mtime = off_sandbox.state_path.stat().st_mtime_ns if off_sandbox.state_path else 0
    second = cli("logs", "enable", "--workspace-resource", ws, "--yes", "-o", "json")
    assert second.exit_code == 0
    data = json.loads(second.stdout)["data"]
    assert data["already_enabled"] is True and data["applied"] is False and data["changes"] == []
    assert off_sandbox.state_path is not None and off_sandbox.state_path.stat().st_mtime_ns == mtime  # nothing written
    assert off_sandbox.arm.requests > writes_before  # it did read

    # rows logged from now on reach the workspace
    refuse_billing_worker(off_sandbox)
    listed = cli("logs")
    assert listed.exit_code == 0 and "18456 state 132" in listed.stdout
    status = cli("logs", "status")
    assert status.exit_code == 0 and "Failed logins are recorded" in status.stdout and "azsqlctl-audit" in status.stdout


# --- doctor closes the loop --------------------------------------------------------------------------


def _client_id(sb: Sandbox, name: str) -> str:
    return str(sb.store.read(lambda s: next(i.client_id for i in s.identities if i.name == name)))


def test_doctor_shows_the_audited_real_state_for_the_refused_principal(sandbox: Sandbox, logs: Any) -> None:
    refuse_billing_worker(sandbox)  # an earlier refusal, already in the workspace
    add_rows(sandbox, [8], principal="someone-else")  # not this principal: not shown
    result = runner.invoke(app, ["doctor", "-o", "json", "--client-id", _client_id(sandbox, "billing-worker")])
    login = next(c for c in json.loads(result.stdout)["data"]["checks"] if c["id"] == "login")
    assert login["status"] == "fail"
    assert "audit log, last hour:" in login["finding"] and "state 132" in login["finding"]
    audit = login["evidence"]["audit"]
    assert audit["enabled"] is True and audit["failures"]
    assert all(f["principal"].startswith("billing-worker") and f["state"] == 132 for f in audit["failures"])
    human = runner.invoke(app, ["doctor", "--client-id", _client_id(sandbox, "billing-worker")], env={"COLUMNS": "250"})
    assert "audit log, last hour:" in human.stdout and "state 132" in human.stdout


def test_doctor_says_the_real_state_needs_logs_enable_when_auditing_is_off(off_sandbox: Sandbox) -> None:
    result = runner.invoke(app, ["doctor", "-o", "json", "--client-id", _client_id(off_sandbox, "billing-worker"), "--database", "appdb"])
    login = next(c for c in json.loads(result.stdout)["data"]["checks"] if c["id"] == "login")
    assert login["status"] == "fail" and "only visible in the audit log, which is off" in login["finding"]
    assert "azsqlctl logs enable --server sandbox-sql" in login["fix"]


@pytest.mark.usefixtures("cli_fork")  # a process on a terminal, forked: tests/cli_fork.py
def test_logs_enable_asks_on_a_terminal(off_sandbox: Sandbox) -> None:
    import os
    import pty
    import subprocess

    ws = _workspace_id(off_sandbox)
    cmd = [*cli_fork.COMMAND, "logs", "enable", "--workspace-resource", ws]
    for answer, applied in (("n", False), ("y", True)):
        master, slave = pty.openpty()
        proc = subprocess.Popen(cmd, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        os.close(slave)
        os.write(master, f"{answer}\n".encode())
        out, err = proc.communicate(timeout=60)
        os.close(master)
        assert "will change sandbox-sql" in err and "Apply these changes?" in err
        assert off_sandbox.store.read(lambda s: s.monitor.auditing.state == "Enabled") is applied, out + err
        assert proc.returncode == (0 if applied else 1)


NO_SDK_ARGS = [["logs", "--help"], ["logs", "enable", "--help"], ["logs", "status", "--help"], ["logs", "--show-query"]]


@functools.cache
def _no_sdk_runs() -> list[tuple[int, str, list[str]]]:
    """(exit code, stderr, heavy modules loaded so far) of each of NO_SDK_ARGS, run in turn in one fresh interpreter
    where pyodbc and the Azure SDKs cannot be imported (tests/e2e/test_cli.py's blocker). One interpreter for all four
    (a start-up costs ~0.3 s of CPU) proves what four would: each run adds to sys.modules, so what a run leaves
    without a heavy module is also what it would have loaded alone, and the first run that loads one is named."""
    import subprocess
    import sys
    import textwrap

    from tests.e2e.test_cli import BLOCKER

    code = (
        "BLOCKED = ('pyodbc', 'azure', 'msal')\n"
        + BLOCKER
        + textwrap.dedent(
            f"""
            import contextlib, io, json
            from azsqlctl.cli.app import app
            runs = []
            for args in {NO_SDK_ARGS!r}:
                err = io.StringIO()
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                    try:
                        app(args, standalone_mode=True)
                    except SystemExit as exc:
                        status = exc.code or 0
                heavy = sorted(m for m in sys.modules if m == "pyodbc" or m.startswith(("azure", "msal")))
                runs.append([status, err.getvalue(), heavy])
            print(json.dumps(runs))
            """
        )
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return [(status, err, heavy) for status, err, heavy in json.loads(proc.stdout)]


@pytest.mark.parametrize("at", range(len(NO_SDK_ARGS)), ids=[" ".join(a) for a in NO_SDK_ARGS])
def test_help_and_show_query_import_no_sdk(at: int) -> None:
    status, stderr, heavy = _no_sdk_runs()[at]
    assert status == 0, stderr
    assert heavy == []  # neither pyodbc nor any Azure SDK was imported


FORGED_DATABASE = (
    "nope\r\n2026-12-06T07:00:00.000000Z  sandbox-sql/appdb  admin@corp from 10.0.0.1 (ssms)  18456 state 8: FORGED LINE\x1b[31mRED"
)
FORGED_APP = "evil\x1b]0;pwned\x07app\u202e"


def test_names_from_a_failed_login_cannot_forge_a_line_or_drive_the_terminal(sandbox: Sandbox, logs: Any) -> None:
    """Issue 15: DATABASE/APP come from the unauthenticated client; text mode shows their controls as escapes."""
    import pyodbc

    database = "{" + FORGED_DATABASE.replace("}", "}}") + "}"
    with pytest.raises(pyodbc.Error):
        raw_connect(sandbox, sandbox.issue_token("billing-worker"), database=database, extra="APP={" + FORGED_APP + "};")
    sandbox.store.audit.flush()
    for args in (["logs"], ["logs", "--summary", "--by", "database,app"]):
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        text = result.stdout + result.stderr
        assert not any(c in text for c in "\r\x1b\x07\u202e"), text
        assert not any(line.lstrip().startswith("2026-12-06T07:00:00") for line in text.splitlines()), text
        assert "\\r\\n2026-12-06T07:00:00.000000Z" in text and "FORGED LINE\\x1b[31mRED" in text, text
        assert "evil\\x1b]0;pwned\\x07app\\u202e" in text, text
    # JSON carries the exact values
    events = [json.loads(line) for line in cli("logs", "-o", "json").stdout.splitlines()]
    forged = [e for e in events if e["database"] == FORGED_DATABASE]
    assert forged and forged[0]["application"] == FORGED_APP, events

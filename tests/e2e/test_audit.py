"""The audit store: every login, refused (DBAF) or successful (DBAS), as a SQLSecurityAuditEvents
row in an append-only SQLite store beside the state file - through the real ODBC driver."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from azsqlctl.sandbox.monitor.audit import AuditStore, LoginEvent, Origin, Retention, audit_path
from azsqlctl.sandbox.serve import Sandbox
from tests.conftest import raw_connect, token_struct

TOKEN_PRINCIPAL = "<token-identified principal>"
XML_CODE = re.compile(r"^<login_information><error_code>(\d+)</error_code><error_state>(\d+)</error_state></login_information>$")
XML_REASON = re.compile(r"^<failure_reason>Err (\d+), Level (\d+), State (\d+), (.*)</failure_reason>$")


def refused_login(sandbox: Sandbox, token: str | None, **kwargs: object) -> None:
    import pyodbc

    with pytest.raises(pyodbc.Error):
        raw_connect(sandbox, token, **kwargs)  # type: ignore[arg-type]


def test_refused_and_successful_logins_are_rows(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    ok_token = sandbox.issue_token("orders-api")
    stranger = sandbox.issue_token("billing-worker")
    before = time.time()
    refused_login(sandbox, stranger)
    refused_login(sandbox, stranger)
    raw_connect(sandbox, ok_token, extra="APP=audit-test;").close()
    rows = sandbox.store.audit.rows()
    assert [r["action_id_s"] for r in rows] == ["DBAF", "DBAF", "DBAS"]
    assert [r["succeeded_s"] for r in rows] == ["false", "false", "true"]
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    failed, ok = rows[0], rows[2]
    assert failed["server_principal_name_s"] == f"billing-worker@{tenant}"
    assert failed["statement_s"] == f"Login failed for user '{TOKEN_PRINCIPAL}'."
    assert ok["server_principal_name_s"] == f"orders-api@{tenant}"
    assert ok["application_name_s"] == "audit-test"
    assert ok["database_name_s"] == "appdb" and ok["client_ip_s"] == "127.0.0.1"
    assert ok["additional_information_s"] == "" and ok["action_name_s"] == "DATABASE AUTHENTICATION SUCCEEDED"
    assert ok["session_id_d"] >= 51 and ok["host_name_s"]
    for row in rows:
        assert row["Category"] == "SQLSecurityAuditEvents" and row["Type"] == "AzureDiagnostics"
        assert row["LogicalServerName_s"] == "sandbox-sql"
        assert row["ResourceId"].endswith("/PROVIDERS/MICROSOFT.SQL/SERVERS/SANDBOX-SQL/DATABASES/MASTER")
        assert row["_ResourceId"] == row["ResourceId"].lower()
        assert uuid.UUID(row["_ItemId"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", row["TimeGenerated"])
        assert row["TimeGenerated"] == row["event_time_t"] and row["_TimeReceived"] >= row["TimeGenerated"]
    assert len({r["_ItemId"] for r in rows}) == 3
    # Both XML shapes Azure writes appear across rows, and both carry number and state.
    shapes = [XML_CODE.match(rows[0]["additional_information_s"]), XML_REASON.match(rows[1]["additional_information_s"])]
    if shapes[0] is None:
        shapes = [XML_CODE.match(rows[1]["additional_information_s"]), XML_REASON.match(rows[0]["additional_information_s"])]
    code, reason = shapes
    assert code is not None and reason is not None, rows
    assert (code[1], code[2]) == ("18456", "132") and (reason[1], reason[2], reason[3]) == ("18456", "14", "132")
    assert reason[4] == "Login failed for user '&lt;token-identified principal&gt;'."  # XML-escaped
    # Windows for the Log Analytics endpoint: ingestion time and event time, half-open.
    audit = sandbox.store.audit
    assert audit.count(ingested_from=before) == 3 and audit.count(ingested_to=before) == 0
    assert audit.count(event_from=time.time() + 1) == 0
    last_event = time.mktime(time.strptime(rows[2]["event_time_t"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert audit.count(event_from=last_event) >= 1
    assert [r["_ItemId"] for r in audit.rows(limit=2)] == [r["_ItemId"] for r in rows[:2]]


def test_a_garbage_token_is_audited_with_an_empty_principal(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    refused_login(sandbox, None, struct_bytes=token_struct("garbage, not a JWT"))
    row = sandbox.store.audit.last()
    assert row is not None and row["action_id_s"] == "DBAF"
    assert row["server_principal_name_s"] == ""


def test_refused_logins_do_not_rewrite_the_state_file(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    assert sandbox.state_path is not None
    before = sandbox.state_path.stat().st_mtime_ns
    stranger = sandbox.issue_token("billing-worker")
    for _ in range(3):
        refused_login(sandbox, stranger)
    assert sandbox.store.audit.count() == 3
    assert sandbox.state_path.stat().st_mtime_ns == before
    assert "audit" not in json.loads(sandbox.state_path.read_text())


def test_ten_thousand_refused_logins_then_a_successful_one(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    """The trail holds 10,000 refusals (appended as the login path does) plus real driver logins."""
    audit = sandbox.store.audit
    for i in range(10_000):
        audit.append(LoginEvent(time.time(), False, "someone", "appdb", "10.0.0.1", "app", "host", 60 + i % 50, 18456, 14, 132, "x"))
    refused_login(sandbox, sandbox.issue_token("billing-worker"))
    raw_connect(sandbox, sandbox.issue_token("orders-api")).close()
    assert audit.count() == 10_002
    last = audit.last()
    assert last is not None and last["action_id_s"] == "DBAS"
    assert audit.dropped == 0


def test_rows_persist_beside_the_state_file_and_old_state_files_still_load(
    tmp_path: Path, material_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.json"
    with Sandbox(state, material_dir=material_dir) as sb:
        monkeypatch.setenv("SSL_CERT_FILE", sb.env["SSL_CERT_FILE"])
        raw_connect(sb, sb.issue_token("orders-api")).close()
    assert audit_path(state) == tmp_path / "state.audit.sqlite" and audit_path(state).is_file()
    with sqlite3.connect(audit_path(state)) as db:  # readable by any SQLite client
        assert db.execute("SELECT action_id_s FROM audit").fetchall() == [("DBAS",)]
    # A file written before the audit store had its own "audit" list: it still loads.
    data = json.loads(state.read_text())
    data["audit"] = [{"event_id": "x", "event_time": 1.0, "error": 18456, "state": 132, "message": "m", "principal": "p",
                      "database": "appdb", "client_ip": "127.0.0.1", "application": "a", "host": "h"}]  # fmt: skip
    state.write_text(json.dumps(data))
    with Sandbox(state, material_dir=material_dir) as sb:
        assert sb.store.audit.count() == 1  # the rows from the first run
        raw_connect(sb, sb.issue_token("orders-api")).close()
        assert sb.store.audit.count() == 2
        with sb.store.mutate():
            pass
    assert "audit" not in json.loads(state.read_text())


def test_retention_by_rows(tmp_path: Path, material_dir: Path) -> None:
    with Sandbox(tmp_path / "s.json", material_dir=material_dir, audit_retention=Retention(rows=100, days=None)) as sb:
        for i in range(250):
            sb.store.audit.append(LoginEvent(float(i), False, f"p{i}", "appdb", "ip", "a", "h", error=18456, state=132))
        rows = sb.store.audit.rows()
    assert len(rows) == 100
    assert [r["server_principal_name_s"] for r in rows] == [f"p{i}" for i in range(150, 250)]


def test_retention_by_ingestion_age() -> None:
    audit = AuditStore(None, Origin("srv", "sub", "rg"),
                       Retention(rows=None, days=0.5 / 86400))  # fmt: skip
    try:
        audit.append(LoginEvent(time.time(), True, "old", "db", "ip", "a", "h"))
        assert audit.count() == 1
        time.sleep(0.6)
        audit.append(LoginEvent(time.time(), True, "new", "db", "ip", "a", "h"))
        assert [r["server_principal_name_s"] for r in audit.rows()] == ["new"]
    finally:
        audit.close()


def test_two_sandboxes_sharing_a_state_file_share_the_trail(tmp_path: Path, material_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state.json"
    with Sandbox(state, material_dir=material_dir) as one, Sandbox(state, material_dir=material_dir) as two:
        monkeypatch.setenv("SSL_CERT_FILE", one.env["SSL_CERT_FILE"])
        for sb in (one, two, one, two):
            raw_connect(sb, sb.issue_token("orders-api")).close()
        one.store.audit.flush()
        two.store.audit.flush()
        assert one.store.audit.count() == 4 and one.store.audit.dropped == two.store.audit.dropped == 0

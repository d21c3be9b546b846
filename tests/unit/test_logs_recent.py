"""doctor's look-up of recent audited failures (core/logs/recent.py) through in-memory Monitor and Logs ports.

The ports answer as the azure/ adapters do (a server, its auditing policy, a diagnostic setting on master, a
workspace, and a Log Analytics table); the tests state what doctor shows: only the failing principal's rows,
the newest first, from the last hour, and a one-line description.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from azsqlctl.core.logs.audit_rows import AuditEvent, EventKind
from azsqlctl.core.logs.kql import LIST_COLUMNS
from azsqlctl.core.logs.ports import AuditingPolicy, DiagnosticSetting, LogsTarget, QueryResult, ServerRef, Workspace
from azsqlctl.core.logs.recent import LOOKBACK, SCAN, AuditLookup, describe
from azsqlctl.core.logs.setup import REQUIRED_GROUPS, AuditingOff

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws1"
SERVER = ServerRef("s", "rg", "srv1")


class Monitor:
    """The server's audit configuration as ARM holds it."""

    def __init__(self, enabled: bool = True) -> None:
        self.policy = AuditingPolicy("Enabled" if enabled else "Disabled", True, REQUIRED_GROUPS)
        self.found: list[tuple[str, str, str]] = []

    def find_server(self, resource_group: str, name: str, host: str) -> ServerRef:
        self.found.append((resource_group, name, host))
        return SERVER

    def auditing(self, server: ServerRef) -> AuditingPolicy:
        return self.policy

    def set_auditing(self, server: ServerRef, policy: AuditingPolicy) -> AuditingPolicy:
        raise AssertionError("a look-up never changes auditing")

    def diagnostic_settings(self, resource_id: str) -> list[DiagnosticSetting]:
        assert resource_id == SERVER.master_id
        return [DiagnosticSetting("audit", WS, ("SQLSecurityAuditEvents",))]

    def set_diagnostic_setting(self, resource_id: str, setting: DiagnosticSetting) -> DiagnosticSetting:
        raise AssertionError("a look-up never changes diagnostic settings")

    def workspace(self, arm_id: str) -> Workspace:
        return Workspace(arm_id, "ws1", "cust-1", 30)

    def workspaces(self, resource_group: str) -> list[Workspace]:
        return []


class Logs:
    """A workspace's AzureDiagnostics rows; records the query text it ran."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        self.rows = rows
        self.asked: list[tuple[LogsTarget, str]] = []

    def query(self, target: LogsTarget, kql: str, server_timeout: int | None = None) -> QueryResult:
        self.asked.append((target, kql))
        return QueryResult(LIST_COLUMNS, [[row.get(c) for c in LIST_COLUMNS] for row in self.rows])


def row(item: str, minutes_ago: int, principal: str, state: int = 5) -> dict[str, object]:
    return {
        "_ItemId": item,
        "event_time_t": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        "action_id_s": "DBAF",
        "LogicalServerName_s": "srv1",
        "server_principal_name_s": principal,
        "additional_information_s": f"<login_information><error_code>18456</error_code><error_state>{state}</error_state></login_information>",
    }


def lookup(logs: Logs, monitor: Monitor | None = None) -> AuditLookup:
    return AuditLookup(monitor or Monitor(), logs, "rg", "srv1", "srv1.database.windows.net")


def test_only_the_principals_failures_newest_first() -> None:
    logs = Logs(
        [
            row("a", 50, "orders-api@contoso.com"),
            row("b", 5, "ORDERS-API", state=8),
            row("c", 20, "billing"),
            row("d", 30, "orders-api-v2"),  # another principal whose name starts the same
            row("e", 10, "orders-api"),
        ]
    )
    found = lookup(logs).recent_failures(["orders-api", ""], now=NOW)
    assert [e.item_id for e in found] == ["b", "e", "a"]
    assert [e.state for e in found] == [8, 5, 5]


def test_the_query_covers_the_last_hour_in_the_discovered_workspace() -> None:
    logs, monitor = Logs([]), Monitor()
    assert lookup(logs, monitor).server is None  # known once a look-up found it
    finder = lookup(logs, monitor)
    assert finder.recent_failures(["x"], now=NOW) == []
    assert monitor.found == [("rg", "srv1", "srv1.database.windows.net")] and finder.server == SERVER
    ((target, kql),) = logs.asked
    assert target.workspace_id == "cust-1"
    assert timedelta(hours=1) == LOOKBACK
    assert "event_time_t >= datetime(2026-11-25T11:00:00.000000Z)" in kql
    assert SCAN == 200 and "| take 200" in kql  # the newest 200 failures: the principal is matched among them


def test_without_a_time_the_window_ends_now() -> None:
    logs = Logs([])
    lookup(logs).recent_failures(["x"])
    since = datetime.now(UTC) - LOOKBACK
    stamp = logs.asked[0][1].split("event_time_t >= datetime(", 1)[1][:19]
    assert abs((datetime.fromisoformat(stamp + "+00:00") - since).total_seconds()) < 60


def test_limit_keeps_the_newest() -> None:
    logs = Logs([row(str(i), i, "app") for i in range(1, 6)])
    assert [e.item_id for e in lookup(logs).recent_failures(["app"], now=NOW, limit=2)] == ["1", "2"]


def test_auditing_off_is_said_before_any_query() -> None:
    logs = Logs([row("a", 1, "app")])
    with pytest.raises(AuditingOff):
        lookup(logs, Monitor(enabled=False)).recent_failures(["app"], now=NOW)
    assert logs.asked == []


def event(state: int, cause: str, minutes_ago: int) -> AuditEvent:
    at = NOW - timedelta(minutes=minutes_ago)
    return AuditEvent("i", at, None, EventKind.FAILED_LOGIN, "srv1", "db", "app", "", "", 18456, state, cause, "")


def test_describe_counts_each_state_most_frequent_first_with_the_short_cause() -> None:
    events = [event(5, "no such user; details", 1), event(8, "wrong password", 2), event(5, "no such user; more", 3)]
    assert describe(events) == (
        "3 failure(s), latest 2026-11-25T11:59:00Z: 2 x error 18456 state 5 (no such user), 1 x error 18456 state 8 (wrong password)"
    )

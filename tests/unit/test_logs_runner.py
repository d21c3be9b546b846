"""The --follow loop over a scripted LogsQuery port (the e2e test drives the real SDK; this one the edge cases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from azsqlctl.core.logs.follow import FailureKind, FollowSettings, RetryPolicy
from azsqlctl.core.logs.kql import LIST_COLUMNS, LogsRequest
from azsqlctl.core.logs.ports import LogsTarget, PollFailed, QueryResult
from azsqlctl.core.logs.runner import follow

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _row(item: str, event: datetime, ingested: datetime) -> list[object]:
    values = {"_ItemId": item, "event_time_t": event, "ingested_at": ingested, "action_id_s": "DBAF", "LogicalServerName_s": "srv",
              "additional_information_s": "<login_information><error_code>18456</error_code><error_state>8</error_state></login_information>"}  # fmt: skip
    return [values.get(c) for c in LIST_COLUMNS]


class Scripted:
    """Answers poll n with script[n]: rows, or an exception."""

    def __init__(self, script: list[list[list[object]] | Exception]) -> None:
        self.script, self.calls = script, 0

    def query(self, target: LogsTarget, kql: str, server_timeout: int | None = None) -> QueryResult:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        return QueryResult(LIST_COLUMNS, step)


def test_network_errors_and_throttling_are_retried_then_rows_arrive_once() -> None:
    clock = [T0]
    row = _row("a", T0 - timedelta(seconds=20), T0 - timedelta(seconds=10))
    port = Scripted([
        PollFailed("Log Analytics is unreachable: connection refused", FailureKind.NETWORK),
        PollFailed("429", FailureKind.THROTTLED, 429, timedelta(seconds=7)),
        [row, row],  # the same row twice in one page
        [row],  # and again in the next, overlapping window
        [],
    ])  # fmt: skip
    retries: list[tuple[str, float]] = []
    seen: list[str] = []

    def wait(seconds: float) -> None:
        clock[0] += timedelta(seconds=seconds)

    report = follow(
        port, LogsTarget(workspace_id="w"), LogsRequest(since=T0 - timedelta(minutes=5)),
        FollowSettings(timedelta(seconds=30), timedelta(seconds=5), timedelta(0)),
        should_stop=lambda: port.calls >= 5, wait=wait, now=lambda: clock[0],
        on_event=lambda e: seen.append(e.row.item_id),
        on_retry=lambda f, d, n: retries.append((f.kind.value, d.total_seconds())), jitter=lambda: 0.0,
    )  # fmt: skip
    assert seen == ["a"] and report.events == 1 and report.rows_received == 3 and report.duplicates == 1  # 3rd: outside the window
    assert retries == [("network", 1.0), ("throttled", 7.0)]  # exponential from 2 s with no jitter: 1 s; Retry-After obeyed
    assert report.by_cause == {"18456 state 8 (the password is incorrect)": 1}


def test_gives_up_after_max_attempts() -> None:
    port = Scripted([PollFailed("500", FailureKind.SERVER, 500)])
    with pytest.raises(PollFailed):
        follow(
            port, LogsTarget(workspace_id="w"), LogsRequest(since=T0), FollowSettings(),
            should_stop=lambda: False, wait=lambda _s: None, on_event=lambda _e: None, on_retry=lambda *_a: None,
            now=lambda: T0, policy=RetryPolicy(max_attempts=3),
        )  # fmt: skip
    assert port.calls == 4

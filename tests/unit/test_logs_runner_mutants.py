"""logs/runner.py over an in-memory LogsQuery port: what list and summary send and decode, the cause key of an
event, the follow report's line and JSON, and the loop's retry, partial and waiting behaviour."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from azsqlctl.core.logs.audit_rows import AuditEvent, EventKind
from azsqlctl.core.logs.follow import FailureKind, FollowSettings, RetryPolicy
from azsqlctl.core.logs.kql import LIST_COLUMNS, GroupKey, IngestionWindow, LogsRequest, build_query
from azsqlctl.core.logs.partial import PartialWarning
from azsqlctl.core.logs.ports import LogsTarget, PartialFailure, PartialReason, PollFailed, QueryResult
from azsqlctl.core.logs.runner import FollowReport, ListResult, SummaryResult, cause_key, follow, list_events, summarize

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WS = "11111111-1111-4111-8111-111111111111"
TARGET = LogsTarget(workspace_id=WS)
GONE = PartialFailure(WS, PartialReason.NOT_FOUND, "gone")


class Port:
    """Answers each query with the next scripted result (or raises it); records what it was asked."""

    def __init__(self, *answers: QueryResult | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[LogsTarget, str, int | None]] = []

    def query(self, target: LogsTarget, kql: str, server_timeout: int | None = None) -> QueryResult:
        self.asked.append((target, kql, server_timeout))
        answer = self.answers[min(len(self.asked), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _row(item: str, event: datetime, ingested: datetime | None = None, action: str = "DBAF") -> list[object]:
    values = {
        "_ItemId": item,
        "event_time_t": event,
        "ingested_at": ingested,
        "action_id_s": action,
        "error_number": 18456,
        "error_state": 8,
    }
    return [values.get(c) for c in LIST_COLUMNS]


def _event(kind: EventKind = EventKind.FAILED_LOGIN, error: int | None = 18456, state: int | None = 8, cause: str = "") -> AuditEvent:
    return AuditEvent("i", T0, None, kind, "s", "d", "p", "", "", error, state, cause, "")


def test_list_events_sends_the_built_query_and_decodes_with_its_columns() -> None:
    request = LogsRequest(since=T0 - timedelta(hours=1))
    port = Port(QueryResult((), [_row("a", T0)], (GONE,)))  # no columns in the answer: the query's own are used
    result = list_events(port, TARGET, request, server_timeout=42)
    assert port.asked == [(TARGET, build_query(request).text, 42)]
    assert isinstance(result, ListResult)
    assert [e.item_id for e in result.events] == ["a"]
    assert result.partial is not None and result.partial.workspaces == (WS,)
    assert list_events(Port(QueryResult(LIST_COLUMNS, [])), TARGET, request).partial is None


def test_list_events_uses_the_answers_columns_when_given() -> None:
    port = Port(QueryResult(("event_time_t", "_ItemId"), [[T0, "b"]]))
    (event,) = list_events(port, TARGET, LogsRequest(since=T0)).events
    assert event.item_id == "b"
    assert port.asked[0][2] is None


def test_summarize_decodes_groups_and_the_partial_warning() -> None:
    request = LogsRequest(since=T0 - timedelta(hours=1), summary_by=(GroupKey.PRINCIPAL,))
    port = Port(QueryResult((), [["sa", 3, T0, T0]], (GONE,)))
    result = summarize(port, TARGET, request, 7)
    assert port.asked == [(TARGET, build_query(request).text, 7)]
    assert isinstance(result, SummaryResult)
    assert [(g.key("principal"), g.events) for g in result.groups] == [("sa", 3)]
    assert result.partial is not None
    assert summarize(Port(QueryResult(("principal", "events", "first_seen", "last_seen"), [])), TARGET, request).partial is None


def test_summarize_needs_a_summary_request() -> None:
    with pytest.raises(AssertionError):
        summarize(Port(QueryResult((), [])), TARGET, LogsRequest(since=T0))


def test_cause_keys() -> None:
    assert cause_key(_event(EventKind.LOGIN)) == "successful login"
    assert cause_key(_event(cause="the password is incorrect; try again: x")) == "18456 state 8 (the password is incorrect)"
    assert cause_key(_event(cause="wrong: details")) == "18456 state 8 (wrong)"
    assert cause_key(_event(state=None, cause="c")) == "18456 (c)"
    assert cause_key(_event(state=None, cause="")) == "18456"
    assert cause_key(_event(error=None, state=None, cause="  ")) == "None"


def test_follow_report_line_and_json() -> None:
    empty = FollowReport()
    assert empty.line() == "0 event(s) in 0 poll(s)"
    report = FollowReport(events=5, late=2, polls=3, retries=1, rows_received=9, duplicates=4, by_cause=Counter({"a": 1, "b": 4}))
    assert report.line() == "5 event(s), 2 late in 3 poll(s): 4 x b, 1 x a"
    assert report.as_json() == {
        "type": "stopped",
        "events": 5,
        "late": 2,
        "polls": 3,
        "retries": 1,
        "rows_received": 9,
        "duplicates": 4,
        "by_cause": {"a": 1, "b": 4},
    }
    assert FollowReport().by_cause == Counter() and FollowReport().by_cause is not FollowReport().by_cause


def test_follow_retries_reset_after_a_success_and_partial_warnings_reach_the_caller() -> None:
    clock = [T0]
    fail = PollFailed("down", FailureKind.SERVER, 503)
    port = Port(
        fail,
        QueryResult(LIST_COLUMNS, [_row("a", T0 - timedelta(seconds=40), T0 - timedelta(seconds=30))], (GONE,)),
        fail,
        QueryResult(LIST_COLUMNS, []),
    )
    waits: list[float] = []
    retries: list[tuple[str, float, int]] = []
    partials: list[PartialWarning] = []
    events: list[str] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += timedelta(seconds=seconds)

    report = follow(
        port, TARGET, LogsRequest(since=T0 - timedelta(minutes=1)), FollowSettings(timedelta(seconds=10), timedelta(0), timedelta(0)),
        should_stop=lambda: len(port.asked) >= 4, wait=wait, on_event=lambda e: events.append(e.row.item_id),
        on_retry=lambda f, d, n: retries.append((f.message, d.total_seconds(), n)), on_partial=partials.append,
        now=lambda: clock[0], server_timeout=9, policy=RetryPolicy(max_attempts=1), jitter=lambda: 1.0,
    )  # fmt: skip
    # attempt 1 each time: the success in between reset the count (max_attempts=1 would have given up otherwise)
    assert retries == [("down", 2.0, 1), ("down", 2.0, 1)]
    assert waits == [2.0, 10.0, 2.0]  # no interval wait after the last poll: should_stop was already true
    assert [p.workspaces for p in partials] == [(WS,)]
    assert events == ["a"]
    assert all(asked[2] == 9 for asked in port.asked)
    assert (report.events, report.retries, report.polls, report.rows_received) == (1, 2, 2, 1)
    assert report.by_cause == Counter({"18456 state 8 (the password is incorrect)": 1})


def test_follow_queries_the_follow_window_and_counts_late_rows() -> None:
    clock = [T0]
    request = LogsRequest(since=T0 - timedelta(minutes=1))
    port = Port(
        QueryResult(LIST_COLUMNS, [_row("b", T0 - timedelta(seconds=10), T0 - timedelta(seconds=5))]),
        QueryResult(LIST_COLUMNS, [_row("a", T0 - timedelta(seconds=50), T0 + timedelta(seconds=5))]),
    )
    flags: list[tuple[str, bool]] = []

    def wait(seconds: float) -> None:
        clock[0] += timedelta(seconds=seconds)

    report = follow(
        port, TARGET, request, FollowSettings(timedelta(seconds=10), timedelta(0), timedelta(0)),
        should_stop=lambda: len(port.asked) >= 2, wait=wait, on_event=lambda e: flags.append((e.row.item_id, e.late)),
        on_retry=lambda *_a: None, now=lambda: clock[0],
    )  # fmt: skip
    assert port.asked[0][1] == build_query(request, IngestionWindow(T0 - timedelta(minutes=1), T0)).text
    assert flags == [("b", False), ("a", True)]
    assert (report.events, report.late) == (2, 1)
    assert report.line().startswith("2 event(s), 1 late in 2 poll(s): 2 x 18456 state 8")


def test_follow_flushes_held_rows_when_stopped() -> None:
    port = Port(QueryResult(LIST_COLUMNS, [_row("a", T0 - timedelta(seconds=10), T0 - timedelta(seconds=5))]))
    seen: list[str] = []
    report = follow(
        port, TARGET, LogsRequest(since=T0 - timedelta(minutes=1)), FollowSettings(),  # late bound 15 min: held
        should_stop=lambda: len(port.asked) >= 1, wait=lambda _s: None, on_event=lambda e: seen.append(e.row.item_id),
        on_retry=lambda *_a: None, now=lambda: T0,
    )  # fmt: skip
    assert seen == ["a"] and report.events == 1 and report.polls == 1


def test_follow_stopped_before_the_first_poll_asks_nothing() -> None:
    port = Port(QueryResult(LIST_COLUMNS, []))
    report = follow(
        port, TARGET, LogsRequest(since=T0), FollowSettings(), should_stop=lambda: True, wait=lambda _s: None,
        on_event=lambda _e: None, on_retry=lambda *_a: None, now=lambda: T0,
    )  # fmt: skip
    assert port.asked == [] and report == FollowReport()

"""Running ``azsqlctl logs``: one query (listing or ``--summary``), or the ``--follow`` loop, over the ports.

No printing here: the CLI passes callbacks (``on_event``, ``on_retry``, ``on_partial``) and renders.
Time and sleeping are injected (``now``, ``wait``), so the loop is driven by the caller's clock.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .audit_rows import AuditEvent, decode_rows
from .follow import Emitted, Follower, FollowSettings, RetryPolicy, retry_delay
from .kql import LogsRequest, QueryKind, build_query
from .partial import PartialWarning, partial_warning
from .ports import LogsQuery, LogsTarget, PollFailed
from .summary import SummaryGroup, decode_groups


@dataclass
class ListResult:
    events: list[AuditEvent]
    partial: PartialWarning | None = None  # some rows are missing: which workspace(s), why, what to do


def list_events(port: LogsQuery, target: LogsTarget, request: LogsRequest, server_timeout: int | None = None) -> ListResult:
    query = build_query(request)
    result = port.query(target, query.text, server_timeout)
    return ListResult(decode_rows(_columns(result.columns, query.columns), result.rows), partial_warning(result.partial, target))


@dataclass
class SummaryResult:
    groups: list[SummaryGroup]
    partial: PartialWarning | None = None


def summarize(port: LogsQuery, target: LogsTarget, request: LogsRequest, server_timeout: int | None = None) -> SummaryResult:
    query = build_query(request)
    assert query.kind is QueryKind.SUMMARY
    result = port.query(target, query.text, server_timeout)
    return SummaryResult(
        decode_groups(tuple(_columns(result.columns, query.columns)), result.rows), partial_warning(result.partial, target)
    )


def _columns(got: tuple[str, ...], expected: tuple[str, ...]) -> list[str]:
    return list(got) if got else list(expected)


def cause_key(event: AuditEvent) -> str:
    if not event.failed:
        return "successful login"
    label = f"{event.error}" + (f" state {event.state}" if event.state is not None else "")
    short = event.cause.partition(";")[0].partition(":")[0].strip()  # the summary line names causes, the event lines explain them
    return f"{label} ({short})" if short else label


@dataclass
class FollowReport:
    events: int = 0
    late: int = 0
    polls: int = 0
    retries: int = 0
    rows_received: int = 0
    duplicates: int = 0
    by_cause: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        causes = ", ".join(f"{n} x {c}" for c, n in self.by_cause.most_common())
        late = f", {self.late} late" if self.late else ""
        return f"{self.events} event(s){late} in {self.polls} poll(s)" + (f": {causes}" if causes else "")

    def as_json(self) -> dict[str, object]:
        return {
            "type": "stopped",
            "events": self.events,
            "late": self.late,
            "polls": self.polls,
            "retries": self.retries,
            "rows_received": self.rows_received,
            "duplicates": self.duplicates,
            "by_cause": dict(self.by_cause),
        }


def follow(
    port: LogsQuery,
    target: LogsTarget,
    request: LogsRequest,
    settings: FollowSettings,
    *,
    should_stop: Callable[[], bool],
    wait: Callable[[float], object],
    on_event: Callable[[Emitted[AuditEvent]], None],
    on_retry: Callable[[PollFailed, timedelta, int], None],
    on_partial: Callable[[PartialWarning], None] = lambda _w: None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    server_timeout: int | None = None,
    policy: RetryPolicy | None = None,
    jitter: Callable[[], float] = random.random,
) -> FollowReport:
    """Poll until ``should_stop()``; every row once, in event-time order (see ``follow.Follower``)."""
    follower: Follower[AuditEvent] = Follower(request.since, settings)
    policy = policy or RetryPolicy()
    report = FollowReport()
    attempt = 0

    def emit(items: list[Emitted[AuditEvent]]) -> None:
        for item in items:
            report.events += 1
            report.late += item.late
            report.by_cause[cause_key(item.row)] += 1
            on_event(item)

    while not should_stop():
        window = follower.next_window(now())
        query = build_query(request, window)
        try:
            result = port.query(target, query.text, server_timeout)
        except PollFailed as failure:
            attempt += 1
            report.retries += 1
            delay = retry_delay(policy, attempt, failure.kind, failure.retry_after, jitter())
            if delay is None:
                raise
            on_retry(failure, delay, attempt)
            wait(delay.total_seconds())
            continue
        attempt = 0
        if (warning := partial_warning(result.partial, target)) is not None:
            on_partial(warning)
        emit(follower.accept(window, decode_rows(_columns(result.columns, query.columns), result.rows)))
        if not should_stop():
            wait(settings.interval.total_seconds())
    emit(follower.flush())
    stats = follower.stats
    report.polls, report.rows_received, report.duplicates = stats.polls, stats.rows_received, stats.duplicates
    return report

"""logs/follow.py's edges, one at a time: the defaults, the first and later windows, the half-open window, a row
without an ingestion stamp, the watermark's value, what is remembered and held, the stats, and the retry policy's
boundaries (the property tests in test_logs_follow.py check the promises over generated runs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from azsqlctl.core.logs.follow import (
    DEFAULT_INTERVAL,
    DEFAULT_LATE_BOUND,
    DEFAULT_OVERLAP,
    Emitted,
    FailureKind,
    Follower,
    FollowSettings,
    FollowStats,
    RetryPolicy,
    failure_kind,
    parse_retry_after,
    retry_delay,
)
from azsqlctl.core.logs.kql import IngestionWindow

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
US = timedelta(microseconds=1)


@dataclass(frozen=True)
class Row:
    item_id: str
    event_time: datetime
    ingested_at: datetime | None


def test_defaults() -> None:
    assert (30 * S, timedelta(minutes=2), timedelta(minutes=15)) == (DEFAULT_INTERVAL, DEFAULT_OVERLAP, DEFAULT_LATE_BOUND)
    assert FollowSettings() == FollowSettings(30 * S, timedelta(minutes=2), timedelta(minutes=15))
    assert Follower(T0).settings == FollowSettings()
    assert Emitted(Row("r", T0, None)).late is False
    assert FollowStats() == FollowStats(0, 0, 0, 0, 0, 0)
    policy = RetryPolicy()
    assert (policy.base, policy.cap, policy.max_retry_after, policy.max_attempts) == (2 * S, 60 * S, timedelta(minutes=5), None)
    assert [k.value for k in FailureKind] == ["throttled", "server", "network"]


@pytest.mark.parametrize(("interval", "overlap", "late"), [(0 * S, S, S), (-S, S, S), (S, -US, S), (S, S, -US)])
def test_bad_settings(interval: timedelta, overlap: timedelta, late: timedelta) -> None:
    with pytest.raises(ValueError, match=r"^interval must be positive, overlap and late_bound not negative$"):
        FollowSettings(interval, overlap, late)


def test_zero_overlap_and_late_bound_are_allowed() -> None:
    assert FollowSettings(US, 0 * S, 0 * S).overlap == timedelta(0)


def test_since_must_be_aware() -> None:
    with pytest.raises(ValueError, match=r"^since must be timezone-aware$"):
        Follower(datetime(2026, 11, 25, 12))
    Follower(datetime(2026, 11, 25, 12, tzinfo=timezone(timedelta(hours=1))))


def test_first_window_starts_one_overlap_early_later_ones_overlap_the_last() -> None:
    f: Follower[Row] = Follower(T0, FollowSettings(30 * S, 10 * S, 60 * S))
    assert f.watermark == T0 - US
    first = f.next_window(T0 + 30 * S)
    assert first == IngestionWindow(T0 - 10 * S, T0 + 30 * S)
    assert f.next_window(T0 + 40 * S) == IngestionWindow(T0 - 10 * S, T0 + 40 * S)  # not accepted: no second overlap yet
    f.accept(first, [])
    assert f.next_window(T0 + 60 * S) == IngestionWindow(T0 + 20 * S, T0 + 60 * S)
    # a clock that has not moved still gets a non-empty window
    assert f.next_window(T0) == IngestionWindow(T0 + 20 * S, T0 + 20 * S + US)
    assert f.next_window(T0 + 20 * S + US) == IngestionWindow(T0 + 20 * S, T0 + 20 * S + US)


def test_the_window_is_half_open_and_a_row_without_a_stamp_arrived_at_its_end() -> None:
    f: Follower[Row] = Follower(T0, FollowSettings(30 * S, 0 * S, 0 * S))
    window = IngestionWindow(T0, T0 + 30 * S)
    rows = [
        Row("start", T0, T0),  # the start is in
        Row("end", T0, T0 + 30 * S),  # the end is out
        Row("before", T0, T0 - US),
        Row("nostamp", T0 + S, None),
    ]
    out = f.accept(window, rows)
    assert [e.row.item_id for e in out] == ["start", "nostamp"]
    assert f.stats == FollowStats(polls=1, rows_received=4, duplicates=0, outside_window=2, emitted=2, late=0)


def test_the_watermark_and_holding_back() -> None:
    cfg = FollowSettings(30 * S, 10 * S, 60 * S)
    f: Follower[Row] = Follower(T0, cfg)
    w1 = f.next_window(T0 + 100 * S)
    out = f.accept(w1, [Row("a", T0 + 30 * S, T0 + 50 * S), Row("b", T0 + 31 * S, T0 + 50 * S)])
    # watermark = end - overlap - late_bound = T0 + 30 s: a is released (<=), b is held
    assert f.watermark == T0 + 30 * S
    assert [e.row.item_id for e in out] == ["a"] and f.held == 1
    assert f.remembered == 1  # a: ingested before the next start (T0 + 90 s), forgotten; b: still held, kept
    w2 = f.next_window(T0 + 200 * S)
    assert w2.start == T0 + 90 * S
    out = f.accept(w2, [])
    assert [e.row.item_id for e in out] == ["b"] and f.held == 0
    assert f.remembered == 0  # both ingested before the next start (T0 + 190 s) and no longer held
    assert f.stats.emitted == 2 and f.stats.polls == 2


def test_the_watermark_never_moves_back() -> None:
    f: Follower[Row] = Follower(T0, FollowSettings(30 * S, 0 * S, 0 * S))
    f.accept(IngestionWindow(T0, T0 + 100 * S), [])
    assert f.watermark == T0 + 100 * S
    f.accept(IngestionWindow(T0, T0 + 50 * S), [])
    assert f.watermark == T0 + 100 * S
    assert f.next_window(T0 + 10 * S).start == T0 + 100 * S  # nor does the cursor


def test_a_held_id_is_remembered_past_its_window() -> None:
    f: Follower[Row] = Follower(T0, FollowSettings(30 * S, 0 * S, timedelta(hours=1)))
    f.accept(IngestionWindow(T0, T0 + 10 * S), [Row("x", T0 + 5 * S, T0 + 5 * S)])
    f.accept(IngestionWindow(T0 + 10 * S, T0 + 20 * S), [])
    assert f.held == 1 and f.remembered == 1  # ingested before the next start, but still held: kept for dedup
    out = f.accept(IngestionWindow(T0 + 10 * S, T0 + 30 * S), [])
    assert out == []
    assert [e.row.item_id for e in f.flush()] == ["x"]
    assert f.stats.emitted == 1


def test_duplicates_and_late_rows_are_counted_and_flagged() -> None:
    f: Follower[Row] = Follower(T0, FollowSettings(30 * S, 0 * S, 0 * S))
    w = IngestionWindow(T0, T0 + 60 * S)
    out = f.accept(w, [Row("b", T0 + 20 * S, T0 + S), Row("a", T0 + 10 * S, T0 + S), Row("a", T0 + 10 * S, T0 + S)])
    assert [(e.row.item_id, e.late) for e in out] == [("a", False), ("b", False)]
    late = f.accept(IngestionWindow(T0 + 60 * S, T0 + 90 * S), [Row("c", T0 + 15 * S, T0 + 70 * S), Row("d", T0 + 20 * S, T0 + 70 * S)])
    # c sorts before b (emitted last): late; d has b's time but sorts after it by id: in order
    assert [(e.row.item_id, e.late) for e in late] == [("c", True), ("d", False)]
    assert (f.stats.duplicates, f.stats.late, f.stats.emitted, f.stats.rows_received) == (1, 1, 4, 5)


def test_flush_emits_in_event_time_then_id_order() -> None:
    f: Follower[Row] = Follower(T0, FollowSettings(30 * S, 0 * S, timedelta(hours=1)))
    f.accept(IngestionWindow(T0, T0 + 60 * S), [Row("z", T0 + S, T0), Row("y", T0 + S, T0), Row("x", T0 + 2 * S, T0)])
    assert [e.row.item_id for e in f.flush()] == ["y", "z", "x"]
    assert f.held == 0 and f.flush() == []


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, FailureKind.THROTTLED), (408, FailureKind.SERVER), (500, FailureKind.SERVER), (599, FailureKind.SERVER),
     (499, None), (600, None), (428, None), (430, None), (407, None), (409, None), (200, None)],
)  # fmt: skip
def test_failure_kind_edges(status: int, kind: FailureKind | None) -> None:
    assert failure_kind(status) is kind


def test_retry_after_forms() -> None:
    assert parse_retry_after(" 1.5 ", T0) == timedelta(seconds=1.5)
    assert parse_retry_after("", T0) is None
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", T0) == 30 * S
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 -0000", T0) == 30 * S  # RFC 2822 "-0000": no zone, read as UTC
    assert parse_retry_after("Wed, 25 Nov 2026 14:00:30 +0200", T0) == 30 * S


def test_retry_delay_edges() -> None:
    p = RetryPolicy(base=2 * S, cap=60 * S, max_retry_after=timedelta(minutes=5), max_attempts=2)
    with pytest.raises(ValueError, match=r"^attempt counts from 1$"):
        retry_delay(p, 0, FailureKind.SERVER)
    assert retry_delay(p, 1, FailureKind.SERVER, jitter=0.0) == 1 * S
    assert retry_delay(p, 2, FailureKind.SERVER, jitter=0.0) == 2 * S
    assert retry_delay(p, 3, FailureKind.SERVER) is None
    assert retry_delay(p, 1, FailureKind.THROTTLED, -5 * S) == timedelta(0)
    assert retry_delay(p, 1, FailureKind.THROTTLED, timedelta(minutes=5)) == timedelta(minutes=5)
    assert retry_delay(p, 1, FailureKind.SERVER, 7 * S, jitter=1.0) == 2 * S  # Retry-After only for 429
    assert retry_delay(p, 1, FailureKind.THROTTLED, None, jitter=0.5) == 1.5 * S
    assert retry_delay(p, 1, FailureKind.NETWORK, jitter=-1.0) == 1 * S
    assert retry_delay(p, 1, FailureKind.NETWORK, jitter=2.0) == 2 * S
    unbounded = RetryPolicy(base=timedelta(microseconds=1), cap=timedelta(days=10**6))
    assert retry_delay(unbounded, 40, FailureKind.SERVER, jitter=1.0) == timedelta(microseconds=1 << 32)  # the shift stops at 32
    assert retry_delay(unbounded, 33, FailureKind.SERVER, jitter=1.0) == timedelta(microseconds=1 << 32)
    assert retry_delay(unbounded, 32, FailureKind.SERVER, jitter=1.0) == timedelta(microseconds=1 << 31)


def test_a_row_without_a_stamp_fits_even_the_shortest_window() -> None:
    f: Follower[Row] = Follower(T0, FollowSettings(30 * S, 0 * S, 0 * S))
    window = f.next_window(T0)  # the clock has not moved: a window one microsecond long
    assert window == IngestionWindow(T0, T0 + US)
    out = f.accept(window, [Row("x", T0, None)])
    assert [e.row.item_id for e in out] == ["x"] and f.stats.outside_window == 0

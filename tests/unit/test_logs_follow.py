"""Follow mode: every row exactly once, in event-time order, with bounded memory — under generated arrival orders,
late rows, duplicated pages and failed polls. And the retry policy."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azsqlctl.core.logs.follow import (
    Emitted,
    FailureKind,
    Follower,
    FollowSettings,
    RetryPolicy,
    failure_kind,
    parse_retry_after,
    retry_delay,
)
from azsqlctl.core.logs.kql import IngestionWindow
from tests.property_budget import examples

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@dataclass(frozen=True)
class Row:
    item_id: str
    event_time: datetime
    ingested_at: datetime | None
    visible_at: datetime  # when a query can first see it (ingested_at + up to `overlap`)


@dataclass
class World:
    """A Log Analytics workspace as follow sees it: rows become visible late, pages come shuffled and duplicated."""

    rows: list[Row]
    rng: random.Random
    duplicate_pages: bool = True
    # (ingested_at, index) of the ingested rows, in ingestion order: a window's rows by bisection, not a scan of every
    # row on every poll (the long run's 1,280 polls over 10,000 rows were most of its time).
    _ingested: list[tuple[datetime, int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._ingested = sorted((r.ingested_at, i) for i, r in enumerate(self.rows) if r.ingested_at is not None)

    def query(self, window: IngestionWindow, now: datetime) -> list[Row]:
        lo = bisect.bisect_left(self._ingested, window.start, key=lambda e: e[0])
        hi = bisect.bisect_left(self._ingested, window.end, key=lambda e: e[0])
        # window.start <= ingested_at < window.end, visible by now: in the rows' own order, as a scan would list them
        hits = [self.rows[i] for i in sorted(i for _, i in self._ingested[lo:hi]) if self.rows[i].visible_at <= now]
        self.rng.shuffle(hits)
        if self.duplicate_pages and hits:
            page = self.rng.randint(1, len(hits))
            hits = hits + hits[:page]  # the same page delivered twice
        return hits


def run(world: World, follower: Follower[Row], polls: int, interval: timedelta, fail: list[bool]) -> list[Emitted[Row]]:
    out: list[Emitted[Row]] = []
    for k in range(polls):
        now = T0 + interval * (k + 1)
        window = follower.next_window(now)
        if fail[k % len(fail)]:
            continue  # 429/500/network error: nothing accepted, the cursor stays
        out += follower.accept(window, world.query(window, now))
        assert follower.remembered <= len(world.rows)
    return out + follower.flush()


_EVENT = st.tuples(
    st.integers(0, 3600), st.integers(0, 900), st.integers(0, 120)
)  # event offset s, delay s (<= 15 min), visibility lag s (<= 2 min)


@settings(max_examples=examples(150), deadline=None)
@given(
    events=st.lists(_EVENT, min_size=1, max_size=60),
    fail=st.lists(st.booleans(), min_size=1, max_size=6).filter(lambda f: not all(f)),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_row_exactly_once_in_event_time_order(events: list[tuple[int, int, int]], fail: list[bool], seed: int) -> None:
    cfg = FollowSettings(interval=30 * S, overlap=120 * S, late_bound=900 * S)
    rows = [Row(f"id-{i:03d}", T0 + e * S, T0 + (e + d) * S, T0 + (e + d + v) * S) for i, (e, d, v) in enumerate(events)]
    world = World(rows, random.Random(seed))
    follower: Follower[Row] = Follower(T0, cfg)
    # poll long enough that every row has arrived, become visible, and passed the watermark, even with failures
    polls = (3600 + 900 + 120 + 900 + 120) // 30 * len(fail) + 10
    out = run(world, follower, polls, cfg.interval, [*fail, False])
    ids = [e.row.item_id for e in out]
    assert sorted(ids) == sorted(r.item_id for r in rows)  # every row, none twice
    keys = [(e.row.event_time, e.row.item_id) for e in out]
    assert keys == sorted(keys)  # in event-time order
    assert not any(e.late for e in out)  # nothing within the bound is flagged late


@settings(max_examples=examples(100), deadline=None)
@given(
    events=st.lists(st.tuples(st.integers(0, 1800), st.integers(0, 3600), st.integers(0, 60)), min_size=1, max_size=40),
    seed=st.integers(0, 2**32 - 1),
)
def test_rows_past_the_late_bound_are_still_emitted_exactly_once(events: list[tuple[int, int, int]], seed: int) -> None:
    """Delays up to an hour against a 5-minute bound: nothing is lost or doubled; what breaks the order is flagged."""
    cfg = FollowSettings(interval=30 * S, overlap=60 * S, late_bound=300 * S)
    rows = [Row(f"id-{i:03d}", T0 + e * S, T0 + (e + d) * S, T0 + (e + d + v) * S) for i, (e, d, v) in enumerate(events)]
    follower: Follower[Row] = Follower(T0, cfg)
    out = run(World(rows, random.Random(seed)), follower, (1800 + 3600 + 60 + 600) // 30 + 5, cfg.interval, [False])
    assert sorted(e.row.item_id for e in out) == sorted(r.item_id for r in rows)
    in_order = [(e.row.event_time, e.row.item_id) for e in out if not e.late]
    assert in_order == sorted(in_order)
    assert follower.stats.late == sum(e.late for e in out)


def test_memory_stays_bounded_over_a_long_run() -> None:
    """10 hours at 1,000 events/hour with delays up to the bound: dedup memory tracks the rate, not the run length."""
    cfg = FollowSettings(interval=30 * S, overlap=120 * S, late_bound=900 * S)
    rng = random.Random(7)
    rows = []
    for i in range(10_000):
        e = i * 3.6
        d = rng.uniform(0, 900)
        rows.append(Row(f"id-{i:05d}", T0 + e * S, T0 + (e + d) * S, T0 + (e + d + rng.uniform(0, 120)) * S))
    world = World(rows, rng)
    follower: Follower[Row] = Follower(T0, cfg)
    peak = 0
    emitted = 0
    for k in range(int(36_000 / 30) + 80):
        now = T0 + cfg.interval * (k + 1)
        window = follower.next_window(now)
        emitted += len(follower.accept(window, world.query(window, now)))
        peak = max(peak, follower.remembered)
    emitted += len(follower.flush())
    assert emitted == 10_000
    per_second = 1000 / 3600
    bound = per_second * (cfg.late_bound + cfg.overlap + 2 * cfg.interval).total_seconds()
    assert peak <= bound * 1.2, (peak, bound)
    assert follower.stats.duplicates > 0  # the overlap and the duplicated pages were really exercised


def test_windows_overlap_and_a_failed_poll_widens_the_next() -> None:
    cfg = FollowSettings(interval=30 * S, overlap=120 * S, late_bound=900 * S)
    f: Follower[Row] = Follower(T0, cfg)
    w1 = f.next_window(T0 + 30 * S)
    assert w1 == IngestionWindow(T0 - 120 * S, T0 + 30 * S)
    f.accept(w1, [])
    w2 = f.next_window(T0 + 60 * S)
    assert w2 == IngestionWindow(T0 + 30 * S - 120 * S, T0 + 60 * S)
    # the poll of w2 fails: the next window starts where w2 started
    assert f.next_window(T0 + 90 * S).start == w2.start


def test_rows_are_held_until_the_watermark_passes_them() -> None:
    cfg = FollowSettings(interval=30 * S, overlap=60 * S, late_bound=300 * S)
    f: Follower[Row] = Follower(T0, cfg)
    row = Row("a", T0 + 10 * S, T0 + 20 * S, T0 + 20 * S)
    w = f.next_window(T0 + 30 * S)
    assert f.accept(w, [row]) == [] and f.held == 1
    # the watermark is end - overlap - late_bound; it passes the event at T0+10s when end >= T0+370s
    w = f.next_window(T0 + 369 * S)
    assert f.accept(w, []) == []
    w = f.next_window(T0 + 370 * S)
    assert f.accept(w, []) == [Emitted(row)]
    assert f.watermark == T0 + 10 * S


def test_zero_late_bound_prints_at_once_and_flags_what_comes_out_of_order() -> None:
    cfg = FollowSettings(interval=30 * S, overlap=0 * S, late_bound=0 * S)
    f: Follower[Row] = Follower(T0, cfg)
    newer = Row("b", T0 + 20 * S, T0 + 25 * S, T0 + 25 * S)
    older = Row("a", T0 + 10 * S, T0 + 40 * S, T0 + 40 * S)
    assert f.accept(f.next_window(T0 + 30 * S), [newer]) == [Emitted(newer)]
    assert f.accept(f.next_window(T0 + 60 * S), [older, older]) == [Emitted(older, late=True)]
    assert f.stats.duplicates == 1 and f.stats.late == 1


def test_rows_outside_the_window_are_not_taken() -> None:
    f: Follower[Row] = Follower(T0)
    w = f.next_window(T0 + 30 * S)
    stray = Row("x", T0, T0 + 31 * S, T0 + 31 * S)
    assert f.accept(w, [stray]) == [] and f.stats.outside_window == 1 and f.remembered == 0


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="interval"):
        FollowSettings(interval=0 * S)
    with pytest.raises(ValueError, match="timezone"):
        Follower(datetime(2026, 1, 1))


# --- retries ---------------------------------------------------------------------------------------


def test_retry_after_is_honoured_and_capped() -> None:
    p = RetryPolicy()
    assert retry_delay(p, 1, FailureKind.THROTTLED, 7 * S) == 7 * S
    assert retry_delay(p, 1, FailureKind.THROTTLED, timedelta(hours=1)) == timedelta(minutes=5)
    # 429 without Retry-After backs off exponentially like a 5xx
    assert retry_delay(p, 3, FailureKind.THROTTLED, None, jitter=1.0) == 8 * S


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 1, 2), (2, 2, 4), (3, 4, 8), (6, 30, 60), (50, 30, 60)])
def test_exponential_backoff_with_equal_jitter_is_bounded(attempt: int, low: int, high: int) -> None:
    p = RetryPolicy()
    assert retry_delay(p, attempt, FailureKind.SERVER, jitter=0.0) == low * S
    assert retry_delay(p, attempt, FailureKind.NETWORK, jitter=1.0) == high * S


def test_give_up_after_max_attempts() -> None:
    p = RetryPolicy(max_attempts=3)
    assert retry_delay(p, 3, FailureKind.SERVER) is not None
    assert retry_delay(p, 4, FailureKind.SERVER) is None
    assert retry_delay(RetryPolicy(), 10_000, FailureKind.SERVER) == 45 * S  # follow never gives up


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, FailureKind.THROTTLED),
        (500, FailureKind.SERVER),
        (503, FailureKind.SERVER),
        (408, FailureKind.SERVER),
        (400, None),
        (403, None),
        (404, None),
    ],
)
def test_failure_kind(status: int, kind: FailureKind | None) -> None:
    assert failure_kind(status) is kind


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("12", now) == 12 * S
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", now) == 30 * S
    assert parse_retry_after("Wed, 25 Nov 2026 11:00:00 GMT", now) == timedelta(0)
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None

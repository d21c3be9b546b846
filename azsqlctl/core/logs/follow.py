"""``azsqlctl logs --follow``: the polling window, dedup and ordering as a pure state machine.

Azure SQL ships audit rows in batches: a row becomes queryable minutes after its event, out of
order. A tail that advances on ``event_time > max_seen`` silently loses every row that arrives
after a newer one. Here:

**Windows on arrival, not on event time.** Each poll asks for rows whose ``ingestion_time()`` is
in ``[cursor - overlap, now)`` and then moves the cursor to ``now``. Consecutive windows overlap
by ``overlap``, which covers the lag between a row's ingestion stamp and the moment queries can
see it. A failed poll does not move the cursor, so the next window is simply longer. Because the
windows are on arrival time, **no row is ever skipped for being late**, however late it is.

**Dedup on ``_ItemId`` with bounded memory.** Overlapping windows (and duplicated pages) return
rows twice; an id is remembered until its ``ingestion_time()`` falls before the start of the next
window, after which no query can return it again. Memory is the rows ingested in the last
``overlap + interval`` plus the rows held back for ordering (below): bounded by the event rate,
not by how long ``--follow`` runs.

**Event-time order with a watermark.** A row is held back until no row that arrives within
``late_bound`` of its event can precede it: after a poll whose window ended at ``end``, every
row with ``event_time <= end - overlap - late_bound`` has been seen (it was ingested by
``end - overlap`` and became visible within ``overlap``). Held rows at or below that watermark are
emitted in ``(event_time, _ItemId)`` order.

*The trade-off*: a row is printed ``late_bound + overlap`` (plus up to one ``interval``) after
its event — about 17 minutes with the defaults, the price of a strictly ordered stream when
Azure delivers 3-10 minutes late. ``late_bound=0`` prints each poll's rows at once (sorted per
poll) and flags everything that arrives out of order.

*Past the bound*: a row arriving later than ``late_bound`` after its event (or after the
watermark passed it) is **still emitted, exactly once**, at once and flagged ``late=True`` — it
would otherwise have to be dropped to keep the order. What can be missed is only a row that
becomes visible to queries more than ``overlap`` after its own ``ingestion_time()``.

``retry_delay`` is the pure backoff policy for failed polls (429 with Retry-After, 5xx, network).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from .kql import IngestionWindow

DEFAULT_INTERVAL = timedelta(seconds=30)
DEFAULT_OVERLAP = timedelta(minutes=2)
DEFAULT_LATE_BOUND = timedelta(minutes=15)


class FollowRow(Protocol):
    """What follow needs from a row (``audit_rows.AuditEvent`` has it)."""

    @property
    def item_id(self) -> str: ...
    @property
    def event_time(self) -> datetime: ...
    @property
    def ingested_at(self) -> datetime | None: ...


R = TypeVar("R", bound=FollowRow)


@dataclass(frozen=True)
class FollowSettings:
    interval: timedelta = DEFAULT_INTERVAL  # between polls (the caller sleeps; kept here for the memory bound)
    overlap: timedelta = DEFAULT_OVERLAP
    late_bound: timedelta = DEFAULT_LATE_BOUND

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0) or self.overlap < timedelta(0) or self.late_bound < timedelta(0):
            raise ValueError("interval must be positive, overlap and late_bound not negative")


@dataclass(frozen=True)
class Emitted(Generic[R]):
    row: R
    late: bool = False  # arrived after the watermark had passed it: printed out of order


@dataclass
class FollowStats:
    polls: int = 0
    rows_received: int = 0
    duplicates: int = 0
    outside_window: int = 0
    emitted: int = 0
    late: int = 0


@dataclass
class _Held(Generic[R]):
    key: tuple[datetime, str]
    row: R = field(compare=False)

    def __lt__(self, other: _Held[R]) -> bool:
        return self.key < other.key


class Follower(Generic[R]):
    """One ``--follow`` run. Call ``next_window(now)``, query it, then ``accept(window, rows)``; ``flush()`` on stop."""

    def __init__(self, since: datetime, settings: FollowSettings | None = None) -> None:
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        self.settings = settings or FollowSettings()
        # Start one overlap early: an event at `since` may carry an ingestion stamp a little before it (clock skew).
        self._cursor = since - self.settings.overlap
        self._watermark = since - timedelta(microseconds=1)
        self._last_key: tuple[datetime, str] | None = None
        self._known: dict[str, datetime] = {}  # item id -> ingestion time, for dedup
        self._held: list[_Held[R]] = []
        self.stats = FollowStats()

    @property
    def watermark(self) -> datetime:
        return self._watermark

    @property
    def remembered(self) -> int:
        """Ids kept for dedup (the memory bound the tests check)."""
        return len(self._known)

    @property
    def held(self) -> int:
        return len(self._held)

    def next_window(self, now: datetime) -> IngestionWindow:
        start = self._cursor - self.settings.overlap if self.stats.polls else self._cursor
        return IngestionWindow(start, max(now, start + timedelta(microseconds=1)))

    def accept(self, window: IngestionWindow, rows: Iterable[R]) -> list[Emitted[R]]:
        """The rows one successful poll of ``window`` returned (pages concatenated, duplicates allowed)."""
        self.stats.polls += 1
        out: list[Emitted[R]] = []
        for row in rows:
            self.stats.rows_received += 1
            # A row without its ingestion stamp is taken to have arrived at the end of the window.
            ingested = row.ingested_at if row.ingested_at is not None else window.end - timedelta(microseconds=1)
            if not window.start <= ingested < window.end:
                self.stats.outside_window += 1  # a later window returns it (or an earlier one did)
                continue
            if row.item_id in self._known:
                self.stats.duplicates += 1
                continue
            self._known[row.item_id] = ingested
            key = (row.event_time, row.item_id)
            if self._last_key is not None and key < self._last_key:
                out.append(Emitted(row, late=True))  # past the bound: emit now, flagged, rather than drop it
                self.stats.late += 1
            else:
                heapq.heappush(self._held, _Held(key, row))
        self._cursor = max(self._cursor, window.end)
        self._watermark = max(self._watermark, window.end - self.settings.overlap - self.settings.late_bound)
        while self._held and self._held[0].key[0] <= self._watermark:
            out.append(self._emit(heapq.heappop(self._held)))
        self._evict(self._cursor - self.settings.overlap)
        self.stats.emitted += len(out)
        return out

    def flush(self) -> list[Emitted[R]]:
        """On stop: everything held back, in order (the ordering promise ends here)."""
        out = [self._emit(heapq.heappop(self._held)) for _ in range(len(self._held))]
        self.stats.emitted += len(out)
        return out

    def _emit(self, held: _Held[R]) -> Emitted[R]:
        self._last_key = held.key
        return Emitted(held.row)

    def _evict(self, next_start: datetime) -> None:
        held_ids = {h.key[1] for h in self._held}
        for item_id in [i for i, t in self._known.items() if t < next_start and i not in held_ids]:
            del self._known[item_id]


# --- retrying failed polls -----------------------------------------------------------------------


class FailureKind(StrEnum):
    THROTTLED = "throttled"  # 429
    SERVER = "server"  # 5xx (and 408)
    NETWORK = "network"  # connection refused/reset, DNS, timeouts


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(seconds=60)
    max_retry_after: timedelta = timedelta(minutes=5)  # a longer Retry-After is capped, not obeyed blindly
    max_attempts: int | None = None  # None: keep trying (follow); a number: give up after that many failures


def failure_kind(status: int) -> FailureKind | None:
    """The retryable kind of an HTTP status; ``None`` for one that retrying cannot fix (400, 401, 403, 404 ...)."""
    if status == 429:
        return FailureKind.THROTTLED
    if status == 408 or 500 <= status <= 599:
        return FailureKind.SERVER
    return None


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After``: delay-seconds or an HTTP-date (RFC 9110 10.2.3); ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return timedelta(seconds=float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(timedelta(0), when - now)


def retry_delay(
    policy: RetryPolicy, attempt: int, kind: FailureKind, retry_after: timedelta | None = None, jitter: float = 0.5
) -> timedelta | None:
    """How long to wait before retry number ``attempt`` (1 = after the first failure); ``None``: give up.

    429 with Retry-After waits exactly that long (capped at ``max_retry_after``). Otherwise the delay is
    exponential from ``base``, capped at ``cap``, with "equal jitter": half fixed, half scaled by
    ``jitter`` in [0, 1] (the caller passes ``random.random()``; tests pass fixed values).
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if policy.max_attempts is not None and attempt > policy.max_attempts:
        return None
    if kind is FailureKind.THROTTLED and retry_after is not None:
        return min(max(retry_after, timedelta(0)), policy.max_retry_after)
    exponential = min(policy.cap, policy.base * (1 << min(attempt - 1, 32)))
    return exponential / 2 + exponential / 2 * min(max(jitter, 0.0), 1.0)

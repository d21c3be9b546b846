"""Reading ``--since``/``--since-time``/``--until``/``--interval``/``--late-bound``: durations and the time window.

Durations are written like kubectl's and Go's (``30s``, ``15m``, ``1h30m``, ``2d``; units ``ms s m h d``).
Times are RFC 3339 with an offset (``2026-11-25T12:00:00Z``). Every bad input is one ``UsageError``
with a hint; the CLI passes ``now`` (and the workspace's retention when it knows it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}
_EXAMPLES = "e.g. 30s, 15m, 1h30m, 2d"
UNTIL_HINT = "--since defaults to 1h ago: widen it (e.g. --since 2d --until 1d, or --since-time before --until), or leave --until out"


# Log Analytics keeps data at most 12 years (interactive + long-term retention): no window reaches further.
MAX_LOOKBACK = timedelta(days=4383)
# --follow's knobs: a poll at least every day; at least 100 ms between polls (0 would spin on the service).
INTERVAL_BOUNDS = (timedelta(milliseconds=100), timedelta(days=1))
OVERLAP_BOUNDS = (timedelta(0), timedelta(days=1))
LATE_BOUND_BOUNDS = (timedelta(0), timedelta(days=7))


def parse_duration(text: str, option: str = "duration", bounds: tuple[timedelta, timedelta] = (timedelta(0), MAX_LOOKBACK)) -> timedelta:
    """A duration within ``bounds`` (inclusive); anything else, however large, is one usage error."""
    value = text.strip().lower()
    pos, seconds = 0, 0.0
    while pos < len(value):
        m = _PART.match(value, pos)
        if m is None:
            break
        seconds += float(m[1]) * _UNITS[m[2]].total_seconds()  # float: 10**22 s must not overflow timedelta
        pos = m.end()
    if not value or pos != len(value):
        raise UsageError(f"{option} {text!r} is not a duration", _EXAMPLES, code="bad_duration")
    low, high = bounds
    if not low.total_seconds() <= seconds <= high.total_seconds():
        raise UsageError(
            f"{option} {text!r} is outside {_show(low)}..{_show(high)}",
            f"pass a duration from {_show(low)} to {_show(high)}",
            code="bad_duration",
        )
    return timedelta(seconds=seconds)


def _show(d: timedelta) -> str:
    ms = round(d.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def parse_time(text: str, option: str = "time") -> datetime:
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value)
    except (ValueError, IndexError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise UsageError(f"{option} {text!r} is not an RFC 3339 time with an offset", "e.g. 2026-11-25T12:00:00Z", code="bad_time")
    return parsed


@dataclass(frozen=True)
class TimeWindow:
    since: datetime
    until: datetime | None  # None: up to now (and on, with --follow)


def resolve_window(
    now: datetime,
    since: str | None = None,
    since_time: str | None = None,
    until: str | None = None,
    retention: timedelta | None = None,
    default_since: timedelta = timedelta(hours=1),
) -> TimeWindow:
    """The event-time window from the options; ``until`` takes a duration (ago) or a time."""
    if since is not None and since_time is not None:
        raise UsageError("--since and --since-time do not combine", "give one of them", code="bad_window")
    if since_time is not None:
        start = parse_time(since_time, "--since-time")
    else:
        start = now - (parse_duration(since, "--since") if since is not None else default_since)
    end: datetime | None = None
    if until is not None:
        end = parse_time(until, "--until") if _looks_like_time(until) else now - parse_duration(until, "--until")
    if start > now:
        raise UsageError(
            f"--since {start.isoformat()} is in the future", "use a time before now, or a duration such as --since 1h", code="bad_window"
        )
    if end is not None and end <= start:
        raise UsageError(f"--until must be later than --since (the window starts at {start.isoformat()})", UNTIL_HINT, code="bad_window")
    if retention is not None and start < now - retention:
        raise UsageError(
            f"--since reaches back further than the workspace keeps data ({retention.days} days)",
            f"use --since {retention.days}d or less",
            code="beyond_retention",
        )
    return TimeWindow(start, end)


def _looks_like_time(text: str) -> bool:
    return bool(re.match(r"\s*\d{4}-\d{2}-\d{2}", text))

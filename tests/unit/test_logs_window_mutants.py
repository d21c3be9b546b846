"""logs/window.py to the letter: each refusal's message, hint and code, the bounds shown in them, and the edges.

These pin what a user reads when a window is wrong (the mutation runner's survivors on the broader tests).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from azsqlctl.core.errors import ExitCode, UsageError
from azsqlctl.core.logs.window import (
    INTERVAL_BOUNDS,
    LATE_BOUND_BOUNDS,
    MAX_LOOKBACK,
    OVERLAP_BOUNDS,
    UNTIL_HINT,
    TimeWindow,
    parse_duration,
    parse_time,
    resolve_window,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _usage(call: object, *args: object, **kwargs: object) -> UsageError:
    with pytest.raises(UsageError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    assert info.value.exit_code == ExitCode.USAGE
    return info.value


def test_the_bounds_are_the_documented_ones() -> None:
    assert timedelta(days=4383) == MAX_LOOKBACK
    assert (timedelta(milliseconds=100), timedelta(days=1)) == INTERVAL_BOUNDS
    assert (timedelta(0), timedelta(days=1)) == OVERLAP_BOUNDS
    assert (timedelta(0), timedelta(days=7)) == LATE_BOUND_BOUNDS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("7s", timedelta(seconds=7)),
        ("2m", timedelta(minutes=2)),
        ("3h", timedelta(hours=3)),
        ("4d", timedelta(days=4)),
        ("1d2h3m4s5ms", timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)),
        ("0s", timedelta(0)),
        ("\t2H30M\n", timedelta(hours=2, minutes=30)),
    ],
)
def test_every_unit_and_a_sum(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_a_bad_duration_names_the_option_and_gives_examples() -> None:
    err = _usage(parse_duration, "1x", "--interval")
    assert err.message == "--interval '1x' is not a duration"
    assert err.hint == "e.g. 30s, 15m, 1h30m, 2d"
    assert err.code == "bad_duration"
    assert _usage(parse_duration, "").message == "duration '' is not a duration"
    assert _usage(parse_duration, "1h trailing").message == "duration '1h trailing' is not a duration"


@pytest.mark.parametrize(
    ("text", "bounds", "shown"),
    [
        ("4384d", None, "0s..4383d"),
        ("50ms", INTERVAL_BOUNDS, "100ms..1d"),
        ("25h", INTERVAL_BOUNDS, "100ms..1d"),
        ("8d", LATE_BOUND_BOUNDS, "0s..7d"),
        ("2d", OVERLAP_BOUNDS, "0s..1d"),
        ("1s", (timedelta(seconds=2), timedelta(hours=2)), "2s..2h"),
        ("1s", (timedelta(minutes=2), timedelta(minutes=90)), "2m..90m"),
        ("1ms", (timedelta(milliseconds=1500), timedelta(seconds=3)), "1500ms..3s"),
    ],
)
def test_an_out_of_bounds_duration_shows_the_bounds_in_their_largest_whole_unit(
    text: str, bounds: tuple[timedelta, timedelta] | None, shown: str
) -> None:
    err = _usage(parse_duration, text, "--x", bounds) if bounds else _usage(parse_duration, text, "--x")
    assert err.message == f"--x {text!r} is outside {shown}"
    low, high = shown.split("..")
    assert err.hint == f"pass a duration from {low} to {high}"
    assert err.code == "bad_duration"


def test_both_bounds_are_inclusive() -> None:
    assert parse_duration("0s", "--late-bound", LATE_BOUND_BOUNDS) == timedelta(0)
    assert parse_duration("7d", "--late-bound", LATE_BOUND_BOUNDS) == timedelta(days=7)
    assert parse_duration("100ms", "--interval", INTERVAL_BOUNDS) == timedelta(milliseconds=100)
    _usage(parse_duration, "99ms", "--interval", INTERVAL_BOUNDS)
    _usage(parse_duration, "86400001ms", "--interval", INTERVAL_BOUNDS)


def test_times() -> None:
    assert parse_time("2026-11-25T11:00:00z") == datetime(2026, 11, 25, 11, tzinfo=UTC)
    assert parse_time("  2026-11-25T11:00:00Z  ") == datetime(2026, 11, 25, 11, tzinfo=UTC)
    assert parse_time("2026-11-25T11:00:00-05:00").utcoffset() == timedelta(hours=-5)
    err = _usage(parse_time, "2026-11-25T11:00:00", "--since-time")
    assert err.message == "--since-time '2026-11-25T11:00:00' is not an RFC 3339 time with an offset"
    assert err.hint == "e.g. 2026-11-25T12:00:00Z"
    assert err.code == "bad_time"
    assert _usage(parse_time, "").message == "time '' is not an RFC 3339 time with an offset"
    assert _usage(parse_time, "Z").code == "bad_time"


def test_the_default_window_and_its_knob() -> None:
    assert resolve_window(NOW) == TimeWindow(NOW - timedelta(hours=1), None)
    assert resolve_window(NOW, default_since=timedelta(minutes=5)) == TimeWindow(NOW - timedelta(minutes=5), None)
    assert resolve_window(NOW, since="0s") == TimeWindow(NOW, None)  # starting now is not the future


def test_since_time_alone_and_until_as_a_time_or_a_duration() -> None:
    start = datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert resolve_window(NOW, since_time="2026-11-25T09:00:00Z") == TimeWindow(start, None)
    assert resolve_window(NOW, since_time="2026-11-25T09:00:00Z", until="30m") == TimeWindow(start, NOW - timedelta(minutes=30))
    assert resolve_window(NOW, since="3h", until=" 2026-11-25T10:00:00+00:00") == TimeWindow(
        NOW - timedelta(hours=3), datetime(2026, 11, 25, 10, tzinfo=UTC)
    )
    # a time in another offset is the same instant
    eastern = timezone(timedelta(hours=-5))
    assert resolve_window(NOW, since_time="2026-11-25T05:00:00-05:00").since == datetime(2026, 11, 25, 5, tzinfo=eastern)


def test_since_and_since_time_do_not_combine() -> None:
    err = _usage(resolve_window, NOW, since="1h", since_time="2026-11-25T10:00:00Z")
    assert (err.message, err.hint, err.code) == ("--since and --since-time do not combine", "give one of them", "bad_window")


def test_a_start_in_the_future_is_refused() -> None:
    err = _usage(resolve_window, NOW, since_time="2026-11-25T12:00:01Z")
    assert err.message == "--since 2026-11-25T12:00:01+00:00 is in the future"
    assert err.hint == "use a time before now, or a duration such as --since 1h"
    assert err.code == "bad_window"
    assert resolve_window(NOW, since_time="2026-11-25T12:00:00Z") == TimeWindow(NOW, None)


def test_until_must_be_later_than_since() -> None:
    err = _usage(resolve_window, NOW, since="1h", until="1h")  # equal: an empty window
    assert err.message == "--until must be later than --since (the window starts at 2026-11-25T11:00:00+00:00)"
    assert err.hint == UNTIL_HINT
    assert err.code == "bad_window"
    assert UNTIL_HINT.startswith("--since defaults to 1h ago")
    assert resolve_window(NOW, since="1h", until="59m") == TimeWindow(NOW - timedelta(hours=1), NOW - timedelta(minutes=59))
    err = _usage(resolve_window, NOW, until="2h")  # the default --since (1h) is after an until 2h ago
    assert err.code == "bad_window"


def test_retention_is_the_limit_inclusive() -> None:
    assert resolve_window(NOW, since="30d", retention=timedelta(days=30)).since == NOW - timedelta(days=30)
    err = _usage(resolve_window, NOW, since="30d1s", retention=timedelta(days=30))
    assert err.message == "--since reaches back further than the workspace keeps data (30 days)"
    assert err.hint == "use --since 30d or less"
    assert err.code == "beyond_retention"


def test_until_durations_are_validated_as_until() -> None:
    err = _usage(resolve_window, NOW, until="soon")
    assert err.message == "--until 'soon' is not a duration"
    err = _usage(resolve_window, NOW, since="nope")
    assert err.message == "--since 'nope' is not a duration"
    err = _usage(resolve_window, NOW, since_time="2026-11-25T09:00:00Z", until="2026-11-25T10:00:00")
    assert err.message == "--until '2026-11-25T10:00:00' is not an RFC 3339 time with an offset"
    err = _usage(resolve_window, NOW, since_time="noon")
    assert err.message == "--since-time 'noon' is not an RFC 3339 time with an offset"

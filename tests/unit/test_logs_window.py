"""--since/--until/--interval/--late-bound: durations, times, and the one-line errors for bad windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from azsqlctl.core.errors import UsageError
from azsqlctl.core.logs.window import INTERVAL_BOUNDS, LATE_BOUND_BOUNDS, TimeWindow, parse_duration, parse_time, resolve_window

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("15m", timedelta(minutes=15)), ("1h30m", timedelta(minutes=90)), ("2d", timedelta(days=2)),
     ("500ms", timedelta(milliseconds=500)), ("1.5h", timedelta(minutes=90)), (" 1H ", timedelta(hours=1))],
)  # fmt: skip
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "h", "1w", "-1h", "1h 30m", "1h;drop", "soon"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_duration(text, "--since")
    assert info.value.code == "bad_duration" and "--since" in info.value.message and info.value.hint


def test_times_need_an_offset() -> None:
    assert parse_time("2026-11-25T11:00:00Z") == datetime(2026, 11, 25, 11, tzinfo=UTC)
    assert parse_time("2026-11-25T13:00:00+02:00") == datetime(2026, 11, 25, 11, tzinfo=UTC)
    for bad in ("2026-11-25T11:00:00", "yesterday", ""):
        with pytest.raises(UsageError):
            parse_time(bad)


def test_windows() -> None:
    assert resolve_window(NOW) == TimeWindow(NOW - timedelta(hours=1), None)
    assert resolve_window(NOW, since="2h", until="1h") == TimeWindow(NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    assert resolve_window(NOW, since_time="2026-11-25T10:00:00Z", until="2026-11-25T11:00:00Z") == TimeWindow(
        datetime(2026, 11, 25, 10, tzinfo=UTC), datetime(2026, 11, 25, 11, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"since_time": "2026-11-26T00:00:00Z"}, "bad_window"),  # in the future
        ({"since": "1h", "since_time": "2026-11-25T10:00:00Z"}, "bad_window"),
        ({"since": "1h", "until": "2h"}, "bad_window"),  # until before since
        ({"since": "40d", "retention": timedelta(days=30)}, "beyond_retention"),
        ({"since": "an hour"}, "bad_duration"),
        ({"since_time": "10:00"}, "bad_time"),
    ],
)
def test_bad_windows(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve_window(NOW, **kwargs)  # type: ignore[arg-type]
    assert info.value.code == code


@pytest.mark.parametrize(
    ("text", "option", "bounds"),
    [
        ("99999999d", "--since", None),
        ("10000000000000000000000s", "--since", None),
        ("4384d", "--until", None),
        ("0s", "--interval", INTERVAL_BOUNDS),
        ("50ms", "--interval", INTERVAL_BOUNDS),
        ("25h", "--interval", INTERVAL_BOUNDS),
        ("8d", "--late-bound", LATE_BOUND_BOUNDS),
    ],
)
def test_durations_out_of_bounds_are_usage_errors(text: str, option: str, bounds: tuple[timedelta, timedelta] | None) -> None:
    with pytest.raises(UsageError) as err:
        parse_duration(text, option, bounds) if bounds else parse_duration(text, option)
    assert err.value.exit_code == 2 and option in err.value.message and "outside" in err.value.message


def test_bounds_are_inclusive() -> None:
    assert parse_duration("4383d") == timedelta(days=4383)
    assert parse_duration("100ms", "--interval", INTERVAL_BOUNDS) == timedelta(milliseconds=100)
    assert parse_duration("1d", "--interval", INTERVAL_BOUNDS) == timedelta(days=1)

"""Exact shapes: the follow query's order and window, and the query hash across comments (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from azsqlctl.core.errors import UsageError
from azsqlctl.core.logs.kql import IngestionWindow, LogsRequest, QueryKind, build_query, kusto_datetime
from azsqlctl.core.queryhash import normalize_sql, query_hash

SINCE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_follow_polls_one_ingestion_window_oldest_first() -> None:
    window = IngestionWindow(SINCE + timedelta(minutes=1), SINCE + timedelta(minutes=2))
    query = build_query(LogsRequest(SINCE, limit=5), window)
    assert query.kind == QueryKind.FOLLOW
    lines = query.text.splitlines()
    assert lines[-1] == "| sort by event_time_t asc, _ItemId asc"  # printed in event order, ties stable
    assert not any(line.startswith("| take") for line in lines)  # a poll never drops rows of its window
    assert f"| where ingestion_time() >= {kusto_datetime(window.start)} and ingestion_time() < {kusto_datetime(window.end)}" in lines
    with pytest.raises(ValueError, match="must not be empty"):
        build_query(LogsRequest(SINCE), IngestionWindow(window.start, window.start))


def test_list_with_limit_takes_the_newest_then_prints_oldest_first() -> None:
    lines = build_query(LogsRequest(SINCE, limit=3)).text.splitlines()
    assert lines[-3:] == ["| sort by event_time_t desc, _ItemId desc", "| take 3", "| sort by event_time_t asc, _ItemId asc"]
    plain = build_query(LogsRequest(SINCE)).text.splitlines()
    assert plain[-1] == "| sort by event_time_t asc, _ItemId asc" and "| take" not in "\n".join(plain)


def test_the_time_span_and_its_checks() -> None:
    until = SINCE + timedelta(hours=1)
    text = build_query(LogsRequest(SINCE, until=until)).text
    assert f"| where event_time_t >= {kusto_datetime(SINCE)} and event_time_t < {kusto_datetime(until)}" in text
    with pytest.raises(UsageError, match="--until must be later than --since"):
        build_query(LogsRequest(SINCE, until=SINCE))
    with pytest.raises(UsageError, match="--limit must be a positive number"):
        build_query(LogsRequest(SINCE, limit=0))
    assert "| take 1" in build_query(LogsRequest(SINCE, limit=1)).text


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        ("SELECT 1 -- note\nFROM t WHERE id = 2", "select ? from t where id = ?"),
        ("SELECT a -- a comment\n, b FROM t", "select a , b from t"),
        ("-- leading\nDELETE FROM t", "delete from t"),
        ("SELECT a --trailing", "select a"),
        ("SELECT /* x /* nested */ still */ a", "select a"),
        ("SELECT a /* unterminated", "select a"),
    ],
)
def test_comments_are_dropped_and_the_sql_after_them_kept(sql: str, shape: str) -> None:
    assert normalize_sql(sql) == shape


def test_a_line_comment_followed_by_more_sql_changes_nothing_but_the_comment() -> None:
    with_comment = "SELECT a FROM t -- why\nWHERE b = 1"
    assert query_hash(with_comment) == query_hash("SELECT a FROM t WHERE b = 2")
    assert query_hash(with_comment) != query_hash("SELECT a FROM t")  # the WHERE after the comment still counts

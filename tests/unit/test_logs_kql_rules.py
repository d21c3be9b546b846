"""The KQL builder's rules one by one: fleet filters, follow order, summary keys, and every refusal's text.

tests/unit/test_logs_kql.py checks the shapes and that no value changes a query's structure; this file
pins the rules a user reads in the query (``--show-query``) and in the errors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from azsqlctl.core.errors import UsageError
from azsqlctl.core.logs.kql import (
    GROUP_COLUMNS,
    LIST_COLUMNS,
    Filters,
    GroupKey,
    IngestionWindow,
    LogsRequest,
    QueryKind,
    ServerScope,
    build_query,
    kusto_datetime,
    kusto_string,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW = IngestionWindow(T0, T0 + timedelta(seconds=30))


def lines(request: LogsRequest, window: IngestionWindow | None = None) -> list[str]:
    return build_query(request, window).text.splitlines()


def test_a_policys_fleet_filters_each_server_to_its_own_databases() -> None:
    scopes = (ServerScope("srv1", ("appdb", "tenant_1")), ServerScope("Srv2"))
    text = build_query(LogsRequest(since=T0, filters=Filters(scopes=scopes))).text
    assert (
        '| where (LogicalServerName_s =~ h"srv1" and database_name_s in~ (h"appdb", h"tenant_1")) or LogicalServerName_s =~ h"Srv2"' in text
    )
    one = build_query(LogsRequest(since=T0, filters=Filters(scopes=(ServerScope("srv1", ("appdb",)),)))).text
    assert '| where (LogicalServerName_s =~ h"srv1" and database_name_s in~ (h"appdb"))' in one
    plain = build_query(LogsRequest(since=T0)).text
    assert "in~" not in plain and "=~" not in plain and "contains" not in plain and "error_number ==" not in plain


def test_a_follow_poll_reads_one_ingestion_window_oldest_first_without_a_take() -> None:
    q = build_query(LogsRequest(since=T0, limit=5), WINDOW)
    assert q.kind is QueryKind.FOLLOW and q.columns == LIST_COLUMNS
    text = q.text.splitlines()
    assert text[-1] == "| sort by event_time_t asc, _ItemId asc"
    assert "desc" not in q.text and "take" not in q.text  # --limit is the listing's newest N, not a poll's
    assert text[4].startswith("| where ingestion_time() >= ")
    # the window is the event-time window's partner: both apply
    assert text[3] == "| where event_time_t >= datetime(2026-11-25T12:00:00.000000Z)"


def test_a_listing_without_limit_takes_everything_in_the_window() -> None:
    text = lines(LogsRequest(since=T0))
    assert text[-2].startswith("| project _ItemId, event_time_t, ingested_at = ingestion_time(), ")
    assert text[-1] == "| sort by event_time_t asc, _ItemId asc"
    assert not any(line.startswith("| take") for line in text)


def test_limit_one_is_allowed() -> None:
    assert "| take 1" in lines(LogsRequest(since=T0, limit=1))


@pytest.mark.parametrize("limit", [0, -3, True])
def test_a_limit_that_is_not_a_positive_number_is_refused(limit: int) -> None:
    with pytest.raises(UsageError) as info:
        build_query(LogsRequest(since=T0, limit=limit))
    assert info.value.message == f"--limit must be a positive number, not {limit!r}"
    assert info.value.code == "bad_limit"
    with pytest.raises(UsageError):  # a summary's limit is the same rule
        build_query(LogsRequest(since=T0, limit=limit, summary_by=()))


def test_error_and_state_zero_are_filters_and_negative_ones_are_refused() -> None:
    text = build_query(LogsRequest(since=T0, filters=Filters(error=0, state=0))).text
    assert "| where error_number == 0" in text and "| where error_state == 0" in text
    with pytest.raises(UsageError) as info:
        build_query(LogsRequest(since=T0, filters=Filters(state=-1)))
    assert info.value.message == "--state must be a non-negative number, not -1"
    with pytest.raises(UsageError) as error:
        build_query(LogsRequest(since=T0, filters=Filters(error=True)))  # a bool is not an error number
    assert error.value.message == "--error must be a non-negative number, not True"


def test_the_error_filters_come_after_the_columns_they_read() -> None:
    text = lines(LogsRequest(since=T0, filters=Filters(error=18456, state=5)))
    extend = next(i for i, line in enumerate(text) if line.startswith("| extend error_number = "))
    assert text[extend + 1 : extend + 3] == ["| where error_number == 18456", "| where error_state == 5"]


def test_the_window_must_move_forward() -> None:
    with pytest.raises(UsageError) as info:
        build_query(LogsRequest(since=T0, until=T0 - timedelta(seconds=1)))
    assert info.value.message == "--until must be later than --since"
    assert info.value.code == "bad_window"
    assert (
        "event_time_t < datetime(2026-11-25T12:00:01.000000Z)" in build_query(LogsRequest(since=T0, until=T0 + timedelta(seconds=1))).text
    )
    with pytest.raises(ValueError, match="must not be empty"):
        build_query(LogsRequest(since=T0), IngestionWindow(T0, T0))
    with pytest.raises(ValueError, match="do not combine"):
        build_query(LogsRequest(since=T0, summary_by=()), WINDOW)


def test_times_are_written_in_utc() -> None:
    east = datetime(2026, 11, 25, 14, 30, 5, 123, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    assert kusto_datetime(east) == "datetime(2026-11-25T14:30:05.000123Z)"


def test_a_client_ip_is_written_in_its_canonical_form() -> None:
    text = build_query(LogsRequest(since=T0, filters=Filters(client_ip="2001:DB8:0:0::1"))).text
    assert '| where client_ip_s == h"2001:db8::1"' in text
    with pytest.raises(UsageError) as info:
        build_query(LogsRequest(since=T0, filters=Filters(client_ip="10.0.0.256")))
    assert info.value.message == "--client-ip '10.0.0.256' is not an IP address"
    assert info.value.hint == "e.g. --client-ip 203.0.113.7"


def test_a_control_character_is_named_in_the_refusal() -> None:
    with pytest.raises(UsageError) as info:
        kusto_string("app\x1bname")
    assert info.value.message == "filter value 'app\\x1bname' holds the control character U+001B"
    assert info.value.code == "bad_filter"
    assert kusto_string("tab\there") == 'h"tab\\there"'  # the documented escapes are not refused


def test_every_summary_key_groups_by_its_column() -> None:
    q = build_query(LogsRequest(since=T0, summary_by=tuple(GroupKey)))
    summarize = next(line for line in q.text.splitlines() if line.startswith("| summarize"))
    assert summarize.endswith(
        "by principal = server_principal_name_s, error_number, error_state, client_ip = client_ip_s, "
        "application = application_name_s, database_name = database_name_s, server_name = LogicalServerName_s, "
        "action_id = action_id_s"
    )
    assert q.columns == (*(GROUP_COLUMNS[k][0] for k in GroupKey), "events", "first_seen", "last_seen")


def test_summary_keys_are_kept_once_in_the_order_given() -> None:
    q = build_query(LogsRequest(since=T0, summary_by=(GroupKey.STATE, GroupKey.ERROR, GroupKey.STATE)))
    assert q.columns[:3] == ("error_state", "error_number", "events")
    # with successes too, an action key the user gave is kept where it is, not added twice
    both = build_query(LogsRequest(since=T0, all_events=True, summary_by=(GroupKey.PRINCIPAL, GroupKey.ACTION)))
    assert both.columns[:3] == ("principal", "action_id", "events")
    failures = build_query(LogsRequest(since=T0, summary_by=(GroupKey.PRINCIPAL,)))
    assert failures.columns[:2] == ("principal", "events")  # failures only: no action key needed


def test_a_summary_without_limit_keeps_every_group() -> None:
    text = lines(LogsRequest(since=T0, summary_by=()))
    assert text[-1] == "| sort by events desc, last_seen desc"

"""--summary groups read back from Kusto's summarize: keys, counts, cause, and the hint per pattern."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from azsqlctl.core.logs.audit_rows import AuditRowError
from azsqlctl.core.logs.kql import GroupKey, LogsRequest, build_query
from azsqlctl.core.logs.summary import decode_group, decode_groups

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
COLUMNS = build_query(LogsRequest(since=T0, summary_by=())).columns  # principal, client_ip, error_number, error_state, ...


def test_groups_decode_in_the_query_column_order() -> None:
    rows: list[list[Any]] = [
        ["orders-api", "203.0.113.7", "18456", "8", "42", "2026-11-25T12:00:00Z", "2026-11-25T12:30:00Z"],
        ["2f1b6e3c-0d8a-4b4e-9f59-3a2f6c1d7e90", "10.0.0.4", 18456, 132, 3, T0, T0],
    ]
    guessing, token = decode_groups(COLUMNS, rows)
    assert guessing.keys == (("principal", "orders-api"), ("client_ip", "203.0.113.7"), ("error_number", 18456), ("error_state", 8))
    assert guessing.events == 42 and guessing.last_seen == datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
    assert "password is incorrect" in guessing.cause
    assert "likely password guessing" in guessing.hint and "203.0.113.7" in guessing.hint
    assert "Entra ID (token) authentication failed" in token.cause
    assert token.hint == "check this identity: azsqlctl doctor --client-id 2f1b6e3c-0d8a-4b4e-9f59-3a2f6c1d7e90"
    assert guessing.as_json() == {
        "type": "group",
        "principal": "orders-api",
        "client_ip": "203.0.113.7",
        "error_number": 18456,
        "error_state": 8,
        "events": 42,
        "first_seen": "2026-11-25T12:00:00Z",
        "last_seen": "2026-11-25T12:30:00Z",
        "cause": guessing.cause,
        "fix": guessing.fix,
        "hint": guessing.hint,
    }


@pytest.mark.parametrize(("state", "events", "guessing"), [(5, 10, True), (8, 9, False), (38, 500, False)])
def test_guessing_needs_a_burst_of_wrong_credentials(state: int, events: int, guessing: bool) -> None:
    group = decode_group(
        {"principal": "sa", "client_ip": "198.51.100.1", "error_number": 18456, "error_state": state,
         "events": events, "first_seen": T0, "last_seen": T0},
        COLUMNS,
    )  # fmt: skip
    assert ("password guessing" in group.hint) is guessing


def test_successful_logins_are_their_own_groups() -> None:
    columns = build_query(LogsRequest(since=T0, summary_by=(GroupKey.PRINCIPAL,), all_events=True)).columns
    (group,) = decode_groups(columns, [["DBAS", "orders-api", 5, T0, T0]])
    assert group.key("action_id") == "DBAS" and group.cause == "successful logins" and group.hint == ""


def test_a_group_without_counts_is_an_error() -> None:
    with pytest.raises(AuditRowError):
        decode_group({"principal": "x", "events": None, "first_seen": T0, "last_seen": T0}, COLUMNS)


def test_redacted_groups() -> None:
    group = decode_group(
        {"principal": "sa", "client_ip": "198.51.100.1", "error_number": 18456, "error_state": 8,
         "events": 50, "first_seen": T0, "last_seen": T0},
        COLUMNS,
    )  # fmt: skip
    masked = group.redacted(b"salt")
    assert "198.51.100.1" not in str(masked.as_json()) and "'sa'" not in str(masked.as_json())
    assert str(masked.key("client_ip")).startswith("<ip-") and str(masked.key("client_ip")) in masked.hint
    assert masked.key("error_state") == 8

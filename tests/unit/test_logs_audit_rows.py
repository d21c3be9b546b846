"""Decoding audit rows: the real state from both additional_information_s forms, cause and fix from the one table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azsqlctl.core.diagnosis import LOGIN_STATES, TABLE, lookup_login_state
from azsqlctl.core.logs.audit_rows import AuditEvent, AuditRowError, EventKind, decode_row, decode_rows, parse_additional_information

LOGIN_INFO = (
    "<login_information><error_code>18456</error_code><error_state>{state}</error_state><address>203.0.113.7</address></login_information>"
)
FAILURE_REASON = (
    "<failure_reason>Err 18456, Level 14, State {state}, Login failed for user 'sa'. Reason: Password did not match.</failure_reason>"
)


def row(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "_ItemId": "0f8e6c1a-1111-2222-3333-444455556666",
        "event_time_t": "2026-11-25T12:00:01.1234567Z",
        "ingested_at": "2026-11-25T12:04:30Z",
        "action_id_s": "DBAF",
        "succeeded_s": "false",
        "LogicalServerName_s": "contoso-sql",
        "server_instance_name_s": "contoso-sql",
        "database_name_s": "orders",
        "server_principal_name_s": "orders-api",
        "client_ip_s": "203.0.113.7",
        "application_name_s": "python-app",
        "additional_information_s": LOGIN_INFO.format(state=5),
        "error_number": "18456",
        "error_state": "5",
        "ResourceId": "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.SQL/SERVERS/CONTOSO-SQL/DATABASES/MASTER",
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize("template", [LOGIN_INFO, FAILURE_REASON])
@pytest.mark.parametrize("state", [5, 8, 38, 102, 133])
def test_real_state_from_both_forms(template: str, state: int) -> None:
    assert parse_additional_information(template.format(state=state)) == (18456, state)
    event = decode_row(row(additional_information_s=template.format(state=state), error_number=None, error_state=None))
    assert (event.error, event.state) == (18456, state)


def test_failure_reason_state_is_not_the_level() -> None:
    assert parse_additional_information("<failure_reason>Err 18456, Level 14, State 8, x</failure_reason>") == (18456, 8)


def test_decoded_event() -> None:
    event = decode_row(row())
    assert event == AuditEvent(
        item_id="0f8e6c1a-1111-2222-3333-444455556666",
        event_time=datetime(2026, 11, 25, 12, 0, 1, 123456, tzinfo=UTC),
        ingested_at=datetime(2026, 11, 25, 12, 4, 30, tzinfo=UTC),
        kind=EventKind.FAILED_LOGIN,
        server="contoso-sql",
        database="orders",
        principal="orders-api",
        client_ip="203.0.113.7",
        application="python-app",
        error=18456,
        state=5,
        cause=event.cause,
        fix=event.fix,
        statement_hash=None,
        resource_id="/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.SQL/SERVERS/CONTOSO-SQL/DATABASES/MASTER",
    )
    assert "user ID is not valid" in event.cause and event.failed


@pytest.mark.parametrize(
    ("state", "cause_words", "fix_words"),
    [
        (5, "login name does not exist", "check the user name"),
        (8, "password is incorrect", "check the password"),
        (38, "database requested", "Initial Catalog"),
        (46, "database requested", "Initial Catalog"),
        (102, "Entra ID (token) authentication failed", "azsqlctl doctor --client-id"),
        (111, "Entra ID (token) authentication failed", "azsqlctl grant"),
        (132, "Entra ID (token) authentication failed", "azsqlctl doctor"),
        (133, "Entra ID (token) authentication failed", "azsqlctl doctor"),
        (123, "empty", "attrs_before 1256"),
        (126, "does not exist", "--database"),
    ],
)
def test_cause_and_fix_per_state(state: int, cause_words: str, fix_words: str) -> None:
    event = decode_row(row(additional_information_s=FAILURE_REASON.format(state=state)))
    assert cause_words in event.cause and fix_words in event.fix


def test_unknown_state_falls_back_to_the_number_row() -> None:
    event = decode_row(row(additional_information_s=LOGIN_INFO.format(state=113)))
    assert event.state == 113 and event.cause == TABLE["18456"].cause


def test_firewall_fix_names_the_row_ip() -> None:
    info = "<login_information><error_code>40615</error_code><error_state>1</error_state></login_information>"
    event = decode_row(row(additional_information_s=info, client_ip_s="198.51.100.9"))
    assert event.error == 40615
    assert "--start-ip-address 198.51.100.9 --end-ip-address 198.51.100.9" in event.fix and "--server contoso-sql" in event.fix


def test_computed_columns_are_the_fallback() -> None:
    event = decode_row(row(additional_information_s="", error_number=18456.0, error_state="8"))
    assert (event.error, event.state) == (18456, 8)
    event = decode_row(row(additional_information_s=None, error_number=None, error_state=None))
    assert (event.error, event.state) == (None, None) and "no error details" in event.cause


def test_successful_login_has_no_cause() -> None:
    event = decode_row(row(action_id_s="DBAS", succeeded_s="true", additional_information_s=""))
    assert event.kind is EventKind.LOGIN and not event.failed and event.cause == event.fix == ""


def test_statement_is_hashed_never_kept() -> None:
    secret = "SELECT * FROM payroll WHERE ssn = '078-05-1120'"
    event = decode_row(row(statement_s=secret))
    assert event.statement_hash == "83118c1a74059362"
    assert "078-05-1120" not in repr(event) and "payroll" not in repr(event) and "payroll" not in str(event.as_json())


def test_datetime_objects_and_numbers_as_numbers() -> None:
    when = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    event = decode_row(row(event_time_t=when, ingested_at=None, error_number=18456, error_state=5))
    assert event.event_time == when and event.ingested_at is None


def test_table_shape() -> None:
    columns = list(row())
    events = decode_rows(columns, [list(row().values()), list(row(_ItemId="b").values())])
    assert [e.item_id for e in events] == ["0f8e6c1a-1111-2222-3333-444455556666", "b"]


@pytest.mark.parametrize("bad", [{"_ItemId": None}, {"event_time_t": ""}, {"event_time_t": "yesterday"}])
def test_rows_without_key_or_time_are_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(AuditRowError):
        decode_row(row(**bad))


def test_json_field_names_are_stable() -> None:
    assert list(decode_row(row()).as_json()) == [
        "type", "kind", "item_id", "event_time", "ingested_at", "server", "database", "principal", "client_ip",
        "application", "error", "state", "cause", "fix", "statement_hash",
    ]  # fmt: skip
    assert decode_row(row()).as_json()["event_time"] == "2026-11-25T12:00:01.123456Z"


def test_state_table_is_complete_and_disjoint() -> None:
    covered: set[tuple[int, int]] = set()
    for (number, first, last), diag in LOGIN_STATES.items():
        assert first <= last and diag.cause and diag.fix
        span = {(number, s) for s in range(first, last + 1)}
        assert not covered & span
        covered |= span
    for state in (2, 5, 6, 7, 8, 9, 11, 12, 18, 38, 46, *range(102, 112), *range(122, 127), 132, 133):
        if state != 125:
            assert (18456, state) in covered
    assert lookup_login_state(18456, 125) is TABLE["18456"]
    assert lookup_login_state(None, 5) is None


@given(st.text(max_size=300))
def test_parsing_never_fails(text: str) -> None:
    error, state = parse_additional_information(text)
    assert error is None or error >= 0
    assert state is None or state >= 0


def test_redaction_masks_principal_and_ip_everywhere_stably() -> None:
    info = "<login_information><error_code>40615</error_code><error_state>1</error_state></login_information>"
    event = decode_row(row(additional_information_s=info, client_ip_s="198.51.100.9", server_principal_name_s="alice@contoso.com"))
    salt = b"0123456789abcdef"
    masked = event.redacted(salt)
    text = str(masked.as_json())
    assert "198.51.100.9" not in text and "alice@contoso.com" not in text
    assert masked.client_ip.startswith("<ip-") and masked.principal.startswith("<principal-")
    assert masked.client_ip in masked.fix  # the firewall fix names the pseudonym
    assert event.redacted(salt) == masked  # stable within a run
    assert event.redacted(b"another run salt").client_ip != masked.client_ip  # unlinkable across runs


def test_redaction_replaces_whole_names_only() -> None:
    from azsqlctl.core.logs.audit_rows import mask_in

    assert mask_in("check the password for sa", {"sa": "<p>"}) == "check the password for <p>"
    assert mask_in("allow 10.0.0.12 and 10.0.0.1", {"10.0.0.1": "<ip>"}) == "allow 10.0.0.12 and <ip>"
    event = decode_row(row(server_principal_name_s="sa", additional_information_s=FAILURE_REASON.format(state=8)))
    assert "password" in event.redacted(b"k").fix

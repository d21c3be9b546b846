"""logs/audit_rows.py to the letter: value readers' edges, fallbacks between columns, the two explanations without
a table row, pseudonyms and whole-word masking, and the JSON and redacted forms of an event."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest

from azsqlctl.core.diagnosis import lookup_login_state
from azsqlctl.core.errors import ExitCode
from azsqlctl.core.logs.audit_rows import (
    AuditEvent,
    AuditRowError,
    EventKind,
    as_int,
    as_iso,
    as_text,
    as_time,
    decode_row,
    decode_rows,
    explain,
    mask_in,
    parse_additional_information,
    pseudonym,
)
from azsqlctl.core.queryhash import query_hash

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _event(**changes: object) -> AuditEvent:
    values: dict[str, object] = {
        "item_id": "i",
        "event_time": T0,
        "ingested_at": None,
        "kind": EventKind.FAILED_LOGIN,
        "server": "sql-a",
        "database": "db",
        "principal": "sa",
        "client_ip": "198.51.100.1",
        "application": "app",
        "error": 18456,
        "state": 8,
        "cause": "sa from 198.51.100.1 failed",
        "fix": "let 198.51.100.1 in for sa; not sam or 198.51.100.10",
    }
    values.update(changes)
    return AuditEvent(**values)  # type: ignore[arg-type]


def test_kinds_and_the_error_class() -> None:
    assert (EventKind.FAILED_LOGIN.value, EventKind.LOGIN.value) == ("failed_login", "login")
    err = AuditRowError("x")
    assert err.code == "bad_audit_row" and err.exit_code == ExitCode.CHECK_FAILED


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), (5.9, 5), ("7", 7), ("7.0", 7), (" 8 ", 8), ("", None), (None, None), (True, None), (False, None), ("x", None),
     ("nan", None), ([1], None), (b"1", None), (0, 0), ("0", 0)],
)  # fmt: skip
def test_as_int(value: object, expected: int | None) -> None:
    assert as_int(value) == expected


def test_as_text() -> None:
    assert (as_text(None), as_text(""), as_text(0), as_text("a")) == ("", "", "0", "a")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-25T12:00:00Z", T0),
        ("2026-11-25T12:00:00z", T0),
        (" 2026-11-25T12:00:00 ", T0),  # no offset: UTC
        ("2026-11-25T12:00:00.1234567Z", T0 + timedelta(microseconds=123456)),
        ("2026-11-25T14:00:00+02:00", T0),
        (datetime(2026, 11, 25, 12), T0),  # naive datetime: UTC
        (T0, T0),
        (None, None),
        ("", None),
    ],
)
def test_as_time(value: object, expected: datetime | None) -> None:
    got = as_time(value)
    assert got == expected
    if got is not None:
        assert got.tzinfo is not None


def test_an_aware_datetime_keeps_its_offset() -> None:
    east = datetime(2026, 11, 25, 14, tzinfo=timezone(timedelta(hours=2)))
    assert as_time(east) is east


def test_an_unreadable_time_is_a_row_error() -> None:
    with pytest.raises(AuditRowError) as info:
        as_time("yesterday")
    assert info.value.message == "an audit row has an unreadable time 'yesterday'"


def test_as_iso_is_utc_with_z() -> None:
    assert as_iso(datetime(2026, 11, 25, 14, tzinfo=timezone(timedelta(hours=2)))) == "2026-11-25T12:00:00Z"


def test_parse_additional_information_prefers_login_information_and_misses_cleanly() -> None:
    both = "<failure_reason>Err 4060, Level 11, State 1, x</failure_reason><error_code>18456</error_code><error_state>38</error_state>"
    assert parse_additional_information(both) == (18456, 38)
    assert parse_additional_information("") == (None, None)
    assert parse_additional_information("<error_code>18456</error_code>") == (18456, None)
    assert parse_additional_information("<error_state>7</error_state>") == (None, 7)


def test_explain_without_a_table_row() -> None:
    assert explain(None, None) == ("the login failed; the audit row holds no error details", "run azsqlctl doctor for this identity")
    assert lookup_login_state(999999, 1) is None
    assert explain(999999, 1) == (
        "the login failed with error 999999",
        "look the error number up: https://learn.microsoft.com/sql/relational-databases/errors-events/database-engine-events-and-errors",
    )


def test_explain_fills_the_server_and_the_address_in() -> None:
    diag = lookup_login_state(40615, None)
    assert diag is not None
    cause, fix = explain(40615, None, "198.51.100.7", "sql-a")
    assert cause == diag.cause
    assert fix == (
        "az sql server firewall-rule create --server sql-a --name allow-198-51-100-7 "
        "--start-ip-address 198.51.100.7 --end-ip-address 198.51.100.7 (with --resource-group)"
    )


def test_decode_row_minimum_and_fallbacks() -> None:
    event = decode_row({"_ItemId": "x", "event_time_t": T0, "server_instance_name_s": "inst", "error_number": "4060", "error_state": 1.0})
    assert event.server == "inst"
    assert (event.error, event.state) == (4060, 1)
    assert event.kind is EventKind.FAILED_LOGIN and event.failed
    assert (event.database, event.principal, event.client_ip, event.application, event.resource_id) == ("", "", "", "", "")
    assert event.ingested_at is None and event.statement_hash is None
    assert (event.cause, event.fix) == explain(4060, 1, "", "inst")


def test_decode_row_successful_login_in_any_case_has_no_cause() -> None:
    event = decode_row({"_ItemId": "x", "event_time_t": T0, "action_id_s": "dbas", "error_number": 18456, "error_state": 8})
    assert event.kind is EventKind.LOGIN and not event.failed
    assert (event.cause, event.fix) == ("", "")


def test_decode_row_logical_server_name_wins_and_the_statement_is_hashed() -> None:
    event = decode_row(
        {"_ItemId": "x", "event_time_t": T0, "LogicalServerName_s": "logical", "server_instance_name_s": "inst",
         "statement_s": "SELECT 1", "ingested_at": "2026-11-25T12:05:00Z", "ResourceId": "/r", "database_name_s": "d",
         "server_principal_name_s": "p", "client_ip_s": "10.0.0.1", "application_name_s": "a"}
    )  # fmt: skip
    assert event.server == "logical"
    assert event.statement_hash == query_hash("SELECT 1")
    assert event.ingested_at == T0 + timedelta(minutes=5)
    assert (event.resource_id, event.database, event.principal, event.client_ip, event.application) == ("/r", "d", "p", "10.0.0.1", "a")


@pytest.mark.parametrize("row", [{"_ItemId": "", "event_time_t": T0}, {"_ItemId": "x"}, {"event_time_t": T0}])
def test_a_row_without_id_or_time_is_refused(row: dict[str, object]) -> None:
    with pytest.raises(AuditRowError) as info:
        decode_row(row)
    assert info.value.message == "an audit row has no _ItemId or no event_time_t"
    assert info.value.hint == "the query must project both (kql.LIST_COLUMNS)"


def test_decode_rows_zips_strictly() -> None:
    assert [e.item_id for e in decode_rows(["_ItemId", "event_time_t"], [["a", T0], ["b", T0]])] == ["a", "b"]
    with pytest.raises(ValueError):
        decode_rows(["_ItemId", "event_time_t"], [["a"]])


def test_pseudonym_is_a_keyed_hash_prefix() -> None:
    digest = hmac.new(b"salt", b"sa", hashlib.sha256).hexdigest()[:8]
    assert pseudonym("sa", "principal", b"salt") == f"<principal-{digest}>"
    assert pseudonym("sa", "principal", b"other") != pseudonym("sa", "principal", b"salt")
    assert pseudonym("", "ip", b"salt") == ""


def test_mask_in_replaces_whole_occurrences_longest_first() -> None:
    text = "sa and sam and sa.x and x.sa and sa@x and sa-x and (sa) and sa. and sa:1 and sa: end"
    assert mask_in(text, {"sa": "P"}) == "P and sam and sa.x and x.sa and sa@x and sa-x and (P) and P. and sa:1 and P: end"
    assert mask_in("ab a", {"a": "1", "ab": "2"}) == "2 1"
    assert mask_in("x", {"": "never"}) == "x"
    assert mask_in("a", {"a": "\\1"}) == "\\1"  # a stand-in is literal text, not a regex template


def test_redacted_event_masks_principal_and_address_in_cause_and_fix() -> None:
    event = _event()
    masked = event.redacted(b"k")
    p, ip = pseudonym("sa", "principal", b"k"), pseudonym("198.51.100.1", "ip", b"k")
    assert (masked.principal, masked.client_ip) == (p, ip)
    assert masked.cause == f"{p} from {ip} failed"
    assert masked.fix == f"let {ip} in for {p}; not sam or 198.51.100.10"
    assert masked.server == "sql-a" and masked.item_id == "i"


def test_json_of_an_event() -> None:
    event = _event(ingested_at=T0 + timedelta(minutes=3), statement_hash="abc", resource_id="/r")
    assert event.as_json() == {
        "type": "event",
        "kind": "failed_login",
        "item_id": "i",
        "event_time": "2026-11-25T12:00:00Z",
        "ingested_at": "2026-11-25T12:03:00Z",
        "server": "sql-a",
        "database": "db",
        "principal": "sa",
        "client_ip": "198.51.100.1",
        "application": "app",
        "error": 18456,
        "state": 8,
        "cause": event.cause,
        "fix": event.fix,
        "statement_hash": "abc",
    }
    assert _event().as_json()["ingested_at"] is None


def test_explain_without_server_or_address_leaves_placeholders() -> None:
    _cause, fix = explain(40615, 1)
    assert fix == (
        "az sql server firewall-rule create --server <server> --name allow-<client-ip> "
        "--start-ip-address <client-ip> --end-ip-address <client-ip> (with --resource-group)"
    )


def test_an_event_has_no_resource_id_unless_given() -> None:
    assert _event().resource_id == "" and _event().statement_hash is None


def test_mask_in_takes_the_longest_original_first_whatever_the_stand_ins() -> None:
    assert mask_in("a b and a", {"a": "<long-stand-in>", "a b": "<s>"}) == "<s> and <long-stand-in>"

"""logs/summary.py to the letter: which states are guessing or Entra, the threshold, each hint's words, the keys'
types, redaction of keys and texts, and the decoding of a group's row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from azsqlctl.core.logs import kql
from azsqlctl.core.logs.audit_rows import AuditRowError, explain, pseudonym
from azsqlctl.core.logs.summary import ENTRA_STATES, GUESSING_STATES, GUESSING_THRESHOLD, SummaryGroup, decode_group, decode_groups, hint

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GUID = "2f1b6e3c-0d8a-4b4e-9f59-3a2f6c1d7e90"
COLUMNS = ("principal", "client_ip", "error_number", "error_state", "server_name", "events", "first_seen", "last_seen")


def _row(**values: object) -> dict[str, object]:
    row: dict[str, object] = {"events": 1, "first_seen": T0, "last_seen": T0 + timedelta(minutes=5)}
    row.update(values)
    return row


def test_the_state_sets_and_the_threshold() -> None:
    assert {2, 5, 7, 8, 9} == GUESSING_STATES
    assert {102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 132, 133} == ENTRA_STATES
    assert GUESSING_THRESHOLD == 10


@pytest.mark.parametrize("state", sorted(GUESSING_STATES))
def test_guessing_hint_in_full_at_the_threshold(state: int) -> None:
    assert hint(18456, state, 10, "sa", "198.51.100.1") == (
        "10 wrong-user/password failures from 198.51.100.1: likely password guessing; block the address and prefer "
        "Entra-only authentication"
    )
    assert hint(18456, state, 9, "sa", "198.51.100.1") == ""


def test_guessing_hint_without_an_address() -> None:
    assert hint(18456, 8, 11, "sa", "") == (
        "11 wrong-user/password failures: likely password guessing; block the address and prefer Entra-only authentication"
    )


@pytest.mark.parametrize("state", sorted(ENTRA_STATES))
def test_entra_hint_names_the_client_id_when_the_principal_is_one(state: int) -> None:
    assert hint(18456, state, 1, GUID, "") == f"check this identity: azsqlctl doctor --client-id {GUID}"
    assert hint(18456, state, 1, "orders-api", "") == "check this identity's token and database user: azsqlctl doctor (signed in as it)"


@pytest.mark.parametrize(
    ("error", "state"), [(18456, None), (4060, 8), (None, 8), (18456, 101), (18456, 112), (18456, 131), (18456, 134), (18456, 1)]
)
def test_no_hint_outside_the_patterns(error: int | None, state: int | None) -> None:
    assert hint(error, state, 1000, GUID, "198.51.100.1") == ""


def test_a_group_decoded_from_text_values() -> None:
    group = decode_group(
        _row(principal="orders-api", client_ip="203.0.113.9", error_number="18456", error_state="8.0", server_name="sql-a", events="12"),
        COLUMNS,
    )
    assert group.keys == (
        ("principal", "orders-api"),
        ("client_ip", "203.0.113.9"),
        ("error_number", 18456),
        ("error_state", 8),
        ("server_name", "sql-a"),
    )
    assert (group.events, group.first_seen, group.last_seen) == (12, T0, T0 + timedelta(minutes=5))
    assert (group.cause, group.fix) == explain(18456, 8, "203.0.113.9", "sql-a")
    assert group.hint.startswith("12 wrong-user/password failures from 203.0.113.9")
    assert group.key("error_state") == 8 and group.key("server_name") == "sql-a" and group.key("nope") is None


def test_missing_keys_read_as_empty_text_or_none() -> None:
    group = decode_group(_row(), COLUMNS)
    assert group.keys == (("principal", ""), ("client_ip", ""), ("error_number", None), ("error_state", None), ("server_name", ""))
    assert (group.cause, group.fix) == explain(None, None, "", "")
    assert group.hint == ""


def test_a_group_of_successful_logins_has_no_cause_fix_or_hint() -> None:
    columns = ("action_id", "error_number", "error_state", "events", "first_seen", "last_seen")
    group = decode_group(_row(action_id="DBAS", error_number=18456, error_state=8, events=50), columns)
    assert (group.cause, group.fix) == ("successful logins", "")
    failed = decode_group(_row(action_id="DBAF", error_number=18456, error_state=8, events=50), columns)
    assert failed.cause == explain(18456, 8)[0] and "password guessing" in failed.hint


@pytest.mark.parametrize("missing", ["events", "first_seen", "last_seen"])
def test_a_group_lacking_a_count_or_a_time_is_refused(missing: str) -> None:
    row = _row(principal="x")
    row[missing] = None
    with pytest.raises(AuditRowError) as info:
        decode_group(row, COLUMNS)
    assert info.value.message == "a summary row has no count or no first/last time"


def test_rows_zip_with_the_columns_strictly() -> None:
    columns = ("principal", "events", "first_seen", "last_seen")
    assert [g.key("principal") for g in decode_groups(columns, [["a", 1, T0, T0], ["b", 2, T0, T0]])] == ["a", "b"]
    with pytest.raises(ValueError):
        decode_groups(columns, [["a", 1, T0]])


def test_redaction_swaps_principal_and_address_keys_and_their_mentions_only() -> None:
    group = SummaryGroup(
        keys=(("principal", GUID), ("client_ip", "198.51.100.1"), ("server_name", "sql-a"), ("error_state", 8), ("application", "")),
        events=3,
        first_seen=T0,
        last_seen=T0,
        cause=f"cause for {GUID}",
        fix="allow 198.51.100.1 on sql-a",
        hint=f"check {GUID} from 198.51.100.1",
    )
    salt = b"s"
    p, ip = pseudonym(GUID, "principal", salt), pseudonym("198.51.100.1", "ip", salt)
    masked = group.redacted(salt)
    assert masked.keys == (("principal", p), ("client_ip", ip), ("server_name", "sql-a"), ("error_state", 8), ("application", ""))
    assert p.startswith("<principal-") and ip.startswith("<ip-")
    assert masked.cause == f"cause for {p}"
    assert masked.fix == f"allow {ip} on sql-a"
    assert masked.hint == f"check {p} from {ip}"
    assert (masked.events, masked.first_seen) == (3, T0)


def test_an_empty_key_is_not_redacted() -> None:
    group = SummaryGroup((("principal", ""), ("client_ip", None)), 1, T0, T0, "c", "f", "h")
    assert group.redacted(b"s").keys == (("principal", ""), ("client_ip", None))


def test_json_uses_the_keys_and_utc_times() -> None:
    group = SummaryGroup((("principal", "a"), ("error_state", 5)), 2, T0, T0 + timedelta(hours=1), "c", "f", "h")
    assert group.as_json() == {
        "type": "group",
        "principal": "a",
        "error_state": 5,
        "events": 2,
        "first_seen": "2026-11-25T12:00:00Z",
        "last_seen": "2026-11-25T13:00:00Z",
        "cause": "c",
        "fix": "f",
        "hint": "h",
    }


def test_the_summary_columns_the_decoder_leaves_out_are_kqls() -> None:
    assert (kql.SUMMARY_COUNT, kql.SUMMARY_FIRST, kql.SUMMARY_LAST) == ("events", "first_seen", "last_seen")


def test_a_group_without_address_or_server_columns_names_neither() -> None:
    columns = ("error_number", "error_state", "events", "first_seen", "last_seen")
    guessing = decode_group(_row(error_number=18456, error_state=8, events=20), columns)
    assert guessing.hint.startswith("20 wrong-user/password failures: likely")  # no " from ..."
    firewall = decode_group(_row(error_number=40615, error_state=1), columns)
    assert (firewall.cause, firewall.fix) == explain(40615, 1, "", "")
    assert "--server <server>" in firewall.fix and "<client-ip>" in firewall.fix


def test_the_server_key_reaches_the_fix() -> None:
    group = decode_group(_row(server_name="sql-a", client_ip="198.51.100.7", error_number=40615, error_state=1), COLUMNS)
    assert group.fix == explain(40615, 1, "198.51.100.7", "sql-a")[1]
    assert "--server sql-a " in group.fix and "--start-ip-address 198.51.100.7" in group.fix

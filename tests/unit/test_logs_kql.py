"""The KQL builder: the shapes it produces, and that no filter value can change a query's structure.

The literal decoder here is written from the Kusto ``string`` docs (double/single quotes with
backslash escapes, ``@`` verbatim with doubled quotes, ``h``/``H`` obfuscation prefix), not
imported from the builder, so the round trip checks the builder against the language's rules.
The same property is checked against Microsoft's own parser in tests/kusto.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azsqlctl.core.errors import UsageError
from azsqlctl.core.logs.kql import (
    DEFAULT_SUMMARY_KEYS,
    LIST_COLUMNS,
    RE_ERROR_CODE,
    RE_ERROR_STATE,
    RE_REASON_ERROR,
    RE_REASON_STATE,
    Filters,
    GroupKey,
    IngestionWindow,
    KqlQuery,
    LogsRequest,
    QueryKind,
    build_query,
    kusto_datetime,
    kusto_string,
)
from tests.property_budget import examples

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
_LITERAL_START = re.compile(r"[hH]?@?([\"'])")  # an optional obfuscation prefix, an optional verbatim @, the quote


def split_literals(query: str) -> tuple[str, list[str]]:
    """(query with every string literal replaced by ``<S>``, the decoded literal values). Fails on a bad literal."""
    out: list[str] = []
    values: list[str] = []
    i = 0
    while i < len(query):
        # The next place a literal can start (what is before it is copied as is): search finds it where trying each
        # position in turn would, without a Python step per character.
        m = _LITERAL_START.search(query, i)
        if m is None:
            out.append(query[i:])
            break
        start = m.start()
        out.append(query[i:start])
        i = start
        if i > 0 and (query[i - 1].isalnum() or query[i - 1] == "_") and query[i] in "hH":  # h of an identifier: no prefix
            out.append(query[i])
            i += 1
            continue
        quote, verbatim, j = m.group(1), "@" in m.group(), m.end()
        value: list[str] = []
        while True:
            assert j < len(query), "unterminated literal"
            c = query[j]
            assert c not in "\r\n", "line break inside a literal"
            if c == quote:
                if verbatim and query.startswith(quote, j + 1):
                    value.append(quote)
                    j += 2
                    continue
                j += 1
                break
            if c == "\\" and not verbatim:
                esc = query[j + 1]
                assert esc in _SIMPLE_ESCAPES, f"undocumented escape \\{esc}"
                value.append(_SIMPLE_ESCAPES[esc])
                j += 2
                continue
            value.append(c)
            j += 1
        out.append("<S>")
        values.append("".join(value))
        i = j
    return "".join(out), values


def _request(**filters: object) -> LogsRequest:
    return LogsRequest(since=T0, until=T0 + timedelta(hours=1), filters=Filters(**filters))  # type: ignore[arg-type]


def test_listing_shape() -> None:
    q = build_query(LogsRequest(since=T0))
    assert q.kind is QueryKind.LIST and q.columns == LIST_COLUMNS
    assert q.text.splitlines()[:4] == [
        "AzureDiagnostics",
        '| where Category == "SQLSecurityAuditEvents"',
        '| where action_id_s == "DBAF"',
        "| where event_time_t >= datetime(2026-11-25T12:00:00.000000Z)",
    ]
    assert "statement_s" not in q.text
    assert q.text.endswith("| sort by event_time_t asc, _ItemId asc")
    assert "ingested_at = ingestion_time()" in q.text


def test_all_events_adds_successful_logins() -> None:
    assert '| where action_id_s in ("DBAF", "DBAS")' in build_query(LogsRequest(since=T0, all_events=True)).text


def test_limit_keeps_the_newest_printed_oldest_first() -> None:
    lines = build_query(LogsRequest(since=T0, limit=25)).text.splitlines()
    assert lines[-3:] == ["| sort by event_time_t desc, _ItemId desc", "| take 25", "| sort by event_time_t asc, _ItemId asc"]


def test_statement_downloaded_only_when_hashes_are_asked_for() -> None:
    q = build_query(LogsRequest(since=T0, statement_hashes=True))
    assert q.columns[-1] == "statement_s" and "statement_s" in q.text


def test_filters() -> None:
    text = build_query(
        _request(server="srv1", database="db1", principal="app@x", client_ip="203.0.113.7", app="sqlcmd", error=18456, state=5)
    ).text
    assert '| where LogicalServerName_s =~ h"srv1"' in text
    assert '| where database_name_s =~ h"db1"' in text
    assert '| where server_principal_name_s =~ h"app@x"' in text
    assert '| where client_ip_s == h"203.0.113.7"' in text
    assert '| where application_name_s contains h"sqlcmd"' in text
    assert "| where error_number == 18456" in text and "| where error_state == 5" in text
    assert "event_time_t < datetime(2026-11-25T13:00:00.000000Z)" in text


def test_both_additional_information_forms_are_extracted_in_kusto() -> None:
    text = build_query(LogsRequest(since=T0)).text
    assert (
        'error_number = coalesce(toint(extract(@"<error_code>\\s*([0-9]+)\\s*</error_code>", 1, additional_information_s)), '
        'toint(extract(@"(?i)<failure_reason>\\s*Err\\s+([0-9]+)", 1, additional_information_s)))'
    ) in text
    assert (
        'error_state = coalesce(toint(extract(@"<error_state>\\s*([0-9]+)\\s*</error_state>", 1, additional_information_s)), '
        'toint(extract(@"(?i)<failure_reason>\\s*Err\\s+[0-9]+\\s*,\\s*Level\\s+[0-9]+\\s*,\\s*State\\s+([0-9]+)", 1, additional_information_s)))'
    ) in text


_LOGIN_INFO = "<login_information><error_code>18456</error_code><error_state>5</error_state></login_information>"
_REASON = "<failure_reason>Err 18456, Level 14, State 38, Login failed</failure_reason>"


@pytest.mark.parametrize(
    ("pattern", "info", "expected"),
    [
        (RE_ERROR_CODE, _LOGIN_INFO, "18456"),
        (RE_ERROR_STATE, _LOGIN_INFO, "5"),
        (RE_REASON_ERROR, _REASON, "18456"),
        (RE_REASON_STATE, _REASON, "38"),  # the State, not the Level (14)
        (RE_REASON_STATE, "<failure_reason>err 18456,Level 14,  state 8.</failure_reason>", "8"),
    ],
)
def test_extract_patterns_find_the_state_not_the_level(pattern: str, info: str, expected: str) -> None:
    """The regexes the builder puts in KQL (RE2 syntax, a subset of Python's) pick the right group."""
    assert f'@"{pattern}"' in build_query(LogsRequest(since=T0)).text
    m = re.search(pattern, info)
    assert m is not None and m.group(1) == expected


def test_follow_window_on_ingestion_time() -> None:
    q = build_query(LogsRequest(since=T0), IngestionWindow(T0, T0 + timedelta(seconds=30)))
    assert q.kind is QueryKind.FOLLOW
    assert (
        "| where ingestion_time() >= datetime(2026-11-25T12:00:00.000000Z) and ingestion_time() < datetime(2026-11-25T12:00:30.000000Z)"
        in q.text
    )


def test_summary_aggregates_in_kusto() -> None:
    q = build_query(LogsRequest(since=T0, summary_by=(GroupKey.PRINCIPAL, GroupKey.STATE), limit=10))
    assert q.kind is QueryKind.SUMMARY
    assert (
        "| summarize events = count(), first_seen = min(event_time_t), last_seen = max(event_time_t) by principal = server_principal_name_s, error_state"
        in q.text
    )
    assert q.text.splitlines()[-2:] == ["| sort by events desc, last_seen desc", "| take 10"]
    assert q.columns == ("principal", "error_state", "events", "first_seen", "last_seen")
    assert "project" not in q.text


def test_summary_defaults_and_all_events_splits_outcomes() -> None:
    q = build_query(LogsRequest(since=T0, summary_by=()))
    assert q.columns[: len(DEFAULT_SUMMARY_KEYS)] == ("principal", "client_ip", "error_number", "error_state")
    q = build_query(LogsRequest(since=T0, summary_by=(GroupKey.PRINCIPAL,), all_events=True))
    assert q.columns[:2] == ("action_id", "principal")


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (_request(client_ip="not-an-ip"), "bad_filter"),
        (_request(error=-1), "bad_filter"),
        (_request(state=True), "bad_filter"),
        (_request(principal="a\x00b"), "bad_filter"),
        (_request(app="a\u2028b"), "bad_filter"),
        (LogsRequest(since=T0, limit=0), "bad_limit"),
        (LogsRequest(since=T0, until=T0), "bad_window"),
    ],
)
def test_bad_inputs_are_usage_errors(request_: LogsRequest, code: str) -> None:
    with pytest.raises(UsageError) as info:
        build_query(request_)
    assert info.value.code == code


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        kusto_datetime(datetime(2026, 1, 1))


def test_kusto_string_escapes() -> None:
    assert kusto_string('a"b\\c\n\t\r') == 'h"a\\"b\\\\c\\n\\t\\r"'
    assert kusto_string("o'brien") == 'h"o\'brien"'


# Filter values: anything a user can type, control characters the builder refuses excluded.
_VALUE = st.text(st.characters(exclude_categories=["Cc", "Zl", "Zp", "Cs"], include_characters="\n\r\t"), max_size=30)
_HOSTILE = st.sampled_from(['"', "\\", '\\"', '" | take 1 //', "' or 1==1", '@"', "h'", '"""', "\n| union *", "*/", "```"])
_FILTER_VALUE = st.one_of(_VALUE, _HOSTILE, st.builds(lambda a, b, c: a + b + c, _VALUE, _HOSTILE, _VALUE))


def _structure(q: KqlQuery) -> str:
    return split_literals(q.text)[0]


@settings(max_examples=examples(300))
@given(server=_FILTER_VALUE, database=_FILTER_VALUE, principal=_FILTER_VALUE, app=_FILTER_VALUE, follow=st.booleans())
def test_no_filter_value_changes_the_query_structure(server: str, database: str, principal: str, app: str, follow: bool) -> None:
    window = IngestionWindow(T0, T0 + timedelta(minutes=1)) if follow else None
    hostile = build_query(_request(server=server, database=database, principal=principal, app=app), window)
    benign = build_query(_request(server="s", database="d", principal="p", app="a"), window)
    structure, values = split_literals(hostile.text)
    assert structure == _structure(benign)
    # the user's values come back exactly, in the order the filters are written
    assert values[2:6] == [server, database, principal, app]


@given(st.text(st.characters(exclude_categories=["Cc", "Zl", "Zp", "Cs"], include_characters="\n\r\t")))
def test_literal_round_trips(value: str) -> None:
    structure, values = split_literals(kusto_string(value))
    assert (structure, values) == ("<S>", [value])


@given(st.text(st.characters(categories=["Cc", "Zl", "Zp"], exclude_characters="\n\r\t"), min_size=1))
def test_unescapable_characters_are_refused(value: str) -> None:
    with pytest.raises(UsageError):
        kusto_string(value)

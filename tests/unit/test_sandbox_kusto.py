"""The sandbox's KQL evaluator: every query shape the builder emits runs with the right rows; the rest is refused."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azsqlctl.core.logs.kql import Filters, GroupKey, IngestionWindow, LogsRequest, build_query
from azsqlctl.sandbox.monitor.audit import COLUMNS
from azsqlctl.sandbox.monitor.kusto import INGESTION, KqlUnsupported, compile_query
from tests.property_budget import examples

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def row(i: int, principal: str = "alice", state: int = 5, action: str = "DBAF", ip: str = "203.0.113.7", form: int = 0) -> dict[str, Any]:
    t = (T0 + timedelta(minutes=i)).timestamp()
    info = (
        f"<login_information><error_code>18456</error_code><error_state>{state}</error_state></login_information>"
        if form == 0
        else f"<failure_reason>Err 18456, Level 14, State {state}, Login failed.</failure_reason>"
    )
    r: dict[str, Any] = dict.fromkeys(COLUMNS)
    r.update(
        _ItemId=f"id-{i:04d}", event_time_t=t, TimeGenerated=t, _TimeReceived=t + 30, action_id_s=action, Category="SQLSecurityAuditEvents",
        server_principal_name_s=principal, client_ip_s=ip, application_name_s="sqlcmd 18.2", database_name_s="appdb",
        LogicalServerName_s="srv", additional_information_s="" if action == "DBAS" else info, statement_s="SELECT 1",
    )  # fmt: skip
    r[INGESTION] = t + 30
    return r


def run(text: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return compile_query(text, dict(COLUMNS), (T0 + timedelta(days=1)).timestamp()).run([dict(r) for r in rows])


ROWS = [row(i, principal=p, state=s, form=i % 2) for i, (p, s) in enumerate(itertools.product(["alice", "Bob", "carol"], [5, 8, 132]))]
ROWS += [row(100, principal="alice", action="DBAS")]


def test_listing_extracts_error_and_state_from_both_forms_and_sorts() -> None:
    q = build_query(LogsRequest(since=T0))
    out = run(q.text, ROWS)
    assert list(out[0]) == list(q.columns)
    assert len(out) == 9 and {r["error_number"] for r in out} == {18456}
    assert sorted(r["error_state"] for r in out) == sorted([5, 8, 132] * 3)
    assert [r["event_time_t"] for r in out] == sorted(r["event_time_t"] for r in out)
    assert "statement_s" not in out[0]


def test_filters_limit_all_events_and_windows() -> None:
    f = Filters(principal="BOB", state=8, client_ip="203.0.113.7", app="SQLCMD", database="APPDB")
    out = run(build_query(LogsRequest(since=T0, filters=f)).text, ROWS)
    assert [(r["server_principal_name_s"], r["error_state"]) for r in out] == [("Bob", 8)]
    assert len(run(build_query(LogsRequest(since=T0, all_events=True)).text, ROWS)) == 10
    newest = run(build_query(LogsRequest(since=T0, limit=2)).text, ROWS)
    assert [r["_ItemId"] for r in newest] == ["id-0007", "id-0008"]  # the newest two, oldest first
    assert len(run(build_query(LogsRequest(since=T0 + timedelta(minutes=4), until=T0 + timedelta(minutes=6))).text, ROWS)) == 2
    window = IngestionWindow(T0 + timedelta(minutes=2, seconds=30), T0 + timedelta(minutes=4, seconds=30))
    assert [r["_ItemId"] for r in run(build_query(LogsRequest(since=T0), window).text, ROWS)] == ["id-0002", "id-0003"]


def test_summary_groups_in_kusto() -> None:
    q = build_query(LogsRequest(since=T0, summary_by=(GroupKey.STATE,)))
    out = run(q.text, ROWS)
    assert list(out[0]) == list(q.columns)
    assert {r["error_state"]: r["events"] for r in out} == {5: 3, 8: 3, 132: 3}
    first = next(r for r in out if r["error_state"] == 5)
    assert first["first_seen"] == ROWS[0]["event_time_t"] and first["last_seen"] == ROWS[6]["event_time_t"]
    all_keys = build_query(LogsRequest(since=T0, all_events=True, summary_by=tuple(GroupKey), limit=3))
    assert len(run(all_keys.text, ROWS)) == 3


@pytest.mark.parametrize(
    "text",
    [
        "Usage | take 1",
        "AzureDiagnostics | join (X) on Y",
        "AzureDiagnostics | where parse_json(x) == 1",
        "AzureDiagnostics | summarize avg(session_id_d) by Category",
        "AzureDiagnostics | where no_such_column == 1",
        "AzureDiagnostics | take",
        'AzureDiagnostics | where Category == "x',
    ],
)
def test_anything_else_is_refused_not_empty(text: str) -> None:
    with pytest.raises(KqlUnsupported):
        run(text, ROWS)


@settings(max_examples=examples(150), deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")) | st.sampled_from(['"', "\\", "'", "|", "\n", "\t"]),
               min_size=1, max_size=30))  # fmt: skip
def test_filter_values_round_trip_as_literals(name: str) -> None:
    """Whatever the principal's name, the query filters on exactly that name (case-insensitively): a value cannot change the query."""
    rows = [row(1, principal=name), row(2, principal=name + "x"), row(3, principal="other")]
    out = run(build_query(LogsRequest(since=T0, filters=Filters(principal=name))).text, rows)
    assert [r["_ItemId"] for r in out] == [r["_ItemId"] for r in rows if r["server_principal_name_s"].lower() == name.lower()]

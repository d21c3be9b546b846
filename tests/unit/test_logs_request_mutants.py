"""logs/request.py: every option rule of ``azsqlctl logs`` as one request -> plan (or one UsageError), to the
letter: which options combine, the numbers, the summary keys, follow's durations, the target and a fleet's plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from azsqlctl.core.errors import ExitCode, UsageError
from azsqlctl.core.logs import kql
from azsqlctl.core.logs.follow import FollowSettings
from azsqlctl.core.logs.ports import LogsTarget
from azsqlctl.core.logs.request import LogsOptions, LogsPlan, View, check_workspace_guid, given_target, number, plan_logs, summary_keys
from azsqlctl.core.settings import SettingsInput, resolve_settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WS = "11111111-1111-4111-8111-111111111111"
RES = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/sql-a"


def _opts(**kw: object) -> LogsOptions:
    return LogsOptions(target=SettingsInput(), **kw)  # type: ignore[arg-type]


def _refused(**kw: object) -> UsageError:
    with pytest.raises(UsageError) as info:
        plan_logs(_opts(**kw), NOW)
    assert info.value.exit_code == ExitCode.USAGE
    return info.value


def test_the_options_defaults() -> None:
    o = _opts()
    assert (o.interval, o.late_bound, o.overlap) == ("30s", "15m", "5s")
    assert (o.follow, o.all_events, o.summary, o.redact, o.show_query) == (False, False, False, False, False)
    assert (o.workspace, o.resource, o.since, o.by, o.limit, o.policy) == (None, None, None, None, None, None)
    assert [v.value for v in View] == ["list", "summary", "follow"]


def test_a_plain_listing() -> None:
    plan = plan_logs(_opts(), NOW)
    assert plan.view is View.LIST
    assert plan.request == kql.LogsRequest(since=NOW - timedelta(hours=1), until=None, filters=kql.Filters(), limit=None, summary_by=None)
    assert plan.follow == FollowSettings(timedelta(seconds=30), timedelta(seconds=5), timedelta(minutes=15))
    assert plan.first_window(NOW) is None


def test_filters_numbers_and_the_window_reach_the_request() -> None:
    plan = plan_logs(
        _opts(since="2h", until="1h", database="db", principal="p", client_ip="10.0.0.1", app="a", error=" 18456 ", state="8",
              all_events=True, limit="5"),
        NOW,
    )  # fmt: skip
    assert plan.request == kql.LogsRequest(
        since=NOW - timedelta(hours=2),
        until=NOW - timedelta(hours=1),
        filters=kql.Filters(server=None, database="db", principal="p", client_ip="10.0.0.1", app="a", error=18456, state=8),
        all_events=True,
        limit=5,
    )


def test_summary_and_follow_views() -> None:
    summary = plan_logs(_opts(summary=True, by="state"), NOW)
    assert summary.view is View.SUMMARY and summary.request.summary_by == (kql.GroupKey.STATE,)
    assert plan_logs(_opts(summary=True), NOW).request.summary_by == kql.DEFAULT_SUMMARY_KEYS
    follow = plan_logs(_opts(follow=True, interval="1m", overlap="10s", late_bound="0s"), NOW)
    assert follow.view is View.FOLLOW
    assert follow.follow == FollowSettings(timedelta(minutes=1), timedelta(seconds=10), timedelta(0))
    assert follow.first_window(NOW) == kql.IngestionWindow(NOW - timedelta(hours=1, seconds=10), NOW)


@pytest.mark.parametrize(
    ("kw", "message", "hint", "code"),
    [
        ({"workspace": WS, "resource": RES}, "--workspace and --resource do not combine", "give one: a workspace id, or a resource id", "bad_target"),
        ({"follow": True, "summary": True}, "--follow and --summary do not combine", "use one of them", "bad_view"),
        ({"by": "state"}, "--by needs --summary", "e.g. --summary --by principal,state", "bad_view"),
        ({"policy": Path("p.yaml"), "workspace": WS}, "--policy finds the workspaces; --workspace and --resource would be ignored",
         "drop them (or --policy)", "conflict"),
        ({"policy": Path("p.yaml"), "resource": RES}, "--policy finds the workspaces; --workspace and --resource would be ignored",
         "drop them (or --policy)", "conflict"),
        ({"follow": True, "limit": "3"}, "--limit does not combine with --follow", "drop --limit", "bad_view"),
        ({"error": "x"}, "--error takes a whole number, not 'x'", "e.g. --error 18456", "bad_number"),
        ({"state": "-1"}, "--state takes a whole number, not '-1'", "e.g. --state 5", "bad_number"),
        ({"limit": "0"}, "--limit takes a positive whole number, not '0'", "e.g. --limit 100", "bad_number"),
        ({"interval": "1ms"}, "--interval '1ms' is outside 100ms..1d", "pass a duration from 100ms to 1d", "bad_duration"),
        ({"overlap": "2d"}, "--overlap '2d' is outside 0s..1d", "pass a duration from 0s to 1d", "bad_duration"),
        ({"late_bound": "8d"}, "--late-bound '8d' is outside 0s..7d", "pass a duration from 0s to 7d", "bad_duration"),
    ],
)  # fmt: skip
def test_refusals(kw: dict[str, object], message: str, hint: str, code: str) -> None:
    err = _refused(**kw)
    assert (err.message, err.hint, err.code) == (message, hint, code)


def test_a_bad_workspace_is_refused_before_the_combination_check() -> None:
    err = _refused(workspace="nope", resource=RES)
    assert err.code == "bad_workspace"
    assert plan_logs(_opts(workspace=WS), NOW).view is View.LIST
    assert plan_logs(_opts(resource=RES), NOW).view is View.LIST
    assert plan_logs(_opts(policy=Path("p.yaml")), NOW).options.policy == Path("p.yaml")


def test_numbers() -> None:
    assert number(None, "--x", "1") is None
    assert number(" 7 ", "--x", "1") == 7
    assert number("0", "--x", "1") == 0
    assert number("1", "--x", "1", positive=True) == 1
    for bad in ("", "1.5", "+1", "٣", "1e3"):  # "٣": a digit, but not ASCII
        with pytest.raises(UsageError) as info:
            number(bad, "--x", "9")
        assert info.value.message == f"--x takes a whole number, not {bad!r}" and info.value.hint == "e.g. --x 9"


def test_summary_keys() -> None:
    assert summary_keys(None) == kql.DEFAULT_SUMMARY_KEYS
    assert summary_keys(" Principal , state,,SERVER ") == (kql.GroupKey.PRINCIPAL, kql.GroupKey.STATE, kql.GroupKey.SERVER)
    with pytest.raises(UsageError) as info:
        summary_keys("principal,colour")
    assert info.value.message == "--by 'colour' is not a summary key"
    assert info.value.hint == "use any of: principal, error, state, client_ip, app, database, server, action"
    assert info.value.code == "bad_by"
    for empty in ("", " , "):
        with pytest.raises(UsageError) as info:
            summary_keys(empty)
        assert (info.value.message, info.value.hint, info.value.code) == ("--by names no key", "e.g. --by principal,state", "bad_by")


def test_workspace_guid() -> None:
    check_workspace_guid(WS)
    check_workspace_guid(f" {WS.upper()} ")
    with pytest.raises(UsageError) as info:
        check_workspace_guid("nope")
    assert info.value.message == "--workspace 'nope' is not a GUID"
    assert info.value.hint == (
        "pass the workspace's customer id (az monitor log-analytics workspace show -g RG -n NAME --query customerId), "
        "or leave --workspace out to find it from the server's diagnostic setting"
    )
    assert info.value.code == "bad_workspace"


def test_given_target() -> None:
    none = resolve_settings(SettingsInput(), {}, Path("/nonexistent"))
    server = resolve_settings(SettingsInput(server="sql-a"), {}, Path("/nonexistent"))
    assert given_target(none, f" {WS} ", None) == LogsTarget(workspace_id=WS)
    assert given_target(none, None, RES + "/") == LogsTarget(resource_id=RES)
    assert given_target(none, None, RES.upper()) == LogsTarget(resource_id=RES.upper())
    assert given_target(none, None, RES.upper() + "X/") == LogsTarget(resource_id=RES.upper() + "X")  # only the slash is cut
    assert given_target(server, None, None) is None
    assert given_target(server, WS, RES) == LogsTarget(workspace_id=WS)
    with pytest.raises(UsageError) as info:
        given_target(none, None, "sql-a")
    assert info.value.message == "--resource 'sql-a' is not an ARM resource id"
    assert info.value.hint == "e.g. /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Sql/servers/<server>"
    assert info.value.code == "bad_target"
    with pytest.raises(UsageError) as info:
        given_target(none, None, None)
    assert info.value.message == "no server, workspace or resource given"
    assert info.value.hint == ("pass --server (the workspace is found from its diagnostic setting), --workspace GUID or --resource ARM_ID")
    assert info.value.code == "no_target"


SCOPES = (kql.ServerScope("sql-a", ("db1",)), kql.ServerScope("sql-b"))


def test_a_fleet_summary_counts_18456_per_principal_server_database_state() -> None:
    plan = plan_logs(_opts(summary=True), NOW).for_fleet(SCOPES)
    assert plan.request.filters.scopes == SCOPES and plan.request.filters.error == 18456
    assert plan.request.summary_by == (kql.GroupKey.PRINCIPAL, kql.GroupKey.SERVER, kql.GroupKey.DATABASE, kql.GroupKey.STATE)
    assert plan.view is View.SUMMARY


def test_a_fleet_plan_keeps_what_the_options_said() -> None:
    chosen = plan_logs(_opts(summary=True, by="client_ip", error="4060"), NOW).for_fleet(SCOPES)
    assert chosen.request.filters.error == 4060 and chosen.request.summary_by == (kql.GroupKey.CLIENT_IP,)
    listing = plan_logs(_opts(), NOW).for_fleet(SCOPES)
    assert listing.request.filters.error is None and listing.request.summary_by is None
    assert listing.request.filters.scopes == SCOPES
    follow = plan_logs(_opts(follow=True, state="8"), NOW).for_fleet(SCOPES)
    assert follow.request.filters.state == 8 and follow.request.filters.error is None and follow.view is View.FOLLOW


def test_retention_is_checked_against_the_same_window() -> None:
    plan = plan_logs(_opts(since="40d"), NOW)
    plan.check_retention(NOW, timedelta(days=40))
    with pytest.raises(UsageError) as info:
        plan.check_retention(NOW, timedelta(days=30))
    assert info.value.code == "beyond_retention"
    times = plan_logs(_opts(since_time="2026-11-20T00:00:00Z", until="2026-11-21T00:00:00Z"), NOW)
    times.check_retention(NOW, timedelta(days=6))
    with pytest.raises(UsageError):
        times.check_retention(NOW, timedelta(days=5))
    with pytest.raises(UsageError) as info:  # the until is read too: here it is not after since
        replace(times, options=replace(times.options, until="2026-11-19T00:00:00Z")).check_retention(NOW, timedelta(days=30))
    assert info.value.code == "bad_window"


def test_a_plan_is_its_parts() -> None:
    plan = plan_logs(_opts(), NOW)
    assert plan == LogsPlan(plan.options, plan.request, plan.follow, View.LIST)

"""logs/ports.py's small behaviours (where a target points, the ids built from a server) and logs/partial.py's
warning sentences to the letter: what a user reads when rows are missing."""

from __future__ import annotations

from datetime import timedelta

from azsqlctl.core.errors import ConnectionFailed, ExitCode
from azsqlctl.core.logs.follow import FailureKind
from azsqlctl.core.logs.partial import PartialWarning, partial_warning
from azsqlctl.core.logs.ports import AuditingPolicy, LogsTarget, PartialFailure, PartialReason, PollFailed, QueryResult, ServerRef

WS1 = "11111111-1111-4111-8111-111111111111"
WS2 = "22222222-2222-4222-8222-222222222222"
WS3 = "33333333-3333-4333-8333-333333333333"
RES = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/sql-b"


# --- ports ------------------------------------------------------------------------------------------------


def test_a_target_names_its_workspace_or_resource_and_how_it_was_found() -> None:
    assert LogsTarget(workspace_id=WS1).display == f"workspace {WS1}"
    assert LogsTarget(resource_id=RES).display == f"resource {RES}"
    assert LogsTarget(workspace_id=WS1, via="diagnostic setting 'a' on s/master").display == (
        f"workspace {WS1} (found through the diagnostic setting 'a' on s/master)"
    )
    assert LogsTarget(workspace_id=WS1, additional_workspaces=(WS2, WS3)).display == f"workspaces {WS1}, {WS2}, {WS3}"
    assert LogsTarget(workspace_id=WS1, additional_workspaces=(WS2,), via="policy").display == (
        f"workspaces {WS1}, {WS2} (found through the policy)"
    )


def test_the_servers_of_a_workspace_match_it_in_any_case() -> None:
    target = LogsTarget(workspace_id=WS1, audited_by=((WS1, ("a",)), (WS2.upper(), ("b", "c"))))
    assert target.servers_of(WS1.upper()) == ("a",)
    assert target.servers_of(WS2) == ("b", "c")
    assert target.servers_of(WS3) == ()
    assert LogsTarget().servers_of(WS1) == ()


def test_the_defaults_of_a_target_and_a_result() -> None:
    target = LogsTarget()
    assert (target.workspace_id, target.resource_id, target.retention, target.via) == ("", "", None, "")
    assert (target.additional_workspaces, target.audited_by) == ((), ())
    assert QueryResult(("a",), [[1]]).partial == ()


def test_auditing_is_enabled_by_its_state_in_any_case() -> None:
    assert AuditingPolicy("Enabled", False).enabled
    assert AuditingPolicy("ENABLED", True).enabled
    assert not AuditingPolicy("Disabled", True).enabled
    policy = AuditingPolicy("Enabled", True)
    assert (policy.action_groups, policy.retention_days) == ((), 0)


def test_a_servers_arm_ids() -> None:
    ref = ServerRef("sub-1", "rg-1", "sql-a")
    assert ref.arm_id == "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Sql/servers/sql-a"
    assert ref.master_id == "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Sql/servers/sql-a/databases/master"


def test_a_failed_poll_is_a_connection_failure_with_a_retry_hint() -> None:
    failed = PollFailed("throttled", FailureKind.THROTTLED, 429, timedelta(seconds=3))
    assert isinstance(failed, ConnectionFailed) and failed.exit_code == ExitCode.CONNECTION
    assert (failed.message, failed.kind, failed.status, failed.retry_after) == (
        "throttled",
        FailureKind.THROTTLED,
        429,
        timedelta(seconds=3),
    )
    assert failed.hint == "retry later; --debug shows the HTTP exchange"
    assert failed.code == "logs_unavailable"
    plain = PollFailed("down", FailureKind.NETWORK)
    assert (plain.status, plain.retry_after) == (0, None)
    custom = PollFailed("x", FailureKind.SERVER, 503, hint="wait", code="other")
    assert (custom.hint, custom.code) == ("wait", "other")


def test_partial_reasons_are_stable_names() -> None:
    assert [r.value for r in PartialReason] == ["no_access", "not_found", "incomplete"]


# --- partial ----------------------------------------------------------------------------------------------


def test_a_refused_workspace_in_full() -> None:
    warning = partial_warning([PartialFailure(WS1, PartialReason.NO_ACCESS, "denied. ")])
    assert warning == PartialWarning(
        f"Some rows are missing. Workspace {WS1} was left out because this identity may not read it (denied). The rows shown "
        "come from the other workspace(s) only; to include it, give the identity the Log Analytics Reader role on "
        f"workspace {WS1} and run the command again.",
        (WS1,),
    )


def test_an_unknown_workspace_in_full_with_one_server_named() -> None:
    target = LogsTarget(workspace_id=WS1, audited_by=((WS1, ("sql-a",)),))
    warning = partial_warning([PartialFailure(WS1, PartialReason.NOT_FOUND, "")], target)
    assert warning is not None
    assert warning.message == (
        f"Some rows are missing. Workspace {WS1} (where sql-a sends failed logins) was left out because Log Analytics does not "
        "know it (no detail given). The rows shown come from the other workspace(s) only; a server's diagnostic setting may "
        "still send to a deleted workspace: check it with azsqlctl logs status --server sql-a."
    )


def test_an_unknown_workspace_of_two_servers_names_no_single_server() -> None:
    target = LogsTarget(workspace_id=WS1, audited_by=((WS1, ("sql-a", "sql-b")),))
    warning = partial_warning([PartialFailure(WS1, PartialReason.NOT_FOUND, "gone")], target)
    assert warning is not None
    assert f"Workspace {WS1} (where sql-a, sql-b send failed logins) was left out" in warning.message
    assert warning.message.endswith("azsqlctl logs status --server SERVER.")


def test_a_cut_short_result_in_full() -> None:
    target = LogsTarget(workspace_id=WS1, audited_by=((WS2, ("sql-z",)),))
    warning = partial_warning([PartialFailure(WS2, PartialReason.INCOMPLETE, "timeout.")], target)
    assert warning is not None
    assert warning.message == (
        f"Some rows are missing. Log Analytics returned only part of the rows from workspace {WS2} (where sql-z sends failed "
        "logins) (timeout). The rows shown are that part; narrow the query (--since, --database, --principal) and run it "
        "again for all of them."
    )
    whole = partial_warning([PartialFailure("", PartialReason.INCOMPLETE, "x")], target)
    assert whole is not None and "from the query (x)." in whole.message and whole.workspaces == ("",)


def test_a_resource_is_called_a_resource_and_capitalised_as_the_subject() -> None:
    warning = partial_warning([PartialFailure(RES, PartialReason.NO_ACCESS, "no")])
    assert warning is not None
    assert warning.message.startswith(f"Some rows are missing. Resource {RES} was left out")
    assert f"Reader role on resource {RES} and run" in warning.message


def test_each_workspace_is_listed_once_in_the_order_asked() -> None:
    failures = [
        PartialFailure(WS2, PartialReason.INCOMPLETE, "a"),
        PartialFailure(WS1, PartialReason.NO_ACCESS, "b"),
        PartialFailure(WS2, PartialReason.NOT_FOUND, "c"),
    ]
    warning = partial_warning(failures)
    assert warning is not None and warning.workspaces == (WS2, WS1)
    assert warning.message.count("Some rows are missing.") == 1
    assert ". Workspace " in warning.message  # the sentences are joined by one space
    assert warning.as_json() == {"type": "warning", "code": "partial_result", "message": warning.message, "workspaces": [WS2, WS1]}
    assert partial_warning([]) is None


def test_only_trailing_full_stops_and_blanks_are_cut_from_the_detail() -> None:
    warning = partial_warning([PartialFailure(WS1, PartialReason.INCOMPLETE, "row limit reached: MAX. ")])
    assert warning is not None and "(row limit reached: MAX)." in warning.message

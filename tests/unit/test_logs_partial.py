"""The partial-result warning: which workspace(s), why, and what to do, in a user's words (no SDK names)."""

from __future__ import annotations

from azsqlctl.core.logs.partial import partial_warning
from azsqlctl.core.logs.ports import PartialFailure, PartialReason

LOCKED = "4d3e2f10-2222-4333-8444-a55566667777"
GONE = "9f9f9f9f-0000-4000-8000-000000000000"
DENIED = "Log Analytics answered 403 InsufficientAccessError: The provided credentials have insufficient access to perform the requested operation"


def test_nothing_missing_is_no_warning() -> None:
    assert partial_warning(()) is None


def test_a_workspace_the_identity_may_not_read_is_named_with_the_role_that_fixes_it() -> None:
    warning = partial_warning([PartialFailure(LOCKED, PartialReason.NO_ACCESS, DENIED)])
    assert warning is not None and warning.workspaces == (LOCKED,)
    assert warning.message == (
        f"Some rows are missing. Workspace {LOCKED} was left out because this identity may not read it ({DENIED}). "
        "The rows shown come from the other workspace(s) only; to include it, give the identity the Log Analytics Reader "
        f"role on workspace {LOCKED} and run the command again."
    )
    assert warning.as_json() == {"type": "warning", "code": "partial_result", "message": warning.message, "workspaces": [LOCKED]}


def test_every_workspace_left_out_is_named_once_each_with_its_own_reason() -> None:
    warning = partial_warning(
        [
            PartialFailure(LOCKED, PartialReason.NO_ACCESS, DENIED),
            PartialFailure(
                GONE, PartialReason.NOT_FOUND, "Log Analytics answered 404 WorkspaceNotFoundError: The workspace could not be found."
            ),
        ]
    )
    assert warning is not None and warning.workspaces == (LOCKED, GONE)
    assert f"Workspace {GONE} was left out because Log Analytics does not know it" in warning.message
    assert "azsqlctl logs status --server SERVER" in warning.message
    assert "could not be found). " in warning.message and ".)" not in warning.message  # the service's full stop ends no parenthesis


def test_a_result_the_service_cut_short_says_what_is_shown_and_how_to_get_the_rest() -> None:
    cut = PartialFailure("", PartialReason.INCOMPLETE, "There were some errors when processing your query.")
    warning = partial_warning([cut])
    assert warning is not None
    assert warning.message.startswith("Some rows are missing. Log Analytics returned only part of the rows from the query (")
    assert "--since" in warning.message and "PARTIAL" not in warning.message
    resource = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/sql-b"
    shown = partial_warning([PartialFailure(resource, PartialReason.INCOMPLETE, "x")])
    assert shown is not None and f"from resource {resource} (x)" in shown.message


def test_a_policys_workspace_is_named_with_the_servers_that_audit_to_it() -> None:
    from azsqlctl.core.logs.ports import LogsTarget

    target = LogsTarget(
        workspace_id="first",
        additional_workspaces=(LOCKED, GONE),
        audited_by=(("first", ("sql-a",)), (LOCKED, ("sql-b", "sql-c")), (GONE, ("sql-d",))),
    )
    failures = [
        PartialFailure(LOCKED, PartialReason.NO_ACCESS, DENIED),
        PartialFailure(GONE, PartialReason.NOT_FOUND, "Log Analytics answered 404 WorkspaceNotFoundError: gone"),
    ]
    warning = partial_warning(failures, target)
    assert warning is not None
    assert (
        f"Workspace {LOCKED} (where sql-b, sql-c send failed logins) was left out because this identity may not read it" in warning.message
    )
    assert f"Log Analytics Reader role on workspace {LOCKED} and run" in warning.message
    assert f"Workspace {GONE} (where sql-d sends failed logins) was left out" in warning.message
    assert "azsqlctl logs status --server sql-d." in warning.message

"""core/grant/entra_admin.py: grant's server-level step - keep, update, set, replace or refuse the Entra admin."""

from __future__ import annotations

from azsqlctl.core.grant.entra_admin import ADMIN_TYPES, AdminSpec, plan_entra_admin, resolve_wanted

SID = "6f1a2b3c-4d5e-4f60-8172-839495a6b7c8"
OTHER = "00112233-4455-6677-8899-aabbccddeeff"


def test_the_three_admin_types() -> None:
    assert ADMIN_TYPES == ("Group", "User", "Application")
    assert AdminSpec("a", SID).principal_type == "Group"


def test_a_given_type_is_kept() -> None:
    wanted = AdminSpec("ops", SID, "User")
    assert resolve_wanted(AdminSpec("ops", SID, "Application"), wanted) is wanted


def test_an_untyped_admin_keeps_the_current_type_of_the_same_sid_else_is_a_group() -> None:
    assert resolve_wanted(AdminSpec("ops", SID.upper(), "User"), AdminSpec("new", SID, "")).principal_type == "User"
    assert resolve_wanted(AdminSpec("ops", OTHER, "User"), AdminSpec("new", SID, "")).principal_type == "Group"
    assert resolve_wanted(None, AdminSpec("new", SID, "")).principal_type == "Group"
    # ARM reported no usable type: a Group, never the junk
    assert resolve_wanted(AdminSpec("ops", SID, "unknown"), AdminSpec("new", SID, "")).principal_type == "Group"
    assert resolve_wanted(AdminSpec("ops", SID, "User"), AdminSpec("new", SID, "")).login == "new"


def test_same_sid_same_login_and_type_is_unchanged() -> None:
    assert plan_entra_admin(AdminSpec("ops", SID.upper(), "User"), AdminSpec("ops", SID, ""), False) == (
        "unchanged",
        f"no changes: the Entra admin is already ops (User {SID.upper()})",
    )
    # an unreported type cannot differ
    assert plan_entra_admin(AdminSpec("ops", SID, ""), AdminSpec("ops", SID, "User"), False)[0] == "unchanged"


def test_same_sid_with_another_login_or_type_is_an_update_without_replace() -> None:
    assert plan_entra_admin(AdminSpec("ops", SID, "User"), AdminSpec("ops2", SID, "Group"), False) == (
        "update",
        f"update the Entra admin {SID}: login ops -> ops2, type User -> Group",
    )
    assert plan_entra_admin(AdminSpec("ops", SID, "User"), AdminSpec("ops", SID, "Group"), False) == (
        "update",
        f"update the Entra admin {SID}: type User -> Group",
    )
    assert plan_entra_admin(AdminSpec("ops", SID, "Group"), AdminSpec("ops2", SID, "Group"), False) == (
        "update",
        f"update the Entra admin {SID}: login ops -> ops2",
    )


def test_no_admin_yet_is_set() -> None:
    assert plan_entra_admin(None, AdminSpec("ops", SID, ""), False) == (
        "set",
        f"set the Entra admin to ops (Group {SID}); the server has none",
    )


def test_another_sid_is_refused_unless_replace_is_passed() -> None:
    current = AdminSpec("old", OTHER, "User")
    assert plan_entra_admin(current, AdminSpec("ops", SID, "Group"), False) == (
        "refuse",
        f"the server's Entra admin is old (User {OTHER}), not ops: replacing it locks that admin out; "
        "pass --replace-admin if that is intended",
    )
    assert plan_entra_admin(current, AdminSpec("ops", SID, "Group"), True) == (
        "replace",
        f"replace the Entra admin old ({OTHER}) with ops (Group {SID})",
    )

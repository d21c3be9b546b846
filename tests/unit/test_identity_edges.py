"""identity.py's edges the rule tests leave open: missing claims, surrogates, ARM bodies with fields missing."""

from __future__ import annotations

import pytest

from azsqlctl.core.identity import KIND_HELP, IdentitySpec, Kind, TokenIdentity, identity_from_claims, identity_from_resource, name_problems

APP = "6e3f0a4e-1b2c-4d5e-8f90-123456789abc"
OBJ = "0b2c3d4e-5f60-4a1b-8c9d-0e1f2a3b4c5d"
ARM = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/shopX"


def test_the_kind_help_names_every_way_to_say_who() -> None:
    assert KIND_HELP.startswith("pass --type app with --client-id (a managed identity or service principal: its client id is its SID; ")
    for option in ("--object-id", "--type user", "--type group", "--identity-resource ARM_ID"):
        assert option in KIND_HELP


def test_missing_claims_are_empty_never_invented() -> None:
    assert identity_from_claims({"exp": 7}) == TokenIdentity("", "", "", "app", "", "", 7, ())


def test_a_lone_surrogate_is_a_control_character_in_a_name() -> None:
    assert name_problems("app\ud800") == ["the name contains control characters"]
    assert name_problems("app\u200e") == ["the name contains control characters"]  # Cf: a direction mark


def test_a_resource_without_a_name_is_named_by_its_ids_last_segment() -> None:
    body = {"type": "Microsoft.Web/sites", "identity": {"type": "SystemAssigned", "principalId": OBJ}}
    assert identity_from_resource(ARM + "/", body).name == "shopX"
    assert identity_from_resource(ARM, body) == IdentitySpec("shopX", Kind.APP, "", OBJ, source=ARM)


def test_a_user_assigned_identity_without_a_principal_id_has_no_object_id() -> None:
    body = {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "name": "mi", "properties": {"clientId": APP}}
    assert identity_from_resource("/x/mi", body) == IdentitySpec("mi", Kind.APP, APP, "", source="/x/mi")


@pytest.mark.parametrize(
    "kinds", ["SystemAssigned", "SystemAssigned, UserAssigned", "System Assigned", "System,Assigned", "systemassigned"]
)
def test_the_system_assigned_type_is_read_ignoring_case_spaces_and_commas(kinds: str) -> None:
    body = {"type": "Microsoft.Web/sites", "name": "web", "identity": {"type": kinds, "principalId": OBJ}}
    assert identity_from_resource(ARM, body).object_id == OBJ


def test_only_user_assigned_identities_name_them_in_the_refusal() -> None:
    body = {"name": "web", "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/ids/b": {}, "/ids/a": {}}}}
    with pytest.raises(ValueError) as info:
        identity_from_resource(ARM, body)
    assert str(info.value) == (
        "the resource web has no system-assigned identity; it uses user-assigned ones: pass --identity-resource with one of /ids/a, /ids/b"
    )
    with pytest.raises(ValueError, match=r"^Microsoft\.Web/sites web has no system-assigned identity"):
        identity_from_resource(ARM, {**body, "type": "Microsoft.Web/sites"})


def test_every_spelling_uuid_reads_gives_the_same_sid() -> None:
    from azsqlctl.core.identity import sid_bytes

    hexdigits = APP.replace("-", "")
    # 36 characters but not 8-4-4-4-12: the byte-swapping fast path must not take it
    assert sid_bytes(hexdigits + "----") == sid_bytes(APP) == sid_bytes("{" + APP.upper() + "}")

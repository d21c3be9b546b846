"""identity.py's rules with exact answers: SIDs, claims, names, validation and ARM resources."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azsqlctl.core.identity import (
    MAX_NAME,
    IdentitySpec,
    Kind,
    TokenIdentity,
    hex_sid,
    identity_from_claims,
    identity_from_resource,
    name_problems,
    sid_bytes,
    sid_guid,
    sid_hex,
    sid_label,
    sid_of,
    validate_identity,
)

APP = "6e3f0a4e-1b2c-4d5e-8f90-123456789abc"
OBJ = "0b2c3d4e-5f60-4a1b-8c9d-0e1f2a3b4c5d"
APP_HEX = "0x4E0A3F6E2C1B5E4D8F90123456789ABC"


def test_sids() -> None:
    assert sid_of("app", APP, OBJ) == APP and sid_of("user", APP, OBJ) == OBJ and sid_of("group", "", OBJ) == OBJ
    assert sid_bytes(APP).hex().upper() == APP_HEX[2:] and sid_hex(APP) == APP_HEX
    assert hex_sid(b"\x01\xab") == "0x01AB"
    assert sid_guid(sid_bytes(APP)) == APP
    assert sid_guid(None) == "" and sid_guid(b"\x01" * 15) == "" and sid_guid(b"\x01" * 17) == ""
    assert sid_label("app") == "client id" and sid_label("user") == "object id"


def test_identity_spec_properties() -> None:
    app = IdentitySpec("api", "app", APP, OBJ, source="/x")
    assert (app.sid, app.sid_hex, app.sid_label, app.other_id, app.user_type) == (APP, APP_HEX, "client id", OBJ, "E")
    assert app.as_dict() == {
        "name": "api",
        "type": "app",
        "client_id": APP,
        "object_id": OBJ,
        "sid": APP,
        "sid_hex": APP_HEX,
        "source": "/x",
    }
    group = IdentitySpec("ops", "group", object_id=OBJ)
    assert (group.sid, group.other_id, group.user_type, group.sid_label) == (OBJ, "", "X", "object id")
    assert IdentitySpec("u", "user", object_id=OBJ).user_type == "E"
    assert IdentitySpec("api", "app", object_id=OBJ).sid_hex == "unknown"


def test_identity_from_claims() -> None:
    app = identity_from_claims({"tid": "t", "oid": OBJ, "azp": APP, "aud": "a", "exp": 5, "groups": ["g1", 2, "g2"]})
    assert app == TokenIdentity("t", OBJ, APP, "app", "", "a", 5, ("g1", "g2"))
    assert identity_from_claims({"appid": APP, "azp": "other"}).client_id == APP
    user = identity_from_claims({"oid": OBJ, "scp": "x", "unique_name": "ann@x"})
    assert (user.kind, user.name, user.groups) == ("user", "ann@x", ())
    assert identity_from_claims({"upn": "bob@x", "preferred_username": "b"}).kind == "user"
    assert identity_from_claims({"idtyp": "app", "upn": "x"}).kind == "app"
    assert identity_from_claims({"idtyp": "device"}).kind == "app"
    assert identity_from_claims({"preferred_username": "p"}).name == "p"
    assert identity_from_claims({"groups": "g1"}).groups == ()


def test_token_identity_views() -> None:
    ident = TokenIdentity("t", OBJ, APP, "app", "", "aud", 100)
    assert ident.seconds_left(40.5) == 59
    assert ident.spec("api") == IdentitySpec("api", "app", APP, "", False)
    user = TokenIdentity("t", OBJ, APP, "user", "ann", "aud", 100, ("g",))
    assert user.spec("ann", sid_mode=True) == IdentitySpec("ann", "user", "", OBJ, True)
    assert user.as_dict() == {
        "tenant_id": "t", "object_id": OBJ, "client_id": APP, "type": "user", "name": "ann", "sid": OBJ,
        "sid_hex": sid_hex(OBJ), "audience": "aud", "expires_on": 100, "groups": ["g"],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "problems"),
    [
        ("api", []),
        ("n" * MAX_NAME, []),
        ("n" * (MAX_NAME + 1), [f"the name is {MAX_NAME + 1} characters; a database user name has at most {MAX_NAME}"]),
        ("  ", ["the name is empty or only spaces: name the identity as Azure shows it"]),
        ("a\x07b", ["the name contains control characters"]),
        ("naïve\u200bname", ["the name contains control characters"]),
        ("Café", []),
        ("GUEST", ["'GUEST' is a principal every database has, not an identity"]),
        ("Public", ["'Public' is a principal every database has, not an identity"]),
        ("DB_DataReader", ["'DB_DataReader' is a database role, not an identity: name the identity that should be its member"]),
        ("App_RW", ["'App_RW' is a database role, not an identity: name the identity that should be its member"]),
    ],
)
def test_name_problems(name: str, problems: list[str]) -> None:
    assert name_problems(name, ("app_rw",)) == problems


@pytest.mark.parametrize(
    ("spec", "problems"),
    [
        (IdentitySpec("api", "app", APP), []),
        (IdentitySpec("api", "app", object_id=OBJ), []),
        (IdentitySpec("api", "app", APP, sid_mode=True), []),
        (
            IdentitySpec("api", "", object_id=OBJ),
            [
                "the identity's type is not given and an object id does not say it: never guessed (app: a managed identity or "
                "service principal, matched by client id; user or group: by object id)"
            ],
        ),
        (
            IdentitySpec("api", ""),
            [
                "the identity's type is not given, and there is no id to tell it by: never guessed (app: a managed identity or "
                "service principal, matched by client id; user or group: by object id)"
            ],
        ),
        (IdentitySpec("api", "robot", "nope"), ["type must be app, user or group, not 'robot'"]),
        (
            IdentitySpec("api", "app", object_id=OBJ, sid_mode=True),
            ["an app or managed identity matches by its client id: --sid-mode with only an object id creates a user that can never log in"],
        ),
        (
            IdentitySpec("api", "app"),
            [
                "an app or managed identity is matched by its client id: pass it (--client-id; client_id in a policy), "
                "or its object id for WITH OBJECT_ID"
            ],
        ),
        (IdentitySpec("ann", "user"), ["a user is matched by its object id: pass it (--object-id; object_id in a policy)"]),
        (
            IdentitySpec("ops", "group", APP, OBJ),
            ["a group has no client id; pass --object-id (a client id means an app or managed identity: --type app)"],
        ),
        (
            IdentitySpec("guest", "user", object_id="x"),
            ["'guest' is a principal every database has, not an identity", "object id 'x' is not a GUID"],
        ),
    ],
)
def test_validate_identity(spec: IdentitySpec, problems: list[str]) -> None:
    assert validate_identity(spec) == problems


ARM = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/web1"


def test_identity_from_resource() -> None:
    uai = identity_from_resource(
        "/x/userAssignedIdentities/mi1/",
        {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "properties": {"clientId": APP, "principalId": OBJ}},
    )
    assert uai == IdentitySpec("mi1", Kind.APP, APP, OBJ, source="/x/userAssignedIdentities/mi1/")
    with pytest.raises(ValueError, match=r"^/x has no properties.clientId$"):
        identity_from_resource("/x", {"type": "microsoft.managedidentity/userassignedidentities", "name": "m"})
    web = identity_from_resource(
        ARM, {"type": "Microsoft.Web/sites", "name": "web1", "identity": {"type": "SystemAssigned, UserAssigned", "principalId": OBJ}}
    )
    assert web == IdentitySpec("web1", Kind.APP, "", OBJ, source=ARM)
    with pytest.raises(ValueError, match=r"it uses user-assigned ones: pass --identity-resource with one of /a, /b$"):
        identity_from_resource(ARM, {"type": "T", "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/b": {}, "/a": {}}}})
    with pytest.raises(ValueError, match=r"^the resource web1 has no managed identity \(identity.type is None\)$"):
        identity_from_resource(ARM, {})
    with pytest.raises(ValueError, match="no managed identity"):
        identity_from_resource(ARM, {"identity": {"type": "SystemAssigned"}})  # no principalId yet


@given(st.uuids())
def test_sid_bytes_is_the_guids_little_endian_form_in_every_accepted_spelling(u: uuid.UUID) -> None:
    """The byte-swapping fast path for the usual form agrees with uuid.UUID.bytes_le (= CAST AS VARBINARY(16))."""
    for spelling in (str(u), str(u).upper(), "{" + str(u) + "}", u.hex):
        sid_bytes.cache_clear()
        assert sid_bytes(spelling) == u.bytes_le, spelling

from __future__ import annotations

import json
import uuid

from hypothesis import given
from hypothesis import strategies as hst

from azsqlctl.core import jwt
from azsqlctl.core.identity import identity_from_claims, sid_hex
from azsqlctl.core.redact import redact

APP = "6e3f0a4e-1b2c-4d5e-8f90-123456789abc"
OID = "0f6b3e2a-9c8d-4e7f-a1b2-c3d4e5f60718"


def test_sid_is_the_guids_little_endian_bytes() -> None:
    # CAST(CAST('6e3f0a4e-1b2c-4d5e-8f90-123456789abc' AS UNIQUEIDENTIFIER) AS VARBINARY(16))
    assert sid_hex(APP) == "0x4E0A3F6E2C1B5E4D8F90123456789ABC"


@given(hst.uuids())
def test_sid_round_trips(guid: uuid.UUID) -> None:
    assert uuid.UUID(bytes_le=bytes.fromhex(sid_hex(str(guid))[2:])) == guid


def test_apps_match_by_client_id_users_by_object_id() -> None:
    app = identity_from_claims({"idtyp": "app", "appid": APP, "oid": OID, "tid": "t", "aud": "https://database.windows.net/", "exp": 5})
    assert (app.kind, app.sid) == ("app", APP)
    user = identity_from_claims({"upn": "dana@contoso.example", "oid": OID, "appid": APP, "scp": "user_impersonation"})
    assert (user.kind, user.sid, user.name) == ("user", OID, "dana@contoso.example")


def _token(claims: dict[str, object]) -> str:
    return ".".join(jwt.b64url_encode(json.dumps(p).encode()) for p in ({"alg": "RS256"}, claims)) + ".c2lnbmF0dXJl"


def test_claims_decode_and_malformed_tokens() -> None:
    assert jwt.claims(_token({"oid": OID}))["oid"] == OID
    for bad in ("", "a.b", "a.b.c", "!!.??.x"):
        try:
            jwt.claims(bad)
        except jwt.MalformedToken:
            continue
        raise AssertionError(f"{bad!r} decoded")


def test_redact_scrubs_tokens_bearers_and_secret_fields() -> None:
    token = _token({"oid": OID, "aud": "https://database.windows.net/"})
    text = f'Authorization: Bearer {token} {{"access_token": "{token}", "client_secret": "s3cr3t"}} X-IDENTITY-HEADER: abcdef123'
    out = redact(text)
    assert token not in out and "s3cr3t" not in out and "abcdef123" not in out
    assert out.count("<redacted>") >= 3
    assert redact("plain text, SELECT 1") == "plain text, SELECT 1"

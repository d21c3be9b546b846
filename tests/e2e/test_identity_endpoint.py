"""azure-identity gets sandbox tokens exactly as it gets them on App Service."""

from __future__ import annotations

import time
from typing import Any

import pytest

from azsqlctl.core import jwt
from azsqlctl.sandbox.serve import Sandbox

SQL_SCOPE = "https://database.windows.net/.default"


def ident(sandbox: Sandbox, name: str) -> dict[str, Any]:
    return next(i.as_json() for i in sandbox.identities() if i.name == name)


def test_managed_identity_credential_gets_a_token_and_caches_it(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azure.identity import ManagedIdentityCredential

    cred = ManagedIdentityCredential()
    first = cred.get_token(SQL_SCOPE)
    second = cred.get_token(SQL_SCOPE)
    assert first.token == second.token
    assert sandbox.identity.requests == {"sandbox-operator": 1}  # the second call was a cache hit

    claims: dict[str, Any] = jwt.claims(first.token)  # JSON: the assertions narrow it
    operator = ident(sandbox, "sandbox-operator")
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    assert claims["aud"].rstrip("/") == "https://database.windows.net"
    assert claims["iss"] == f"https://sts.windows.net/{tenant}/"
    assert claims["tid"] == tenant
    assert claims["oid"] == operator["object_id"]
    assert claims["appid"] == operator["client_id"]
    assert claims["idtyp"] == "app"
    assert claims["iat"] <= time.time() <= claims["exp"]
    assert claims["nbf"] <= claims["iat"] + 1
    assert 3590 <= claims["exp"] - claims["iat"] <= 3600
    assert first.expires_on == claims["exp"]


def test_user_assigned_identity_by_client_id(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azure.identity import ManagedIdentityCredential

    app = ident(sandbox, "orders-api")
    token = ManagedIdentityCredential(client_id=app["client_id"]).get_token(SQL_SCOPE).token
    assert jwt.claims(token)["appid"] == app["client_id"]
    assert sandbox.identity.requests["orders-api"] == 1


def test_default_azure_credential_picks_the_managed_identity(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azure.identity import DefaultAzureCredential

    cred = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    token = cred.get_token(SQL_SCOPE).token
    cred.get_token(SQL_SCOPE)
    assert jwt.claims(token)["oid"] == ident(sandbox, "sandbox-operator")["object_id"]
    assert sandbox.identity.requests["sandbox-operator"] == 1


def test_short_lifetime_tokens_are_refreshed(tmp_path, material_dir, monkeypatch) -> None:
    from azure.identity import ManagedIdentityCredential

    # azure-identity refreshes tokens within 5 minutes of expiry, so a 2-minute token
    # is fetched again on every call while a 1-hour token is served from the cache.
    with Sandbox(tmp_path / "s.json", material_dir=material_dir, token_lifetime=120) as sb:
        for key, value in sb.env.items():
            monkeypatch.setenv(key, value)
        cred = ManagedIdentityCredential()
        a = cred.get_token(SQL_SCOPE)
        time.sleep(1.1)
        b = cred.get_token(SQL_SCOPE)
        assert sb.identity.requests["sandbox-operator"] == 2
        assert a.token != b.token
        assert 110 <= a.expires_on - time.time() <= 121


def test_unknown_client_id_is_refused(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ManagedIdentityCredential

    with pytest.raises(ClientAuthenticationError, match="No managed identity matches"):
        ManagedIdentityCredential(client_id="00000000-0000-0000-0000-000000000001").get_token(SQL_SCOPE)


def test_identity_header_is_required(sandbox: Sandbox) -> None:
    import json
    import urllib.request

    url = sandbox.env["IDENTITY_ENDPOINT"] + "?api-version=2019-08-01&resource=https://database.windows.net/"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(urllib.request.Request(url, headers={"X-IDENTITY-HEADER": "wrong"}), timeout=5)
    assert info.value.code == 401
    assert "X-IDENTITY-HEADER" in json.loads(info.value.read())["message"]


def test_fault_500_surfaces_as_an_authentication_error(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ManagedIdentityCredential

    sandbox.faults.inject("token", "error500", count=None)
    # azure-identity retries a 500 with 0.8 s doubling backoff (4.8 s of waiting): the same retries, 100x faster.
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential(retry_backoff_factor=0.008).get_token(SQL_SCOPE)
    sandbox.faults.clear()
    assert ManagedIdentityCredential().get_token(SQL_SCOPE).token


def test_fault_429_with_retry_after_then_success(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    import json
    import urllib.request

    sandbox.faults.inject("token", "throttle429", count=1, retry_after=7)
    url = sandbox.env["IDENTITY_ENDPOINT"] + "?api-version=2019-08-01&resource=https://database.windows.net/"
    request = urllib.request.Request(url, headers={"X-IDENTITY-HEADER": sandbox.env["IDENTITY_HEADER"]})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 429
    assert info.value.headers["Retry-After"] == "7"
    with urllib.request.urlopen(request, timeout=5) as ok:
        assert json.loads(ok.read())["token_type"] == "Bearer"


def test_slow_token_response(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azure.identity import ManagedIdentityCredential

    sandbox.faults.inject("token", "delay", delay=0.5)
    start = time.perf_counter()
    ManagedIdentityCredential().get_token(SQL_SCOPE)
    assert time.perf_counter() - start >= 0.5

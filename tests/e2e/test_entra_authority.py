"""The sandbox as Entra ID for apps, through unmodified azure-identity and MSAL.

Expected texts are written out from the reference captures of real Entra output (see
azsqlctl/sandbox/entra/errors.py for the sources), never imported from the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from azsqlctl.core import jwt
from azsqlctl.sandbox.entra import registry
from azsqlctl.sandbox.entra.federation import AKS_ISSUER, GITHUB_ISSUER, GithubJob
from azsqlctl.sandbox.serve import Sandbox
from tests.conftest import raw_connect

SQL_SCOPE = "https://database.windows.net/.default"
EXCHANGE = "api://AzureADTokenExchange"


def _authority(sandbox: Sandbox) -> str:
    return sandbox.entra.base_url


def _tenant(sandbox: Sandbox) -> str:
    return sandbox.store.read(lambda s: s.tenant_id)


def _app(sandbox: Sandbox, name: str = "orders-ci", secret_days: float = 30) -> tuple[str, str]:
    with sandbox.store.mutate() as s:
        app = registry.create_app(s, name)
        secret = registry.add_secret(s, name, days=secret_days)
    return app.client_id, secret.value


def _secret_credential(sandbox: Sandbox, client_id: str, secret: str, tenant: str = "") -> Any:
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(
        tenant or _tenant(sandbox), client_id, secret, authority=_authority(sandbox), disable_instance_discovery=True
    )


def _fail(credential: Any) -> str:
    from azure.core.exceptions import ClientAuthenticationError

    with pytest.raises(ClientAuthenticationError) as caught:
        credential.get_token(SQL_SCOPE)
    return str(caught.value)


def test_secret_login_gets_a_v1_app_token_and_logs_in_as_the_display_name(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    client_id, secret = _app(sandbox)
    token = _secret_credential(sandbox, client_id, secret).get_token(SQL_SCOPE)
    claims = jwt.claims(token.token)
    tenant = _tenant(sandbox)
    sp = next(i.as_json() for i in sandbox.identities() if i.name == "orders-ci")
    assert claims["iss"] == f"https://sts.windows.net/{tenant}/"
    assert claims["ver"] == "1.0"
    assert claims["aud"] == "https://database.windows.net"
    assert (claims["appid"], claims["appidacr"], claims["idtyp"]) == (client_id, "1", "app")
    assert claims["oid"] == sp["object_id"] != client_id
    assert claims["tid"] == tenant
    with sandbox.sql.storage.edit_security("appdb") as db:
        db.users.append(type(db.users[0])("orders-ci", client_id, "E", 9))
    conn = raw_connect(sandbox, token.token)
    assert tuple(conn.execute("SELECT SUSER_SNAME(), USER_NAME()").fetchone()) == (f"orders-ci@{tenant}", "orders-ci")
    conn.close()


def test_wrong_secret_is_7000215_with_entras_body(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    client_id, _ = _app(sandbox)
    text = _fail(_secret_credential(sandbox, client_id, "not-the-secret"))
    assert text.startswith(
        "Authentication failed: AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the "
        f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.\r\nTrace ID: "
    )
    tenant = _tenant(sandbox)
    reply = requests.post(
        f"{_authority(sandbox)}/{tenant}/oauth2/v2.0/token",
        data={"client_id": client_id, "client_secret": "x", "grant_type": "client_credentials", "scope": SQL_SCOPE},
        verify=client_env["REQUESTS_CA_BUNDLE"],
        timeout=10,
    )
    body = reply.json()
    assert reply.status_code == 401
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert set(body) == {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}
    assert body["error_uri"] == "https://login.microsoftonline.com/error?code=7000215"
    assert body["error_description"].endswith(f"Timestamp: {body['timestamp']}")


def test_expired_secret_is_7000222(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    client_id, secret = _app(sandbox, secret_days=-1)
    assert (
        f"AADSTS7000222: The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys "
        "for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
    ) in _fail(_secret_credential(sandbox, client_id, secret))


def test_unknown_client_is_700016_and_unknown_tenant_90002(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientAssertionCredential

    stranger = str(uuid.uuid4())
    tenant = _tenant(sandbox)
    assert (
        f"AADSTS700016: Application with identifier '{stranger}' was not found in the directory '{tenant}'. This can happen if the "
        "application has not been installed by the administrator of the tenant or consented to by any user in the tenant. "
        "You may have sent your authentication request to the wrong tenant."
    ) in _fail(_secret_credential(sandbox, stranger, "x"))
    # The assertion path posts straight to the token endpoint (no discovery): Entra's 90002 in the exception.
    other = str(uuid.uuid4())
    cred = ClientAssertionCredential(other, stranger, lambda: "a.b.c", authority=_authority(sandbox))
    with pytest.raises(ClientAuthenticationError) as caught:
        cred.get_token(SQL_SCOPE)
    assert f"(invalid_request) AADSTS90002: Tenant '{other}' not found." in str(caught.value)
    # The discovery document: invalid_tenant, which MSAL turns into its own ValueError text (the body is dropped).
    reply = requests.get(
        f"{_authority(sandbox)}/{other}/v2.0/.well-known/openid-configuration", verify=client_env["REQUESTS_CA_BUNDLE"], timeout=10
    )
    assert (reply.status_code, reply.json()["error"], reply.json()["error_codes"]) == (400, "invalid_tenant", [90002])


def test_without_disable_instance_discovery_msal_leaves_for_the_public_cloud(
    sandbox: Sandbox, client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import ClientSecretCredential

    # Hermetic: anything not for the sandbox goes to a proxy that is not there, so it fails here, at once.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    client_id, secret = _app(sandbox)
    before = sandbox.entra.requests[client_id]
    cred = ClientSecretCredential(_tenant(sandbox), client_id, secret, authority=_authority(sandbox), retry_total=0)
    text = _fail(cred)
    assert "Unable to connect to proxy" in text  # i.e. it left for https://login.microsoftonline.com/common/discovery/instance
    assert sandbox.entra.requests[client_id] == before  # never reached the sandbox's token endpoint


def _cert_app(sandbox: Sandbox, tmp_path: Path) -> tuple[str, Path, bytes, bytes]:
    client_id, _ = _app(sandbox)
    cert_pem, key_pem = registry.new_certificate("orders-ci")
    with sandbox.store.mutate() as s:
        registry.add_certificate(s, client_id, cert_pem)
    path = tmp_path / "cert.pem"
    path.write_bytes(key_pem + cert_pem)
    return client_id, path, cert_pem, key_pem


def test_certificate_credential_rs256_x5t(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    from azure.identity import CertificateCredential

    client_id, path, _, _ = _cert_app(sandbox, tmp_path)
    cred = CertificateCredential(_tenant(sandbox), client_id, str(path), authority=_authority(sandbox), disable_instance_discovery=True)
    claims = jwt.claims(cred.get_token(SQL_SCOPE).token)
    assert (claims["appid"], claims["appidacr"]) == (client_id, "2")


def test_msal_ps256_x5t_s256_assertion(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    """MSAL signs PS256 with x5t#S256 when given the public certificate without a SHA-1 thumbprint."""
    import msal  # type: ignore[import-untyped]

    client_id, _, cert_pem, key_pem = _cert_app(sandbox, tmp_path)
    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential={"private_key": key_pem.decode(), "public_certificate": cert_pem.decode()},
        authority=f"{_authority(sandbox)}/{_tenant(sandbox)}",
        instance_discovery=False,
        verify=client_env["REQUESTS_CA_BUNDLE"],
    )
    result = app.acquire_token_for_client([SQL_SCOPE])
    assert "access_token" in result, result.get("error_description")
    assert jwt.claims(result["access_token"])["appidacr"] == "2"


def test_unregistered_certificate_is_700027_with_its_thumbprint(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    from azure.identity import CertificateCredential
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    client_id, _ = _app(sandbox)
    cert_pem, key_pem = registry.new_certificate("not-registered")
    (tmp_path / "other.pem").write_bytes(key_pem + cert_pem)
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    sha1 = hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - the thumbprint Entra prints
    cred = CertificateCredential(
        _tenant(sandbox), client_id, str(tmp_path / "other.pem"), authority=_authority(sandbox), disable_instance_discovery=True
    )
    assert (
        "AADSTS700027: Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by "
        f"client: '{sha1}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id "
        f"'{client_id}'."
    ) in _fail(cred)


def _sign_assertion(key_pem: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signing_input = jwt.b64url_encode(json.dumps(header).encode()) + "." + jwt.b64url_encode(json.dumps(claims).encode())
    return signing_input + "." + jwt.b64url_encode(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))


def _post_assertion(sandbox: Sandbox, env: dict[str, str], client_id: str, assertion: str) -> dict[str, Any]:
    reply = requests.post(
        f"{_authority(sandbox)}/{_tenant(sandbox)}/oauth2/v2.0/token",
        data={
            "client_id": client_id,
            "grant_type": "client_credentials",
            "scope": SQL_SCOPE,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        verify=env["REQUESTS_CA_BUNDLE"],
        timeout=10,
    )
    body: dict[str, Any] = reply.json()
    body["status"] = reply.status_code
    return body


def test_replayed_expired_certificate_assertion_is_700024(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    client_id, _, cert_pem, key_pem = _cert_app(sandbox, tmp_path)
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    x5t = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode()  # noqa: S324 - MSAL's form keeps the '=' padding
    aud = f"{_authority(sandbox)}/{_tenant(sandbox)}/oauth2/v2.0/token"
    now = time.time()
    claims = {"aud": aud, "iss": client_id, "sub": client_id, "exp": now - 3600.5, "iat": now - 4200.25, "jti": str(uuid.uuid4())}
    body = _post_assertion(sandbox, client_env, client_id, _sign_assertion(key_pem, {"alg": "RS256", "typ": "JWT", "x5t": x5t}, claims))
    assert (body["status"], body["error"], body["error_codes"]) == (401, "invalid_client", [700024])
    assert "AADSTS700024: Client assertion is not within its valid time range. Current time: " in body["error_description"]
    assert ", assertion valid from 1970-01-01T00:00:00.0000000Z, expiry time of assertion " in body["error_description"]
    fresh = {**claims, "exp": now + 600.5, "iat": now}
    ok = _post_assertion(sandbox, client_env, client_id, _sign_assertion(key_pem, {"alg": "RS256", "typ": "JWT", "x5t": x5t}, fresh))
    assert ok["status"] == 200 and ok["token_type"] == "Bearer" and isinstance(ok["expires_in"], int)
    # alg none with the same header: refused (never looked up, never accepted unsigned)
    unsigned = _sign_assertion(key_pem, {"alg": "none", "typ": "JWT", "x5t": x5t}, fresh).rsplit(".", 1)[0] + "."
    refused = _post_assertion(sandbox, client_env, client_id, unsigned)
    assert refused["status"] in (400, 401) and refused["error_codes"][0] in (50027, 700027)


def _federated_app(sandbox: Sandbox, subject: str, issuer: str = GITHUB_ISSUER, name: str = "orders-ci") -> str:
    client_id, _ = _app(sandbox, name)
    with sandbox.store.mutate() as s:
        registry.add_federated_credential(s, client_id, "main", issuer, subject)
    return client_id


def _assertion_credential(sandbox: Sandbox, client_id: str, token: str) -> Any:
    from azure.identity import ClientAssertionCredential

    return ClientAssertionCredential(_tenant(sandbox), client_id, lambda: token, authority=_authority(sandbox))


def test_github_federated_login_and_each_mismatch(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    client_id = _federated_app(sandbox, "repo:contoso/orders:ref:refs/heads/main")
    fed = sandbox.surface(__import__("azsqlctl.sandbox.surfaces", fromlist=["EntraSurface"]).EntraSurface).federation
    main = GithubJob("contoso/orders")
    good = _assertion_credential(sandbox, client_id, fed.github_token(main, EXCHANGE)).get_token(SQL_SCOPE)
    assert jwt.claims(good.token)["appidacr"] == "2"

    pr = GithubJob("contoso/orders", ref="refs/pull/7/merge", event_name="pull_request")
    text = _fail(_assertion_credential(sandbox, client_id, fed.github_token(pr, EXCHANGE)))
    assert "Microsoft Entra ID error '(invalid_client) AADSTS700213: No matching federated identity record found for presented " \
        "assertion subject 'repo:contoso/orders:pull_request'. Check your federated identity credential Subject, Audience and " \
        "Issuer against the presented assertion." in text  # fmt: skip

    cased = GithubJob("Contoso/Orders")
    assert "AADSTS7002138: No matching federated identity record found for presented assertion subject " \
        "'repo:Contoso/Orders:ref:refs/heads/main'. The subject matches with case-insensitive comparison, but not with " \
        "case-sensitive comparison." in _fail(_assertion_credential(sandbox, client_id, fed.github_token(cased, EXCHANGE)))  # fmt: skip

    # No audience asked for: GitHub's default is the owner URL, which the credential does not accept.
    assert "AADSTS700212: No matching federated identity record found for presented assertion audience " \
        "'https://github.com/contoso'." in _fail(_assertion_credential(sandbox, client_id, fed.github_token(main)))  # fmt: skip

    aks = fed.aks_token("default", "orders")
    assert f"AADSTS700211: No matching federated identity record found for presented assertion issuer '{AKS_ISSUER}'." in _fail(
        _assertion_credential(sandbox, client_id, aks)
    )


def test_federated_forgeries_are_refused(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azsqlctl.sandbox.entra.federation import Federation

    client_id = _federated_app(sandbox, "repo:contoso/orders:ref:refs/heads/main")
    job = GithubJob("contoso/orders")
    # Same claims, signed by a key that is not the issuer's.
    impostor = Federation.load_or_create(None)
    assert "AADSTS50027" in _fail(_assertion_credential(sandbox, client_id, impostor.github_token(job, EXCHANGE)))
    # alg none
    real = sandbox.surface(__import__("azsqlctl.sandbox.surfaces", fromlist=["EntraSurface"]).EntraSurface).federation
    header, claims, _, _ = jwt.split(real.github_token(job, EXCHANGE))
    none = jwt.b64url_encode(json.dumps({**header, "alg": "none"}).encode()) + "." + jwt.b64url_encode(json.dumps(claims).encode()) + "."
    assert "AADSTS50027" in _fail(_assertion_credential(sandbox, client_id, none))
    # An expired token replayed later: 700024.
    stale = real.sign("github", {**claims, "exp": time.time() - 1000, "iat": time.time() - 1300, "nbf": time.time() - 1900})
    assert "AADSTS700024: Client assertion is not within its valid time range." in _fail(_assertion_credential(sandbox, client_id, stale))


def test_app_without_federated_credentials_gets_70021(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    client_id, _ = _app(sandbox)
    fed = sandbox.surface(__import__("azsqlctl.sandbox.surfaces", fromlist=["EntraSurface"]).EntraSurface).federation
    text = _fail(_assertion_credential(sandbox, client_id, fed.aks_token("prod", "orders")))
    assert (
        f"AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '{AKS_ISSUER}'. "
        f"Assertion Subject: 'system:serviceaccount:prod:orders'. Assertion Audience: '{EXCHANGE}'."
    ) in text


def test_throttle_fault_answers_429_with_retry_after(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    client_id, secret = _app(sandbox)
    sandbox.faults.inject("entra", "throttle429", 1, retry_after=1)
    reply = requests.post(
        f"{_authority(sandbox)}/{_tenant(sandbox)}/oauth2/v2.0/token",
        data={"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials", "scope": SQL_SCOPE},
        verify=client_env["REQUESTS_CA_BUNDLE"],
        timeout=10,
    )
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "1"
    assert reply.json()["error"] == "temporarily_unavailable"
    # azure-core retries a reply carrying Retry-After: one throttled answer, then the token.
    sandbox.faults.inject("entra", "throttle429", 1, retry_after=1)
    assert _secret_credential(sandbox, client_id, secret).get_token(SQL_SCOPE).token


def test_tds_refuses_a_token_whose_issuer_names_another_tenant(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    import pyodbc

    other = str(uuid.uuid4())
    good = sandbox.issue_token("orders-api")
    raw_connect(sandbox, good).close()
    forged = sandbox.issue_token("orders-api", iss=f"https://sts.windows.net/{other}/")
    with pytest.raises(pyodbc.Error, match="18456"):
        raw_connect(sandbox, forged)
    v2 = sandbox.issue_token("orders-api", iss=f"https://login.microsoftonline.com/{_tenant(sandbox)}/v2.0")
    raw_connect(sandbox, v2).close()


def test_azure_pipelines_credential_through_the_oidc_request_endpoint(
    sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import AzurePipelinesCredential

    from azsqlctl.sandbox.entra.federation import PIPELINES_ISSUER
    from azsqlctl.sandbox.entra.jobs import job_environment
    from azsqlctl.sandbox.surfaces import EntraSurface

    client_id = _federated_app(sandbox, "sc://contoso/orders/sql-migrations", issuer=PIPELINES_ISSUER)
    entra = sandbox.surface(EntraSurface)
    job = sandbox.store.read(
        lambda s: job_environment("pipelines:contoso/orders/sql-migrations", s, entra.federation, entra.service.base_url, tmp_path)
    )
    for key, value in job.set.items():
        monkeypatch.setenv(key, value)
    assert job.set["AZURESUBSCRIPTION_CLIENT_ID"] == client_id
    cred = AzurePipelinesCredential(
        tenant_id=job.set["AZURESUBSCRIPTION_TENANT_ID"],
        client_id=job.set["AZURESUBSCRIPTION_CLIENT_ID"],
        service_connection_id=job.set["AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"],
        system_access_token=job.set["SYSTEM_ACCESSTOKEN"],
        authority=entra.service.base_url,
    )
    assert jwt.claims(cred.get_token(SQL_SCOPE).token)["appid"] == client_id
    # another service connection's id with this job's access token: the OIDC endpoint refuses it
    wrong = AzurePipelinesCredential(
        tenant_id=_tenant(sandbox), client_id=client_id, service_connection_id=str(uuid.uuid4()),
        system_access_token=job.set["SYSTEM_ACCESSTOKEN"], authority=entra.service.base_url,
    )  # fmt: skip
    assert "was not found" in _fail(wrong)


def test_user_assigned_identity_with_a_federated_credential(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    """AKS workload identity with a user-assigned managed identity (not an app registration)."""
    from azure.identity import WorkloadIdentityCredential

    from azsqlctl.sandbox.surfaces import EntraSurface

    uami = next(i.as_json() for i in sandbox.identities() if i.name == "orders-api")
    fed = sandbox.surface(EntraSurface).federation
    token_file = tmp_path / "token"
    token_file.write_text(fed.aks_token("prod", "orders"))
    cred = WorkloadIdentityCredential(
        tenant_id=_tenant(sandbox), client_id=uami["client_id"], token_file_path=str(token_file), authority=_authority(sandbox)
    )
    text = _fail(cred)  # no federated credential on the identity yet: the generic form, all three values
    assert f"AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '{AKS_ISSUER}'." in text
    with sandbox.store.mutate() as s:
        registry.add_federated_credential(s, "orders-api", "aks-prod", AKS_ISSUER, "system:serviceaccount:prod:orders")
    fresh = WorkloadIdentityCredential(
        tenant_id=_tenant(sandbox), client_id=uami["client_id"], token_file_path=str(token_file), authority=_authority(sandbox)
    )
    claims = jwt.claims(fresh.get_token(SQL_SCOPE).token)
    assert claims["appid"] == uami["client_id"] and claims["oid"] == uami["object_id"]
    assert str(claims["xms_mirid"]).endswith("/orders-api")
    conn = raw_connect(sandbox, fresh.get_token(SQL_SCOPE).token)  # orders-api is a user in appdb
    assert conn.execute("SELECT USER_NAME()").fetchone()[0] == "orders-api"
    conn.close()


def test_federated_credential_limits(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azsqlctl.core.errors import UsageError

    client_id, _ = _app(sandbox)
    with sandbox.store.mutate() as s:
        for n in range(20):
            registry.add_federated_credential(s, client_id, f"fic-{n:02d}", GITHUB_ISSUER, f"repo:contoso/orders:environment:e{n}")
        with pytest.raises(UsageError, match="already has 20 federated credentials, the most Entra allows"):
            registry.add_federated_credential(s, client_id, "fic-20", GITHUB_ISSUER, "repo:contoso/orders:environment:e20")
        s.apps.registrations[-1].federated.pop()
        with pytest.raises(UsageError, match=re.escape("Issuer and subject combination already exists for this application.")):
            registry.add_federated_credential(s, client_id, "again", GITHUB_ISSUER, "repo:contoso/orders:environment:e0")
        with pytest.raises(UsageError, match=re.escape("Federated identity credentials must have exactly one audience.")):
            registry.add_federated_credential(s, client_id, "two", GITHUB_ISSUER, "x", ["api://AzureADTokenExchange", "other"])


def test_forged_tokens_are_refused_at_tds(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    """What the authority never issues, TDS does not accept: alg none, another issuer's key, another tenant's iss."""
    import pyodbc

    from azsqlctl.sandbox.surfaces import EntraSurface

    good = sandbox.issue_token("orders-api")
    header, claims, _, _ = jwt.split(good)
    unsigned = (
        jwt.b64url_encode(json.dumps({**header, "alg": "none"}).encode()) + "." + jwt.b64url_encode(json.dumps(claims).encode()) + "."
    )
    github_signed = sandbox.surface(EntraSurface).federation.sign("github", dict(claims))  # a real key, not the tenant's
    for forged in (unsigned, github_signed):
        with pytest.raises(pyodbc.Error, match="18456"):
            raw_connect(sandbox, forged)
    assert sandbox.sql.logins_failed == 2


def test_app_tokens_for_arm_are_accepted_by_the_sandbox_arm(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    client_id, secret = _app(sandbox)
    token = _secret_credential(sandbox, client_id, secret).get_token("https://management.azure.com/.default").token
    assert jwt.claims(token)["aud"] == "https://management.azure.com"
    sub, rg, server = sandbox.store.read(lambda s: (s.server.subscription_id, s.server.resource_group, s.server.name))
    url = f"{client_env['AZSQLCTL_ARM_ENDPOINT']}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Sql/servers/{server}"
    reply = requests.get(url, params={"api-version": "2021-11-01"}, headers={"Authorization": f"Bearer {token}"},
                         verify=client_env["REQUESTS_CA_BUNDLE"], timeout=10)  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.json()["name"] == server
    # A token for another resource (SQL) is not an ARM token.
    sql = _secret_credential(sandbox, client_id, secret).get_token(SQL_SCOPE).token
    refused = requests.get(url, params={"api-version": "2021-11-01"}, headers={"Authorization": f"Bearer {sql}"},
                           verify=client_env["REQUESTS_CA_BUNDLE"], timeout=10)  # fmt: skip
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "InvalidAuthenticationToken"

"""npm clients (tedious, node-mssql) under the machine's node, against the sandbox: tests/clients/node/clients.js.

The scenarios of this module run in long-lived node processes (clients.js --serve, one per process-level
environment): node and its npm packages load once, and each scenario still opens its own connections and builds
its own credentials with the variables it is given. What node reads only at start-up (NODE_EXTRA_CA_CERTS) picks
the process; a scenario behind a proxy gets a process of its own (@azure/core-rest-pipeline reads NO_PROXY once).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from azsqlctl.sandbox.entra import registry
from azsqlctl.sandbox.entra.federation import AKS_ISSUER, aks_subject
from azsqlctl.sandbox.state import DbUser
from tests import npm_trees
from tests.line_server import LineServer

from .support import ADMIN, REFUSED_TEXT, STRANGER, Clients

NODE_DIR = npm_trees.CLIENTS
_STARTUP_ONLY = ("NODE_EXTRA_CA_CERTS",)  # read by node when it starts: one serving process per value
_PROXY = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")  # read once per process by @azure/identity's pipeline


@pytest.fixture(scope="module", autouse=True)
def node_modules() -> None:
    """The locked packages (.ci/run runs `npm ci`; a fresh clone gets them here the same way)."""
    npm_trees.ensure(NODE_DIR, "mssql")


class NodeClients:
    """Runs clients.js scenarios: in a serving process per start-up environment, or in a process of their own."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self._servers: dict[tuple[tuple[str, str], ...], LineServer] = {}

    def __call__(self, scenario: str, identity: str | None = ADMIN, **extra_env: str) -> dict[str, Any]:
        env = dict(extra_env)
        if identity is not None:
            env["SQL_TOKEN"] = self.clients.token(identity)
        if any(k in env for k in _PROXY):
            return self._alone(scenario, env)
        startup = tuple(sorted((k, env.pop(k)) for k in _STARTUP_ONLY if k in env))
        if startup not in self._servers:
            self._servers[startup] = LineServer(
                [npm_trees.node(), "clients.js", "--serve"], NODE_DIR, {**os.environ, **dict(startup)}, answer_prefix=b'{"ok":'
            )
        return self._servers[startup].ask({"scenario": scenario, "env": env}, timeout=60)

    def _alone(self, scenario: str, env: dict[str, str]) -> dict[str, Any]:
        proc = subprocess.run(
            [npm_trees.node(), "clients.js", scenario], cwd=NODE_DIR, env={**os.environ, **env}, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result

    def close(self) -> None:
        for server in self._servers.values():
            server.close()


@pytest.fixture(scope="module")
def node(clients: Clients) -> Iterator[NodeClients]:
    runner = NodeClients(clients)
    yield runner
    runner.close()


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["ok"], json.dumps(result.get("error"), indent=1)
    return result


def whoami(clients: Clients) -> list[str]:
    return [f"{ADMIN}@{clients.env['AZSQLCTL_TENANT_ID']}", "dbo", "appdb"]


# --- tedious -----------------------------------------------------------------------------------------


def test_tedious_token_login_over_verified_tls(clients: Clients, node: NodeClients) -> None:
    assert ok(node("tedious-login"))["rows"] == [whoami(clients)]
    refused = node("tedious-login-only", NO_SANDBOX_CA="1")  # system roots only
    assert not refused["ok"]
    assert refused["error"]["code"] == "ESOCKET"
    assert "certificate" in refused["error"]["message"]


def test_tedious_parameterised_query(node: NodeClients) -> None:
    result = ok(node("tedious-params"))
    assert result["rows"] == [[42, "grüße 🙂", None]]
    assert result["none"] == []


def test_tedious_transaction(node: NodeClients) -> None:
    result = ok(node("tedious-transaction"))
    assert (result["inside"], result["afterRollback"], result["committed"]) == ([[1]], [[0]], [[2, "kept"]])


def test_tedious_refused_login(node: NodeClients) -> None:
    error = node("tedious-login-only", identity=STRANGER)["error"]
    assert (error["code"], error["message"]) == ("ELOGIN", REFUSED_TEXT)
    assert error["serverErrors"] == [{"number": 18456, "state": 1, "class": 14, "message": REFUSED_TEXT}]


@pytest.mark.parametrize("auth", ["azure-active-directory-msi-app-service", "azure-active-directory-default"])
def test_tedious_managed_identity_through_fedauthinfo(clients: Clients, node: NodeClients, auth: str) -> None:
    """tedious gets its own token: the server's FEDAUTHINFO (STS URL, SPN), then @azure/identity's
    ManagedIdentityCredential (directly, or as DefaultAzureCredential's managed-identity link) on IDENTITY_ENDPOINT."""
    ok_before, _ = clients.logins()
    result = node("tedious-msi", identity=None, MSI_CLIENT_ID=clients.client_id(ADMIN), TEDIOUS_AUTH=auth)
    assert ok(result)["rows"] == [whoami(clients)]
    assert clients.logins()[0] == ok_before + 1


# --- node-mssql --------------------------------------------------------------------------------------


def test_mssql_token_login_over_verified_tls(clients: Clients, node: NodeClients) -> None:
    assert ok(node("mssql-login"))["rows"] == [whoami(clients)]
    refused = node("mssql-login", NO_SANDBOX_CA="1")
    assert not refused["ok"]
    assert "certificate" in refused["error"]["message"]


def test_mssql_parameterised_query(node: NodeClients) -> None:
    result = ok(node("mssql-params"))
    assert result["rows"] == [[42, "grüße 🙂", None]]
    assert result["none"] == []


def test_mssql_transaction(node: NodeClients) -> None:
    result = ok(node("mssql-transaction"))
    assert (result["inside"], result["afterRollback"], result["committed"]) == (1, 0, [[2, "kept"]])


def test_mssql_refused_login(node: NodeClients) -> None:
    error = node("mssql-login", identity=STRANGER)["error"]
    assert (error["name"], error["code"], error["message"]) == ("ConnectionError", "ELOGIN", REFUSED_TEXT)


def test_mssql_default_pool_serves_100_queries_on_10_connections(clients: Clients, node: NodeClients) -> None:
    ok_before, refused_before = clients.logins()
    result = ok(node("mssql-pool"))
    logins = clients.logins()[0] - ok_before
    assert sorted(result["values"]) == list(range(100))
    assert clients.logins()[1] == refused_before
    # ConnectionPool.connect() logs in once to probe the configuration and closes that connection; after it,
    # every pooled connection logged in exactly once: no failed validation sent one back to log in again.
    assert len(result["spids"]) <= 10
    assert logins == len(result["spids"]) + 1
    assert result["size"] == len(result["spids"])


def test_tedious_parameter_types_round_trip(node: NodeClients) -> None:
    """tedious's own TYPES for every listed type (MAX values over 1 MB, non-BMP text, NULLs): SELECT echo and a user table."""
    result = ok(node("tedious-types"))
    assert result["cases"] == 23
    assert result["mismatches"] == []


# --- tedious as a service principal through the sandbox authority ------------------------------------


class _RefusingProxy:
    """An HTTPS proxy on 127.0.0.1 that records each CONNECT host and refuses it: a request meant for the
    internet (login.microsoftonline.com) is seen, and never leaves the machine."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                head = conn.recv(4096).decode("latin-1", "replace")
                if head.startswith("CONNECT "):
                    self.hosts.append(head.split()[1])
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self._server.close()
        self._thread.join(5)


@pytest.fixture(scope="module")
def service_principal(clients: Clients, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An app with a secret, an expired secret, a certificate and an AKS federated credential, and a database user."""
    material = tmp_path_factory.mktemp("sp")
    cert_pem, key_pem = registry.new_certificate("CN=tedious-ci")
    stray_cert, stray_key = registry.new_certificate("CN=not-registered")
    (material / "cert.pem").write_bytes(key_pem + cert_pem)
    (material / "stray.pem").write_bytes(stray_key + stray_cert)
    sandbox = clients.sandbox
    with sandbox.store.mutate() as s:
        app = registry.create_app(s, "tedious-ci")
        secret = registry.add_secret(s, "tedious-ci")
        expired = registry.add_secret(s, "tedious-ci", days=-1)
        registry.add_certificate(s, "tedious-ci", cert_pem)
        registry.add_federated_credential(s, "tedious-ci", "aks", AKS_ISSUER, aks_subject("orders", "api"))
        tenant = s.tenant_id
    with sandbox.sql.storage.edit_security("appdb") as db:
        db.users.append(DbUser("tedious-ci", app.client_id, "E", 9))
    return {
        "SP_TENANT": tenant, "SP_CLIENT_ID": app.client_id, "SP_AUTHORITY": sandbox.entra.base_url, "SP_SECRET": secret.value,
        "expired": expired.value, "cert": str(material / "cert.pem"), "stray": str(material / "stray.pem"),
        "NODE_EXTRA_CA_CERTS": clients.ca_file,  # @azure/identity's HTTPS (node) trusts the sandbox CA
    }  # fmt: skip


def _sp(node: NodeClients, sp: dict[str, str], kind: str, **overrides: str) -> dict[str, Any]:
    env = {k: v for k, v in sp.items() if k.startswith(("SP_", "NODE_"))} | {"SP_KIND": kind} | overrides
    return node("tedious-sp", identity=None, **env)


def _aadsts(result: dict[str, Any]) -> str:
    """tedious: AggregateError [ConnectionError EFEDAUTH, the @azure/identity error carrying Entra's text]."""
    assert not result["ok"]
    errors = result["error"]["errors"]
    assert errors[0]["code"] == "EFEDAUTH"
    match = re.search(r"AADSTS\d+", errors[1]["message"])
    assert match, errors[1]
    return match[0]


def test_tedious_service_principal_secret_through_token_credential(
    clients: Clients, node: NodeClients, service_principal: dict[str, str]
) -> None:
    sp, tenant = service_principal, service_principal["SP_TENANT"]
    before = clients.sandbox.entra.requests[sp["SP_CLIENT_ID"]]
    assert ok(_sp(node, sp, "secret"))["rows"] == [[f"tedious-ci@{tenant}", "tedious-ci"]]
    assert clients.sandbox.entra.requests[sp["SP_CLIENT_ID"]] == before + 1
    assert _aadsts(_sp(node, sp, "secret", SP_SECRET="not-the-secret")) == "AADSTS7000215"
    assert _aadsts(_sp(node, sp, "secret", SP_SECRET=sp["expired"])) == "AADSTS7000222"
    assert _aadsts(_sp(node, sp, "secret", SP_CLIENT_ID=str(uuid.uuid4()))) == "AADSTS700016"
    # An unknown tenant: the authority's metadata answers AADSTS90002, but MSAL.js reports only that it could not
    # resolve the endpoints (the body is not in the error) - as against Entra.
    unknown = _sp(node, sp, "secret", SP_TENANT=str(uuid.uuid4()))["error"]["errors"][1]
    assert (unknown["name"], unknown["message"].split(":")[0]) == ("CredentialUnavailableError", "endpoints_resolution_error")


def test_tedious_service_principal_certificate_through_token_credential(node: NodeClients, service_principal: dict[str, str]) -> None:
    sp = service_principal
    assert ok(_sp(node, sp, "certificate", SP_CERT_PEM=sp["cert"]))["rows"][0][1] == "tedious-ci"
    assert _aadsts(_sp(node, sp, "certificate", SP_CERT_PEM=sp["stray"])) == "AADSTS700027"


def test_tedious_federated_assertion_through_token_credential(
    clients: Clients, node: NodeClients, service_principal: dict[str, str]
) -> None:
    sp, federation = service_principal, clients.sandbox.entra.federation
    assert ok(_sp(node, sp, "assertion", SP_ASSERTION=federation.aks_token("orders", "api")))["rows"][0][1] == "tedious-ci"
    assert _aadsts(_sp(node, sp, "assertion", SP_ASSERTION=federation.aks_token("orders", "worker"))) in ("AADSTS70021", "AADSTS700213")
    # expired beyond the five minutes of clock skew Entra tolerates
    assert _aadsts(_sp(node, sp, "assertion", SP_ASSERTION=federation.aks_token("orders", "api", lifetime=-600))) == "AADSTS700024"


def test_tedious_builtin_service_principal_type_never_reaches_a_private_authority(
    clients: Clients, node: NodeClients, service_principal: dict[str, str]
) -> None:
    """tedious 19.2.2 lib/connection.js builds `new ClientSecretCredential(tenantId, clientId, clientSecret)` with no
    options, and ignores FEDAUTHINFO's STS URL: @azure/identity goes to AZURE_AUTHORITY_HOST (or the public cloud),
    and MSAL asks login.microsoftonline.com to validate that unknown host first. Offline, through a proxy that
    refuses, the login fails there and the sandbox authority never sees a request."""
    sp = service_principal
    proxy = _RefusingProxy()
    try:
        before = clients.sandbox.entra.requests[sp["SP_CLIENT_ID"]]
        env = {"AZURE_AUTHORITY_HOST": sp["SP_AUTHORITY"], "HTTPS_PROXY": proxy.url, "NO_PROXY": "localhost,127.0.0.1"}
        result = _sp(node, sp, "builtin", **env)
        assert not result["ok"] and result["error"]["errors"][0]["code"] == "EFEDAUTH", result
        assert clients.sandbox.entra.requests[sp["SP_CLIENT_ID"]] == before
        assert any(h.startswith("login.microsoftonline.com") for h in proxy.hosts), proxy.hosts
    finally:
        proxy.close()

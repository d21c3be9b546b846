"""npm clients (tedious, node-mssql) under the machine's node, against the sandbox: tests/clients/node/clients.js."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests import npm_trees

from .support import ADMIN, REFUSED_TEXT, STRANGER, Clients

NODE_DIR = npm_trees.CLIENTS


@pytest.fixture(scope="module", autouse=True)
def node_modules() -> None:
    """The locked packages (.ci/run runs `npm ci`; a fresh clone gets them here the same way)."""
    npm_trees.ensure(NODE_DIR, "mssql")


def node(clients: Clients, scenario: str, identity: str | None = ADMIN, **extra_env: str) -> dict[str, Any]:
    env = {**os.environ, **extra_env}
    if identity is not None:
        env["SQL_TOKEN"] = clients.token(identity)
    proc = subprocess.run(
        [npm_trees.node(), "clients.js", scenario], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["ok"], json.dumps(result.get("error"), indent=1)
    return result


def whoami(clients: Clients) -> list[str]:
    return [f"{ADMIN}@{clients.env['AZSQLCTL_TENANT_ID']}", "dbo", "appdb"]


# --- tedious -----------------------------------------------------------------------------------------


def test_tedious_token_login_over_verified_tls(clients: Clients) -> None:
    assert ok(node(clients, "tedious-login"))["rows"] == [whoami(clients)]
    refused = node(clients, "tedious-login-only", NO_SANDBOX_CA="1")  # system roots only
    assert not refused["ok"]
    assert refused["error"]["code"] == "ESOCKET"
    assert "certificate" in refused["error"]["message"]


def test_tedious_parameterised_query(clients: Clients) -> None:
    result = ok(node(clients, "tedious-params"))
    assert result["rows"] == [[42, "grüße 🙂", None]]
    assert result["none"] == []


def test_tedious_transaction(clients: Clients) -> None:
    result = ok(node(clients, "tedious-transaction"))
    assert (result["inside"], result["afterRollback"], result["committed"]) == ([[1]], [[0]], [[2, "kept"]])


def test_tedious_refused_login(clients: Clients) -> None:
    error = node(clients, "tedious-login-only", identity=STRANGER)["error"]
    assert (error["code"], error["message"]) == ("ELOGIN", REFUSED_TEXT)
    assert error["serverErrors"] == [{"number": 18456, "state": 1, "class": 14, "message": REFUSED_TEXT}]


@pytest.mark.parametrize("auth", ["azure-active-directory-msi-app-service", "azure-active-directory-default"])
def test_tedious_managed_identity_through_fedauthinfo(clients: Clients, auth: str) -> None:
    """tedious gets its own token: the server's FEDAUTHINFO (STS URL, SPN), then @azure/identity's
    ManagedIdentityCredential (directly, or as DefaultAzureCredential's managed-identity link) on IDENTITY_ENDPOINT."""
    ok_before, _ = clients.logins()
    result = node(clients, "tedious-msi", identity=None, MSI_CLIENT_ID=clients.client_id(ADMIN), TEDIOUS_AUTH=auth)
    assert ok(result)["rows"] == [whoami(clients)]
    assert clients.logins()[0] == ok_before + 1


# --- node-mssql --------------------------------------------------------------------------------------


def test_mssql_token_login_over_verified_tls(clients: Clients) -> None:
    assert ok(node(clients, "mssql-login"))["rows"] == [whoami(clients)]
    refused = node(clients, "mssql-login", NO_SANDBOX_CA="1")
    assert not refused["ok"]
    assert "certificate" in refused["error"]["message"]


def test_mssql_parameterised_query(clients: Clients) -> None:
    result = ok(node(clients, "mssql-params"))
    assert result["rows"] == [[42, "grüße 🙂", None]]
    assert result["none"] == []


def test_mssql_transaction(clients: Clients) -> None:
    result = ok(node(clients, "mssql-transaction"))
    assert (result["inside"], result["afterRollback"], result["committed"]) == (1, 0, [[2, "kept"]])


def test_mssql_refused_login(clients: Clients) -> None:
    error = node(clients, "mssql-login", identity=STRANGER)["error"]
    assert (error["name"], error["code"], error["message"]) == ("ConnectionError", "ELOGIN", REFUSED_TEXT)


def test_mssql_default_pool_serves_100_queries_on_10_connections(clients: Clients) -> None:
    ok_before, refused_before = clients.logins()
    result = ok(node(clients, "mssql-pool"))
    logins = clients.logins()[0] - ok_before
    assert sorted(result["values"]) == list(range(100))
    assert clients.logins()[1] == refused_before
    # ConnectionPool.connect() logs in once to probe the configuration and closes that connection; after it,
    # every pooled connection logged in exactly once: no failed validation sent one back to log in again.
    assert len(result["spids"]) <= 10
    assert logins == len(result["spids"]) + 1
    assert result["size"] == len(result["spids"])


def test_tedious_parameter_types_round_trip(clients: Clients) -> None:
    """tedious's own TYPES for every listed type (MAX values over 1 MB, non-BMP text, NULLs): SELECT echo and a user table."""
    result = ok(node(clients, "tedious-types"))
    assert result["cases"] == 23
    assert result["mismatches"] == []

"""doctor end to end: CLI -> real SDKs, driver and sockets -> sandbox configured into each failure."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import DbUser
from tests import cli_fork

runner = CliRunner()
OTHER_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def ident(sandbox: Sandbox, name: str) -> dict[str, Any]:
    return next(i.as_json() for i in sandbox.identities() if i.name == name)


def doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["doctor", "-o", "json", *args], env=env)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def checks(envelope: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in envelope["data"]["checks"]}


def statuses(envelope: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in envelope["data"]["checks"]}


def test_healthy_least_privilege_identity(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    app_ = ident(sandbox, "orders-api")
    code, env = doctor("--client-id", app_["client_id"])
    assert code == 0
    assert (env["version"], env["command"], env["status"], env["exit_code"], env["errors"]) == (1, "doctor", "ok", 0, [])
    assert statuses(env) == {k: "pass" for k in ("driver", "credential", "token", "dns", "tcp", "tls", "server", "login", "permissions")}
    c = checks(env)
    assert c["driver"]["evidence"]["version"] == "18.6" and c["driver"]["evidence"]["source"] == "mssql-python-odbc"
    assert c["credential"]["evidence"]["credential"] == "ManagedIdentityCredential"
    skipped = c["credential"]["evidence"]["skipped"]  # DefaultAzureCredential's earlier links, condensed
    assert skipped[0].startswith("EnvironmentCredential: ") and "https://" not in " ".join(skipped)
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    tok = c["token"]["evidence"]
    assert (tok["aud"].rstrip("/"), tok["tid"], tok["appid"], tok["oid"], tok["idtyp"]) == (
        "https://database.windows.net",
        tenant,
        app_["client_id"],
        app_["object_id"],
        "app",
    )
    assert tok["sid_hex"] == "0x" + uuid.UUID(app_["client_id"]).bytes_le.hex().upper()
    assert tok["name"] == "orders-api" and tok["matched_by"] == "client id (appid)"
    assert 3500 < tok["seconds_left"] <= 3600
    assert c["dns"]["evidence"]["addresses"] == ["127.0.0.1"] and c["dns"]["evidence"]["resolver"].startswith("dns 127.0.0.1:")
    assert c["tcp"]["evidence"]["port"] == sandbox.tds_port
    tls = c["tls"]["evidence"]
    assert (tls["tls_version"], tls["encryption"], tls["fedauth_required"], tls["server_version"], tls["verify_error"]) == (
        "TLSv1.2",
        "on",
        True,
        "12.0.2000",
        "",
    )
    srv = c["server"]["evidence"]
    assert (srv["server"], srv["entra_admin"], srv["entra_admin_type"], srv["public_network_access"], srv["minimal_tls_version"]) == (
        "sandbox-sql", "sandbox-operator", "Application", "Enabled", "1.2")  # fmt: skip
    assert (
        srv["firewall_rules"] == [{"name": "AllowLocalhost", "start": "127.0.0.1", "end": "127.0.0.1"}] and srv["database_exists"] is True
    )
    assert c["login"]["evidence"] == {
        "suser_sname": f"orders-api@{tenant}",
        "user_name": "orders-api",
        "db_name": "appdb",
        "server_version": "Microsoft SQL Azure (RTM) - 12.0.2000.8",
    }
    assert c["permissions"]["evidence"] == {"roles": ["db_datareader"], "permissions": ["CONNECT", "SELECT"]}
    assert all(ch["fix"] == "" and ch["duration_ms"] >= 0 for ch in env["data"]["checks"])
    identity = env["data"]["identity"]
    assert (identity["client_id"], identity["object_id"], identity["tenant_id"], identity["type"], identity["sid"], identity["name"]) == (
        app_["client_id"], app_["object_id"], tenant, "app", app_["client_id"], "orders-api")  # fmt: skip
    assert env["data"]["fixes"] == []


def test_human_output_checklist_and_fix_section(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["doctor", "--client-id", ident(sandbox, "billing-worker")["client_id"]], env={"COLUMNS": "250"})
    assert result.exit_code == ExitCode.CHECK_FAILED
    lines = result.stdout.splitlines()
    assert lines[0].startswith("✓ ODBC driver")
    assert any(line.startswith("✗ Token login") for line in lines)
    assert any(
        line.startswith("– Effective permissions (") is False and line.startswith("– Effective permissions: skipped: token login failed")
        for line in lines
    )
    fix = lines[lines.index("Fix") + 1]
    assert fix.startswith("  1. (login) azsqlctl grant billing-worker --client-id " + ident(sandbox, "billing-worker")["client_id"])
    assert lines[-1] == "doctor failed: 1 failed, 0 warning(s), 9 checks"


def test_no_matching_user_prints_the_grant_command(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    worker = ident(sandbox, "billing-worker")
    code, env = doctor("--client-id", worker["client_id"], "--admin-auth", "managed-identity")
    assert code == ExitCode.CHECK_FAILED and env["status"] == "failed"
    login = checks(env)["login"]
    assert login["code"] == "18456"
    sid = "0x" + uuid.UUID(worker["client_id"]).bytes_le.hex().upper()
    assert (
        f"no user in database appdb has SID {sid} (client id {worker['client_id']}) (checked sys.database_principals)" in login["finding"]
    )
    # The server came from the environment (the sandbox's ephemeral port): the fix leaves it to the environment.
    assert login["fix"].startswith(f"azsqlctl grant billing-worker --client-id {worker['client_id']} --role reader --database appdb")
    assert "--server" not in login["fix"] and str(sandbox.tds_port) not in login["fix"]
    _code, env = doctor("--client-id", worker["client_id"], "--server", f"localhost,{sandbox.tds_port}")
    assert f"--role reader --server localhost,{sandbox.tds_port} --database appdb" in checks(env)["login"]["fix"]  # given as a flag: kept
    assert "CREATE USER [billing-worker] FROM EXTERNAL PROVIDER;" in login["fix"]
    assert statuses(env)["permissions"] == "skip"


def test_user_created_with_the_object_id(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    worker = ident(sandbox, "billing-worker")
    with sandbox.sql.storage.edit_security("appdb") as db:
        db.users.append(DbUser("billing-worker", worker["object_id"], "E", 30))
    _code, env = doctor("--client-id", worker["client_id"], "--admin-auth", "managed-identity")
    login = checks(env)["login"]
    assert f"user [billing-worker] exists but was created with the object id {worker['object_id']}" in login["finding"]
    assert f"match by client id {worker['client_id']}" in login["finding"]
    assert login["fix"].startswith("DROP USER [billing-worker]; then azsqlctl grant billing-worker")


def test_stale_sid_after_identity_was_recreated(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    worker = ident(sandbox, "billing-worker")
    old = "11111111-2222-3333-4444-555555555555"
    with sandbox.sql.storage.edit_security("appdb") as db:
        db.users.append(DbUser("billing-worker", old, "E", 31))
    _code, env = doctor("--client-id", worker["client_id"], "--admin-auth", "managed-identity")
    finding = checks(env)["login"]["finding"]
    assert f"user [billing-worker] exists with SID 0x{uuid.UUID(old).bytes_le.hex().upper()}" in finding
    assert f"this identity's SID is 0x{uuid.UUID(worker['client_id']).bytes_le.hex().upper()} (identity recreated: stale SID)" in finding


def test_token_for_another_resource(sandbox: Sandbox, client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZSQLCTL_SQL_RESOURCE", "https://management.azure.com/")  # a misconfigured custom cloud
    _code, env = doctor()
    c = checks(env)
    assert c["token"]["status"] == "fail"
    assert c["token"]["finding"] == "the token is for Azure Resource Manager (https://management.azure.com), not Azure SQL"
    assert c["login"]["status"] == "fail" and c["login"]["code"] == "18456"
    assert "the token was refused: the token is for Azure Resource Manager" in c["login"]["finding"]


def test_expired_token_clock_skew(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    sandbox.faults.inject("token", "expired", count=None)
    _code, env = doctor()
    c = checks(env)
    assert c["token"]["status"] == "fail" and "the token expired" in c["token"]["finding"] and "clock skew" in c["token"]["finding"]
    assert "NTP" in c["token"]["fix"]
    assert "the token was refused: the token expired" in c["login"]["finding"]


def test_tenant_differs_from_the_servers_entra_admin(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        assert s.server.entra_admin is not None
        s.server.entra_admin.tenant_id = OTHER_TENANT
    _code, env = doctor()
    c = checks(env)
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    assert c["server"]["status"] == "fail"
    assert c["server"]["finding"] == f"the token is from tenant {tenant} but the server's Entra admin is in tenant {OTHER_TENANT}"
    assert "The server is not currently configured to accept this token." in c["login"]["finding"]
    assert f"the token is from tenant {tenant}, the server's Entra admin from tenant {OTHER_TENANT}" in c["login"]["finding"]
    assert c["login"]["fix"] == f"authenticate in tenant {OTHER_TENANT} (--tenant-id {OTHER_TENANT})"


def test_unreadable_token_login_failed_for_empty_user(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    sandbox.faults.inject("token", "opaque", count=None)
    _code, env = doctor()
    c = checks(env)
    assert c["token"]["status"] == "fail" and c["token"]["finding"].startswith("the token is not a JWT")
    assert c["login"]["finding"].startswith("Login failed for user ''. (18456): the server could not read the token")
    assert "utf-16-le" in c["login"]["fix"]


def test_token_mixed_with_uid_pwd_fa005(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    conn = f"Driver={{ODBC Driver 18 for SQL Server}};Server=tcp:localhost,{sandbox.tds_port};Database=appdb;UID=appuser;PWD=Sup3rS3cret!"
    result = runner.invoke(app, ["doctor", "-o", "json", "--connection-string", conn, "--debug"])
    env = json.loads(result.stdout)
    login = checks(env)["login"]
    assert login["code"] == "FA005"
    assert "Cannot use Access Token with any of the following options" in login["finding"]
    assert "UID/PWD/Authentication/Trusted_Connection" in login["finding"]
    assert "Sup3rS3cret!" not in result.stdout + result.stderr


def test_firewall_40615_prints_the_rule_command(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.client_ip = "203.0.113.7"
    _code, env = doctor("--client-ip", "203.0.113.7")
    c = checks(env)
    assert c["server"]["status"] == "warn" and "no firewall rule covers the client address 203.0.113.7" in c["server"]["finding"]
    assert c["login"]["code"] == "40615"
    assert c["login"]["fix"] == (
        "az sql server firewall-rule create --server sandbox-sql --name allow-203-0-113-7 "
        "--start-ip-address 203.0.113.7 --end-ip-address 203.0.113.7 --resource-group sandbox-rg"
    )


@pytest.mark.parametrize(
    ("configure", "number", "cause"),
    [
        (lambda s: setattr(s.server, "public_network_access", "Disabled"), "47073", "public network access is disabled"),
        (lambda s: setattr(s.server, "vnet_rule_missing", True), "40532", "service endpoint but the server has no VNet rule"),
    ],
    ids=["47073", "40532"],
)
def test_gateway_refusals(sandbox: Sandbox, client_env: dict[str, str], configure: Any, number: str, cause: str) -> None:
    with sandbox.store.mutate() as s:
        configure(s)
    _code, env = doctor()
    login = checks(env)["login"]
    assert login["code"] == number and cause in login["finding"]
    assert login["fix"]


def test_missing_database_4060(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    _code, env = doctor("--database", "nosuchdb")
    c = checks(env)
    assert c["server"]["finding"] == "database 'nosuchdb' does not exist on sandbox-sql"
    assert c["login"]["code"] == "4060" and "does not exist or this login cannot open it" in c["login"]["finding"]


def test_contained_user_connecting_to_master(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    _code, env = doctor("--client-id", ident(sandbox, "orders-api")["client_id"], "--database", "master")
    login = checks(env)["login"]
    assert "contained database users exist only in their own database" in login["finding"]
    assert login["fix"] == "pass --database <your database>"


def test_server_without_identity_cannot_read_the_directory(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.server.identity = ""
    _code, env = doctor()
    server = checks(env)["server"]
    assert server["status"] == "warn"
    assert "the server has no managed identity: CREATE USER ... FROM EXTERNAL PROVIDER fails with 33134" in server["finding"]
    assert server["evidence"]["server_identity"] == ""


@pytest.mark.parametrize("number", [40613, 40197, 40501])
def test_transient_errors_advise_retry(sandbox: Sandbox, client_env: dict[str, str], number: int) -> None:
    sandbox.faults.inject("tds", "login_error", number=number)
    _code, env = doctor()
    login = checks(env)["login"]
    assert login["code"] == str(number)
    assert "transient" in login["finding"] or "busy" in login["finding"]
    assert "retry" in login["fix"].lower()


def test_login_timeout_hyt00(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    sandbox.faults.inject("tds", "stall", count=None, delay=4)  # every connection, the TLS probe's too
    _code, env = doctor("--timeout", "2")
    login = checks(env)["login"]
    assert login["code"] == "HYT00" and "the login timed out" in login["finding"]


def test_untrusted_certificate_08001(sandbox: Sandbox, client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZSQLCTL_CA_BUNDLE")
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    _code, env = doctor()
    c = checks(env)
    assert c["tls"]["status"] == "fail" and "certificate" in c["tls"]["finding"] and "--ca-bundle" in c["tls"]["fix"]
    assert c["login"]["status"] == "skip"
    _code, env = doctor("--trust-server-certificate")
    c = checks(env)
    assert c["tls"]["status"] == "warn" and c["login"]["status"] == "pass"


def test_untrusted_certificate_seen_by_the_driver(sandbox: Sandbox, client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # The probe trusts the CA (AZSQLCTL_CA_BUNDLE) but the driver's OpenSSL is pointed elsewhere.
    from azsqlctl.core.diagnosis import classify

    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    import pyodbc

    from tests.conftest import raw_connect
    from tests.e2e.test_tds_login import mi_token

    with pytest.raises(pyodbc.OperationalError) as info:
        raw_connect(sandbox, mi_token())
    assert info.value.args[0] == "08001"
    assert classify("08001", -1, str(info.value.args[1]))[1].startswith("the driver could not establish a session (DNS, TCP or TLS)")


def test_dns_failure_skips_what_depends_on_it(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    sandbox.faults.inject("dns", "nxdomain", count=None)
    _code, env = doctor()
    c = checks(env)
    assert c["dns"]["status"] == "fail" and c["dns"]["code"] == "DNS"
    assert c["dns"]["finding"] == "localhost does not resolve (NXDOMAIN)"
    assert (c["tcp"]["status"], c["tls"]["status"], c["login"]["status"]) == ("skip", "skip", "skip")
    assert c["tcp"]["finding"] == "skipped: dns failed"


def test_private_link_name_with_public_address_is_flagged(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.server.private_endpoint_ip = "20.61.34.10"  # a public address
    _code, env = doctor()
    dns = checks(env)["dns"]
    assert dns["status"] == "warn"
    assert dns["evidence"]["cnames"] == ["sandbox-sql.privatelink.localhost"]
    assert "a private-link name resolves to a public address" in dns["finding"]


def test_tcp_refused(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _code, env = doctor("--server", f"localhost,{port}")
    c = checks(env)
    assert c["tcp"]["status"] == "fail" and "refused: nothing listens there" in c["tcp"]["finding"]
    assert c["login"]["status"] == "skip"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--cloud", "Nowhere"], ExitCode.USAGE, "unknown cloud 'Nowhere'"),
        (["--server", "tcp:host,notaport"], ExitCode.USAGE, "malformed server"),
        (["--timeout", "0"], ExitCode.USAGE, "timeout must be between 1 and 3600 seconds"),
    ],
)
def test_bad_inputs(sandbox: Sandbox, client_env: dict[str, str], args: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, ["doctor", *args])
    assert result.exit_code == code
    assert result.stderr.startswith("Error: ") and message in result.stderr and "\nHint: " in result.stderr
    assert "Traceback" not in result.stderr


def test_no_credential_exit_3(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["doctor", "--auth", "environment"])
    assert result.exit_code == ExitCode.AUTHENTICATION
    assert "✗ Credential" in result.stdout
    assert "Error: no credential could get a token" in result.stderr and "Hint: " in result.stderr
    code, env = doctor("--auth", "environment")
    assert (code, env["status"], env["errors"][0]["code"]) == (3, "error", "no_credential")
    assert statuses(env)["token"] == "skip" and statuses(env)["dns"] == "pass"


def test_wrong_resource_aadsts500011_is_explained(sandbox: Sandbox, client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZSQLCTL_SQL_RESOURCE", "https://database.windows.nett/")  # a typo in the custom cloud
    code, env = doctor()
    cred = checks(env)["credential"]
    assert code == ExitCode.AUTHENTICATION
    assert cred["code"] == "AADSTS500011"
    assert "the resource (token scope) does not exist in the tenant" in cred["finding"]
    assert cred["fix"] == "check --cloud and the SQL resource (AZSQLCTL_SQL_RESOURCE)"


def test_database_is_required(sandbox: Sandbox, client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZSQLCTL_DATABASE")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == ExitCode.USAGE
    assert "Error: no database given: doctor tests the database your application uses, not master" in result.stderr


def test_no_driver_exit_5(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from tests.e2e.test_cli import run_blocked

    proc = run_blocked(["doctor"], env=dict(os.environ), blocked=("pyodbc",))
    assert proc.returncode == ExitCode.NOT_FOUND
    assert "✗ ODBC driver" in proc.stdout
    assert "Error: pyodbc cannot load" in proc.stderr and "Hint: unixODBC is missing" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.usefixtures("cli_fork")  # a process of its own (--debug configures logging), forked: tests/cli_fork.py
def test_no_token_in_debug_output(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [*cli_fork.COMMAND, "doctor", "--debug", "--admin-auth", "managed-identity"],
        capture_output=True,
        text=True,
        timeout=90,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    assert "DEBUG" in proc.stderr
    assert "eyJ" not in proc.stdout + proc.stderr
    assert client_env["IDENTITY_HEADER"] not in proc.stdout + proc.stderr


def test_dns_servfail_and_a_malformed_answer(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azsqlctl.azure.network import _read_name
    from azsqlctl.core.errors import ProbeFailed

    sandbox.faults.inject("dns", "servfail", count=None)
    _code, env = doctor()
    assert checks(env)["dns"]["finding"] == "resolving localhost failed: SERVFAIL"
    with pytest.raises(ProbeFailed, match="malformed"):
        _read_name(b"\xc0\x00", 0)  # a compression pointer to itself: refused, never a hang

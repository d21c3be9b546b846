"""The ODBC driver's own `Authentication=ActiveDirectoryServicePrincipal` logs in through the sandbox authority.

The driver takes the authority from FEDAUTHINFO (the STS URL the server sends), asks it for a token with
UID = client id and PWD = secret, and sends that token. Its HTTPS client (libcurl) trusts only the system CA
store, not SSL_CERT_FILE; the test gives the client process a private mount namespace in which the system
bundle also holds the sandbox CA (needs `unshare -m`, i.e. root or user namespaces) - nothing on the machine
changes. Where that is not permitted the test is skipped, with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from azsqlctl.sandbox.entra import registry
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import DbUser
from tests.conftest import driver_path

SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CLIENT = """
import json, sys, pyodbc
pyodbc.pooling = False
conn = pyodbc.connect(sys.argv[1], timeout=20)
print(json.dumps(list(conn.execute("SELECT SUSER_SNAME(), USER_NAME()").fetchone())))
"""


def _private_trust(tmp_path: Path, ca: Path) -> list[str]:
    if shutil.which("unshare") is None or not SYSTEM_BUNDLE.is_file():
        pytest.skip("needs unshare and /etc/ssl/certs/ca-certificates.crt")
    bundle = tmp_path / "system-plus-sandbox.crt"
    bundle.write_text(SYSTEM_BUNDLE.read_text() + "\n" + ca.read_text())
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {bundle} {SYSTEM_BUNDLE}"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here: {probe.stderr.decode().strip()}")
    return ["unshare", "-m", "sh", "-c", f'mount --bind {bundle} {SYSTEM_BUNDLE} && exec "$0" "$@"']


def test_odbc_active_directory_service_principal(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    wrap = _private_trust(tmp_path, sandbox.certs.ca_cert)
    with sandbox.store.mutate() as s:
        app = registry.create_app(s, "orders-ci")
        secret = registry.add_secret(s, "orders-ci")
        tenant = s.tenant_id
    with sandbox.sql.storage.edit_security("appdb") as db:
        db.users.append(DbUser("orders-ci", app.client_id, "E", 9))
    conn_str = (
        f"DRIVER={{{driver_path()}}};SERVER=tcp:localhost,{sandbox.tds_port};DATABASE=appdb;Encrypt=yes;"
        f"Authentication=ActiveDirectoryServicePrincipal;UID={app.client_id};PWD={secret.value}"
    )
    done = subprocess.run([*wrap, sys.executable, "-c", CLIENT, conn_str], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [f"orders-ci@{tenant}", "orders-ci"]
    assert sandbox.entra.requests[app.client_id] == 1  # the driver asked the sandbox authority (FEDAUTHINFO's STS URL)
    assert sandbox.sql.fedauth_sts_url == f"{sandbox.entra.base_url}/{tenant}"


def test_odbc_service_principal_refusal_is_a_login_timeout_and_doctor_asks_entra(
    sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path
) -> None:
    """Measured: ODBC Driver 18 gets Entra's AADSTS7000215 (HTTP 401, v1 endpoint) and reports nothing until its
    login timeout (HYT00) - whatever the status (400/401/500/200) or body shape the authority answers. doctor,
    given the same client id and secret, asks Entra itself and shows the code with its fix."""
    wrap = _private_trust(tmp_path, sandbox.certs.ca_cert)
    with sandbox.store.mutate() as s:
        app = registry.create_app(s, "orders-ci")
        registry.add_secret(s, "orders-ci")
        tenant = s.tenant_id
    with sandbox.sql.storage.edit_security("appdb") as db:
        db.users.append(DbUser("orders-ci", app.client_id, "E", 9))
    conn_str = (
        f"DRIVER={{{driver_path()}}};SERVER=tcp:localhost,{sandbox.tds_port};DATABASE=appdb;Encrypt=yes;"
        f"Authentication=ActiveDirectoryServicePrincipal;UID={app.client_id};PWD=not-the-secret"
    )
    done = subprocess.run([*wrap, sys.executable, "-c", CLIENT.replace("timeout=20", "timeout=4"), conn_str],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode != 0 and "HYT00" in done.stderr and "Login timeout expired" in done.stderr, done.stderr[-1000:]
    assert sandbox.entra.requests[app.client_id] == 1  # it asked, was refused, and waited

    env = dict(os.environ) | {"AZURE_CLIENT_ID": app.client_id, "AZURE_CLIENT_SECRET": "not-the-secret", "AZURE_TENANT_ID": tenant}
    doctor = subprocess.run([sys.executable, "-m", "azsqlctl", "doctor", "--auth", "environment", "-o", "json"],
                            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)  # fmt: skip
    report = json.loads(doctor.stdout)
    assert report["data"], doctor.stdout + doctor.stderr
    cred = next(c for c in report["data"]["checks"] if c["id"] == "credential")
    assert cred["code"] == "AADSTS7000215", cred
    assert "not one of its secrets" in json.dumps(cred) and "AZURE_CLIENT_SECRET" in cred["fix"], cred

    from azsqlctl.core.diagnosis import lookup

    hyt00 = lookup("HYT00", None)
    assert hyt00 is not None and "ActiveDirectoryServicePrincipal" in hyt00.fix and "doctor --auth environment" in hyt00.fix

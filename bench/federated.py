"""A federated login vs a managed-identity login, each as a whole process (goal <= 1.2x).

Federated: a GitHub Actions job's path through azsqlctl's github-actions auth - the runner's OIDC endpoint
gives a GitHub token, azure-identity's ClientAssertionCredential trades it at the sandbox authority (HTTPS)
for an Entra token, the ODBC driver logs in with it. Managed identity: azsqlctl's managed-identity auth
(ManagedIdentityCredential) asks the App Service endpoint, the driver logs in. Same query, same database,
interleaved runs so a busy moment hits both alike.

Measured twice: with REQUESTS_CA_BUNDLE = the sandbox CA alone, and with the sandbox's default bundle (system
roots + sandbox CA). requests would load the bundle into a new SSL context for every connection (~50 ms for
a full system bundle here); the federated path makes two HTTPS calls (the runner's OIDC endpoint, the
authority), which azsqlctl sends through one session verifying with one SSLContext, so the bundle is loaded
once; the managed-identity path has none (App Service's endpoint is plain HTTP).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONNECT = """
import os, struct, pyodbc
from azsqlctl.azure.driver import find_driver
data = token.encode("utf-16-le")
pyodbc.pooling = False
cnxn = pyodbc.connect("DRIVER={%s};SERVER=tcp:%s;DATABASE=appdb;Encrypt=yes" % (find_driver().spec, os.environ["AZSQLCTL_SERVER"]),
                      attrs_before={1256: struct.pack("<I", len(data)) + data})
assert cnxn.cursor().execute("SELECT USER_NAME()").fetchone()[0] == os.environ["EXPECT_USER"]
"""
# Both through azsqlctl's own credentials (azsqlctl.azure.credentials), as `azsqlctl --auth ...` logs in.
PRELUDE = """
import os
from azsqlctl.azure.credentials import get_credential, get_token
from azsqlctl.core.clouds import Cloud
cloud = Cloud("bench", "", "", "", "", "https://database.windows.net/", authority_host=os.environ["AZSQLCTL_AUTHORITY_HOST"])
"""
MANAGED = (
    PRELUDE
    + """
token = get_token(get_credential("managed-identity", os.environ["AZURE_CLIENT_ID"], cloud), cloud.sql_scope).token
"""
)
# github-actions auth: the runner's OIDC endpoint, then ClientAssertionCredential at the authority - one
# requests.Session and one SSLContext for both HTTPS calls.
FEDERATED = (
    PRELUDE
    + """
token = get_token(get_credential("github-actions", "", cloud), cloud.sql_scope).token
"""
)


def bench_federated(runs: int) -> None:
    from azsqlctl.sandbox.serve import Sandbox
    from azsqlctl.testing import SandboxControl

    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp) / "state.json") as sb:
        control = SandboxControl(sb)
        control.add_service_principal("orders-ci", ("reader",))
        control.add_federated_credential(
            "orders-ci", "main", "https://token.actions.githubusercontent.com", "repo:contoso/orders:ref:refs/heads/main"
        )
        job = control.job("github:contoso/orders@refs/heads/main", Path(tmp))
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "ACTIONS_"))} | sb.env
        orders_api = control.identity("orders-api")
        managed_env = base | {"AZURE_CLIENT_ID": orders_api.client_id, "EXPECT_USER": "orders-api"}
        federated_env = {k: v for k, v in base.items() if k not in job.unset} | job.env | {"EXPECT_USER": "orders-ci"}
        managed_cmd = [sys.executable, "-c", MANAGED + CONNECT]
        federated_cmd = [sys.executable, "-c", FEDERATED + CONNECT]

        def once(cmd: list[str], env: dict[str, str]) -> float:
            start = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=tmp)
            return (time.perf_counter() - start) * 1000

        for label, bundle in (("sandbox CA only", str(sb.certs.ca_cert)), ("system roots + sandbox CA", sb.env["REQUESTS_CA_BUNDLE"])):
            m_env, f_env = managed_env | {"REQUESTS_CA_BUNDLE": bundle}, federated_env | {"REQUESTS_CA_BUNDLE": bundle}
            once(managed_cmd, m_env), once(federated_cmd, f_env)  # warm the page cache; both must succeed
            managed, federated = [], []
            for _ in range(runs):
                managed.append(once(managed_cmd, m_env))
                federated.append(once(federated_cmd, f_env))
            m, f = statistics.median(managed), statistics.median(federated)
            print(f"federated ({label}): GitHub OIDC -> Entra assertion -> TDS login {f:.0f} ms vs managed identity -> TDS login "
                  f"{m:.0f} ms, whole process, medians of {runs}: {f / m:.2f}x (goal <= 1.2x)")  # fmt: skip

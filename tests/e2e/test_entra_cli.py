"""Service principals and federated identities end to end through the CLI, as a CI job or pod runs it:
`sandbox app ...` registers, `grant` (as the server's admin) makes the user, `sandbox run --as ...` gives the
job's environment, and azsqlctl's own auth kinds log in through unmodified azure-identity."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import cli_fork
from tests.conftest import seed_keys

pytestmark = [
    pytest.mark.sandbox_keys,  # CLI sandboxes over --state in tmp_path: the session's keys (tests/conftest.py)
    pytest.mark.usefixtures("cli_fork"),  # many `python -m azsqlctl` processes: tests/cli_fork.py
]
CLI = cli_fork.COMMAND
GITHUB = "https://token.actions.githubusercontent.com"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_", "ACTIONS_"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


def cli(tmp_path: Path, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env={**_env(tmp_path), **(extra or {})}, cwd=tmp_path)


def cli_json(tmp_path: Path, *args: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    done = cli(tmp_path, *args, "-o", "json", extra=extra)
    assert done.stdout, done.stderr
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["rc"] = done.returncode
    out["stderr"] = done.stderr
    return out


@pytest.fixture(scope="module")
def orders_ci(tmp_path_factory: pytest.TempPathFactory, material_dir: Path, cli_fork: None) -> tuple[Path, str]:
    """A state where `sandbox app create` registered orders-ci and `grant --apply` (as the server's admin, under
    `sandbox run`) made it a reader in appdb: built once per module, copied into each test that starts from it
    (each test's own changes stay in its copy). Returns the directory holding the state's files and the client id."""
    del cli_fork
    home = tmp_path_factory.mktemp("orders-ci")
    seed_keys(material_dir, home / ".azsqlctl-sandbox")
    state = home / "state.json"
    created = cli_json(home, "sandbox", "app", "create", "orders-ci", "--state", str(state))
    assert created["rc"] == 0, created
    client_id = created["data"]["client_id"]
    grant = cli(
        home,
        "sandbox",
        "run",
        "--state",
        str(state),
        "--",
        *CLI,
        "grant",
        "orders-ci",
        "--client-id",
        client_id,
        "--role",
        "reader",
        "--apply",
    )
    assert grant.returncode == 0, grant.stdout + grant.stderr
    return home, client_id


def _app_with_user(tmp_path: Path, orders_ci: tuple[Path, str]) -> tuple[Path, str]:
    """This test's copy of ``orders_ci``'s state (the state file, its databases' data and its audit log)."""
    home, client_id = orders_ci
    for item in home.glob("state.*"):
        if item.is_dir():
            shutil.copytree(item, tmp_path / item.name)
        else:
            shutil.copy2(item, tmp_path / item.name)
    return tmp_path / "state.json", client_id


def test_environment_auth_with_a_secret_logs_in_as_the_app(tmp_path: Path, orders_ci: tuple[Path, str]) -> None:
    state, client_id = _app_with_user(tmp_path, orders_ci)
    secret = cli_json(tmp_path, "sandbox", "app", "add-secret", "orders-ci", "--state", str(state))["data"]
    env = {"AZURE_CLIENT_ID": client_id, "AZURE_TENANT_ID": secret["tenant_id"], "AZURE_CLIENT_SECRET": secret["value"]}
    who = cli_json(tmp_path, "sandbox", "run", "--state", str(state), "--", *CLI, "whoami", "--auth", "environment", "--debug", extra=env)
    assert who["rc"] == 0, who
    assert who["data"]["user_name"] == "orders-ci" or "orders-ci" in json.dumps(who["data"])
    # --debug says why the flag is passed (the authority is the sandbox's, not Microsoft's)
    assert "is not one of Microsoft's: passing disable_instance_discovery=True" in who["stderr"]
    assert secret["value"] not in who["stderr"]

    # default: EnvironmentCredential comes first in the chain
    who = cli_json(tmp_path, "sandbox", "run", "--state", str(state), "--", *CLI, "whoami", "--auth", "default", extra=env)
    assert who["rc"] == 0 and "orders-ci" in json.dumps(who["data"]), who

    # a wrong secret: doctor names the code, the app and the fix
    bad = {**env, "AZURE_CLIENT_SECRET": "abc" + "x" * 37}
    doc = cli_json(tmp_path, "sandbox", "run", "--state", str(state), "--", *CLI, "doctor", "--auth", "environment", extra=bad)
    cred = next(c for c in doc["data"]["checks"] if c["id"] == "credential")
    assert cred["code"] == "AADSTS7000215"
    assert f"the client secret sent for app {client_id} is not one of its secrets (it starts 'abc')" in cred["finding"]


def test_expired_secret_doctor_says_which_and_how_to_renew(tmp_path: Path, orders_ci: tuple[Path, str]) -> None:
    state, client_id = _app_with_user(tmp_path, orders_ci)
    secret = cli_json(tmp_path, "sandbox", "app", "add-secret", "orders-ci", "--days", "-1", "--state", str(state))["data"]
    env = {"AZURE_CLIENT_ID": client_id, "AZURE_TENANT_ID": secret["tenant_id"], "AZURE_CLIENT_SECRET": secret["value"]}
    doc = cli_json(tmp_path, "sandbox", "run", "--state", str(state), "--", *CLI, "doctor", "--auth", "environment", extra=env)
    cred = next(c for c in doc["data"]["checks"] if c["id"] == "credential")
    assert cred["code"] == "AADSTS7000222"
    assert (
        f"the client secret of app {client_id} starting '{secret['value'][:3]}' has expired (Entra's error does not say when)"
        in cred["finding"]
    )
    assert f"[?hint=='{secret['value'][:3]}']" in cred["fix"]
    assert f"az ad app credential list --id {client_id}" in cred["fix"]
    listed = cli_json(tmp_path, "sandbox", "app", "list", "--state", str(state))["data"][0]
    assert listed["secrets"][0]["end"] == secret["end"]  # when it expired: `sandbox app list` shows it


def test_environment_auth_with_a_certificate(tmp_path: Path, orders_ci: tuple[Path, str]) -> None:
    state, client_id = _app_with_user(tmp_path, orders_ci)
    pem = tmp_path / "ci.pem"
    added = cli_json(tmp_path, "sandbox", "app", "add-certificate", "orders-ci", "--create-cert", str(pem), "--state", str(state))
    assert added["rc"] == 0 and oct(pem.stat().st_mode & 0o777) == "0o600"
    env = {"AZURE_CLIENT_ID": client_id, "AZURE_TENANT_ID": added["data"]["tenant_id"], "AZURE_CLIENT_CERTIFICATE_PATH": str(pem)}
    who = cli_json(tmp_path, "sandbox", "run", "--state", str(state), "--", *CLI, "whoami", "--auth", "environment", extra=env)
    assert who["rc"] == 0 and "orders-ci" in json.dumps(who["data"]), who


def test_github_actions_job_logs_in_and_a_pull_request_gets_the_fix(tmp_path: Path, orders_ci: tuple[Path, str]) -> None:
    state, client_id = _app_with_user(tmp_path, orders_ci)
    fic = cli(tmp_path, "sandbox", "app", "add-federated-credential", "orders-ci", "--name", "main", "--issuer", GITHUB,
              "--subject", "repo:contoso/orders:ref:refs/heads/main", "--state", str(state))  # fmt: skip
    assert fic.returncode == 0, fic.stderr
    run = ["sandbox", "run", "--state", str(state), "--as"]
    who = cli_json(tmp_path, *run, "github:contoso/orders@refs/heads/main", "--", *CLI, "whoami", "--auth", "github-actions")
    assert who["rc"] == 0 and "orders-ci" in json.dumps(who["data"]), who
    # default in a job: no managed identity there, EnvironmentCredential is not configured, and
    # WorkloadIdentityCredential needs a token file: the chain fails (a job uses github-actions).
    pr = cli_json(tmp_path, *run, "github:contoso/orders:pull_request", "--", *CLI, "doctor", "--auth", "github-actions")
    cred = next(c for c in pr["data"]["checks"] if c["id"] == "credential")
    assert cred["code"] == "AADSTS700213"
    assert "subject 'repo:contoso/orders:pull_request'" in cred["finding"]
    assert (
        f'az ad app federated-credential create --id {client_id} --parameters \'{{"name":"repo-contoso-orders-pull_request",'
        f'"issuer":"{GITHUB}","subject":"repo:contoso/orders:pull_request","audiences":["api://AzureADTokenExchange"]}}\''
    ) in cred["fix"]
    # after running doctor's command (here: the sandbox's equivalent), the pull request logs in
    add = cli(tmp_path, "sandbox", "app", "add-federated-credential", "orders-ci", "--name", "pull-requests", "--issuer", GITHUB,
              "--subject", "repo:contoso/orders:pull_request", "--state", str(state))  # fmt: skip
    assert add.returncode == 0
    again = cli_json(tmp_path, *run, "github:contoso/orders:pull_request", "--", *CLI, "whoami", "--auth", "github-actions")
    assert again["rc"] == 0, again


def test_github_actions_without_id_token_permission(tmp_path: Path, orders_ci: tuple[Path, str]) -> None:
    state, _ = _app_with_user(tmp_path, orders_ci)
    doc = cli_json(tmp_path, "sandbox", "run", "--state", str(state), "--", *CLI, "doctor", "--auth", "github-actions")
    cred = next(c for c in doc["data"]["checks"] if c["id"] == "credential")
    assert "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN not set" in cred["finding"]
    assert "permissions: id-token: write" in cred["fix"]


def test_aks_pod_workload_identity_and_default_chain(tmp_path: Path, orders_ci: tuple[Path, str]) -> None:
    state, client_id = _app_with_user(tmp_path, orders_ci)
    aks_issuer = "https://oidc.prod-aks.azure.com/"  # + the sandbox cluster's id, read from the job's token below
    probe = cli(tmp_path, "sandbox", "run", "--state", str(state), "--as", "aks:prod/orders", "--", "sh", "-c",
                'cat "$AZURE_FEDERATED_TOKEN_FILE"; echo; echo "$AZURE_AUTHORITY_HOST"')  # fmt: skip
    token, authority = probe.stdout.split()
    from azsqlctl.core import jwt

    claims = jwt.claims(token)
    assert str(claims["iss"]).startswith(aks_issuer) and str(claims["iss"]).endswith("/")
    assert claims["sub"] == "system:serviceaccount:prod:orders" and claims["aud"] == ["api://AzureADTokenExchange"]
    assert authority.startswith("https://localhost:") and authority.endswith("/")
    # The FIC without the trailing slash: the classic mistake, AADSTS700211.
    added = cli(tmp_path, "sandbox", "app", "add-federated-credential", "orders-ci", "--name", "aks", "--issuer",
                str(claims["iss"]).rstrip("/"), "--subject", "system:serviceaccount:prod:orders", "--state", str(state))  # fmt: skip
    assert added.returncode == 0
    run = ["sandbox", "run", "--state", str(state), "--as", "aks:prod/orders", "--as-client-id", client_id, "--"]
    doc = cli_json(tmp_path, *run, *CLI, "doctor", "--auth", "workload-identity")
    cred = next(c for c in doc["data"]["checks"] if c["id"] == "credential")
    assert cred["code"] == "AADSTS700211"
    assert "a trailing '/' counts" in cred["finding"]
    fixed = cli(tmp_path, "sandbox", "app", "add-federated-credential", "orders-ci", "--name", "aks-fixed", "--issuer",
                str(claims["iss"]), "--subject", "system:serviceaccount:prod:orders", "--state", str(state))  # fmt: skip
    assert fixed.returncode == 0
    for auth in ("workload-identity", "default"):
        who = cli_json(tmp_path, *run, *CLI, "whoami", "--auth", auth)
        assert who["rc"] == 0 and "orders-ci" in json.dumps(who["data"]), (auth, who)


def test_as_refuses_what_it_cannot_be(tmp_path: Path) -> None:
    state = str(tmp_path / "state.json")
    for spec, text in (
        ("bogus:x", "Error: --as 'bogus:x': unknown kind 'bogus'"),
        ("aks:onlyns", "Error: --as 'aks:onlyns': expected aks:NAMESPACE/SERVICEACCOUNT"),
        ("github:noslash", "Error: --as 'github:noslash': 'noslash' does not start with ORG/REPO"),
    ):
        done = cli(tmp_path, "sandbox", "run", "--state", state, "--as", spec, "--", "true")
        assert done.returncode == 2, done.stderr
        assert text in done.stderr
        assert "Hint: use one of: github:ORG/REPO[@REF]" in done.stderr


def test_doctor_explains_unknown_app_and_unregistered_certificate(tmp_path: Path, orders_ci: tuple[Path, str]) -> None:
    state, client_id = _app_with_user(tmp_path, orders_ci)
    tenant = cli_json(tmp_path, "sandbox", "app", "list", "--state", str(state))["data"][0]["tenant_id"]
    stranger = "11111111-2222-3333-4444-555555555555"
    env = {"AZURE_CLIENT_ID": stranger, "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_SECRET": "abcdefghijklmnopqrstuvwxyz0123456789ABCD"}
    doc = cli_json(tmp_path, "sandbox", "run", "--state", str(state), "--", *CLI, "doctor", "--auth", "environment", extra=env)
    cred = next(c for c in doc["data"]["checks"] if c["id"] == "credential")
    assert cred["code"] == "AADSTS700016"
    assert f"the application {stranger} is not registered in this tenant" in cred["finding"]

    # a certificate that was never registered on the app: 700027 with its thumbprint
    other = tmp_path / "other.pem"
    made = cli(tmp_path, "sandbox", "app", "create", "someone-else", "--state", str(state))
    assert made.returncode == 0
    registered = cli_json(tmp_path, "sandbox", "app", "add-certificate", "someone-else", "--create-cert", str(other), "--state", str(state))
    env = {"AZURE_CLIENT_ID": client_id, "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_CERTIFICATE_PATH": str(other)}
    doc = cli_json(tmp_path, "sandbox", "run", "--state", str(state), "--", *CLI, "doctor", "--auth", "environment", extra=env)
    cred = next(c for c in doc["data"]["checks"] if c["id"] == "credential")
    assert cred["code"] == "AADSTS700027"
    thumbprint = registered["data"]["thumbprint"]
    assert f"the certificate (thumbprint {thumbprint}) is not registered on app {client_id}" in cred["finding"]
    assert f"az ad app credential reset --id {client_id} --cert @cert.pem --append" in cred["fix"]

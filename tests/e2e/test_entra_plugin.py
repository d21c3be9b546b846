"""The pytest plugin's service-principal and federated-login fixtures, used as a project's tests would."""

from __future__ import annotations

import pytest

from azsqlctl.core import jwt
from azsqlctl.testing import FederatedJob, SandboxControl, ServicePrincipal

SQL_SCOPE = "https://database.windows.net/.default"


def test_service_principal_fixture_secret_certificate_and_environment(
    azsql_service_principal: ServicePrincipal, azsql_env: dict[str, str], azsql_control: SandboxControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import CertificateCredential, EnvironmentCredential

    sp = azsql_service_principal
    assert jwt.claims(sp.credential().get_token(SQL_SCOPE).token)["appidacr"] == "1"
    cert = CertificateCredential(sp.tenant_id, sp.client_id, sp.certificate_path, authority=sp.authority, disable_instance_discovery=True)
    assert jwt.claims(cert.get_token(SQL_SCOPE).token)["appidacr"] == "2"
    for key, value in sp.env.items():
        monkeypatch.setenv(key, value)
    token = EnvironmentCredential(disable_instance_discovery=True).get_token(SQL_SCOPE).token
    assert jwt.claims(token)["appid"] == sp.client_id
    assert sp.secret not in repr(sp)
    ok_before, _ = azsql_control.logins()
    import pyodbc

    from tests.conftest import driver_path, token_struct

    server = azsql_env["AZSQLCTL_SERVER"]
    conn = pyodbc.connect(
        f"DRIVER={{{driver_path()}}};SERVER=tcp:{server};DATABASE=appdb;Encrypt=yes", attrs_before={1256: token_struct(token)}, timeout=10
    )
    assert conn.execute("SELECT USER_NAME()").fetchone()[0] == "azsql-sp"
    conn.close()
    assert azsql_control.logins()[0] == ok_before + 1


def test_github_job_fixture_logs_in_with_the_runner_token(azsql_github_job: FederatedJob, azsql_env: dict[str, str]) -> None:
    import os

    import requests
    from azure.identity import ClientAssertionCredential

    assert "IDENTITY_ENDPOINT" not in os.environ and os.environ["GITHUB_REF"] == "refs/heads/main"

    def runner_token() -> str:
        reply = requests.get(
            os.environ["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=api%3A%2F%2FAzureADTokenExchange",
            headers={"Authorization": f"Bearer {os.environ['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"},
            timeout=10,
        )
        value: str = reply.json()["value"]
        return value

    github = jwt.claims(runner_token())
    assert github["iss"] == "https://token.actions.githubusercontent.com"
    assert github["sub"] == "repo:contoso/app:ref:refs/heads/main"
    cred = ClientAssertionCredential(
        os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"], runner_token, authority=azsql_env["AZSQLCTL_AUTHORITY_HOST"]
    )
    assert jwt.claims(cred.get_token(SQL_SCOPE).token)["appid"] == azsql_github_job.client_id


def test_generated_db_module_logs_in_as_a_service_principal(
    azsql_service_principal: ServicePrincipal,
    azsql_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The scaffolded module with a service principal's environment (EnvironmentCredential through
    DefaultAzureCredential; disable_instance_discovery because the sandbox authority is not Microsoft's)."""
    import importlib
    import sys

    from azsqlctl.core.scaffold import Ci, ScaffoldInputs, render
    from tests.conftest import driver_path

    root = tmp_path_factory.mktemp("sp-module")
    for f in render(ScaffoldInputs(package="spmod.db", ci=Ci.NONE)):
        path = root / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.content)
    (root / "spmod" / "__init__.py").write_text("")
    for key, value in azsql_service_principal.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(root))
    try:
        connection = importlib.import_module("spmod.db.connection")
        settings = importlib.import_module("spmod.db.settings")
        tokens = importlib.import_module("spmod.db.tokens")
        values = settings.DbSettings(server=azsql_env["AZSQLCTL_SERVER"], database="appdb", odbc_driver=driver_path())
        assert type(tokens.make_credential(values)).__name__ == "DefaultAzureCredential"
        database = connection.Database(values)
        with database.session() as session:
            assert session.query("SELECT USER_NAME()")[0][0] == "azsql-sp"
        database.close()
    finally:
        for name in [m for m in sys.modules if m.startswith("spmod")]:
            del sys.modules[name]

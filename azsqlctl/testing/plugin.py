"""pytest plugin: the azsqlctl sandbox as fixtures (registered through the ``pytest11`` entry point).

- ``azsql_sandbox`` (session): the sandbox running in this process (token endpoint, TDS, ARM, DNS on 127.0.0.1),
  started once per test session; an :class:`azsqlctl.sandbox.serve.Sandbox`.
- ``azsql_env`` (test): the environment a client of the sandbox has (``IDENTITY_ENDPOINT``, ``IDENTITY_HEADER``,
  ``SSL_CERT_FILE``, ``AZSQLCTL_SERVER``, ``AZSQLCTL_DATABASE``, ``AZSQLCTL_ODBC_DRIVER`` ...), set in ``os.environ``
  for the test (variables that would steer azure-identity elsewhere are removed) and returned as a dict.
- ``azsql_identities`` (session): the tenant's identities by name (client id, object id).
- ``azsql_control`` (test): a :class:`SandboxControl` - make an identity a user with roles, refuse its logins,
  shorten the token lifetime, inject faults, count token requests and logins; undone after the test.

- ``azsql_service_principal`` (test): an app registration ``azsql-sp`` with a client secret and a certificate,
  a reader in appdb (:class:`ServicePrincipal`: ``.env`` for EnvironmentCredential, ``.credential()``).
- ``azsql_github_job`` (test): a GitHub Actions job of ``contoso/app`` on refs/heads/main whose app ``azsql-ci``
  (a reader in appdb) trusts it; the job's environment is in ``os.environ`` (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN,
  AZURE_CLIENT_ID, AZURE_TENANT_ID; no managed-identity variables) and a :class:`FederatedJob` is returned.

Every fixture name starts with ``azsql_`` so none collides with a project's own fixtures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .control import FederatedJob, IdentityInfo, SandboxControl, ServicePrincipal

if TYPE_CHECKING:
    from azsqlctl.sandbox.serve import Sandbox

# Variables from the machine that would steer azure-identity or azsqlctl away from the sandbox.
FOREIGN_PREFIXES = ("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("azsql_token_lifetime", "seconds a sandbox token lives (default 3600)", default="")


@pytest.fixture(scope="session")
def azsql_sandbox(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Sandbox]:
    """The sandbox, started once for the test session (its state in memory, keys in a temp directory)."""
    from azsqlctl.sandbox.serve import Sandbox

    lifetime = str(pytestconfig.getini("azsql_token_lifetime") or "").strip()
    sandbox = Sandbox(None, material_dir=tmp_path_factory.mktemp("azsql-sandbox"))
    if lifetime:
        with sandbox.store.mutate() as s:
            s.token_lifetime = int(lifetime)
    with sandbox:
        yield sandbox


def _driver() -> str:
    try:
        from azsqlctl.azure.driver import find_driver

        return find_driver().spec
    except Exception:  # noqa: BLE001 - no driver: the variable is left out, the app's default applies
        return ""


@pytest.fixture(scope="session")
def _azsql_client_env(azsql_sandbox: Sandbox) -> dict[str, str]:
    env = dict(azsql_sandbox.env)
    if driver := _driver():
        env["AZSQLCTL_ODBC_DRIVER"] = driver
    return env


@pytest.fixture
def azsql_env(_azsql_client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox's client environment, in ``os.environ`` for this test (and returned)."""
    for key in list(os.environ):
        if key.startswith(FOREIGN_PREFIXES):
            monkeypatch.delenv(key)
    for key, value in _azsql_client_env.items():
        monkeypatch.setenv(key, value)
    return dict(_azsql_client_env)


@pytest.fixture(scope="session")
def azsql_identities(azsql_sandbox: Sandbox) -> dict[str, IdentityInfo]:
    return SandboxControl(azsql_sandbox).identities()


@pytest.fixture
def azsql_control(azsql_sandbox: Sandbox) -> Iterator[SandboxControl]:
    """Change the sandbox's state for one test; everything is put back afterwards."""
    control = SandboxControl(azsql_sandbox)
    try:
        yield control
    finally:
        control.reset()


GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@pytest.fixture
def azsql_service_principal(azsql_control: SandboxControl, tmp_path: Path) -> ServicePrincipal:
    """A service principal (secret + certificate) that is a reader in appdb; removed after the test."""
    return azsql_control.add_service_principal("azsql-sp", ("reader",), certificate_dir=tmp_path)


@pytest.fixture
def azsql_github_job(
    azsql_control: SandboxControl, azsql_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> FederatedJob:
    """This test runs as a GitHub Actions job of contoso/app on main, federated to app azsql-ci (a reader)."""
    azsql_control.add_service_principal("azsql-ci", ("reader",))
    azsql_control.add_federated_credential("azsql-ci", "main", GITHUB_ISSUER, "repo:contoso/app:ref:refs/heads/main")
    job = azsql_control.job("github:contoso/app@refs/heads/main", tmp_path)
    for key in job.unset:
        monkeypatch.delenv(key, raising=False)
    for key, value in job.env.items():
        monkeypatch.setenv(key, value)
    return job

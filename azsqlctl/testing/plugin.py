"""pytest plugin: the azsqlctl sandbox as fixtures (registered through the ``pytest11`` entry point).

- ``azsql_sandbox`` (session): the sandbox running in this process (token endpoint, TDS, ARM, DNS on 127.0.0.1),
  started once per test session; an :class:`azsqlctl.sandbox.serve.Sandbox`.
- ``azsql_env`` (test): the environment a client of the sandbox has (``IDENTITY_ENDPOINT``, ``IDENTITY_HEADER``,
  ``SSL_CERT_FILE``, ``AZSQLCTL_SERVER``, ``AZSQLCTL_DATABASE``, ``AZSQLCTL_ODBC_DRIVER`` ...), set in ``os.environ``
  for the test (variables that would steer azure-identity elsewhere are removed) and returned as a dict.
- ``azsql_identities`` (session): the tenant's identities by name (client id, object id).
- ``azsql_control`` (test): a :class:`SandboxControl` - make an identity a user with roles, refuse its logins,
  shorten the token lifetime, inject faults, count token requests and logins; undone after the test.

Every fixture name starts with ``azsql_`` so none collides with a project's own fixtures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .control import IdentityInfo, SandboxControl

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

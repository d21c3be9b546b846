"""The pytest plugin (azsqlctl.testing): fixtures any project can use, exercised here with the real SDK and driver."""

from __future__ import annotations

import textwrap

import pytest
from azure.identity import ManagedIdentityCredential

from azsqlctl.testing import SandboxControl
from tests.conftest import driver_path, token_struct

pytest_plugins = ["pytester"]


def _login(env: dict[str, str], client_id: str) -> str:
    import pyodbc

    pyodbc.pooling = False
    token = ManagedIdentityCredential(client_id=client_id).get_token("https://database.windows.net/.default").token
    conn = pyodbc.connect(
        f"DRIVER={{{driver_path()}}};SERVER=tcp:{env['AZSQLCTL_SERVER']};DATABASE={env['AZSQLCTL_DATABASE']};Encrypt=yes",
        attrs_before={1256: token_struct(token)},
        timeout=10,
    )
    try:
        return str(conn.cursor().execute("SELECT USER_NAME()").fetchone()[0])
    finally:
        conn.close()


def test_fixtures_give_a_working_sandbox_and_state_changes_are_undone(azsql_env, azsql_identities, azsql_control: SandboxControl):
    import pyodbc

    worker = azsql_identities["billing-worker"]
    assert azsql_env["IDENTITY_ENDPOINT"].startswith("http://127.0.0.1:")
    with pytest.raises(pyodbc.Error, match="18456"):
        _login(azsql_env, worker.client_id)
    azsql_control.make_user("billing-worker", roles=["reader"])
    assert _login(azsql_env, worker.client_id) == "billing-worker"
    assert azsql_control.token_requests("billing-worker") == 2
    assert azsql_control.logins() == (1, 1)
    azsql_control.deny_login("billing-worker")
    with pytest.raises(pyodbc.Error, match="18456"):
        _login(azsql_env, worker.client_id)
    azsql_control.make_user("billing-worker")
    azsql_control.inject("tds", "login_error", number=40501)
    with pytest.raises(pyodbc.Error, match="40501"):
        _login(azsql_env, worker.client_id)
    azsql_control.set_database_available(False)
    with pytest.raises(pyodbc.Error, match="40613"):
        _login(azsql_env, worker.client_id)
    azsql_control.set_database_available(True)
    assert _login(azsql_env, worker.client_id) == "billing-worker"
    azsql_control.set_token_lifetime(60)
    token = ManagedIdentityCredential(client_id=worker.client_id).get_token("https://database.windows.net/.default")
    assert 50 <= token.expires_on - __import__("time").time() <= 61
    azsql_control.reset()
    with pytest.raises(pyodbc.Error, match="18456"):
        _login(azsql_env, worker.client_id)
    assert azsql_control.sandbox.store.read(lambda s: s.token_lifetime) == 3600


def test_state_from_the_previous_test_is_gone(azsql_env, azsql_identities):
    import pyodbc

    with pytest.raises(pyodbc.Error, match="18456"):
        _login(azsql_env, azsql_identities["billing-worker"].client_id)
    assert _login(azsql_env, azsql_identities["orders-api"].client_id) == "orders-api"


def test_unknown_names_are_refused_with_what_exists(azsql_control: SandboxControl):
    with pytest.raises(KeyError, match="orders-api"):
        azsql_control.make_user("nobody")
    with pytest.raises(KeyError, match="appdb"):
        azsql_control.make_user("orders-api", database="nodb")
    with pytest.raises(ValueError, match="unknown fault"):
        azsql_control.inject("tds", "nonsense")


def test_plugin_loads_in_a_foreign_project_through_its_entry_point(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\nazsql_token_lifetime = 120\n")
    pytester.makepyfile(
        textwrap.dedent(
            """
            import time
            from azure.identity import DefaultAzureCredential

            def test_token(azsql_env, azsql_identities, azsql_control):
                cred = DefaultAzureCredential(managed_identity_client_id=azsql_identities["orders-api"].client_id)
                token = cred.get_token("https://database.windows.net/.default")
                assert token.expires_on - time.time() <= 121
                assert azsql_control.token_requests() == 1
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)

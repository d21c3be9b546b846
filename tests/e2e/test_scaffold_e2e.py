"""The generated module end to end: real azure-identity, real ODBC driver, FastAPI TestClient, the sandbox.

Time is simulated: one fake clock is the generated module's injected clock and also ``time.time``
for azure-identity and the sandbox's token endpoint/issuer, so a "2-minute run" takes a second.
"""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from azsqlctl.core.queryhash import query_hash
from azsqlctl.core.scaffold import Ci, ScaffoldInputs, render
from azsqlctl.testing import SandboxControl
from tests.conftest import driver_path

PACKAGE = "scaffold_e2e.db"
SECRET = "param-value-5d1c"


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    root = tmp_path_factory.mktemp("scaffold-e2e")
    for f in render(ScaffoldInputs(package=PACKAGE, ci=Ci.NONE)):
        path = root / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.content)
    (root / "scaffold_e2e" / "__init__.py").write_text("")
    sys.path.insert(0, str(root))
    try:
        yield {name: importlib.import_module(f"{PACKAGE}.{name}") for name in ("api", "connection", "settings", "tokens")}
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.startswith("scaffold_e2e")]:
            del sys.modules[name]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(time, "time", fake)  # azure-identity and the sandbox see the same time
    return fake


def make_client(generated: dict[str, ModuleType], env: dict[str, str], control: SandboxControl, clock: FakeClock, **overrides: Any) -> Any:
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    api, connection, settings = generated["api"], generated["connection"], generated["settings"]
    values = {
        "server": env["AZSQLCTL_SERVER"],
        "database": env["AZSQLCTL_DATABASE"],
        "client_id": control.identity("orders-api").client_id,
        "odbc_driver": driver_path(),
        "retry_attempts": 1,
        "retry_backoff": 0.0,
        **overrides,
    }
    database = connection.Database(settings.DbSettings(**values), clock=clock)
    api.configure(database)
    app = FastAPI(lifespan=api.lifespan)
    api.install(app)

    @app.get("/echo")
    def echo(db: Any = Depends(api.get_db)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        return {"value": db.query("SELECT ?", SECRET)[0][0]}

    return TestClient(app), database


def test_simulated_two_minutes_one_fetch_per_refresh_and_logs_carry_hashes_only(
    generated, azsql_env, azsql_control: SandboxControl, clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    azsql_control.set_token_lifetime(60)
    client, database = make_client(generated, azsql_env, azsql_control, clock)
    tokens_seen: set[str] = set()
    requests = 0
    with client:
        for _ in range(240):  # one request every half second for two simulated minutes
            response = client.get("/echo")
            assert response.status_code == 200, response.text
            assert response.json() == {"value": SECRET}
            tokens_seen.add(database.tokens.get().token)
            requests += 1
            clock.advance(0.5)
        health = client.get("/healthz/db").json()
    # 60 s tokens refreshed a quarter of their lifetime early: a fetch at 0, 45 and 90 s.
    assert database.tokens.fetches == 3
    assert azsql_control.token_requests("orders-api") == 3 == len(tokens_seen)
    ok, failed = azsql_control.logins()
    assert failed == 0
    assert ok == database.logins <= requests / 8  # a connection is reused for its 5 s TTL
    assert 0 < health["token_expires_in"] <= 60
    logged = caplog.text
    assert f"hash={query_hash('SELECT ?')}" in logged
    assert SECRET not in logged
    assert "SELECT ?" not in logged
    for token in tokens_seen:
        assert token not in logged
        assert token.split(".")[2][:24] not in logged  # not even the signature


def test_sixteen_concurrent_requests_at_expiry_cause_one_fetch(generated, azsql_env, azsql_control: SandboxControl, clock: FakeClock):
    azsql_control.set_token_lifetime(60)
    client, database = make_client(generated, azsql_env, azsql_control, clock, connection_ttl=0.0)
    with client:
        assert client.get("/echo").status_code == 200
        assert database.tokens.fetches == 1
        clock.advance(50)  # past the refresh point (45 s)
        azsql_control.inject("token", "delay", delay=0.5)  # the one fetch is slow: everyone else queues behind it
        start = threading.Barrier(16)
        codes: list[int] = []

        def call() -> None:
            start.wait()
            codes.append(client.get("/echo").status_code)

        threads = [threading.Thread(target=call) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert codes == [200] * 16
    assert database.tokens.fetches == 2
    assert azsql_control.token_requests("orders-api") == 2


def test_failed_refresh_keeps_serving_the_valid_token_then_retries(generated, azsql_env, azsql_control: SandboxControl, clock: FakeClock):
    azsql_control.set_token_lifetime(600)  # refresh 150 s early (a quarter of the lifetime)
    client, database = make_client(generated, azsql_env, azsql_control, clock)
    with client:
        assert client.get("/echo").status_code == 200
        first = database.tokens.get().token
        clock.advance(451)
        azsql_control.inject("token", "error500", count=None)
        for _ in range(5):  # the refresh fails; the still-valid token is served, one attempt per backoff window
            assert client.get("/echo").status_code == 200
        assert database.tokens.get().token == first
        assert database.tokens.fetches == 2
        azsql_control.sandbox.faults.clear()
        # past the provider's backoff and MSAL's own hold on a 5xx answer (60 s), before the token expires
        clock.advance(61)
        assert client.get("/echo").status_code == 200
        assert database.tokens.get().token != first
        assert database.tokens.fetches == 3


def test_health_is_503_with_the_cause_when_login_is_refused_and_recovers_after_grant(
    generated, azsql_env, azsql_control: SandboxControl, clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    client, _database = make_client(generated, azsql_env, azsql_control, clock)
    azsql_control.deny_login("orders-api")
    with client:
        response = client.get("/healthz/db")
        assert response.status_code == 503
        body = response.json()
        assert body["last_error"] == 18456
        assert "login failed" in body["cause"]
        assert body["identity"].startswith(f"appid={azsql_control.identity('orders-api').client_id}")
        echo = client.get("/echo")
        assert echo.status_code == 503
        assert echo.headers["Retry-After"] == "30"
        assert echo.json()["error"] == 18456
        assert "error=18456 state=28000" in caplog.text
        client_id = azsql_control.identity("orders-api").client_id
        grant = subprocess.run(
            [sys.executable, "-m", "azsqlctl", "grant", "orders-api", "--client-id", client_id, "--role", "reader", "--apply"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**azsql_env, "PATH": "/usr/bin:/bin"},
        )
        assert grant.returncode == 0, grant.stdout + grant.stderr
        response = client.get("/healthz/db")
        assert response.status_code == 200, response.text
        assert response.json()["last_error"] is None
        assert client.get("/echo").status_code == 200


def test_transient_login_error_is_retried_with_backoff(generated, azsql_env, azsql_control: SandboxControl, clock: FakeClock):
    client, database = make_client(generated, azsql_env, azsql_control, clock, retry_attempts=3)
    azsql_control.inject("tds", "login_error", count=2, number=40613)
    with client:
        assert client.get("/echo").status_code == 200
    assert azsql_control.logins() == (1, 2)
    assert database.logins == 3
    azsql_control.inject("tds", "login_error", count=3, number=40501)
    client, _database = make_client(generated, azsql_env, azsql_control, clock, retry_attempts=3)
    with client:
        response = client.get("/echo")
    assert response.status_code == 503
    assert response.json()["error"] == 40501
    assert response.headers["Retry-After"] == "5"


def test_lifespan_warms_the_token_and_closes_connections(generated, azsql_env, azsql_control: SandboxControl, clock: FakeClock):
    client, database = make_client(generated, azsql_env, azsql_control, clock)
    with client:
        assert database.tokens.fetches == 1 and azsql_control.token_requests("orders-api") == 1  # before any request
        assert azsql_control.logins() == (0, 0)
        assert client.get("/echo").status_code == 200
        assert len(database._idle) == 1  # the connection went back to the cache
    assert len(database._idle) == 0  # shutdown closed it
    assert azsql_control.token_requests("orders-api") == 1


def test_health_times_out_with_503_when_select_1_hangs(generated, azsql_env, azsql_control: SandboxControl, clock: FakeClock):
    client, _database = make_client(generated, azsql_env, azsql_control, clock, health_timeout=0.3)
    with client:
        assert client.get("/healthz/db").status_code == 200
        azsql_control.inject("tds", "delay", count=None, delay=2.0)
        started = time.perf_counter()
        response = client.get("/healthz/db")
        assert time.perf_counter() - started < 1.5
        azsql_control.sandbox.faults.clear()
    assert response.status_code == 503
    assert response.json()["cause"] == "SELECT 1 timed out"
    assert response.headers["Retry-After"] == "5"

"""Many clients at once, broken clients, and a clean shutdown."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from azsqlctl.sandbox.serve import Sandbox
from tests.conftest import raw_connect
from tests.e2e.test_tds_login import mi_token
from tests.property_budget import examples


def _login_and_query(sandbox: Sandbox, token: str) -> str:
    cnxn = raw_connect(sandbox, token)
    try:
        return str(cnxn.cursor().execute("SELECT USER_NAME()").fetchone()[0])
    finally:
        cnxn.close()


def test_twenty_concurrent_logins(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    token = mi_token()
    with ThreadPoolExecutor(max_workers=20) as pool:
        users = list(pool.map(lambda _: _login_and_query(sandbox, token), range(20)))
    assert users == ["dbo"] * 20
    assert sandbox.sql.logins_ok == 20


def _half_handshake(port: int) -> None:
    """A client that sends a PRELOGIN header and half a body, then vanishes."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(struct.pack(">BBHHBB", 0x12, 0x01, 200, 0, 1, 0) + b"\x00" * 20)


def test_a_client_vanishing_mid_handshake_does_not_disturb_others(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    token = mi_token()
    stop = threading.Event()

    def vandal() -> None:
        while not stop.is_set():
            _half_handshake(sandbox.tds_port)

    thread = threading.Thread(target=vandal)
    thread.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert list(pool.map(lambda _: _login_and_query(sandbox, token), range(16))) == ["dbo"] * 16
    finally:
        stop.set()
        thread.join()


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=hst.binary(min_size=1, max_size=600))
def test_garbage_never_takes_the_listener_down(sandbox: Sandbox, junk: bytes) -> None:
    with socket.create_connection(("127.0.0.1", sandbox.tds_port), timeout=2) as s:
        s.sendall(junk)
        s.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            s.recv(4096)
    # the listener still accepts
    with socket.create_connection(("127.0.0.1", sandbox.tds_port), timeout=2):
        pass


def test_shutdown_leaves_no_listening_port_and_no_threads(tmp_path: Path, material_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = set(threading.enumerate())
    sb = Sandbox(tmp_path / "s.json", material_dir=material_dir).start()
    for key, value in sb.env.items():
        monkeypatch.setenv(key, value)
    ports = [sb.tds_port, sb.identity_http.port, sb.arm_http.port]
    open_cnxn = raw_connect(sb, mi_token())  # a client still connected at shutdown
    _half_handshake(sb.tds_port)
    sb.stop()
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftover == []
    del open_cnxn
    assert os.path.exists(tmp_path / "s.json")

"""The quick DNS/TCP probe beside a connect: a refused port wins at once; an abandoned session is closed."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from azsqlctl.azure.doctor_probes import diagnosed
from azsqlctl.core.errors import ConnectionFailed
from azsqlctl.core.settings import ConnectionSettings, SettingsInput, resolve_settings


def settings_for(port: int, tmp_path: Path) -> ConnectionSettings:
    return resolve_settings(SettingsInput(server=f"127.0.0.1,{port}", timeout="10"), {}, tmp_path)


def test_refused_port_wins_before_the_connect_gives_up(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    released = threading.Event()
    closed: list[str] = []

    def slow_connect() -> str:
        released.wait(5)  # a driver that would report HYT00 only after its whole login timeout
        return "session"

    start = time.monotonic()
    with pytest.raises(ConnectionFailed, match="refused: nothing listens there") as info:
        diagnosed(settings_for(port, tmp_path), slow_connect, closed.append)
    assert time.monotonic() - start < 2
    assert info.value.code == "TCP" and "nothing answers on the server's port" in info.value.hint
    released.set()  # the abandoned attempt finishes later: its session is closed, not leaked
    deadline = time.monotonic() + 5
    while not closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closed == ["session"]


def test_a_healthy_target_returns_the_connect_result(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        result = diagnosed(settings_for(listener.getsockname()[1], tmp_path), lambda: "session")
    assert result == "session"


def test_a_probe_that_only_timed_out_lets_the_connect_decide(tmp_path: Path) -> None:
    """A DNS server that drops the question (a loaded one does) proves nothing: the driver's login stands."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent, socket.socket() as listener:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        env = {"AZSQLCTL_DNS_SERVER": f"127.0.0.1:{silent.getsockname()[1]}"}
        settings = resolve_settings(SettingsInput(server=f"sql.example.test,{listener.getsockname()[1]}", timeout="1"), env, tmp_path)
        assert settings.cloud.dns_server  # the probe resolves through the silent server

        def slow_connect() -> str:
            time.sleep(1.5)  # still logging in when the probe gives up (after min(timeout, 2 s) = 1 s)
            return "session"

        assert diagnosed(settings, slow_connect) == "session"

        def failing_connect() -> str:
            time.sleep(1.5)
            raise ConnectionFailed("[HYT00] Login timeout expired", code="HYT00")

        with pytest.raises(ConnectionFailed, match="did not answer") as info:  # the probe's words explain the failure
            diagnosed(settings, failing_connect)
        assert info.value.details["timed_out"] is True

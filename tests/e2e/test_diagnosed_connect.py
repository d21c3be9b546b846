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

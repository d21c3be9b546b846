"""The unit layer's promise, enforced: no sockets, no sandbox, no subprocess (issue 19's layers).

A unit test that needs one of them belongs in tests/e2e. This is a guard, not a double: nothing here answers
in place of a socket or a process, the call fails at once and names the rule.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import NoReturn

import pytest


def _refuse(what: str) -> object:
    def refused(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError(f"a unit test must not {what}: tests/unit holds pure logic only; move this test to tests/e2e")

    return refused


@pytest.fixture(autouse=True)
def _no_sockets_no_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for method in ("connect", "connect_ex", "bind", "listen"):
        monkeypatch.setattr(socket.socket, method, _refuse(f"open a socket (socket.{method})"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a subprocess"))
    # Only methods of classes, never module functions (socket.create_connection ends in socket.connect anyway), and
    # not os.fork: a module first imported during a unit test can keep a reference to the patched os.fork for the
    # rest of the worker's life (it broke typer's --show-completion in a later e2e test).
    yield

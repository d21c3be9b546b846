"""Ctrl-C (SIGINT to the process group, as a terminal sends it) stops any command within a second."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.serve import Sandbox

ORDERS = "27c1c882-4791-57cf-8622-933abbac9865"  # the sandbox's orders-api client id (stable: derived from its name)


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "azsqlctl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        start_new_session=True,  # its own process group, so killpg reaches it (and only it) like a terminal's Ctrl-C
    )


def _wait_for(predicate: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("the command never reached the stalled step")


def _interrupt(proc: subprocess.Popen[str]) -> tuple[float, str, str]:
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return time.monotonic() - sent, out, err


@pytest.mark.parametrize("fmt", ["human", "json"])
@pytest.mark.parametrize(
    "command",
    [["doctor", "--database", "appdb"], ["whoami"], ["grant", "orders-api", "--role", "reader", "--client-id", ORDERS, "--dry-run"]],
)
def test_ctrl_c_during_a_stalled_login(sandbox: Sandbox, client_env: dict[str, str], command: list[str], fmt: str) -> None:
    fault = sandbox.faults.inject(
        "tds", "stall", count=None, delay=3
    )  # far longer than the 1 s allowed; the driver's login never gets an answer
    proc = _start([*command, "-o", fmt])
    _wait_for(lambda: fault.hits > 0 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.2)  # inside the driver's blocking login call
    elapsed, out, err = _interrupt(proc)
    assert proc.returncode == ExitCode.INTERRUPTED, (out, err)
    assert elapsed < 1.0, f"took {elapsed:.2f} s to stop"
    assert "Traceback" not in err and "driver did not supply" not in out + err
    if fmt == "json":
        envelope = json.loads(out)
        assert (envelope["status"], envelope["exit_code"], envelope["command"]) == ("interrupted", 130, command[0])
        assert envelope["errors"][0]["code"] == "interrupted"
        assert err == ""
    else:
        assert out == ""
        assert err.strip().splitlines() == [f"Interrupted: {command[0]} stopped (Ctrl-C)"]

"""tests/cli_fork.py's stand-in behaves as `python -m azsqlctl` does: the tests that use it rely on that.

Each check runs the same command both ways and compares what a caller can see: stdout, stderr, the exit code or
the signal, the working directory, umask, environment and stdin the command got. And the stand-in's own rules:
a request whose start-up environment differs is run by a real interpreter, and a killed stand-in takes its command
with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import cli_fork
from tests.e2e.test_sandbox_cli import proc_stat, wait_for

pytestmark = pytest.mark.usefixtures("cli_fork")
REAL = [sys.executable, "-m", "azsqlctl"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_"))}
    return env | {"XDG_DATA_HOME": str(tmp_path / "xdg"), "NO_COLOR": "1"} | extra


def _both(
    tmp_path: Path, *args: str, stdin: str = "", **extra: str
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    run = {"capture_output": True, "text": True, "timeout": 120, "env": _env(tmp_path, **extra), "cwd": tmp_path, "input": stdin}
    return subprocess.run([*cli_fork.COMMAND, *args], **run), subprocess.run([*REAL, *args], **run)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "args",
    [
        ["grant", "--help"],
        ["grant"],  # no terminal to confirm on: a usage error, exit 2
        ["whoami", "--no-such-option"],  # Click's usage error, in the house format
        ["sandbox", "run", "--", "sh", "-c", "exit 3"],
        ["sandbox", "run", "--", "sh", "-c", "kill -TERM $$"],  # the child's own signal: sandbox run's report of it
    ],
    ids=lambda a: " ".join(a),
)
def test_forked_and_real_runs_print_and_end_the_same(tmp_path: Path, args: list[str]) -> None:
    forked, real = _both(tmp_path, *args)
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)


def test_variables_a_command_reads_when_it_imports_typer_rich_utils_are_its_own(tmp_path: Path) -> None:
    """GITHUB_ACTIONS (set by `sandbox run --as github:...`) and TERMINAL_WIDTH are read when typer.rich_utils is
    imported, which the server leaves to the commands: a forked command renders help as a real one does."""
    plain = subprocess.run([*REAL, "grant", "--help"], capture_output=True, text=True, timeout=120, env=_env(tmp_path), cwd=tmp_path)
    forked, real = _both(tmp_path, "grant", "--help", GITHUB_ACTIONS="true", TERMINAL_WIDTH="100")
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)
    assert real.stdout != plain.stdout and "\x1b[" in real.stdout  # they do change the help: forced onto a terminal
    assert "tests.cli_fork" in _runner_of(tmp_path, cli_fork.COMMAND, GITHUB_ACTIONS="true")  # and it was forked


def test_the_command_gets_the_callers_directory_umask_environment_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    script = "pwd; umask; printf '%s\\n' \"$ONLY_HERE\"; cat; ls -l /proc/$PPID/fd/0 >/dev/null && echo stdin-open"
    run = {"capture_output": True, "text": True, "timeout": 120, "env": _env(tmp_path, ONLY_HERE="yes, here"), "input": "from stdin\n"}
    results = []
    for command in (cli_fork.COMMAND, REAL):
        proc = subprocess.run(["sh", "-c", 'umask 027; cd here && exec "$@"', "sh", *command, "sandbox", "run", "--", "sh", "-c", script],
                              cwd=tmp_path, **run)  # type: ignore[call-overload]  # fmt: skip
        results.append((proc.returncode, proc.stdout, proc.stderr))
    assert results[0] == results[1]
    assert results[0][1].splitlines() == [str(tmp_path / "here"), "0027", "yes, here", "from stdin", "stdin-open"]


def _runner_of(tmp_path: Path, command: list[str], **extra: str) -> str:
    """The command line of the process that ran `sandbox run` (the parent of its child)."""
    proc = subprocess.run([*command, "sandbox", "run", "--", "sh", "-c", "tr '\\0' ' ' < /proc/$PPID/cmdline"],
                          capture_output=True, text=True, timeout=120, env=_env(tmp_path, **extra), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_request_is_forked_unless_its_start_up_environment_differs(tmp_path: Path) -> None:
    assert "tests.cli_fork" in _runner_of(tmp_path, cli_fork.COMMAND)  # forked from the server
    # What the interpreter decides at start-up (here the warnings filter) cannot be redone in a fork: a real one.
    real = _runner_of(tmp_path, cli_fork.COMMAND, PYTHONWARNINGS="ignore").split()
    assert real[0] == sys.executable and real[1:5] == ["-m", "azsqlctl", "sandbox", "run"]


def test_a_signal_to_the_stand_in_reaches_the_command(tmp_path: Path) -> None:
    codes: list[tuple[int, str, str]] = []
    for command in (cli_fork.COMMAND, REAL):
        ready = tmp_path / f"ready-{len(codes)}"
        proc = subprocess.Popen([*command, "sandbox", "run", "--", "sh", "-c", f"touch {ready}; sleep 60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path), cwd=tmp_path)  # fmt: skip
        try:
            wait_for(ready, 60)
            proc.send_signal(signal.SIGTERM)  # sandbox run forwards it to its child, which dies of it
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        codes.append((proc.returncode, out, err))
    assert codes[0] == codes[1]
    assert codes[0][0] == 143


def test_a_killed_stand_in_takes_its_command_with_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    proc = subprocess.Popen([*cli_fork.COMMAND, "sandbox", "run", "--", "sh", "-c", f"echo $$ > {pid_file}; exec sleep 60"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(tmp_path), cwd=tmp_path)  # fmt: skip
    child = 0
    try:
        wait_for(pid_file, 60)
        deadline = time.monotonic() + 30
        while not pid_file.read_text().endswith("\n"):  # the shell creates the file, then writes it: whole at its newline
            assert time.monotonic() < deadline, "the shell never wrote its pid"
            time.sleep(0.02)
        child = int(pid_file.read_text())
        child_stat = proc_stat(child)
        assert child_stat is not None, "the command's child ended early"
        command = int(child_stat[1])  # the child's parent: the command
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while (stat := proc_stat(command)) is not None and stat[0] != "Z":
            assert time.monotonic() < deadline, "the command outlived its killed stand-in"
            time.sleep(0.02)
    finally:
        if child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)  # orphaned, as a killed `sandbox run`'s child is

"""Long-lived CLI processes: many invocations of the real CLI at once without an interpreter start per invocation.

A `python -m azsqlctl` process spends ~0.35 s of CPU on start-up and imports before the command runs; a test that
runs 160 concurrent commands spends almost all its time there. Each worker here is a separate process, forked from
multiprocessing's fork server (a fresh interpreter, so nothing is inherited from the test process but its
environment and working directory) after that server imported azsqlctl and its SDKs once, and then runs every
command it is given through the real Typer app in-process, as `azsqlctl <command>` does
(``build_app(<command>)``, azsqlctl.cli.app.main, minus the final os._exit). Each command still builds its own
credential and its own ODBC connection, as a new process would.

``together`` hands one command to each worker and lets them start at the same instant (a barrier), so the
commands really overlap; ``alone`` runs one command on one worker.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from types import TracebackType

_BARRIER_TIMEOUT = 120.0  # seconds for every worker to reach the start line (a busy 2-core machine)
_COMMAND_TIMEOUT = 300.0  # seconds for one command's answer


@dataclass(frozen=True)
class Outcome:
    """One command's exit code and output, and the process that ran it."""

    exit_code: int
    stdout: str
    stderr: str
    pid: int
    crash: str  # a traceback if the command raised out of the CLI (never expected: the CLI maps every error)


def _serve(conn: Connection, barrier: Barrier) -> None:
    """The worker's loop: (together, argv) in, Outcome out; None ends it."""
    import typer
    from typer.testing import CliRunner

    from azsqlctl.cli.app import build_app

    runner = CliRunner()
    apps: dict[str, typer.Typer] = {}
    conn.send(os.getpid())  # imports done: ready
    while (message := conn.recv()) is not None:
        together, argv = message
        name = argv[0]
        if name not in apps:
            apps[name] = build_app(name)  # what main() registers for `azsqlctl <name> ...`
        if together:
            barrier.wait(_BARRIER_TIMEOUT)
        result = runner.invoke(apps[name], argv)
        crash = ""
        if result.exception is not None and not isinstance(result.exception, SystemExit) and result.exc_info is not None:
            crash = "".join(traceback.format_exception(*result.exc_info))
        conn.send(Outcome(result.exit_code, result.stdout, result.stderr, os.getpid(), crash))


class CliWorkers:
    """``count`` worker processes, started on entry and stopped on exit."""

    def __init__(self, count: int) -> None:
        # Forked from a fresh interpreter (no sockets, threads or state from pytest) that imported these once: eight
        # workers each importing them cost ~2.6 s of CPU more (10.0 -> 7.4 s for test_grant_concurrency).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["azsqlctl.cli.app", "azsqlctl.azure.wiring", "typer.testing", "azure.identity",
                                        "azure.core.pipeline.transport", "pyodbc"])  # fmt: skip
        self._barrier = context.Barrier(count)
        self._conns: list[Connection] = []
        self._procs: list[multiprocessing.process.BaseProcess] = []
        for _ in range(count):
            mine, theirs = context.Pipe()
            self._procs.append(context.Process(target=_serve, args=(theirs, self._barrier), daemon=True))
            self._conns.append(mine)
        self.pids: list[int] = []

    def __enter__(self) -> CliWorkers:
        for proc in self._procs:
            proc.start()
        self.pids = [self._pid(conn) for conn in self._conns]
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError):  # already gone
                conn.send(None)
        for proc in self._procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()

    def _receive(self, conn: Connection) -> object:
        if not conn.poll(_COMMAND_TIMEOUT):
            raise TimeoutError(f"a CLI worker gave no answer in {_COMMAND_TIMEOUT:.0f} s")
        try:
            return conn.recv()
        except (EOFError, OSError):  # the worker died (its traceback, if any, is on the test's captured stderr)
            proc = self._procs[self._conns.index(conn)]
            proc.join(5)
            raise RuntimeError(f"a CLI worker ended without answering (exit code {proc.exitcode})") from None

    def _pid(self, conn: Connection) -> int:
        pid = self._receive(conn)
        assert isinstance(pid, int)
        return pid

    def _outcome(self, conn: Connection) -> Outcome:
        outcome = self._receive(conn)
        assert isinstance(outcome, Outcome)
        return outcome

    def together(self, commands: Sequence[Sequence[str]]) -> list[Outcome]:
        """One command per worker, all started at once; their outcomes in the same order."""
        if len(commands) != len(self._conns):
            raise ValueError(f"{len(commands)} commands for {len(self._conns)} workers")
        for conn, argv in zip(self._conns, commands, strict=True):
            conn.send((True, list(argv)))
        return [self._outcome(conn) for conn in self._conns]

    def alone(self, argv: Sequence[str], worker: int = 0) -> Outcome:
        self._conns[worker].send((False, list(argv)))
        return self._outcome(self._conns[worker])

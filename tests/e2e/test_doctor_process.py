"""A healthy doctor as a real process: what it imports, and that its output survives the fast exit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from azsqlctl.sandbox.serve import Sandbox

# Imported only when a refused login needs the audit log (Monitor SDKs), or by other commands.
NOT_ON_THE_HEALTHY_PATH = ("azure.mgmt", "azure.monitor", "azsqlctl.core.logs", "azsqlctl.core.scaffold", "azsqlctl.cli.logs",
                           "azsqlctl.cli.scaffold", "azsqlctl.cli.grant", "azsqlctl.cli.sandbox", "azsqlctl.cli.whoami")  # fmt: skip


def test_healthy_doctor_process_imports_only_its_own_path_and_flushes_before_leaving(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "azsqlctl", "doctor", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=90,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    envelope = json.loads(proc.stdout)  # the whole envelope, although the process ends with os._exit
    assert (envelope["status"], envelope["exit_code"]) == ("ok", 0)
    assert [c["id"] for c in envelope["data"]["checks"]][-1] == "permissions"
    imported = set(re.findall(r"^import time:\s+-?\d+ \|\s+-?\d+ \|\s+(\S+)$", proc.stderr, flags=re.M))
    assert "azure.identity" in imported and "azsqlctl.cli.doctor" in imported
    assert not sorted(m for m in imported if m.startswith(NOT_ON_THE_HEALTHY_PATH))

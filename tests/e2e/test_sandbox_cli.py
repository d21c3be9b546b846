"""`azsqlctl sandbox serve` and `run` as users run them: separate processes, files, signals."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from azsqlctl.core.errors import ExitCode

CLI = [sys.executable, "-m", "azsqlctl"]


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_serve_env_file_then_sigterm(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    proc = subprocess.Popen([*CLI, "sandbox", "serve", "--state", str(tmp_path / "state.toml"), "--env-file", str(env_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(tmp_path), cwd=tmp_path)  # fmt: skip
    try:
        wait_for(env_file)
        lines = env_file.read_text().splitlines()
        assert all(re.fullmatch(r"[A-Z_][A-Z0-9_]*=[^\s'\"$`\\]+", line) for line in lines), lines
        env = dict(line.split("=", 1) for line in lines)
        for key in (
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "AZSQLCTL_SERVER",
            "AZSQLCTL_DATABASE",
            "AZSQLCTL_ARM_ENDPOINT",
            "AZSQLCTL_SQL_RESOURCE",
            "AZSQLCTL_CA_BUNDLE",
        ):
            assert env[key]
        # `source` it in a shell and use the CLI with no other setting
        shell = subprocess.run(["bash", "-c", f"set -a; . {env_file}; set +a; {' '.join(CLI)} whoami -o json"],
                               capture_output=True, text=True, timeout=60, env=clean_env(tmp_path), cwd=tmp_path)  # fmt: skip
        assert shell.returncode == 0, shell.stderr
        assert json.loads(shell.stdout)["data"]["user_name"] == "dbo"
        port = int(env["AZSQLCTL_SERVER"].split(",")[1])
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    printed = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert printed == env  # stdout carries the same environment
    assert "Sandbox identities" in err and "sandbox-operator" in err and "Entra admin" in err
    assert "not a database user" in err and "user in appdb" in err
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    state = tomllib.loads((tmp_path / "state.toml").read_text())
    assert state["server"]["databases"][0]["name"] == "appdb"


def test_serve_json_announces_ready_as_ndjson(tmp_path: Path) -> None:
    proc = subprocess.Popen([*CLI, "sandbox", "serve", "--state", str(tmp_path / "s.json"), "-o", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(tmp_path))  # fmt: skip
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert (ready["version"], ready["command"], ready["event"]) == (1, "sandbox serve", "ready")
    assert {i["name"] for i in ready["data"]["identities"]} == {"sandbox-operator", "orders-api", "billing-worker"}
    assert proc.returncode == 0


def test_run_passes_the_exit_code_through(tmp_path: Path) -> None:
    proc = subprocess.run([*CLI, "sandbox", "run", "--state", str(tmp_path / "s.json"), "--", sys.executable, "-c",
                           "import os, sys; sys.exit(7 if os.environ['AZSQLCTL_SERVER'].startswith('localhost,') else 1)"],
                          capture_output=True, text=True, timeout=60, env=clean_env(tmp_path))  # fmt: skip
    assert proc.returncode == 7, proc.stderr


def test_run_the_readme_login_check(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*CLI, "sandbox", "run", "--", *CLI, "whoami"], capture_output=True, text=True, timeout=90, env=clean_env(tmp_path), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "✓ Logged in to appdb" in proc.stdout
    assert (tmp_path / "xdg" / "azsqlctl" / "sandbox" / "state.json").exists()  # the default state location


# Plain SDK code, as a user's script would be: only the sandbox's environment, no azsqlctl.
ARM_CLIENT = (
    "import os\n"
    "from azure.identity import ManagedIdentityCredential\n"
    "from azure.mgmt.sql import SqlManagementClient\n"
    "from azure.mgmt.sql.models import FirewallRule\n"
    "e = os.environ\n"
    "m = SqlManagementClient(ManagedIdentityCredential(), e['AZSQLCTL_SUBSCRIPTION'], base_url=e['AZSQLCTL_ARM_ENDPOINT'],\n"
    "                        credential_scopes=['https://management.azure.com/.default'])\n"
    "rg = e['AZSQLCTL_RESOURCE_GROUP']\n"
)


def run_in_sandbox(tmp_path: Path, state: Path, script: str) -> subprocess.CompletedProcess[str]:
    command = [*CLI, "sandbox", "run", "--state", str(state), "--", sys.executable, "-c", ARM_CLIENT + script]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, env=clean_env(tmp_path))


def test_changes_persist_between_runs(tmp_path: Path) -> None:
    state = tmp_path / "s.toml"
    # REQUESTS_CA_BUNDLE from the sandbox env makes plain SDK code trust it
    rule = "FirewallRule(start_ip_address='203.0.113.1', end_ip_address='203.0.113.1')"
    first = run_in_sandbox(tmp_path, state, f"m.firewall_rules.create_or_update(rg, 'sandbox-sql', 'office', {rule})\n")
    assert first.returncode == 0, first.stderr
    assert [r["name"] for r in tomllib.loads(state.read_text())["server"]["firewall_rules"]] == ["AllowLocalhost", "office"]
    second = run_in_sandbox(tmp_path, state, "assert 'office' in [r.name for r in m.firewall_rules.list_by_server(rg, 'sandbox-sql')]\n")
    assert second.returncode == 0, second.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [([], ExitCode.USAGE, "no command given"), (["--", "no-such-command-xyz"], ExitCode.NOT_FOUND, "command not found")],
)
def test_run_bad_commands(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    proc = subprocess.run(
        [*CLI, "sandbox", "run", "--state", str(tmp_path / "s.json"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(tmp_path),
    )
    assert proc.returncode == code
    assert proc.stderr.startswith("Error: ") and message in proc.stderr

"""Issue 15, point 8: failures said as what they are, once, with the exit code the README gives."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.serve import Sandbox
from tests import cli_fork
from tests.conftest import _FOREIGN

runner = CliRunner()
ORDERS = ["orders-api", "--type", "app", "--role", "reader", "--dry-run"]


def _client_id(sb: Sandbox, name: str) -> str:
    return str(next(i.client_id for i in sb.identities() if i.name == name))


def _object_id(sb: Sandbox, name: str) -> str:
    return str(next(i.object_id for i in sb.identities() if i.name == name))


def test_after_the_sandbox_stopped_each_endpoint_is_named_at_once(
    tmp_path: Path, material_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to say 'resolving localhost timed out' after the whole timeout (grant, doctor)."""
    with Sandbox(tmp_path / "state.json", material_dir=material_dir) as sb:
        env, cid = dict(sb.env), _client_id(sb, "orders-api")
    for key in list(os.environ):
        if key.startswith(_FOREIGN):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    env["AZSQLCTL_TIMEOUT"] = "5"
    start = time.monotonic()
    grant = runner.invoke(app, ["grant", *ORDERS, "--client-id", cid], env=env)
    assert grant.exit_code == ExitCode.CONNECTION, grant.output
    assert f"the token endpoint at {env['IDENTITY_ENDPOINT']}" in grant.output and "timed out" not in grant.output
    doctor = runner.invoke(app, ["doctor", "-o", "json"], env=env)
    checks = {c["id"]: c for c in json.loads(doctor.stdout)["data"]["checks"]}
    dns = env["AZSQLCTL_DNS_SERVER"]
    assert checks["dns"]["status"] == "fail" and f"the DNS server {dns} refused the query" in checks["dns"]["finding"], checks["dns"]
    assert checks["dns"]["duration_ms"] < 2000  # the refusal, not the timeout
    assert time.monotonic() - start < 2 * 5 + 2


def test_an_object_id_as_client_id_inside_the_sandbox_says_so(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["whoami", "--client-id", _object_id(sandbox, "orders-api")])
    assert result.exit_code == ExitCode.AUTHENTICATION, result.output
    assert "No managed identity matches" in result.stderr
    assert "configuration not found" not in result.stderr  # azure-identity's misleading preamble
    assert "not its object (principal) id" in result.stderr and "sandbox run" not in result.stderr  # already inside it


def test_many_databases_failing_alike_print_the_hint_once(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        f'version = 1\n[identities.orders-api]\ntype = "app"\nclient_id = "{_client_id(sandbox, "orders-api")}"\n'
        '[[targets]]\ndatabases = ["nodb1", "nodb2"]\ngrants = { orders-api = ["reader"] }\n'
    )
    result = runner.invoke(app, ["grant", "--policy", str(policy), "--dry-run"])
    assert result.exit_code == ExitCode.NOT_FOUND, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith(("Error:", "Hint:"))]
    assert [line.split(":")[0] for line in lines] == ["Error", "Hint", "Error"], lines
    assert "nodb1" in lines[0] and "nodb2" in lines[2]
    envelope = json.loads(runner.invoke(app, ["grant", "--policy", str(policy), "--dry-run", "-o", "json"]).stdout)
    assert [e["hint"] for e in envelope["errors"]] == [envelope["errors"][0]["hint"]] * 2  # JSON keeps every entry whole


def test_doctor_names_an_unreachable_token_endpoint_once_on_stderr(
    sandbox: Sandbox, client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token")
    result = runner.invoke(app, ["doctor", "--timeout", "2"])
    assert result.exit_code == ExitCode.CONNECTION, result.output
    assert "✗ Credential" in result.stdout  # the report on stdout; the error once on stderr, for whoever reads only that
    errors = [line for line in result.stderr.splitlines() if line.startswith(("Error:", "Hint:"))]
    assert len(errors) == 2 and "the token endpoint at http://127.0.0.1:1/msi/token" in errors[0], result.stderr
    envelope = json.loads(runner.invoke(app, ["doctor", "--timeout", "2", "-o", "json"]).stdout)
    assert envelope["errors"][0]["code"].startswith("token_") and envelope["exit_code"] == ExitCode.CONNECTION


@pytest.mark.usefixtures("cli_fork")  # a process on a terminal, forked: tests/cli_fork.py
def test_doctor_shows_its_error_once_where_stdout_and_stderr_are_one_terminal(
    sandbox: Sandbox, client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 point 8: the report's failed check and fix, then Error:/Hint: on stderr, read as the same text twice."""
    import pty
    import subprocess

    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token")
    cmd = [*cli_fork.COMMAND, "doctor", "--timeout", "2"]
    leader, follower = pty.openpty()  # what a terminal user sees: stdout and stderr are the same terminal
    env = {**os.environ, "COLUMNS": "400"}  # long lines unwrapped
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=60)
    os.close(leader)
    seen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))  # styles, cursor moves
    assert proc.returncode == ExitCode.CONNECTION, seen
    assert "✗ Credential" in seen and seen.count("refused the connection") == 1, seen
    assert "Error:" not in seen and "Hint:" not in seen and seen.count("nothing listens there") == 1, seen  # the fix, once
    # read apart (stdout to a file or a pipe), stderr still carries the error alone, for whoever reads only that
    apart = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert "✗ Credential" in apart.stdout and apart.stderr.startswith("Error: the token endpoint at http://127.0.0.1:1"), apart.stderr

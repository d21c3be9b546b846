"""The CLI conventions, end to end: envelope, exit codes, errors, lazy imports, redaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.serve import Sandbox
from tests import cli_fork

runner = CliRunner()

# Blocks pyodbc and every azure SDK in a fresh interpreter, as on a machine without unixODBC.
BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name in BLOCKED or name.startswith(tuple(b + "." for b in BLOCKED)):
                raise ImportError(f"blocked for the test: {name}")
            return None
    sys.meta_path.insert(0, Block())
    """
)


def run_blocked(
    args: list[str], env: dict[str, str] | None = None, blocked: tuple[str, ...] = ("pyodbc", "azure", "msal")
) -> subprocess.CompletedProcess[str]:
    code = (
        f"BLOCKED = {blocked!r}\n"
        + BLOCKER
        + textwrap.dedent(
            f"""
        from azsqlctl.cli.app import app
        try:
            app({args!r}, standalone_mode=True)
        except SystemExit as exc:
            heavy = sorted(m for m in sys.modules if m == "pyodbc" or m.startswith(("azure", "msal")))
            print("HEAVY=" + ",".join(heavy), file=sys.stderr)
            raise
        """
        )
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env or dict(os.environ))


@pytest.mark.parametrize(
    "args", [["--help"], ["whoami", "--help"], ["sandbox", "--help"], ["sandbox", "serve", "--help"], ["sandbox", "run", "--help"]]
)
def test_help_needs_neither_pyodbc_nor_azure(args: list[str]) -> None:
    proc = run_blocked(args)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout
    assert "HEAVY=\n" in proc.stderr


def test_no_unixodbc_gives_a_one_line_error_with_install_hint(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    proc = run_blocked(["whoami"], env=dict(os.environ), blocked=("pyodbc",))
    assert proc.returncode == ExitCode.NOT_FOUND
    assert "Error: pyodbc cannot load" in proc.stderr
    assert "Hint: unixODBC is missing" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_whoami_json_envelope(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["whoami", "--output", "json"])
    assert result.exit_code == 0, result.output
    env = json.loads(result.stdout)
    operator = next(i.as_json() for i in sandbox.identities() if i.name == "sandbox-operator")
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    assert env["version"] == 1
    assert env["command"] == "whoami"
    assert (env["status"], env["exit_code"], env["errors"]) == ("ok", 0, [])
    data = env["data"]
    assert data["server"] == f"localhost,{sandbox.tds_port}"
    assert (data["database"], data["database_name"]) == ("appdb", "appdb")
    assert data["credential"] == "ManagedIdentityCredential"
    assert (data["login_name"], data["user_name"]) == (f"sandbox-operator@{tenant}", "dbo")
    assert data["roles"] == ["db_owner"]
    assert data["permissions"][0] == "CONTROL"
    assert data["server_version"] == "Microsoft SQL Azure (RTM) - 12.0.2000.8"
    ident = data["identity"]
    assert ident["client_id"] == ident["sid"] == operator["client_id"]
    assert ident["object_id"] == operator["object_id"]
    assert (ident["type"], ident["tenant_id"]) == ("app", tenant)
    import uuid

    assert ident["sid_hex"] == "0x" + uuid.UUID(operator["client_id"]).bytes_le.hex().upper()
    assert data["warnings"] == ["member of db_owner: more than an application needs (see azsqlctl grant)"]


def test_whoami_human_for_a_least_privilege_app(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    app_id = next(i.client_id for i in sandbox.identities() if i.name == "orders-api")
    result = runner.invoke(app, ["whoami", "--client-id", app_id], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "✓ Logged in to appdb" in result.stdout
    assert "db_datareader" in result.stdout
    assert "CONNECT, SELECT" in result.stdout
    assert "!" not in result.stdout


def test_login_failure_is_one_error_and_a_hint(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    worker = next(i.client_id for i in sandbox.identities() if i.name == "billing-worker")
    result = runner.invoke(app, ["whoami", "--client-id", worker])
    assert result.exit_code == ExitCode.AUTHENTICATION
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Error: [28000] Login failed for user '<token-identified principal>'. (18456)"
    assert lines[1].startswith("Hint: the token was refused, or no database user matches this identity")
    assert "Traceback" not in result.stderr

    result = runner.invoke(app, ["whoami", "--client-id", worker, "-o", "json"])
    env = json.loads(result.stdout)
    assert (env["status"], env["exit_code"], env["data"]) == ("error", 3, None)
    assert env["errors"][0]["code"] == "18456"
    assert env["errors"][0]["details"]["sqlstate"] == "28000"


@pytest.mark.parametrize(
    ("args", "code", "message", "hint"),
    [
        (["--server", "myserver:1433"], ExitCode.USAGE, "malformed server 'myserver:1433'", "use a comma before the port: myserver,1433"),
        (["--server", "bad server!"], ExitCode.USAGE, "malformed server 'bad server!'", "use myserver"),
        (["--cloud", "Nowhere"], ExitCode.USAGE, "unknown cloud 'Nowhere'", "AZSQLCTL_ARM_ENDPOINT"),
        (["--timeout", "0"], ExitCode.USAGE, "timeout must be between 1 and 3600 seconds", "--timeout"),
        (["--auth", "password"], ExitCode.USAGE, "unknown auth 'password'", "managed-identity"),
        (["--auth", "environment"], ExitCode.AUTHENTICATION, "no credential could get a token", "az login"),
        (["--driver", "/nonexistent/libmsodbcsql-18.so"], ExitCode.NOT_FOUND, "does not exist", "registered driver name"),
        (["--driver", "ODBC Driver 99 for SQL Server"], ExitCode.NOT_FOUND, "is not registered", "pip install mssql-python-odbc"),
    ],
)
def test_bad_inputs(sandbox: Sandbox, client_env: dict[str, str], args: list[str], code: int, message: str, hint: str) -> None:
    result = runner.invoke(app, ["whoami", *args])
    assert result.exit_code == code, result.output
    err_line, hint_line = result.stderr.strip().splitlines()[:2]
    assert err_line.startswith("Error: ") and message in err_line
    assert hint_line.startswith("Hint: ") and hint in hint_line
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("cli_fork")  # a process of its own (--debug configures logging), forked: tests/cli_fork.py
def test_debug_output_never_contains_a_token(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    proc = subprocess.run([*cli_fork.COMMAND, "whoami", "--debug"], capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert "DEBUG" in proc.stderr  # debug logging really ran
    issued = sandbox.issue_token("sandbox-operator")
    assert "eyJ" not in proc.stdout + proc.stderr
    assert issued.split(".")[2] not in proc.stdout + proc.stderr
    assert client_env["IDENTITY_HEADER"] not in proc.stdout + proc.stderr
    # a failing run with --debug shows the traceback, still redacted
    worker = next(i.client_id for i in sandbox.identities() if i.name == "billing-worker")
    proc = subprocess.run(
        [*cli_fork.COMMAND, "whoami", "--debug", "--client-id", worker],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode == ExitCode.AUTHENTICATION
    assert "Traceback" in proc.stderr
    assert "eyJ" not in proc.stdout + proc.stderr


def test_settings_precedence_flag_env_file(
    sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "azsqlctl.toml").write_text('database = "fromfile"\n')
    monkeypatch.delenv("AZSQLCTL_DATABASE")
    result = runner.invoke(app, ["whoami", "-o", "json"])
    assert 'Cannot open database \\"fromfile\\"' in result.stdout  # file used when nothing else is set
    monkeypatch.setenv("AZSQLCTL_DATABASE", "fromenv")
    result = runner.invoke(app, ["whoami", "-o", "json"])
    assert 'Cannot open database \\"fromenv\\"' in result.stdout  # env beats file
    result = runner.invoke(app, ["whoami", "-o", "json", "--database", "appdb"])
    assert json.loads(result.stdout)["data"]["database_name"] == "appdb"  # flag beats env


def test_output_from_environment(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["whoami"], env={"AZSQLCTL_OUTPUT": "json"})
    assert json.loads(result.stdout)["status"] == "ok"


def test_no_color_is_respected(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    colored = runner.invoke(app, ["whoami"], env={"FORCE_COLOR": "1", "COLUMNS": "200"})
    assert "\x1b[32m✓" in colored.stdout  # a green check when colour is on
    plain = runner.invoke(app, ["whoami"], env={"FORCE_COLOR": "1", "NO_COLOR": "1", "COLUMNS": "200"})
    assert plain.exit_code == 0 and "✓ Logged in" in plain.stdout
    assert "\x1b[32m" not in plain.stdout and "\x1b[33m" not in plain.stdout

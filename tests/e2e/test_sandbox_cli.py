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
from typing import Any

import pytest
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.errors import ExitCode
from tests import cli_fork
from tests.conftest import seed_keys

pytestmark = [
    pytest.mark.sandbox_keys,  # CLI sandboxes over --state in tmp_path: the session's keys (tests/conftest.py)
    pytest.mark.usefixtures("cli_fork"),  # many `python -m azsqlctl` processes: tests/cli_fork.py
]

CLI = cli_fork.COMMAND
# A real interpreter where the test is about the process itself (signals to it and its group, a terminal).
PROCESS = [sys.executable, "-m", "azsqlctl"]


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


def proc_stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (state first, then the parent), or None once the process is gone
    (it can go between any two reads)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


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


def serve_announcement(command: list[str], env: dict[str, str], stop: signal.Signals = signal.SIGINT) -> tuple[dict[str, Any], int]:
    """`sandbox serve -o json`'s first line (its ready event, or its error envelope), then the process is stopped with
    ``stop``: the line and the exit code."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first: dict[str, Any] = json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(stop)
        proc.communicate(timeout=30)
    return first, proc.returncode


def test_serve_json_announces_ready_as_ndjson(tmp_path: Path) -> None:
    ready, code = serve_announcement([*CLI, "sandbox", "serve", "--state", str(tmp_path / "s.json"), "-o", "json"], clean_env(tmp_path))
    assert (ready["version"], ready["command"], ready["event"]) == (1, "sandbox serve", "ready")
    assert {i["name"] for i in ready["data"]["identities"]} == {"sandbox-operator", "orders-api", "billing-worker"}
    assert code == 0


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


def test_grants_persist_between_runs(tmp_path: Path) -> None:
    """A sandbox restarted on the same state keeps what `grant --apply` did: the database's security state lives in
    its data file beside the state file, written by the same commit as its data."""
    from azsqlctl.sandbox.state import stable_id

    state = tmp_path / "s.json"
    grant = [*CLI, "grant", "billing-worker", "--client-id", stable_id("billing-worker/appid"), "--role", "writer", "-o", "json"]

    def in_sandbox(*args: str) -> subprocess.CompletedProcess[str]:
        command = [*CLI, "sandbox", "run", "--state", str(state), "--", *grant, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=90, env=clean_env(tmp_path))

    first = in_sandbox("--apply")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["data"]["targets"][0]["status"] == "changed"
    appdb = json.loads(state.read_text())["server"]["databases"][0]
    assert appdb == {"name": "appdb", "available": True}  # not in the state file: in appdb's own data file
    second = in_sandbox("--check")
    assert second.returncode == 0, second.stdout + second.stderr
    assert json.loads(second.stdout)["data"]["targets"][0]["status"] == "unchanged"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], ExitCode.USAGE, "no command given"),
        (["--", "no-such-command-xyz"], 127, "command not found: no-such-command-xyz"),  # a shell's code, not NOT_FOUND
        (["--", "./not-executable.sh"], 126, "cannot run ./not-executable.sh: not executable"),  # found, not executable
        (["--", "./"], 126, "cannot run ./: a directory"),
        (["--stat", "x.json", "--", "true"], ExitCode.USAGE, "no such option: --stat"),  # a typo is not the command
    ],
)
def test_run_bad_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, message: str) -> None:
    """Refused before the sandbox starts or COMMAND is spawned: in this process (see in_process)."""
    (tmp_path / "not-executable.sh").write_text("#!/bin/sh\necho ran\n")  # mode 0644
    monkeypatch.chdir(tmp_path)
    proc = in_process(tmp_path, monkeypatch, "sandbox", "run", "--state", str(tmp_path / "s.json"), *args)
    assert proc.returncode == code
    assert proc.stderr.startswith("Error: ") and message in proc.stderr
    assert not (tmp_path / "s.json").exists()  # nothing was started


# --- bad input: one Error:/Hint: line each, a documented exit code, never 70 or a traceback ---------

BAD_STATE: dict[str, tuple[str | bytes, str]] = {
    "malformed.json": ("{bad", "is not valid JSON"),
    "malformed.toml": ("x = [", "is not valid TOML"),
    "wrongtype.json": ('{"tenant_id": 5, "server": {"name": "s", "subscription_id": "a", "resource_group": "b"}}',
                       "state.tenant_id: expected str, got int 5"),
    "missingkey.json": ('{"tenant_id": "t"}', "misses the key 'server'"),
    "missingserverkey.toml": ('tenant_id = "t"\n[server]\nname = "s"\n', "misses the key(s) 'subscription_id', 'resource_group'"),
    "unknownkey.json": ('{"tenant_id": "t", "server": {"name": "s", "subscription_id": "a", "resource_group": "b", "bogus": 1}}',
                        "unknown key 'bogus'"),
    "notutf8.json": (b"\xff\xfe{}", "is not UTF-8 text"),
}  # fmt: skip


def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI called in this process with clean_env's environment: for refusals that happen before anything is
    served or started, where a separate interpreter (~0.6 s CPU each) would add nothing to what is checked."""
    for key in list(os.environ):
        if key.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return subprocess.CompletedProcess(["azsqlctl", *args], result.exit_code, result.stdout, result.stderr)


def assert_refused(proc: subprocess.CompletedProcess[str], code: int, message: str, hint: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Error: ") and lines[1].startswith("Hint: "), proc.stderr
    assert message in lines[0] and hint in lines[1], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["serve", "run"])
@pytest.mark.parametrize("name", sorted(BAD_STATE))
def test_a_broken_state_file_is_refused_with_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, command: str) -> None:
    content, message = BAD_STATE[name]
    state = tmp_path / name
    state.write_bytes(content if isinstance(content, bytes) else content.encode())
    tail = ["--", "true"] if command == "run" else []
    proc = in_process(tmp_path, monkeypatch, "sandbox", command, "--state", str(state), *tail)
    assert_refused(proc, ExitCode.USAGE, message, "fix the file, or move it away")


@pytest.mark.fresh_material
def test_keys_that_cannot_be_created_beside_the_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".azsqlctl-sandbox").write_text("a file where the CA and keys directory goes")
    proc = in_process(tmp_path, monkeypatch, "sandbox", "serve", "--state", str(tmp_path / "s.json"))
    assert_refused(proc, ExitCode.USAGE, "cannot create the sandbox's CA and signing key", "writable directory")


@pytest.mark.parametrize(
    ("state", "message", "hint"),
    [
        ("adir", "is a directory", "pass a file path, e.g. --state"),
        ("adir.json", "is a directory", "pass a file path"),
        ("state.yaml", "unsupported suffix '.yaml'", "name it .json or .toml"),
        ("state", "unsupported suffix '(none)'", "name it .json or .toml"),
    ],
)
def test_a_state_path_that_can_never_be_a_state_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str, message: str, hint: str
) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir.json").mkdir()
    proc = in_process(tmp_path, monkeypatch, "sandbox", "serve", "--state", str(tmp_path / state))
    assert_refused(proc, ExitCode.USAGE, message, hint)
    assert not (tmp_path / "state.yaml").exists()


@pytest.mark.parametrize(
    ("env_file", "message", "hint"),
    [
        ("missing-dir/sandbox.env", "directory", "create the directory first"),
        ("adir", "is a directory", "pass a file path"),
        ("/proc/sandbox.env", "cannot write --env-file /proc/sandbox.env", "writable directory"),
    ],
)
def test_an_env_file_that_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_file: str, message: str, hint: str
) -> None:
    (tmp_path / "adir").mkdir()
    monkeypatch.chdir(tmp_path)
    proc = in_process(tmp_path, monkeypatch, "sandbox", "serve", "--state", str(tmp_path / "s.json"), "--env-file", env_file)
    assert_refused(proc, ExitCode.USAGE, message, hint)


@pytest.mark.parametrize("option", ["--tds-port", "--identity-port", "--arm-port"])
def test_a_port_already_in_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = in_process(tmp_path, monkeypatch, "sandbox", "serve", "--state", str(tmp_path / "s.json"), option, str(port))
    assert_refused(proc, ExitCode.USAGE, f"port {port} for the sandbox's", f"pick another port with {option}")
    assert f"({option}) is already in use" in proc.stderr


def test_env_file_is_private_quoted_and_sourceable_with_spaces(tmp_path: Path, material_dir: Path) -> None:
    """A state path with spaces (so the CA paths have spaces): the file is 0600 and `source` gives back each value."""
    home = tmp_path / "my sandbox dir"
    env_file, docker_file = tmp_path / "sandbox.env", tmp_path / "docker.env"
    env = clean_env(tmp_path)
    procs = []
    for target, extra in ((env_file, []), (docker_file, ["--env-format", "docker"])):
        state = home / target.stem / "state.json"  # one directory each: they must not race to create the CA
        state.parent.mkdir(parents=True)
        seed_keys(material_dir, state.parent / ".azsqlctl-sandbox")  # not in tmp_path itself: seeded here (sandbox_keys)
        command = [*CLI, "sandbox", "serve", "--state", str(state), "--env-file", str(target), *extra]
        procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    try:
        wait_for(env_file)
        wait_for(docker_file)
        assert env_file.stat().st_mode & 0o777 == 0o600 and docker_file.stat().st_mode & 0o777 == 0o600
        text = env_file.read_text()
        assert f"\nAZSQLCTL_CA_BUNDLE='{home}/sandbox/.azsqlctl-sandbox/" in text  # quoted: the path has spaces
        dump = (
            "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith(('AZSQLCTL_', 'IDENTITY_', 'SSL_'))}))"
        )
        shell = subprocess.run(["bash", "-c", f'set -a; . "{env_file}"; set +a; {sys.executable} -c "{dump}"'],
                               capture_output=True, text=True, timeout=30, env=env)  # fmt: skip
        assert shell.returncode == 0, shell.stderr
        sourced = json.loads(shell.stdout)
        ca_bundle = sourced["AZSQLCTL_CA_BUNDLE"]
        assert ca_bundle.startswith(f"{home}/") and Path(ca_bundle).is_file()
        # docker --env-file takes the raw value after '=' (quotes would become part of it)
        docker = dict(line.split("=", 1) for line in docker_file.read_text().splitlines())
        assert docker["AZSQLCTL_CA_BUNDLE"].startswith(f"{home}/docker/") and Path(docker["AZSQLCTL_CA_BUNDLE"]).is_file()
        assert {k: docker[k] for k in ("AZSQLCTL_TENANT_ID", "AZSQLCTL_SQL_RESOURCE")} == {
            k: sourced[k] for k in ("AZSQLCTL_TENANT_ID", "AZSQLCTL_SQL_RESOURCE")
        }
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
    assert [p.returncode for p in procs] == [0, 0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_sandbox_run_reaches_its_child_and_leaves_none_behind(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    pid_file = tmp_path / "child.pid"
    # The child dies of the signal itself (no Python KeyboardInterrupt traceback of its own).
    child = (f"import os, signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); "
             f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)")  # fmt: skip
    proc = subprocess.Popen([*PROCESS, "sandbox", "run", "--state", str(tmp_path / "s.json"), "--", sys.executable, "-c", child],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(tmp_path),
                            stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(pid_file)
        time.sleep(0.2)
        child_pid = int(pid_file.read_text())
        started = time.monotonic()
        proc.send_signal(sig)  # to sandbox run only, as a supervisor (systemd, docker stop, CI) sends it
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert time.monotonic() - started < 5
    assert not _alive(child_pid), "the child was left behind"
    assert "Traceback" not in err


def test_serve_survives_a_state_file_broken_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Break the file under a running sandbox: clients keep working on the last good state,
    serve logs one line (no traceback), and picks the file up again once it is fixed."""
    state = tmp_path / "s.json"
    env = clean_env(tmp_path)
    proc = subprocess.Popen([*CLI, "sandbox", "serve", "--state", str(state), "-o", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        assert proc.stdout is not None
        client_env = {**env, **json.loads(proc.stdout.readline())["data"]["env"]}
        good = state.read_text()
        broken = tmp_path / "broken.json"
        broken.write_text(good[: len(good) // 2])  # half a file, as an editor crash leaves it
        broken.replace(state)  # one broken version (a truncate-then-write could show serve two)

        def whoami() -> dict[str, object]:
            """The client in this process (serve is the process under test): only serve's environment, like in_process."""
            monkeypatch.chdir(tmp_path)
            for key in list(os.environ):
                if key.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_")):
                    monkeypatch.delenv(key)
            out = CliRunner().invoke(app, ["whoami", "-o", "json"], env=client_env)
            assert out.exit_code == 0, out.stderr
            return json.loads(out.stdout)["data"]  # type: ignore[no-any-return]

        def arm_databases() -> list[str]:
            """Plain HTTPS to the ARM surface (where clients saw RemoteDisconnected before)."""
            import ssl
            import urllib.request

            token_url = f"{client_env['IDENTITY_ENDPOINT']}?api-version=2019-08-01&resource=https://management.azure.com/"
            ask = urllib.request.Request(token_url, headers={"X-IDENTITY-HEADER": client_env["IDENTITY_HEADER"]})
            with urllib.request.urlopen(ask, timeout=10) as answer:
                token = json.loads(answer.read())["access_token"]
            path = (f"/subscriptions/{client_env['AZSQLCTL_SUBSCRIPTION']}/resourceGroups/{client_env['AZSQLCTL_RESOURCE_GROUP']}"
                    "/providers/Microsoft.Sql/servers/sandbox-sql/databases?api-version=2023-08-01")  # fmt: skip
            get = urllib.request.Request(client_env["AZSQLCTL_ARM_ENDPOINT"] + path, headers={"Authorization": f"Bearer {token}"})
            tls = ssl.create_default_context(cafile=client_env["AZSQLCTL_CA_BUNDLE"])
            with urllib.request.urlopen(get, timeout=10, context=tls) as answer:
                return [d["name"] for d in json.loads(answer.read())["value"]]

        assert whoami()["user_name"] == "dbo"
        assert "appdb" in arm_databases()
        assert whoami()["user_name"] == "dbo"
        fixed = json.loads(good)
        fixed["server"]["databases"][0]["name"] = "renamed"  # a visible change, to see the reload
        fixed_file = tmp_path / "fixed.json"
        fixed_file.write_text(json.dumps(fixed))
        fixed_file.replace(state)  # atomically: serve must never catch this version half-written
        client_env["AZSQLCTL_DATABASE"] = "renamed"
        assert whoami()["database"] == "renamed"
        assert "renamed" in arm_databases()
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    unusable = [line for line in err.splitlines() if "state file unusable" in line]
    assert len(unusable) == 1 and "still serving the last good state" in unusable[0], err
    assert any("valid again: reloaded" in line for line in err.splitlines()), err


def test_ctrl_c_at_a_terminal_reaches_the_child_once(tmp_path: Path) -> None:
    """Ctrl-C at a terminal signals the whole foreground group, the child included: `sandbox run`
    must not forward a second SIGINT (a double press), and exits with the child's own code."""
    import fcntl
    import pty
    import termios

    pid_file, count_file = tmp_path / "child.pid", tmp_path / "count"
    child = (
        "import os, signal, sys, time\n"
        "count = 0\n"
        "def on_int(*_):\n"
        "    global count\n"
        "    count += 1\n"
        "signal.signal(signal.SIGINT, on_int)\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "while count == 0: time.sleep(0.01)\n"
        "time.sleep(0.5)  # a forwarded duplicate would land here\n"
        f"open({str(count_file)!r}, 'w').write(str(count))\n"
        "sys.exit(3)\n"
    )
    master, slave = pty.openpty()

    def take_terminal() -> None:  # runs in the new session: the pty becomes its controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([*PROCESS, "sandbox", "run", "--state", str(tmp_path / "s.json"), "--", sys.executable, "-c", child],
                            stdin=slave, stdout=slave, stderr=slave, env=clean_env(tmp_path), start_new_session=True,
                            preexec_fn=take_terminal)  # fmt: skip
    os.close(slave)
    try:
        wait_for(pid_file)
        time.sleep(0.2)
        os.write(master, b"\x03")  # Ctrl-C, as the terminal sees it
        assert proc.wait(timeout=30) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert count_file.read_text() == "1"


ENTRA_ADMIN_DEMO = ["grant", "--ensure-entra-admin", "sql-admins", "--entra-admin-id", "5d1c2f3a-0000-4000-8000-0000000000aa",
                    "--replace-admin", "--apply"]  # fmt: skip


def test_reset_brings_back_a_default_sandbox_the_readme_entra_admin_example_broke(tmp_path: Path) -> None:
    state, env = tmp_path / "s.json", clean_env(tmp_path)

    def sandbox(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "sandbox", *args], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)

    assert sandbox("run", "--state", str(state), "--", *CLI, *ENTRA_ADMIN_DEMO).returncode == 0
    broken = sandbox("run", "--state", str(state), "--", *CLI, "doctor")
    assert broken.returncode != 0 and "18456" in broken.stdout + broken.stderr
    (tmp_path / "s.data").mkdir(exist_ok=True)
    (tmp_path / "s.data" / "appdb.sqlite").write_bytes(b"user rows")
    refused = sandbox("reset", "--state", str(state))  # no terminal to ask on: refused, nothing changed
    assert_refused(refused, ExitCode.USAGE, f"sandbox reset would overwrite {state}", "rerun with --yes")
    assert "sql-admins" in state.read_text()
    reset = sandbox("reset", "--state", str(state), "--yes", "-o", "json")
    assert reset.returncode == 0, reset.stderr
    data = json.loads(reset.stdout)["data"]
    assert data["state"] == str(state) and str(tmp_path / "s.data") in data["removed"]
    assert str(tmp_path / "s.audit.sqlite") in data["removed"]
    assert not (tmp_path / "s.data").exists() and not (tmp_path / "s.audit.sqlite").exists()
    assert "sql-admins" not in state.read_text()
    fixed = sandbox("run", "--state", str(state), "--", *CLI, "doctor")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_reset_refuses_a_state_path_that_can_never_be_a_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = in_process(tmp_path, monkeypatch, "sandbox", "reset", "--state", str(tmp_path / "s.txt"), "--yes")
    assert_refused(proc, ExitCode.USAGE, "unsupported suffix", "name it .json or .toml")
    assert not (tmp_path / "s.txt").exists()


def test_run_suggests_the_option_a_typo_meant_and_passes_options_after_the_command_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = clean_env(tmp_path)
    typo = in_process(tmp_path, monkeypatch, "sandbox", "run", "--stat", str(tmp_path / "s.json"), "--", "true")  # refused at parsing
    assert_refused(typo, ExitCode.USAGE, "no such option: --stat", "did you mean --as or --state?")  # click offers every close option
    assert not (tmp_path / "s.json").exists()
    json_typo = in_process(tmp_path, monkeypatch, "sandbox", "run", "-o", "json", "--", "true")
    assert json_typo.returncode == ExitCode.USAGE
    assert json.loads(json_typo.stdout)["errors"][0]["message"] == "no such option: -o"
    for separator in (["--"], []):  # with or without --, what follows the command's first word is its own
        proc = subprocess.run([*CLI, "sandbox", "run", "--state", str(tmp_path / "s.json"), *separator, sys.executable, "-c",
                               "import sys; sys.exit(3 if sys.argv[1:] == ['--state', '-o'] else 1)", "--state", "-o"],
                              capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
        assert proc.returncode == 3, proc.stderr

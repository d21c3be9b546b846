"""Refused inputs: one Error/Hint pair (or the envelope under -o json), the documented exit code, never 70."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.serve import Sandbox

pytestmark = pytest.mark.sandbox_keys  # CLI sandboxes over --state in tmp_path: the session's keys (tests/conftest.py)

runner = CliRunner()


def _error(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, args, env=env)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("Error: ") and lines[1].startswith("Hint: "), lines
    return result.exit_code, lines[0], lines[1]


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["whoami", "--outptu", "json"], "no such option: --outptu", "did you mean --output?"),
        (["whoami", "--output", "garbage"], "invalid value for '--output'", "azsqlctl whoami --help"),
        (["whoam"], "no such command 'whoam'", "did you mean 'whoami'?"),
        (["grant", "x", "--concurrency", "0"], "invalid value for '--concurrency'", "azsqlctl grant --help"),
        (["whoami", "--database", ""], "--database is empty", "AZSQLCTL_DATABASE"),
        (["whoami", "--server", ""], "--server is empty", "AZSQLCTL_SERVER"),
        (["whoami", "-S", "x", "--client-id", "not-a-guid"], "--client-id 'not-a-guid' is not a GUID", "az identity show"),
        (["whoami", "-S", "x", "--timeout", "1e9"], "timeout must be between 1 and 3600 seconds", "--timeout"),
        (["whoami", "-S", "x", "--timeout", "nan"], "is not a number", "--timeout"),
        (["doctor", "-S", "x", "-d", "db", "--client-ip", "999.1.1.1"], "--client-ip '999.1.1.1' is not an IP address", "public"),
        (["doctor", "-S", "x", "-d", "db", "--admin-auth", "password"], "unknown --admin-auth 'password'", "managed-identity"),
        (["doctor", "-S", "x", "-d", "db", "--admin-client-id", "1"], "--admin-client-id without --admin-auth", "--admin-auth"),
        (["doctor", "-d", "db", "--connection-string", "Server=x;Database"], "keyword without a value", "KEY=value"),
        # issue 15, point 8: refused as what they are, before any probe can misdiagnose them
        (["doctor", "-S", "x", "-d", "db", "--subscription", "nope"], "--subscription 'nope' is not a GUID", "az account show"),
        (["whoami", "-S", "x", "--database", "d" * 300], "--database is 300 characters long; database names are at most 128", "name"),
        (["logs", "--since", "99999999d", "--show-query"], "--since '99999999d' is outside 0s..4383d", "4383d"),
        (["logs", "--since", "10000000000000000000000s", "--show-query"], "is outside 0s..4383d", "4383d"),
        (["logs", "-f", "--interval", "0s", "--show-query"], "--interval '0s' is outside 100ms..1d", "100ms"),
    ],
)
def test_refused_inputs_exit_2(args: list[str], message: str, hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, err, hint_line = _error(args)
    assert code == ExitCode.USAGE
    assert message in err
    assert hint in hint_line


def test_usage_errors_under_json_are_the_envelope() -> None:
    result = runner.invoke(app, ["whoami", "-o", "json", "--outptu", "x"])
    assert result.exit_code == ExitCode.USAGE
    envelope = json.loads(result.stdout)
    assert (envelope["command"], envelope["status"], envelope["exit_code"], envelope["data"]) == ("whoami", "error", 2, None)
    assert envelope["errors"][0]["message"] == "no such option: --outptu"
    assert envelope["errors"][0]["hint"].startswith("did you mean --output?")
    result = runner.invoke(app, ["sandbox", "serve", "--tds-port", "70000"], env={"AZSQLCTL_OUTPUT": "json"})
    envelope = json.loads(result.stdout)
    assert (envelope["command"], envelope["exit_code"]) == ("sandbox serve", 2)


def test_output_from_environment_is_validated() -> None:
    code, err, hint = _error(["whoami"], env={"AZSQLCTL_OUTPUT": "garbage"})
    assert code == ExitCode.USAGE
    assert err == "Error: AZSQLCTL_OUTPUT is 'garbage', not an output format"
    assert hint == "Hint: use human or json"


def test_output_from_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AZSQLCTL_OUTPUT", raising=False)
    (tmp_path / "azsqlctl.toml").write_text('output = "json"\n')
    result = runner.invoke(app, ["whoami", "--server", "bad server!"])
    assert json.loads(result.stdout)["errors"][0]["code"] == "bad_server"


@pytest.mark.parametrize(
    ("content", "message", "hint"),
    [
        ('databse = "appdb"\n', "azsqlctl.toml has unknown key: databse", "did you mean 'database'?"),
        (b'server = "\xff"\n', "azsqlctl.toml is not UTF-8 text", "save"),
        ("server = \n", "azsqlctl.toml is not valid TOML", "fix the syntax"),
    ],
)
def test_config_file_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | bytes, message: str, hint: str) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "azsqlctl.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, err, hint_line = _error(["whoami"])
    assert code == ExitCode.USAGE
    assert message in err and hint in hint_line


@pytest.mark.parametrize(
    ("args", "codes"),
    [
        (["grant", "--policy", "{dir}/bad.toml", "--dry-run", "-S", "x", "-d", "y"], {ExitCode.USAGE}),
        (["sandbox", "serve", "--state", "{dir}"], {ExitCode.USAGE}),
        (
            ["sandbox", "serve", "--state", "{dir}/s.json", "--env-file", "/nonexistent/dir/sandbox.env"],
            {ExitCode.USAGE, ExitCode.NOT_FOUND},
        ),
        (["sandbox", "serve", "--state", "{dir}/s.json", "--env-file", "{dir}"], {ExitCode.USAGE}),
    ],
)
def test_files_the_os_refuses_are_errors_not_bugs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], codes: set[int]
) -> None:
    """Ordinary file problems (not UTF-8, a directory, a missing directory) map to an exit code, never 70. In this
    process: each is refused before anything is served, where an interpreter (~0.6 s CPU each) adds nothing."""
    (tmp_path / "bad.toml").write_bytes(b'x = "\xff"\n')
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [a.replace("{dir}", str(tmp_path)) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in codes, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Error: ") and lines[1].startswith("Hint: ") and "Traceback" not in result.stderr


def test_missing_option_value_and_no_arguments() -> None:
    code, err, hint = _error(["whoami", "--server"])
    assert code == ExitCode.USAGE and "requires an argument" in err and "azsqlctl whoami --help" in hint
    result = runner.invoke(app, [])
    assert result.exit_code == ExitCode.USAGE and "Usage" in result.output and "Traceback" not in result.output


GUID = "27c1c882-4791-57cf-8622-933abbac9865"


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["app1", "--client-id", GUID, "--role", "reader", "--drop-user"], "--drop-user only applies with --revoke", "add --revoke"),
        (["app1", "--policy", "p.toml"], "IDENTITY would be ignored: --policy names its own identities", "drop them (or --policy)"),
        (["--policy", "p.toml", "--identity-resource", "/subscriptions/x"], "--identity-resource would be ignored", "--policy"),
        (["--policy", "p.toml", "--client-id", GUID, "--object-id", GUID], "--client-id, --object-id would be ignored", "--policy"),
        (["--policy", "p.toml", "--type", "app", "--role", "reader", "--sid-mode"], "--type, --role, --sid-mode would be ignored", "policy"),
        (["--policy", "p.toml", "--revoke"], "--revoke does not combine with --policy", "azsqlctl grant NAME --role ROLE --revoke"),
        (["--policy", "p.toml", "--database", "appdb"], "--database would be ignored: the policy's targets name the databases", "drop --database"),
        (["app1", "--client-id", GUID, "--role", "reader", "--revoke", "--prune"], "--prune would be ignored with --revoke", "drop them"),
        (["app1", "--client-id", GUID, "--role", "reader", "--revoke", "--sid-mode"], "--sid-mode would be ignored with --revoke", "drop them"),
        (["app1", "--client-id", GUID, "--role", "reader", "--entra-admin-id", GUID], "--entra-admin-id only applies with --ensure-entra-admin", "add --ensure-entra-admin"),
        (["app1", "--client-id", GUID, "--role", "reader", "--entra-admin-type", "User"], "--entra-admin-type only applies", "--ensure-entra-admin"),
        (["app1", "--client-id", GUID, "--role", "reader", "--replace-admin"], "--replace-admin only applies with --ensure-entra-admin", "--ensure-entra-admin"),
    ],
)  # fmt: skip
def test_grant_refuses_meaningless_combinations(
    args: list[str], message: str, hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of these was silently ignored (the identity under --policy, --drop-user without --revoke, ...): now exit 2."""
    monkeypatch.chdir(tmp_path)
    for name in ("AZSQLCTL_DATABASE", "AZSQLCTL_OUTPUT", "AZSQLCTL_SERVER"):
        monkeypatch.delenv(name, raising=False)
    code, err, hint_line = _error(["grant", *args, "--dry-run"])
    assert code == ExitCode.USAGE
    assert err == f"Error: {message}" or message in err, err
    assert hint in hint_line
    result = runner.invoke(app, ["grant", "-o", "json", *args, "--dry-run"])
    assert result.exit_code == ExitCode.USAGE
    envelope = json.loads(result.stdout)
    assert (envelope["command"], envelope["status"], envelope["exit_code"], envelope["data"]) == ("grant", "error", 2, None)
    assert envelope["errors"][0]["code"] == "conflict" and message in envelope["errors"][0]["message"]


def test_grant_database_from_the_environment_is_no_conflict_with_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a --database flag is refused beside --policy: AZSQLCTL_DATABASE (e.g. a sandbox's env file) is just unused."""
    monkeypatch.chdir(tmp_path)
    code, err, _hint = _error(["grant", "--policy", "missing.toml", "--dry-run"], env={"AZSQLCTL_DATABASE": "appdb"})
    assert (code, err) == (ExitCode.USAGE, "Error: cannot read policy missing.toml: No such file or directory")  # it got that far


WHOAMI = ["whoami", "--timeout", "10"]
GRANT = ["grant", "orders-api", "--client-id", GUID, "--role", "reader", "--dry-run", "--timeout", "10"]


@pytest.mark.parametrize("command", [WHOAMI, GRANT], ids=["whoami", "grant"])
def test_refused_port_is_diagnosed_at_once(sandbox: Sandbox, client_env: dict[str, str], command: list[str]) -> None:
    """whoami and grant say what doctor would, within 2 s, instead of HYT00 after the login timeout."""
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    code, err, hint = _error([*command, "--server", f"localhost,{port}"])
    assert time.monotonic() - start < 2.0
    assert code == ExitCode.CONNECTION
    assert err == f"Error: TCP connect to 127.0.0.1:{port} refused: nothing listens there"
    assert hint.startswith("Hint: nothing answers on the server's port") and "11000" not in hint


@pytest.mark.parametrize("command", [WHOAMI, GRANT], ids=["whoami", "grant"])
def test_nxdomain_is_diagnosed_at_once(sandbox: Sandbox, client_env: dict[str, str], command: list[str]) -> None:
    start = time.monotonic()
    code, err, hint = _error([*command, "--server", "nosuchserver.localhost"])
    assert time.monotonic() - start < 2.0
    assert code == ExitCode.CONNECTION
    assert err == "Error: nosuchserver.localhost does not resolve (NXDOMAIN)"
    assert hint.startswith("Hint: the server name does not resolve") and "HYT00" not in err


@pytest.mark.parametrize(
    ("content", "message", "hint"),
    [
        ('[clouds.x]\narm_endpont = "https://127.0.0.1:1"\nsql_resource = "https://db.x/"\nsql_dns_suffix = "db.x"\n',
         "azsqlctl.toml [clouds.x] has unknown key: arm_endpont", "did you mean 'arm_endpoint'?"),
        ('[clouds.x]\narm_endpoint = ";"\nsql_resource = "https://db.x/"\nsql_dns_suffix = "db.x"\n',
         "azsqlctl.toml [clouds.x].arm_endpoint ';' is not an absolute http(s) URL", "e.g. https://management.azure.com"),
        ('[clouds.x]\narm_endpoint = "https://127.0.0.1:1"\nsql_resource = "db.x"\nsql_dns_suffix = "db.x"\n',
         "azsqlctl.toml [clouds.x].sql_resource 'db.x' is not an absolute http(s) URL", "e.g. https://database.windows.net/"),
        ('[clouds.x]\narm_endpoint = "https://127.0.0.1:1"\nsql_resource = "https://db.x/"\nsql_dns_suffix = "db .x"\n',
         "azsqlctl.toml [clouds.x].sql_dns_suffix 'db .x' is not a DNS suffix", "e.g. database.windows.net"),
    ],
)  # fmt: skip
def test_custom_cloud_table_problems_name_the_file_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, message: str, hint: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("AZSQLCTL_CLOUD", "AZSQLCTL_ARM_ENDPOINT", "AZSQLCTL_SQL_RESOURCE", "AZSQLCTL_SQL_DNS_SUFFIX"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "azsqlctl.toml").write_text(content)
    code, err, hint_line = _error(["whoami", "--cloud", "x", "--server", "s"])
    assert code == ExitCode.USAGE, err
    assert message in err and hint in hint_line, (err, hint_line)


def test_a_bad_cloud_value_from_the_environment_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "azsqlctl.toml").write_text(
        '[clouds.x]\narm_endpoint = "https://127.0.0.1:1"\nsql_resource = "https://db.x/"\nsql_dns_suffix = "db.x"\n'
    )
    monkeypatch.setenv("AZSQLCTL_CLOUD", "x")
    monkeypatch.setenv("AZSQLCTL_ARM_ENDPOINT", ";")
    code, err, hint_line = _error(["whoami", "--server", "s"])
    assert code == ExitCode.USAGE
    assert "AZSQLCTL_ARM_ENDPOINT ';' is not an absolute http(s) URL" in err and "e.g. https://management.azure.com" in hint_line


@pytest.mark.parametrize("path", ["/missing.pem", "/"])
def test_a_missing_ca_bundle_names_the_path_for_every_command(path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["whoami", "-S", "x"], ["doctor", "-S", "x", "-d", "db"], ["grant", "x", "-S", "x", "--dry-run"]):
        code, err, hint = _error([*args, "--ca-bundle", path])
        assert code == ExitCode.NOT_FOUND, (args, err)
        assert f"CA bundle '{path}' (--ca-bundle)" in err and "PEM" in hint, (args, err)

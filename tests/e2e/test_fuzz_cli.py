"""Property: whatever arguments, environment and config file a user gives, no command ends in exit 70 or a traceback.

Every generated run stays off the network's slow paths: the server defaults to a refused
local port, credentials to ones that fail without a network round trip, and the timeout to 1 s.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.config import SETTINGS
from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.serve import Sandbox

runner = CliRunner()

TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
SAFE_AUTH = st.sampled_from(["environment", "cli", "password", "", "MANAGED", "default-ish"])
GUIDISH = st.one_of(st.uuids().map(str), TEXT)
NUMBERISH = st.one_of(st.integers(-(10**12), 10**12).map(str), st.floats(allow_nan=True).map(str), TEXT)

COMMON: dict[str, st.SearchStrategy[str] | None] = {
    "--server": st.one_of(TEXT, st.just("localhost,1"), st.just("tcp:127.0.0.1,1"), st.just("x:1433")),
    "--database": TEXT,
    "--cloud": st.one_of(TEXT, st.sampled_from(["AzureCloud", "AzureChinaCloud", "lab"])),
    "--auth": SAFE_AUTH,
    "--tenant-id": TEXT,
    "--driver": TEXT,
    "--ca-bundle": st.one_of(TEXT, st.sampled_from(["/", "/proc/self/mem", "/nonexistent.pem", "/etc/hostname"])),
    "--timeout": NUMBERISH,
    "--output": st.one_of(st.sampled_from(["json", "human"]), TEXT),
    "--trust-server-certificate": None,
    "--strict": None,
    "--debug": None,
}
PER_COMMAND: dict[str, dict[str, st.SearchStrategy[str] | None]] = {
    "whoami": {"--client-id": GUIDISH},
    "doctor": {
        "--client-id": GUIDISH,
        "--subscription": GUIDISH,
        "--resource-group": TEXT,
        "--connection-string": TEXT,
        "--client-ip": st.one_of(TEXT, st.ip_addresses().map(str), st.just("999.1.1.1")),
        "--admin-auth": SAFE_AUTH,
        "--admin-client-id": GUIDISH,
    },
    "grant": {
        "--role": st.one_of(TEXT, st.sampled_from(["reader", "db_owner", "CONTROL", "migrator"])),
        "--type": TEXT,
        "--client-id": GUIDISH,
        "--object-id": GUIDISH,
        "--sid-mode": None,
        "--dry-run": None,
        "--check": None,
        "--revoke": None,
        "--drop-user": None,
        "--allow-elevated": None,
        "--concurrency": NUMBERISH,
        "--policy": st.one_of(TEXT, st.sampled_from(["/", "/proc/self/status", "/nonexistent.toml"])),
        "--entra-admin-type": TEXT,
        "--operator-client-id": GUIDISH,
    },
}
ENV_KEYS = [s.env for s in SETTINGS if s.env not in ("AZSQLCTL_SERVER", "AZSQLCTL_AUTH", "AZSQLCTL_TIMEOUT")]
CONFIG = st.one_of(
    st.just(""),
    st.binary(max_size=40),
    st.dictionaries(st.sampled_from(["server", "database", "timeout", "output", "auth", "clouds", "nope"]), TEXT, max_size=3).map(
        lambda d: "".join(f'{k} = "{v.replace(chr(92), "").replace(chr(34), "")}"\n' for k, v in d.items())
    ),
)


@st.composite
def invocation(draw: st.DrawFn) -> tuple[list[str], dict[str, str], str | bytes]:
    command = draw(st.sampled_from(sorted(PER_COMMAND)))
    table = {**COMMON, **PER_COMMAND[command]}
    args = [command]
    if command == "grant":
        args.append(draw(st.one_of(TEXT.filter(lambda t: not t.startswith("-")), st.just("orders-api"))))
    for name in draw(st.lists(st.sampled_from(sorted(table)), max_size=6)):
        values = table[name]
        args.append(name)
        if values is not None:
            args.append(draw(values))
    if draw(st.booleans()):
        args.append(draw(TEXT))  # a stray token: an unknown option, an extra argument
    env = draw(st.dictionaries(st.sampled_from(ENV_KEYS), TEXT, max_size=3))
    return args, env, draw(CONFIG)


@pytest.fixture(scope="module")
def refused_port() -> Iterator[int]:
    """A port that refuses connections: bound and never listening, held for the module's tests (a port merely freed
    could be taken by another worker's sandbox meanwhile, which would answer instead of refusing)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=invocation())
def test_no_input_ends_in_exit_70_or_a_traceback(
    case: tuple[list[str], dict[str, str], str | bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused_port: int
) -> None:
    args, env, config = case
    for key in list(os.environ):
        if key.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "azsqlctl.toml"
    path.write_bytes(config if isinstance(config, bytes) else config.encode())
    base = {"AZSQLCTL_SERVER": f"localhost,{refused_port}", "AZSQLCTL_AUTH": "environment", "AZSQLCTL_TIMEOUT": "1"}
    result = runner.invoke(app, args, env={**base, **env})
    assert result.exit_code != ExitCode.INTERNAL, (args, env, config, result.output)
    if "--debug" not in args:  # --debug shows tracebacks on purpose
        assert "Traceback" not in result.output, (args, env, config, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)


# --- every endpoint dead or stalled: a connection failure naming it, within the timeout (issue 15, point 3) ---------

TIMEOUT_S = 1
# What each command talks to in the sandbox's environment, and the exit code the README gives for a failure there:
# 4 (CONNECTION); doctor reports an unreachable ARM as a failed check (1) and carries on with the others.
ENDPOINT_VARS = {
    "IDENTITY_ENDPOINT": ("/msi/token", "the token endpoint", {"whoami": 4, "doctor": 4, "grant": 4, "logs": 4, "logs status": 4}),
    "AZSQLCTL_ARM_ENDPOINT": ("", "ARM", {"doctor": 1, "logs": 4, "logs status": 4}),
    "AZSQLCTL_LOGS_ENDPOINT": ("", "Log Analytics", {"logs": 4}),
}
ARGS = {
    "whoami": ["whoami"],
    "doctor": ["doctor"],
    "grant": [
        "grant",
        "orders-api",
        "--type",
        "app",
        "--client-id",
        "6e3f0a4e-1b2c-4d5e-8f90-123456789abc",
        "--role",
        "reader",
        "--dry-run",
    ],
    "logs": ["logs"],
    "logs status": ["logs", "status"],
}


@pytest.fixture
def stalling_port() -> Iterator[int]:
    """Accepts connections and never answers (not even a TLS handshake). Per test: when it closes the connections
    it held, the calls the CLI abandoned at its deadline (its "azsqlctl deadline" threads; a real process would have
    left) fail and end, and are waited for here, so what they log stays with this test and no thread outlives it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()
    deadline = time.monotonic() + 30
    for abandoned in [t for t in threading.enumerate() if t.name == "azsqlctl deadline"]:
        abandoned.join(max(0.0, deadline - time.monotonic()))


# One test per endpoint, command and output format (each waits out the timeout when the endpoint stalls): a second
# each, so pytest-xdist spreads them instead of one worker waiting ~10 s for the token endpoint's ten.
ENDPOINT_CASES = [
    pytest.param(variable, command, fmt, id=f"{variable}-{command.replace(' ', '-')}-{fmt}")
    for variable in sorted(ENDPOINT_VARS)
    for command in ENDPOINT_VARS[variable][2]
    for fmt in ("human", "json")
]


@pytest.mark.parametrize(("variable", "command", "fmt"), ENDPOINT_CASES)
@pytest.mark.parametrize("mode", ["dead", "stalled"])
def test_an_unreachable_endpoint_is_named_with_the_readmes_code_within_the_timeout(
    variable: str, command: str, fmt: str, mode: str, sandbox: Sandbox, client_env: dict[str, str], refused_port: int, stalling_port: int
) -> None:
    path, title, commands = ENDPOINT_VARS[variable]
    port = refused_port if mode == "dead" else stalling_port
    scheme = "http" if variable == "IDENTITY_ENDPOINT" else "https"
    env = {variable: f"{scheme}://127.0.0.1:{port}{path}", "AZSQLCTL_TIMEOUT": str(TIMEOUT_S), "COLUMNS": "200"}
    start = time.monotonic()
    result = runner.invoke(app, [*ARGS[command], "-o", fmt], env=env)
    elapsed = time.monotonic() - start
    where = (variable, mode, command, fmt, result.output)
    assert result.exit_code == commands[command], where
    assert elapsed < TIMEOUT_S + 1, (elapsed, *where)
    assert f"{title} at {scheme}://127.0.0.1:{port}" in result.output, where
    cause = "refused the connection" if mode == "dead" else f"did not answer within {TIMEOUT_S} s"
    assert cause in result.output or (command == "doctor" and fmt == "json"), where  # doctor's JSON: its checks say it


@pytest.mark.parametrize("mode", ["dead", "stalled"])
def test_an_unreachable_dns_server_is_named_within_the_timeout(
    mode: str, sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path
) -> None:
    """doctor's own DNS query (AZSQLCTL_DNS_SERVER): a UDP port with nobody behind it answers ICMP at once;
    one bound and never read stays silent until the timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = int(silent.getsockname()[1])
        if mode == "dead":
            silent.close()
        env = {"AZSQLCTL_DNS_SERVER": f"127.0.0.1:{port}", "AZSQLCTL_TIMEOUT": str(TIMEOUT_S), "COLUMNS": "200"}
        start = time.monotonic()
        result = runner.invoke(app, ["doctor", "-o", "json"], env=env)
        elapsed = time.monotonic() - start
    assert result.exit_code == ExitCode.CHECK_FAILED, result.output
    dns = next(c for c in json.loads(result.stdout)["data"]["checks"] if c["id"] == "dns")
    said = "refused the query" if mode == "dead" else f"timed out after {TIMEOUT_S} s"
    assert f"the DNS server 127.0.0.1:{port}" in dns["finding"] and said in dns["finding"], dns
    assert elapsed < TIMEOUT_S + 1, elapsed


@pytest.mark.parametrize("mode", ["dead", "stalled"])
def test_an_unreachable_sql_server_is_named_within_the_timeout(
    mode: str, sandbox: Sandbox, client_env: dict[str, str], refused_port: int, stalling_port: int
) -> None:
    port = refused_port if mode == "dead" else stalling_port
    env = {"AZSQLCTL_SERVER": f"localhost,{port}", "AZSQLCTL_TIMEOUT": str(TIMEOUT_S), "COLUMNS": "200"}
    for args in (["whoami"], ARGS["grant"]):
        start = time.monotonic()
        result = runner.invoke(app, args, env=env)
        elapsed = time.monotonic() - start
        assert result.exit_code == ExitCode.CONNECTION, (mode, args, result.output)
        assert f"localhost,{port}" in result.stderr or f"127.0.0.1:{port}" in result.stderr, (mode, args, result.output)
        assert elapsed < TIMEOUT_S + 1, (mode, args, elapsed)

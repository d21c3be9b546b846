"""Property (issue 15, point 2): no 4-character piece of a secret appears in any output of any command run
with ``--debug -o json`` - the secret given in a connection string (flag and environment) and as the
environment credential's client secret, with ';', '}', '=', spaces and non-ASCII in it.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.connstr import braced
from azsqlctl.sandbox.serve import Sandbox
from tests.property_budget import examples

runner = CliRunner()

# Every 4-character window holds one of these letters, which no output uses: no false alarms.
RARE = "λжΩ漢ßŁ"
PART = st.sampled_from([";", "}", "}}", "=", " ", "{", ",", "'", '"', "\\", "é", "🙂", "pwd", "a"])
SECRETS = st.lists(st.tuples(st.sampled_from(RARE), PART), min_size=3, max_size=10).map(lambda p: "".join(a + b for a, b in p))
KEYS = st.sampled_from(["PWD", "Password", "pwd", "Access Token", "Secret"])
COMMANDS = [["doctor"], ["whoami"], ["grant", "orders-api", "--role", "reader", "--dry-run"], ["logs", "--since", "1h"]]


def leaks(secret: str, text: str) -> list[str]:
    pieces = {secret[i : i + 4] for i in range(len(secret) - 3)}
    return sorted(p for p in pieces if p in text or json.dumps(p)[1:-1] in text)


@settings(max_examples=examples(6), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(secret=SECRETS, key=KEYS)
def test_no_piece_of_a_secret_in_any_output_with_debug(
    secret: str, key: str, sandbox: Sandbox, client_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = f"Server=tcp:localhost,{sandbox.tds_port};Database=appdb;{key}={braced(secret)};Encrypt=yes"
    env = {"AZSQLCTL_CONNECTION_STRING": conn, "AZURE_CLIENT_SECRET": secret, "COLUMNS": "200"}
    for args in [*COMMANDS, ["doctor", "--connection-string", conn]]:
        result = runner.invoke(app, [*args, "--debug", "-o", "json"], env=env)
        output = result.stdout + result.stderr
        assert "<redacted>" in output or args[0] != "doctor", output  # the debug log shows the string, redacted
        assert not leaks(secret, output), (args, leaks(secret, output), output)

"""core/transport.py: every endpoint x cause gives one connection error with its exact message, hint and code."""

from __future__ import annotations

import pytest

from azsqlctl.core.errors import ConnectionFailed, ExitCode
from azsqlctl.core.transport import Cause, Endpoint, transport_failure

MESSAGES = {
    Cause.DNS: ("does not resolve (DNS)", "check the host name in {s}, and this machine's DNS"),
    Cause.REFUSED: ("refused the connection (TCP)", "nothing listens there: check the URL and port in {s}"),
    Cause.TIMEOUT: ("did not answer within the timeout", "check the network path and {s}; a slow endpoint needs a longer --timeout"),
    Cause.TLS: ("failed the TLS handshake", "check the certificate chain (--ca-bundle, SSL_CERT_FILE) and the URL in {s}"),
    Cause.RESET: ("closed the connection", "retry; if it persists check proxies and the URL in {s}"),
    Cause.UNREACHABLE: ("is unreachable (no route)", "check the network path (VPN, proxy, firewall) and {s}"),
}
ENDPOINTS = {
    Endpoint.TOKEN: (
        "the token endpoint",
        "IDENTITY_ENDPOINT / MSI_ENDPOINT (managed identity), AZURE_AUTHORITY_HOST or the cloud's authority",
    ),
    Endpoint.ARM: ("ARM", "AZSQLCTL_ARM_ENDPOINT or the cloud's resource manager"),
    Endpoint.LOGS: ("Log Analytics", "AZSQLCTL_LOGS_ENDPOINT or the cloud's Log Analytics endpoint"),
}


def test_the_values_other_layers_and_json_output_carry() -> None:
    assert [e.value for e in Endpoint] == ["token", "arm", "logs"]
    assert [c.value for c in Cause] == ["dns", "refused", "timeout", "tls", "reset", "unreachable"]


@pytest.mark.parametrize("endpoint", list(Endpoint))
@pytest.mark.parametrize("cause", list(Cause))
def test_each_endpoint_and_cause(endpoint: Endpoint, cause: Cause) -> None:
    title, setting = ENDPOINTS[endpoint]
    what, hint = MESSAGES[cause]
    error = transport_failure(endpoint, "https://h.example/x", cause)
    assert isinstance(error, ConnectionFailed) and error.exit_code == ExitCode.CONNECTION
    assert error.message == f"{title} at https://h.example/x {what}"
    assert error.hint == hint.format(s=setting)
    assert error.code == f"{endpoint.value}_{cause.value}"
    assert error.details == {"endpoint": endpoint.value, "url": "https://h.example/x", "cause": cause.value}


def test_timeout_seconds_detail_and_a_missing_url() -> None:
    error = transport_failure(Endpoint.ARM, "", Cause.TIMEOUT, "read timed out", timeout=2.5)
    assert error.message == "ARM did not answer within 2.5 s: read timed out"
    assert transport_failure(Endpoint.ARM, "u", Cause.TIMEOUT, timeout=30.0).message == "ARM at u did not answer within 30 s"

"""Transport failures of the HTTP endpoints azsqlctl talks to: one table from cause to error, message and exit code.

An endpoint that does not resolve, refuses, stalls, fails TLS or drops the connection is not a bug (exit 70)
and not a refusal by ARM (exit 1): it is a connection failure (exit 4) that names the endpoint and its URL,
so the reader knows which variable or network path to check. azure/transport.py classifies the SDKs'
exceptions into a ``Cause``; new endpoints or causes are rows here, not branches at call sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import AzsqlctlError, ConnectionFailed


class Endpoint(StrEnum):
    TOKEN = "token"  # noqa: S105 - the managed-identity endpoint, IMDS, or the Entra authority
    ARM = "arm"
    LOGS = "logs"  # Log Analytics query API


class Cause(StrEnum):
    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    TLS = "tls"
    RESET = "reset"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class EndpointInfo:
    title: str  # how a message names it
    setting: str  # what points azsqlctl at it


@dataclass(frozen=True)
class CauseRule:
    error: type[AzsqlctlError]
    what: str  # "{title} at {url} {what}"
    hint: str


ENDPOINTS: dict[Endpoint, EndpointInfo] = {
    Endpoint.TOKEN: EndpointInfo(
        "the token endpoint", "IDENTITY_ENDPOINT / MSI_ENDPOINT (managed identity), AZURE_AUTHORITY_HOST or the cloud's authority"
    ),
    Endpoint.ARM: EndpointInfo("ARM", "AZSQLCTL_ARM_ENDPOINT or the cloud's resource manager"),
    Endpoint.LOGS: EndpointInfo("Log Analytics", "AZSQLCTL_LOGS_ENDPOINT or the cloud's Log Analytics endpoint"),
}

CAUSES: dict[Cause, CauseRule] = {
    Cause.DNS: CauseRule(ConnectionFailed, "does not resolve (DNS)", "check the host name in {setting}, and this machine's DNS"),
    Cause.REFUSED: CauseRule(
        ConnectionFailed, "refused the connection (TCP)", "nothing listens there: check the URL and port in {setting}"
    ),
    Cause.TIMEOUT: CauseRule(
        ConnectionFailed,
        "did not answer within {timeout}",
        "check the network path and {setting}; a slow endpoint needs a longer --timeout",
    ),
    Cause.TLS: CauseRule(
        ConnectionFailed, "failed the TLS handshake", "check the certificate chain (--ca-bundle, SSL_CERT_FILE) and the URL in {setting}"
    ),
    Cause.RESET: CauseRule(ConnectionFailed, "closed the connection", "retry; if it persists check proxies and the URL in {setting}"),
    Cause.UNREACHABLE: CauseRule(
        ConnectionFailed, "is unreachable (no route)", "check the network path (VPN, proxy, firewall) and {setting}"
    ),
}


def transport_failure(endpoint: Endpoint, url: str, cause: Cause, detail: str = "", timeout: float | None = None) -> AzsqlctlError:
    """The one error for an endpoint that could not be talked to."""
    info, rule = ENDPOINTS[endpoint], CAUSES[cause]
    what = rule.what.format(timeout=f"{timeout:g} s" if timeout else "the timeout")
    where = f" at {url}" if url else ""
    message = f"{info.title}{where} {what}" + (f": {detail}" if detail else "")
    return rule.error(
        message,
        rule.hint.format(setting=info.setting),
        code=f"{endpoint.value}_{cause.value}",
        details={"endpoint": endpoint.value, "url": url, "cause": cause.value},
    )

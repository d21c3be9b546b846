"""Login and connection failures: error number / SQLSTATE -> kind, cause and fix.

Data, not code paths: doctor and logs read the same table. Fix texts may hold
``{ip}``, ``{server}``, ``{database}`` placeholders that callers fill in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import AuthenticationError, AzsqlctlError, ConnectionFailed, NotFound, PermissionDenied


@dataclass(frozen=True)
class Diagnosis:
    key: str  # error number or SQLSTATE
    kind: type[AzsqlctlError]
    cause: str
    fix: str
    docs: str = ""


_DOCS = "https://learn.microsoft.com/azure/azure-sql/database/troubleshoot-common-errors-issues"

TABLE: dict[str, Diagnosis] = {
    d.key: d
    for d in (
        Diagnosis("18456", AuthenticationError,
                  "the token was refused, or no database user matches this identity",
                  "create the user with the right SID in the target database (azsqlctl grant), and connect to that database, not master",
                  _DOCS),
        Diagnosis("FA005", AuthenticationError,
                  "an access token was combined with UID/PWD/Authentication/Trusted_Connection",
                  "remove those keywords from the connection string; the token alone authenticates"),
        Diagnosis("40615", ConnectionFailed, "the server firewall does not allow this client address",
                  "az sql server firewall-rule create --server {server} --name allow-{ip_dashed} "
                  "--start-ip-address {ip} --end-ip-address {ip} (with --resource-group)",
                  "https://learn.microsoft.com/azure/azure-sql/database/firewall-configure"),
        Diagnosis("47073", ConnectionFailed, "public network access is disabled on the server",
                  "connect through the server's private endpoint, or enable public network access",
                  "https://learn.microsoft.com/azure/azure-sql/database/connectivity-settings"),
        Diagnosis("40532", ConnectionFailed, "the server refused the login before authentication",
                  "check the server name, and VNet rules when a service endpoint is in use"),
        Diagnosis("4060", NotFound, "the database does not exist or this login cannot open it",
                  "check --database; contained users exist only in their own database"),
        Diagnosis("40613", ConnectionFailed, "the database is temporarily unavailable (transient)",
                  "retry with exponential backoff, 5 s up to 60 s", _DOCS),
        Diagnosis("40197", ConnectionFailed, "the service hit an error processing the request (transient)",
                  "retry with exponential backoff, 5 s up to 60 s", _DOCS),
        Diagnosis("40501", ConnectionFailed, "the service is busy (transient)",
                  "retry after 10 s or more", _DOCS),
        Diagnosis("33134", PermissionDenied, "the server's identity cannot read the directory",
                  "create the user WITH SID (azsqlctl grant --sid-mode), or grant the server identity Directory Readers"),
        Diagnosis("HYT00", ConnectionFailed, "the login timed out", "check the network path and raise --timeout"),
        Diagnosis("08001", ConnectionFailed, "the driver could not establish a session (DNS, TCP or TLS)",
                  "check the server name and port, the network path, and the TLS trust (--ca-bundle for private CAs)"),
        Diagnosis("08S01", ConnectionFailed, "the connection broke during the exchange",
                  "retry; if it persists, check proxies/firewalls that inspect TLS"),
    )
}  # fmt: skip

_IP = re.compile(r"IP address '([^']+)'")


def lookup(sqlstate: str, number: int | None) -> Diagnosis | None:
    if number is not None and str(number) in TABLE:
        return TABLE[str(number)]
    return TABLE.get(sqlstate.upper())


def classify(sqlstate: str, number: int | None, message: str) -> tuple[type[AzsqlctlError], str]:
    diag = lookup(sqlstate, number)
    if diag is None:
        return AzsqlctlError, "rerun with --debug for the driver's full messages"
    found = _IP.search(message)
    ip = found[1] if found else "<client-ip>"
    fix = diag.fix.replace("{ip_dashed}", ip.replace(".", "-").replace(":", "-")).replace("{ip}", ip).replace("{server}", "<server>")
    return diag.kind, f"{diag.cause}: {fix}"

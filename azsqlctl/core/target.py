"""What to connect to: the server string forms users paste, parsed once.

Accepted: ``myserver``, ``myserver.database.windows.net``, ``tcp:host,port``,
``host,port`` (the forms SQL Server tools accept). ``host:port`` is refused
with a hint, because ODBC reads the colon form as a protocol prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .config import env_name
from .errors import UsageError
from .netaddr import is_ip

DEFAULT_PORT = 1433
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    logical_name: str  # the Azure SQL server name (first DNS label), or "" for IPs

    @property
    def odbc_server(self) -> str:
        return f"tcp:{self.host},{self.port}"

    @property
    def display(self) -> str:
        return self.host if self.port == DEFAULT_PORT else f"{self.host},{self.port}"


def parse_server(text: str, dns_suffix: str) -> ServerAddress:
    raw = text.strip()
    if not raw:
        raise UsageError("no server given", f"pass --server myserver (or set {env_name('server')})", code="no_server")
    body = raw[4:] if raw.lower().startswith("tcp:") else raw
    host, sep, port_text = body.partition(",")
    host = host.strip()
    bad = UsageError(
        f"malformed server '{raw}'",
        "use myserver, myserver.database.windows.net, host,port or tcp:host,port",
        code="bad_server",
    )
    if ":" in host and not is_ip(host):
        name, _, maybe_port = host.rpartition(":")
        hint = f"use a comma before the port: {name},{maybe_port}" if maybe_port.isdigit() else bad.hint
        raise UsageError(f"malformed server '{raw}'", hint, code="bad_server")
    port = DEFAULT_PORT
    if sep:
        digits = port_text.strip()
        # isdigit() alone accepts '²' and other non-ASCII digits that int() refuses.
        if not (digits.isascii() and digits.isdigit()) or not 0 < int(digits) < 65536:
            raise bad
        port = int(digits)
    if is_ip(host):
        return ServerAddress(host.strip("[]"), port, "")
    if not _HOST.match(host):
        raise bad
    host = host.rstrip(".").lower()
    if "." not in host and host != "localhost":
        return ServerAddress(f"{host}.{dns_suffix}", port, host)
    if host == "localhost":
        return ServerAddress(host, port, "")
    return ServerAddress(host, port, host.split(".", 1)[0])

"""What core logic needs from the outside world, as small protocols.

``azsqlctl.azure`` implements them with the real SDKs and driver; end-to-end
tests reach the sandbox through those real implementations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from . import jwt

# One result row: column name -> the driver's value (str, int, bytes, datetime, None ...); readers narrow it.
Row = dict[str, object]


def row_int(value: object) -> int:
    """An integer column (principal ids, schema ids) of a Row."""
    if isinstance(value, int | str | float):
        return int(value)
    raise TypeError(f"expected an integer column, got {type(value).__name__}")


def row_bytes(value: object) -> bytes | None:
    """A binary column (a principal's SID) of a Row; None for NULL or anything not binary."""
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None


@dataclass(frozen=True)
class AccessToken:
    token: str = field(repr=False)  # never printed: repr hides it
    expires_on: int
    credential: str  # which credential (or chain link) produced it
    elapsed_ms: float
    attempts: tuple[tuple[str, str], ...] = ()  # earlier chain links and why they failed

    @property
    def claims(self) -> dict[str, object]:
        return jwt.claims(self.token)

    def odbc_struct(self) -> bytes:
        """SQL_COPT_SS_ACCESS_TOKEN (1256): UInt32 LE byte length, then the UTF-16-LE token."""
        data = self.token.encode("utf-16-le")
        return len(data).to_bytes(4, "little") + data


class TokenSource(Protocol):
    def token(self, scope: str) -> AccessToken: ...


class QuerySession(Protocol):
    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...
    def close(self) -> None: ...


class Connector(Protocol):
    def connect(self, database: str, token: AccessToken) -> QuerySession: ...


# --- facts the boundary gathers for doctor; core judges them --------------------------------


@dataclass(frozen=True)
class DnsFacts:
    host: str
    addresses: list[str]
    cnames: list[str]  # the CNAME chain, in order
    elapsed_ms: float
    resolver: str  # "system", "dns 127.0.0.1:5353" or "literal"


@dataclass(frozen=True)
class PreloginFacts:
    version: str  # e.g. 12.0.2000
    encryption: int  # the server's ENCRYPTION option byte
    fedauth_required: bool


@dataclass(frozen=True)
class CertificateFacts:
    subject: str
    names: list[str]  # SAN DNS names and IP addresses
    issuer: str
    days_left: int
    tls_version: str
    verify_error: str  # "" when the chain verified against the trusted CAs
    hostname_matches: bool


@dataclass(frozen=True)
class FirewallRuleFacts:
    name: str
    start_ip: str
    end_ip: str


@dataclass(frozen=True)
class ServerFacts:
    """What ARM says about the logical server (None fields: not readable)."""

    name: str
    fqdn: str
    public_network_access: str
    minimal_tls_version: str
    admin_login: str
    admin_sid: str
    admin_type: str
    admin_tenant: str
    entra_only: bool | None
    identity_type: str  # "" when the server has no managed identity
    firewall_rules: list[FirewallRuleFacts]
    database_exists: bool | None


@dataclass(frozen=True)
class DriverInfo:
    spec: str  # registered name or library path
    source: str  # --driver, pyodbc.drivers(), mssql-python-odbc
    version: str  # "18.6", "17" ... as far as the name or file tells


class DdlSession(QuerySession, Protocol):
    """A session that can change things, inside one transaction until commit."""

    def execute(self, sql: str) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def applock(self, resource: str, timeout_ms: int) -> int:
        """sp_getapplock: an exclusive lock on ``resource`` owned by the open transaction; its return code."""
        ...

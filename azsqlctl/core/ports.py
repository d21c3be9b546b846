"""What core logic needs from the outside world, as small protocols.

``azsqlctl.azure`` implements them with the real SDKs and driver; end-to-end
tests reach the sandbox through those real implementations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import jwt


@dataclass(frozen=True)
class AccessToken:
    token: str = field(repr=False)  # never printed: repr hides it
    expires_on: int
    credential: str  # which credential (or chain link) produced it
    elapsed_ms: float

    @property
    def claims(self) -> dict[str, Any]:
        return jwt.claims(self.token)

    def odbc_struct(self) -> bytes:
        """SQL_COPT_SS_ACCESS_TOKEN (1256): UInt32 LE byte length, then the UTF-16-LE token."""
        data = self.token.encode("utf-16-le")
        return len(data).to_bytes(4, "little") + data


class TokenSource(Protocol):
    def token(self, scope: str) -> AccessToken: ...


class QuerySession(Protocol):
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


class Connector(Protocol):
    def connect(self, database: str, token: AccessToken) -> QuerySession: ...

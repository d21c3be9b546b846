"""Who a token says you are, and which database principal Azure SQL will match.

Azure SQL matches a token to a contained user by SID: the client (application)
id for apps and managed identities, the object id for users; groups match by
their object id through the ``groups`` claim.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any


def sid_bytes(guid: str) -> bytes:
    """= CAST(CAST('<guid>' AS UNIQUEIDENTIFIER) AS VARBINARY(16)): the GUID's little-endian form."""
    return uuid.UUID(guid).bytes_le


def sid_hex(guid: str) -> str:
    return "0x" + sid_bytes(guid).hex().upper()


@dataclass(frozen=True)
class TokenIdentity:
    tenant_id: str
    object_id: str
    client_id: str  # appid / azp
    kind: str  # "app" (service principal or managed identity) or "user"
    name: str  # upn for users, else "" (tokens for apps carry no display name)
    audience: str
    expires_on: int
    groups: tuple[str, ...] = ()

    @property
    def sid(self) -> str:
        return self.client_id if self.kind == "app" else self.object_id

    @property
    def sid_hex(self) -> str:
        return sid_hex(self.sid)

    def seconds_left(self, now: float | None = None) -> int:
        return int(self.expires_on - (time.time() if now is None else now))

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id, "object_id": self.object_id, "client_id": self.client_id,
            "type": self.kind, "name": self.name, "sid": self.sid, "sid_hex": self.sid_hex,
            "audience": self.audience, "expires_on": self.expires_on, "groups": list(self.groups),
        }  # fmt: skip


def identity_from_claims(claims: dict[str, Any]) -> TokenIdentity:
    kind = str(claims.get("idtyp") or ("user" if claims.get("upn") or claims.get("scp") else "app"))
    return TokenIdentity(
        tenant_id=str(claims.get("tid", "")),
        object_id=str(claims.get("oid", "")),
        client_id=str(claims.get("appid") or claims.get("azp") or ""),
        kind="user" if kind == "user" else "app",
        name=str(claims.get("upn") or claims.get("unique_name") or claims.get("preferred_username") or ""),
        audience=str(claims.get("aud", "")),
        expires_on=int(claims.get("exp", 0)),
        groups=tuple(str(g) for g in claims.get("groups", []) if isinstance(g, str)),
    )

"""Who an identity is, and which database principal Azure SQL will match.

The one home of the rule: Azure SQL matches a token to a contained user by SID -
the client (application) id for apps and managed identities, the object
(principal) id for users; groups match by their object id through the
``groups`` claim. ``sid_of`` says it once; everything else asks it.
"""

from __future__ import annotations

import functools
import re
import time
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .jwt import number_claim
from .roles import FIXED_ROLE_IDS

MAX_NAME = 128
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Principals every database has; granting to them is never what a user means.
BUILTIN_PRINCIPALS = ("dbo", "guest", "sys", "INFORMATION_SCHEMA", "public")
_BUILTIN_LOWER = frozenset(b.lower() for b in BUILTIN_PRINCIPALS)


class Kind(StrEnum):
    APP = "app"  # service principal or managed identity: SID = client id
    USER = "user"  # SID = object id
    GROUP = "group"  # SID = object id


KIND_HELP = (
    "pass --type app with --client-id (a managed identity or service principal: its client id is its SID; "
    "add --object-id for CREATE USER ... WITH OBJECT_ID), --type user or --type group with --object-id, "
    "or --identity-resource ARM_ID"
)


def sid_of(kind: str, client_id: str, object_id: str) -> str:
    """The GUID Azure SQL stores as the user's SID: client id for apps, object id for users and groups."""
    return client_id if kind == Kind.APP else object_id


def canonical_guid(text: str) -> str | None:
    """The one GUID parser: 8-4-4-4-12 hex digits (surrounding blanks ignored) in lower case, else None.

    Stricter than ``uuid.UUID`` on purpose: Entra, ARM and Log Analytics print GUIDs only in this
    form, so braces, ``urn:uuid:`` or 32 bare digits are more likely a pasted wrong value.
    """
    candidate = text.strip()
    return candidate.lower() if _GUID.fullmatch(candidate) else None


@functools.lru_cache(maxsize=1024)  # one plan asks for the same identity's SID a few times in a row
def sid_bytes(guid: str) -> bytes:
    """= CAST(CAST('<guid>' AS UNIQUEIDENTIFIER) AS VARBINARY(16)): the GUID's little-endian form."""
    if len(guid) == 36 and _GUID.fullmatch(guid):  # the usual 8-4-4-4-12 form: byte-swap the hex directly (3x uuid.UUID)
        g = guid
        return bytes.fromhex(g[6:8] + g[4:6] + g[2:4] + g[0:2] + g[11:13] + g[9:11] + g[16:18] + g[14:16] + g[19:23] + g[24:])
    return uuid.UUID(guid).bytes_le


def sid_hex(guid: str) -> str:
    return hex_sid(sid_bytes(guid))


def hex_sid(sid: bytes) -> str:
    """SID bytes as SQL Server shows them (0x + upper-case hex), whatever their length."""
    return "0x" + bytes(sid).hex().upper()


def sid_label(kind: str) -> str:
    """Which id is the SID, in words: "client id" for apps, "object id" for users and groups."""
    return "client id" if kind == Kind.APP else "object id"


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
        return sid_of(self.kind, self.client_id, self.object_id)

    @property
    def sid_hex(self) -> str:
        return sid_hex(self.sid)

    def spec(self, name: str, sid_mode: bool = False) -> IdentitySpec:
        """This identity named by its SID alone, as ``grant NAME --client-id|--object-id SID`` names it."""
        app = self.kind == Kind.APP
        return IdentitySpec(name, self.kind, self.client_id if app else "", "" if app else self.object_id, sid_mode)

    def seconds_left(self, now: float | None = None) -> int:
        return int(self.expires_on - (time.time() if now is None else now))

    def as_dict(self) -> dict[str, object]:
        return {
            "tenant_id": self.tenant_id, "object_id": self.object_id, "client_id": self.client_id,
            "type": self.kind, "name": self.name, "sid": self.sid, "sid_hex": self.sid_hex,
            "audience": self.audience, "expires_on": self.expires_on, "groups": list(self.groups),
        }  # fmt: skip


def identity_from_claims(claims: Mapping[str, object]) -> TokenIdentity:
    kind = str(claims.get("idtyp") or ("user" if claims.get("upn") or claims.get("scp") else "app"))
    groups = claims.get("groups")
    return TokenIdentity(
        tenant_id=str(claims.get("tid", "")),
        object_id=str(claims.get("oid", "")),
        client_id=str(claims.get("appid") or claims.get("azp") or ""),
        kind="user" if kind == "user" else "app",
        name=str(claims.get("upn") or claims.get("unique_name") or claims.get("preferred_username") or ""),
        audience=str(claims.get("aud", "")),
        expires_on=int(number_claim(claims, "exp")),
        groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
    )


def sid_guid(sid: bytes | None) -> str:
    """A database user's SID bytes back to the GUID text (empty when it is not a 16-byte SID)."""
    if sid is None or len(bytes(sid)) != 16:
        return ""
    return str(uuid.UUID(bytes_le=bytes(sid)))


@dataclass(frozen=True)
class IdentitySpec:
    """An Entra identity as grant names it: the database user's name, its kind and its ids.

    ``client_id`` may be empty for an app named by object id only (a system-assigned identity
    resolved through ARM): the server resolves it with ``WITH OBJECT_ID`` and stores the client id.
    """

    name: str
    kind: str  # a Kind value; validate_identity refuses anything else
    client_id: str = ""
    object_id: str = ""
    sid_mode: bool = False
    source: str = ""  # where the ids came from (an ARM resource id), for messages

    @property
    def sid(self) -> str:
        """The SID GUID, or "" when it cannot be known from what was given (app by object id only)."""
        return sid_of(self.kind, self.client_id, self.object_id)

    @property
    def sid_hex(self) -> str:
        return sid_hex(self.sid) if self.sid else "unknown"

    @property
    def sid_label(self) -> str:
        return sid_label(self.kind)

    @property
    def other_id(self) -> str:
        """The id that is *not* the SID (an app's object id), when known."""
        return self.object_id if self.kind == Kind.APP else ""

    @property
    def user_type(self) -> str:
        return "X" if self.kind == Kind.GROUP else "E"

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "type": self.kind, "client_id": self.client_id, "object_id": self.object_id,
            "sid": self.sid, "sid_hex": self.sid_hex, "source": self.source,
        }  # fmt: skip


_KINDS = frozenset(k.value for k in Kind)


def name_problems(name: str, roles: tuple[str, ...] | list[str] = ()) -> list[str]:
    """Why ``name`` cannot be a database user for an identity: built-in principals, roles, bad text."""
    out: list[str] = []
    if not name.strip():
        out.append("the name is empty or only spaces: name the identity as Azure shows it")
    # Printable ASCII (the usual name) has no control characters: skip the per-character lookup (policies of 60,000 names).
    if not (name.isascii() and name.isprintable()) and any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name):
        out.append("the name contains control characters")
    if len(name) > MAX_NAME:
        out.append(f"the name is {len(name)} characters; a database user name has at most {MAX_NAME}")
    lowered = name.lower()
    if lowered in _BUILTIN_LOWER:
        out.append(f"'{name}' is a principal every database has, not an identity")
    elif lowered in FIXED_ROLE_IDS or lowered in (r.lower() for r in roles):
        out.append(f"'{name}' is a database role, not an identity: name the identity that should be its member")
    return out


def validate_identity(spec: IdentitySpec, roles: tuple[str, ...] | list[str] = ()) -> list[str]:
    """Why this identity could not be matched to a database user, if it could not."""
    out = name_problems(spec.name, roles)
    if not spec.kind:
        said = (
            "the identity's type is not given and an object id does not say it"
            if spec.object_id
            else "the identity's type is not given, and there is no id to tell it by"
        )
        out.append(
            f"{said}: never guessed (app: a managed identity or service principal, matched by client id; user or group: by object id)"
        )
        return out
    if spec.kind not in _KINDS:
        out.append(f"type must be app, user or group, not '{spec.kind}'")
        return out
    for label, value in (("client id", spec.client_id), ("object id", spec.object_id)):
        if value and canonical_guid(value) is None:
            out.append(f"{label} '{value}' is not a GUID")
    if spec.kind == Kind.APP and spec.sid_mode and not spec.client_id:
        out.append(
            "an app or managed identity matches by its client id: --sid-mode with only an object id creates a user that can never log in"
        )
    elif spec.kind == Kind.APP and not spec.client_id and not spec.object_id:
        out.append(
            "an app or managed identity is matched by its client id: pass it (--client-id; client_id in a policy), "
            "or its object id for WITH OBJECT_ID"
        )
    if spec.kind in (Kind.USER, Kind.GROUP) and not spec.object_id:
        out.append(f"a {spec.kind} is matched by its object id: pass it (--object-id; object_id in a policy)")
    if spec.kind in (Kind.USER, Kind.GROUP) and spec.client_id:
        out.append(f"a {spec.kind} has no client id; pass --object-id (a client id means an app or managed identity: --type app)")
    return out


def identity_from_resource(arm_id: str, body: Mapping[str, object]) -> IdentitySpec:
    """An identity from an ARM resource: a user-assigned identity, or a resource's system-assigned one.

    ``Microsoft.ManagedIdentity/userAssignedIdentities``: name, properties.clientId, properties.principalId.
    Anything else (Microsoft.Web/sites, Microsoft.App/containerApps, Microsoft.Compute/virtualMachines ...):
    its name and identity.principalId - the service principal Azure creates carries the resource's name.
    Raises ValueError with the reason when the resource has no identity grant can use.
    """
    rtype = str(body.get("type", ""))
    name = str(body.get("name", "")) or arm_id.rstrip("/").rsplit("/", 1)[-1]
    if rtype.lower() == "microsoft.managedidentity/userassignedidentities":
        props = _table(body.get("properties"))
        client_id, principal_id = str(props.get("clientId", "")), str(props.get("principalId", ""))
        if not client_id:
            raise ValueError(f"{arm_id} has no properties.clientId")
        return IdentitySpec(name, Kind.APP, client_id, principal_id, source=arm_id)
    identity = _table(body.get("identity"))
    kinds = str(identity.get("type", "None"))
    principal_id = str(identity.get("principalId") or "")
    if "systemassigned" in kinds.lower().replace(" ", "").replace(",", "") and principal_id:
        return IdentitySpec(name, Kind.APP, "", principal_id, source=arm_id)
    assigned = sorted(_table(identity.get("userAssignedIdentities")))
    if assigned:
        raise ValueError(
            f"{rtype or 'the resource'} {name} has no system-assigned identity; it uses user-assigned ones: pass "
            f"--identity-resource with one of {', '.join(assigned)}"
        )
    raise ValueError(f"{rtype or 'the resource'} {name} has no managed identity (identity.type is {kinds})")


def _table(value: object) -> Mapping[str, object]:
    """A JSON object from an ARM body, or an empty one when the field is missing or not an object."""
    return value if isinstance(value, Mapping) else {}

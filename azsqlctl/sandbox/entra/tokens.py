"""Entra-style access tokens: RS256 JWTs signed by the sandbox's own key.

Claims follow what Entra puts in v1 access tokens for managed identities and
apps (``aud``, ``iss``, ``tid``, ``oid``, ``appid``, ``idtyp`` …), so the
client's claim checks meet the same fields they meet on Azure.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from azsqlctl.atomic_file import create_secret
from azsqlctl.core import jwt

from ..state import Identity

CLOCK_SKEW = 300  # seconds Azure SQL tolerates between nbf/exp and its clock


class TokenRejected(Exception):
    """Why a token cannot log in; ``reason`` is one of the keys of LOGIN_REJECTIONS."""

    def __init__(self, reason: str, claims: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.claims = claims or {}


@functools.lru_cache(maxsize=16)
def _parse_key(pem: bytes) -> rsa.RSAPrivateKey:
    # The key is the sandbox's own (generated here, written 0600 by create_secret), so OpenSSL's RSA consistency
    # check is skipped: it costs ~35 ms of CPU per 2048-bit key (four keys per sandbox start, every `sandbox run`)
    # and guards against crafted keys from elsewhere, which these are not. A process that starts many sandboxes
    # over the same material (the test suite) still parses each key once: keyed by the file's bytes, so a replaced
    # key file is parsed afresh; key objects are immutable.
    loaded = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


@dataclass
class Issuer:
    key: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def load_or_create(cls, path: Path | None) -> Issuer:
        key = None if path is None or not path.exists() else cls._load(path)
        if key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            # 0600 from creation (O_EXCL, never chmod-ed later); if another sandbox created it meanwhile, theirs is the key.
            if path is not None and not create_secret(path, pem):
                key = cls._load(path)
        numbers = key.public_key().public_numbers()
        kid = jwt.b64url_encode(numbers.n.to_bytes(256, "big")[:12])
        return cls(key, kid)

    @staticmethod
    def _load(path: Path) -> rsa.RSAPrivateKey:
        return _parse_key(path.read_bytes())

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid, "x5t": self.kid}
        signing_input = (
            jwt.b64url_encode(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + jwt.b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + jwt.b64url_encode(signature)

    def issue(self, identity: Identity, resource: str, tenant_id: str, lifetime: int, **overrides: Any) -> str:
        now = int(time.time())
        issuer = f"https://sts.windows.net/{tenant_id}/"
        claims: dict[str, Any] = {
            "aud": resource,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "idp": issuer,
            "oid": identity.object_id,
            "sub": identity.object_id,
            "tid": tenant_id,
            "uti": uuid.uuid4().hex[:22],
            "ver": "1.0",
        }
        if identity.kind == "user":
            claims.update(idtyp="user", upn=identity.upn or identity.name, name=identity.name)
            claims["appid"] = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"  # Azure CLI's public client id
        else:
            claims.update(idtyp="app", appid=identity.client_id, appidacr="2")
            if identity.kind == "managed_identity":
                claims["xms_mirid"] = f"/providers/Microsoft.ManagedIdentity/identities/{identity.name}"
        if identity.groups:
            claims["groups"] = list(identity.groups)
        claims.update(overrides)
        return self.sign({k: v for k, v in claims.items() if v is not None})

    def verify(self, token: str, audiences: tuple[str, ...], tenant_id: str, now: float | None = None) -> dict[str, Any]:
        """Validate like Azure SQL: signature, audience, lifetime, tenant, issuer - in that order."""
        try:
            header, claims, signing_input, signature = jwt.split(token)
        except jwt.MalformedToken as exc:
            raise TokenRejected("malformed") from exc
        if header.get("alg") != "RS256":
            raise TokenRejected("bad_signature", claims)
        try:
            self.key.public_key().verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise TokenRejected("bad_signature", claims) from exc
        wanted = {a.rstrip("/") for a in audiences}
        if str(claims.get("aud", "")).rstrip("/") not in wanted:
            raise TokenRejected("wrong_audience", claims)
        now = time.time() if now is None else now
        if jwt.number_claim(claims, "exp") + CLOCK_SKEW < now:
            raise TokenRejected("expired", claims)
        if jwt.number_claim(claims, "nbf") - CLOCK_SKEW > now:
            raise TokenRejected("not_yet_valid", claims)
        if str(claims.get("tid", "")).lower() != tenant_id.lower():
            raise TokenRejected("wrong_tenant", claims)
        if str(claims.get("iss", "")).lower() not in tenant_issuers(tenant_id):
            # A token naming another tenant (or no tenant) as its issuer is refused as Azure refuses it; the
            # login failure state Azure reports for this case is not documented: the tenant mismatch's is used.
            raise TokenRejected("wrong_tenant", claims)
        return claims


def tenant_issuers(tenant_id: str) -> frozenset[str]:
    """The ``iss`` values of a tenant's access tokens: v1 and v2 form (entra-docs access-token-claims-reference)."""
    tid = tenant_id.lower()
    return frozenset({f"https://sts.windows.net/{tid}/", f"https://login.microsoftonline.com/{tid}/v2.0"})

"""Checking a client assertion: a certificate-signed JWT (the app's own) or a federated token.

Certificate assertions (entra-docs ``certificate-credentials.md``; what MSAL Python sends): header
``alg`` RS256 with ``x5t`` (SHA-1 thumbprint, base64url - MSAL keeps the ``=`` padding) or PS256 with
``x5t#S256``; claims ``aud`` = the token endpoint, ``iss`` = ``sub`` = client id, ``exp`` (a float
from MSAL), ``nbf`` optional. Federated tokens: RS256 only (the only algorithm Entra documents as
supported), signed by the issuer's key.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from azsqlctl.core import jwt

from .apps_state import AppCertificate, AppRegistration
from .errors import EntraRefusal, entra_time

SKEW = 300  # seconds of clock skew Entra tolerates (not documented for assertions; the usual five minutes)
RS256, PS256 = "RS256", "PS256"


@dataclass(frozen=True)
class Parsed:
    header: dict[str, object]
    claims: dict[str, object]
    signing_input: bytes
    signature: bytes


def parse(assertion: str) -> Parsed:
    try:
        header, claims, signing_input, signature = jwt.split(assertion)
    except jwt.MalformedToken:
        raise EntraRefusal(50027) from None
    return Parsed(header, claims, signing_input, signature)


def _thumb(value: object) -> bytes:
    text = str(value or "").rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return b""


def verify_signature(key: rsa.RSAPublicKey, parsed: Parsed, allowed: tuple[str, ...]) -> bool:
    alg = str(parsed.header.get("alg", ""))
    if alg not in allowed:  # "none", HS256 (a shared-secret forgery with the public key), EC ...
        return False
    pad: padding.AsymmetricPadding = (
        padding.PKCS1v15() if alg == RS256 else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    )
    try:
        key.verify(parsed.signature, parsed.signing_input, pad, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def check_lifetime(claims: dict[str, object], now: float | None = None) -> None:
    now = time.time() if now is None else now
    exp, nbf = jwt.number_claim(claims, "exp"), jwt.number_claim(claims, "nbf")
    if exp + SKEW < now or nbf - SKEW > now:
        # "valid from 1970-01-01..." is what Entra prints for an assertion without nbf (MSAL Python's).
        raise EntraRefusal(700024, now=entra_time(now), nbf=entra_time(nbf), exp=entra_time(exp))


def certificate_for(app: AppRegistration, parsed: Parsed) -> tuple[AppCertificate | None, str]:
    """The registered certificate the header names, and the thumbprint to print (SHA-1 hex, upper case)."""
    if "x5t#S256" in parsed.header:
        wanted = _thumb(parsed.header["x5t#S256"]).hex().upper()
        return next((c for c in app.certificates if c.sha256_hex == wanted), None), wanted
    wanted = _thumb(parsed.header.get("x5t")).hex().upper()
    return next((c for c in app.certificates if c.sha1_hex == wanted), None), wanted


def check_certificate_assertion(app: AppRegistration, parsed: Parsed, token_endpoints: set[str]) -> None:
    cert, thumbprint = certificate_for(app, parsed)
    if cert is None:
        raise EntraRefusal(700027, reason="The key was not found.", thumbprint=thumbprint, client_id=app.client_id)
    key = x509.load_der_x509_certificate(base64.b64decode(cert.der_b64)).public_key()
    if not isinstance(key, rsa.RSAPublicKey) or not verify_signature(key, parsed, (RS256, PS256)):
        # Reason text for a bad signature (as opposed to an unknown key) is not captured: not confirmed.
        raise EntraRefusal(700027, reason="The signature is not valid for the key.", thumbprint=cert.sha1_hex, client_id=app.client_id)
    claims = parsed.claims
    if str(claims.get("iss")) != app.client_id or str(claims.get("sub")) != app.client_id:
        raise EntraRefusal(50027)
    if str(claims.get("aud", "")).rstrip("/").lower() not in token_endpoints:
        raise EntraRefusal(50027)
    check_lifetime(claims)


def audiences_of(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, list):
        return [str(a) for a in aud]
    return [str(aud)] if aud else []

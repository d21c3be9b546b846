"""JWT helpers shared by the client (claims inspection) and the sandbox (signing).

The client only ever decodes the payload to explain a token; it never verifies
signatures, and nothing here returns or logs the token itself.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping


class MalformedToken(ValueError):
    """Not a compact JWS: three base64url parts, the first two JSON objects."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise MalformedToken("bad base64url") from exc


def split(token: str) -> tuple[dict[str, object], dict[str, object], bytes, bytes]:
    """Return (header, claims, signing input, signature) without verifying anything."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise MalformedToken("expected three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedToken("header or payload is not JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise MalformedToken("header and payload must be JSON objects")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2])


def claims(token: str) -> dict[str, object]:
    return split(token)[1]


def number_claim(claims: Mapping[str, object], name: str) -> float:
    """A numeric claim (exp, nbf, iat) as a number; 0 when it is missing or not a number."""
    value = claims.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0.0
    try:
        return float(value)
    except ValueError:
        return 0.0

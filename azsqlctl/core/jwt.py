"""JWT helpers shared by the client (claims inspection) and the sandbox (signing).

The client only ever decodes the payload to explain a token; it never verifies
signatures, and nothing here returns or logs the token itself.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from . import jsonlimits

# Entra access tokens are a few KB (the groups claim stops at 200 groups, then an overage claim);
# a TDS client can carry at most a LOGIN7 of 128 KB - 1 ([MS-TDS] 2.2.6.4), and Azure SQL reads
# the token from there. Anything longer is not a token any Azure service accepts.
MAX_TOKEN_CHARS = 128 * 1024


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
    if len(token) > MAX_TOKEN_CHARS:
        raise MalformedToken(f"longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]) or not token.isascii():
        raise MalformedToken("expected three dot-separated base64url parts")
    try:
        # Depth-bounded: a header nested thousands of levels deep is malformed, not a RecursionError.
        header = jsonlimits.loads(b64url_decode(parts[0]), max_bytes=MAX_TOKEN_CHARS)
        claims = jsonlimits.loads(b64url_decode(parts[1]), max_bytes=MAX_TOKEN_CHARS)
    except jsonlimits.JsonRejected as exc:
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

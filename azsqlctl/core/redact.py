"""Scrub secrets from any text before it reaches a terminal or a log.

Tokens are JWTs (three base64url parts, the first starting ``eyJ``); SQL text is
never logged at all (query hashes are), so only tokens and secrets need this.
"""

from __future__ import annotations

import re

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_SECRET_FIELDS = re.compile(
    r"""(?i)(["']?(?:access_token|refresh_token|client_secret|x-identity-header|password|pwd)["']?\s*[:=]\s*["']?)[^"',;&\s}]+"""
)

REDACTED = "<redacted>"


def redact(text: str) -> str:
    text = _JWT.sub(REDACTED + " token", text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _SECRET_FIELDS.sub(lambda m: m.group(1) + REDACTED, text)

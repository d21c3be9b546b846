"""Scrub secrets from any text before it reaches a terminal or a log.

Tokens are JWTs (three base64url parts, the first starting ``eyJ``); SQL text is never logged at all (query
hashes are). Credentials in ``KEY=value`` form are read with the ODBC grammar (core/connstr.py): a braced
value runs to its closing brace whatever ``;``, ``=``, spaces or ``}}`` it holds, an unbraced one to the next
``;`` (spaces included), an unclosed brace to the end - so no piece of a password survives. Quoted forms
(JSON bodies, Python reprs) are read to their closing quote. Where the end is uncertain, more is hidden.
"""

from __future__ import annotations

import re

from .connstr import is_secret_key, read_value

REDACTED = "<redacted>"

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
# A key of up to three words ("PWD", "Access Token", "client_secret"), optionally quoted, then '=' (or ':' after a
# quoted key or a header name). Each word-suffix of the key is judged, so "timeout PWD=" still finds PWD.
_KEY = re.compile(
    r"""(?P<q>["']?)(?P<key>(?<![A-Za-z0-9_])(?:[A-Za-z][A-Za-z0-9_-]*[ \t]+){0,2}[A-Za-z][A-Za-z0-9_-]*)(?P=q)[ \t]*(?P<sep>=|:)[ \t]*""",
)
_HEADERS = frozenset({"x-identity-header", "secret", "x-ms-client-secret"})
_HEADER_VALUE = re.compile(r"[^\s,;}\"']+")
_QUOTED = re.compile(r""""(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?""")


def redact(text: str) -> str:
    text = _JWT.sub(REDACTED + " token", text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _credentials(text)


def _credentials(text: str) -> str:
    out: list[str] = []
    i = 0
    for m in _KEY.finditer(text):
        if m.start() < i:
            continue  # inside a value already hidden
        words, sep, quoted = m.group("key").split(), m.group("sep"), bool(m.group("q"))
        header = sep == ":" and not quoted and words[-1].lower() in _HEADERS
        # bare words before ':' are prose ("could not get a token: ..."): only quoted keys and header names count
        if sep == ":" and not quoted and not header:
            continue
        if not header and not any(is_secret_key(" ".join(words[k:])) for k in range(len(words))):
            continue
        start = m.end()
        end = _value_end(text, start, header=header)
        if end == start:
            continue
        out.append(text[i:start] + REDACTED)
        i = end
    out.append(text[i:])
    return "".join(out)


def _value_end(text: str, i: int, *, header: bool) -> int:
    if i >= len(text):
        return i
    if text[i] in "\"'":
        m = _QUOTED.match(text, i)
        return m.end() if m else len(text)
    if header:
        m = _HEADER_VALUE.match(text, i)
        return m.end() if m else i
    _value, end, _closed = read_value(text, i, stop=";\n")
    return end

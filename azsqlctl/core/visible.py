"""Text from outside, made safe for a terminal or a line-oriented log: control characters become visible escapes.

Names in an audit row (database, application, principal) come from the unauthenticated client of a failed
login; messages come from servers and token endpoints. Printed raw, a CR/LF forges a whole line and an ESC
sequence rewrites the reader's terminal (colours, title, hyperlinks); a bidi override reorders what the eye
reads. Text mode shows every such character as a Python-style escape (``\\x1b``, ``\\n``, ``\\u202e``); JSON
output is never passed through here (its encoder escapes, and consumers need the exact value).

The classes made visible are Unicode's Cc (C0, DEL, C1), Cf (format: bidi embeddings, overrides and
isolates, zero-width characters, the BOM, tag characters), Zl/Zp (line and paragraph separators) and lone
surrogates (bytes decoded with ``surrogateescape``). tests/unit/test_visible.py checks the class below
against ``unicodedata`` for every code point.
"""

from __future__ import annotations

import re

# Unicode 14 Cc, Cf, Zl, Zp and Cs, as ranges (a per-character unicodedata lookup is too slow for every line).
_CONTROL = re.compile(
    "["
    "\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
    "]"
)
# Layout our own renderers use (a newline between lines, a tab in a diff): kept by the last-line-of-defence filter.
_CONTROL_BUT_LAYOUT = re.compile(_CONTROL.pattern.replace("\x00-\x1f", "\x00-\x08\x0b-\x1f"))

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    cp = ord(ch)
    if cp <= 0xFF:
        return f"\\x{cp:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def visible(text: str) -> str:
    """``text`` with every control, format and separator character shown as an escape; one line out."""
    return _CONTROL.sub(_escape, text)


def visible_keeping_layout(text: str) -> str:
    """Like :func:`visible` but keeps LF and TAB: for whole blocks of output whose fields were made visible already."""
    return _CONTROL_BUT_LAYOUT.sub(_escape, text)


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None

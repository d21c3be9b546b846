"""Bounded JSON parsing for text from outside: a size and a nesting-depth limit checked before parsing.

``json.loads`` recurses once per nesting level, so ``[[[[...]]]]`` a few thousand levels deep raises
RecursionError (or exhausts a thread's stack) instead of a parse error. Azure's front ends parse
with .NET's System.Text.Json / Json.NET, whose default maximum depth is 64; the same limit here
turns a hostile document into an ordinary "not valid JSON" answer.
"""

from __future__ import annotations

import json
import re

MAX_DEPTH = 64  # System.Text.Json JsonReaderOptions.MaxDepth default; Json.NET 13's MaxDepth default


class JsonRejected(ValueError):
    """The text is not JSON within the limits (too large, too deep, or not JSON at all)."""


_SPECIAL = re.compile(rb'["\\\[\]{}]')


def depth(text: str | bytes) -> int:
    """The deepest nesting of objects/arrays, ignoring brackets inside strings (one pass over the
    characters that matter: quotes, backslashes and brackets)."""
    data = text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text
    deepest = level = 0
    in_string = False
    skip_at = -1  # the character after a backslash inside a string is escaped
    for match in _SPECIAL.finditer(data):
        at, byte = match.start(), data[match.start()]
        if in_string:
            if at == skip_at:
                continue
            if byte == 0x5C:  # backslash
                skip_at = at + 1
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            level += 1
            deepest = max(deepest, level)
        elif byte in (0x5D, 0x7D):  # ] }
            level -= 1
    return deepest


def loads(text: str | bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> object:
    """``json.loads`` for untrusted text: refused (JsonRejected) above ``max_bytes`` or ``max_depth``."""
    if len(text) > max_bytes:
        raise JsonRejected(f"JSON text of {len(text)} bytes is over the {max_bytes}-byte limit")
    if depth(text) > max_depth:
        raise JsonRejected(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise JsonRejected(f"not valid JSON: {exc}") from exc

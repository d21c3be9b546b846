"""Tokens and literals of the sandbox's KQL subset (see ``kusto.py``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class KqlUnsupported(Exception):
    """The query is not KQL, or uses KQL the sandbox does not execute."""

    def __init__(self, message: str, kind: str = "semantic", near: str = "", pos: int = 0) -> None:
        super().__init__(message)
        self.message, self.kind, self.token, self.pos = message, kind, near, pos


# --- tokens -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<str>[hH]?(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'))
  | (?P<verb>[hH]?@(?:"(?:[^"]|"")*"|'(?:[^']|'')*'))
  | (?P<dt>datetime\(\s*[^)]*\))
  | (?P<span>\d+(?:\.\d+)?(?:ms|s|m|h|d)\b)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<op>==|!=|=~|!~|<=|>=|!contains\b|!in~|!in\b|in~|[|(),=<>])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.X,
)
_ESC = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    value: Any
    pos: int


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise KqlUnsupported(f"Query could not be parsed at '{text[pos : pos + 10]}'", "syntax", text[pos : pos + 10], pos)
        kind = m.lastgroup or ""
        raw = m[0]
        if kind == "str":
            body = raw.lstrip("hH")[1:-1]
            out.append(Tok("lit", raw, re.sub(r"\\(.)", lambda e: _ESC.get(e[1], e[1]), body), pos))
        elif kind == "verb":
            body = raw.lstrip("hH")[1:]
            quote = body[0]
            out.append(Tok("lit", raw, body[1:-1].replace(quote * 2, quote), pos))
        elif kind == "dt":
            out.append(Tok("lit", raw, _datetime(raw[9:-1].strip(), pos), pos))
        elif kind == "span":
            out.append(Tok("lit", raw, _timespan(raw), pos))
        elif kind == "num":
            out.append(Tok("lit", raw, float(raw) if "." in raw else int(raw), pos))
        elif kind != "ws":
            out.append(Tok(kind, raw, raw, pos))
        pos = m.end()
    return out


def _datetime(text: str, pos: int) -> float:
    value = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise KqlUnsupported(f"datetime literal '{text}' is not an ISO 8601 time", "syntax", text, pos) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


_SPAN = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _timespan(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text)
    assert m
    return float(m[1]) * _SPAN[m[2]]


def iso(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"

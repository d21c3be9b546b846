"""A short, stable hash of a T-SQL statement's shape: literals and parameters stripped.

``azsqlctl logs`` prints it instead of ``statement_s`` and the module that ``azsqlctl
scaffold`` generates logs it instead of SQL text, so a hash in an app's log can be
matched with the tool's output. Both must compute the same value, so this module is
self-contained (standard library only, no azsqlctl imports): scaffold vendors this
file verbatim into generated code. Changing the normalisation changes every hash:
bump ``VERSION`` and the golden tests together.

Normalisation (a T-SQL lexer, not a parser; it never fails on any input):
- comments are dropped (``-- …`` to end of line, ``/* … */`` nested as T-SQL nests
  them);
- string literals (``'…'``, ``N'…'``), numbers (``1``, ``1.5``, ``1e3``, ``$2.50``),
  binary literals (``0x1F``) and parameters/variables (``@p1``, ``@name``, ODBC ``?``)
  become ``?``; a sign directly in front of a number in operand position belongs to it;
  ``@@ROWCOUNT``-style system functions are kept;
- ``IN (?, ?, …)`` collapses to ``IN (?)`` so list lengths do not split one query in
  many;
- delimited identifiers that are regular names (``[Orders]``, ``"Orders"``) are
  unquoted; names and keywords are lower-cased (T-SQL names are case-insensitive under
  the default collation);
- lines stay within 88 columns and nothing needs a ``noqa``: the vendored copy must be
  clean under any project's linter settings (ruff's defaults included).
- tokens are joined by one space.

The hash is the first 16 hex digits of SHA-256 over the UTF-8 normalised text.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["HASH_LENGTH", "VERSION", "normalize_sql", "query_hash"]

VERSION = 1
HASH_LENGTH = 16
PLACEHOLDER = "?"

_REGULAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_@$#]*\Z")
_WORD = re.compile(r"[A-Za-z_#][A-Za-z0-9_@$#]*")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_MONEY = re.compile(r"\$\s*[+-]?(?:\d+\.?\d*|\.\d+)")
_BINARY = re.compile(r"0[xX][0-9A-Fa-f]*")
_VARIABLE = re.compile(r"@[A-Za-z0-9_@$#]*")
_OPERATORS = (
    "<>", "!=", "<=", ">=", "!<", "!>", "||", "::",
    "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
)  # fmt: skip
# After these tokens a ``+``/``-`` is a sign, not a binary operator.
_OPERAND_POSITION = frozenset({
    "(", ",", "=", "<", ">", "<>", "!=", "<=", ">=", "!<", "!>",
    "+", "-", "*", "/", "%", "+=", "-=", "*=", "/=", "%=",
    "then", "else", "when", "select", "where", "and", "or", "not", "return",
    "values", "in", "between", "top", "by", "set", "like", "is", "case", "on", "having",
})  # fmt: skip


def _tokens(sql: str) -> list[str]:
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "'" or (c in "Nn" and sql.startswith("'", i + 1)):
            i = _skip_quoted(sql, i + (1 if c == "'" else 2), "'")
            out.append(PLACEHOLDER)
        elif c == "[":
            end = _skip_quoted(sql, i + 1, "]")
            out.append(_identifier(sql[i + 1 : end - 1].replace("]]", "]")))
            i = end
        elif c == '"':
            end = _skip_quoted(sql, i + 1, '"')
            out.append(_identifier(sql[i + 1 : end - 1].replace('""', '"')))
            i = end
        elif m := _literal(sql, i):
            _sign_into_literal(out)
            out.append(PLACEHOLDER)
            i = m.end()
        elif sql.startswith("@@", i):
            m = _WORD.match(sql, i + 2)
            word = m.group() if m else ""
            out.append("@@" + word.lower())
            i += 2 + len(word)
        elif c == "@":
            m = _VARIABLE.match(sql, i)  # always matches: "@" alone is a variable too
            out.append(PLACEHOLDER)
            i = m.end() if m else i + 1
        elif c == "?":
            out.append(PLACEHOLDER)
            i += 1
        elif m := _WORD.match(sql, i):
            out.append(m.group().lower())
            i = m.end()
        else:
            op = next((o for o in _OPERATORS if sql.startswith(o, i)), c)
            out.append(op)
            i += len(op)
    return _collapse_in_lists(out)


def _literal(sql: str, i: int) -> re.Match[str] | None:
    return _BINARY.match(sql, i) or _NUMBER.match(sql, i) or _MONEY.match(sql, i)


def _skip_quoted(sql: str, i: int, close: str) -> int:
    """Index just past the closing delimiter (a doubled one is escaped).

    The end of the text when the literal is unterminated.
    """
    n = len(sql)
    while i < n:
        if sql[i] == close:
            if sql.startswith(close, i + 1):
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _identifier(name: str) -> str:
    if _REGULAR_NAME.match(name):
        return name.lower()
    return "[" + name.lower().replace("]", "]]") + "]"


def _sign_into_literal(out: list[str]) -> None:
    signed = out and out[-1] in ("-", "+")
    if signed and (len(out) == 1 or out[-2] in _OPERAND_POSITION):
        out.pop()


def _collapse_in_lists(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        out.append(tokens[i])
        if tokens[i] == "in" and tokens[i + 1 : i + 3] == ["(", PLACEHOLDER]:
            j = i + 3
            while tokens[j : j + 2] == [",", PLACEHOLDER]:
                j += 2
            if tokens[j : j + 1] == [")"]:
                out += ["(", PLACEHOLDER, ")"]
                i = j + 1
                continue
        i += 1
    return out


def normalize_sql(sql: str) -> str:
    """The statement's shape: what the hash is computed over."""
    return " ".join(_tokens(sql))


def query_hash(sql: str) -> str:
    """First 16 hex digits of SHA-256 over ``normalize_sql(sql)``."""
    return hashlib.sha256(normalize_sql(sql).encode("utf-8")).hexdigest()[:HASH_LENGTH]

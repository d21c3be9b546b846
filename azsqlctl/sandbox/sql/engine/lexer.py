"""A T-SQL tokenizer for the sandbox: enough to split batches and read DDL safely.

Bracketed identifiers (``[a]]b]``), quoted identifiers, string literals
(``N'it''s'``), hex literals, numbers, words and punctuation. Statements split
at ``;`` tokens only, never inside an identifier or a string.

Comments as Microsoft Learn defines them, and as sqlglot's T-SQL tokenizer (which finds where
statements end: batch.py) reads them: ``--`` runs to a carriage return or a line feed ("-- (Comment)
(Transact-SQL)"), and ``/* ... */`` nests ("Slash Star (Block Comment)"). Where the two tokenizers
read a comment differently, a statement had text but no tokens here, and the session failed on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(r"[\r\n]")


class LexError(ValueError):
    pass


@dataclass(frozen=True)
class Tok:
    kind: str  # ident (bracketed/quoted), word, string, hex, number, punct
    text: str  # the value: identifier/string contents unescaped, words as written
    start: int = 0  # offsets in the batch, to recover a statement's text
    end: int = 0

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words

    @property
    def name(self) -> str:
        """An identifier's value, whether bracketed or bare."""
        if self.kind in ("ident", "word"):
            return self.text
        raise LexError(f"expected an identifier, found {self.text!r}")


def tokenize(sql: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        start = i
        if c.isspace():
            i += 1
        elif sql.startswith("--", i):
            i = min(line_comment_end(sql, i) + 1, n)
        elif sql.startswith("/*", i):
            i = block_comment_end(sql, i)
        elif c == "[":
            value, i = _closed(sql, i + 1, "]")
            toks.append(Tok("ident", value, start, i))
        elif c == '"':
            value, i = _closed(sql, i + 1, '"')
            toks.append(Tok("ident", value, start, i))
        elif c in "Nn" and sql.startswith("'", i + 1):
            value, i = _closed(sql, i + 2, "'")
            toks.append(Tok("string", value, start, i))
        elif c == "'":
            value, i = _closed(sql, i + 1, "'")
            toks.append(Tok("string", value, start, i))
        elif sql.startswith(("0x", "0X"), i):
            j = i + 2
            while j < n and sql[j] in "0123456789abcdefABCDEF":
                j += 1
            toks.append(Tok("hex", sql[i + 2 : j], start, j))
            i = j
        elif c.isdigit():
            j = i
            while j < n and (sql[j].isdigit() or sql[j] == "."):
                j += 1
            toks.append(Tok("number", sql[i:j], start, j))
            i = j
        elif c.isalpha() or c in "_@#":
            j = i
            while j < n and (sql[j].isalnum() or sql[j] in "_@#$"):
                j += 1
            toks.append(Tok("word", sql[i:j], start, j))
            i = j
        elif sql.startswith("::", i):
            i += 2
            toks.append(Tok("punct", "::", start, i))
        else:
            i += 1
            toks.append(Tok("punct", c, start, i))
    return toks


def line_comment_end(sql: str, i: int) -> int:
    """Where the line comment that opens at ``i`` ends: its first carriage return or line feed (that character is not
    the comment's), or the batch's end."""
    end = _LINE_END.search(sql, i + 2)
    return len(sql) if end is None else end.start()


def block_comment_end(sql: str, i: int) -> int:
    """After the block comment that opens at ``i``, nested comments included, read as sqlglot's tokenizer reads it:
    it checks each position for ``*/``, steps one character and checks there for ``/*`` (so ``/*/*`` opens one
    comment, and in ``*/*`` a comment closes and another opens); an opener is stepped over whole. Each delimiter is
    found once (a close found ahead is kept while openers come before it), so the scan is linear in the comment."""
    depth, open_from = 1, i + 3
    close = sql.find("*/", i + 2)
    while close >= 0:
        opener = sql.find("/*", open_from, close + 1)
        if opener >= 0:  # checked before that close is reached
            depth, open_from = depth + 1, opener + 3
            if close < opener + 2:  # the opener's "*" was that close's: the next close is further on
                close = sql.find("*/", opener + 2)
            continue
        depth -= 1
        if depth == 0:
            return close + 2
        open_from = close + 1  # the close's "/" may open the next comment
        close = sql.find("*/", close + 1)
    raise LexError("unclosed comment")


def _closed(sql: str, i: int, end: str) -> tuple[str, int]:
    """The value of a string or quoted identifier whose text starts at ``i``, and where it ends; ``end`` doubled stands
    for itself. Found with str.find, not a step per character (a literal of megabytes is a real upload's)."""
    j = i
    while (k := sql.find(end, j)) >= 0:
        if sql.startswith(end, k + 1):  # doubled: an escaped delimiter
            j = k + 2
            continue
        return sql[i:k].replace(end + end, end), k + 1
    raise LexError(f"unclosed {end}")


def statements(sql: str) -> list[list[Tok]]:
    out: list[list[Tok]] = []
    current: list[Tok] = []
    for tok in tokenize(sql):
        if tok.kind == "punct" and tok.text == ";":
            if current:
                out.append(current)
            current = []
        else:
            current.append(tok)
    if current:
        out.append(current)
    return out

"""A T-SQL tokenizer for the sandbox: enough to split batches and read DDL safely.

Bracketed identifiers (``[a]]b]``), quoted identifiers, string literals
(``N'it''s'``), hex literals, numbers, words and punctuation. Statements split
at ``;`` tokens only, never inside an identifier or a string.
"""

from __future__ import annotations

from dataclasses import dataclass


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
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise LexError("unclosed comment")
            i = j + 2
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


def _closed(sql: str, i: int, end: str) -> tuple[str, int]:
    out = []
    while i < len(sql):
        if sql[i] == end:
            if sql.startswith(end, i + 1):  # doubled: an escaped delimiter
                out.append(end)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(sql[i])
        i += 1
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

"""Splitting a T-SQL batch into statements the way SQL Server's grammar does.

Semicolons are optional in T-SQL: ``SET NOCOUNT ON`` + newline + ``SELECT 1`` is two
statements, and so is ``SET XACT_ABORT ON SELECT 1/0``. A statement therefore ends at
a ``;`` or where a keyword that can only start a new statement appears at parenthesis
depth 0 -- with the continuations the grammar allows (``UNION SELECT``,
``INSERT ... SELECT``, ``UPDATE ... SET``, ``GRANT SELECT ... TO``, ``DROP TABLE IF
EXISTS``, ``ALTER ROLE ... DROP MEMBER``, a CTE's main statement). ``IF <condition>``
takes the one statement after it. Tokens come from the sandbox's lexer, so nothing
inside a string, an identifier or a comment can split a statement.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import lexer
from ..lexer import Tok

STARTERS = frozenset(
    {
        "SELECT", "INSERT", "UPDATE", "DELETE", "SET", "BEGIN", "COMMIT", "ROLLBACK", "SAVE", "CREATE", "ALTER",
        "DROP", "GRANT", "REVOKE", "DENY", "DECLARE", "PRINT", "EXEC", "EXECUTE", "IF", "USE", "WITH", "MERGE",
        "TRUNCATE", "WHILE", "RETURN", "RAISERROR", "THROW", "WAITFOR", "DBCC",
    }
)  # fmt: skip
_SET_OPERATORS = frozenset({"UNION", "ALL", "EXCEPT", "INTERSECT", "AS"})
_DROPPABLE = frozenset(
    {
        "TABLE",
        "USER",
        "ROLE",
        "SCHEMA",
        "VIEW",
        "PROCEDURE",
        "PROC",
        "FUNCTION",
        "INDEX",
        "TRIGGER",
        "TYPE",
        "SEQUENCE",
        "SYNONYM",
        "DATABASE",
    }
)
_PERMISSION_VERBS = frozenset({"GRANT", "REVOKE", "DENY"})


@dataclass
class Statement:
    toks: list[Tok]
    text: str
    body: int = 0  # for IF: where the statement the condition guards begins, in ``toks``

    @property
    def first(self) -> str:
        return self.toks[0].text.upper() if self.toks and self.toks[0].kind == "word" else ""


def split(sql: str) -> list[Statement]:
    """The batch's statements; raises lexer.LexError for an unclosed string, identifier or comment."""
    out: list[Statement] = []
    current: list[Tok] = []
    depth = 0
    body_at = 0  # index in ``current`` where the statement proper begins (after an IF condition)
    in_if_condition = False

    def flush() -> None:
        nonlocal current, body_at, in_if_condition
        if current:
            out.append(Statement(current, sql[current[0].start : current[-1].end], body_at))
        current, body_at, in_if_condition = [], 0, False

    toks = lexer.tokenize(sql)
    for i, tok in enumerate(toks):
        if tok.kind == "punct" and tok.text == ";" and depth == 0:
            flush()
            continue
        if tok.kind == "punct":
            depth += tok.text == "("
            depth -= tok.text == ")"
            depth = max(depth, 0)
        word = tok.text.upper() if tok.kind == "word" else ""
        if current and depth == 0 and word in STARTERS:
            if in_if_condition:
                if word != "SELECT" or not _continues(word, current[body_at:], toks, i):
                    in_if_condition = False
                    body_at = len(current)
            elif not _continues(word, current[body_at:], toks, i):
                flush()
        if not current and word == "IF":
            in_if_condition = True
        current.append(tok)
    flush()
    return out


def _words(toks: list[Tok]) -> list[str]:
    """The statement's words at parenthesis depth 0 (a subquery's SELECT is not the main one)."""
    out, depth = [], 0
    for t in toks:
        if t.kind == "punct":
            depth += t.text == "("
            depth -= t.text == ")"
        elif t.kind == "word" and depth == 0:
            out.append(t.text.upper())
    return out


def _continues(word: str, stmt: list[Tok], toks: list[Tok], i: int) -> bool:
    """Whether ``word`` (a statement keyword) continues ``stmt`` rather than starting a new one."""
    first = stmt[0].text.upper() if stmt and stmt[0].kind == "word" else ""
    prev = stmt[-1].text.upper() if stmt and stmt[-1].kind in ("word", "punct") else ""
    words = _words(stmt)
    if first == "SET":
        return False  # nothing continues a SET: SET NOCOUNT ON INSERT ... is two statements (mssql-django sends it)
    if first in _PERMISSION_VERBS and not ({"TO", "FROM"} & set(words)):
        return True  # GRANT SELECT, INSERT ... / GRANT CREATE TABLE / DENY EXECUTE, before TO
    if first == "WITH" and not ({"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"} & set(words[1:])):
        return True  # the CTE's main statement
    if word == "SELECT":
        if prev in _SET_OPERATORS:
            return True
        return first == "INSERT" and "SELECT" not in words and "VALUES" not in words
    if word in ("INSERT", "UPDATE", "DELETE"):
        return prev in ("ON", "FOR", "AFTER", "OF") or first == "MERGE"
    if word == "SET":
        return (first == "UPDATE" and "SET" not in words) or first in ("ALTER", "MERGE") or prev in ("DELETE", "UPDATE")
    if word in ("CREATE", "ALTER", "DROP"):
        return first == "ALTER" or prev == "OR"  # CREATE OR ALTER VIEW
    if word == "IF":
        return prev in _DROPPABLE
    if word in ("EXEC", "EXECUTE"):
        return prev == "AS" or (first == "INSERT" and "SELECT" not in words and "VALUES" not in words)
    if word == "WITH":
        return not _starts_cte(toks, i)
    return False


def _starts_cte(toks: list[Tok], i: int) -> bool:
    """``WITH name AS (`` or ``WITH name (cols) AS (``; every other WITH (hints, options) continues."""
    nxt = toks[i + 1 : i + 3]
    if len(nxt) == 2 and nxt[0].kind in ("word", "ident") and nxt[1].kind == "word" and nxt[1].text.upper() == "AS":
        return True
    if len(nxt) == 2 and nxt[0].kind in ("word", "ident") and nxt[1].text == "(":
        depth, j = 0, i + 2
        while j < len(toks):
            depth += toks[j].text == "("
            depth -= toks[j].text == ")"
            j += 1
            if depth == 0:
                break
        return j < len(toks) and toks[j].kind == "word" and toks[j].text.upper() == "AS"
    return False

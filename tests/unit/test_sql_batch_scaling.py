# ruff: noqa: S608 - these tests build T-SQL text on purpose, to feed the splitter
"""Splitting a batch is linear in its size: counted work, never timed.

The splitter once walked the rest of the batch for each statement (to find its chunk's end, its tokens, and a parse of
the rest when the statement alone did not parse) and the statement so far for each keyword in it: a seed script of
4,000 INSERTs without ``;`` took 40 s, one SELECT of 1,000 CASEs 20 s, while every other client of the sandbox waited
for the interpreter lock. Here the lines run in the splitter, and in sqlglot's parse() (its loop over every token it
is handed), are counted for a batch at N, 2N and 3N: linear work grows by the same step each time, a walk per
statement or keyword by a growing one. The lexer's searches run in C, so for it the characters they read are counted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from sqlglot import parser as sqlglot_parser

from azsqlctl.sandbox.sql.engine import batch, lexer

_COUNTED = {batch.__file__, sqlglot_parser.__file__}


def _lines_run(sql: str) -> tuple[int, int]:
    """(lines run in the splitter and in sqlglot's parse loop, statements found) splitting ``sql``."""
    lines = 0

    def local(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        nonlocal lines
        lines += event == "line"
        return local

    def call(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        code = frame.f_code
        if code.co_filename == batch.__file__ or (code.co_filename in _COUNTED and code.co_name == "_parse"):
            return local
        return None

    sys.settrace(call)
    try:
        statements = batch.split(sql)
    finally:
        sys.settrace(None)
    return lines, len(statements)


_BATCHES: dict[str, Callable[[int], str]] = {
    # a seed script as tools write it: one INSERT per line, no ``;``
    "inserts without semicolons": lambda n: "".join(f"INSERT INTO dbo.t (a, b) VALUES ({k}, N'row {k}')\n" for k in range(n)),
    "selects and sets": lambda n: "SET NOCOUNT ON\nSELECT a FROM dbo.t WHERE a = 1\nUPDATE dbo.t SET b = N'x' WHERE a = 2\n" * n,
    "one select of many CASEs": lambda n: "SELECT " + ", ".join(f"CASE WHEN a = {k} THEN 1 ELSE 0 END" for k in range(n)),
    "a chain of UNION ALL": lambda n: " UNION ALL ".join(f"SELECT {k} AS a" for k in range(n)),
    "statements sqlglot cannot parse": lambda n: "DELETE FROM dbo.t OUTPUT deleted.a WHERE a = 1\n" * n,
    "unfinished statements": lambda n: "SELECT a FROM dbo.t WHERE\n" * n,
    "blocks": lambda n: "IF 1 = 1 BEGIN SELECT 1 END ELSE BEGIN SELECT 2 END\n" * n,
}


@pytest.mark.parametrize("shape", list(_BATCHES))
def test_splitting_work_grows_linearly_with_the_batch(shape: str) -> None:
    """Work at N, 2N and 3N: for linear work the step from 2N to 3N is the step from N to 2N (whatever each costs
    once), for a walk per statement or keyword it is larger by a term that grows with N: the second difference."""
    make = _BATCHES[shape]
    (a, count), (b, _), (c, count3) = (_lines_run(make(n)) for n in (12, 24, 36))
    assert count3 == 3 * count or count3 == count == 1, (count, count3)
    assert abs((c - b) - (b - a)) <= 0.03 * (c - a), (a, b, c)  # quadratic work here: ~0.2 of it


class _Scanned(str):
    """A batch that counts the characters its ``find`` calls read (str.find runs in C: no line to count)."""

    read = 0

    def find(self, sub: str, start: Any = None, end: Any = None) -> int:
        lo = 0 if start is None else start
        hi = len(self) if end is None else min(end, len(self))
        found = str.find(self, sub, lo, hi)
        _Scanned.read += (found + len(sub) if found >= 0 else hi) - lo
        return found


_LEXED: dict[str, Callable[[int], str]] = {
    "nested block comments": lambda n: "SELECT 1 /*" + " /*" * n + " */" * (n + 1) + " SELECT 2",
    "block comments in a row": lambda n: "SELECT 1 /* a */ /**/ /*/ b */*/ */ " * n,
    "a string of doubled quotes": lambda n: "SELECT N'" + "it''s " * n + "'",
    "bracketed names with ]]": lambda n: "SELECT " + ", ".join(f"[a]]{k}]" for k in range(n)),
}


@pytest.mark.parametrize("shape", list(_LEXED))
def test_the_lexer_reads_each_character_a_bounded_number_of_times(shape: str) -> None:
    """Comments, strings and quoted names are found with str.find. The nested-comment scan once searched again from
    each opener for the next close: 20,000 nested comments read ~10**9 characters (1 s), 200,000 would read 10**11."""
    for n in (100, 2_000):
        sql = _Scanned(_LEXED[shape](n))
        _Scanned.read = 0
        lexer.tokenize(sql)
        assert _Scanned.read <= 3 * len(sql), (n, _Scanned.read, len(sql))

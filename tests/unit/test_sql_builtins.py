"""Pure logic of the sandbox's T-SQL front end: LIKE patterns, date built-ins, control-flow statements.

Expected values are the Transact-SQL reference's (DATEDIFF counts boundaries: one year between
2023-12-31 and 2024-01-01; DATEADD of a month clamps to the month's last day).
"""

from __future__ import annotations

import pytest

from azsqlctl.sandbox.sql.catalog.metadata_functions import like
from azsqlctl.sandbox.sql.engine import batch, scalar_functions
from azsqlctl.sandbox.sql.engine.errors import SqlError


@pytest.mark.parametrize(
    ("value", "pattern", "matches"),
    [
        ("to_x", "to[_]%", 1), ("toax", "to[_]%", 0), ("ABC", "a_c", 1), ("a1", "a[0-9]", 1), ("a5", "a[^0-9]", 0),
        ("a]", "a[]]", 1), ("50%", "50[%]", 1), ("a.b", "a.b", 1), ("axb", "a.b", 0), ("line\nbreak", "line%", 1),
    ],
)  # fmt: skip
def test_like_follows_tsql_patterns(value: str, pattern: str, matches: int) -> None:
    assert like(value, pattern) == matches


def test_like_with_null_is_unknown() -> None:
    assert like(None, "a%") is None and like("a", None) is None


def test_date_builtins() -> None:
    assert scalar_functions.datediff("year", "2023-12-31", "2024-01-01") == 1
    assert scalar_functions.datediff("month", "2024-01-31", "2024-02-01") == 1
    assert scalar_functions.datediff("day", "2024-01-01 23:59:59", "2024-01-02 00:00:00") == 1
    assert scalar_functions.datediff("hour", "2024-01-01 10:59:59", "2024-01-01 11:00:00") == 1
    assert scalar_functions.dateadd("month", 1, "2024-01-31") == "2024-02-29"
    assert scalar_functions.dateadd("day", -1, "2024-03-01") == "2024-02-29"
    assert scalar_functions.dateadd("hour", 1, "2024-01-01") == "2024-01-01 01:00:00"
    assert scalar_functions.datepart("weekday", "2024-05-05") == 1  # a Sunday, with DATEFIRST 7
    assert scalar_functions.datepart("quarter", "2024-05-06") == 2
    assert scalar_functions.eomonth("2024-01-15", 1) == "2024-02-29"
    assert scalar_functions.concat("a", None, 1) == "a1"
    with pytest.raises(SqlError) as bad:
        scalar_functions.datefromparts(2023, 2, 29)
    assert bad.value.number == 289
    with pytest.raises(SqlError) as unparsable:
        scalar_functions.datepart("year", "not a date")
    assert unparsable.value.number == 241


def _texts(sql: str) -> list[str]:
    return [st.text for st in batch.split(sql)]


def test_control_flow_is_one_statement_with_its_parts_marked() -> None:
    """The splitter gives WHILE/IF/BEGIN...END whole; the session runs their parts (an END closing a CASE stays)."""
    loop_sql = "DECLARE @i INT = 0 WHILE @i < 3 BEGIN SET @i = @i + 1 SELECT CASE WHEN @i > 1 THEN 1 ELSE 0 END END SELECT @i"
    assert _texts(loop_sql) == [
        "DECLARE @i INT = 0",
        "WHILE @i < 3 BEGIN SET @i = @i + 1 SELECT CASE WHEN @i > 1 THEN 1 ELSE 0 END END",
        "SELECT @i",
    ]
    loop = batch.split(loop_sql)[1]
    assert loop.toks[loop.body].text == "BEGIN"
    (chain,) = batch.split("IF 1 = 0 SELECT 1 ELSE IF 2 = 2 BEGIN SELECT 2 END ELSE SELECT 3")
    assert " ".join(t.text for t in chain.toks[chain.body : chain.orelse]) == "SELECT 1 ELSE"
    assert " ".join(t.text for t in chain.toks[chain.orelse :]) == "IF 2 = 2 BEGIN SELECT 2 END ELSE SELECT 3"


@pytest.mark.parametrize(
    ("sql", "texts"),
    [
        ("SET NOCOUNT ON INSERT INTO t VALUES (1)", ["SET NOCOUNT ON", "INSERT INTO t VALUES (1)"]),
        ("CREATE OR ALTER VIEW v AS SELECT 1 AS a", ["CREATE OR ALTER VIEW v AS SELECT 1 AS a"]),
        ("CREATE VIEW dbo.v WITH SCHEMABINDING AS SELECT a FROM dbo.t", ["CREATE VIEW dbo.v WITH SCHEMABINDING AS SELECT a FROM dbo.t"]),
        ("SELECT 1 END", ["SELECT 1", "END"]),
    ],
)
def test_statements_orm_tools_send_split_as_sql_server_does(sql: str, texts: list[str]) -> None:
    assert _texts(sql) == texts

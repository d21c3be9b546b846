"""The query hash: golden values (the generated FastAPI module must print the same ones) and its invariants."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azsqlctl.core import queryhash
from azsqlctl.core.queryhash import normalize_sql, query_hash

# (statement, normalised text, hash) — the hashes are written out, not computed, so a change in the
# normalisation or the digest shows up here (and must bump queryhash.VERSION).
GOLDEN = [
    ("SELECT * FROM [dbo].[Orders] WHERE id = 42", "select * from dbo . orders where id = ?", "a25edc48148062a3"),
    ("select *  from dbo.orders\nwhere ID=@p1 -- trailing comment", "select * from dbo . orders where id = ?", "a25edc48148062a3"),
    ("SELECT name FROM sys.database_principals WHERE name = N'o''brien' /* a /* nested */ b */",
     "select name from sys . database_principals where name = ?", "5b2b3b8a633cab01"),
    ("UPDATE t SET x = -1.5e3, y = $2.50 WHERE id IN (1, 2, 3) AND b = 0xFF",
     "update t set x = ? , y = ? where id in ( ? ) and b = ?", "c0f909b3b16eb415"),
    ('SELECT @@ROWCOUNT, @x - 1, ? FROM "Order Details"', "select @@rowcount , ? - ? , ? from [order details]", "0d30548bacfb4b57"),
    ("SELECT 1", "select ?", "e1c71d1661ae46e0"),
    ("", "", "e3b0c44298fc1c14"),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "normalised", "digest"), GOLDEN)
def test_golden(sql: str, normalised: str, digest: str) -> None:
    assert normalize_sql(sql) == normalised
    assert query_hash(sql) == digest
    assert hashlib.sha256(normalised.encode()).hexdigest()[:16] == digest


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SELECT a FROM t WHERE b IN (1,2)", "select a from t where b in (7, 8, 9, 10)"),
        ("SELECT a FROM t WHERE b = 'x'", "SELECT a FROM t WHERE b = N'a much longer value'"),
        ("SELECT a FROM t WHERE b = -5", "SELECT a FROM t WHERE b = 5"),
        ("SELECT a FROM t WHERE b = ?", "SELECT a FROM t WHERE b = @p1"),
        ("SELECT [a] FROM [t]", 'SELECT "A" FROM T'),
        ("SELECT a /* why */ FROM t", "SELECT a FROM t -- why"),
    ],
)
def test_same_shape_same_hash(a: str, b: str) -> None:
    assert query_hash(a) == query_hash(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SELECT a FROM t", "SELECT b FROM t"),
        ("SELECT a FROM t WHERE b = 1", "SELECT a FROM t WHERE b > 1"),
        ("SELECT a - 1 FROM t", "SELECT a FROM t"),
        ("SELECT [order details] FROM t", "SELECT order details FROM t"),
        ("SELECT @@ROWCOUNT", "SELECT @@ERROR"),
        ("SELECT a FROM t WHERE b IN (1, 2)", "SELECT a FROM t WHERE b IN (SELECT c FROM u)"),
    ],
)
def test_different_shape_different_hash(a: str, b: str) -> None:
    assert query_hash(a) != query_hash(b)


@given(st.text())
def test_never_fails_and_is_short_hex(sql: str) -> None:
    digest = query_hash(sql)
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert query_hash(sql) == digest


_SAFE = st.text(alphabet=st.characters(exclude_characters="'\r\n", exclude_categories=["Cs"]), max_size=40)


@given(_SAFE, st.integers(), _SAFE)
def test_literal_values_never_reach_the_normalised_text(s: str, n: int, t: str) -> None:
    sql = f"SELECT * FROM t WHERE a = N'{s}' AND b = {n} AND c = '{t}'"  # noqa: S608 - text to hash, never executed
    assert normalize_sql(sql) == "select * from t where a = ? and b = ? and c = ?"


def test_module_is_self_contained_for_vendoring() -> None:
    """scaffold copies this file into generated code: it may import only the standard library."""
    tree = ast.parse(Path(queryhash.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert imported <= {"__future__", "hashlib", "re"}
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))

"""core/queryhash.py: the exact shape each T-SQL construct normalises to (comments, literals, names, signs, IN lists)."""

from __future__ import annotations

import hashlib

import pytest

from azsqlctl.core.queryhash import HASH_LENGTH, VERSION, normalize_sql, query_hash


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        ("SELECT 1 -- one\nFROM t", "select ? from t"),
        ("SELECT 1 -- no newline after", "select ?"),
        ("SELECT /* a /* nested */ still comment */ x", "select x"),
        ("SELECT x /* never closed", "select x"),
        ("SELECT x/**/FROM t", "select x from t"),
        ("SELECT 'a''b', N'x', n'y', 'open", "select ? , ? , ? , ?"),
        ("SELECT [Orders].[Id] FROM [Order Details]", "select orders . id from [order details]"),
        ('SELECT [a]]b], "Orders", "a""b"', 'select [a]]b] , orders , [a"b]'),
        ("SELECT 1.5e3, .5, 7., $2.50, $ -3, 0x1F, 0x", "select ? , ? , ? , ? , ? , ? , ?"),
        ("SELECT -1, +2, a - 3, a+4, (-5)", "select ? , ? , a - ? , a + ? , ( ? )"),
        ("-1", "?"),
        ("x - 1", "x - ?"),  # after a name, a minus is an operator
        ("x = -1 AND y <> +2", "x = ? and y <> ?"),
        ("SELECT @@ROWCOUNT, @@, @p1, @, ?", "select @@rowcount , @@ , ? , ? , ?"),
        ("WHERE id IN (1, 2, 3) AND k IN (@a)", "where id in ( ? ) and k in ( ? )"),
        ("WHERE id IN (1, x)", "where id in ( ? , x )"),
        ("WHERE id IN (1, 2", "where id in ( ? , ?"),
        ("WHERE id IN", "where id in"),
        ("a<>b a!=b a<=b a>=b a!<b a!>b a||b a::b", "a <> b a != b a <= b a >= b a !< b a !> b a || b a :: b"),
        ("a+=1 a-=1 a*=1 a/=1 a%=1 a&=1 a|=1 a^=1", "a += ? a -= ? a *= ? a /= ? a %= ? a &= ? a |= ? a ^= ?"),
        ("#tmp ##g _x a$b", "#tmp ##g _x a$b"),
        ("  \t\n", ""),
    ],
)
def test_normalised_shapes(sql: str, shape: str) -> None:
    assert normalize_sql(sql) == shape


@pytest.mark.parametrize(
    "word", ["then", "else", "when", "select", "where", "and", "or", "not", "return", "values", "in", "between", "top", "by",
             "set", "like", "is", "case", "on", "having", "(", ",", "=", "<", ">", "<>", "!=", "<=", ">=", "!<", "!>", "*", "/",
             "%", "+", "-", "+=", "-=", "*=", "/=", "%="],
)  # fmt: skip
def test_a_sign_after_an_operand_position_belongs_to_the_number(word: str) -> None:
    assert normalize_sql(f"x {word} -1") == f"x {word} ?"


def test_the_hash_is_16_hex_digits_of_sha256_over_the_shape() -> None:
    assert (VERSION, HASH_LENGTH) == (1, 16)
    shape = "select ? from t"
    assert query_hash("SELECT 42 FROM T") == hashlib.sha256(shape.encode()).hexdigest()[:16]
    assert query_hash("SELECT 42 FROM T") == query_hash("select  7  from [t] -- x")

"""Statement boundaries in a T-SQL batch (sandbox/sql/engine/batch.py): SQL Server's grammar, never a dropped statement."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot.dialects.tsql import TSQL
from sqlglot.errors import TokenError

from azsqlctl.sandbox.sql.engine import batch, lexer
from tests.property_budget import examples

CASES = [
    # mssql-django's create(): the INSERT was glued onto the SET and silently dropped
    (
        "SET NOCOUNT ON INSERT INTO t (a) VALUES (?); SELECT CAST(SCOPE_IDENTITY() AS bigint)",
        ["SET NOCOUNT ON", "INSERT INTO t (a) VALUES (?)", "SELECT CAST(SCOPE_IDENTITY() AS bigint)"],
    ),
    ("SET XACT_ABORT ON\r\nDELETE FROM t WHERE a = 1", ["SET XACT_ABORT ON", "DELETE FROM t WHERE a = 1"]),
    ("SET XACT_ABORT ON UPDATE t SET a = 1", ["SET XACT_ABORT ON", "UPDATE t SET a = 1"]),
    ("SET ANSI_NULLS, QUOTED_IDENTIFIER ON SELECT 1", ["SET ANSI_NULLS, QUOTED_IDENTIFIER ON", "SELECT 1"]),
    ("SET LOCK_TIMEOUT -1 SELECT 1", ["SET LOCK_TIMEOUT -1", "SELECT 1"]),
    ("SET IDENTITY_INSERT dbo.t ON INSERT INTO t (id) VALUES (1)", ["SET IDENTITY_INSERT dbo.t ON", "INSERT INTO t (id) VALUES (1)"]),
    ("SET TRANSACTION ISOLATION LEVEL READ COMMITTED DELETE t", ["SET TRANSACTION ISOLATION LEVEL READ COMMITTED", "DELETE t"]),
    ("BEGIN TRAN INSERT INTO t VALUES (1) COMMIT", ["BEGIN TRAN", "INSERT INTO t VALUES (1)", "COMMIT"]),
    (
        "BEGIN TRANSACTION grant_apply SELECT 1 ROLLBACK TRAN grant_apply",
        ["BEGIN TRANSACTION grant_apply", "SELECT 1", "ROLLBACK TRAN grant_apply"],
    ),
    ("UPDATE t SET a = 1 WHERE b = 2 SELECT 1", ["UPDATE t SET a = 1 WHERE b = 2", "SELECT 1"]),
    ("UPDATE t SET a = 1 SET NOCOUNT ON", ["UPDATE t SET a = 1", "SET NOCOUNT ON"]),
    ("INSERT INTO t SELECT 1 SELECT 2", ["INSERT INTO t SELECT 1", "SELECT 2"]),
    ("SELECT 1 UNION SELECT 2 SELECT 3", ["SELECT 1 UNION SELECT 2", "SELECT 3"]),
    ("SELECT CASE WHEN a = 1 THEN 1 ELSE 0 END FROM t SELECT 2", ["SELECT CASE WHEN a = 1 THEN 1 ELSE 0 END FROM t", "SELECT 2"]),
    (
        "SELECT id FROM t ORDER BY id OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY SELECT 1",
        ["SELECT id FROM t ORDER BY id OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY", "SELECT 1"],
    ),
    ("SELECT * FROM t WITH (NOLOCK) WHERE a = 1 SELECT 2", ["SELECT * FROM t WITH (NOLOCK) WHERE a = 1", "SELECT 2"]),
    ("WITH c AS (SELECT 1 AS a) SELECT * FROM c SELECT 2", ["WITH c AS (SELECT 1 AS a) SELECT * FROM c", "SELECT 2"]),
    ("CREATE TABLE t (a int) INSERT INTO t VALUES (1)", ["CREATE TABLE t (a int)", "INSERT INTO t VALUES (1)"]),
    ("INSERT INTO t DEFAULT VALUES SELECT 1", ["INSERT INTO t DEFAULT VALUES", "SELECT 1"]),
    ("DELETE FROM t OUTPUT deleted.a WHERE a = 1 SELECT 1", ["DELETE FROM t OUTPUT deleted.a WHERE a = 1", "SELECT 1"]),
    (
        "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (b) ON DELETE CASCADE ON UPDATE SET NULL SELECT 1",
        ["ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (b) ON DELETE CASCADE ON UPDATE SET NULL", "SELECT 1"],
    ),
    ("ALTER TABLE t ALTER COLUMN a bigint NOT NULL SELECT 1", ["ALTER TABLE t ALTER COLUMN a bigint NOT NULL", "SELECT 1"]),
    ("GRANT SELECT ON SCHEMA::dbo TO [x] SELECT 1", ["GRANT SELECT ON SCHEMA::dbo TO [x]", "SELECT 1"]),
    (
        "GRANT SELECT, INSERT ON SCHEMA::app TO [a], [b] WITH GRANT OPTION DENY DELETE TO [a]",
        ["GRANT SELECT, INSERT ON SCHEMA::app TO [a], [b] WITH GRANT OPTION", "DENY DELETE TO [a]"],
    ),
    (
        "CREATE USER [x] FROM EXTERNAL PROVIDER ALTER ROLE db_datareader ADD MEMBER [x] ALTER ROLE db_datawriter DROP MEMBER [x]",
        ["CREATE USER [x] FROM EXTERNAL PROVIDER", "ALTER ROLE db_datareader ADD MEMBER [x]", "ALTER ROLE db_datawriter DROP MEMBER [x]"],
    ),
    (
        "EXEC sp_getapplock @Resource = N'x', @LockMode = 'Exclusive' SELECT 1",
        ["EXEC sp_getapplock @Resource = N'x', @LockMode = 'Exclusive'", "SELECT 1"],
    ),
    (
        "DECLARE @t TABLE (id int) INSERT INTO @t VALUES (1) SELECT * FROM @t",
        ["DECLARE @t TABLE (id int)", "INSERT INTO @t VALUES (1)", "SELECT * FROM @t"],
    ),
    ("SET @x = 1 SELECT @x", ["SET @x = 1", "SELECT @x"]),
    ("IF 1 = 1 SELECT 1 ELSE SELECT 2 SELECT 3", ["IF 1 = 1 SELECT 1 ELSE SELECT 2", "SELECT 3"]),
    (
        "IF EXISTS (SELECT 1 FROM t) BEGIN UPDATE t SET a = 1; SELECT 2; END ELSE DELETE t SELECT 9",
        ["IF EXISTS (SELECT 1 FROM t) BEGIN UPDATE t SET a = 1; SELECT 2; END ELSE DELETE t", "SELECT 9"],
    ),
    ("WHILE @i < 3 BEGIN SET @i = @i + 1 END PRINT 'x'", ["WHILE @i < 3 BEGIN SET @i = @i + 1 END", "PRINT 'x'"]),
    (
        "BEGIN TRY SELECT 1 END TRY BEGIN CATCH SELECT 2 END CATCH SELECT 3",
        ["BEGIN TRY SELECT 1 END TRY BEGIN CATCH SELECT 2 END CATCH", "SELECT 3"],
    ),
    ("CREATE VIEW v AS SELECT 1 AS a; SELECT 2", ["CREATE VIEW v AS SELECT 1 AS a; SELECT 2"]),
    ("SELECT 'SET NOCOUNT ON INSERT' -- SELECT\n SELECT [select] /* ; */", ["SELECT 'SET NOCOUNT ON INSERT'", "SELECT [select]"]),
    (";; SELECT 1;;", ["SELECT 1"]),
]


@pytest.mark.parametrize(("sql", "expected"), CASES)
def test_statement_boundaries(sql: str, expected: list[str]) -> None:
    assert [s.text for s in batch.split(sql)] == expected


def test_if_knows_where_its_branches_begin() -> None:
    (st,) = batch.split("IF @a = 1 SELECT 1 ELSE SELECT 2")
    assert st.toks[st.body].text == "SELECT" and st.toks[st.orelse - 1].text.upper() == "ELSE"


def test_an_unclosed_string_is_a_lex_error() -> None:
    with pytest.raises(lexer.LexError):
        batch.split("SELECT 'abc")


_PIECES = st.sampled_from(
    [
        "SET NOCOUNT ON", "SET XACT_ABORT OFF", "SET LOCK_TIMEOUT 100", "INSERT INTO t (a) VALUES (1)", "UPDATE t SET a = a + 1",
        "DELETE FROM t WHERE a = 2", "SELECT a FROM t", "BEGIN TRAN", "COMMIT", "ROLLBACK TRANSACTION", "GRANT SELECT TO [u]",
        "SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END FROM t", "INSERT INTO t SELECT a FROM t", "EXEC sp_releaseapplock 'r'",
        "PRINT N'hi'", "DECLARE @n int = 1", "SET @n = @n + 1", "IF @n > 1 SELECT 1 ELSE SELECT 2", "DROP TABLE IF EXISTS t",
    ]
)  # fmt: skip


@given(st.lists(st.tuples(_PIECES, st.sampled_from([";", " ", "\n", "\r\n", "; ", "\t"])), min_size=1, max_size=10))
def test_every_statement_is_found_and_nothing_is_lost(parts: list[tuple[str, str]]) -> None:
    sql = "".join(p + sep for p, sep in parts)
    found = [s.text for s in batch.split(sql)]
    assert found == [p for p, _ in parts]


# Every SET option the sandbox knows, in each form it takes (sql-docs: SET Statements (Transact-SQL)).
_OPTION_FORMS = [
    *(f"SET {o} {v}" for o in ("NOCOUNT", "XACT_ABORT", "ANSI_NULLS", "ANSI_PADDING", "ANSI_WARNINGS", "ANSI_NULL_DFLT_ON",
                                "ANSI_DEFAULTS", "QUOTED_IDENTIFIER", "ARITHABORT", "ARITHIGNORE", "CONCAT_NULL_YIELDS_NULL",
                                "NUMERIC_ROUNDABORT", "IMPLICIT_TRANSACTIONS", "CURSOR_CLOSE_ON_COMMIT", "FMTONLY",
                                "NO_BROWSETABLE", "SHOWPLAN_ALL") for v in ("ON", "OFF")),
    "SET STATISTICS IO ON", "SET STATISTICS TIME, IO OFF", "SET ANSI_NULLS, ANSI_WARNINGS ON", "SET TEXTSIZE 2147483647",
    "SET LOCK_TIMEOUT -1", "SET LOCK_TIMEOUT 0", "SET DATEFORMAT mdy", "SET DATEFIRST 7", "SET LANGUAGE us_english",
    "SET DEADLOCK_PRIORITY LOW", "SET DEADLOCK_PRIORITY -5", "SET ROWCOUNT 0", "SET CONTEXT_INFO 0x01",
    "SET QUERY_GOVERNOR_COST_LIMIT 0", "SET IDENTITY_INSERT [app].[orders] ON",
    *(f"SET TRANSACTION ISOLATION LEVEL {lvl}" for lvl in ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SNAPSHOT", "SERIALIZABLE")),
]  # fmt: skip
_NEXT = [
    "INSERT INTO t (a) VALUES (1)", "INSERT t DEFAULT VALUES", "UPDATE t SET a = 1", "DELETE FROM t", "DELETE t WHERE a = 1",
    "SELECT 1", "WITH c AS (SELECT 1 AS a) SELECT a FROM c", "MERGE t USING s ON t.a = s.a WHEN MATCHED THEN DELETE;",
    "EXEC sp_who", "EXECUTE sp_help 't'", "DECLARE @a int", "SET @a = 1", "PRINT 'x'", "BEGIN TRAN", "COMMIT", "ROLLBACK",
    "SAVE TRAN s", "CREATE TABLE t (a int)", "ALTER TABLE t ADD b int", "DROP TABLE t", "TRUNCATE TABLE t", "GRANT SELECT TO [u]",
    "DENY INSERT TO [u]", "REVOKE SELECT FROM [u]", "CREATE USER [u] FROM EXTERNAL PROVIDER", "ALTER ROLE r ADD MEMBER [u]",
    "IF 1 = 1 SELECT 1", "WHILE 1 = 0 SELECT 1", "BEGIN SELECT 1 END", "USE appdb", "RAISERROR ('x', 16, 1)", "THROW 50000, 'x', 1",
    "WAITFOR DELAY '00:00:01'", "RETURN", "SET NOCOUNT OFF",
]  # fmt: skip


@given(
    option=st.sampled_from(_OPTION_FORMS),
    after=st.sampled_from(_NEXT),
    gap=st.sampled_from([" ", "\n", "\r\n", "\t", " -- c\n", " /* c */ "]),
)
def test_set_option_then_any_statement_without_a_separator(option: str, after: str, gap: str) -> None:
    assert [s.text for s in batch.split(option + gap + after)] == [option, after.removesuffix(";")]


_FIRSTS = [
    *(a for a in _NEXT if not a.startswith(("IF", "WHILE", "RETURN", "DECLARE", "SET @", "MERGE", "PRINT", "RAISERROR", "THROW"))),
    "ALTER DATABASE CURRENT SET READ_COMMITTED_SNAPSHOT ON", "ALTER DATABASE d SET ANSI_NULLS ON",
    "ALTER TABLE t SET (LOCK_ESCALATION = AUTO)", "CREATE TABLE c (a int REFERENCES p (a) ON DELETE CASCADE)",
    "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (b) ON UPDATE CASCADE ON DELETE SET NULL",
]  # fmt: skip


def test_any_statement_then_any_statement_on_the_next_line() -> None:
    """Every pair: a statement whose grammar can end there, then any statement kind, is two statements."""
    wrong = []
    for first in _FIRSTS:
        for after in _NEXT:
            found = [s.text for s in batch.split(first + "\n" + after)]
            if found != [first, after.removesuffix(";")]:
                wrong.append(found)
    assert wrong == []


# --- long comments are cut before sqlglot's tokenizer sees them (batch.LONG_COMMENT) -------------------------------

# Comment bodies with what could make two readers disagree: quotes, brackets, block comment delimiters, \r, a second
# "--"; and gaps that open a block comment (nested, as T-SQL nests them) or a string around a line comment.
_BODY = st.lists(st.sampled_from([*"ab '\"[]*/-\r;N", "*/", "/*", "--", "''"]), max_size=40).map("".join)
_GAP = st.one_of(
    st.sampled_from([" ", "\n", "\r\n", "\t"]),
    st.builds(lambda body: f" --{body}\n", _BODY),
    st.builds(lambda body: f" /* {body} */ ", _BODY.filter(lambda b: "*/" not in b and "/*" not in b)),
    st.builds(lambda a, b: f" /* {a} /* {b} */ */ ", _BODY, _BODY),
    st.builds(lambda body: f" /* --{body}\n */ ", _BODY),
)


def _splits(sql: str) -> object:
    try:
        found = batch._split(sql)
    except lexer.LexError as exc:
        return ("LexError", str(exc))
    return [(s.text, s.toks, s.body, s.orelse, [repr(t) for t in s.kept]) for s in found]  # repr: the whole tree


@given(
    st.lists(st.tuples(_PIECES, _GAP), min_size=1, max_size=8),
    st.sampled_from(["", "'", "[", "/*", "N'"]),
    st.integers(min_value=0, max_value=6),
)
def test_cutting_long_comments_changes_nothing_the_splitter_finds(parts: list[tuple[str, str]], opener: str, cut_at: int) -> None:
    """Statements, tokens, branches, kept trees and errors are the same with comments cut after a few characters as
    with none cut: a cut is made only where sqlglot reads the comment as the sandbox's lexer does."""
    sql = opener + "".join(p + gap for p, gap in parts)
    default = batch.LONG_COMMENT
    try:
        batch.LONG_COMMENT = cut_at
        cut = _splits(sql)
        batch.LONG_COMMENT = len(sql)  # nothing is longer
        uncut = _splits(sql)
    finally:
        batch.LONG_COMMENT = default
    assert cut == uncut


def test_a_comment_of_millions_of_characters_is_cut_and_the_statements_stay_whole() -> None:
    sql = "SELECT 1 AS n -- " + "x" * 4_000_000 + "\nSELECT 'a -- b' AS [c--d] -- " + "y" * 3_000 + "\r\nSELECT 2"
    text, _, cuts = batch._tokens(sql, lexer.tokenize(sql))
    assert [c.removed for c in cuts] == [4_000_000 + 1 - batch.LONG_COMMENT, 3_000 + 1 - batch.LONG_COMMENT]  # \r\n kept
    assert len(text) == len(sql) - sum(c.removed for c in cuts)
    assert [s.text for s in batch.split(sql)] == ["SELECT 1 AS n", "SELECT 'a -- b' AS [c--d]", "SELECT 2"]


def test_a_block_comment_of_millions_of_characters_is_cut_and_its_nested_comments_kept() -> None:
    words = "a b " * 1_000_000  # sqlglot's tokenizer steps through these one by one: ~2.4 s for 4 million
    sql = f"SELECT 1 AS n /* x /* {words} */ y {words} */ SELECT 2 /* /{words}*/ SELECT 3"
    text, _, cuts = batch._tokens(sql, lexer.tokenize(sql))
    assert len(cuts) == 3 and len(text) < 5 * batch.LONG_COMMENT  # each comment cut in a stretch with no / or *
    assert [s.text for s in batch.split(sql)] == ["SELECT 1 AS n", "SELECT 2", "SELECT 3"]


# --- comments: Microsoft Learn's rules, read alike by the sandbox's lexer and sqlglot's tokenizer ---------------------


@pytest.mark.parametrize(
    ("sql", "statements"),
    [
        # "-- (Comment)": a line comment ends at a carriage return, a line feed, or both
        ("CREATE ROLE r1 -- first\rCREATE ROLE r2", ["CREATE ROLE r1", "CREATE ROLE r2"]),
        ("GRANT SELECT TO u -- x\r\nGRANT INSERT TO v --\n", ["GRANT SELECT TO u", "GRANT INSERT TO v"]),
        # "Slash Star (Block Comment)": nested comments are supported, each needing its own */
        ("SELECT 1 /* a /* b */ SELECT 2 */ SELECT 3", ["SELECT 1", "SELECT 3"]),
        ("SELECT 1 /* -- */ SELECT 2", ["SELECT 1", "SELECT 2"]),
        ("SELECT 1 /**/ SELECT 2 /*/ x */ SELECT 3", ["SELECT 1", "SELECT 2", "SELECT 3"]),
    ],
)
def test_comments_end_where_sql_server_ends_them(sql: str, statements: list[str]) -> None:
    found = batch.split(sql)
    assert [s.text for s in found] == statements
    assert all(s.toks for s in found)  # the session reads a statement's tokens: none, and it failed on the statement


def test_an_unclosed_nested_comment_is_a_lex_error() -> None:
    with pytest.raises(lexer.LexError):
        batch.split("SELECT 1 /* a /* b */ SELECT 2")


_COMMENTY = st.lists(
    st.sampled_from(["/*", "*/", "--", "\r", "\n", "/", "*", "-", " ", ";", "SELECT 1", "x", "'a'", "[b]", "/*/", "*/*"]),
    min_size=1,
    max_size=14,
).map("".join)


@given(_COMMENTY)
@settings(max_examples=examples(400))
def test_the_lexer_reads_comments_as_the_statement_finder_does(sql: str) -> None:
    """Statements are found by sqlglot's tokens and run on the lexer's: where the two read a comment differently, a
    statement had text and no tokens. Both accept or refuse the same batches, and every statement has its tokens."""
    try:
        TSQL().tokenize(sql)
        sqlglot_accepts = True
    except TokenError:
        sqlglot_accepts = False
    try:
        found = batch.split(sql)
    except lexer.LexError:
        assert not sqlglot_accepts
        return
    assert sqlglot_accepts
    assert all(s.toks for s in found), [s.text for s in found]

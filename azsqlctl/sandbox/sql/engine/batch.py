"""Splitting a T-SQL batch into statements the way SQL Server's grammar does.

Semicolons are optional in T-SQL: ``SET NOCOUNT ON INSERT INTO t ...`` is two statements,
and so is ``SET XACT_ABORT ON`` + newline + ``DELETE ...``. Keyword heuristics got this wrong
(an INSERT after ``ON`` was read as part of the SET and silently dropped), so boundaries
come from grammar instead:

* tokens are sqlglot's T-SQL tokenizer's (strings, ``[identifiers]``, comments, ``N'...'``);
* queries and DML (SELECT, WITH, INSERT, UPDATE, DELETE, MERGE, EXEC, DROP) end where
  sqlglot's T-SQL parser ends them -- checked: the parse must be a real statement of that
  kind (not sqlglot's catch-all ``Command``) followed by a statement keyword, ``;`` or
  the end of the batch, otherwise the statement's own continuation rules below apply.
  That parse is kept on the statement (``Statement.parse``), so the session does not parse
  its text a second time;
* statements sqlglot reads as an opaque ``Command`` have their grammar written out here:
  ``SET <option>[, ...] ON|OFF`` and the valued options (``LOCK_TIMEOUT -1``,
  ``TRANSACTION ISOLATION LEVEL ...``, ``IDENTITY_INSERT t ON``), BEGIN/COMMIT/ROLLBACK/
  SAVE TRAN [name], GRANT/DENY/REVOKE ... TO|FROM principals, ALTER ROLE ... ADD|DROP
  MEMBER, IF/ELSE, WHILE, BEGIN...END, BEGIN TRY/CATCH, and CREATE VIEW/PROCEDURE/FUNCTION/
  TRIGGER (whose body is the rest of the batch, as in SQL Server).

Nothing is ever dropped: every token of the batch belongs to exactly one statement (the
tests check this), and a statement the session cannot run is refused with an error.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import itertools
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlglot import Token, TokenType, exp
from sqlglot.dialects.tsql import TSQL
from sqlglot.errors import ParseError, TokenError
from sqlglot.parser import Parser

from . import lexer
from .lexer import Tok
from .translate import CACHED_TEXT, AzsqlctlTSQL, parse, release, uncommented

STARTERS = frozenset(
    {
        "SELECT", "INSERT", "UPDATE", "DELETE", "SET", "BEGIN", "COMMIT", "ROLLBACK", "SAVE", "CREATE", "ALTER",
        "DROP", "GRANT", "REVOKE", "DENY", "DECLARE", "PRINT", "EXEC", "EXECUTE", "IF", "USE", "WITH", "MERGE",
        "TRUNCATE", "WHILE", "RETURN", "RAISERROR", "THROW", "WAITFOR", "DBCC", "ELSE", "END", "BREAK", "CONTINUE",
        "GOTO", "OPEN", "CLOSE", "FETCH", "DEALLOCATE",
    }
)  # fmt: skip
# Statements that end at a statement keyword; ELSE / END only end them inside IF or BEGIN...END.
_SET_OPERATORS = frozenset({"UNION", "ALL", "EXCEPT", "INTERSECT", "AS"})
_DROPPABLE = frozenset(
    {
        "TABLE", "USER", "ROLE", "SCHEMA", "VIEW", "PROCEDURE", "PROC", "FUNCTION", "INDEX", "TRIGGER", "TYPE",
        "SEQUENCE", "SYNONYM", "DATABASE", "LOGIN", "STATISTICS", "DEFAULT", "RULE", "ASSEMBLY", "CERTIFICATE",
    }
)  # fmt: skip
# SET options that take one value rather than ON/OFF (sql-docs: SET Statements (Transact-SQL)).
_VALUED_OPTIONS = frozenset(
    {"LOCK_TIMEOUT", "DATEFORMAT", "DATEFIRST", "LANGUAGE", "TEXTSIZE", "ROWCOUNT", "DEADLOCK_PRIORITY", "CONTEXT_INFO",
     "QUERY_GOVERNOR_COST_LIMIT"}
)  # fmt: skip
_SESSION_OPTIONS = _VALUED_OPTIONS | {
    "NOCOUNT", "XACT_ABORT", "ANSI_NULLS", "ANSI_PADDING", "ANSI_WARNINGS", "ANSI_NULL_DFLT_ON", "ANSI_NULL_DFLT_OFF",
    "ANSI_DEFAULTS", "QUOTED_IDENTIFIER", "ARITHABORT", "ARITHIGNORE", "CONCAT_NULL_YIELDS_NULL", "NUMERIC_ROUNDABORT",
    "IMPLICIT_TRANSACTIONS", "CURSOR_CLOSE_ON_COMMIT", "FMTONLY", "NO_BROWSETABLE", "SHOWPLAN_ALL", "SHOWPLAN_TEXT",
    "SHOWPLAN_XML", "STATISTICS", "TRANSACTION", "IDENTITY_INSERT", "FORCEPLAN", "PARSEONLY", "NOEXEC", "REMOTE_PROC_TRANSACTIONS",
}  # fmt: skip
_ISOLATION_LEVELS = (("READ", "UNCOMMITTED"), ("READ", "COMMITTED"), ("REPEATABLE", "READ"), ("SNAPSHOT",), ("SERIALIZABLE",))
_WHOLE_BATCH = frozenset({"VIEW", "PROCEDURE", "PROC", "FUNCTION", "TRIGGER"})  # CREATE ... AS <body to the batch's end>
_PARSED_BY_SQLGLOT: dict[str, tuple[type[exp.Expression], ...]] = {
    "SELECT": (exp.Select, exp.SetOperation, exp.Subquery),
    "WITH": (exp.Select, exp.SetOperation, exp.Insert, exp.Update, exp.Delete, exp.Merge),
    "INSERT": (exp.Insert,),
    "UPDATE": (exp.Update,),
    "DELETE": (exp.Delete,),
    "MERGE": (exp.Merge,),
    "EXEC": (exp.Execute,),
    "EXECUTE": (exp.Execute,),
    "DROP": (exp.Drop,),
}


class _BatchDialect(AzsqlctlTSQL):
    """The translator's T-SQL dialect (its parser: a kept tree is the one translate.parse gives), with one fix for
    splitting: no token swallows the rest of the batch.

    sqlglot reads what follows ``END``/``FETCH``/``SHOW`` at a statement's start as one opaque string (for other
    dialects' ``END TRANSACTION``); in T-SQL ``END`` closes a block and the statements after it must be seen. (Inside
    a kept statement no such token follows a ``;`` or ``BEGIN``, the only places where the two tokenizers differ:
    ``;`` ends the chunk parsed and ``BEGIN`` starts a statement.)
    """

    class Tokenizer(TSQL.Tokenizer):
        COMMANDS: ClassVar[set[TokenType]] = set()


_DIALECT = _BatchDialect()
_NAMES = frozenset({TokenType.VAR, TokenType.IDENTIFIER})


@dataclass(frozen=True)
class Statement:
    toks: list[Tok]
    text: str
    body: int = 0  # IF / WHILE: where the statement the condition guards begins, in ``toks``
    orelse: int = 0  # IF ... ELSE: where the ELSE branch's statement begins, in ``toks`` (0: no ELSE)
    # The splitter's parse of ``text`` (comments removed), when sqlglot found where the statement ends, until ``parse``
    # hands it out: a list of at most one tree, whose pop is atomic (a cached batch's statements are shared by sessions).
    kept: list[exp.Expr] = field(default_factory=list, compare=False, repr=False)

    @property
    def first(self) -> str:
        return self.toks[0].text.upper() if self.toks and self.toks[0].kind == "word" else ""

    def parse(self) -> Any:
        """The statement's tree, the caller's own, as translate.parse(text) gives it (with its errors, when it fails).

        Callers rewrite their tree in place, so the kept tree goes to the first caller only (a generated statement,
        run once, is parsed once and never copied); a cached batch run again parses through translate's cache, which
        hands out copies (copying costs a third of parsing)."""
        with contextlib.suppress(IndexError):  # pop, not a test then a pop: sessions share a cached batch's statements
            return self.kept.pop()
        # Parsed after the handler, not in it: a syntax error raised there would hold the IndexError and its frames.
        return parse(self.text)


@dataclass(frozen=True)
class _Extent:
    start: int  # token indexes, end exclusive
    end: int
    body: int = -1
    orelse: int = -1
    tree: exp.Expr | None = None


def split(sql: str) -> list[Statement]:
    """The batch's statements; raises lexer.LexError for an unclosed string, identifier or comment.

    Batches up to translate.CACHED_TEXT characters are remembered (the same statements come back from every
    connection of an application: splitting one costs ~200 us); the list is the caller's, its statements shared."""
    if len(sql) > CACHED_TEXT:
        return _split(sql)
    return list(_split_cached(sql))


@functools.lru_cache(maxsize=1024)
def _split_cached(sql: str) -> tuple[Statement, ...]:
    return tuple(_split(sql))


def _split(sql: str) -> list[Statement]:
    ltoks = lexer.tokenize(sql)
    try:
        text, gtoks, cuts = _tokens(sql, ltoks)
    except TokenError as exc:  # the sandbox's lexer accepted what sqlglot's did not: one statement, refused by the parser
        exc.__traceback__ = None  # its frames hold the tokenizer, which holds the batch (see _Splitter.trees)
        if not ltoks:
            return []
        raise lexer.LexError(str(exc)) from None
    extents = _Splitter(text, gtoks).all()
    if cuts:
        _restore_positions(gtoks, cuts)
    starts, ends = [t.start for t in ltoks], [t.end for t in ltoks]
    return [_statement(sql, ltoks, starts, ends, gtoks, e) for e in extents]


# A comment longer than this reaches sqlglot's tokenizer cut to about this length: that tokenizer walks a comment in
# Python a character at a time (a 16-million-character line comment took ~1.1 s of CPU, a 4-million-character block
# comment of words 2.4 s, holding the interpreter lock that every session needs), and nothing downstream reads a
# comment (trees drop them: translate.uncommented; a statement's text is cut from the batch itself).
LONG_COMMENT = 1024


@dataclass(frozen=True)
class _Cut:
    start: int  # where the comment's "--" or "/*" is, in the cut text
    at: int  # where its kept part ends (its \r or \n, the batch's end, or inside a block comment), in the cut text
    removed: int  # characters removed there


def _tokens(sql: str, ltoks: list[Tok]) -> tuple[str, list[Token], list[_Cut]]:
    """sqlglot's tokens, the text they index and the cuts made in it: ``sql`` with its long comments cut when
    sqlglot reads each of them as a comment too (no token of its touches one), else ``sql`` as it is."""
    text, cuts = _cut_long_comments(sql, ltoks)
    if cuts:
        with contextlib.suppress(TokenError):  # then sqlglot reads the batch as it is, and its error is the one raised
            gtoks = _DIALECT.tokenize(text)
            starts = [t.start for t in gtoks]
            # A token from a cut comment's start to its cut: sqlglot read something else there (a string, code).
            if not any((k := bisect.bisect_left(starts, c.at)) and gtoks[k - 1].end >= c.start for c in cuts):
                return text, gtoks, cuts
    return sql, _DIALECT.tokenize(sql), []


def _cut_long_comments(sql: str, ltoks: list[Tok]) -> tuple[str, list[_Cut]]:
    """``sql`` with its long comments (as the sandbox's lexer reads the batch) cut to about LONG_COMMENT characters:

    * a line comment, after its first LONG_COMMENT characters (the scan goes through the batch in order, so a ``/*``
      or ``*/`` in it is its text, for both tokenizers);
    * a block comment, in each long stretch that holds no ``/`` or ``*`` (its first and last characters kept, so
      none is joined to another into a delimiter): every nested comment stays as it was.

    The two tokenizers read comments alike (lexer.py), and _tokens checks that sqlglot read each cut one as a comment."""
    if len(sql) <= LONG_COMMENT + 4 or ("--" not in sql and "/*" not in sql):
        return sql, []
    pieces: list[str] = []
    cuts: list[_Cut] = []
    kept = removed = 0  # the end of the last piece, in sql; characters removed so far
    ends = [t.end for t in ltoks]
    at = 0
    while (opener := _COMMENT_OPENER.search(sql, at)) is not None:
        i = opener.start()
        k = bisect.bisect_right(ends, i)  # the first token ending after i: is i between tokens (a comment's start)?
        if k < len(ltoks) and ltoks[k].start <= i:
            at = ltoks[k].end  # inside a token (a string, an identifier)
            continue
        if opener.group() == "/*":
            at = lexer.block_comment_end(sql, i)  # closed: the lexer read the batch
            # Each long stretch free of / and * loses all but its ends: no delimiter goes, and none is made.
            spans = [(m.start() + 1, m.end() - 1) for m in _plain_stretch(LONG_COMMENT).finditer(sql, i + 2, at - 2)]
        else:
            at = lexer.line_comment_end(sql, i)
            spans = [(i + 2 + LONG_COMMENT, at)] if at > i + 2 + LONG_COMMENT else []
        start = i - removed  # the comment's start in the cut text, for each of its cuts
        for cut, resume in spans:
            pieces.append(sql[kept:cut])
            cuts.append(_Cut(start, cut - removed, resume - cut))
            removed += resume - cut
            kept = resume
    if not cuts:
        return sql, []
    pieces.append(sql[kept:])
    return "".join(pieces), cuts


_COMMENT_OPENER = re.compile(r"--|/\*")


@functools.cache
def _plain_stretch(long: int) -> re.Pattern[str]:
    """Runs of more than ``long`` characters, none of them / or * (a function of LONG_COMMENT: tests lower it)."""
    return re.compile(f"[^/*]{{{max(long, 1) + 2},}}")


def _restore_positions(gtoks: list[Token], cuts: list[_Cut]) -> None:
    """Token offsets in the cut text -> offsets in the batch (no token overlaps a cut: _tokens checked)."""
    ats = [c.at for c in cuts]
    shift = list(itertools.accumulate(c.removed for c in cuts))
    for t in gtoks:
        k = bisect.bisect_right(ats, t.start)
        if k:
            t.start += shift[k - 1]
            t.end += shift[k - 1]


def _release(trees: list[exp.Expr | None] | None) -> None:
    """Take apart trees not kept. They hold the chunk's comments and literals (up to the rest of the batch: megabytes)
    and, through parent links, are reference cycles the cyclic collector of an idle sandbox rarely frees."""
    for t in trees or []:
        release(t)


def _statement(sql: str, ltoks: list[Tok], starts: list[int], ends: list[int], gtoks: list[Token], e: _Extent) -> Statement:
    """The statement of extent ``e``: its text, and the sandbox lexer's tokens that lie within it (``starts`` and
    ``ends`` are theirs: the lexer's tokens are in order and do not overlap, so those within are one run of them,
    found by bisection -- a filter over the whole batch per statement made a batch of n statements cost n**2)."""
    start, end = gtoks[e.start].start, gtoks[e.end - 1].end + 1
    toks = ltoks[bisect.bisect_left(starts, start) : bisect.bisect_right(ends, end)]

    def at(g: int) -> int:
        if g < 0:
            return 0
        char = gtoks[g].start
        return next((k for k, t in enumerate(toks) if t.start >= char), len(toks))

    return Statement(toks, sql[start:end], at(e.body), at(e.orelse), [] if e.tree is None else [e.tree])


# How many cuts past the first a statement sqlglot parses may run to (see _Splitter.parsed).
GROW = 8


@dataclass
class _Levels:
    """A batch's sqlglot tokens, indexed (by _Splitter.levels)."""

    words: list[str] = field(default_factory=list)  # the keyword at each token, or ""
    depths: list[int] = field(default_factory=lambda: [0])  # parenthesis depth before each token, and after the last
    semicolons: dict[int, list[int]] = field(default_factory=dict)  # depth -> where the ``;`` at that depth are
    keywords: dict[int, list[int]] = field(default_factory=dict)  # depth -> where the keywords at that depth are
    keyword: dict[tuple[int, str], list[int]] = field(default_factory=dict)  # (depth, keyword) -> where it is


class _Splitter:
    def __init__(self, sql: str, toks: list[Token]) -> None:
        self.sql, self.toks, self.n = sql, toks, len(toks)

    # --- tokens ------------------------------------------------------------------------------------

    def word(self, i: int) -> str:
        """The keyword at ``i`` (upper-cased), or "" for anything that cannot be one (strings, [names], @vars, t.col)."""
        return self.levels.words[i] if 0 <= i < self.n else ""

    def _keyword(self, i: int) -> str:
        tok = self.toks[i]
        if tok.token_type in (TokenType.IDENTIFIER, TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.NUMBER):
            return ""
        before = self.toks[i - 1] if i > 0 else None
        if before is not None and before.token_type in (TokenType.PARAMETER, TokenType.DOT, TokenType.HASH) and before.end + 1 == tok.start:
            return ""
        return tok.text.upper() if tok.text[:1].isalpha() or tok.text[:1] == "_" else ""

    def is_semicolon(self, i: int) -> bool:
        return i < self.n and self.toks[i].token_type == TokenType.SEMICOLON

    def starts(self, i: int) -> bool:
        """A statement (or a block's end) can begin at ``i``: a statement keyword, ``;`` or the batch's end."""
        return i >= self.n or self.is_semicolon(i) or self.word(i) in STARTERS

    def skip_parens(self, i: int) -> int:
        """From a ``(`` at ``i``, the index after its matching ``)`` (or the end)."""
        depth = 0
        while i < self.n:
            t = self.toks[i].token_type
            depth += t == TokenType.L_PAREN
            depth -= t == TokenType.R_PAREN
            i += 1
            if depth <= 0:
                break
        return i

    def name(self, i: int) -> int:
        """After one (possibly dotted, possibly @variable or #temp) name starting at ``i``."""
        while i < self.n and self.toks[i].token_type in (TokenType.PARAMETER, TokenType.HASH):
            i += 1  # @v, @@SPID, #temp, ##global: sqlglot gives each @ or # its own token
        i += 1
        while i + 1 < self.n and self.toks[i].token_type == TokenType.DOT:
            i += 2
        return min(i, self.n)

    # --- statements ---------------------------------------------------------------------------------

    def all(self) -> list[_Extent]:
        out, i = [], 0
        while i < self.n:
            if self.is_semicolon(i):
                i += 1
                continue
            e = self.statement(i)
            out.append(e)
            i = e.end
        return out

    def statement(self, i: int) -> _Extent:
        """The statement beginning at token ``i``; it always covers at least that token."""
        w = self.word(i)
        if w in ("IF", "WHILE"):
            return self.conditional(i, w == "IF")
        if w == "BEGIN":
            nxt = self.word(i + 1)
            if nxt in ("TRAN", "TRANSACTION", "DISTRIBUTED"):
                return _Extent(i, self.transaction(i))
            return _Extent(i, self.block(i))
        if w in ("COMMIT", "ROLLBACK", "SAVE"):
            return _Extent(i, self.transaction(i))
        if w == "SET":
            return _Extent(i, self.set(i))
        if w in ("GRANT", "DENY", "REVOKE"):
            return _Extent(i, self.permission(i))
        if w in ("CREATE", "ALTER") and self.whole_batch(i):
            return _Extent(i, self.n)
        if w == "ALTER" and self.word(i + 1) == "ROLE":
            return _Extent(i, self.alter_role(i))
        if w == "CREATE" and self.word(i + 1) == "SCHEMA":
            return _Extent(i, self.create_schema(i))
        if w == "INSERT" and (end := self.default_values(i)):
            return _Extent(i, end)
        if w in _PARSED_BY_SQLGLOT:
            end, tree = self.parsed(i, w)
            if end:
                return _Extent(i, end, tree=tree)
        return _Extent(i, self.scan(i, w))

    def parsed(self, i: int, w: str) -> tuple[int, exp.Expr | None]:
        """Where sqlglot's parser ends the statement at ``i``, and its tree; 0 when its reading cannot be trusted."""
        end = self.chunk_end(i)
        parser = _DIALECT.parser()
        kinds = _PARSED_BY_SQLGLOT[w]
        # Where the grammar may end the statement (sqlglot accepts some unfinished statements, ``UPDATE t``: it is
        # cut only there), in order.
        cuts = (j for j in range(i + 1, end) if self.starts(j) and self.depth(i, j) == 0 and not self.continues(i, j, w))
        first = next(cuts, None)
        if first is not None:
            # Tokens up to the first cut that parse as one statement of its kind are where the chunk's reading below
            # would end it too (a chunk that fails to parse is cut at the first cut, by scan): parsed alone, the
            # statement is parsed once, not once with the rest of the batch (which fails at the next statement
            # when no ``;`` separates them) and again alone.
            one = self.trees(parser, i, first)
            if one is not None and len(one) == 1 and isinstance(one[0], kinds):
                return first, uncommented(one[0])
            _release(one)
        # The statement may run past its first cut (the grammar continues it where the cut rules did not see it). The
        # next cuts, up to GROW of them, are tried in turn when the tokens up to the cut after them parse at all:
        # parse() reads them as any number of statements and does not say where each ended, so the boundary is found
        # by growing the chunk until it parses as exactly one statement of its kind (tokens it cannot read are cut at
        # the first cut, by scan). A window, not the rest of the chunk: parsing the rest for each statement made a
        # batch of n statements without ``;`` cost n**2.
        later = list(itertools.islice(cuts, GROW))
        horizon = next(cuts, end)
        found = self.trees(parser, i, horizon)
        if found is None:
            return 0, None
        if len(found) == 1 and isinstance(found[0], kinds) and first is None:
            return end, uncommented(found[0])
        _release(found)
        for j in later:  # the first cut was tried above
            one = self.trees(parser, i, j)
            if one is not None and len(one) == 1 and isinstance(one[0], kinds):
                return j, uncommented(one[0])
            _release(one)
        return 0, None

    def trees(self, parser: Parser, i: int, j: int) -> list[exp.Expr | None] | None:
        """What sqlglot reads tokens ``i:j`` as; None when it cannot parse them.

        A parse error is a reference cycle (its traceback holds the frame that holds the error, and the parser with
        the batch): left to the cyclic collector, which an idle sandbox rarely runs, it outlived the session. It is
        taken apart here; trees not kept are, by the caller (_release)."""
        try:
            return list(parser.parse(self.toks[i:j], self.sql))
        except ParseError as exc:
            exc.__traceback__ = None
            return None
        finally:
            parser.reset()

    @functools.cached_property
    def levels(self) -> _Levels:
        """The batch's keywords and parenthesis depths, indexed once: the questions asked for each statement (where its
        chunk ends, which keywords it holds at its own depth) are then answered without walking the rest of the batch
        or the statement so far (each walk made a batch of n statements, or a statement of n CASEs, cost n**2)."""
        levels, d = _Levels(), 0
        for k, tok in enumerate(self.toks):
            t = tok.token_type
            w = self._keyword(k)
            levels.words.append(w)
            if t == TokenType.SEMICOLON:
                levels.semicolons.setdefault(d, []).append(k)
            elif w:
                levels.keywords.setdefault(d, []).append(k)
                levels.keyword.setdefault((d, w), []).append(k)
            d += (t == TokenType.L_PAREN) - (t == TokenType.R_PAREN)
            levels.depths.append(d)
        return levels

    def depth(self, i: int, j: int) -> int:
        """How many more ``(`` than ``)`` tokens ``i:j`` hold."""
        depths = self.levels.depths
        return depths[j] - depths[i]

    def count(self, i: int, j: int, word: str, lo: int = -1) -> int:
        """How many times ``word`` is a keyword of tokens ``lo:j`` (``i:j`` by default) at the depth of token ``i``."""
        at = self.levels.keyword.get((self.levels.depths[i], word), [])
        return bisect.bisect_left(at, j) - bisect.bisect_left(at, max(i, lo))

    def second_word(self, i: int, j: int) -> str:
        """The keyword after the one at ``i`` among tokens ``i:j`` at the depth of token ``i``, or ""."""
        at = self.levels.keywords.get(self.levels.depths[i], [])
        k = bisect.bisect_right(at, i)
        return self.word(at[k]) if k < len(at) and at[k] < j else ""

    def chunk_end(self, i: int) -> int:
        """The next ``;`` at parenthesis depth 0 (counted from ``i``), or the end."""
        at = self.levels.semicolons.get(self.levels.depths[i], [])
        k = bisect.bisect_left(at, i)
        return at[k] if k < len(at) else self.n

    def scan(self, i: int, w: str) -> int:
        """The statement at ``i`` ends at the first depth-0 statement keyword that does not continue it."""
        j, depth = i + 1, 0
        while j < self.n:
            t = self.toks[j].token_type
            if t == TokenType.SEMICOLON and depth == 0:
                return j
            if t == TokenType.L_PAREN:
                depth += 1
            elif t == TokenType.R_PAREN:
                depth = max(depth - 1, 0)
            elif depth == 0 and self.word(j) in STARTERS and not self.continues(i, j, w):
                return j
            j += 1
        return j

    def continues(self, i: int, j: int, first: str) -> bool:
        """Whether the statement keyword at ``j`` continues the statement that began at ``i`` with ``first`` (the
        keyword at ``i``; ``has`` and ``count`` look at the keywords between them at the statement's own depth)."""
        word, prev = self.word(j), self.word(j - 1)

        def has(*words: str, after_first: bool = False) -> bool:
            return any(self.count(i, j, w, i + after_first) for w in words)

        if word in ("ELSE", "END"):
            return self.count(i, j, "CASE") > self.count(i, j, "END")  # CASE ... ELSE ... END inside the statement
        if word == "FETCH":
            return prev in ("ROW", "ROWS")  # OFFSET n ROWS FETCH NEXT m ROWS ONLY
        if word in ("BREAK", "CONTINUE", "GOTO", "OPEN", "CLOSE", "DEALLOCATE"):
            return False
        if first == "WITH" and not has("SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", after_first=True):
            return True  # the CTE's main statement
        if word == "SELECT":
            if prev in _SET_OPERATORS:
                return True
            if first == "DECLARE" and prev == "FOR":
                return True  # DECLARE c CURSOR FOR SELECT
            return first in ("INSERT", "WITH") and not has("SELECT", "VALUES")
        if word in ("INSERT", "UPDATE", "DELETE"):
            if prev == "ON":  # only a foreign key's ON DELETE / ON UPDATE: after SET ... ON a new statement starts
                return word != "INSERT" and has("REFERENCES")
            return prev in ("FOR", "AFTER", "OF") or first == "MERGE"
        if word == "SET":
            if first == "UPDATE" and not has("SET"):
                return True
            if (
                first == "ALTER"
                and not has("SET", after_first=True)
                and self.toks[min(j + 1, self.n - 1)].token_type != TokenType.PARAMETER
            ):
                # ALTER DATABASE ... SET <option>, ALTER TABLE ... SET (...); a session SET option starts a statement
                return self.second_word(i, j) == "DATABASE" or self.word(j + 1) not in _SESSION_OPTIONS
            return first == "MERGE" or prev in ("DELETE", "UPDATE")
        if word == "ALTER":
            return first == "ALTER" and self.word(j + 1) == "COLUMN"
        if word == "DROP":
            return first == "ALTER" and self.word(j + 1) not in _DROPPABLE
        if word == "IF":
            return prev in _DROPPABLE or (prev == "COLUMN" and first == "ALTER") or prev == "CONSTRAINT"
        if word in ("EXEC", "EXECUTE"):
            return prev == "AS" or (first in ("INSERT", "WITH") and not has("SELECT", "VALUES"))
        if word == "WITH":
            return not self.starts_cte(j)
        return False

    def starts_cte(self, j: int) -> bool:
        """``WITH name AS (`` or ``WITH name (cols) AS (``; every other WITH (hints, options, CHECK) continues."""
        if self.word(j + 1) in ("CHECK", "NOCHECK", "GRANT", "MARK", "RESULT", "EXECUTE", "ROLLUP", "CUBE", "TIES"):
            return False
        if j + 1 < self.n and self.toks[j + 1].token_type == TokenType.L_PAREN:
            return False
        after = self.name(j + 1)
        if after < self.n and self.toks[after].token_type == TokenType.L_PAREN:
            after = self.skip_parens(after)
        return self.word(after) == "AS"

    # --- statements with their grammar written out --------------------------------------------------

    def default_values(self, i: int) -> int:
        """``INSERT [INTO] t [(cols)] DEFAULT VALUES`` ends after VALUES (sqlglot reads past it)."""
        j = i + 1 + (self.word(i + 1) == "INTO")
        j = self.name(j)
        if j < self.n and self.toks[j].token_type == TokenType.L_PAREN:
            j = self.skip_parens(j)
        if self.word(j) == "DEFAULT" and self.word(j + 1) == "VALUES":
            return j + 2
        return 0

    def conditional(self, i: int, is_if: bool) -> _Extent:
        """``IF <condition> <statement> [ELSE <statement>]`` / ``WHILE <condition> <statement>``: one statement."""
        j, depth = i + 1, 0
        while j < self.n:
            t = self.toks[j].token_type
            depth += t == TokenType.L_PAREN
            depth -= t == TokenType.R_PAREN
            if depth == 0 and j > i + 1 and (self.is_semicolon(j) or self.word(j) in STARTERS - {"ELSE", "END"}):
                break
            j += 1
        if j >= self.n or self.is_semicolon(j):
            return _Extent(i, j)  # a condition without its statement: the session answers 102
        body = self.statement(j)
        end, orelse = body.end, -1
        k = end + (self.is_semicolon(end) and is_if and self.word(end + 1) == "ELSE")
        if is_if and self.word(k) == "ELSE" and k + 1 < self.n:
            orelse = k + 1
            end = self.statement(k + 1).end
        return _Extent(i, end, body=j, orelse=orelse)

    def block(self, i: int) -> int:
        """``BEGIN ... END`` and ``BEGIN TRY ... END TRY BEGIN CATCH ... END CATCH``: one statement each."""
        try_block = self.word(i + 1) == "TRY"
        j = i + 1 + try_block
        while j < self.n:
            if self.is_semicolon(j):
                j += 1
                continue
            if self.word(j) == "END":
                j += 1
                if try_block and self.word(j) == "TRY":
                    j += 1
                    if self.word(j) == "BEGIN" and self.word(j + 1) == "CATCH":
                        return self.block(j)
                elif self.word(j) in ("TRY", "CATCH"):
                    j += 1
                return j
            j = self.statement(j).end
        return j

    def transaction(self, i: int) -> int:
        """BEGIN [DISTRIBUTED] TRAN [name] [WITH MARK ['...']], COMMIT|ROLLBACK [TRAN|WORK] [name], SAVE TRAN name."""
        j = i + 1 + (self.word(i + 1) == "DISTRIBUTED")
        if self.word(j) in ("TRAN", "TRANSACTION", "WORK"):
            j += 1
        named = j < self.n and (self.toks[j].token_type in _NAMES or self.toks[j].token_type == TokenType.PARAMETER)
        if named and not self.starts(j) and self.word(j) != "WITH":
            j = self.name(j)
        if self.word(j) == "WITH" and self.word(j + 1) == "MARK":
            j += 2 + (j + 2 < self.n and self.toks[j + 2].token_type in (TokenType.STRING, TokenType.NATIONAL_STRING))
        elif self.word(j) == "WITH" and j + 1 < self.n and self.toks[j + 1].token_type == TokenType.L_PAREN:
            j = self.skip_parens(j + 1)  # COMMIT WITH (DELAYED_DURABILITY = ON)
        return j

    def set(self, i: int) -> int:
        j = i + 1
        if j < self.n and self.toks[j].token_type == TokenType.PARAMETER:
            return self.scan(i, "SET")  # SET @v = <expression>
        option = self.word(j)
        if option == "TRANSACTION":
            j += 1
            j += (self.word(j) == "ISOLATION") + (self.word(j + 1) == "LEVEL")
            for level in _ISOLATION_LEVELS:
                if [self.word(j + k) for k in range(len(level))] == list(level):
                    return j + len(level)
            return self.scan(i, "SET")
        if option in _VALUED_OPTIONS:
            j += 1
            if j < self.n and self.toks[j].token_type in (TokenType.DASH, TokenType.PLUS):
                j += 1
            return min(j + 1, self.n)
        if option == "IDENTITY_INSERT":
            j = self.name(j + 1)
            return j + (self.word(j) in ("ON", "OFF"))
        while j < self.n and not self.is_semicolon(j):  # SET <option>[, <option> ...] ON|OFF
            if self.word(j) in ("ON", "OFF"):
                return j + 1
            if self.word(j) in STARTERS:
                return j
            j += 1
        return j

    def permission(self, i: int) -> int:
        """GRANT|DENY|REVOKE [GRANT OPTION FOR] perms [ON [class::]securable] TO|FROM principals [WITH GRANT OPTION] [CASCADE] [AS p]."""
        j = i + 1
        while j < self.n and self.word(j) not in ("TO", "FROM") and not self.is_semicolon(j):
            j += 1
        if self.word(j) not in ("TO", "FROM"):
            return j
        j = self.name(j + 1)
        while j < self.n and self.toks[j].token_type == TokenType.COMMA:
            j = self.name(j + 1)
        if self.word(j) == "WITH" and self.word(j + 1) == "GRANT" and self.word(j + 2) == "OPTION":
            j += 3
        if self.word(j) == "CASCADE":
            j += 1
        if self.word(j) == "AS":
            j = self.name(j + 1)
        return j

    def create_schema(self, i: int) -> int:
        """CREATE SCHEMA name [AUTHORIZATION owner] [schema elements]: the CREATE TABLE/VIEW, GRANT, REVOKE and DENY
        that follow are the statement's own (Microsoft Learn, "CREATE SCHEMA"), so the rest of the batch is."""
        j = self.name(i + 2) if self.word(i + 2) != "AUTHORIZATION" else i + 2
        if self.word(j) == "AUTHORIZATION":
            j = self.name(j + 1)
        if self.word(j) in ("CREATE", "GRANT", "REVOKE", "DENY"):
            return self.n
        return j

    def alter_role(self, i: int) -> int:
        """ALTER ROLE name ADD|DROP MEMBER principal | WITH NAME = new."""
        j = self.name(i + 2)
        if self.word(j) in ("ADD", "DROP") and self.word(j + 1) == "MEMBER":
            return self.name(j + 2)
        return self.scan(i, "ALTER")

    def whole_batch(self, i: int) -> bool:
        """CREATE [OR ALTER] VIEW|PROCEDURE|FUNCTION|TRIGGER, ALTER VIEW|...: the body runs to the batch's end."""
        j = i + 1
        if self.word(j) == "OR" and self.word(j + 1) == "ALTER":
            j += 2
        return self.word(j) in _WHOLE_BATCH

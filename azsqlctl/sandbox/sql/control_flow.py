"""IF ... [ELSE ...], WHILE and BEGIN ... END blocks: a batch's statements arranged as T-SQL's control flow.

The batch splitter (``batch``) yields flat statements; the block words are glued to them where the
grammar allows no separator (``IF <condition> BEGIN``, ``... END ELSE``). ``plan`` cuts those words
off (an END or ELSE inside a CASE expression stays with it), and nests the statements into blocks,
conditionals and loops. ``steps`` walks the plan, yielding each statement to run and each condition
to test; the session tests a condition and appends the verdict to ``verdicts`` before asking for
the next step, so loops run as many times as their condition holds, as in SQL Server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..lexer import Tok
from . import errors
from .batch import Statement

# Control-of-flow words the sandbox does not run: refused by name rather than misread.
_REFUSED = frozenset({"BREAK", "CONTINUE", "GOTO", "TRY", "CATCH"})
_NOT_BLOCKS = frozenset({"TRAN", "TRANSACTION", "DISTRIBUTED", "WORK"})  # BEGIN TRAN ... is a transaction


@dataclass(frozen=True)
class Run:
    statement: Statement


@dataclass(frozen=True)
class Block:
    body: list[Node]


@dataclass(frozen=True)
class If:
    condition: Statement
    then: Node
    otherwise: Node | None


@dataclass(frozen=True)
class While:
    condition: Statement
    body: Node


Node = Run | Block | If | While


@dataclass(frozen=True)
class Step:
    statement: Statement
    condition: bool = False  # test ``statement`` (a condition's text) and append the verdict


@dataclass(frozen=True)
class _Item:
    kind: str  # BEGIN, END, ELSE, IF, WHILE or RUN
    toks: list[Tok]


def plan(sql: str, statements: list[Statement]) -> list[Node]:
    """The batch's statements nested as its BEGIN/END, IF/ELSE and WHILE say; 102 where they do not pair up."""
    items: list[_Item] = []
    for st in statements:
        items.extend(_items(st))
    nodes: list[Node] = []
    i = 0
    while i < len(items):
        node, i = _one(sql, items, i)
        nodes.append(node)
    return nodes


def has_control_flow(statements: list[Statement]) -> bool:
    """Whether any statement uses a block word (most batches do not: they run as they are)."""
    return any(t.is_word("BEGIN", "END", "ELSE", "IF", "WHILE") for st in statements for t in st.toks)


def steps(nodes: list[Node], verdicts: list[bool]) -> Iterator[Step]:
    for node in nodes:
        yield from _walk(node, verdicts)


def _walk(node: Node, verdicts: list[bool]) -> Iterator[Step]:
    if isinstance(node, Run):
        yield Step(node.statement)
    elif isinstance(node, Block):
        for inner in node.body:
            yield from _walk(inner, verdicts)
    elif isinstance(node, If):
        yield Step(node.condition, condition=True)
        if verdicts.pop() if verdicts else False:
            yield from _walk(node.then, verdicts)
        elif node.otherwise is not None:
            yield from _walk(node.otherwise, verdicts)
    else:
        while True:
            yield Step(node.condition, condition=True)
            if not (verdicts.pop() if verdicts else False):
                break
            yield from _walk(node.body, verdicts)


def _items(st: Statement) -> list[_Item]:
    toks = list(st.toks)
    out: list[_Item] = []
    while toks and toks[0].is_word("BEGIN") and not (len(toks) > 1 and toks[1].is_word(*_NOT_BLOCKS)):
        if len(toks) > 1 and toks[1].is_word("TRY", "CATCH"):
            raise errors.unsupported(f"BEGIN {toks[1].text.upper()}")
        out.append(_Item("BEGIN", [toks.pop(0)]))
    tail: list[_Item] = []
    cut = _block_tail(toks)
    if cut is not None:
        tail = [_Item(t.text.upper(), [t]) for t in toks[cut:]]
        toks = toks[:cut]
    if toks and toks[0].is_word("IF"):
        body = next((i for i in range(1, len(toks)) if toks[i].start >= st.toks[st.body].start), len(toks)) if st.body else len(toks)
        out.append(_Item("IF", toks[1:body]))
        toks = toks[body:]
        if toks:
            out.extend(_items(Statement(toks, "", 0)))
            toks = []
    elif toks and toks[0].is_word("WHILE"):
        out.append(_Item("WHILE", toks[1:]))
        toks = []
    if toks:
        refused = next((t for t in toks[:1] if t.is_word(*_REFUSED)), None)
        if refused is not None:
            raise errors.unsupported(refused.text.upper())
        out.append(_Item("RUN", toks))
    return out + tail


def _block_tail(toks: list[Tok]) -> int | None:
    """Where the trailing block words (END, ELSE not closing a CASE) start, if the statement has any."""
    cases = depth = 0
    for i, t in enumerate(toks):
        if t.kind == "punct":
            depth += t.text == "("
            depth -= t.text == ")"
        elif t.is_word("CASE"):
            cases += 1
        elif t.is_word("END") and cases:
            cases -= 1
        elif t.is_word("END", "ELSE") and not cases and depth == 0:
            if all(x.is_word("END", "ELSE") for x in toks[i:]):
                return i
            raise errors.syntax(t.text)
    return None


def _statement(sql: str, toks: list[Tok]) -> Statement:
    return Statement(toks, sql[toks[0].start : toks[-1].end])


def _one(sql: str, items: list[_Item], i: int) -> tuple[Node, int]:
    item = items[i]
    if item.kind == "BEGIN":
        body: list[Node] = []
        i += 1
        while i < len(items) and items[i].kind != "END":
            node, i = _one(sql, items, i)
            body.append(node)
        if i >= len(items):
            raise errors.syntax(items[-1].toks[-1].text)
        return Block(body), i + 1
    if item.kind in ("IF", "WHILE"):
        if not item.toks or i + 1 >= len(items):
            raise errors.syntax(item.toks[-1].text if item.toks else item.kind)
        condition = _statement(sql, item.toks)
        inner, i = _one(sql, items, i + 1)
        if item.kind == "WHILE":
            return While(condition, inner), i
        otherwise: Node | None = None
        if i < len(items) and items[i].kind == "ELSE":
            if i + 1 >= len(items):
                raise errors.syntax("ELSE")
            otherwise, i = _one(sql, items, i + 1)
        return If(condition, inner, otherwise), i
    if item.kind in ("END", "ELSE"):
        raise errors.syntax(item.toks[0].text)
    return Run(_statement(sql, item.toks)), i + 1

"""The engine's typed results as TDS tokens ([MS-TDS] 2.2.7): the one place a statement's outcome becomes bytes.

Per statement, in the order SQL Server sends them: an error's ERROR token, then its events (a rollback's
ENVCHANGE), then DONE with DONE_ERROR; otherwise its events (INFO, ENVCHANGE, RETURNSTATUS), then its
result set (COLMETADATA, ROWs) or none, then DONE with its row count. Every DONE but the last carries
DONE_MORE; a batch with no statement still ends in one DONE. ``done_token`` is DONE for a SQL batch and
DONEINPROC for the SQL of an RPC.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..engine.results import Event, Message, ReturnStatus, StatementResult, TransactionChange, TransactionEvent
from . import tokens as tk

_ENV = {
    TransactionEvent.BEGIN: tk.ENV_BEGIN_TRAN,
    TransactionEvent.COMMIT: tk.ENV_COMMIT_TRAN,
    TransactionEvent.ROLLBACK: tk.ENV_ROLLBACK_TRAN,
}


def event(item: Event, server: str) -> bytes:
    if isinstance(item, Message):
        return tk.info(item.number, item.state, item.text, server)
    if isinstance(item, TransactionChange):
        return tk.envchange(_ENV[item.event], tk.b_varbyte(item.new), tk.b_varbyte(item.old))
    assert isinstance(item, ReturnStatus)
    return tk.returnstatus(item.value)


def events(items: Sequence[Event], server: str) -> bytes:
    return b"".join(event(item, server) for item in items)


def statements(results: Sequence[StatementResult], server: str, done_token: int = tk.DONE) -> bytes:
    """Each statement's tokens, then its DONE (``done_token``), DONE_MORE on all but the last."""
    out = bytearray()
    for i, r in enumerate(results):
        more = tk.DONE_MORE if i < len(results) - 1 else 0
        env = events(r.events, server)
        if r.error is not None:
            e = r.error
            out += tk.error(e.number, e.state, e.severity, e.text, server, e.line) + env
            out += tk.done(tk.DONE_ERROR | more, token=done_token, curcmd=r.command)
        elif r.result is not None:
            columns = [tk.Column(c.name, spec=c.spec) for c in r.result.columns]
            out += env + tk.result_set(columns, r.result.rows, more=bool(more), done_token=done_token)
        else:
            status = more | (tk.DONE_COUNT if r.rowcount is not None else 0)
            out += env + tk.done(status, r.rowcount or 0, token=done_token, curcmd=r.command)
    return bytes(out or tk.done(token=done_token))

"""The errors the TDS session itself answers with, before or around the engine: SQL Server's numbers,
severities and texts (the "Database engine events and errors" pages), written out here.

Each comes back as an ERROR token plus the DONE that ends the request, and the session goes on,
as SQL Server's does: a malformed or oversized request is that request's error, not the connection's.
"""

from __future__ import annotations

from . import tokens as tk


def _answer(number: int, severity: int, text: str, server: str, done_token: int = tk.DONE) -> bytes:
    return tk.error(number, 1, severity, text, server) + tk.done(tk.DONE_ERROR, token=done_token)


def stream_incorrect(server: str) -> bytes:
    """4002: a request whose bytes end before its structure does (a TM request cut short, odd UTF-16)."""
    return _answer(4002, 16, "The incoming tabular data stream (TDS) protocol stream is incorrect. The stream ended unexpectedly.", server)


def rpc_stream_incorrect(server: str, detail: str) -> bytes:
    """8009-style: an RPC whose parameters cannot be read ([MS-TDS] 2.2.6.6)."""
    text = f"The incoming tabular data stream (TDS) remote procedure call (RPC) protocol stream is incorrect. {detail}"
    return _answer(8009, 16, text, server)


def insufficient_memory(server: str) -> bytes:
    """701: what SQL Server answers a request too large for the memory it may use (here: TdsLimits.request_bytes)."""
    return _answer(701, 17, "There is insufficient system memory in resource pool 'default' to run this query.", server)


def nested_too_deeply(server: str) -> bytes:
    """191: SQL Server's parser limit on nesting (expressions, parentheses, subqueries)."""
    text = "Some part of your SQL statement is nested too deeply. Rewrite the query or break it up into smaller queries."
    return _answer(191, 15, text, server)


def service_error(server: str, code: int) -> bytes:
    """40197: Azure SQL's answer when the service itself fails a request (here: a bug in the sandbox,
    logged once with the session id); clients treat it as transient and retry."""
    text = f"The service has encountered an error processing your request. Please try again. Error code {code}."
    return _answer(40197, 17, text, server)

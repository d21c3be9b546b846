"""One client connection: PRELOGIN, TLS, LOGIN7, then requests until the client leaves.

What the session decides (who may log in, what a batch returns) belongs to a
``Backend``; this module only speaks the protocol.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from azsqlctl.protocol.prelogin import ENCRYPT_NOT_SUP, PL_ENCRYPTION, parse_prelogin
from azsqlctl.protocol.tds import (
    ATTENTION,
    DEFAULT_PACKET_SIZE,
    FEDAUTH_TOKEN,
    LOGIN7,
    PRELOGIN,
    RPC,
    SQL_BATCH,
    TABULAR_RESULT,
    TRANSACTION_MANAGER,
)
from azsqlctl.sandbox.internal_errors import log_internal
from azsqlctl.sandbox.sql.sqltypes import Param

from ..engine.results import ErrorMessage, StatementResult
from ..session_context import SessionContext
from . import errors, results
from . import tokens as tk
from .handshake import FEATURE_FEDAUTH, FEDAUTH_LIBRARY_MSAL, Login7, parse_fedauth_token, parse_login7, prelogin_response
from .limits import MAX_REQUEST_PACKETS, TdsLimits
from .rpc import RpcDispatcher, parse_rpc
from .typeread import TdsDecodeError
from .wire import (
    Channel,
    ConnectionClosed,
    MessageTooLarge,
    RawChannel,
    TlsChannel,
    negotiate_packet_size,
    read_message,
    send_message,
)

log = logging.getLogger("azsqlctl.sandbox.sql.tds")

TLS_RECORD_HANDSHAKE = 0x16

# TM request types ([MS-TDS] 2.2.6.9)
TM_BEGIN_XACT = 5
TM_COMMIT_XACT = 7
TM_ROLLBACK_XACT = 8
TM_SAVE_XACT = 9


@dataclass(frozen=True)
class LoginOutcome:
    """A login's answer: the session on success, else the errors that refuse it (the session encodes both)."""

    context: SessionContext | None
    errors: tuple[ErrorMessage, ...] = ()


class Backend(Protocol):
    server_name: str
    fedauth_sts_url: str  # FEDAUTHINFO: where a client in the MSAL workflow gets its token
    fedauth_spn: str  # FEDAUTHINFO: the resource that token is for

    def login(self, login: Login7, spid: int, client_ip: str, encrypted: bool) -> LoginOutcome: ...

    def batch(self, ctx: SessionContext, sql: str) -> Sequence[StatementResult]:
        """A SQL_BATCH: every statement's result (``results`` encodes them, each ending in DONE)."""
        ...

    def execute(self, ctx: SessionContext, sql: str, params: Sequence[Param]) -> tuple[Sequence[StatementResult], bool]:
        """SQL of an RPC (sp_executesql, sp_prepexec, sp_execute) with its parameters bound as values
        by name (@p1, @P1 ...), never pasted into the text. Statements end in DONEINPROC; the bool
        says whether all succeeded. The session adds RETURNSTATUS, RETURNVALUEs and DONEPROC."""
        ...

    def transaction(self, ctx: SessionContext, request: int, begin_new: bool) -> StatementResult:
        """A TRANSACTION_MANAGER request: the transactions it began and ended (answered as ENVCHANGEs), or the error a
        failed commit ended in with the rollback it made, then DONE."""
        ...

    def reset(self, ctx: SessionContext) -> None:
        """RESETCONNECTION (a pooled connection handed out again): roll back open work unless
        ``ctx.extra["reset_keeps_transaction"]`` is set, and reset session options."""
        ...

    def disconnected(self, ctx: SessionContext | None) -> None: ...


@dataclass
class Tls:
    tunnelled: ssl.SSLContext  # TDS 7.x, capped at TLS 1.2
    strict: ssl.SSLContext  # TDS 8.0, ALPN tds/8.0


FaultHook = Callable[[str], None]  # called at named points; may sleep or raise ConnectionClosed


# Before the login completes, a message that cannot be parsed closes the connection (SQL Server
# logs 17832 "The login packet used to open the connection is structurally invalid" and closes).
_MALFORMED = (ValueError, struct.error, IndexError, UnicodeError, TdsDecodeError)


class Session:
    def __init__(
        self, sock: socket.socket, backend: Backend, tls: Tls, spid: int, fault: FaultHook, limits: TdsLimits | None = None
    ) -> None:
        self.sock = sock
        self.backend = backend
        self.tls = tls
        self.spid = spid
        self.fault = fault
        self.limits = limits or TdsLimits()
        self.packet_size = DEFAULT_PACKET_SIZE
        self.ctx: SessionContext | None = None
        self.rpc = RpcDispatcher(backend)
        self.client_ip = ""

    def run(self) -> None:
        try:
            # Inside the try: a client that resets right after connect has no peer name any more.
            self.client_ip = str(self.sock.getpeername()[0])
            raw = RawChannel(self.sock, send_timeout=self.limits.send_timeout)
            raw.deadline = time.monotonic() + self.limits.login_timeout
            ch = self._handshake(raw)
            self.fault("login")
            self._login(ch)
            if self.ctx is not None:
                raw.deadline = None
                raw.idle_timeout = self.limits.idle_timeout
                self._serve(ch)
        except ConnectionClosed as exc:
            log.debug("session %s closed: %s", self.spid, exc)
        except (ssl.SSLError, OSError) as exc:
            log.debug("session %s closed by the network: %s", self.spid, exc)
        except _MALFORMED as exc:
            log.info("session %s closed: malformed %s: %s", self.spid, "request" if self.ctx else "login", exc)
        except Exception as exc:  # noqa: BLE001 - a bug in the sandbox: one compact line, never a traceback
            log_internal(log, f"tds session {self.spid}", exc)
        finally:
            try:
                self.backend.disconnected(self.ctx)
            except Exception as exc:  # noqa: BLE001 - logged compactly, the socket still closed
                log_internal(log, f"tds session {self.spid} (disconnect)", exc)
            with contextlib.suppress(OSError):
                self.sock.close()

    def _send(self, ch: Channel, payload: bytes) -> None:
        send_message(ch, TABULAR_RESULT, payload, self.packet_size, self.spid)

    def _handshake(self, raw: RawChannel) -> Channel:
        first = raw.peek(1)[0]
        self.fault("accept")
        if first == TLS_RECORD_HANDSHAKE:
            # TDS 8.0 (Encrypt=strict): TLS first, PRELOGIN inside it.
            tls = TlsChannel(raw, self.tls.strict)
            self.fault("handshake")
            tls.handshake_direct()
            msg = read_message(tls, self.limits.prelogin_bytes)
            if msg.type != PRELOGIN:
                raise ConnectionClosed("expected PRELOGIN")
            self._send(tls, prelogin_response(parse_prelogin(msg.body), strict=True))
            return tls
        msg = read_message(raw, self.limits.prelogin_bytes)
        if msg.type != PRELOGIN:
            raise ConnectionClosed(f"expected PRELOGIN, got {msg.type:#x}")
        client = parse_prelogin(msg.body)
        enc = client.get(PL_ENCRYPTION, b"\x00")[:1]
        self._send(raw, prelogin_response(client, strict=False))
        if enc and enc[0] == ENCRYPT_NOT_SUP:
            raise ConnectionClosed("client cannot encrypt; Azure SQL requires encryption")
        self.fault("handshake")
        tls = TlsChannel(raw, self.tls.tunnelled)
        tls.handshake_in_prelogin()
        return tls

    def _login(self, ch: Channel) -> None:
        msg = read_message(ch, self.limits.login7_bytes)
        if msg.type != LOGIN7:
            raise ConnectionClosed(f"expected LOGIN7, got {msg.type:#x}")
        login = parse_login7(msg.body)
        if login.fedauth_library == FEDAUTH_LIBRARY_MSAL:
            # [MS-TDS] 3.3.5.3: the client asks where to get a token; FEDAUTHINFO says, then the token follows.
            self._send(ch, tk.fedauthinfo(self.backend.fedauth_sts_url, self.backend.fedauth_spn))
            reply = read_message(ch, self.limits.fedauth_token_bytes)
            if reply.type != FEDAUTH_TOKEN:
                raise ConnectionClosed(f"expected FEDAUTH_TOKEN after FEDAUTHINFO, got {reply.type:#x}")
            try:
                login.workflow_token = parse_fedauth_token(reply.body)
            except ValueError:
                login.workflow_token = ""  # unreadable: a malformed token, refused with 18456 like any other
        outcome = self.backend.login(login, self.spid, self.client_ip, encrypted=True)
        if outcome.context is None:
            refusal = b"".join(tk.error(e.number, e.state, e.severity, e.text, self.backend.server_name, e.line) for e in outcome.errors)
            self._send(ch, refusal + tk.done(tk.DONE_ERROR, curcmd=0))
            return
        self.ctx = outcome.context
        old_size, new_size = self.packet_size, negotiate_packet_size(login.packet_size)
        payload = _login_environment(self.ctx.database, self.backend.server_name)
        payload += tk.env_text(tk.ENV_PACKETSIZE, str(new_size), str(old_size))
        payload += tk.loginack()
        acks = self._feature_acks(login)
        if acks:
            payload += tk.featureextack(acks)
        payload += tk.done(tk.DONE_FINAL, curcmd=0)
        self.packet_size = min(old_size, new_size)  # the client switches once it has read the ENVCHANGE
        self._send(ch, payload)
        self.packet_size = new_size

    def _feature_acks(self, login: Login7) -> list[tuple[int, bytes]]:
        """Acknowledge only what the sandbox implements: FEDAUTH. The others (session recovery,
        UTF-8, data classification ...) stay unacknowledged, which tells the client they are off.

        The FEDAUTH ack carries no data: its Nonce/Signature fields ([MS-TDS] 2.2.7.11) exist only
        when the client put a NONCEOPT in PRELOGIN, which the drivers seen here never do, and the
        signature needs a session key the sandbox does not have: a client that sends a nonce gets the
        empty ack too, and a client that checks the signature will say so.
        """
        if FEATURE_FEDAUTH not in login.features:
            return []
        return [(FEATURE_FEDAUTH, b"")]

    def _serve(self, ch: Channel) -> None:
        while True:
            self._serve_one(ch)

    def _serve_one(self, ch: Channel) -> None:
        """One request and its answer. A method of its own so that nothing of the request (up to
        TdsLimits.request_bytes) stays referenced while the session waits for the next one."""
        assert self.ctx is not None
        try:
            msg = read_message(ch, self.limits.request_bytes, packet_limit=MAX_REQUEST_PACKETS)
        except MessageTooLarge as exc:
            log.info("session %s: %s", self.spid, exc)
            self._send(ch, errors.insufficient_memory(self.backend.server_name))
            return
        self.fault("request")
        prefix = b""
        if msg.reset_connection and msg.type != ATTENTION:
            prefix = self._reset(msg.reset_keeps_transaction)
        if msg.type == ATTENTION:
            self._send(ch, tk.done(tk.DONE_ATTN))  # DONE_ATTN acknowledges the cancel
        elif msg.type in (SQL_BATCH, RPC, TRANSACTION_MANAGER):
            self._send(ch, prefix + self._request(msg.type, _strip_all_headers(msg.body)))
        else:
            raise ConnectionClosed(f"unsupported packet type {msg.type:#x}")

    def _request(self, ptype: int, body: bytes) -> bytes:
        """One request's answer; whatever the client sent, an answer (an error for what cannot be read)."""
        assert self.ctx is not None
        server = self.backend.server_name
        try:
            if ptype == SQL_BATCH:
                try:
                    sql = body.decode("utf-16-le", errors="surrogatepass")
                except UnicodeDecodeError:  # an odd byte count: the last character is cut in half
                    return errors.stream_incorrect(server)
                return results.statements(self.backend.batch(self.ctx, sql), server)
            if ptype == RPC:
                try:
                    calls = parse_rpc(body, self.limits.plp_bytes)
                except TdsDecodeError as exc:
                    return errors.rpc_stream_incorrect(server, str(exc))
                return self.rpc.run(self.ctx, calls)
            if len(body) < 2:
                return errors.stream_incorrect(server)
            (request,) = struct.unpack_from("<H", body, 0)
            return results.statements([self.backend.transaction(self.ctx, request, _begins_new(request, body[2:]))], server)
        except ConnectionClosed:
            raise
        except RecursionError:
            return errors.nested_too_deeply(server)
        except Exception as exc:  # noqa: BLE001 - a bug in the sandbox: logged once, answered as Azure answers its own failures
            code = log_internal(log, f"tds session {self.spid}", exc)
            return errors.service_error(server, code)

    def _reset(self, keep_transaction: bool) -> bytes:
        """RESETCONNECTION ([MS-TDS] 2.2.3.1.2): reset the session, then acknowledge (ENVCHANGE 18)."""
        assert self.ctx is not None
        open_tran = self.ctx.transaction
        self.ctx.extra["reset_keeps_transaction"] = keep_transaction
        try:
            self.backend.reset(self.ctx)
        finally:
            self.ctx.extra.pop("reset_keeps_transaction", None)
        out = b""
        if open_tran is not None and not keep_transaction:
            self.ctx.transaction = None
            out += tk.envchange(tk.ENV_ROLLBACK_TRAN, b"\x00", tk.b_varbyte(open_tran))
        return out + tk.envchange(tk.ENV_RESET_ACK, b"\x00", b"\x00")


def _strip_all_headers(body: bytes) -> bytes:
    """Skip ALL_HEADERS ([MS-TDS] 2.2.5.3): a little-endian total length, itself included."""
    if len(body) >= 4:
        (total,) = struct.unpack_from("<I", body, 0)
        if 4 <= total <= len(body) and total >= 22:
            return body[total:]
    return body


def _begins_new(request: int, payload: bytes) -> bool:
    """COMMIT/ROLLBACK carry a name (B_VARCHAR) then fBeginXact ([MS-TDS] 2.2.6.9)."""
    if request not in (TM_COMMIT_XACT, TM_ROLLBACK_XACT) or not payload:
        return False
    name_len = payload[0]
    flag_at = 1 + 2 * name_len
    return len(payload) > flag_at and payload[flag_at] == 1


def new_spid() -> int:
    return 51 + int.from_bytes(os.urandom(2), "big") % 30000


def _login_environment(database: str, server: str) -> bytes:
    """What SQL Server tells a client it has just logged in: its database, collation and language, in that order."""
    out = tk.env_text(tk.ENV_DATABASE, database, "master")
    out += tk.info(5701, 2, f"Changed database context to '{database}'.", server)
    out += tk.envchange(tk.ENV_COLLATION, tk.b_varbyte(tk.COLLATION), b"\x00")
    out += tk.env_text(tk.ENV_LANGUAGE, "us_english", "")
    out += tk.info(5703, 1, "Changed language setting to us_english.", server)
    return out

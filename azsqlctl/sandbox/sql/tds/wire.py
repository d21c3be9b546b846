"""The server's byte channels (plain socket, then TLS) and messages over them; packets are framed by protocol/tds.py.

[MS-TDS] 2.2.3: every message is a series of packets with an 8-byte header
(type, status, big-endian length, SPID, packet id, window). Azure SQL encrypts
the whole session, so after PRELOGIN the channel is swapped for a TLS one whose
handshake is tunnelled inside PRELOGIN packets (TDS 7.x) or runs directly on the
socket (TDS 8.0, ``Encrypt=strict``).
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Protocol

from azsqlctl.protocol import tds
from azsqlctl.protocol.tds import DEFAULT_PACKET_SIZE, PRELOGIN, STATUS_EOM, STATUS_RESETCONNECTION, STATUS_RESETCONNECTIONSKIPTRAN

MIN_PACKET_SIZE = 512
MAX_PACKET_SIZE = 32767  # what Azure SQL Database grants at most


def negotiate_packet_size(requested: int) -> int:
    """The client's LOGIN7 packet size, clamped to what Azure allows (0 means the server default)."""
    if requested == 0:
        return DEFAULT_PACKET_SIZE
    return max(MIN_PACKET_SIZE, min(MAX_PACKET_SIZE, requested))


class ConnectionClosed(Exception):
    """The peer went away (EOF or reset), broke the protocol, or ran out of time - ends a session quietly."""


class MessageTooLarge(Exception):
    """A request over the sandbox's in-memory limit, read to its end and discarded: the session goes on."""

    def __init__(self, ptype: int, size: int, limit: int) -> None:
        super().__init__(f"request of packet type {ptype:#x} is over {limit} bytes ({size} read)")
        self.ptype = ptype


class Channel(Protocol):
    def recv_exact(self, n: int) -> bytes: ...
    def send(self, data: bytes) -> None: ...


class RawChannel:
    """A socket with a read buffer, so exact-length reads never over-consume."""

    def __init__(self, sock: socket.socket, *, idle_timeout: float | None = None, send_timeout: float | None = None) -> None:
        self.sock = sock
        self._buf = bytearray()
        self.deadline: float | None = None  # time.monotonic() by which reading must be done (the login timeout)
        self.idle_timeout = idle_timeout  # the longest wait for the client's next bytes
        self.send_timeout = send_timeout  # the longest a send may block on a client that does not read
        self._kernel_timeouts: tuple[float | None, float | None] | None = None  # what SO_RCVTIMEO/SO_SNDTIMEO hold

    def _recv(self) -> bytes:
        try:
            if self.deadline is not None:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise ConnectionClosed("login timeout: the client did not complete its login in time")
                self._timeout(left if self.idle_timeout is None else min(self.idle_timeout, left))
            else:
                self._use_kernel_timeouts()
            data = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError) as exc:  # BlockingIOError: SO_RCVTIMEO ran out
            raise ConnectionClosed("timed out waiting for the client") from exc
        except OSError as exc:
            raise ConnectionClosed(str(exc)) from exc
        if not data:
            raise ConnectionClosed("peer closed the connection")
        return data

    def _timeout(self, seconds: float | None) -> None:
        """settimeout, only when it changes (each call is a system call, FIONBIO); while a deadline runs (the login)."""
        self._kernel_timeouts = None
        if self.sock.gettimeout() != seconds:
            self.sock.settimeout(seconds)

    def _use_kernel_timeouts(self) -> None:
        """Once logged in: a blocking socket whose idle and send timeouts are the kernel's (SO_RCVTIMEO, SO_SNDTIMEO),
        set once. Python's own timeouts cost a poll() before every recv and send, and a FIONBIO each time a session
        turned from reading to answering: four system calls a request, each a chance for the interpreter lock to go to
        another session's thread."""
        wanted = (self.idle_timeout, self.send_timeout)
        if self._kernel_timeouts == wanted:
            return
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(self.idle_timeout))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(self.send_timeout))
        self._kernel_timeouts = wanted

    def recv_some(self) -> bytes:
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            return data
        return self._recv()

    def peek(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._buf += self._recv()
        return bytes(self._buf[:n])

    def recv_exact(self, n: int) -> bytes:
        self.peek(n)
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def send(self, data: bytes) -> None:
        try:
            if self.deadline is not None:
                self._timeout(self.send_timeout)
            else:
                self._use_kernel_timeouts()
            self.sock.sendall(data)
        except OSError as exc:  # TimeoutError and BlockingIOError (SO_SNDTIMEO) included: a client that stopped reading
            raise ConnectionClosed(str(exc)) from exc


def _timeval(seconds: float | None) -> bytes:
    """A struct timeval for SO_RCVTIMEO/SO_SNDTIMEO (zeros: no timeout)."""
    if not seconds or seconds <= 0:
        return struct.pack("@ll", 0, 0)
    whole = int(seconds)
    return struct.pack("@ll", whole, max(int((seconds - whole) * 1_000_000), 0 if whole else 1))


class TlsChannel:
    """TLS over a RawChannel through memory BIOs.

    Memory BIOs (rather than ``ssl.wrap_socket``) let the same object run its
    handshake either inside PRELOGIN packets or straight on the socket.
    """

    def __init__(self, raw: RawChannel, context: ssl.SSLContext) -> None:
        self.raw = raw
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._in, self._out, server_side=True)
        self._plain = bytearray()

    def _flush(self) -> bytes:
        return self._out.read()

    def handshake_in_prelogin(self) -> None:
        """[MS-TDS] 3.2.5.2: handshake records travel as PRELOGIN payloads.

        Done once our Finished has gone out; the client's next bytes are raw
        TLS records, which may already sit in the raw buffer.
        """
        while True:
            try:
                self.tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            out = self._flush()
            if out:
                send_message(self.raw, PRELOGIN, out)
            if done:
                return
            ptype, _status, body = read_packet(self.raw)
            if ptype != PRELOGIN:
                raise ConnectionClosed(f"expected TLS handshake in PRELOGIN, got packet type {ptype:#x}")
            self._in.write(body)

    def handshake_direct(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            out = self._flush()
            if out:
                self.raw.send(out)
            if done:
                return
            self._in.write(self.raw.recv_some())

    def recv_exact(self, n: int) -> bytes:
        while len(self._plain) < n:
            try:
                self._plain += self.tls.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError) as exc:
                raise ConnectionClosed("TLS session closed") from exc
            except ssl.SSLError as exc:
                raise ConnectionClosed(f"TLS error: {exc}") from exc
            self._in.write(self.raw.recv_some())
        data = bytes(self._plain[:n])
        del self._plain[:n]
        return data

    def send(self, data: bytes) -> None:
        self.tls.write(data)
        self.raw.send(self._flush())


def read_packet(ch: Channel) -> tuple[int, int, bytes]:
    try:
        return tds.read_packet(ch.recv_exact)
    except tds.FramingError as exc:
        raise ConnectionClosed(str(exc)) from exc


@dataclass
class Message:
    type: int
    body: bytes
    reset_connection: bool = False  # RESETCONNECTION: reset the session before this request
    reset_keeps_transaction: bool = False  # RESETCONNECTIONSKIPTRAN: ... but keep its transaction


def read_message(ch: Channel, limit: int | None = None, *, packet_limit: int | None = None) -> Message:
    """Reassemble packets until EOM (large LOGIN7 tokens span several packets), holding at most ``limit`` bytes.

    The server always passes ``limit`` (None, unbounded, is for a client reading the server's answers).
    Over ``limit``: without ``packet_limit`` (before login) the connection is closed at once;
    with it, the rest of the request is read and discarded up to ``packet_limit`` packets (Azure's
    own bound, past which the connection closes) and MessageTooLarge is raised, so the caller can
    answer an error and carry on. Nothing beyond ``limit`` is ever kept.
    """
    if limit is None:
        limit = 1 << 62
    ptype, status, body = read_packet(ch)
    first = status  # [MS-TDS] 2.2.3.1.2: the reset bits count on the first packet of a request
    parts = [body]
    size = len(body)
    packets = 1
    while size <= limit and not status & STATUS_EOM:
        _t, status, body = read_packet(ch)
        parts.append(body)
        size += len(body)
        packets += 1
    if size > limit:
        if packet_limit is None:
            raise ConnectionClosed(f"message of packet type {ptype:#x} over its {limit}-byte limit")
        parts.clear()
        while not status & STATUS_EOM:
            if packets >= packet_limit:
                raise ConnectionClosed(f"request over {packet_limit} packets")
            _t, status, body = read_packet(ch)
            size += len(body)
            packets += 1
        raise MessageTooLarge(ptype, size, limit)
    skip = bool(first & STATUS_RESETCONNECTIONSKIPTRAN)
    return Message(ptype, b"".join(parts), bool(first & STATUS_RESETCONNECTION) or skip, skip)


def send_message(ch: Channel, ptype: int, payload: bytes, packet_size: int = DEFAULT_PACKET_SIZE, spid: int = 0) -> None:
    ch.send(tds.frames(ptype, payload, packet_size, spid))

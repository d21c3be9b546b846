"""A small threaded HTTP(S) server base for the sandbox's REST surfaces, bounded against hostile clients.

Every request is read under limits taken from the front ends Azure's REST endpoints run behind
(HTTP.sys defaults, ARM's documented body limit, .NET's JSON depth), each checked while the bytes
arrive: nothing a client sends is buffered beyond them, and every refusal is an HTTP answer in the
surface's own JSON error shape (``JsonHandler.error_body``), never a traceback:

- request line + headers over 16 KiB: 414 / 431 (HTTP.sys MaxRequestBytes and MaxFieldLength: 16384);
- a body over 4 MiB: 413 ``RequestContentTooLarge`` ("The request content size exceeds the maximum
  size of 4 MB.", ARM's answer), the connection closed without reading it;
- a body without Content-Length (or chunked) where one is needed: 411; a Content-Length that is not
  one number: 400; JSON that is invalid or nested deeper than 64: 400;
- 120 s to send a request line after connecting or between keep-alive requests, 120 s for the
  headers, 120 s for the body, 120 s for a response the client does not read (HTTP.sys's
  IdleConnection, HeaderWait, EntityBody and MinSendRate defaults): then the connection is closed;
- a listen backlog of 512, so a burst of clients waits in the kernel's queue instead of being refused.

A bug in a handler is logged once as one line (sandbox/internal_errors.py) and answered 500.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from http.client import HTTPException
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azsqlctl.core import jsonlimits

from .internal_errors import log_internal

log = logging.getLogger("azsqlctl.sandbox.http")

BACKLOG = 512
_READ_AHEAD = 8192  # the request reader's buffer: bytes past the headers it may already hold


@dataclass(frozen=True)
class HttpLimits:
    header_bytes: int = 16 * 1024  # HTTP.sys MaxRequestBytes: the request line and all headers
    body_bytes: int = 4 * 1024 * 1024  # ARM: "The request content size exceeds the maximum size of 4 MB."
    json_depth: int = jsonlimits.MAX_DEPTH  # System.Text.Json / Json.NET default MaxDepth
    idle_timeout: float = 120.0  # HTTP.sys IdleConnection: waiting for a request (keep-alive included)
    header_timeout: float = 120.0  # HTTP.sys HeaderWait: the headers, once the request line came
    body_timeout: float = 120.0  # HTTP.sys EntityBody: the body, once the headers came
    send_timeout: float = 120.0  # a response the client does not read
    max_connections: int = 1024  # served at once (a thread each); more are closed at once rather than grow without bound


# The error code in the JSON body for each refusal the base makes (the surface picks the shape).
_CODES = {
    400: "BadRequest",
    404: "NotFound",
    405: "MethodNotAllowed",
    408: "RequestTimeout",
    411: "LengthRequired",
    413: "RequestContentTooLarge",
    414: "RequestUriTooLong",
    431: "RequestHeaderFieldsTooLarge",
    500: "InternalServerError",
    501: "NotImplemented",
    505: "HttpVersionNotSupported",
}


class RequestRejected(Exception):
    """A request refused at the edge: answered with ``status`` in the surface's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _HeadersTooLarge(HTTPException):
    """More header bytes than HttpLimits.header_bytes (an HTTPException, so parse_request answers 431)."""


def _header_bytes(headers: Message) -> int:
    """``len(str(headers))``: for the usual block (ASCII names and values on one line each, nothing after it) counted
    from the fields, which is the same number without rendering the block through the email generator (~0.2 ms on
    every request to every surface); anything else is rendered, as before."""
    items = list(headers.raw_items())
    if headers.get_payload() or not all(n.isascii() and v.isascii() and "\r" not in v and "\n" not in v for n, v in items):
        return len(str(headers))
    return sum(len(name) + len(value) + 3 for name, value in items) + 1  # "Name: value\n" each, then "\n"


class _DeadlineReader(io.RawIOBase):
    """The connection's bytes, each read bounded by the current phase's deadline and, while the
    request line and headers are read, by a byte budget, so neither a slow nor a flooding client
    can hold a thread or memory beyond the limits."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = math.inf
        self.budget: int | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the client took too long")
        self.sock.settimeout(left)
        n = self.sock.recv_into(buffer)
        if self.budget is not None:
            self.budget -= n
            if self.budget < 0:
                raise _HeadersTooLarge("request line and headers over the limit")
        return n


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "azsqlctl-sandbox"
    # TCP_NODELAY: the headers and the body are two writes; with Nagle the body waits for the client's
    # delayed ACK (40 ms on Linux) on every keep-alive response, a latency no Azure endpoint has.
    disable_nagle_algorithm = True
    limits = HttpLimits()
    surface = "http"  # names the surface in log lines

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # Never the raw request line at INFO: query strings could carry secrets in real clouds. A request
        # line that could not be parsed has no path (nor command) yet.
        log.debug("%s %s %s", self.surface, getattr(self, "command", None) or "-", self.route)

    def error_body(self, status: int, code: str, message: str) -> Any:
        """The surface's JSON error shape; ARM's (``{"error": {"code", "message"}}``) unless overridden."""
        del status
        return {"error": {"code": code, "message": message}}

    @property
    def route(self) -> str:
        path = getattr(self, "path", None)
        return urlsplit(path).path if isinstance(path, str) else ""

    @property
    def query(self) -> dict[str, str]:
        path = getattr(self, "path", None)
        if not isinstance(path, str):
            return {}
        return {k: v[-1] for k, v in parse_qs(urlsplit(path).query).items()}

    # --- reading, within the limits ------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # replaced: an unclosed makefile() would keep the socket's descriptor open
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader, _READ_AHEAD)
        self._responded = False

    def handle_one_request(self) -> None:
        limits, reader = self.limits, self._reader
        self._responded = False
        self.requestline, self.command = "", ""  # read by logging before the request line is parsed
        reader.deadline = time.monotonic() + limits.idle_timeout
        reader.budget = limits.header_bytes + _READ_AHEAD
        try:
            self.raw_requestline = self.rfile.readline(limits.header_bytes + 1)
            if not self.raw_requestline:
                self.close_connection = True
                return
            reader.deadline = time.monotonic() + limits.header_timeout
            if len(self.raw_requestline) > limits.header_bytes:
                self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.parse_request():  # it answered (400, 431, 505 ...) already
                return
            if len(self.raw_requestline) + _header_bytes(self.headers) > limits.header_bytes:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
                return
            reader.budget = None
            reader.deadline = time.monotonic() + limits.body_timeout
            self.connection.settimeout(limits.send_timeout)
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
                return
            method()
            self.wfile.flush()
        except _HeadersTooLarge:
            self.request_version = "HTTP/1.1"
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        except RequestRejected as rejected:
            self._refuse(rejected.status, rejected.code, rejected.message)
        except (OSError, EOFError) as exc:  # timeouts, resets, TLS errors: the client is gone or too slow
            log.debug("%s: connection closed: %s", self.surface, exc)
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a bug in the sandbox: one line in the log, a 500 to the client
            where = f"{self.surface} connection {self.client_address[1]}: {self.command} {self.route}"
            code = log_internal(log, where, exc)
            self._refuse(500, "InternalServerError", f"An unexpected error occurred while processing the request (sandbox error {code}).")

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer an error and close: after a refusal, what is left of the request is not read."""
        self.close_connection = True
        if self._responded:
            return  # mid-response: closing is the only honest answer left
        try:
            self.send_json(status, self.error_body(status, code, message), {"Connection": "close"})
        except OSError:
            return

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's errors (malformed request line, bad version, too many headers ...) as JSON."""
        del explain
        status = HTTPStatus(code)
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # answer with a status line and headers, whatever was sent
        self._refuse(code, _CODES.get(code, status.phrase.replace(" ", "")), message or status.phrase)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._responded = True
        super().send_response(code, message)

    def read_body(self) -> bytes:
        """The request body, within HttpLimits (411 / 400 / 413 otherwise); b"" when there is none."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise RequestRejected(411, _CODES[411], "A request body must be sent with a Content-Length.")
        values = self.headers.get_all("Content-Length") or []
        if not values:
            if self.command in ("POST", "PUT", "PATCH"):
                raise RequestRejected(411, _CODES[411], "A request body must be sent with a Content-Length.")
            return b""
        text = values[0].strip()
        if len(set(values)) != 1 or not text.isdigit() or len(text) > 19:
            raise RequestRejected(400, "InvalidContentLength", "The Content-Length header is not a valid length.")
        length = int(text)
        if length > self.limits.body_bytes:
            raise RequestRejected(
                413, _CODES[413], f"The request content size exceeds the maximum size of {self.limits.body_bytes // (1024 * 1024)} MB."
            )
        data = self.rfile.read(length) if length else b""
        if len(data) != length:
            raise ConnectionResetError("the client closed the connection before sending its whole body")
        self.connection.settimeout(self.limits.send_timeout)
        return data

    def discard_body(self) -> Any:
        """Read (within the limits) and drop a body the method does not take, so keep-alive stays in step: None."""
        self.read_body()
        return None

    def read_json(self) -> Any:
        """The body as JSON ({} when empty), within the limits; invalid or too deep JSON is a 400."""
        raw = self.read_body()
        if not raw:
            return {}
        try:
            return jsonlimits.loads(raw, max_bytes=self.limits.body_bytes, max_depth=self.limits.json_depth)
        except jsonlimits.JsonRejected as exc:
            raise RequestRejected(
                400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: {exc}."
            ) from None

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        # Compact, as Azure's endpoints answer: ODBC Driver 18's managed-identity client finds the
        # token by the literal text "access_token":" and hangs until its login timeout otherwise.
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class _TrackingServer(ThreadingHTTPServer):
    """Keeps each connection's socket and thread so stop() can close keep-alive
    connections that clients leave open, then join every handler thread."""

    daemon_threads = True
    request_queue_size = BACKLOG  # the stdlib's 5 left 6-20 % of a 500-client burst timing out

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conns: dict[threading.Thread, Any] = {}
        self.tls: ssl.SSLContext | None = None
        self._conns_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        limits = getattr(self.RequestHandlerClass, "limits", HttpLimits())
        with self._conns_lock:
            full = len(self._conns) >= limits.max_connections
            if not full:
                self._conns[thread] = request
        if full:
            log.info("HTTP connection refused: %d connections already open", limits.max_connections)
            self.shutdown_request(request)
            return
        try:
            thread.start()
        except RuntimeError:  # the process cannot start another thread: refuse this connection, keep serving
            with self._conns_lock:
                self._conns.pop(thread, None)
            self.shutdown_request(request)

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            if self.tls is not None:
                # Handshake here, in the connection's thread, so one slow client
                # cannot hold up accept() for everyone else.
                request.settimeout(10)
                try:
                    request = self.tls.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    log.debug("TLS handshake failed: %s", exc)
                    request.close()
                    return
                request.settimeout(None)
                with self._conns_lock:
                    self._conns[threading.current_thread()] = request
            self.process_request_thread(request, client_address)
        finally:
            with self._conns_lock:
                self._conns.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """What escapes a handler (a client gone while the response was flushed): one line, no traceback."""
        del request, client_address
        exc = sys.exc_info()[1]
        if exc is None or isinstance(exc, OSError):
            log.debug("http connection ended: %s", exc)
        else:
            log_internal(log, "http connection", exc)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns.items())
        for _thread, sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread, _sock in conns:
            thread.join(timeout=5)


def wake(sock: socket.socket) -> None:
    """Wake a thread blocked in accept()/recv() on ``sock`` at once (Linux: shutdown on a
    listening or unconnected socket makes the blocked call return), instead of polling."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class HttpEndpoint:
    """One listener thread blocked in accept(); stop() wakes it, then closes every connection."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.httpd = _TrackingServer((host, port), handler)
        self.httpd.tls = tls
        bound = self.httpd.server_address
        self.host, self.port = str(bound[0]), int(bound[1])
        self.scheme = "https" if tls else "http"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name=f"http-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def limits(self) -> HttpLimits:
        limits = getattr(self.httpd.RequestHandlerClass, "limits", HttpLimits())
        assert isinstance(limits, HttpLimits)
        return limits

    @limits.setter
    def limits(self, value: HttpLimits) -> None:
        """New limits for the next requests (each endpoint has its own handler class)."""
        self.httpd.RequestHandlerClass.limits = value  # type: ignore[attr-defined]

    def start(self) -> HttpEndpoint:
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                request, client_address = self.httpd.socket.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                # e.g. ECONNABORTED (the client gave up first) or EMFILE: back off briefly, keep serving
                self._stopping.wait(0.01)
                continue
            self.httpd.process_request(request, client_address)

    def stop(self) -> None:
        self._stopping.set()
        wake(self.httpd.socket)
        self._thread.join(timeout=5)
        self.httpd.server_close()
        self.httpd.close_connections()

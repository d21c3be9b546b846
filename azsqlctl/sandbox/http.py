"""A small threaded HTTP(S) server base for the sandbox's REST surfaces."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("azsqlctl.sandbox.http")


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "azsqlctl-sandbox"
    # TCP_NODELAY: the headers and the body are two writes; with Nagle the body waits for the client's
    # delayed ACK (40 ms on Linux) on every keep-alive response, a latency no Azure endpoint has.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # Never the raw request line at INFO: query strings could carry secrets in real clouds.
        log.debug("%s %s", self.command, urlsplit(self.path).path)

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conns: dict[threading.Thread, Any] = {}
        self.tls: ssl.SSLContext | None = None
        self._conns_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        with self._conns_lock:
            self._conns[thread] = request
        thread.start()

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

"""The TDS listener: one thread per connection, all of them stopped and joined on stop()."""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading

from .limits import TdsLimits
from .session import Backend, FaultHook, Session, Tls

log = logging.getLogger("azsqlctl.sandbox.sql.tds")
BACKLOG = 512


def _no_fault(point: str) -> None:
    del point


class TdsServer:
    def __init__(
        self,
        backend: Backend,
        tls: Tls,
        host: str = "127.0.0.1",
        port: int = 0,
        fault: FaultHook | None = None,
        limits: TdsLimits | None = None,
    ) -> None:
        self.backend = backend
        self.tls = tls
        self.fault = fault or _no_fault
        self.limits = limits or TdsLimits()  # read at each accept: tests may shorten the timeouts of a running server
        # A burst of connections waits in the kernel's queue rather than being refused (Linux caps it at somaxconn).
        self._listener = socket.create_server((host, port), backlog=BACKLOG)
        self.host, self.port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: dict[threading.Thread, socket.socket] = {}
        self._spids = itertools.count(51)
        self._accept_thread = threading.Thread(target=self._accept_loop, name="tds-accept", daemon=True)

    def start(self) -> TdsServer:
        self._accept_thread.start()
        return self

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _addr = self._listener.accept()
            except OSError:
                if self._stop.is_set():
                    break
                # e.g. ECONNABORTED (the client gave up first) or EMFILE: back off briefly, keep serving
                self._stop.wait(0.01)
                continue
            with contextlib.suppress(OSError):  # a client already gone: its session finds out and ends
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._run, args=(sock,), name="tds-session", daemon=True)
            with self._lock:
                full = len(self._clients) >= self.limits.max_connections
                if not full:
                    self._clients[thread] = sock
            if full:
                log.info("TDS connection refused: %d connections already open", self.limits.max_connections)
                sock.close()
                continue
            try:
                thread.start()
            except RuntimeError:  # the process cannot start another thread: refuse this connection, keep serving
                with self._lock:
                    self._clients.pop(thread, None)
                sock.close()

    def _run(self, sock: socket.socket) -> None:
        try:
            Session(sock, self.backend, self.tls, next(self._spids), self.fault, self.limits).run()
        finally:
            with self._lock:
                self._clients.pop(threading.current_thread(), None)

    def stop(self) -> None:
        # accept() blocks (no polling); shutting the listener down wakes it at once.
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._accept_thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            clients = list(self._clients.items())
        for _thread, sock in clients:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread, _sock in clients:
            thread.join(timeout=5)

"""A hostile TDS/HTTP client for the protocol fuzz suite: it speaks just enough of each protocol to
reach the state it wants to break (before PRELOGIN, inside TLS, logged in) and then sends anything."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import re
import socket
import ssl
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from azsqlctl.protocol.prelogin import ENCRYPT_ON, client_prelogin
from azsqlctl.protocol.tds import HEADER, LOGIN7, PRELOGIN, STATUS_EOM
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.surfaces import LogsSurface

ALL_HEADERS = struct.pack("<IIHQI", 22, 18, 2, 0, 1)  # the transaction descriptor header drivers send
ERROR_TOKEN = 0xAA


def packet(ptype: int, payload: bytes, status: int = STATUS_EOM, length: int | None = None) -> bytes:
    size = HEADER.size + len(payload) if length is None else length
    return HEADER.pack(ptype, status, size, 0, 1, 0) + payload


def login7(token: str, database: str = "appdb", packet_size: int = 4096) -> bytes:
    """A LOGIN7 ([MS-TDS] 2.2.6.4) carrying ``token`` in the FEDAUTH feature extension, as drivers send it."""
    host, app, db = (s.encode("utf-16-le") for s in ("fuzz-host", "fuzz", database))
    data = bytearray()
    offsets: list[tuple[int, int]] = []
    base = 94

    def put(raw: bytes, chars: int) -> None:
        offsets.append((base + len(data), chars))
        data.extend(raw)

    put(host, len(host) // 2)
    put(b"", 0)  # user
    put(b"", 0)  # password
    put(app, len(app) // 2)
    put(b"", 0)  # server
    ext_at = base + len(data)
    offsets.append((ext_at, 4))
    data.extend(b"\0\0\0\0")  # the FeatureExt offset, patched below
    put(b"", 0)  # client library
    put(b"", 0)  # language
    put(db, len(db) // 2)
    raw_token = token.encode("utf-16-le")
    fedauth = bytes([0x01 << 1]) + struct.pack("<I", len(raw_token)) + raw_token  # library: security token
    feature_at = base + len(data)
    data[ext_at - base : ext_at - base + 4] = struct.pack("<I", feature_at)
    data.extend(bytes([0x02]) + struct.pack("<I", len(fedauth)) + fedauth + b"\xff")
    fixed = struct.pack("<IIIIII", 0, 0x74000004, packet_size, 0, os.getpid(), 0)
    fixed += bytes([0xE0, 0x03, 0x00, 0x10]) + struct.pack("<iI", 0, 0x0409)
    fixed += b"".join(struct.pack("<HH", o, n) for o, n in offsets)
    fixed += b"\0" * 6 + struct.pack("<HHHHHHI", 0, 0, 0, 0, 0, 0, 0)
    assert len(fixed) == base
    body = bytearray(fixed + data)
    body[0:4] = struct.pack("<I", len(body))
    return bytes(body)


class HasTdsPort(Protocol):
    @property
    def tds_port(self) -> int: ...


def tcp(sandbox: HasTdsPort) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", sandbox.tds_port), timeout=10)
    return sock


def strict(sandbox: HasTdsPort) -> ssl.SSLSocket:
    """TDS 8.0 (Encrypt=strict): TLS first, then every message inside it. The fuzzer does not verify."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["tds/8.0"])
    return ctx.wrap_socket(tcp(sandbox), server_hostname="localhost")


def read_message(sock: socket.socket) -> bytes:
    """One whole server message (packets up to EOM); b"" when the server closed the connection."""
    out = bytearray()
    while True:
        head = _exact(sock, HEADER.size)
        if not head:
            return b""
        _t, status, length, *_ = HEADER.unpack(head)
        out += _exact(sock, length - HEADER.size)
        if status & STATUS_EOM:
            return bytes(out)


def _exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except (ConnectionError, ssl.SSLError):
            return b""
        if not chunk:
            return b""
        buf += chunk
    return bytes(buf)


def logged_in(sandbox: HasTdsPort, token: str) -> ssl.SSLSocket:
    sock = strict(sandbox)
    sock.sendall(packet(PRELOGIN, client_prelogin(ENCRYPT_ON)))
    assert read_message(sock), "no PRELOGIN answer"
    sock.sendall(packet(LOGIN7, login7(token)))
    answer = read_message(sock)
    assert answer and 0xAD in answer, f"login refused: {error_numbers(answer)}"  # LOGINACK
    return sock


def error_numbers(answer: bytes) -> list[int]:
    """The numbers of the ERROR tokens in a server message (enough of the token stream for the tests)."""
    found = []
    for m in re.finditer(bytes([ERROR_TOKEN]), answer):
        at = m.start()
        if at + 7 <= len(answer):
            (number,) = struct.unpack_from("<i", answer, at + 3)
            if 0 < number < 100_000:
                found.append(number)
    return found


def closed_by_server(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True when the server has closed the connection (EOF or reset) within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        return False
    return True


@dataclass
class HttpAnswer:
    status: int
    head: str
    body: bytes


def http_surfaces(sandbox: Sandbox) -> dict[str, tuple[str, int, bool]]:
    """name -> (host, port, tls) of every HTTP surface."""
    logs = sandbox.surface(LogsSurface).http
    assert logs is not None
    eps = {"identity": sandbox.identity_http, "arm": sandbox.arm_http, "loganalytics": logs}
    return {name: (ep.host, ep.port, ep.scheme == "https") for name, ep in eps.items()}


def http_connect(address: tuple[str, int, bool], timeout: float = 10) -> socket.socket:
    host, port, tls = address
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx.wrap_socket(sock, server_hostname="localhost")
    return sock


def http_exchange(address: tuple[str, int, bool], raw: bytes, timeout: float = 10) -> HttpAnswer | None:
    """Send ``raw`` as is; the server's answer (read to its Content-Length), or None when it closed without one."""
    with http_connect(address, timeout) as sock:
        with contextlib.suppress(ConnectionError, ssl.SSLError):  # the server may refuse (and close) before reading all
            sock.sendall(raw)
        data = bytearray()
        try:
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = bytes(data).partition(b"\r\n\r\n")
                if not re.match(rb"HTTP/1\.[01] 1\d\d ", head):
                    break
                data = bytearray(body)  # an interim answer (100 Continue): the final one follows
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            want = int(m.group(1)) if m else 0
            while len(body) < want:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            if m:
                # Bytes the request carried past its own end are the next request on the connection: its answer may
                # arrive in the same read, and is not this answer's body.
                body = body[:want]
        except (ConnectionError, ssl.SSLError):
            head, body = bytes(data), b""
    if not head.startswith(b"HTTP/"):
        return None
    return HttpAnswer(int(head.split()[1]), head.decode("latin-1"), body)


def rss_bytes() -> int:
    """Resident memory, after handing freed heap pages back to the kernel: what is still held, not
    what glibc keeps cached (its mmap threshold grows after big frees, so freed blocks stay resident)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def threads() -> int:
    return threading.active_count()


def _child(info: Any, commands: Any, one_cpu: bool) -> None:
    """A sandbox in a process of its own: what clients need to reach it, then its RSS on request."""
    from azsqlctl.sandbox.serve import ARM_RESOURCE, SQL_RESOURCE
    from azsqlctl.sandbox.serve import one_cpu as _one_cpu

    if one_cpu:
        _one_cpu()  # as `sandbox serve` does
    from azsqlctl.sandbox.serve import Sandbox as _Sandbox
    from azsqlctl.sandbox.surfaces import LogsSurface as _Logs

    with tempfile.TemporaryDirectory() as tmp, _Sandbox(Path(tmp) / "state.json") as sb:
        system = sb.store.read(lambda s: s.system_identity())
        assert system is not None
        logs = sb.surface(_Logs).http
        assert logs is not None
        info.put(
            {
                "env": sb.env, "tds_port": sb.tds_port, "identity": sb.identity_http.url, "arm": sb.arm_http.url, "logs": logs.url,
                "sql_token": sb.issue_token(system.name, SQL_RESOURCE), "arm_token": sb.issue_token(system.name, ARM_RESOURCE),
                "logs_token": sb.issue_token(system.name, "https://api.loganalytics.io"),
            }
        )  # fmt: skip
        while commands.get() == "rss":
            info.put(rss_bytes())


class ChildSandbox:
    """A sandbox in a child process, for measuring the sandbox's own memory (not the test's) and for
    benchmarks whose clients must not share the sandbox's interpreter lock."""

    def __init__(self, one_cpu: bool = False) -> None:
        """``one_cpu``: the child keeps to one CPU, as `sandbox serve` does by default."""
        ctx = mp.get_context("spawn")
        self._info: Any = ctx.Queue()
        self._commands: Any = ctx.Queue()
        self.process = ctx.Process(target=_child, args=(self._info, self._commands, one_cpu), daemon=True)

    def __enter__(self) -> ChildSandbox:
        self.process.start()
        self.facts: dict[str, Any] = self._info.get(timeout=120)
        self.tds_port = int(self.facts["tds_port"])
        return self

    def rss(self) -> int:
        """The child's resident memory after it handed freed heap pages back."""
        self._commands.put("rss")
        value: int = self._info.get(timeout=30)
        return value

    def __exit__(self, *exc: object) -> None:
        self._commands.put("stop")
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()

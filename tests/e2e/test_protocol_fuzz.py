"""Hostile and broken clients on every surface (issue 18): the sandbox answers or closes cleanly, never
buffers without bound, never prints a traceback, and a real ODBC login works right after each case.

Every case ends in ``healthy()``: listeners alive, a real driver login + query, no traceback on stderr
nor ERROR record in the log, and threads / descriptors / RSS back to their baseline within a bound.
The regressions are the cases the issue found; the hypothesis tests generate message structure
(packet headers, PRELOGIN/LOGIN7 framing, RPC parameter TYPE_INFOs, HTTP request lines, headers and
bodies). The heavier floods are marked ``slow``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azsqlctl.protocol.prelogin import ENCRYPT_ON, client_prelogin
from azsqlctl.protocol.tds import ATTENTION, LOGIN7, PRELOGIN, RPC, SQL_BATCH, TRANSACTION_MANAGER
from azsqlctl.sandbox.http import HttpLimits
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.sql.tds import session as tds_session
from azsqlctl.sandbox.sql.tds.limits import TdsLimits
from tests.conftest import raw_connect
from tests.e2e import hostile_client as hc
from tests.e2e.test_tds_login import mi_token

RSS_SLACK = 48 * 1024 * 1024  # a flood the sandbox buffered would be far more (the issue measured +129 MB)
THREAD_SLACK = 2
FD_SLACK = 6
SETTLE = 5.0  # seconds for sessions the server closed to finish their threads
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class Baseline:
    threads: int
    fds: int
    rss: int


@dataclass
class Harness:
    sandbox: Sandbox
    token: str
    base: Baseline
    capfd: pytest.CaptureFixture[str]
    caplog: pytest.LogCaptureFixture

    def login(self) -> None:
        cnxn = raw_connect(self.sandbox, self.token)
        assert cnxn.cursor().execute("SELECT 1 AS one").fetchone().one == 1
        cnxn.close()

    def healthy(self) -> None:
        sb = self.sandbox
        assert sb.tds is not None and sb.tds._accept_thread.is_alive(), "the TDS listener died"
        for name, address in hc.http_surfaces(sb).items():
            # Still answering: a plain request for no resource gets the surface's own 4xx, never a close or a 5xx.
            answer = hc.http_exchange(address, b"GET /no-such-resource HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            assert answer is not None and 400 <= answer.status < 500, (name, answer)
        self.login()
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline and (hc.threads() > self.base.threads + THREAD_SLACK or hc.open_fds() > self.base.fds + FD_SLACK):
            time.sleep(0.05)
        assert hc.threads() <= self.base.threads + THREAD_SLACK, f"threads {hc.threads()} vs baseline {self.base.threads}"
        assert hc.open_fds() <= self.base.fds + FD_SLACK, f"descriptors {hc.open_fds()} vs baseline {self.base.fds}"
        assert hc.rss_bytes() <= self.base.rss + RSS_SLACK, f"RSS {hc.rss_bytes() >> 20} MB vs baseline {self.base.rss >> 20} MB"
        err = self.capfd.readouterr().err
        assert "Traceback" not in err, err
        # A traceback from the sandbox at any level, or an ERROR from anyone. Other libraries' debug records with
        # exc_info are not the sandbox's (e.g. azure-identity in a thread an earlier in-process test abandoned).
        bad = [r for r in self.caplog.records if r.levelno >= logging.ERROR or (r.exc_info and r.name.startswith("azsqlctl"))]
        assert not bad, [r.getMessage() for r in bad]
        self.caplog.clear()


@pytest.fixture
def harness(
    sandbox: Sandbox, client_env: dict[str, str], capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[Harness]:
    token = mi_token()
    h = Harness(sandbox, token, Baseline(0, 0, 0), capfd, caplog)
    h.login()  # the driver loaded, pools and caches warm: the baseline is the steady state
    time.sleep(0.2)
    h.base = Baseline(hc.threads(), hc.open_fds(), hc.rss_bytes())
    yield h


def _prelogin(sock: socket.socket) -> None:
    sock.sendall(hc.packet(PRELOGIN, client_prelogin(ENCRYPT_ON)))
    assert hc.read_message(sock)


def _ask(sock: socket.socket, ptype: int, body: bytes, status: int = 0x01) -> bytes:
    sock.sendall(hc.packet(ptype, hc.ALL_HEADERS + body, status))
    return hc.read_message(sock)


def _sql(text: str) -> bytes:
    return text.encode("utf-16-le", errors="surrogatepass")


def _jwt_with_header(header_json: str) -> str:
    enc = base64.urlsafe_b64encode(header_json.encode()).rstrip(b"=").decode()
    return f"{enc}.e30.c2ln"


# --- TDS before login -------------------------------------------------------------------------------


def test_prelogin_without_eom_is_closed_not_buffered(harness: Harness) -> None:
    sock = hc.tcp(harness.sandbox)
    chunk = hc.packet(PRELOGIN, b"\0" * 4088, status=0)  # never the end of the message
    sent = 0
    try:
        for _ in range(512):  # 2 MB offered; the limit is 64 KiB
            sock.sendall(chunk)
            sent += len(chunk)
    except (ConnectionError, TimeoutError):
        pass
    assert hc.closed_by_server(sock)
    sock.close()
    harness.healthy()


def test_connections_over_the_cap_are_closed_and_the_rest_served(harness: Harness) -> None:
    tds = harness.sandbox.tds
    assert tds is not None
    tds.limits = replace(tds.limits, max_connections=20)
    arm = harness.sandbox.arm_http
    arm.limits = replace(arm.limits, max_connections=20)
    held = [hc.tcp(harness.sandbox) for _ in range(20)]
    time.sleep(0.2)
    extra = hc.tcp(harness.sandbox)
    assert hc.closed_by_server(extra)
    arm_address = hc.http_surfaces(harness.sandbox)["arm"]
    held_http = [socket.create_connection(arm_address[:2]) for _ in range(20)]
    time.sleep(0.2)
    extra_http = socket.create_connection(arm_address[:2])
    assert hc.closed_by_server(extra_http)
    for sock in [*held, extra, *held_http, extra_http]:
        sock.close()
    tds.limits, arm.limits = TdsLimits(), HttpLimits()
    harness.healthy()


def test_reset_right_after_connect(harness: Harness) -> None:
    for _ in range(20):
        sock = hc.tcp(harness.sandbox)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
        sock.close()
    harness.healthy()


def test_silent_client_is_closed_at_the_login_timeout(harness: Harness) -> None:
    tds = harness.sandbox.tds
    assert tds is not None
    tds.limits = replace(tds.limits, login_timeout=0.5)
    silent = hc.tcp(harness.sandbox)
    half = hc.strict(harness.sandbox)
    _prelogin(half)  # PRELOGIN done, LOGIN7 never sent
    assert hc.closed_by_server(silent) and hc.closed_by_server(half)
    silent.close()
    half.close()
    tds.limits = TdsLimits()
    harness.healthy()


def test_deeply_nested_jwt_header_is_18456(harness: Harness) -> None:
    for depth in (64 + 1, 5_000, 20_000):  # 20,000 was a RecursionError, and no 18456
        sock = hc.strict(harness.sandbox)
        _prelogin(sock)
        body = hc.login7(_jwt_with_header("[" * depth + "]" * depth))
        sock.sendall(b"".join(hc.packet(LOGIN7, body[i : i + 4000], 1 if i + 4000 >= len(body) else 0) for i in range(0, len(body), 4000)))
        assert hc.error_numbers(hc.read_message(sock)) == [18456], depth
        sock.close()
        harness.healthy()


def test_login7_over_128k_is_closed(harness: Harness) -> None:
    sock = hc.strict(harness.sandbox)
    _prelogin(sock)
    body = hc.login7("x" * 70_000)  # 140 KB of UTF-16: over [MS-TDS]'s 128K-1
    with contextlib.suppress(ConnectionError, OSError):
        sock.sendall(b"".join(hc.packet(LOGIN7, body[i : i + 4000], 1 if i + 4000 >= len(body) else 0) for i in range(0, len(body), 4000)))
    assert hc.closed_by_server(sock)
    sock.close()
    harness.healthy()


@given(
    packets=st.lists(
        st.tuples(
            st.sampled_from([PRELOGIN, LOGIN7, SQL_BATCH, RPC, 0x00, 0x08, 0x11, 0xFF]),
            st.integers(0, 0xFF),  # status
            st.one_of(st.none(), st.integers(0, 0xFFFF)),  # a length that may lie
            st.binary(max_size=600),
        ),
        min_size=1,
        max_size=4,
    ),
    tls=st.booleans(),
)
@FUZZ
def test_fuzz_before_login(harness: Harness, packets: list[tuple[int, int, int | None, bytes]], tls: bool) -> None:
    sock: socket.socket = hc.strict(harness.sandbox) if tls else hc.tcp(harness.sandbox)
    try:
        if tls:
            _prelogin(sock)
        for ptype, status, length, payload in packets:
            sock.sendall(hc.packet(ptype, payload, status, length))
        sock.shutdown(socket.SHUT_WR)  # a lying length must not leave the server waiting
    except (ConnectionError, OSError):
        pass
    assert hc.closed_by_server(sock, timeout=10)
    sock.close()
    harness.healthy()


# --- TDS after login --------------------------------------------------------------------------------


def _intn(size: int, value: bytes) -> bytes:
    return b"\xff\xff\x0a\x00\x00\x00" + b"\x00\x00\x26" + bytes([size, len(value)]) + value  # sp_executesql, one INTN


MALFORMED_REQUESTS = [
    (RPC, _intn(3, b"\x01\x02\x03"), 8009),  # INTN of an impossible size (was a KeyError)
    (RPC, b"\xff\xff\x0a\x00\x00\x00\x00\x00\xe7\xff", 8009),  # TYPE_INFO cut short
    (RPC, b"\xff\xff\x0a\x00\x00\x00\x00\x00\xe7\xff\xff\x09\x04\xd0\x00\x34" + struct.pack("<Q", 2**40), 8009),  # PLP over 2 GB
    (TRANSACTION_MANAGER, b"\x05", 4002),  # a TM request cut short
    (SQL_BATCH, b"S\x00E", 4002),  # half a UTF-16 character
    (SQL_BATCH, _sql("SELECT " + "(" * 5000 + "1" + ")" * 5000), 191),  # nested too deeply
    (SQL_BATCH, _sql("SELECT 1 WHERE " + "NOT (" * 3000 + "1=1" + ")" * 3000), 191),
    (SQL_BATCH, _sql("SELECT N'\ud800' AS lone"), 40517),  # an unpaired surrogate (SQLite cannot store it)
]


def test_malformed_requests_are_errors_and_the_session_goes_on(harness: Harness) -> None:
    sock = hc.logged_in(harness.sandbox, harness.token)  # one session through all of them
    for ptype, body, number in MALFORMED_REQUESTS:
        assert number in hc.error_numbers(_ask(sock, ptype, body)), (ptype, number)
        assert hc.error_numbers(_ask(sock, SQL_BATCH, _sql("SELECT 1 AS n"))) == []
    sock.close()
    harness.healthy()


def test_request_over_the_memory_limit_is_701_and_the_session_goes_on(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    tds = harness.sandbox.tds
    assert tds is not None
    tds.limits = replace(tds.limits, request_bytes=256 * 1024)
    sock = hc.logged_in(harness.sandbox, harness.token)
    # A PLP parameter whose chunks go on for 1 MB (4x the limit): drained, not kept, then 701.
    start = b"\xff\xff\x0a\x00\x00\x00\x00\x00\xa5\xff\xff" + struct.pack("<Q", 2**64 - 2)
    sock.sendall(hc.packet(RPC, hc.ALL_HEADERS + start, status=0))
    for _ in range(256):
        sock.sendall(hc.packet(RPC, struct.pack("<I", 4000) + b"\0" * 4000, status=0))
    sock.sendall(hc.packet(RPC, b"\0\0\0\0"))
    assert hc.error_numbers(hc.read_message(sock)) == [701]
    # Past Azure's own bound (65,536 packets; 64 here) the connection is closed. Patched before the
    # next request, whose answer the session sends before it waits (with the bound) for the one after.
    monkeypatch.setattr(tds_session, "MAX_REQUEST_PACKETS", 64)
    assert hc.error_numbers(_ask(sock, SQL_BATCH, _sql("SELECT 1 AS n"))) == []
    try:
        for _ in range(200):
            sock.sendall(hc.packet(SQL_BATCH, b"\0" * 4000, status=0))
    except (ConnectionError, OSError):
        pass
    assert hc.closed_by_server(sock)
    sock.close()
    tds.limits = TdsLimits()
    harness.healthy()


def test_idle_session_is_closed_at_the_idle_timeout(harness: Harness) -> None:
    tds = harness.sandbox.tds
    assert tds is not None
    tds.limits = replace(tds.limits, idle_timeout=0.5)
    sock = hc.logged_in(harness.sandbox, harness.token)
    assert hc.closed_by_server(sock)
    sock.close()
    tds.limits = TdsLimits()
    harness.healthy()


def test_a_client_that_stops_reading_is_closed_at_the_send_timeout(harness: Harness) -> None:
    """A client that asks for a large result and never reads it: the session's send gives up at the send timeout
    (once logged in, the kernel's SO_SNDTIMEO) and the connection closes, rather than a thread blocked forever."""
    tds = harness.sandbox.tds
    assert tds is not None
    tds.limits = replace(tds.limits, send_timeout=0.5)
    before = set(threading.enumerate())
    sock = hc.logged_in(harness.sandbox, harness.token)
    session = [t for t in threading.enumerate() if t not in before and t.name == "tds-session"]
    assert len(session) == 1, session  # the thread serving this connection
    big = "SELECT REPLICATE(CONVERT(NVARCHAR(MAX), N'x'), 20000000) AS big"  # 40 MB: more than both sockets' buffers
    sock.sendall(hc.packet(SQL_BATCH, hc.ALL_HEADERS + _sql(big)))
    # The answer fills the buffers, the sandbox's send blocks, its timeout runs out and the session ends: wait for
    # that (not a fixed sleep, which a loaded machine can outlast before the answer is even built).
    session[0].join(60)
    # Had the send not timed out, the session would still be blocked, and reading now would let the whole answer
    # through and the connection stay open.
    assert hc.closed_by_server(sock, timeout=5)
    sock.close()
    tds.limits = TdsLimits()
    harness.healthy()


def test_unknown_packet_type_after_login_is_closed(harness: Harness) -> None:
    sock = hc.logged_in(harness.sandbox, harness.token)
    sock.sendall(hc.packet(0x42, b"junk"))
    assert hc.closed_by_server(sock)
    sock.close()
    harness.healthy()


_TYPE_CODES = [
    0x26,
    0x6D,
    0x6E,
    0x6F,
    0x68,
    0x24,
    0x6A,
    0x6C,
    0xE7,
    0xA7,
    0xA5,
    0xAD,
    0x23,
    0x63,
    0x22,
    0x28,
    0x29,
    0x2A,
    0x2B,
    0x7F,
    0x38,
    0x00,
    0xF1,
]


@given(
    requests=st.lists(
        st.one_of(
            st.tuples(
                st.just(RPC),
                st.builds(
                    lambda proc, name, status, code, rest: struct.pack("<HHH", 0xFFFF, proc, 0) + name + bytes([status, code]) + rest,
                    st.sampled_from([10, 11, 12, 13, 1, 99]),
                    st.sampled_from([b"\x00", b"\x03@\x00p\x001\x00", b"\xff"]),
                    st.sampled_from([0, 1, 8]),
                    st.sampled_from(_TYPE_CODES),
                    st.binary(max_size=64),
                ),
            ),
            st.tuples(st.just(TRANSACTION_MANAGER), st.binary(max_size=16)),
            st.tuples(st.just(SQL_BATCH), st.binary(max_size=200)),
            st.tuples(st.just(ATTENTION), st.binary(max_size=4)),
        ),
        min_size=1,
        max_size=4,
    )
)
@FUZZ
def test_fuzz_after_login(harness: Harness, requests: list[tuple[int, bytes]]) -> None:
    sock = hc.logged_in(harness.sandbox, harness.token)
    for ptype, body in requests:
        answer = _ask(sock, ptype, body)
        assert answer, f"no answer to packet type {ptype:#x}"  # every request gets an answer
    assert hc.error_numbers(_ask(sock, SQL_BATCH, _sql("SELECT 1 AS n"))) == []  # and the session goes on
    sock.close()
    harness.healthy()


# --- HTTP surfaces ----------------------------------------------------------------------------------


def _shape_ok(name: str, answer: hc.HttpAnswer) -> None:
    import json

    body = json.loads(answer.body)
    if name == "identity":
        assert body["statusCode"] == answer.status and body["message"]
    else:
        assert body["error"]["code"] and body["error"]["message"]


CASES = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /\x00\x01 HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n", 431),
    (b"POST /v1/workspaces/x/query HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST /v1/workspaces/x/query HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413),
    (b"POST /v1/workspaces/x/query HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
    (b"POST /v1/workspaces/x/query HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411),
    (b"POST /v1/workspaces/x/query HTTP/1.1\r\n\r\n", 411),
    (b"BREW / HTTP/1.1\r\n\r\n", 501),
]


def test_malformed_http_is_answered_in_the_surface_shape(harness: Harness) -> None:
    for raw, status in CASES:
        for name, address in hc.http_surfaces(harness.sandbox).items():
            answer = hc.http_exchange(address, raw)
            assert answer is not None, f"{name}: no answer to {raw[:60]!r}"
            takes_post = name == "loganalytics"
            if raw.startswith(b"POST") and not takes_post:
                assert answer.status in (status, 501), (name, answer.head)  # no POST there: refused either way
            else:
                assert answer.status == status, (name, raw[:60], answer.head)
            _shape_ok(name, answer)
        harness.healthy()


def test_invalid_and_deep_json_is_400_on_arm(harness: Harness) -> None:
    address = hc.http_surfaces(harness.sandbox)["arm"]
    for body in (b"{not json", b"[" * 100_000 + b"]" * 100_000, b'"\xff\xfe"', b"[1, 2]"):
        raw = b"PUT /subscriptions/x/resourceGroups/y/providers/Microsoft.Sql/servers/z HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
        answer = hc.http_exchange(address, raw + body)
        assert answer is not None and answer.status == 400, answer
        _shape_ok("arm", answer)
    harness.healthy()


def test_clients_that_vanish_or_crawl_are_closed_quietly(harness: Harness) -> None:
    surfaces = hc.http_surfaces(harness.sandbox)
    endpoints = {"identity": harness.sandbox.identity_http, "arm": harness.sandbox.arm_http}
    for ep in endpoints.values():
        ep.limits = replace(ep.limits, header_timeout=0.5, idle_timeout=0.5, body_timeout=0.5)
    for name in endpoints:
        vanish = hc.http_connect(surfaces[name])
        vanish.sendall(b"PUT /x HTTP/1.1\r\nContent-Length: 1000\r\n\r\nonly part")
        vanish.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        vanish.close()
        crawl = hc.http_connect(surfaces[name])
        crawl.sendall(b"GET / HTTP/1.1\r\nX-Slow: ")  # then nothing: the header timeout closes it
        idle = hc.http_connect(surfaces[name])  # connects, never sends a request line
        assert hc.closed_by_server(crawl) and hc.closed_by_server(idle)
        crawl.close()
        idle.close()
    for ep in endpoints.values():
        ep.limits = HttpLimits()
    harness.healthy()


_METHODS = st.sampled_from([b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"HEAD", b"OPTIONS", b"G\x00T", b""])
_PATHS = st.sampled_from([b"/", b"/msi/token?api-version=2019-08-01&resource=https://database.windows.net", b"/v1/workspaces/w/query",
                          b"/subscriptions/s/providers/Microsoft.Sql/servers", b"*", b"%%%", b"/\xff\xfe"])  # fmt: skip
_HEADERS = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"Content-Length: 0",
                b"Content-Length: -1",
                b"Content-Length: 18446744073709551616",
                b"Content-Type: application/json",
                b"Authorization: Bearer x.y.z",
                b"Transfer-Encoding: chunked",
                b"Expect: 100-continue",
                b"Connection: close",
            ]
        ),
        st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    ),
    max_size=5,
)


@given(surface=st.sampled_from(["identity", "arm", "loganalytics"]), method=_METHODS, path=_PATHS, version=st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b""]),
       headers=_HEADERS, body=st.binary(max_size=200))  # fmt: skip
@FUZZ
def test_fuzz_http(harness: Harness, surface: str, method: bytes, path: bytes, version: bytes, headers: list[bytes], body: bytes) -> None:
    raw = b" ".join(p for p in (method, path, version) if p) + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body
    endpoint = {"identity": harness.sandbox.identity_http, "arm": harness.sandbox.arm_http}.get(surface)
    if endpoint is not None:
        endpoint.limits = replace(endpoint.limits, body_timeout=1, header_timeout=1, idle_timeout=1)
    answer = hc.http_exchange(hc.http_surfaces(harness.sandbox)[surface], raw, timeout=15)
    if answer is not None:
        assert 200 <= answer.status < 600
        if answer.status >= 400 and answer.body:
            _shape_ok(surface, answer)
    if endpoint is not None:
        endpoint.limits = HttpLimits()
    harness.healthy()


# --- floods (slow) ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_repeated_floods_leave_memory_at_its_baseline(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """The issue's measurements, on a sandbox in its own process (its memory, not the test's): 128 MB of
    PRELOGIN without EOM (RSS +129 MB), and rounds of 32 MB batches after login (RSS 109 -> 152 ->
    191 MB, held after the sessions closed)."""
    with hc.ChildSandbox() as child:
        for key, value in child.facts["env"].items():
            monkeypatch.setenv(key, value)
        token = child.facts["sql_token"]

        def login() -> None:
            cnxn = raw_connect(child, token)  # type: ignore[arg-type]  # only its tds_port is read
            assert cnxn.cursor().execute("SELECT 1 AS one").fetchone().one == 1
            cnxn.close()

        login()
        baseline = child.rss()
        chunk = hc.packet(PRELOGIN, b"\0" * 32_000, status=0)
        after_prelogin = 0
        for _ in range(2):
            sock = hc.tcp(child)
            sock.settimeout(30)
            with contextlib.suppress(ConnectionError, OSError):
                for _ in range(2048):  # 64 MB offered per round; the server closes after 64 KiB
                    sock.sendall(chunk)
            after_prelogin = max(after_prelogin, child.rss())  # measured with the flooding connection still open
            sock.close()
        after_round: list[int] = []
        piece = _sql("x" * 16_000)
        for _ in range(4):
            sock = hc.logged_in(child, token)
            sock.sendall(hc.packet(SQL_BATCH, hc.ALL_HEADERS + _sql("SELECT 1 AS n -- "), status=0))
            for _ in range(1024):  # 32 MB of SQL text, under the 64 MiB the sandbox keeps of one request
                sock.sendall(hc.packet(SQL_BATCH, piece, status=0))
            sock.sendall(hc.packet(SQL_BATCH, _sql(" ")))
            assert hc.error_numbers(hc.read_message(sock)) == []
            assert hc.error_numbers(_ask(sock, SQL_BATCH, _sql("SELECT 2 AS n"))) == []  # an idle session holds no old request
            after_round.append(child.rss())
            sock.close()
        login()
        assert child.process.is_alive()
        mb = [r >> 20 for r in (baseline, after_prelogin, *after_round)]
        assert after_prelogin - baseline <= 16 * 1024 * 1024, mb  # the PRELOGIN floods were not buffered
        # Kept batches grew 16 MB a round (+32 MB from round 2 to 4); the allocator's own noise is well under.
        assert after_round[3] - after_round[1] <= 20 * 1024 * 1024, mb
        assert after_round[3] - baseline <= 64 * 1024 * 1024, mb
    assert "Traceback" not in capfd.readouterr().err


# --- structured fuzzing: valid messages with lying fields -----------------------------------------


@given(
    options=st.lists(st.tuples(st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)), max_size=6),
    data=st.binary(max_size=64),
    terminated=st.booleans(),
)
@FUZZ
def test_fuzz_prelogin_option_table(harness: Harness, options: list[tuple[int, int, int]], data: bytes, terminated: bool) -> None:
    body = b"".join(struct.pack(">BHH", *o) for o in options) + (b"\xff" if terminated else b"") + data
    sock = hc.tcp(harness.sandbox)
    sock.sendall(hc.packet(PRELOGIN, body))
    answer = hc.read_message(sock)  # a PRELOGIN answer (then the TLS handshake waits), or a close
    sock.close()
    assert answer == b"" or answer[0] in (0x00, 0x01, 0xFF)
    harness.healthy()


_LOGIN = hc.login7("x" * 64)


@given(
    edits=st.lists(st.tuples(st.integers(0, len(_LOGIN) - 1), st.binary(min_size=1, max_size=4)), min_size=1, max_size=6),
    cut=st.integers(0, len(_LOGIN)),
)
@FUZZ
def test_fuzz_login7_fields(harness: Harness, edits: list[tuple[int, bytes]], cut: int) -> None:
    """A LOGIN7 with its lengths, offsets and feature table overwritten: 18456 or a clean close."""
    body = bytearray(_LOGIN)
    for at, raw in edits:
        body[at : at + len(raw)] = raw
    sock = hc.strict(harness.sandbox)
    _prelogin(sock)
    with contextlib.suppress(ConnectionError, OSError):
        sock.sendall(hc.packet(LOGIN7, bytes(body[: max(cut, 1)])))
    answer = hc.read_message(sock)
    sock.close()
    assert answer == b"" or 0xAD not in answer or hc.error_numbers(answer) == []  # never both an error and a LOGINACK
    harness.healthy()


def _msal_login7() -> bytes:
    """LOGIN7 asking for the server-driven token workflow (FEDAUTHINFO, then FEDAUTH_TOKEN)."""
    body = bytearray(hc.login7(""))
    at = body.index(bytes([0x02, 0x05, 0, 0, 0, 0x02]))  # feature 2, length 5, options: security token
    body[at : at + 11] = bytes([0x02, 0x02, 0, 0, 0, 0x02 << 1, 0x03]) + b"\xff\xff\xff\xff"
    return bytes(body)


@given(
    token=st.one_of(
        st.binary(max_size=300),
        st.builds(lambda n, t: struct.pack("<II", n, len(t)) + t, st.integers(0, 2**32 - 1), st.binary(max_size=200)),
    )
)
@FUZZ
def test_fuzz_fedauth_token_message(harness: Harness, token: bytes) -> None:
    sock = hc.strict(harness.sandbox)
    _prelogin(sock)
    sock.sendall(hc.packet(LOGIN7, _msal_login7()))
    info = hc.read_message(sock)
    assert info[:1] == b"\xee", "expected FEDAUTHINFO"
    sock.sendall(hc.packet(0x08, token))
    answer = hc.read_message(sock)
    sock.close()
    assert answer == b"" or hc.error_numbers(answer) == [18456]
    harness.healthy()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_PROPS = ["startIpAddress", "endIpAddress", "login", "sid", "tenantId", "azureADOnlyAuthentication", "publicNetworkAccess",
          "minimalTlsVersion", "administrators", "principalType", "state", "workspaceId", "logs", "isAzureMonitorTargetEnabled"]  # fmt: skip


_CHILDREN = ["/firewallRules/fuzz", "/administrators/ActiveDirectory", "/azureADOnlyAuthentications/Default", "",
             "/auditingSettings/default", "/providers/Microsoft.Insights/diagnosticSettings/fuzz"]  # fmt: skip


@given(
    child=st.sampled_from(_CHILDREN),
    method=st.sampled_from(["PUT", "PATCH"]),
    body=st.one_of(json_values, st.dictionaries(st.sampled_from(_PROPS), json_values, max_size=5).map(lambda p: {"properties": p})),
)
@FUZZ
def test_fuzz_arm_json_bodies(harness: Harness, child: str, method: str, body: object) -> None:
    """Any JSON on ARM's writable routes: an answer below 500 (ARM validates what it stores), never a bug."""
    import json

    from azsqlctl.sandbox.serve import ARM_RESOURCE

    sb = harness.sandbox
    name = sb.store.read(lambda s: s.system_identity()).name  # type: ignore[union-attr]
    token = sb.issue_token(name, ARM_RESOURCE)
    env = sb.env
    path = f"/subscriptions/{env['AZSQLCTL_SUBSCRIPTION']}/resourceGroups/{env['AZSQLCTL_RESOURCE_GROUP']}/providers/Microsoft.Sql/servers/sandbox-sql{child}"
    data = json.dumps(body).encode()
    raw = (
        f"{method} {path}?api-version=2023-08-01 HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    saved = sb.store.read(lambda s: (copy.deepcopy(s.server), copy.deepcopy(s.monitor)))
    answer = hc.http_exchange(hc.http_surfaces(sb)["arm"], raw)
    assert answer is not None and answer.status < 500, answer
    if answer.status < 300:  # what was stored must not break what reads it: a login answers (a refusal is
        import pyodbc  # an answer; 40197 and the ERROR line healthy() looks for are a sandbox bug)

        try:
            harness.login()
        except pyodbc.Error as exc:
            assert "40197" not in str(exc), exc
    with sb.store.mutate() as s:  # then back to the state the health check logs in with
        s.server, s.monitor = saved
    harness.healthy()


def test_a_sandbox_bug_is_one_log_line_and_the_error_azure_gives(harness: Harness) -> None:
    """Not a client's doing: a bug inside the sandbox. TDS answers 40197 (and the session goes on),
    HTTP answers 500 in the surface's shape; each is logged once, one line, no traceback."""
    sb = harness.sandbox

    def broken(*args: object, **kwargs: object) -> NoReturn:
        raise KeyError("a bug")

    sb.sql.batch = broken  # type: ignore[method-assign]
    sock = hc.logged_in(sb, harness.token)
    assert hc.error_numbers(_ask(sock, SQL_BATCH, _sql("SELECT 1"))) == [40197]
    assert hc.error_numbers(_ask(sock, TRANSACTION_MANAGER, struct.pack("<HB", 5, 0) + b"\x00")) == []  # the session goes on
    sock.close()
    sb.arm.handle = broken  # type: ignore[method-assign]
    answer = hc.http_exchange(hc.http_surfaces(sb)["arm"], b"GET /subscriptions HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer is not None and answer.status == 500
    _shape_ok("arm", answer)
    errors = [r for r in harness.caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and not any(r.exc_info for r in errors), [r.getMessage() for r in errors]
    assert all("internal error" in r.getMessage() and "KeyError" in r.getMessage() and "\n" not in r.getMessage() for r in errors)
    assert "tds session" in errors[0].getMessage() and "arm connection" in errors[1].getMessage()
    harness.caplog.clear()
    del sb.sql.batch, sb.arm.handle  # the class's methods again
    harness.healthy()


def test_keep_alive_stays_in_step_after_a_get_with_a_body(harness: Harness) -> None:
    for name, address in hc.http_surfaces(harness.sandbox).items():
        with hc.http_connect(address) as sock:
            sock.sendall(b"GET /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\nGET /smuggled HTTP")
            sock.sendall(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(10)
            data = b""
            while data.count(b"HTTP/1.1 ") < 2:
                chunk = sock.recv(65536)
                assert chunk, f"{name}: closed after {data.count(b'HTTP/1.1 ')} answer(s)"
                data += chunk
            assert data.count(b"HTTP/1.1 ") == 2 and b"HTTP/1.1 400" not in data, (name, data)  # the body was not taken for a request
    harness.healthy()

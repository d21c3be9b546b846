"""The sandbox under load from many clients at once: `python -m bench http idle`.

1. http: 500 requests at once on each HTTP surface (identity, ARM, Log Analytics), each on its own
   connection (TLS where the surface has it), released together by a barrier. Goal: 0 timeouts;
   the p50/p99 latency is reported. The sandbox runs in a child process, so the 500 client threads
   do not share its interpreter lock.
2. idle: a real ODBC login's median latency with 200 idle TDS connections open vs with none, both
   silent connections that never log in and logged-in connections left idle (a pool's). Goal <= 2x.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from tests.e2e.hostile_client import ChildSandbox

REQUEST_TIMEOUT = 10.0


def _requests(sb: dict[str, Any]) -> dict[str, tuple[str, str, str, dict[str, str], bytes | None]]:
    env = sb["env"]
    server = f"/subscriptions/{env['AZSQLCTL_SUBSCRIPTION']}/resourceGroups/{env['AZSQLCTL_RESOURCE_GROUP']}/providers/Microsoft.Sql/servers/sandbox-sql"
    query = json.dumps({"query": "AzureDiagnostics | take 1", "timespan": "PT1H"}).encode()
    return {
        "identity": (sb["identity"], "GET", "/msi/token?api-version=2019-08-01&resource=https://database.windows.net", {"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]}, None),
        "arm": (sb["arm"], "GET", server + "?api-version=2023-08-01", {"Authorization": f"Bearer {sb['arm_token']}"}, None),
        "loganalytics": (sb["logs"], "POST", f"/v1/workspaces/{env['AZSQLCTL_LOGS_WORKSPACE']}/query",
                         {"Authorization": f"Bearer {sb['logs_token']}", "Content-Type": "application/json"}, query),
    }  # fmt: skip


def _burst(
    url: str, method: str, path: str, headers: dict[str, str], body: bytes | None, clients: int, tls: ssl.SSLContext
) -> tuple[list[float], int, int]:
    """(latencies of answered requests, timeouts, other failures) for ``clients`` requests released at once."""
    parts = urlsplit(url)
    barrier = threading.Barrier(clients)
    latencies: list[float] = []
    failures = {"timeout": 0, "other": 0}
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        start = time.perf_counter()
        try:
            if parts.scheme == "https":
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    parts.hostname or "", parts.port, timeout=REQUEST_TIMEOUT, context=tls
                )
            else:
                conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=REQUEST_TIMEOUT)
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            ok = response.status == 200
        except TimeoutError:
            with lock:
                failures["timeout"] += 1
            return
        except OSError:
            ok = False
        elapsed = time.perf_counter() - start
        with lock:
            if ok:
                latencies.append(elapsed)
            else:
                failures["other"] += 1

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, failures["timeout"], failures["other"]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def bench_http_burst(clients: int = 500) -> None:
    with ChildSandbox() as child:
        sb = child.facts
        tls = ssl.create_default_context(cafile=sb["env"]["AZSQLCTL_CA_BUNDLE"])
        tls.check_hostname = False  # the URLs name 127.0.0.1; the certificate is checked against the CA
        for name, (url, method, path, headers, body) in _requests(sb).items():
            _burst(url, method, path, headers, body, 8, tls)  # warm up
            start = time.perf_counter()
            latencies, timeouts, other = _burst(url, method, path, headers, body, clients, tls)
            wall = time.perf_counter() - start
            print(
                f"http: {name}: {clients} requests at once: {len(latencies)} answered 200, {timeouts} timeouts, {other} other failures; "
                f"p50 {_pct(latencies, 0.5) * 1000:.0f} ms, p99 {_pct(latencies, 0.99) * 1000:.0f} ms, all in {wall:.1f} s (goal: 0 timeouts)"
            )


def bench_idle_tds(idle: int = 200, samples: int = 30) -> None:
    from tests.conftest import raw_connect

    with ChildSandbox() as target:
        sb = target.facts
        os.environ.update(sb["env"])

        def login_times() -> list[float]:
            times = []
            for _ in range(samples):
                start = time.perf_counter()
                cnxn = raw_connect(target, sb["sql_token"])  # type: ignore[arg-type]  # only its tds_port is read
                cnxn.cursor().execute("SELECT 1").fetchone()
                cnxn.close()
                times.append(time.perf_counter() - start)
            return times

        login_times()  # driver loaded, caches warm
        alone = login_times()
        silent = [socket.create_connection(("127.0.0.1", sb["tds_port"])) for _ in range(idle)]
        time.sleep(0.5)
        with_silent = statistics.median(login_times())
        for s in silent:
            s.close()
        time.sleep(0.5)
        alone += login_times()  # the baseline before and after, so drift does not favour either side
        with ThreadPoolExecutor(8) as pool:
            pooled = list(pool.map(lambda _: raw_connect(target, sb["sql_token"]), range(idle)))  # type: ignore[arg-type]
        time.sleep(0.5)
        with_pooled = statistics.median(login_times())
        for c in pooled:
            c.close()
        time.sleep(0.5)
        base = statistics.median(alone + login_times())
        print(f"idle: login + SELECT 1 median {base * 1000:.1f} ms with no other connection")
        print(f"idle: with {idle} silent connections (never log in): {with_silent * 1000:.1f} ms = {with_silent / base:.2f}x (goal <= 2x)")
        print(f"idle: with {idle} logged-in idle connections: {with_pooled * 1000:.1f} ms = {with_pooled / base:.2f}x (goal <= 2x)")

"""Audit and shutdown benchmarks (`python -m bench audit stop`).

audit: a successful login's median latency through the real ODBC driver in a fresh sandbox,
then again after N refused logins (real driver, 8 clients) have filled the audit store, and
while refused logins keep arriving from 4 other clients; each as a ratio to the fresh
sandbox (goal <= 1.2x after 10,000 rows). Before the audit store, every refused login
rewrote the whole state file under the lock every login takes (3 ms -> 190 ms).

stop: median wall time of Sandbox.stop() (all surfaces, in parallel, no polling); before
this change each stop cost ~0.5 s of sequential polling (TDS 0.2 s accept timeout, HTTP x2
and DNS 0.1 s serve_forever polls).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def _median_login(sb: Any, token: str, runs: int) -> float:
    from tests.conftest import raw_connect

    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        raw_connect(sb, token).close()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _refuse(sb: Any, token: str) -> None:
    import pyodbc

    from tests.conftest import raw_connect

    try:
        raw_connect(sb, token).close()
    except pyodbc.Error:
        return
    raise AssertionError("expected a refused login")


def bench_audit(rows: int, runs: int = 40) -> None:
    from azsqlctl.sandbox.serve import Sandbox

    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp) / "state.json") as sb:
        os.environ.update(sb.env)
        ok, stranger = sb.issue_token("orders-api"), sb.issue_token("billing-worker")
        _median_login(sb, ok, 3)  # the driver's first connection in a process loads it
        fresh = _median_login(sb, ok, runs)
        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: _refuse(sb, stranger), range(rows)))
        filled = time.perf_counter() - start
        stored = sb.store.audit.count()
        full = _median_login(sb, ok, runs)
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                _refuse(sb, stranger)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            busy = _median_login(sb, ok, runs)
        finally:
            stop.set()
            for t in threads:
                t.join()
    print(f"audit: {rows} refused logins in {filled:.1f} s ({rows / filled:.0f}/s), {stored} rows stored")
    print(
        f"audit: successful login median {fresh * 1000:.1f} ms fresh, {full * 1000:.1f} ms with {stored} audit rows "
        f"(ratio {full / fresh:.2f}x, goal <= 1.20x), {busy * 1000:.1f} ms while 4 clients are refused ({busy / fresh:.2f}x)"
    )


def bench_stop(cycles: int = 20) -> None:
    from azsqlctl.sandbox.serve import Sandbox

    with tempfile.TemporaryDirectory() as tmp:
        material = Path(tmp) / "material"
        material.mkdir()
        samples = []
        for i in range(cycles):
            sb = Sandbox(Path(tmp) / f"s{i}.json", material_dir=material).start()
            start = time.perf_counter()
            sb.stop()
            samples.append(time.perf_counter() - start)
    print(f"stop: Sandbox.stop() median {statistics.median(samples) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms over {cycles} cycles")

"""Audit and shutdown benchmarks (`python -m bench audit stop`).

audit: a successful login's median latency through the real ODBC driver in a fresh sandbox,
and in a second sandbox after N refused logins (real driver, 8 clients) have filled its audit
store, measured alternately (goal <= 1.2x after 10,000 rows); then while 4 other clients are
refused vs while 4 others log in successfully (the same CPU load without audit refusals). Before the audit store, every refused login
rewrote the whole state file under the lock every login takes (3 ms -> 190 ms).

stop: median wall time of Sandbox.stop() (all surfaces, in parallel, no polling); before
this change each stop cost ~0.5 s of sequential polling (TDS 0.2 s accept timeout, HTTP x2
and DNS 0.1 s serve_forever polls).
"""

from __future__ import annotations

import contextlib
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


def bench_audit(rows: int, runs: int = 60) -> None:
    """Two sandboxes side by side, one fresh and one with ``rows`` refused logins behind it;
    successful logins alternate between them in rounds, so machine load drifts hit both alike."""
    import pyodbc

    from azsqlctl.sandbox.serve import Sandbox
    from tests.conftest import raw_connect

    with tempfile.TemporaryDirectory() as tmp:
        material = Path(tmp) / "material"  # one CA and signing key for both, as the tests share them
        material.mkdir()
        with (
            Sandbox(Path(tmp) / "fresh.json", material_dir=material) as fresh_sb,
            Sandbox(Path(tmp) / "filled.json", material_dir=material) as filled_sb,
        ):
            os.environ.update(filled_sb.env)
            tokens = {id(sb): (sb.issue_token("orders-api"), sb.issue_token("billing-worker")) for sb in (fresh_sb, filled_sb)}
            for sb in (fresh_sb, filled_sb):
                _median_login(sb, tokens[id(sb)][0], 3)  # the driver's first connection in a process loads it
            stranger = tokens[id(filled_sb)][1]
            start = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda _: _refuse(filled_sb, stranger), range(rows)))
            filled = time.perf_counter() - start
            stored = filled_sb.store.audit.count()
            samples: dict[int, list[float]] = {id(fresh_sb): [], id(filled_sb): []}
            for _ in range(runs // 10):
                for sb in (fresh_sb, filled_sb):
                    samples[id(sb)].append(_median_login(sb, tokens[id(sb)][0], 10))
            fresh, full = statistics.median(samples[id(fresh_sb)]), statistics.median(samples[id(filled_sb)])

            def under_load(hammer_token: str) -> float:
                """Median successful login while 4 other clients log in with ``hammer_token``."""
                stop = threading.Event()

                def hammer() -> None:
                    while not stop.is_set():
                        with contextlib.suppress(pyodbc.Error):
                            raw_connect(filled_sb, hammer_token).close()

                threads = [threading.Thread(target=hammer) for _ in range(4)]
                for t in threads:
                    t.start()
                try:
                    return _median_login(filled_sb, tokens[id(filled_sb)][0], runs)
                finally:
                    stop.set()
                    for t in threads:
                        t.join()

            busy_refused = under_load(stranger)
            busy_ok = under_load(tokens[id(filled_sb)][0])
    print(f"audit: {rows} refused logins in {filled:.1f} s ({rows / filled:.0f}/s), {stored} rows stored")
    print(
        f"audit: successful login median {fresh * 1000:.1f} ms in a fresh sandbox, {full * 1000:.1f} ms with {stored} audit rows "
        f"(ratio {full / fresh:.2f}x, goal <= 1.20x)"
    )
    print(
        f"audit: {busy_refused * 1000:.1f} ms while 4 other clients are being refused, {busy_ok * 1000:.1f} ms while 4 others "
        f"log in successfully (ratio {busy_refused / busy_ok:.2f}x: refusals cost what any login costs, the CPU, no lock)"
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

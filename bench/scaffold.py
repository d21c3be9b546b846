"""The generated connection module under load (`python -m bench scaffold`), ratios from one run.

N requests spread over a simulated 2 hours (1-hour tokens; time advanced by the benchmark through
one fake clock shared by the generated module, azure-identity and the sandbox - never slept),
8 workers, against the sandbox with the real azure-identity and ODBC driver. Each request is what
the generated FastAPI dependency does: take a connection, run one parameterised query, give it back.

- generated: the generated module as shipped (token cache; connection cache, idle window 15 s)
- generated, TTL N s: the same with a shorter idle window (--short-ttl)
- cache disabled: the generated module with AZSQL_CONNECTION_TTL=0 (token cache only)
- quickstart: Microsoft's FastAPI quickstart pattern - a new DefaultAzureCredential and a new
  connection per request

Reported: token requests seen by the sandbox's token endpoint (goal <= 3 for the generated
module), logins seen by its TDS endpoint (goal <= 1/20 of the quickstart's), requests/s.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SIMULATED = 2 * 3600.0


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def _generate(root: Path) -> Any:
    from azsqlctl.core.scaffold import Ci, ScaffoldInputs, render

    for f in render(ScaffoldInputs(package="bench_app.db", ci=Ci.NONE)):
        path = root / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.content)
    (root / "bench_app" / "__init__.py").write_text("")
    sys.path.insert(0, str(root))
    return importlib.import_module("bench_app.db.connection"), importlib.import_module("bench_app.db.settings")


def _run(name: str, requests: int, workers: int, clock: FakeClock, one: Callable[[int], None], sb: Any) -> dict[str, Any]:
    tokens_before, logins_before = sum(sb.identity.requests.values()), sb.sql.logins_ok
    step = SIMULATED / requests

    def request(i: int) -> None:
        one(i)
        clock.advance(step)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(request, range(requests)))
    wall = time.perf_counter() - start
    return {
        "name": name,
        "requests": requests,
        "tokens": sum(sb.identity.requests.values()) - tokens_before,
        "logins": sb.sql.logins_ok - logins_before,
        "rps": requests / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000, help="requests for the generated module (cached)")
    parser.add_argument("--baseline-requests", type=int, default=1_000, help="requests for the quickstart and cache-disabled runs")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--short-ttl", type=float, default=5.0, help="connection idle window of the second generated run, seconds")
    args = parser.parse_args()
    bench_scaffold(args.requests, args.baseline_requests, args.workers, args.short_ttl)


def bench_scaffold(requests: int = 10_000, baseline_requests: int = 1_000, workers: int = 8, short_ttl: float = 5.0) -> None:
    import pyodbc
    from azure.identity import DefaultAzureCredential

    from azsqlctl.sandbox.serve import Sandbox
    from tests.conftest import driver_path, token_struct

    clock = FakeClock()
    real_time = time.time
    time.time = clock  # azure-identity and the sandbox see simulated time too (restored below: `python -m bench` runs on)
    try:
        with tempfile.TemporaryDirectory() as tmp, Sandbox(None, material_dir=Path(tmp) / "m", token_lifetime=3600) as sb:
            os.environ.update(sb.env)
            connection, settings = _generate(Path(tmp) / "app")
            client_id = sb.store.read(lambda s: next(i.client_id for i in s.identities if i.name == "orders-api"))
            base = {"server": sb.server, "database": "appdb", "client_id": client_id, "odbc_driver": driver_path(), "retry_backoff": 0.0}

            def generated(ttl: float) -> Callable[[int], None]:
                db = connection.Database(settings.DbSettings(**base, connection_ttl=ttl), clock=clock)

                def one(i: int) -> None:
                    with db.session() as s:
                        assert s.query("SELECT ?", i)[0][0] == i

                return one

            conn_str = f"DRIVER={{{driver_path()}}};SERVER=tcp:{sb.server};DATABASE=appdb;Encrypt=yes"

            def quickstart(i: int) -> None:
                # https://learn.microsoft.com/azure/azure-sql/database/azure-sql-python-quickstart: get_conn()
                credential = DefaultAzureCredential(managed_identity_client_id=client_id)
                token = credential.get_token("https://database.windows.net/.default").token
                conn = pyodbc.connect(conn_str, attrs_before={1256: token_struct(token)})
                try:
                    assert conn.cursor().execute("SELECT ?", i).fetchone()[0] == i
                finally:
                    conn.close()

            pyodbc.pooling = False
            results = [
                _run("generated (shipped)", requests, workers, clock, generated(settings.DbSettings.connection_ttl), sb),
                _run(f"generated (TTL {short_ttl:.0f} s)", requests, workers, clock, generated(short_ttl), sb),
                _run("cache disabled", baseline_requests, workers, clock, generated(0.0), sb),
                _run("quickstart", baseline_requests, workers, clock, quickstart, sb),
            ]
        quick = results[-1]
        print(f"scaffold: {workers} workers, each run spread over a simulated 2 h with 1-hour tokens")
        for r in results:
            per_login = r["logins"] / r["requests"]
            print(
                f"  {r['name']:<22} {r['requests']:>6} requests: {r['tokens']:>5} token requests, {r['logins']:>6} logins "
                f"({per_login:.3f}/request = {per_login / (quick['logins'] / quick['requests']):.3f}x quickstart), "
                f"{r['rps']:.0f} requests/s = {r['rps'] / quick['rps']:.1f}x quickstart"
            )
        print("  goals: generated token requests <= 3; logins <= 1/20 (0.050x) of the quickstart's per request")

    finally:
        time.time = real_time


if __name__ == "__main__":
    main()

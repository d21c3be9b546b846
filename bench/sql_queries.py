"""Query throughput through pyodbc + ODBC Driver 18 against the sandbox: `python -m bench queries`.

Queries/s at 1 and 8 concurrent clients (one connection each) for a parameterised point query
(`SELECT ... WHERE id = ?`, sent as sp_executesql/sp_prepexec RPC) and for the same query as a
plain batch with a literal, so the RPC path's cost shows as a ratio measured in the same run.
A path the sandbox cannot serve is reported with its error rather than a figure.

The sandbox runs in a child process, as `sandbox serve` runs it (on one CPU: sandbox/serve.py's one_cpu says
why), so the clients do not share its interpreter lock; the parameterised query is measured a second time with
the sandbox free to use every CPU (`--all-cpus`), the comparison that choice rests on.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROWS = 1000


def _throughput(connect: Any, query: Any, clients: int, seconds: float) -> tuple[float, float]:
    """(queries/s, median latency s) with ``clients`` threads, each on its own connection."""
    latencies: list[float] = []
    lock = threading.Lock()
    connections = [connect() for _ in range(clients)]
    deadline = time.perf_counter() + seconds

    def worker(cnxn: Any) -> None:
        cur = cnxn.cursor()
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            start = time.perf_counter()
            query(cur, n % ROWS + 1)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, connections))
    wall = time.perf_counter() - start
    for cnxn in connections:
        cnxn.close()
    return len(latencies) / wall, statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sql_queries", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement")
    bench_queries(parser.parse_args().seconds)


@contextmanager
def served(one_cpu: bool = True, timeout: int = 10) -> Iterator[Callable[[], Any]]:
    """A sandbox in a child process (on one CPU, as `sandbox serve` keeps it, unless ``one_cpu`` is False) and a
    function that opens an autocommit pyodbc connection to it with a token of its system identity."""
    with _served(one_cpu, timeout) as (connect, _pid):
        yield connect


def _cpu_seconds(pid: int | None = None) -> float | None:
    """CPU time (user + system) of a process so far: ``pid`` (Linux's /proc), or this one (every thread: the
    clients' Python, pyodbc and the ODBC driver); None where it cannot be read."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _served(one_cpu: bool, timeout: int) -> Iterator[tuple[Callable[[], Any], int | None]]:
    """served, and the child's process id (its CPU time per query is printed beside the throughput)."""
    from tests.conftest import raw_connect
    from tests.e2e.hostile_client import ChildSandbox

    with ChildSandbox(one_cpu=one_cpu) as child:
        os.environ.update(child.facts["env"])
        target = SimpleNamespace(tds_port=child.tds_port)
        token = str(child.facts["sql_token"])

        def connect() -> Any:
            cnxn = raw_connect(target, token, timeout=timeout)  # type: ignore[arg-type]
            cnxn.autocommit = True
            return cnxn

        yield connect, child.process.pid


def _bench_table(connect: Callable[[], Any]) -> None:
    setup = connect()
    values = ", ".join(f"({i}, 'item {i}')" for i in range(1, ROWS + 1))
    setup.cursor().execute(f"CREATE TABLE dbo.bench (id INT PRIMARY KEY, name NVARCHAR(50)) INSERT INTO dbo.bench VALUES {values}")  # noqa: S608
    setup.close()


def _parameterised(cur: Any, key: int) -> None:
    assert cur.execute("SELECT name FROM dbo.bench WHERE id = ?", key).fetchone()[0] == f"item {key}"


def _literal(cur: Any, key: int) -> None:
    assert cur.execute(f"SELECT name FROM dbo.bench WHERE id = {key}").fetchone()[0] == f"item {key}"  # noqa: S608


def bench_queries(seconds: float) -> None:
    import pyodbc

    results: dict[tuple[str, int], float] = {}
    with _served(True, 10) as (connect, pid):
        _bench_table(connect)
        for label, query in (("literal batch", _literal), ("parameterised", _parameterised)):
            for clients in (1, 8):
                before = (_cpu_seconds(pid), _cpu_seconds())
                start = time.perf_counter()
                try:
                    rate, median = _throughput(connect, query, clients, seconds)
                except pyodbc.Error as exc:
                    print(f"queries: {label}: not measured, the sandbox answered {exc.args[-1]}")
                    break
                count = rate * (time.perf_counter() - start)
                results[(label, clients)] = rate
                print(
                    f"queries: {label}, {clients} client(s): {rate:.0f} queries/s, median latency {median * 1000:.2f} ms"
                    + _cpu_per_query(before, (_cpu_seconds(pid), _cpu_seconds()), count)
                )
        # The one-client figure moves with where the scheduler puts that client: beside the sandbox on its CPU (no
        # wake-up crosses cores) or on another. Kept off the sandbox's CPU -- where `sandbox serve` leaves room for
        # the clients and the application under test -- the same query, so the spread of the ratio shows.
        with _clients_off_cpu_of(pid) as kept:
            if kept:
                for clients in (1, 8):
                    rate, median = _throughput(connect, _parameterised, clients, seconds)
                    results[("clients off the sandbox's CPU", clients)] = rate
                    print(
                        f"queries: parameterised, clients off the sandbox's CPU, {clients} client(s): {rate:.0f} queries/s, "
                        f"median latency {median * 1000:.2f} ms"
                    )
    with served(one_cpu=False) as connect:
        _bench_table(connect)
        for clients in (1, 8):
            rate, median = _throughput(connect, _parameterised, clients, seconds)
            results[("all cpus", clients)] = rate
            print(
                f"queries: parameterised, sandbox on every CPU, {clients} client(s): {rate:.0f} queries/s, median latency {median * 1000:.2f} ms"
            )
    for label in ("literal batch", "parameterised", "clients off the sandbox's CPU", "all cpus"):
        if (label, 1) in results and (label, 8) in results:
            print(f"queries: {label}: 8-client / 1-client throughput = {results[(label, 8)] / results[(label, 1)]:.2f}x")
    if ("parameterised", 8) in results and ("all cpus", 8) in results:
        print(f"queries: 8 clients, sandbox on one CPU / on every CPU = {results[('parameterised', 8)] / results[('all cpus', 8)]:.2f}x")
    if ("parameterised", 1) in results and ("literal batch", 1) in results:
        print(
            f"queries: parameterised / literal throughput (1 client) = {results[('parameterised', 1)] / results[('literal batch', 1)]:.2f}x"
        )


@contextmanager
def _clients_off_cpu_of(pid: int | None) -> Iterator[bool]:
    """This process (the clients) kept off the CPUs process ``pid`` keeps to, for the block; False where it cannot."""
    if pid is None or not hasattr(os, "sched_getaffinity"):
        yield False
        return
    mine = os.sched_getaffinity(0)
    others = mine - os.sched_getaffinity(pid)
    if not others:
        yield False
        return
    os.sched_setaffinity(0, others)
    try:
        yield True
    finally:
        os.sched_setaffinity(0, mine)


def _cpu_per_query(before: tuple[float | None, float | None], after: tuple[float | None, float | None], count: float) -> str:
    """The sandbox's and the clients' CPU per query over one measurement (what bounds the 8-client / 1-client ratio:
    one client waits for both in turn, eight can at best keep the sandbox's one CPU busy)."""
    if None in (*before, *after) or count <= 0:
        return ""
    (server0, client0), (server1, client1) = before, after
    assert server0 is not None and server1 is not None and client0 is not None and client1 is not None
    return f"; CPU per query: sandbox {(server1 - server0) / count * 1e6:.0f} us, clients {(client1 - client0) / count * 1e6:.0f} us"


if __name__ == "__main__":
    main()

"""Benchmarks: `python -m bench` from the repository root. Figures are ratios against a
baseline measured in the same run, so they mean the same on a fast or a slow machine.

1. startup: `azsqlctl --help` (goal <= 1.1x) and each `azsqlctl COMMAND --help` (goal <= 1.2x) vs a bare Typer app
   generated with the same commands and options, alternating runs, medians (bench/startup.py).
2. Sandbox logins with the real ODBC driver: logins/s at 1 and 8 concurrent clients,
   median login latency, and the 8-vs-1 throughput ratio.
4. grant --policy over 100 databases with 50 ms injected per round trip: wall at the default
   concurrency vs --concurrency 1 (goal <= 1/8).
5. A healthy `azsqlctl doctor` as a whole process vs the floor: one process that gets a token
   (DefaultAzureCredential) and logs in with the driver (goal <= 1.5x), side by side.
3. doctor with 200 ms injected on DNS, TCP (first answer), token and ARM: total wall vs the
   slowest single check (goal <= 1.5x), and vs the sum of all checks (what running them
   one after another would cost).
5. audit: a successful login's latency after 10,000 refused logins vs a fresh sandbox (goal <= 1.2x).
6. stop: Sandbox.stop() wall time (all surfaces in parallel, no polling).
7. follow: `logs --follow` at 1,000 events/minute with late rows: rows downloaded per row printed (goal <= 1.2), queries/minute.
8. summary: `logs --summary` over 100,000 events: bytes downloaded vs the plain listing (goal <= 1/100), wall time.
9. queries: parameterised-query throughput through pyodbc at 1 and 8 clients, vs the same query as a literal batch.
11. mixed: 40 clients for 30 s (30 parameterised readers, 10 writers on distinct tables, then on one table):
   errors (goal 0), statements/s, p50/p95/p99 (goal p99 <= 250 ms) (bench/sql_mixed.py).
10. scaffold: the generated FastAPI connection module vs Microsoft's quickstart pattern over a simulated 2 h (bench/scaffold.py).
11. http: 500 requests at once on each HTTP surface: 0 timeouts, p50/p99 (bench/hostile.py).
12. idle: a real login's latency with 200 idle TDS connections vs none (goal <= 2x; bench/hostile.py).
13. policy: `grant --policy --dry-run` with 60,000 identities (goal <= 2 s), and parsing at N/4 vs N (bench/policy.py).
14. federated: a GitHub-federated login vs a managed-identity login, each a whole process (goal <= 1.2x; bench/federated.py).
15. fleet: 2,000 databases on 100 servers (Resource Graph select) behind 50 ms RTT: resolve + plan + apply wall time and peak
    RSS at --concurrency 1, 16, 64 (goal: 64 <= 1/30 of 1, <= 200 MB, nothing lost or duplicated) (bench/fleet.py).
16. export: `grant export` of a database with 5,000 principals (goal <= 5 s) (bench/fleet.py).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def bench_logins(seconds: float) -> None:
    from azure.identity import ManagedIdentityCredential

    from azsqlctl.sandbox.serve import Sandbox
    from tests.conftest import raw_connect

    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp) / "state.json") as sb:
        os.environ.update(sb.env)
        token = ManagedIdentityCredential().get_token("https://database.windows.net/.default").token

        def login() -> float:
            start = time.perf_counter()
            raw_connect(sb, token).close()
            return time.perf_counter() - start

        login()  # the first connection in a process also loads the driver and asks for type info
        results = {}
        for clients in (1, 8):
            latencies: list[float] = []
            lock = threading.Lock()
            deadline = time.perf_counter() + seconds

            def worker(deadline: float = deadline, latencies: list[float] = latencies, lock: threading.Lock = lock) -> None:
                while time.perf_counter() < deadline:
                    elapsed = login()
                    with lock:
                        latencies.append(elapsed)

            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                for _ in range(clients):
                    pool.submit(worker)
            wall = time.perf_counter() - start
            results[clients] = (len(latencies) / wall, statistics.median(latencies))
            print(
                f"logins: {clients} client(s): {results[clients][0]:.0f} logins/s, median latency {results[clients][1] * 1000:.1f} ms ({len(latencies)} logins)"
            )
        print(f"logins: 8-client throughput / 1-client throughput = {results[8][0] / results[1][0]:.2f}x")


def bench_doctor(latency: float) -> None:
    from azsqlctl.azure import wiring
    from azsqlctl.core.doctor import DoctorOptions, doctor
    from azsqlctl.core.settings import SettingsInput, resolve_settings
    from azsqlctl.sandbox.serve import Sandbox

    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp) / "state.json") as sb:
        env = {**os.environ, **sb.env}
        os.environ.update(sb.env)
        settings = resolve_settings(SettingsInput(), env, Path(tmp))
        doctor(
            DoctorOptions(settings), wiring.doctor_probes(settings, extra="", admin_auth="", admin_client_id="")
        )  # warm: imports, driver load, first-connection RPCs
        for surface, kind in (("dns", "delay"), ("tds", "accept_delay"), ("token", "delay"), ("arm", "delay")):
            sb.faults.inject(surface, kind, count=None, delay=latency)
        settings = resolve_settings(SettingsInput(), env, Path(tmp))
        from azsqlctl.azure import credentials

        credentials._credentials.clear()  # a fresh process's state: no cached token, for SQL or ARM
        start = time.perf_counter()
        report = doctor(
            DoctorOptions(settings), wiring.doctor_probes(settings, extra="", admin_auth="", admin_client_id="")
        )  # a new credential: no cached token
        wall = (time.perf_counter() - start) * 1000
    durations = {c.id: c.duration_ms for c in report.checks if c.status != "skip"}
    slowest = max(durations, key=lambda k: durations[k])
    statuses = {c.id: str(c.status) for c in report.checks}
    print(f"doctor: {int(latency * 1000)} ms injected on DNS/TCP/token/ARM; checks {statuses}")
    print("doctor: " + ", ".join(f"{k} {v:.0f} ms" for k, v in durations.items()))
    print(f"doctor: wall {wall:.0f} ms, slowest check {slowest} {durations[slowest]:.0f} ms, ratio {wall / durations[slowest]:.2f}x (goal <= 1.50x); "
          f"sum of checks {sum(durations.values()):.0f} ms = {sum(durations.values()) / wall:.2f}x the wall")  # fmt: skip


# The floor for a healthy doctor: the least any process proving a token login must do.
FLOOR = """
import os, struct, pyodbc
from azure.identity import DefaultAzureCredential
from azsqlctl.azure.driver import find_driver
token = DefaultAzureCredential().get_token("https://database.windows.net/.default").token.encode("utf-16-le")
pyodbc.pooling = False
cnxn = pyodbc.connect("DRIVER={%s};SERVER=tcp:%s;DATABASE=%s;Encrypt=yes" % (find_driver().spec, os.environ["AZSQLCTL_SERVER"],
                      os.environ["AZSQLCTL_DATABASE"]), attrs_before={1256: struct.pack("<I", len(token)) + token})
print(cnxn.cursor().execute("SELECT SUSER_SNAME()").fetchone()[0])
"""


def bench_doctor_process(runs: int) -> None:
    from azsqlctl.sandbox.serve import Sandbox

    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp) / "state.json") as sb:
        env = {**os.environ, **sb.env}
        floor_cmd = [sys.executable, "-c", FLOOR]
        doctor_cmd = [sys.executable, "-m", "azsqlctl", "doctor", "-o", "json"]

        def once(cmd: list[str]) -> tuple[float, float]:
            """(wall ms, CPU ms) of one run: CPU time is what a busy 2-core machine cannot blur."""
            import resource

            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env, cwd=tmp)
            wall = (time.perf_counter() - start) * 1000
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            return wall, ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000

        once(floor_cmd), once(doctor_cmd)  # warm the page cache for both
        floors, doctors = [], []
        for _ in range(runs):  # interleaved, so a busy moment on the machine hits both alike
            floors.append(once(floor_cmd))
            doctors.append(once(doctor_cmd))
        floor, ours = statistics.median(w for w, _ in floors), statistics.median(w for w, _ in doctors)
        floor_cpu, ours_cpu = statistics.median(c for _, c in floors), statistics.median(c for _, c in doctors)
    print(f"doctor process: healthy doctor (ARM included) {ours:.0f} ms vs token + driver login floor {floor:.0f} ms: "
          f"{ours / floor:.2f}x (goal <= 1.5x); CPU {ours_cpu:.0f} vs {floor_cpu:.0f} ms: {ours_cpu / floor_cpu:.2f}x; medians of {runs}")  # fmt: skip


def bench_grant(databases: int, latency: float, concurrency: int) -> None:
    from azsqlctl.azure import wiring
    from azsqlctl.core.grant.operation import expand_targets, run_many
    from azsqlctl.core.grant.policy import load_policy
    from azsqlctl.core.settings import SettingsInput, resolve_settings
    from azsqlctl.sandbox.serve import Sandbox
    from azsqlctl.sandbox.state import Database

    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp) / "state.json") as sb:
        with sb.store.mutate() as s:
            s.server.databases += [Database(f"tenant_{i:03d}", schemas=["dbo", "app"]) for i in range(databases)]
        os.environ.update(sb.env)
        ids = {i.name: i.client_id for i in sb.identities()}
        policy = Path(tmp) / "access.toml"
        policy.write_text(
            'version = 1\n[roles.app_rw]\ngrants = [{ permissions = ["SELECT", "INSERT", "UPDATE", "DELETE"], schema = "app" }]\n'
            f'[identities.orders-api]\ntype = "app"\nclient_id = "{ids["orders-api"]}"\n'
            f'[identities.billing-worker]\ntype = "app"\nclient_id = "{ids["billing-worker"]}"\nsid_mode = true\n'
            '[[targets]]\ndatabases = ["tenant_*"]\ngrants = { orders-api = ["app_rw"], billing-worker = ["reader"] }\n'
        )
        settings = resolve_settings(SettingsInput(), os.environ, Path(tmp))
        ports = wiring.grant_ports(settings)  # as the CLI gets them
        jobs = expand_targets(load_policy(policy, False), ports, settings.require_server().display).jobs
        run_many(jobs[:2], ports, False, 2)  # warm: driver load, token (plan only)
        sb.faults.inject("tds", "delay", count=None, delay=latency)  # every request: one round trip of latency
        sb.faults.inject("tds", "accept_delay", count=None, delay=latency)  # and the connection itself
        with sb.store.mutate() as s:
            pristine = copy.deepcopy(s.server.databases)
        security = {d.name: sb.sql.storage.security(d.name) for d in pristine}  # in each database's data file
        timings, changed = {}, {}
        for workers in (1, concurrency):
            with sb.store.mutate() as s:  # every pass starts from the same state
                s.server.databases = copy.deepcopy(pristine)
            for name, saved in security.items():
                if saved is not None:
                    sb.sql.storage.restore_security(name, saved)
            start = time.perf_counter()
            results = run_many(jobs, ports, True, workers)
            timings[workers] = time.perf_counter() - start
            changed[workers] = sum(r.status == "changed" for r in results)
    print(f"grant: {databases} databases, {int(latency * 1000)} ms per round trip; --apply at --concurrency 1: {timings[1]:.1f} s "
          f"({changed[1]} changed), at {concurrency}: {timings[concurrency]:.2f} s ({changed[concurrency]} changed); "
          f"ratio {timings[concurrency] / timings[1]:.3f} (goal <= 0.125)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="runs per start-up measurement (startup: at least 11 pairs per command)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per login measurement")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds injected per network step for the doctor benchmark")
    parser.add_argument("--databases", type=int, default=100, help="databases for the grant benchmark")
    parser.add_argument("--concurrency", type=int, default=16, help="grant --concurrency to compare with 1")
    parser.add_argument("--identities", type=int, default=60_000, help="identities in the policy benchmark's file")
    parser.add_argument("--audit-rows", type=int, default=10_000, help="refused logins before the audit benchmark's second measurement")
    parser.add_argument("--fleet-databases", type=int, default=2000, help="databases for the fleet benchmark")
    parser.add_argument("--fleet-servers", type=int, default=100, help="servers for the fleet benchmark")
    parser.add_argument("--fleet-concurrency", default="1,16,64", help="grant --concurrency values for the fleet benchmark")
    parser.add_argument("--principals", type=int, default=5000, help="principals in the database the export benchmark reads")
    parser.add_argument("--mixed-seconds", type=float, default=30.0, help="seconds per mixed readers/writers measurement")
    names = [
        "startup",
        "logins",
        "doctor",
        "process",
        "grant",
        "audit",
        "stop",
        "follow",
        "summary",
        "queries",
        "mixed",
        "scaffold",
        "http",
        "idle",
        "policy",
        "federated",
        "fleet",
        "export",
    ]
    parser.add_argument("only", nargs="*", choices=[*names, []], help="run only these benchmarks")
    args = parser.parse_args()
    selected = set(args.only or names)
    if "startup" in selected:
        from bench.startup import bench_startup

        bench_startup(max(11, args.runs))
    if "logins" in selected:
        bench_logins(args.seconds)
    if "doctor" in selected:
        bench_doctor(args.latency)
    if "process" in selected:
        bench_doctor_process(max(5, args.runs // 2))
    if "grant" in selected:
        bench_grant(args.databases, 0.05, args.concurrency)
    if "audit" in selected:
        from bench.audit import bench_audit

        bench_audit(args.audit_rows)
    if "scaffold" in selected:
        from bench.scaffold import bench_scaffold

        bench_scaffold()
    if "federated" in selected:
        from bench.federated import bench_federated

        bench_federated(max(5, args.runs // 2))
    if "queries" in selected:
        from bench.sql_queries import bench_queries

        bench_queries(args.seconds)
    if "mixed" in selected:
        from bench.sql_mixed import bench_mixed

        bench_mixed(args.mixed_seconds)
    if "stop" in selected:
        from bench.audit import bench_stop

        bench_stop()
    if "follow" in selected:
        from bench.logs import bench_follow

        bench_follow()
    if "summary" in selected:
        from bench.logs import bench_summary

        bench_summary()
    if "http" in selected:
        from bench.hostile import bench_http_burst

        bench_http_burst()
    if "idle" in selected:
        from bench.hostile import bench_idle_tds

        bench_idle_tds()
    if "policy" in selected:
        from bench.policy import bench_policy

        bench_policy(args.identities)
    if "fleet" in selected:
        from bench.fleet import bench_fleet

        bench_fleet(args.fleet_databases, args.fleet_servers, 0.05, tuple(int(c) for c in args.fleet_concurrency.split(",")))
    if "export" in selected:
        from bench.fleet import bench_export

        bench_export(args.principals)


if __name__ == "__main__":
    main()

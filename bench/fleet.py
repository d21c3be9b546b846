"""Fleet benchmarks: `python -m bench fleet export`.

fleet: a policy whose one target selects servers through Resource Graph (`select = { tags = ... }`); the
sandbox's Resource Graph lists SERVERS ARM servers of DATABASES/SERVERS databases each, all reached at the
sandbox's TDS endpoint, with RTT injected on every TDS request and connection. Each run is one
`azsqlctl grant --policy … --apply --concurrency N -o json` process from the same pristine state: wall time
(resolve + plan + apply), the process's peak RSS, whether every database came back exactly once, changed, and
the failed rows with their causes; each line carries the load average it was measured under.
Goal: concurrency 64 <= 1/30 of concurrency 1; peak memory <= 200 MB; zero lost or duplicated databases.

export: `azsqlctl grant export` of one database with PRINCIPALS Entra users (a third in a custom role, a
third in db_datareader), as one process: wall time (goal <= 5 s).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path


def _load() -> str:
    """The machine's load averages: the figures are only comparable with the load they were measured under."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def _run(args: list[str], env: dict[str, str]) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """One azsqlctl process: (wall s, its own peak RSS in KiB from wait4, its output). azsqlctl may leave through
    os._exit, so the child cannot report its own peak; wait4 gives this child's rusage, not all children's."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "azsqlctl", *args], env=env, stdout=out, stderr=err, text=True)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_maxrss, subprocess.CompletedProcess(args, proc.returncode, out.read(), err.read())


def bench_fleet(databases: int, servers: int, latency: float, concurrencies: tuple[int, ...]) -> None:
    from azsqlctl.sandbox.arm.resourcegraph import FleetServer
    from azsqlctl.sandbox.serve import Sandbox
    from azsqlctl.sandbox.state import Database

    per = databases // servers
    # The sandbox's state in memory: its file store rewrites the whole state (2 MB for 2,000 databases) on every
    # commit under its one lock, which made the sandbox, not azsqlctl, the bottleneck at concurrency 64 (the
    # azsqlctl process used ~2 % CPU, the sandbox ~45 %; every session thread waited in StateStore.read).
    with tempfile.TemporaryDirectory() as tmp, Sandbox(None, material_dir=Path(tmp) / "material") as sb:
        names = [[f"t{s:03d}_{d:04d}" for d in range(per)] for s in range(servers)]
        with sb.store.mutate() as st:
            st.server.databases += [Database(n, schemas=["dbo", "app"]) for row in names for n in row]
        host = sb.env["AZSQLCTL_SERVER"]  # every ARM server answers at the sandbox's TDS endpoint
        sub = sb.env["AZSQLCTL_SUBSCRIPTION"]
        inv = sb.arm.graph.inventory
        for s, row in enumerate(names):
            inv.servers.append(FleetServer(f"sql-fleet-{s:03d}", sub, f"rg-{s % 5}", "westeurope", {"fleet": "bench"},
                                           {n: {} for n in row}, fqdn=host))  # fmt: skip
        ids = {i.name: i.client_id for i in sb.identities()}
        policy = Path(tmp) / "access.toml"
        policy.write_text(
            'version = 1\n[roles.app_rw]\ngrants = [{ permissions = ["SELECT", "INSERT", "UPDATE", "DELETE"], schema = "app" }]\n'
            f'[identities.orders-api]\ntype = "app"\nclient_id = "{ids["orders-api"]}"\nsid_mode = true\n'
            f'[identities.billing-worker]\ntype = "app"\nclient_id = "{ids["billing-worker"]}"\nsid_mode = true\n'
            '[[targets]]\nselect = { tags = { fleet = "bench" } }\ngrants = { orders-api = ["app_rw"], billing-worker = ["reader"] }\n'
        )
        env = {**os.environ, **sb.env, "PYTHONPATH": str(Path.cwd())}
        sb.faults.inject("tds", "delay", count=None, delay=latency)  # every request: one round trip
        sb.faults.inject("tds", "accept_delay", count=None, delay=latency)  # and each connection
        with sb.store.mutate() as st:
            pristine = copy.deepcopy(st.server.databases)
        security = {n: sb.sql.storage.security(n) for row in names for n in row}  # in each database's data file
        wanted = {n for row in names for n in row}
        timings: dict[int, float] = {}
        errors: dict[int, int] = {}
        for workers in concurrencies:
            with sb.store.mutate() as st:
                st.server.databases = copy.deepcopy(pristine)
            for n, saved in security.items():
                if saved is not None:
                    sb.sql.storage.restore_security(n, saved)
            wall, rss, done = _run(["grant", "--policy", str(policy), "--apply", "--concurrency", str(workers), "-o", "json"], env)
            rows = json.loads(done.stdout)["data"]["targets"] if done.stdout else []
            got = [r["database"] for r in rows]
            changed = sum(r["status"] == "changed" for r in rows)
            failed = [r for r in rows if r["status"] == "failed"]
            lost, dup = len(wanted - set(got)), len(got) - len(set(got))
            timings[workers] = wall
            errors[workers] = len(failed)
            print(f"fleet: {databases} databases on {servers} servers, {int(latency * 1000)} ms RTT, --concurrency {workers}: "
                  f"{wall:.1f} s, peak RSS {rss / 1024:.0f} MB, {changed} changed, {len(failed)} failed, {lost} lost, "
                  f"{dup} duplicated, {sum(len(r['retries']) for r in rows)} retries, exit {done.returncode}; {_load()}")  # fmt: skip
            causes = Counter(f"{r['error_code']}: {r['error'][:160]}" for r in failed)
            for cause, count in causes.most_common(5):
                print(f"  {count} x {cause}")
        if 1 in timings:
            for workers in concurrencies:
                if workers != 1:
                    print(f"fleet: concurrency {workers} vs 1: {timings[workers] / timings[1]:.4f} (goal for 64 <= {1 / 30:.4f}), "
                          f"{errors[workers]} failed at {workers}, {errors[1]} at 1")  # fmt: skip


def bench_export(principals: int) -> None:
    from azsqlctl.sandbox.serve import Sandbox
    from azsqlctl.sandbox.state import DbUser, Permission

    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp) / "state.json") as sb:
        with sb.sql.storage.edit_security("appdb") as db:  # the database's security state, in its data file
            db.roles.append("app_rw")
            db.permissions.append(Permission("app_rw", "SELECT", "SCHEMA", "app"))
            for i in range(principals):
                name = f"user{i:05d}@contoso.com" if i % 2 else f"app-{i:05d}"
                db.users.append(DbUser(name, str(uuid.UUID(int=i + 1)), "E", 100 + i))
                if i % 3 == 0:
                    db.members.setdefault("app_rw", []).append(name)
                elif i % 3 == 1:
                    db.members.setdefault("db_datareader", []).append(name)
        env = {**os.environ, **sb.env, "PYTHONPATH": str(Path.cwd())}
        out = Path(tmp) / "export.toml"
        _run(["grant", "export", "--out", str(out)], env)  # warm: driver load, token cache
        wall, rss, done = _run(["grant", "export", "--out", str(out)], env)
        identities = out.read_text().count("[identities.")
    print(f"export: one database with {principals + 1} Entra principals: {wall:.2f} s as one process (goal <= 5 s), "
          f"{identities} identities written, peak RSS {rss / 1024:.0f} MB, exit {done.returncode}")  # fmt: skip

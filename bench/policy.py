"""grant --policy with many identities: `python -m bench policy` (goal: 60,000 identities --dry-run in <= 2 s).

The policy names N app identities (distinct client ids) granted `reader` on appdb. The whole
command runs as a process against the sandbox, so the figure includes loading, validation,
planning against the database's principals and rendering. Parsing alone is timed too, at N and
N/4: linear work takes ~4x as long at 4x the identities (the old per-identity rescan of every
line took 16x).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

NAMESPACE = uuid.UUID("6f1d7c2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f")


def policy_text(identities: int) -> str:
    parts = ["version = 1\n"]
    for i in range(identities):
        parts.append(f'[identities.app-{i:06d}]\ntype = "app"\nclient_id = "{uuid.uuid5(NAMESPACE, str(i))}"\n')
    grants = ", ".join(f'app-{i:06d} = ["reader"]' for i in range(identities))
    parts.append(f'[[targets]]\ndatabases = ["appdb"]\ngrants = {{ {grants} }}\n')
    return "".join(parts)


def _parse_seconds(path: Path) -> float:
    from azsqlctl.core.grant.policy import load_policy

    start = time.perf_counter()
    load_policy(path, allow_elevated=False)
    return time.perf_counter() - start


def bench_policy(identities: int = 60_000) -> None:
    from azsqlctl.sandbox.serve import Sandbox

    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "quarter.toml", Path(tmp) / "access.toml"
        small.write_text(policy_text(identities // 4), encoding="utf-8")
        big.write_text(policy_text(identities), encoding="utf-8")
        parse_small, parse_big = _parse_seconds(small), _parse_seconds(big)
        with Sandbox(Path(tmp) / "state.json") as sb:
            env = {**os.environ, **sb.env}
            cmd = [sys.executable, "-m", "azsqlctl", "grant", "--policy", str(big), "--dry-run", "-o", "json"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # The same machine's floor in the same run: a process that only starts and parses the file's TOML.
            floor = [sys.executable, "-c", "import sys, tomli; tomli.loads(open(sys.argv[1], encoding='utf-8').read())", str(big)]
            subprocess.run(floor, check=True, timeout=600)
            floor_done = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # the process's own work, whatever the load
    floor_cpu = (floor_done.ru_utime - after.ru_utime) + (floor_done.ru_stime - after.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"policy: grant exited {proc.returncode}: {proc.stderr[-2000:]}")
    print(
        f"policy: parse {identities // 4:,} identities {parse_small * 1000:.0f} ms, {identities:,} {parse_big * 1000:.0f} ms "
        f"({parse_big / parse_small:.1f}x for 4x; linear ~4x); grant --policy --dry-run with {identities:,} identities: "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU (goal <= 2 s; on a machine shared with other work, CPU is the steadier figure); "
        f"baseline: python + tomli parsing the same file alone {floor_cpu:.2f} s CPU ({cpu / floor_cpu:.1f}x)"
    )

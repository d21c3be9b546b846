"""Concurrent `azsqlctl grant --apply` on one database: every apply survives (issue 14, item 2).

Eight CLI processes apply eight different identities to one database at once, then one `grant --check` over a
policy of all eight finds no drift; twenty rounds. Before, the sandbox rewrote the whole database's security
state per transaction (the last commit won) and grant read the state before its transaction: applies reported
success and vanished. Now grant takes an exclusive application lock (sp_getapplock) inside its transaction and
reads the state under it, and the sandbox keeps its security state under a lock per database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import Identity, stable_id

ROUNDS, AT_ONCE = 20, 8
CLI = [sys.executable, "-m", "azsqlctl"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ), check=False)


@pytest.mark.slow
@pytest.mark.timeout(900)  # 180 CLI processes on a shared 2-core machine: about two minutes
def test_concurrent_applies_of_different_identities_all_survive(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    names = [[f"svc-{r}-{k}" for k in range(AT_ONCE)] for r in range(ROUNDS)]
    with sandbox.store.mutate() as s:
        for name in (n for round_ in names for n in round_):
            s.identities.append(Identity(name, "managed_identity", stable_id(name + "/oid"), stable_id(name + "/appid")))
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        for round_ in names:
            applied = list(
                pool.map(
                    lambda n: _cli("grant", n, "--client-id", stable_id(n + "/appid"), "--role", "reader", "--apply", "-o", "json"), round_
                )
            )
            for name, result in zip(round_, applied, strict=True):
                assert result.returncode == 0, (name, result.stdout, result.stderr)
                assert json.loads(result.stdout)["data"]["targets"][0]["status"] == "changed", name
            policy = tmp_path / "round.toml"
            policy.write_text(
                "version = 1\n"
                + "".join(f'[identities.{n}]\ntype = "app"\nclient_id = "{stable_id(n + "/appid")}"\n' for n in round_)
                + '[[targets]]\ndatabases = ["appdb"]\ngrants = { '
                + ", ".join(f'{n} = ["reader"]' for n in round_)
                + " }\n",
                encoding="utf-8",
            )
            check = _cli("grant", "--policy", str(policy), "--check", "-o", "json")
            assert check.returncode == 0, check.stdout + check.stderr
            assert json.loads(check.stdout)["data"]["targets"][0]["status"] == "unchanged"
    elapsed = time.monotonic() - started
    db = sandbox.sql.storage.security("appdb")  # the committed security state, in the database's data file
    assert db is not None
    users, members = {u.name for u in db.users}, set(db.members["db_datareader"])
    everyone = {n for round_ in names for n in round_}
    assert everyone <= users and everyone <= members
    print(f"{ROUNDS} rounds of {AT_ONCE} concurrent applies + a check: {elapsed:.1f} s")

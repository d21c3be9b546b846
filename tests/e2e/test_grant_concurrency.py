"""Concurrent `azsqlctl grant --apply` on one database: every apply survives (issue 14, item 2).

Eight CLI processes apply eight different identities to one database at once, then one `grant --check` over a
policy of all eight finds no drift; twenty rounds. Before, the sandbox rewrote the whole database's security
state per transaction (the last commit won) and grant read the state before its transaction: applies reported
success and vanished. Now grant takes an exclusive application lock (sp_getapplock) inside its transaction and
reads the state under it, and the sandbox keeps its security state under a lock per database.

The eight processes are long-lived CLI workers (tests/e2e/cli_workers.py): each imports azsqlctl once and runs
the real CLI in-process per command, with its own credential and ODBC connection per command; a barrier starts
each round's eight applies at the same instant. Starting 180 interpreters instead cost ~64 s of CPU, almost all
of it imports.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import Identity, stable_id

from .cli_workers import CliWorkers, Outcome

ROUNDS, AT_ONCE = 20, 8


def _status(outcome: Outcome) -> object:
    return json.loads(outcome.stdout)["data"]["targets"][0]["status"]


@pytest.mark.slow
@pytest.mark.timeout(600)  # 8 worker processes, 180 commands on a shared 2-core machine
def test_concurrent_applies_of_different_identities_all_survive(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    names = [[f"svc-{r}-{k}" for k in range(AT_ONCE)] for r in range(ROUNDS)]
    with sandbox.store.mutate() as s:
        for name in (n for round_ in names for n in round_):
            s.identities.append(Identity(name, "managed_identity", stable_id(name + "/oid"), stable_id(name + "/appid")))
    started = time.monotonic()
    with CliWorkers(AT_ONCE) as workers:  # started here: they inherit client_env's environment and working directory
        assert len(set(workers.pids)) == AT_ONCE  # eight processes, not eight threads of one
        for round_ in names:
            applied = workers.together(
                [["grant", n, "--client-id", stable_id(n + "/appid"), "--role", "reader", "--apply", "-o", "json"] for n in round_]
            )
            for name, result in zip(round_, applied, strict=True):
                assert result.exit_code == 0 and not result.crash, (name, result.stdout, result.stderr, result.crash)
                assert _status(result) == "changed", name
            policy = tmp_path / "round.toml"
            policy.write_text(
                "version = 1\n"
                + "".join(f'[identities.{n}]\ntype = "app"\nclient_id = "{stable_id(n + "/appid")}"\n' for n in round_)
                + '[[targets]]\ndatabases = ["appdb"]\ngrants = { '
                + ", ".join(f'{n} = ["reader"]' for n in round_)
                + " }\n",
                encoding="utf-8",
            )
            check = workers.alone(["grant", "--policy", str(policy), "--check", "-o", "json"])
            assert check.exit_code == 0 and not check.crash, check.stdout + check.stderr + check.crash
            assert _status(check) == "unchanged"
    elapsed = time.monotonic() - started
    db = sandbox.sql.storage.security("appdb")  # the committed security state, in the database's data file
    assert db is not None
    users, members = {u.name for u in db.users}, set(db.members["db_datareader"])
    everyone = {n for round_ in names for n in round_}
    assert everyone <= users and everyone <= members
    print(f"{ROUNDS} rounds of {AT_ONCE} concurrent applies + a check: {elapsed:.1f} s")

"""Policy targets from Azure Resource Graph: CLI -> azure-mgmt-resourcegraph -> the sandbox's Resource Graph.

The sandbox's own server answers TDS; the ARM-only fleet servers answer Resource Graph only (listing,
paging, throttling), which is all --show-targets needs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.arm.resourcegraph import FleetServer
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import Database

runner = CliRunner()
OTHER_SUB = "0b9a1c7e-5f7d-4c1e-9a55-3f0c2d1e4b6a"


def envelope(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["grant", "-o", "json", *args])
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def fleet(sandbox: Sandbox, servers: int, per_server: int) -> None:
    inv = sandbox.arm.graph.inventory
    for i in range(servers):
        dbs = {f"tenant_{i:03d}_{j:03d}": ({"tier": "gold"} if j % 2 == 0 else {}) for j in range(per_server)}
        env = "prod" if i % 2 == 0 else "dev"
        inv.servers.append(FleetServer(f"sql-eu-{i:03d}", OTHER_SUB, f"rg-fleet-{i % 3}", "northeurope", {"env": env}, dbs))


def test_select_by_tag_resolves_servers_through_resource_graph_and_checks_them(
    sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path
) -> None:
    orders = str(next(i.client_id for i in sandbox.identities() if i.name == "orders-api"))
    sub, rg = client_env["AZSQLCTL_SUBSCRIPTION"], client_env["AZSQLCTL_RESOURCE_GROUP"]
    with sandbox.store.mutate() as s:
        s.server.databases += [Database("tenant_a", schemas=["dbo"]), Database("tenant_b", schemas=["dbo"])]
    server_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Sql/servers/sandbox-sql"
    sandbox.arm.graph.inventory.tags[f"{server_id}/databases/tenant_a".lower()] = {"env": "prod"}
    sandbox.arm.graph.inventory.tags[f"{server_id}/databases/tenant_b".lower()] = {"env": "prod"}
    fleet(sandbox, 4, 3)
    policy = tmp_path / "access.toml"
    policy.write_text(
        f'version = 1\n[identities.orders-api]\nclient_id = "{orders}"\n'
        f'[[targets]]\nselect = {{ subscriptions = ["{sub}"], tags = {{ env = "Prod" }} }}\ngrants = {{ orders-api = ["reader"] }}\n'
    )
    code, env = envelope("--policy", str(policy), "--show-targets")
    assert code == 0, env
    host = client_env["AZSQLCTL_SERVER"]
    assert env["data"]["targets"] == [
        {"server": host, "database": "tenant_a", "why": f"target 1: subscription {sub}, tag env=Prod"},
        {"server": host, "database": "tenant_b", "why": f"target 1: subscription {sub}, tag env=Prod"},
    ]
    assert env["data"]["partial"] == [] and env["data"]["resource_graph"] == {"queries": 1, "pages": 1, "throttled": 0}
    sent = sandbox.arm.graph.requests[-1]
    assert sent["subscriptions"] == [sub] and sent["options"]["resultFormat"] == "objectArray"
    assert sent["query"].startswith('resources\n| where type in~ (h"microsoft.sql/servers", h"microsoft.sql/servers/databases")')
    # --check and --apply work across the resolved fleet: the two tagged databases, not appdb
    code, env = envelope("--policy", str(policy), "--apply")
    assert code == 0 and sorted(t["database"] for t in env["data"]["targets"]) == ["tenant_a", "tenant_b"]
    code, env = envelope("--policy", str(policy), "--check")
    assert code == 0 and env["data"]["summary"] == {"unchanged": 2}
    # export reads the same fleet: the two tagged databases become one glob-free target (tenant_c does not exist)
    result = runner.invoke(app, ["grant", "export", "--policy", str(policy), "-o", "json"])
    code, env = result.exit_code, json.loads(result.stdout)
    assert code == 0, env
    assert [d["database"] for d in env["data"]["databases"]] == ["tenant_a", "tenant_b"]
    assert 'grants = { orders-api = ["db_datareader"] }' in env["data"]["policy"]


def test_a_fleet_of_servers_pages_globs_inherit_server_tags_and_survive_throttling(
    sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path
) -> None:
    fleet(sandbox, 30, 40)  # 30 servers, 1,230 databases incl. master: two pages of 1,000
    throttle = sandbox.faults.inject("arm", "graph_throttle", retry_after=1)  # the first query is throttled once
    policy = tmp_path / "access.toml"
    policy.write_text(
        f'version = 1\n[[targets]]\nselect = {{ subscriptions = ["{OTHER_SUB}"], resource_groups = ["rg-fleet-1"], servers = ["sql-eu-00*"], '
        'tags = { env = "prod", tier = "gold" } }\ndatabases = ["tenant_*_00?"]\ngrants = {}\n'
    )
    code, env = envelope("--policy", str(policy), "--show-targets")
    assert code == 0, env
    rows = env["data"]["targets"]
    # rg-fleet-1 holds servers 1, 4, 7 ...; sql-eu-00* keeps 1, 4, 7; env=prod (server tag) keeps the even: 4
    assert sorted({r["server"] for r in rows}) == ["sql-eu-004.database.windows.net"]
    assert [r["database"] for r in rows] == ["tenant_004_000", "tenant_004_002", "tenant_004_004", "tenant_004_006", "tenant_004_008"]
    assert rows[0]["why"] == (
        f"target 1: subscription {OTHER_SUB}, resource group rg-fleet-1, server sql-eu-004 (sql-eu-00*), "
        "tag env=prod (server), tag tier=gold, database tenant_004_000 (tenant_*_00?)"
    )
    graph = env["data"]["resource_graph"]
    assert graph["queries"] == 1 and graph["pages"] == 1  # resource group narrowed in KQL: one page
    assert throttle.hits == 1  # answered 429 RateLimiting with Retry-After once, and waited out
    policy.write_text(f'version = 1\n[[targets]]\nselect = {{ subscriptions = ["{OTHER_SUB}"] }}\ngrants = {{}}\n')
    code, env = envelope("--policy", str(policy), "--show-targets")
    assert code == 0 and len(env["data"]["targets"]) == 1200 and env["data"]["resource_graph"]["pages"] == 2
    assert len({(r["server"], r["database"]) for r in env["data"]["targets"]}) == 1200  # nothing lost or duplicated by paging


def test_partial_scopes_and_no_match_are_reported(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    missing = "11111111-2222-3333-4444-555555555555"
    policy = tmp_path / "access.toml"
    policy.write_text(f'version = 1\n[[targets]]\nselect = {{ subscriptions = ["{missing}"] }}\ngrants = {{}}\n')
    code, env = envelope("--policy", str(policy), "--show-targets")
    assert code == ExitCode.NOT_FOUND
    assert env["data"]["partial"] == [
        f"target 1: subscription {missing} shows no SQL server (none there, or the identity cannot read it: it needs Reader)",
        "target 1 (policy line 2): Resource Graph found no database matching select",
    ]


def test_select_is_validated_with_the_rest_of_the_policy(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "access.toml"
    policy.write_text(
        'version = 1\n[[targets]]\nservers = ["x"]\nselect = { subscription = ["nope"], management_group = "mg", tags = { env = 1 } }\n'
        "grants = {}\n"
    )
    code, env = envelope("--policy", str(policy), "--dry-run")
    assert code == ExitCode.USAGE
    messages = [e["message"] for e in env["errors"][0]["details"]["errors"]]
    assert messages == [
        "target 1: select: unknown key subscription (did you mean subscriptions?)",
        'target 1: select.tags must be a table of strings, e.g. tags = { env = "prod" }',
        "target 1: servers and select do not combine (select.servers takes globs)",
    ]


def test_paging_waits_for_the_quota_to_reset_instead_of_earning_a_429(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    import os
    import time

    from azsqlctl.azure.credentials import CredentialTokens
    from azsqlctl.azure.resource_graph import ResourceGraph
    from azsqlctl.core.grant.fleet import fleet_query
    from azsqlctl.core.grant.policy import FleetSelector
    from azsqlctl.core.settings import SettingsInput, resolve_settings

    fleet(sandbox, 8, 19)  # 8 servers x (19 + master) databases + 8 servers = 168 rows: 17 pages of 10
    settings = resolve_settings(SettingsInput(), os.environ, Path.cwd())
    tokens = CredentialTokens(settings.auth, settings.client_id, settings.cloud, settings.tenant_id, settings.timeout)
    waits: list[float] = []
    # The client's waits advance the sandbox's quota clock (instead of 5 s of real time): the quota resets only when
    # the client has waited what the headers said, and nothing else moves the clock.
    clock = [time.monotonic()]
    sandbox.arm.graph.clock = lambda: clock[0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    graph = ResourceGraph(tokens.credential, settings.cloud, sleep=sleep, page=10)
    answer = graph.query(fleet_query(FleetSelector(subscriptions=(OTHER_SUB,))), [OTHER_SUB], [])
    assert answer.pages == 17 and len(answer.rows) == 168 and len({r["id"] for r in answer.rows}) == 168
    assert len(waits) == 1 and 0 < waits[0] <= 5  # the 15th answer said quota 0: wait x-ms-user-quota-resets-after
    assert answer.throttled == 1 and not answer.truncated

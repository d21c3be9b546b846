"""core/fleet without Azure: the KQL a select sends, and which rows it picks and why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from azsqlctl.core.grant.fleet import GraphAnswer, concrete, fleet_query, match_rows, resolve_fleet
from azsqlctl.core.grant.policy import FleetSelector, Policy, Target

SUB = "65221fc5-c868-5287-9e39-cdc31a7384e0"


def server(name: str, rg: str = "rg-a", tags: dict[str, str] | None = None, location: str = "westeurope") -> dict[str, object]:
    sid = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Sql/servers/{name}"
    return {"id": sid, "name": name, "type": "microsoft.sql/servers", "subscriptionId": SUB, "resourceGroup": rg,
            "location": location, "tags": tags or {}, "fqdn": f"{name}.database.windows.net"}  # fmt: skip


def database(srv: dict[str, object], name: str, tags: dict[str, str] | None = None) -> dict[str, object]:
    return {**srv, "id": f"{srv['id']}/databases/{name}", "name": name, "type": "microsoft.sql/servers/databases", "tags": tags or {},
            "fqdn": ""}  # fmt: skip


def test_the_query_narrows_only_where_exact() -> None:
    assert fleet_query(FleetSelector(resource_groups=("rg-*",), locations=("westeurope",))) == (
        "resources\n"
        '| where type in~ (h"microsoft.sql/servers", h"microsoft.sql/servers/databases")\n'
        '| where location in~ (h"westeurope")\n'
        "| project id, name, type, subscriptionId, resourceGroup, location, tags, fqdn = tostring(properties.fullyQualifiedDomainName)\n"
        "| order by id asc"
    )
    assert '| where resourceGroup in~ (h"rg-a", h"rg-b")' in fleet_query(FleetSelector(resource_groups=("rg-a", "rg-b")))


def test_tags_on_the_database_or_its_server_globs_and_master_never() -> None:
    prod = server("sql-1", tags={"Env": "Prod"})
    dev = server("sql-2", tags={"env": "dev"})
    rows = [prod, dev, database(prod, "master"), database(prod, "tenant_a"), database(prod, "other"),
            database(dev, "tenant_b", {"env": "prod"}), database(dev, "tenant_c")]  # fmt: skip
    found = match_rows(FleetSelector(tags=(("env", "prod"),)), ["tenant_*"], rows, 1)
    assert [(m.server, m.database, m.why) for m in found] == [
        ("sql-1.database.windows.net", "tenant_a", "tag env=prod (server), database tenant_a (tenant_*)"),
        ("sql-2.database.windows.net", "tenant_b", "tag env=prod, database tenant_b (tenant_*)"),
    ]
    assert [m.database for m in match_rows(FleetSelector(servers=("SQL-2",)), ["*"], rows, 1)] == ["tenant_b", "tenant_c"]


class Port:
    def __init__(self, rows: Sequence[Mapping[str, object]]) -> None:
        self.rows, self.calls = rows, 0

    def query(self, kql: str, subscriptions: Sequence[str], management_groups: Sequence[str]) -> GraphAnswer:
        self.calls += 1
        return GraphAnswer(tuple(self.rows), pages=2)


def test_one_query_per_scope_partial_scopes_and_concrete_targets() -> None:
    srv = server("sql-1")
    port = Port([srv, database(srv, "a[1]")])
    missing = "11111111-2222-3333-4444-555555555555"
    policy = Policy(targets=[
        Target([], ["*"], {"x": ["reader"]}, 3, FleetSelector(subscriptions=(SUB, missing))),
        Target([], ["*"], {"y": ["reader"]}, 7, FleetSelector(subscriptions=(missing, SUB))),
        Target(["static"], ["db"], {}, 9),
    ])  # fmt: skip
    fleet = resolve_fleet(policy, port)
    assert port.calls == 1 and fleet.queries == 1 and fleet.pages == 2  # the same scope and KQL: asked once
    assert fleet.partial == [
        f"target 1: subscription {missing} shows no SQL server (none there, or the identity cannot read it: it needs Reader)",
        f"target 2: subscription {missing} shows no SQL server (none there, or the identity cannot read it: it needs Reader)",
    ]
    made = concrete(policy, fleet)
    assert [(t.servers, t.databases, t.grants, t.select) for t in made.targets] == [
        (["sql-1.database.windows.net"], ["a[[]1]"], {"x": ["reader"]}, None),  # a literal name, glob characters escaped
        (["sql-1.database.windows.net"], ["a[[]1]"], {"y": ["reader"]}, None),
        (["static"], ["db"], {}, None),
    ]

"""core/grant/fleet.py: how Resource Graph rows become grant targets - each criterion's narrowing and its words
in ``why``, the query per scope, the counts and gaps reported, and the targets made concrete (an in-memory
GraphPort written here; no Azure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from azsqlctl.core.grant.fleet import (
    SQL_TYPES,
    Fleet,
    FleetMatch,
    GraphAnswer,
    concrete,
    fleet_query,
    match_rows,
    resolve_fleet,
    resolve_select,
)
from azsqlctl.core.grant.policy import FleetSelector, Policy, Target
from azsqlctl.core.target import ServerAddress

SUB = "65221fc5-c868-5287-9e39-cdc31a7384e0"
SUB2 = "11111111-2222-3333-4444-555555555555"


def server(name: str, rg: str = "rg-a", tags: object = None, location: str = "westeurope", sub: str = SUB) -> dict[str, object]:
    sid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Sql/servers/{name}"
    return {"id": sid, "name": name, "type": "Microsoft.Sql/servers", "subscriptionId": sub, "resourceGroup": rg,
            "location": location, "tags": tags if tags is not None else {}, "fqdn": f"{name}.database.windows.net"}  # fmt: skip


def database(srv: Mapping[str, object], name: str, tags: object = None) -> dict[str, object]:
    return {**srv, "id": f"{srv['id']}/databases/{name}", "name": name, "type": "Microsoft.Sql/servers/databases",
            "tags": tags if tags is not None else {}, "fqdn": ""}  # fmt: skip


def whys(selector: FleetSelector, rows: Sequence[Mapping[str, object]], databases: Sequence[str] = ("*",)) -> list[tuple[str, str]]:
    return [(m.database, m.why) for m in match_rows(selector, databases, rows, 1)]


def test_types_and_the_unnarrowed_query() -> None:
    assert SQL_TYPES == ("microsoft.sql/servers", "microsoft.sql/servers/databases")
    assert fleet_query(FleetSelector(subscriptions=(SUB,), servers=("a",), tags=(("k", "v"),))) == (
        "resources\n"
        '| where type in~ (h"microsoft.sql/servers", h"microsoft.sql/servers/databases")\n'
        "| project id, name, type, subscriptionId, resourceGroup, location, tags, fqdn = tostring(properties.fullyQualifiedDomainName)\n"
        "| order by id asc"
    )
    for globbed in (("rg-?",), ("rg-[ab]",), ("rg-a", "rg-*")):
        assert "where resourceGroup" not in fleet_query(FleetSelector(resource_groups=globbed))
    assert '| where resourceGroup in~ (h"rg-a")\n| where location in~ (h"westeurope", h"northeurope")' in fleet_query(
        FleetSelector(resource_groups=("rg-a",), locations=("westeurope", "northeurope"))
    )


def test_every_criterion_says_why_with_the_pattern_when_it_was_a_glob() -> None:
    srv = server("sql-1", rg="RG-A")
    rows = [srv, database(srv, "Orders")]
    selector = FleetSelector(
        subscriptions=(SUB,), management_group="mg1", resource_groups=("rg-*",), locations=("WestEurope",), servers=("SQL-?",)
    )
    assert whys(selector, rows, ["ord*"]) == [
        (
            "Orders",
            f"subscription {SUB}, management group mg1, resource group RG-A (rg-*), location westeurope, server sql-1 (SQL-?), "
            "database Orders (ord*)",
        )
    ]
    exact = FleetSelector(resource_groups=("rg-a",), servers=("sql-1",))
    assert whys(exact, rows, ["orders"]) == [("Orders", "resource group RG-A, server sql-1, database Orders")]
    assert whys(FleetSelector(), rows) == [("Orders", "every database the caller can read")]


def test_each_criterion_narrows() -> None:
    a, b = server("sql-a", rg="rg-a", location="westeurope"), server("sql-b", rg="rg-b", location="northeurope")
    rows = [a, b, database(a, "d1"), database(b, "d2")]
    assert whys(FleetSelector(resource_groups=("rg-b",)), rows) == [("d2", "resource group rg-b")]
    assert whys(FleetSelector(locations=("WESTEUROPE",)), rows) == [("d1", "location westeurope")]
    assert whys(FleetSelector(servers=("*-b",)), rows) == [("d2", "server sql-b (*-b)")]
    assert whys(FleetSelector(), rows, ["d1"]) == [("d1", "database d1")]
    assert whys(FleetSelector(resource_groups=("nope",)), rows) == []


def test_tags_every_pair_must_hold_on_the_database_or_its_server() -> None:
    srv = server("sql-1", tags={"Team": "Orders", "env": "prod"})
    rows = [srv, database(srv, "own", {"ENV": "Prod"}), database(srv, "inherits"), database(srv, "other", {"env": "dev"})]
    both = FleetSelector(tags=(("env", "PROD"), ("team", "orders")))
    assert whys(both, rows) == [
        ("own", "tag env=PROD, tag team=orders (server)"),
        ("inherits", "tag env=PROD (server), tag team=orders (server)"),
        # the database's own tag (dev) differs but its server's matches: tags are inherited
        ("other", "tag env=PROD (server), tag team=orders (server)"),
    ]
    assert whys(FleetSelector(tags=(("team", "billing"), ("env", "prod"))), rows) == []  # the first pair fails: no match
    assert whys(FleetSelector(tags=(("env", "prod"), ("team", "billing"))), rows) == []  # the last pair fails: no match
    untagged = server("sql-2", tags="not a map")
    assert whys(FleetSelector(tags=(("env", "prod"),)), [untagged, database(untagged, "d", ["x"])]) == []


def test_rows_that_are_not_databases_of_a_listed_server_are_ignored() -> None:
    srv = server("sql-1")
    orphan = database(server("gone"), "lost")
    other = {**database(srv, "x"), "type": "microsoft.web/sites"}
    nameless = {**database(srv, "y"), "id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Sql/servers/sql-1"}
    rows = [srv, orphan, other, nameless, database(srv, "MASTER"), database(srv, "ok")]
    found = match_rows(FleetSelector(), ["*"], rows, 4)
    assert [(m.database, m.target) for m in found] == [("ok", 4)]


def test_a_match_names_the_server_and_where_it_lives() -> None:
    srv = {**server("sql-1", rg="rg-x", sub=SUB2), "fqdn": None}
    [match] = match_rows(FleetSelector(), ["*"], [srv, database(srv, "d")], 2)
    assert match == FleetMatch("sql-1.database.windows.net", "sql-1", "d", SUB2, "rg-x", "every database the caller can read", 2)
    assert match.as_dict() == {
        "server": "sql-1.database.windows.net", "server_name": "sql-1", "database": "d", "subscription": SUB2,
        "resource_group": "rg-x", "why": "every database the caller can read", "target": 2,
    }  # fmt: skip
    private = {**server("sql-2"), "fqdn": "sql-2.privatelink.example"}
    assert match_rows(FleetSelector(), ["*"], [private, database(private, "d")], 1)[0].server == "sql-2.privatelink.example"


class Port:
    def __init__(self, answer: GraphAnswer) -> None:
        self.answer = answer
        self.calls: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []

    def query(self, kql: str, subscriptions: Sequence[str], management_groups: Sequence[str]) -> GraphAnswer:
        self.calls.append((kql, tuple(subscriptions), tuple(management_groups)))
        return self.answer


def test_resolve_counts_queries_pages_throttling_and_reports_gaps() -> None:
    srv = server("sql-1")
    port = Port(GraphAnswer((srv, database(srv, "d")), pages=3, throttled=2, truncated=True))
    policy = Policy(targets=[
        Target([], ["*"], {}, 4, FleetSelector(management_group="mg1")),
        Target([], ["nothing*"], {}, 8, FleetSelector(subscriptions=(SUB.upper(),))),
        Target([], ["*"], {}, 9, FleetSelector(subscriptions=(SUB,))),  # the same scope in another case: asked once
        Target(["static"], ["db"], {}, 10),
    ])  # fmt: skip
    fleet = resolve_fleet(policy, port)
    assert [c[1:] for c in port.calls] == [((), ("mg1",)), ((SUB.upper(),), ())]
    assert (fleet.queries, fleet.pages, fleet.throttled) == (2, 6, 4)
    assert fleet.empty == [2]
    assert fleet.partial == [
        "target 1: Resource Graph truncated the answer; narrow select (resource groups, locations)",
        "target 2: Resource Graph truncated the answer; narrow select (resource groups, locations)",
        "target 2 (policy line 8): Resource Graph found no database matching select",
        "target 3: Resource Graph truncated the answer; narrow select (resource groups, locations)",
    ]
    assert [(m.database, m.target) for m in fleet.matches] == [("d", 1), ("d", 3)]
    assert fleet.as_dict() == {
        "targets": [m.as_dict() for m in fleet.matches], "partial": fleet.partial, "queries": 2, "pages": 6, "throttled": 4,
    }  # fmt: skip
    assert Fleet().as_dict() == {"targets": [], "partial": [], "queries": 0, "pages": 0, "throttled": 0}


def test_concrete_groups_by_server_and_maps_local_addresses() -> None:
    policy = Policy(targets=[Target([], ["*"], {"app": ["reader"]}, 3, FleetSelector()), Target([], ["*"], {}, 5, FleetSelector())])
    fleet = Fleet(matches=[
        FleetMatch("A.database.windows.net", "a", "d1", SUB, "rg", "", 1),
        FleetMatch("b.database.windows.net", "b", "d*", SUB, "rg", "", 1),
        FleetMatch("A.database.windows.net", "a", "d2", SUB, "rg", "", 1),
    ])  # fmt: skip
    made = concrete(policy, fleet, {"a.database.windows.net": "127.0.0.1,14330"})
    assert [(t.servers, t.databases, t.grants, t.line, t.select) for t in made.targets] == [
        (["127.0.0.1,14330"], ["d1", "d2"], {"app": ["reader"]}, 3, None),
        (["b.database.windows.net"], ["d[*]"], {"app": ["reader"]}, 3, None),
    ]  # target 2 found nothing: no target at all
    assert [t.servers for t in concrete(policy, fleet).targets] == [["A.database.windows.net"], ["b.database.windows.net"]]


def test_resolve_select_reaches_the_given_server_at_its_address() -> None:
    a, b = server("sql-a"), server("sql-b")
    port = Port(GraphAnswer((a, b, database(a, "d"), database(b, "e"))))
    policy = Policy(targets=[Target([], ["*"], {}, 1, FleetSelector())])
    made, fleet = resolve_select(policy, port, ServerAddress("SQL-A.database.windows.net", 14330, "sql-a"))
    assert [m.server for m in fleet.matches] == ["SQL-A.database.windows.net,14330", "sql-b.database.windows.net"]
    assert [t.servers for t in made.targets] == [["SQL-A.database.windows.net,14330"], ["sql-b.database.windows.net"]]
    made, fleet = resolve_select(policy, port, None)
    assert [m.server for m in fleet.matches] == ["sql-a.database.windows.net", "sql-b.database.windows.net"]


def test_an_answer_is_one_page_unthrottled_unless_told() -> None:
    srv = server("sql-1")
    answer = GraphAnswer((srv, database(srv, "d")))
    assert (answer.pages, answer.throttled, answer.truncated) == (1, 0, False)
    fleet = resolve_fleet(Policy(targets=[Target([], ["*"], {}, 1, FleetSelector())]), Port(answer))
    assert (fleet.queries, fleet.pages, fleet.throttled, fleet.partial) == (1, 1, 0, [])


def test_letters_are_never_glob_characters() -> None:
    assert '| where resourceGroup in~ (h"RG-X")' in fleet_query(FleetSelector(resource_groups=("RG-X",)))


def test_a_missing_tag_matches_no_value() -> None:
    srv = server("sql-1", tags={"env": "xx"})
    rows = [srv, database(srv, "d")]
    assert whys(FleetSelector(tags=(("env", "XX"),)), rows) == [("d", "tag env=XX (server)")]  # the server's, not the database's
    assert whys(FleetSelector(tags=(("team", "xx"),)), rows) == []  # on neither

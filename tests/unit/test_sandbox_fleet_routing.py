"""Which logical server a login at the sandbox's one TDS listener is for (the audit row's server), as Azure's gateway picks it."""

from __future__ import annotations

import pytest

from azsqlctl.sandbox.arm.resourcegraph import FleetServer, Inventory

SUB = "0b9a1c7e-5f7d-4c1e-9a55-3f0c2d1e4b6a"


def inventory() -> Inventory:
    return Inventory(
        servers=[
            FleetServer("sql-a", SUB, "rg-a", databases={"tenant_a": {}, "shared": {}}),
            FleetServer("sql-b", SUB, "rg-b", databases={"tenant_b": {}, "shared": {}}),
        ]
    )


@pytest.mark.parametrize(
    ("server_name", "database", "expected"),
    [
        # The name the client connected to decides (ODBC sends its Server= text verbatim in LOGIN7).
        ("tcp:sql-b.database.windows.net,1433", "shared", "sql-b"),
        ("SQL-A.localhost", "shared", "sql-a"),
        ("tcp:sql-a.database.windows.net.,1433", "tenant_b", "sql-a"),  # the name wins over the database's owner
        # The sandbox's shared address names no server: the one fleet server listing the database.
        ("tcp:localhost,41433", "tenant_b", "sql-b"),
        ("127.0.0.1,41433", "TENANT_A", "sql-a"),
        # Several fleet servers list it, or none does, or master: the sandbox's own server.
        ("tcp:localhost,41433", "shared", None),
        ("tcp:localhost,41433", "appdb", None),
        ("tcp:localhost,41433", "master", None),
        ("tcp:sql-c.database.windows.net,1433", "appdb", None),  # a name that is no fleet server's
        ("localhost\\sql-b,41433", "appdb", None),  # an instance name is not a server name
    ],
)
def test_the_login_is_for_the_server_named_else_the_databases_one_owner(server_name: str, database: str, expected: str | None) -> None:
    found = inventory().login_server(server_name, database)
    assert (found.name if found else None) == expected


def test_a_server_is_found_by_name_only_within_the_scope_given() -> None:
    inv = inventory()
    assert inv.server("SQL-B") is inv.servers[1]
    assert inv.server("sql-b", SUB.upper(), "RG-B") is inv.servers[1]
    assert inv.server("sql-b", SUB, "rg-a") is None
    assert inv.server("sql-b", "another-subscription") is None

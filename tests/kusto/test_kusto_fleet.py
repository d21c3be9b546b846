"""`logs --policy` queries (servers and databases as in~ lists, every view) pass Microsoft's Kusto language service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from azsqlctl.core.logs.kql import Filters, GroupKey, IngestionWindow, LogsRequest, ServerScope, build_query
from tests.kusto.language_service import Validator

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_fleet_filters_in_every_view_have_no_diagnostics(validator: Validator) -> None:
    fleets = [
        Filters(scopes=(ServerScope("sql-eu-001"),)),
        Filters(scopes=(ServerScope("sql-eu-001"), ServerScope('we"ird\\name', ("tenant_a", "tenant_b"))), error=18456),
        Filters(scopes=(ServerScope("a", ("appdb",)), ServerScope("b", ("tenant_b",))), principal="x@contoso.com", state=132),
    ]
    keys = (GroupKey.PRINCIPAL, GroupKey.SERVER, GroupKey.DATABASE, GroupKey.STATE)
    queries = []
    for f in fleets:
        queries += [
            build_query(LogsRequest(since=T0, filters=f)).text,
            build_query(LogsRequest(since=T0, filters=f, summary_by=keys, limit=20)).text,
            build_query(LogsRequest(since=T0, filters=f), IngestionWindow(T0, T0 + timedelta(seconds=30))).text,
        ]
    assert all("LogicalServerName_s =~ " in q for q in queries)
    results = validator.check(queries, strings=True)
    assert [r["diagnostics"] for r in results] == [[]] * len(queries)
    # and the literals stay literals: the service decodes exactly the names given
    assert results[3]["strings"][2:6] == ["sql-eu-001", 'we"ird\\name', "tenant_a", "tenant_b"], results[3]["strings"]

"""The query shapes the builder produces are valid KQL for Microsoft's Kusto language service (every_shape says which).

validate.js (one process per session: conftest.py) runs ``@kusto/language-service-next`` (pinned in
package-lock.json; .ci/run does ``npm ci`` here) against the AzureDiagnostics columns Microsoft documents
(azure_diagnostics_schema.json) and reports diagnostics and the decoded string literals.
Skipped only when node or the installed package is missing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azsqlctl.core.logs.kql import Filters, GroupKey, IngestionWindow, KqlQuery, LogsRequest, build_query
from tests.kusto.language_service import Validator
from tests.property_budget import examples

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
T = TypeVar("T")


FULL = Filters(server="srv1", database="db1", principal="app@contoso.com", client_ip="203.0.113.7", app="sqlcmd", error=18456, state=5)
_FIELDS = ("server", "database", "principal", "client_ip", "app", "error", "state")


def _subsets(items: tuple[T, ...], *, sizes: range) -> Iterator[tuple[T, ...]]:
    """Every subset of ``items`` with a size in ``sizes``, and ``items`` whole."""
    for n in sizes:
        yield from itertools.combinations(items, n)
    if len(items) not in sizes:
        yield tuple(items)


def every_shape() -> Iterator[KqlQuery]:
    """Every filter, pair of filters, none and all, in every event set x mode; every group key alone, in twos and
    threes, and all of them.

    The builder writes each filter as its own ``| where`` line and each group key as one ``by`` term, always in
    the same order, so whether a query is valid depends on each line or term and on how two of them meet (a column
    two of them name, one that needs another's ``extend``). All pairs cover both. Every combination of every size
    (1,279 queries) took ~20 s of the service's CPU, these 333 take ~5 s; of kql.py's 278 one-line mutants
    (tools/mutate.py's), the 1,279 found none in the service's diagnostics that these 333 missed."""
    window = IngestionWindow(T0, T0 + timedelta(seconds=30))
    for present in _subsets(_FIELDS, sizes=range(3)):
        filters = Filters(**{f: getattr(FULL, f) for f in present})
        for all_events in (False, True):
            base = LogsRequest(since=T0, filters=filters, all_events=all_events)
            yield build_query(base)
            yield build_query(LogsRequest(since=T0, until=T0 + timedelta(hours=1), filters=filters, all_events=all_events, limit=50))
            yield build_query(LogsRequest(since=T0, filters=filters, all_events=all_events, statement_hashes=True), window)
            yield build_query(LogsRequest(since=T0, filters=filters, all_events=all_events, summary_by=(), limit=10))
    for keys in _subsets(tuple(GroupKey), sizes=range(1, 4)):
        yield build_query(LogsRequest(since=T0, until=T0 + timedelta(hours=1), filters=FULL, summary_by=keys))


def test_each_filter_and_group_key_alone_and_in_pairs_has_no_diagnostics(validator: Validator) -> None:
    queries = [q.text for q in every_shape()]
    assert len(queries) == len(set(queries)) == 333
    results = validator.check(queries)
    failures = [(q, r["diagnostics"]) for q, r in zip(queries, results, strict=True) if r["diagnostics"]]
    assert not failures, failures[:3]


def test_the_validator_reports_errors(validator: Validator) -> None:
    """A test that cannot fail proves nothing: unknown columns and broken syntax are reported."""
    bad = validator.check(
        [
            "AzureDiagnostics | where event_id_g == 1",  # there is no event_id_g column
            "AzureDiagnostics | top 10 by event_time_t desc, _ItemId desc",  # top takes one key
            'AzureDiagnostics | where Category == "a',
        ]
    )
    assert all(r["diagnostics"] for r in bad)
    assert any(d["code"] == "KS142" for d in bad[0]["diagnostics"])  # "does not refer to any known column"


_VALUE = st.text(st.characters(exclude_categories=["Cc", "Zl", "Zp", "Cs"], include_characters="\n\r\t"), max_size=30)
_HOSTILE = st.sampled_from(['"', "\\", '\\"', '" | take 1 //', "' or 1==1", '@"', "h'", '"""', "\n| union *", "```", "\\n"])
_FILTER_VALUE = st.one_of(_VALUE, _HOSTILE, st.builds(lambda a, b, c: a + b + c, _VALUE, _HOSTILE, _VALUE))


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(server=_FILTER_VALUE, database=_FILTER_VALUE, principal=_FILTER_VALUE, app=_FILTER_VALUE, summary=st.booleans())
def test_filter_values_stay_literals_for_the_kusto_parser(
    validator: Validator, server: str, database: str, principal: str, app: str, summary: bool
) -> None:
    """Microsoft's parser sees each filter value as one string literal holding exactly that value."""
    request = LogsRequest(
        since=T0, filters=Filters(server=server, database=database, principal=principal, app=app), summary_by=() if summary else None
    )
    (result,) = validator.check([build_query(request).text], strings=True)
    assert result["diagnostics"] == []
    assert result["strings"][2:6] == [server, database, principal, app]

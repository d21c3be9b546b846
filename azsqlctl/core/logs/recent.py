"""``doctor`` closes the loop: the latest audited failures for the principal whose login just failed.

The client only ever sees state 1; the audit row has the real state. When doctor's login check fails
and the server audits to Log Analytics, doctor shows the latest failures for the same principal from
the last hour (real state and cause). When auditing is off, it says the real state is only visible
with ``azsqlctl logs enable`` (``AuditingOff`` carries that hint).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from .audit_rows import AuditEvent, as_iso
from .kql import LogsRequest
from .ports import LogsQuery, MonitorConfig, ServerRef
from .runner import list_events
from .setup import discover

LOOKBACK = timedelta(hours=1)
SCAN = 200  # the newest failures fetched; the principal is matched here (audit names vary: name@tenant, client id ...)


class AuditLookup:
    """Recent audited failures for a principal, through the same ports as ``azsqlctl logs``."""

    def __init__(self, config: MonitorConfig, query: LogsQuery, resource_group: str, server_name: str, host: str) -> None:
        self.config, self.query = config, query
        self.resource_group, self.server_name, self.host = resource_group, server_name, host
        self.server: ServerRef | None = None

    def recent_failures(self, principals: Sequence[str], now: datetime | None = None, limit: int = SCAN) -> list[AuditEvent]:
        """Newest first, at most ``limit``; raises ``setup.AuditingOff`` when rows are not recorded."""
        now = now or datetime.now(UTC)
        self.server = self.config.find_server(self.resource_group, self.server_name, self.host)
        target = discover(self.config, self.server)
        events = list_events(self.query, target, LogsRequest(since=now - LOOKBACK, limit=SCAN)).events
        wanted = [p.lower() for p in principals if p]
        mine = [e for e in events if _matches(e.principal.lower(), wanted)]
        return sorted(mine, key=lambda e: e.event_time, reverse=True)[:limit]


def _matches(principal: str, wanted: list[str]) -> bool:
    return any(principal == w or principal.startswith(w + "@") for w in wanted)


def describe(events: Sequence[AuditEvent]) -> str:
    """One phrase: how many, the latest, and each real state with its cause (short), most frequent first."""
    counts = Counter((e.error, e.state, e.cause.partition(";")[0]) for e in events)
    states = ", ".join(f"{n} x error {err} state {state} ({cause})" for (err, state, cause), n in counts.most_common())
    return f"{len(events)} failure(s), latest {as_iso(events[0].event_time)}: {states}"

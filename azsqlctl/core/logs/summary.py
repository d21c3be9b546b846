"""``--summary`` groups: decode what the Kusto ``summarize`` returned, with a cause and a hint per group.

The aggregation runs in Kusto (``kql.build_query`` with ``summary_by``); this module only reads
the groups back. Cause and fix come from the one diagnosis table; the hint names what a pattern
usually means:
- a token (Entra) state for one identity -> check that identity with ``azsqlctl doctor``;
- many wrong-user/wrong-password states (5, 8 ...) from one address -> likely password guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from ..identity import canonical_guid
from . import kql
from .audit_rows import AuditRowError, as_int, as_iso, as_text, as_time, explain, mask_in, pseudonym

GUESSING_STATES = frozenset({2, 5, 7, 8, 9})  # wrong user or password (sql-docs MSSQLSERVER_18456)
ENTRA_STATES = frozenset({*range(102, 112), 132, 133})  # "AAD failure"
GUESSING_THRESHOLD = 10  # failures in one group before it is called guessing


@dataclass(frozen=True)
class SummaryGroup:
    keys: tuple[tuple[str, str | int | None], ...]  # (result column, value) in the order asked for
    events: int
    first_seen: datetime
    last_seen: datetime
    cause: str
    fix: str
    hint: str

    def key(self, column: str) -> str | int | None:
        return dict(self.keys).get(column)

    def redacted(self, salt: bytes) -> SummaryGroup:
        """``--redact``: the principal and client IP keys become pseudonyms, also inside fix and hint."""
        swap = {str(v): pseudonym(str(v), "principal" if c == "principal" else "ip", salt)
                for c, v in self.keys if c in _REDACTED_KEYS and v}  # fmt: skip
        keys = tuple((c, swap.get(str(v), v) if c in _REDACTED_KEYS else v) for c, v in self.keys)
        return replace(self, keys=keys, cause=mask_in(self.cause, swap), fix=mask_in(self.fix, swap), hint=mask_in(self.hint, swap))

    def as_json(self) -> dict[str, object]:
        """Stable NDJSON field names for ``--summary --output json`` (one object per group)."""
        return {
            "type": "group",
            **dict(self.keys),
            "events": self.events,
            "first_seen": as_iso(self.first_seen),
            "last_seen": as_iso(self.last_seen),
            "cause": self.cause,
            "fix": self.fix,
            "hint": self.hint,
        }


_INT_KEYS = {kql.ERROR_NUMBER, kql.ERROR_STATE}
_REDACTED_KEYS = {"principal", "client_ip"}


def decode_group(row: Mapping[str, object], columns: tuple[str, ...]) -> SummaryGroup:
    """One summary row; ``columns`` is ``KqlQuery.columns`` of the summary query."""
    key_columns = [c for c in columns if c not in (kql.SUMMARY_COUNT, kql.SUMMARY_FIRST, kql.SUMMARY_LAST)]
    keys = tuple((c, as_int(row.get(c)) if c in _INT_KEYS else as_text(row.get(c))) for c in key_columns)
    first, last = as_time(row.get(kql.SUMMARY_FIRST)), as_time(row.get(kql.SUMMARY_LAST))
    events = as_int(row.get(kql.SUMMARY_COUNT))
    if first is None or last is None or events is None:
        raise AuditRowError("a summary row has no count or no first/last time")
    values = dict(keys)
    error, state = values.get(kql.ERROR_NUMBER), values.get(kql.ERROR_STATE)
    error = error if isinstance(error, int) else None
    state = state if isinstance(state, int) else None
    client_ip = str(values.get("client_ip") or "")
    if values.get("action_id") == kql.SUCCESSFUL_LOGIN:
        cause, fix = "successful logins", ""
    else:
        cause, fix = explain(error, state, client_ip, str(values.get("server_name") or ""))
    return SummaryGroup(keys, events, first, last, cause, fix, hint(error, state, events, str(values.get("principal") or ""), client_ip))


def decode_groups(columns: tuple[str, ...], rows: list[list[object]]) -> list[SummaryGroup]:
    return [decode_group(dict(zip(columns, r, strict=True)), columns) for r in rows]


def hint(error: int | None, state: int | None, events: int, principal: str, client_ip: str) -> str:
    if error != 18456 or state is None:
        return ""
    if state in ENTRA_STATES:
        if canonical_guid(principal) is not None:
            return f"check this identity: azsqlctl doctor --client-id {principal}"
        return "check this identity's token and database user: azsqlctl doctor (signed in as it)"
    if state in GUESSING_STATES and events >= GUESSING_THRESHOLD:
        source = f" from {client_ip}" if client_ip else ""
        return f"{events} wrong-user/password failures{source}: likely password guessing; block the address and prefer Entra-only authentication"
    return ""

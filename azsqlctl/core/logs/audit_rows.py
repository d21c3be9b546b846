"""Decode an ``AzureDiagnostics`` audit row (column -> value) into a typed ``AuditEvent``.

The row is what ``kql.build_query`` projects (``kql.LIST_COLUMNS``), as the Log Analytics
query API returns it: datetimes as ``datetime`` objects (azure-monitor-query) or ISO-8601
strings (raw JSON), numbers as numbers or strings (Log Analytics examples put numbers in
strings), missing values as ``None`` or ``""``.

The error number and the real state come from ``additional_information_s`` in either form::

    <login_information><error_code>18456</error_code><error_state>5</error_state></login_information>
    <failure_reason>Err 18456, Level 14, State 5, Login failed for user 'x'.</failure_reason>

read with anchored regular expressions, not an XML parser: audit fields are truncated at 4000
characters (sql-docs ``audit-log-format.md``) and the text comes from the network. When the text
holds neither form, the ``error_number``/``error_state`` columns the query computed are used.
The cause and the fix come from the one diagnosis table (``core.diagnosis.lookup_login_state``).

``statement_s`` is never kept: when present it becomes ``queryhash.query_hash`` at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from ..diagnosis import fill, lookup_login_state
from ..errors import AzsqlctlError
from ..queryhash import query_hash
from . import kql


class EventKind(StrEnum):
    FAILED_LOGIN = "failed_login"  # DBAF
    LOGIN = "login"  # DBAS (with --all-events)


class AuditRowError(AzsqlctlError):
    """A row lacks what every audit row has (its item id or its event time)."""

    code = "bad_audit_row"


@dataclass(frozen=True)
class AuditEvent:
    item_id: str  # _ItemId: the record's unique key
    event_time: datetime  # event_time_t (UTC)
    ingested_at: datetime | None  # ingestion_time(), when the query projected it
    kind: EventKind
    server: str
    database: str
    principal: str
    client_ip: str
    application: str
    error: int | None  # None for successful logins, or when the row carries no error
    state: int | None  # the REAL state (clients only ever see 1)
    cause: str
    fix: str
    statement_hash: str | None = None
    resource_id: str = ""

    @property
    def failed(self) -> bool:
        return self.kind is EventKind.FAILED_LOGIN

    def redacted(self, salt: bytes) -> AuditEvent:
        """``--redact``: principal and client IP become pseudonyms, also inside the fix text."""
        principal, client_ip = pseudonym(self.principal, "principal", salt), pseudonym(self.client_ip, "ip", salt)
        return replace(
            self,
            principal=principal,
            client_ip=client_ip,
            cause=mask_in(self.cause, {self.principal: principal, self.client_ip: client_ip}),
            fix=mask_in(self.fix, {self.principal: principal, self.client_ip: client_ip}),
        )

    def as_json(self) -> dict[str, object]:
        """Stable NDJSON field names for ``--output json`` (one object per event)."""
        return {
            "type": "event",
            "kind": self.kind.value,
            "item_id": self.item_id,
            "event_time": as_iso(self.event_time),
            "ingested_at": as_iso(self.ingested_at) if self.ingested_at else None,
            "server": self.server,
            "database": self.database,
            "principal": self.principal,
            "client_ip": self.client_ip,
            "application": self.application,
            "error": self.error,
            "state": self.state,
            "cause": self.cause,
            "fix": self.fix,
            "statement_hash": self.statement_hash,
        }


_ERROR_CODE = re.compile(kql.RE_ERROR_CODE)
_ERROR_STATE = re.compile(kql.RE_ERROR_STATE)
_FAILURE_REASON = re.compile(kql.RE_REASON_STATE)
_FAILURE_ERROR = re.compile(kql.RE_REASON_ERROR)


def parse_additional_information(text: str) -> tuple[int | None, int | None]:
    """(error number, state) from either form of ``additional_information_s``; ``None`` where absent."""
    # The same precedence as the query's coalesce(): the login_information form first.
    code = _ERROR_CODE.search(text) or _FAILURE_ERROR.search(text)
    state = _ERROR_STATE.search(text) or _FAILURE_REASON.search(text)
    return (int(code[1]) if code else None), (int(state[1]) if state else None)


def decode_row(row: Mapping[str, object]) -> AuditEvent:
    item_id = as_text(row.get("_ItemId"))
    event_time = as_time(row.get("event_time_t"))
    if not item_id or event_time is None:
        raise AuditRowError("an audit row has no _ItemId or no event_time_t", "the query must project both (kql.LIST_COLUMNS)")
    action = as_text(row.get("action_id_s")).upper()
    kind = EventKind.LOGIN if action == kql.SUCCESSFUL_LOGIN else EventKind.FAILED_LOGIN
    error, state = parse_additional_information(as_text(row.get("additional_information_s")))
    if error is None:
        error = as_int(row.get(kql.ERROR_NUMBER))
    if state is None:
        state = as_int(row.get(kql.ERROR_STATE))
    server = as_text(row.get("LogicalServerName_s")) or as_text(row.get("server_instance_name_s"))
    client_ip = as_text(row.get("client_ip_s"))
    cause, fix = ("", "") if kind is EventKind.LOGIN else explain(error, state, client_ip, server)
    statement = as_text(row.get(kql.STATEMENT_COLUMN))
    return AuditEvent(
        item_id=item_id,
        event_time=event_time,
        ingested_at=as_time(row.get(kql.INGESTED_AT)),
        kind=kind,
        server=server,
        database=as_text(row.get("database_name_s")),
        principal=as_text(row.get("server_principal_name_s")),
        client_ip=client_ip,
        application=as_text(row.get("application_name_s")),
        error=error,
        state=state,
        cause=cause,
        fix=fix,
        statement_hash=query_hash(statement) if statement else None,
        resource_id=as_text(row.get("ResourceId")),
    )


def decode_rows(columns: list[str], rows: list[list[object]]) -> list[AuditEvent]:
    """Decode a Log Analytics table (``tables[0].columns`` names and ``rows``)."""
    return [decode_row(dict(zip(columns, r, strict=True))) for r in rows]


def explain(error: int | None, state: int | None, client_ip: str = "", server: str = "") -> tuple[str, str]:
    """(cause, fix) for an audited failure, from the one diagnosis table."""
    diag = lookup_login_state(error, state)
    if diag is None:
        if error is None:
            return "the login failed; the audit row holds no error details", "run azsqlctl doctor for this identity"
        return (
            f"the login failed with error {error}",
            "look the error number up: https://learn.microsoft.com/sql/relational-databases/errors-events/database-engine-events-and-errors",
        )
    return diag.cause, fill(diag.fix, "", server=server, ip=client_ip)


def pseudonym(value: str, kind: str, salt: bytes) -> str:
    """A stable stand-in for ``value`` within one run (same value, same pseudonym), unlinkable across runs.

    Keyed with a per-run random ``salt`` (the CLI passes ``os.urandom(16)``): an unkeyed hash of an
    IPv4 address could be reversed by trying all 2**32 of them.
    """
    if not value:
        return value
    return f"<{kind}-{hmac.new(salt, value.encode('utf-8'), hashlib.sha256).hexdigest()[:8]}>"


def mask_in(text: str, replacements: Mapping[str, str]) -> str:
    """Replace whole occurrences only: a principal named ``sa`` must not turn "password" into "pas<…>word"."""
    for original, stand_in in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
        if original:
            text = re.sub(rf"(?<![\w.@:-]){re.escape(original)}(?![\w@-]|[.:]\w)", stand_in.replace("\\", "\\\\"), text)
    return text


def as_text(value: object) -> str:
    return "" if value is None else str(value)


def as_int(value: object) -> int | None:
    if not isinstance(value, int | float | str) or value == "" or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def as_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Log Analytics prints 7 fractional digits; Python reads at most 6.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise AuditRowError(f"an audit row has an unreadable time {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

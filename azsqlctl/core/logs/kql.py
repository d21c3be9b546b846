"""The one builder of every KQL query `azsqlctl logs` sends.

Where the rows are (sql-docs ``audit-log-format.md``): table ``AzureDiagnostics``,
``Category == "SQLSecurityAuditEvents"``; failed logins have ``action_id_s == "DBAF"``,
successful ones ``"DBAS"``. The error number and the real state are inside
``additional_information_s`` in one of two XML forms::

    <login_information><error_code>18456</error_code><error_state>5</error_state>…
    <failure_reason>Err 18456, Level 14, State 5, …

Decisions:
- **Error and state are extracted in Kusto** (``extract()`` over both forms, ``coalesce`` of
  the two) because ``--summary --by error,state`` must aggregate in Kusto, and a filter that
  runs in Kusto downloads only matching rows. The listing also projects
  ``additional_information_s`` so that ``audit_rows`` reads the same fact client-side.
  (Microsoft Sentinel's detection takes group 2 of ``Err (N), Level (N)`` as the state, which is
  the Level; the pattern here anchors on ``State``.)
- **``statement_s`` is not downloaded** unless a request asks for statement hashes: login events
  carry no statement, and text that is never downloaded can never be printed. When asked for,
  ``audit_rows`` turns it into ``queryhash.query_hash`` at once and drops the text.
- **Every user value is a Kusto string literal** made by ``kusto_string``: double-quoted with
  backslash escapes for the backslash, the quote, tab, newline and return (the escapes the
  Kusto ``string`` docs list), and the ``h`` prefix (an obfuscated literal: principal names and
  IP addresses are personal data and stay out of the service's query traces). Other control
  characters are refused: the docs define no escape for them. Numbers go in as Python ``int``s,
  times as ``datetime(…)`` literals from aware datetimes; no user text reaches the query otherwise.
- Comparisons: server, database and principal with ``=~`` (SQL names are case-insensitive),
  client IP with ``==`` (validated as an IP address first), application with ``contains``
  (case-insensitive substring: app names are long and versioned).
- The time window is on ``event_time_t`` (``since <= t < until``); follow mode adds an
  ``ingestion_time()`` window (``start <= i < end``). The callers pass no separate ``timespan`` to
  the query API (or one that covers ``since - late_bound`` to now): the query text holds all
  time conditions, so ``--show-query`` shows everything that filters.
- ``--limit N`` on a listing keeps the newest N events, still printed oldest first.

The KQL subset this builder emits (what the sandbox's Log Analytics endpoint must execute)::

    query    := "AzureDiagnostics" ("\n| " operator)*
    operator := "where" cond
              | "extend" NAME "=" EXPR ("," NAME "=" EXPR)*      (error_number/error_state, see _ERROR_EXPR)
              | "project" COL ("," COL | "ingested_at = ingestion_time()")*
              | "sort by" COL ("asc"|"desc") ("," COL ("asc"|"desc"))*
              | "take" INT
              | "summarize events = count(), first_seen = min(event_time_t), last_seen = max(event_time_t) by" KEY ("," KEY)*
    cond     := COL "==" STRING | COL "=~" STRING | COL "contains" STRING | COL "in (" STRING ("," STRING)* ")"
              | COL "==" INT | COL ">=" DATETIME ["and" COL "<" DATETIME]
              | "ingestion_time() >=" DATETIME "and ingestion_time() <" DATETIME
    KEY      := COL | NAME "=" COL
    EXPR     := coalesce(toint(extract(VERBATIM, 1, additional_information_s)), toint(extract(VERBATIM, 1, additional_information_s)))
                (the RE_* patterns below: RE2 with \\s, [0-9], (?i))
    STRING   := "..." | h"..." (escapes \\ \" \n \r \t)     VERBATIM := @"..." ("" is a quote)
    DATETIME := datetime(YYYY-MM-DDTHH:MM:SS.ffffffZ)
"""

from __future__ import annotations

import ipaddress
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from ..errors import UsageError
from .window import UNTIL_HINT

TABLE = "AzureDiagnostics"
CATEGORY = "SQLSecurityAuditEvents"
FAILED_LOGIN = "DBAF"  # DATABASE AUTHENTICATION FAILED
SUCCESSFUL_LOGIN = "DBAS"  # DATABASE AUTHENTICATION SUCCEEDED

# Computed columns (names the result rows carry).
ERROR_NUMBER = "error_number"
ERROR_STATE = "error_state"
INGESTED_AT = "ingested_at"

_INFO = "additional_information_s"
# Both forms of additional_information_s. One home for the patterns: Kusto runs them (RE2) and
# audit_rows compiles the same text with Python's re (the syntax used is common to both).
RE_ERROR_CODE = r"<error_code>\s*([0-9]+)\s*</error_code>"
RE_ERROR_STATE = r"<error_state>\s*([0-9]+)\s*</error_state>"
RE_REASON_ERROR = r"(?i)<failure_reason>\s*Err\s+([0-9]+)"
RE_REASON_STATE = r"(?i)<failure_reason>\s*Err\s+[0-9]+\s*,\s*Level\s+[0-9]+\s*,\s*State\s+([0-9]+)"


def _extract(first: str, second: str) -> str:
    # Verbatim literals (@"...") keep the backslashes as regex escapes; the patterns hold no quote.
    return f'coalesce(toint(extract(@"{first}", 1, {_INFO})), toint(extract(@"{second}", 1, {_INFO})))'


_ERROR_EXPR = _extract(RE_ERROR_CODE, RE_REASON_ERROR)
_STATE_EXPR = _extract(RE_ERROR_STATE, RE_REASON_STATE)

# What a listing downloads (never statement_s unless asked, see the module docstring).
LIST_COLUMNS: tuple[str, ...] = (
    "_ItemId",
    "event_time_t",
    INGESTED_AT,
    "action_id_s",
    "succeeded_s",
    "LogicalServerName_s",
    "server_instance_name_s",
    "database_name_s",
    "server_principal_name_s",
    "client_ip_s",
    "application_name_s",
    _INFO,
    ERROR_NUMBER,
    ERROR_STATE,
    "ResourceId",
)
STATEMENT_COLUMN = "statement_s"


class GroupKey(StrEnum):
    """``--summary --by`` keys; the value is what the user types."""

    PRINCIPAL = "principal"
    ERROR = "error"
    STATE = "state"
    CLIENT_IP = "client_ip"
    APP = "app"
    DATABASE = "database"
    SERVER = "server"
    ACTION = "action"


# key -> (result column name, expression). Result names avoid KQL function names (database(), app()).
GROUP_COLUMNS: dict[GroupKey, tuple[str, str]] = {
    GroupKey.PRINCIPAL: ("principal", "server_principal_name_s"),
    GroupKey.ERROR: (ERROR_NUMBER, ERROR_NUMBER),
    GroupKey.STATE: (ERROR_STATE, ERROR_STATE),
    GroupKey.CLIENT_IP: ("client_ip", "client_ip_s"),
    GroupKey.APP: ("application", "application_name_s"),
    GroupKey.DATABASE: ("database_name", "database_name_s"),
    GroupKey.SERVER: ("server_name", "LogicalServerName_s"),
    GroupKey.ACTION: ("action_id", "action_id_s"),
}
DEFAULT_SUMMARY_KEYS: tuple[GroupKey, ...] = (GroupKey.PRINCIPAL, GroupKey.CLIENT_IP, GroupKey.ERROR, GroupKey.STATE)
SUMMARY_COUNT, SUMMARY_FIRST, SUMMARY_LAST = "events", "first_seen", "last_seen"


class QueryKind(StrEnum):
    LIST = "list"
    FOLLOW = "follow"
    SUMMARY = "summary"


@dataclass(frozen=True)
class ServerScope:
    """One logical server of a fleet and the databases looked at on it; () means every database on it.

    Per server, not servers x databases: a policy that names appdb on one server and tenant_b on another
    must not count failed logins to an appdb on the second (a workspace often holds many servers' rows)."""

    server: str
    databases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Filters:
    """Optional equality filters; ``None`` means "any"."""

    server: str | None = None  # the logical server name (``myserver``, not the FQDN)
    database: str | None = None
    principal: str | None = None
    client_ip: str | None = None
    app: str | None = None
    error: int | None = None
    state: int | None = None
    scopes: tuple[ServerScope, ...] = ()  # any of these servers, each with its own databases (a policy's fleet: logs --policy)


@dataclass(frozen=True)
class IngestionWindow:
    """Follow mode: rows whose ``ingestion_time()`` is in ``[start, end)``."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class LogsRequest:
    """What one ``azsqlctl logs`` invocation asks for (times are timezone-aware)."""

    since: datetime
    until: datetime | None = None
    filters: Filters = field(default_factory=Filters)
    all_events: bool = False  # add successful logins (DBAS)
    limit: int | None = None
    summary_by: tuple[GroupKey, ...] | None = None  # None: list events; a tuple: --summary by these keys
    statement_hashes: bool = False  # download statement_s so audit_rows can hash it (never printed)


@dataclass(frozen=True)
class KqlQuery:
    text: str
    kind: QueryKind
    columns: tuple[str, ...]  # the result's columns, in order


# --- literals --------------------------------------------------------------------------------

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def kusto_string(value: str) -> str:
    """``value`` as an obfuscated, escaped Kusto string literal: ``h"…"``."""
    for ch in value:
        if ch not in _ESCAPES and unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs"):
            raise UsageError(
                f"filter value {value!r} holds the control character U+{ord(ch):04X}",
                "names, addresses and application names in audit rows never contain control characters",
                code="bad_filter",
            )
    return 'h"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def kusto_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("KQL times must be timezone-aware")
    return "datetime(" + value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + ")"


def _int(value: int, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"--{what} must be a non-negative number, not {value!r}", code="bad_filter")
    return str(value)


# --- the builder --------------------------------------------------------------------------------


def build_query(request: LogsRequest, window: IngestionWindow | None = None) -> KqlQuery:
    """The query for ``request``: a summary when ``summary_by`` is set, a follow poll when ``window`` is given."""
    if request.summary_by is not None and window is not None:
        raise ValueError("--summary and --follow do not combine")
    if request.limit is not None:
        _check_limit(request.limit)
    lines = [TABLE, *_where(request, window)]
    if request.summary_by is not None:
        return _summary(request, lines)
    columns = LIST_COLUMNS + ((STATEMENT_COLUMN,) if request.statement_hashes else ())
    projected = ", ".join(f"{INGESTED_AT} = ingestion_time()" if c == INGESTED_AT else c for c in columns)
    lines.append(f"| project {projected}")
    if window is not None:
        lines.append("| sort by event_time_t asc, _ItemId asc")
        return KqlQuery("\n".join(lines), QueryKind.FOLLOW, columns)
    if request.limit is not None:  # the newest N (top takes one sort key; _ItemId breaks ties)
        lines += ["| sort by event_time_t desc, _ItemId desc", f"| take {request.limit}"]
    lines.append("| sort by event_time_t asc, _ItemId asc")
    return KqlQuery("\n".join(lines), QueryKind.LIST, columns)


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise UsageError(f"--limit must be a positive number, not {limit!r}", code="bad_limit")


def _where(request: LogsRequest, window: IngestionWindow | None) -> list[str]:
    f = request.filters
    actions = f'in ("{FAILED_LOGIN}", "{SUCCESSFUL_LOGIN}")' if request.all_events else f'== "{FAILED_LOGIN}"'
    out = [f'| where Category == "{CATEGORY}"', f"| where action_id_s {actions}"]
    if request.until is not None and request.until <= request.since:
        raise UsageError("--until must be later than --since", UNTIL_HINT, code="bad_window")
    span = f"event_time_t >= {kusto_datetime(request.since)}"
    if request.until is not None:
        span += f" and event_time_t < {kusto_datetime(request.until)}"
    out.append(f"| where {span}")
    if window is not None:
        if window.end <= window.start:
            raise ValueError("an ingestion window must not be empty")
        out.append(f"| where ingestion_time() >= {kusto_datetime(window.start)} and ingestion_time() < {kusto_datetime(window.end)}")
    if f.server is not None:
        out.append(f"| where LogicalServerName_s =~ {kusto_string(f.server)}")
    if f.database is not None:
        out.append(f"| where database_name_s =~ {kusto_string(f.database)}")
    if f.scopes:
        out.append("| where " + " or ".join(_scope(sc) for sc in f.scopes))
    if f.principal is not None:
        out.append(f"| where server_principal_name_s =~ {kusto_string(f.principal)}")
    if f.client_ip is not None:
        out.append(f"| where client_ip_s == {kusto_string(_ip(f.client_ip))}")
    if f.app is not None:
        out.append(f"| where application_name_s contains {kusto_string(f.app)}")
    out.append(f"| extend {ERROR_NUMBER} = {_ERROR_EXPR}, {ERROR_STATE} = {_STATE_EXPR}")
    if f.error is not None:
        out.append(f"| where {ERROR_NUMBER} == {_int(f.error, 'error')}")
    if f.state is not None:
        out.append(f"| where {ERROR_STATE} == {_int(f.state, 'state')}")
    return out


def _scope(scope: ServerScope) -> str:
    server = f"LogicalServerName_s =~ {kusto_string(scope.server)}"
    if not scope.databases:
        return server
    return f"({server} and database_name_s in~ ({', '.join(kusto_string(d) for d in scope.databases)}))"


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise UsageError(f"--client-ip {value!r} is not an IP address", "e.g. --client-ip 203.0.113.7", code="bad_filter") from None


def _summary(request: LogsRequest, lines: list[str]) -> KqlQuery:
    keys = tuple(dict.fromkeys(request.summary_by or DEFAULT_SUMMARY_KEYS))
    if request.all_events and GroupKey.ACTION not in keys:
        keys = (GroupKey.ACTION, *keys)  # failures and successes never share a group
    by = ", ".join(name if name == expr else f"{name} = {expr}" for name, expr in (GROUP_COLUMNS[k] for k in keys))
    lines.append(f"| summarize {SUMMARY_COUNT} = count(), {SUMMARY_FIRST} = min(event_time_t), {SUMMARY_LAST} = max(event_time_t) by {by}")
    lines.append(f"| sort by {SUMMARY_COUNT} desc, {SUMMARY_LAST} desc")
    if request.limit is not None:
        lines.append(f"| take {request.limit}")
    columns = (*(GROUP_COLUMNS[k][0] for k in keys), SUMMARY_COUNT, SUMMARY_FIRST, SUMMARY_LAST)
    return KqlQuery("\n".join(lines), QueryKind.SUMMARY, columns)

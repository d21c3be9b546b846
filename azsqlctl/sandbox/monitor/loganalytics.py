"""The sandbox's Log Analytics query API (what azure-monitor-query's ``LogsQueryClient`` talks to).

- ``POST /v1/workspaces/{customerId}/query`` and the resource-centric ``POST /v1{resourceId}/query``
  with ``{"query": KQL, "timespan": ISO 8601}``; ``Prefer: wait=N`` is the server timeout.
- HTTPS with the sandbox CA; a bearer token for ``https://api.loganalytics.io`` from the sandbox
  tenant (the identity endpoint mints them). No/invalid token: 401; a workspace whose readers do
  not include the caller: 403 ``InsufficientAccessError``; an unknown workspace: 404
  ``WorkspaceNotFoundError``; an unknown resource: 404 ``ResourceNotFoundError``.
- Answers ``{"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows": [...]}]}``,
  with ``"error"`` beside the tables for a partial result (what ``LogsQueryStatus.PARTIAL`` reads).
- Executes the KQL subset of :mod:`.kusto` over the audit store; anything else is a 400
  ``BadArgumentError`` whose inner error says the sandbox does not support it.

Which rows are in a workspace: see :mod:`.state`. Each row is its logical server's (``LogicalServerName_s``): the
sandbox's own or a fleet server's (``arm.resourcegraph.FleetServer``); a query over several workspaces
(``workspaces`` in the body: ``additional_workspaces``) sees a server's rows when that server's auditing and a
diagnostic setting of its own send them to one of those workspaces. Ingestion: a row's ``ingestion_time()``
is when the audit store committed it plus ``ingestion.delay`` plus up to ``ingestion.jitter``
(a stable per-row fraction, so rows arrive out of event-time order); a row is not visible before
its ingestion time. Faults (``sandbox.faults.inject("logs", kind)``): ``delay`` (slow response),
``error500``, ``throttle429`` (with Retry-After), ``duplicate`` (a page's rows sent twice; it waits for, and its
``after`` counts, pages that have rows: an empty page sent twice is no duplicate),
``partial`` (a partial error beside the data).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from ..arm.monitoring import AuditedServer, audited_servers
from ..arm.resourcegraph import Inventory
from ..entra.tokens import Issuer, TokenRejected
from ..faults import Faults
from ..state import SandboxState
from ..store import StateStore
from .audit import COLUMNS, AuditStore
from .kusto import INGESTION, KqlUnsupported, compile_query, to_wire
from .state import AUDIT_CATEGORY, FAILED_GROUP, SUCCESSFUL_GROUP, Workspace, workspace_arm_id

LOGS_RESOURCE = "https://api.loganalytics.io"
LOGS_AUDIENCES = (LOGS_RESOURCE, LOGS_RESOURCE + "/")
DEFAULT_INGESTION_DELAY = 3.0  # seconds; Azure's is minutes (set it up to that with ingestion.delay)
_DATETIME_COLUMNS = [n for n, t in COLUMNS.items() if t == "datetime"]
_CATEGORIES = {AUDIT_CATEGORY.lower(), "alllogs", "audit"}  # the category and the groups that contain it
Response = tuple[int, Any, dict[str, str]]


@dataclass
class Ingestion:
    delay: float = DEFAULT_INGESTION_DELAY  # seconds between a login and its ingestion_time()
    jitter: float = 0.0  # up to this many seconds more, a stable fraction per row (out-of-order arrival)

    def of(self, item_id: str) -> float:
        if not self.jitter:
            return self.delay
        fraction = int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:4], "big") / 2**32
        return self.delay + self.jitter * fraction


@dataclass
class QueryLog:
    """What the endpoint served (tests and benchmarks count these)."""

    queries: list[str] = field(default_factory=list)
    workspaces: list[tuple[str, ...]] = field(default_factory=list)  # per query: the workspaces it ran over (first, then the body's)
    prefer: list[str] = field(default_factory=list)
    rows_returned: int = 0
    bytes_returned: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(status: int, code: str, message: str, inner: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": {"message": message, "code": code, "correlationId": str(uuid.uuid4())}}
    if inner:
        body["error"]["innererror"] = inner
    return status, body, headers or {}


def parse_timespan(text: str, now: float) -> tuple[float, float] | None:
    """ISO 8601 ``duration`` (ending now), ``start/end``, ``start/duration`` or ``duration/end``; None if unreadable."""

    def duration(value: str) -> float | None:
        m = re.fullmatch(r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?", value.upper())
        if not m or not any(m.groups()):
            return None
        d, h, mi, s = (float(g or 0) for g in m.groups())
        return d * 86400 + h * 3600 + mi * 60 + s

    def instant(value: str) -> float | None:
        v = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        v = re.sub(r"(\.\d{6})\d+", r"\1", v)
        try:
            parsed = datetime.fromisoformat(v)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()

    parts = text.strip().split("/")
    if len(parts) == 1:
        span = duration(parts[0])
        return (now - span, now) if span is not None else None
    if len(parts) != 2:
        return None
    a, b = parts
    if a.upper().startswith("P"):
        span, end = duration(a), instant(b)
        return (end - span, end) if span is not None and end is not None else None
    start = instant(a)
    if start is None:
        return None
    if b.upper().startswith("P"):
        span = duration(b)
        return (start, start + span) if span is not None else None
    end = instant(b)
    return (start, end) if end is not None else None


class LogAnalyticsService:
    def __init__(self, store: StateStore, audit: AuditStore, issuer: Issuer, faults: Faults, fleet: Inventory | None = None) -> None:
        self.store, self.audit, self.issuer, self.faults = store, audit, issuer, faults
        self.fleet = fleet if fleet is not None else Inventory()  # the other logical servers, whose rows their own settings route
        self.ingestion = Ingestion()
        self.log = QueryLog()
        self.clock = time.time

    # --- the request ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, authorization: str | None, prefer: str | None, body: Any) -> Response:
        fault = self.faults.take("logs", {"delay", "error500", "throttle429"})
        if fault is not None:
            if fault.kind == "delay":
                self.faults.sleep(fault.delay)
            elif fault.kind == "throttle429":
                return _error(429, "ThrottledError", "Your request was throttled. Please retry after some time.",
                              headers={"Retry-After": str(fault.retry_after)})  # fmt: skip
            else:
                return _error(500, "InternalServerError", "An unexpected error occurred while processing your request.")
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _error(401, "AuthorizationRequiredError", "Valid authentication was not provided",
                          headers={"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common"'})  # fmt: skip
        tenant = self.store.read(lambda s: s.tenant_id)
        try:
            claims = self.issuer.verify(token, LOGS_AUDIENCES, tenant)
        except TokenRejected as rejected:
            return _error(401, "InvalidTokenError", f"The provided authentication is not valid for this resource ({rejected.reason})")
        route = unquote(path)
        m = re.fullmatch(r"/v1/workspaces/([^/]+)/query", route, re.I)
        r = re.fullmatch(r"/v1(/subscriptions/.+)/query", route, re.I)
        if method != "POST" or not (m or r):
            return _error(404, "PathNotFoundError", f"The requested path '{path}' does not exist")
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _error(400, "BadArgumentError", "The request had some invalid properties",
                          {"code": "InvalidBody", "message": "The body must be a JSON object with a 'query' string"})  # fmt: skip
        oid = str(claims.get("oid", ""))
        more = body.get("workspaces") or []  # additional_workspaces: one query over several workspaces
        if not isinstance(more, list) or not all(isinstance(w, str) for w in more):
            return _error(400, "BadArgumentError", "The request had some invalid properties",
                          {"code": "InvalidBody", "message": "'workspaces' must be an array of workspace ids"})  # fmt: skip
        scoped = self.store.read(lambda s: self._scope(s, m[1] if m else None, r[1] if r else None, oid, more))
        if isinstance(scoped, tuple):
            return scoped
        with self.log.lock:
            self.log.queries.append(body["query"])
            self.log.workspaces.append((m[1], *more) if m else ())
            self.log.prefer.append(prefer or "")
        return self._query(body, scoped)

    def _scope(
        self, s: SandboxState, customer_id: str | None, resource_id: str | None, oid: str, more: list[str] | None = None
    ) -> Response | _Scope:
        mon, srv = s.monitor, s.server
        if customer_id is not None:
            targets = []
            for one in [customer_id, *(more or [])]:  # every workspace must exist and be readable, as the service checks
                ws = next((w for w in mon.workspaces if one.lower() in (w.customer_id.lower(), w.name.lower())), None)
                if ws is None:
                    return _error(404, "WorkspaceNotFoundError", f"The workspace {one} could not be found")
                if not _reader(ws, oid):
                    return _error(
                        403, "InsufficientAccessError",
                        "The provided credentials have insufficient access to perform the requested operation",
                    )  # fmt: skip
                targets.append(workspace_arm_id(srv.subscription_id, srv.resource_group, ws.name).lower())
            return self._pipeline(s, targets, "")
        assert resource_id is not None
        if more:
            return _error(400, "BadArgumentError", "The request had some invalid properties",
                          {"code": "InvalidBody", "message": "'workspaces' is not supported by resource-centric queries"})  # fmt: skip
        rid = resource_id.rstrip("/").lower()
        head, _, database = rid.partition("/databases/")
        if not any(x.arm_id.lower() == head and (not database or x.has_database(database)) for x in audited_servers(s, self.fleet)):
            return _error(404, "ResourceNotFoundError", f"The resource '{resource_id}' could not be found")
        targets = [workspace_arm_id(srv.subscription_id, srv.resource_group, w.name).lower() for w in mon.workspaces]
        if not any(_reader(w, oid) for w in mon.workspaces):
            return _error(
                403, "InsufficientAccessError", "The provided credentials have insufficient access to perform the requested operation"
            )
        return self._pipeline(s, targets, rid)

    def _pipeline(self, s: SandboxState, workspace_ids: list[str], resource_prefix: str) -> _Scope:
        """Per logical server: whether its rows reach these workspaces, which actions, and since when."""
        return _Scope({x.name.lower(): sent for x in audited_servers(s, self.fleet) if (sent := _sent(x, workspace_ids))}, resource_prefix)

    # --- running the query ------------------------------------------------------------------------

    def _query(self, body: dict[str, Any], scope: _Scope) -> Response:
        now = self.clock()
        schema = dict(COLUMNS)
        try:
            plan = compile_query(body["query"], schema, now)
        except KqlUnsupported as exc:
            inner_code = "SyntaxError" if exc.kind == "syntax" else "SemanticError"
            inner_msg = "A recognition error occurred in the query." if exc.kind == "syntax" else "A semantic error occurred."
            detail = {"code": "SYN0002" if exc.kind == "syntax" else "SEM0100", "message": exc.message, "token": exc.token, "pos": exc.pos}
            return _error(400, "BadArgumentError", "The request had some invalid properties",
                          {"code": inner_code, "message": inner_msg, "innererror": detail})  # fmt: skip
        timespan = body.get("timespan")
        window = parse_timespan(timespan, now) if isinstance(timespan, str) and timespan else None
        if timespan and window is None:
            return _error(400, "BadArgumentError", "The request had some invalid properties",
                          {"code": "InvalidTimespan", "message": f"'{timespan}' is not an ISO 8601 timespan"})  # fmt: skip
        rows = list(self._rows(plan, scope, window, now)) if scope.servers else []
        result = plan.run(rows)
        fault = self.faults.take("logs", {"duplicate", "partial"} if result else {"partial"})
        kinds = {c.name: c.type for c in plan.columns}
        wire = [[to_wire(r.get(c.name), kinds[c.name]) for c in plan.columns] for r in result]
        if fault is not None and fault.kind == "duplicate":
            wire = wire + wire  # a page delivered twice
        table = {"name": "PrimaryResult", "columns": [{"name": c.name, "type": c.type} for c in plan.columns], "rows": wire}
        out: dict[str, Any] = {"tables": [table]}
        if fault is not None and fault.kind == "partial":
            out["error"] = {
                "code": "PartialError",
                "message": "There were some errors when processing your query.",
                "details": [{"code": "EngineError", "message": "Something went wrong processing your query on the server.",
                             "innererror": {"code": "-2133196797", "message": "Query execution has exceeded the allowed limits (sandbox fault).",
                                            "severity": 2, "severityName": "Error"}}],
            }  # fmt: skip
        with self.log.lock:
            self.log.rows_returned += len(wire)
            self.log.bytes_returned += len(json.dumps(out))
        return 200, out, {}

    def _rows(self, plan: Any, scope: _Scope, window: tuple[float, float] | None, now: float) -> Any:
        delay_min, delay_max = self.ingestion.delay, self.ingestion.delay + self.ingestion.jitter
        visible_to = now - delay_min  # stored ingestion later than this: not ingested yet
        ingested_from = plan.ingested_from - delay_max if plan.ingested_from is not None else None
        ingested_to = min(visible_to, plan.ingested_to - delay_min) if plan.ingested_to is not None else visible_to
        since = min(x.since for x in scope.servers.values())
        floor = since - delay_max if since else None
        if floor is not None:
            ingested_from = floor if ingested_from is None else max(ingested_from, floor)
        event_from, event_to = plan.event_from, plan.event_to
        if window is not None:
            event_from = window[0] if event_from is None else max(event_from, window[0])
            event_to = window[1] if event_to is None else min(event_to, window[1])
        stored = self.audit.rows(ingested_from=ingested_from, ingested_to=ingested_to + 1e-6, event_from=event_from,
                                 event_to=None if event_to is None else event_to + 1e-6)  # fmt: skip
        for row in stored:
            sent = scope.servers.get(str(row.get("LogicalServerName_s", "")).lower())
            if sent is None or row.get("action_id_s") not in sent.actions:
                continue
            if scope.resource_prefix and not str(row.get("_ResourceId", "")).lower().startswith(
                scope.resource_prefix.rsplit("/databases/", 1)[0]
            ):
                continue
            received = _epoch(row["_TimeReceived"])
            ingested = received + self.ingestion.of(str(row["_ItemId"]))
            if ingested > now or ingested < sent.since:
                continue
            for name in _DATETIME_COLUMNS:
                row[name] = _epoch(row[name]) if row.get(name) else None
            row["_TimeReceived"] = ingested
            row[INGESTION] = ingested
            if window is not None and not window[0] <= row["TimeGenerated"] <= window[1]:
                continue
            yield row


@dataclass(frozen=True)
class _Sent:
    """What one server sends to the queried workspaces."""

    actions: frozenset[str]  # DBAF/DBAS, by the configured action groups
    since: float  # rows ingested before this were never sent


@dataclass(frozen=True)
class _Scope:
    servers: dict[str, _Sent]  # lower-cased logical server name -> what it sends here (absent: nothing)
    resource_prefix: str  # resource-centric: only this resource's rows


def _sent(server: AuditedServer, workspace_ids: list[str]) -> _Sent | None:
    """None unless auditing is on, to Azure Monitor, with a diagnostic setting sending the category to one of these workspaces."""
    audit = server.auditing
    on = audit.state.lower() == "enabled" and audit.azure_monitor
    settings = [d for d in server.diagnostic_settings if d.workspace_id.lower() in workspace_ids and
                any(c.lower() in _CATEGORIES for c in d.categories)]  # fmt: skip
    actions = {"DBAF"} if FAILED_GROUP in audit.action_groups else set()
    if SUCCESSFUL_GROUP in audit.action_groups:
        actions.add("DBAS")
    if not (on and settings and actions):
        return None
    return _Sent(frozenset(actions), max(audit.enabled_since, min(d.enabled_since for d in settings)))


def _reader(ws: Workspace, oid: str) -> bool:
    return not ws.readers or oid.lower() in (r.lower() for r in ws.readers)


def _epoch(text: Any) -> float:
    if isinstance(text, (int, float)):
        return float(text)
    value = str(text)
    value = value[:-1] + "+00:00" if value.endswith("Z") else value
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    return datetime.fromisoformat(value).timestamp()


def start_logs_endpoint(service: LogAnalyticsService, tls: Any, port: int = 0) -> Any:
    from ..http import HttpEndpoint, JsonHandler, RequestRejected

    class Handler(JsonHandler):
        surface = "loganalytics"

        def error_body(self, status: int, code: str, message: str) -> Any:
            del status
            return _error(400, code, message)[1]  # {"error": {"message", "code", "correlationId"}}

        def _dispatch(self) -> None:
            try:
                body = self.read_json() if self.command in ("POST",) else self.discard_body()
            except RequestRejected as rejected:
                if rejected.code != "InvalidRequestContent":
                    raise  # too large, no or a bad length: refused at the front door
                body = None  # not JSON: answered after authentication, as BadArgumentError (handle())
            status, payload, headers = service.handle(self.command, self.route, self.headers.get("Authorization"),
                                                      self.headers.get("Prefer"), body)  # fmt: skip
            self.send_json(status, payload, {"x-ms-request-id": str(uuid.uuid4()), **headers})

        do_GET = do_POST = _dispatch  # noqa: N815 - stdlib naming

    return HttpEndpoint(Handler, port=port, tls=tls).start()

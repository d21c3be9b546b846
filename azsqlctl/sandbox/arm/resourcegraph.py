"""Azure Resource Graph over the sandbox's ARM state: POST /providers/Microsoft.ResourceGraph/resources.

Rows: the sandbox's logical server and its databases (master included, as ARM lists it), plus the
servers a test or benchmark adds to the ``Inventory`` (a fleet: many servers, databases and tags). A fleet
server answers Resource Graph, ARM GETs of itself and its databases, its auditing policy and diagnostic
settings (``monitoring.py``); its databases are served by the sandbox's one TDS listener, which picks the
logical server a login is for as Azure's gateway does (``Inventory.login_server``). Shapes as the service's: ``type`` lower-cased, ``id``
in ARM casing, ``resultTruncated`` a string, ``$skipToken`` only while rows remain and only when ``id``
is projected; ``x-ms-user-quota-remaining`` / ``x-ms-user-quota-resets-after`` on every answer; a
throttled query is 429 ``RateLimiting`` with ``Retry-After``.

The KQL it runs is the subset a fleet lookup needs; anything else is 400 ``BadRequest`` /
``InvalidQuery`` naming the token it stopped at (never an empty result)::

    resources
    | where COND [and COND ...]        COND: COL =~ 'v', COL !~ 'v', COL == 'v', COL in~ ('v', ...), COL in ('v', ...)
    | project COL | NAME = tostring(properties.PROP), ...
    | order by COL [asc|desc]
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..faults import Faults
from ..monitor.state import AuditingPolicy, DiagnosticSetting
from ..state import SandboxState
from ..store import StateStore

ROUTE = re.compile(r"^/providers/Microsoft\.ResourceGraph/resources$", re.IGNORECASE)
API_VERSIONS = ("2019-04-01", "2021-03-01", "2022-10-01", "2024-04-01")
QUOTA = 15  # queries per window per caller, as the service's documented illustration
WINDOW = 5.0  # seconds
SUPPORT = "Please provide below info when asking for support: timestamp = {ts}, correlationId = {cid}."
THROTTLED = (
    "Client application has been throttled and should not attempt to repeat the request until an amount of time has elapsed. "
    "Please see https://aka.ms/resourcegraph-throttling for help."
)
Response = tuple[int, Any]


@dataclass(frozen=True)
class WithHeaders:
    """A response body with headers of its own (the quota headers); arm.py's handler sends both."""

    body: Any
    headers: dict[str, str]


@dataclass
class FleetServer:
    """Another logical server of the sandbox's ARM: Resource Graph lists it, ARM answers for it and its audit
    configuration. Its databases live in the sandbox's one engine (add them to ``state.server.databases`` too);
    a login for one of them is decided by the sandbox server's rules and audited under this server's name."""

    name: str
    subscription_id: str
    resource_group: str
    location: str = "westeurope"
    tags: dict[str, str] = field(default_factory=dict)
    databases: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> tags
    fqdn: str = ""
    # Azure's defaults for a new server: auditing off, no diagnostic setting (``logs enable`` turns both on).
    auditing: AuditingPolicy = field(default_factory=lambda: AuditingPolicy(state="Disabled", azure_monitor=False, action_groups=[]))
    diagnostic_settings: list[DiagnosticSetting] = field(default_factory=list)

    def has_database(self, name: str) -> bool:
        return name.lower() == "master" or any(d.lower() == name.lower() for d in self.databases)


@dataclass
class Inventory:
    """What Resource Graph sees beyond the sandbox's own server: more servers, and tags on any resource id."""

    servers: list[FleetServer] = field(default_factory=list)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # lower-cased resource id -> tags
    management_groups: dict[str, list[str]] = field(default_factory=dict)  # management group id -> subscription ids

    def server(self, name: str, subscription_id: str = "", resource_group: str = "") -> FleetServer | None:
        """The fleet server of that name (logical server names are unique in Azure: they are DNS names), in that
        subscription and resource group when they are given."""
        for s in self.servers:
            if s.name.lower() != name.lower():
                continue
            if subscription_id and s.subscription_id.lower() != subscription_id.lower():
                return None
            if resource_group and s.resource_group.lower() != resource_group.lower():
                return None
            return s
        return None

    def login_server(self, server_name: str, database: str) -> FleetServer | None:
        """The fleet server a login is for (None: the sandbox's own server), as Azure's gateway picks it.

        The gateway routes by the name the client connected to (LOGIN7's ServerName: ``tcp:sql-b.database.windows.net,1433``,
        ``sql-b.localhost``): a first DNS label naming a fleet server decides. The sandbox serves every server at one
        address, so a name that names none (``localhost``, an IP) leaves the database to decide: the one fleet server
        listing it. A database several fleet servers list stays with the sandbox's own server (connect by name)."""
        host = server_name.strip()
        host = host[4:] if host.lower().startswith("tcp:") else host
        host = host.split(",", 1)[0].split("\\", 1)[0].strip().rstrip(".").lower()
        if "." in host:
            named = self.server(host.split(".", 1)[0])
            if named is not None:
                return named
        if database.lower() == "master":
            return None
        # Every login asks: a dict lookup per server first (a benchmark's fleet has 100 servers of 20 databases).
        owners = [s for s in self.servers if database in s.databases] or [s for s in self.servers if s.has_database(database)]
        return owners[0] if len(owners) == 1 else None


def _sql_id(sub: str, rg: str, server: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Sql/servers/{server}"


def rows(state: SandboxState, inv: Inventory, fqdn: str) -> list[dict[str, Any]]:
    """Every server and database, as Resource Graph's Resources table has them."""
    srv = state.server
    fleet = [
        FleetServer(srv.name, srv.subscription_id, srv.resource_group, srv.location, {}, {d.name: {} for d in srv.databases}, fqdn),
        *inv.servers,
    ]
    out: list[dict[str, Any]] = []
    for s in fleet:
        sid = _sql_id(s.subscription_id, s.resource_group, s.name)
        base = {"subscriptionId": s.subscription_id, "resourceGroup": s.resource_group.lower(), "location": s.location, "kind": "v12.0"}
        tags = {**s.tags, **inv.tags.get(sid.lower(), {})}
        host = s.fqdn or f"{s.name}.database.windows.net"
        out.append({"id": sid, "name": s.name, "type": "microsoft.sql/servers", "tags": tags, **base,
                    "properties": {"fullyQualifiedDomainName": host, "state": "Ready"}})  # fmt: skip
        for name, db_tags in {"master": {}, **s.databases}.items():
            did = f"{sid}/databases/{name}"
            out.append({"id": did, "name": name, "type": "microsoft.sql/servers/databases", **base,
                        "kind": "v12.0,system" if name == "master" else "v12.0,user",
                        "tags": {**db_tags, **inv.tags.get(did.lower(), {})}, "properties": {"status": "Online"}})  # fmt: skip
    return out


class QueryError(Exception):
    def __init__(self, token: str, position: int, message: str) -> None:
        super().__init__(message)
        self.token, self.position, self.message = token, position, message


_TOKEN = re.compile(
    r"\s*(?:(?P<str>[hH]?'(?:[^'\\]|\\.)*'|[hH]?\"(?:[^\"\\]|\\.)*\")|(?P<op>=~|!~|==|!=|in~|\|)|(?P<word>[A-Za-z_][\w.]*)|(?P<p>[(),=]))"
)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = _TOKEN.match(text, i)
        if not m:
            raise QueryError(text[i:].strip()[:20], i, "unexpected character")
        kind = m.lastgroup or ""
        out.append((kind, m[kind], m.start(kind)))
        i = m.end()
    return out


def _literal(tok: tuple[str, str, int]) -> str:
    if tok[0] != "str":
        raise QueryError(tok[1], tok[2], "expected a string literal")
    text = tok[1][1:] if tok[1][0] in "hH" else tok[1]  # h"...": an obfuscated literal, the same value
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def compile_query(
    text: str,
) -> tuple[Callable[[dict[str, Any]], bool], list[tuple[str, Callable[[dict[str, Any]], Any]]] | None, tuple[str, bool]]:
    """(row filter, projection or None for all columns, (order column, descending))."""
    toks = _tokens(text)
    pos = 0

    def take(*want: str) -> tuple[str, str, int]:
        nonlocal pos
        if pos >= len(toks):
            raise QueryError("<end>", len(text), f"expected {' or '.join(want) or 'more'}")
        tok = toks[pos]
        if want and tok[1].lower() not in want:
            raise QueryError(tok[1], tok[2], f"expected {' or '.join(want)}")
        pos += 1
        return tok

    table = take()
    if table[1].lower() != "resources":
        raise QueryError(table[1], table[2], "the sandbox's Resource Graph holds only the Resources table")
    conds: list[Callable[[dict[str, Any]], bool]] = []
    projection: list[tuple[str, Callable[[dict[str, Any]], Any]]] | None = None
    order = ("", False)
    while pos < len(toks):
        take("|")
        op = take()
        if op[1].lower() == "where":
            while True:
                col = take()
                verb = take("=~", "!~", "==", "!=", "in~", "in")[1].lower()
                if verb in ("in~", "in"):
                    take("(")
                    values = [_literal(take())]
                    while take(",", ")")[1] == ",":
                        values.append(_literal(take()))
                else:
                    values = [_literal(take())]
                conds.append(_condition(col[1], verb, values))
                if pos < len(toks) and toks[pos][1].lower() == "and":
                    take("and")
                    continue
                break
        elif op[1].lower() == "project":
            projection = []
            while True:
                name = take()
                if pos < len(toks) and toks[pos][1] == "=":
                    take("=")
                    take("tostring")
                    take("(")
                    path = take()
                    take(")")
                    if not path[1].startswith("properties."):
                        raise QueryError(path[1], path[2], "the sandbox projects tostring(properties.NAME) only")
                    prop = path[1].split(".", 1)[1]
                    projection.append((name[1], _property(prop)))
                else:
                    projection.append((name[1], _column(name[1])))
                if pos < len(toks) and toks[pos][1] == ",":
                    take(",")
                    continue
                break
        elif op[1].lower() in ("order", "sort"):
            take("by")
            col = take()
            desc = False
            if pos < len(toks) and toks[pos][1].lower() in ("asc", "desc"):
                desc = take()[1].lower() == "desc"
            order = (col[1], desc)
        else:
            raise QueryError(op[1], op[2], f"the '{op[1]}' operator is not supported by the azsqlctl sandbox's Resource Graph")
    return (lambda r: all(c(r) for c in conds)), projection, order


def _property(prop: str) -> Callable[[dict[str, Any]], Any]:
    return lambda r: str((r.get("properties") or {}).get(prop, ""))


def _column(column: str) -> Callable[[dict[str, Any]], Any]:
    return lambda r: r.get(column)


def _condition(column: str, verb: str, values: list[str]) -> Callable[[dict[str, Any]], bool]:
    def value(r: dict[str, Any]) -> str:
        return str(r.get(column, ""))

    if verb in ("=~", "in~"):
        lowered = {v.lower() for v in values}
        return lambda r: value(r).lower() in lowered
    if verb == "!~":
        return lambda r: value(r).lower() != values[0].lower()
    if verb == "!=":
        return lambda r: value(r) != values[0]
    return lambda r: value(r) in values


class ResourceGraphService:
    def __init__(self, store: StateStore, faults: Faults, fqdn: str, inventory: Inventory | None = None) -> None:
        self.store, self.faults, self.fqdn = store, faults, fqdn
        self.inventory = inventory if inventory is not None else Inventory()  # shared with TDS and Log Analytics (surfaces.Parts)
        self.requests: list[dict[str, Any]] = []  # bodies received, for tests
        self._lock = threading.Lock()
        self._window: list[float] = []
        # The quota window's clock: a test that pages past the quota can advance it instead of waiting 5 s of real time.
        self.clock: Callable[[], float] = time.monotonic

    def _quota(self) -> tuple[int, float]:
        now = self.clock()
        with self._lock:
            self._window = [t for t in self._window if now - t < WINDOW]
            self._window.append(now)
            resets = WINDOW - (now - self._window[0])
            return QUOTA - len(self._window), resets

    def handle(self, query: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        version = re.search(r"(?:^|&)api-version=([^&]+)", query)
        if not version or version[1] not in API_VERSIONS:
            got = version[1] if version else "none"
            return (
                400,
                _err(
                    "InvalidApiVersionParameter",
                    f"The api-version '{got}' is invalid. The supported versions are '{', '.join(API_VERSIONS)}'.",
                ),
                {},
            )
        remaining, resets = self._quota()
        headers = {"x-ms-user-quota-remaining": str(max(remaining, 0)), "x-ms-user-quota-resets-after": _hms(resets)}
        fault = self.faults.take("arm", {"graph_throttle"})
        if fault is not None or remaining < 0:
            retry = fault.retry_after if fault is not None else max(1, int(resets + 0.999))
            headers.update({"Retry-After": str(retry), "x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": _hms(retry)})
            return 429, _err("RateLimiting", SUPPORT.format(ts=_now(), cid="00000000-0000-0000-0000-000000000000"),
                             [{"code": "RateLimiting", "message": THROTTLED}]), headers  # fmt: skip
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return 400, _err("BadRequest", "The request content was invalid: 'query' is required."), headers
        self.requests.append(body)
        subs, groups = body.get("subscriptions"), body.get("managementGroups")
        if subs and groups:
            return 400, _err("BadRequest", "Only one of subscriptions and managementGroups may be given."), headers
        options = body.get("options") or {}
        try:
            keep, projection, (order_col, desc) = compile_query(body["query"])
        except QueryError as exc:
            details: list[dict[str, Any]] = [{"code": "InvalidQuery", "message": "Query is invalid. Please refer to the documentation for the Azure Resource "
                        "Graph service and fix the error before retrying."},
                       {"code": "ParserFailure", "message": exc.message, "token": exc.token, "line": 1,
                        "characterPositionInLine": exc.position}]  # fmt: skip
            return 400, _err("BadRequest", SUPPORT.format(ts=_now(), cid="00000000-0000-0000-0000-000000000000"), details), headers
        inv = self.inventory
        scope = {s.lower() for s in subs or []} | {s.lower() for g in groups or [] for s in inv.management_groups.get(g, [])}
        unknown = [g for g in groups or [] if g not in inv.management_groups]
        if unknown:
            return 400, _err("BadRequest", f"Management group '{unknown[0]}' was not found or is not accessible."), headers
        every = self.store.read(lambda s: rows(s, inv, self.fqdn))
        matched = [r for r in every if (not scope or r["subscriptionId"].lower() in scope) and keep(r)]
        if order_col:
            matched.sort(key=lambda r: str(r.get(order_col, "")).lower(), reverse=desc)
        projected = [{n: f(r) for n, f in projection} for r in matched] if projection is not None else matched
        top = int(options.get("$top") or 100)
        skip = int(options.get("$skip") or 0)
        token = options.get("$skipToken")
        if token:
            try:
                skip = int(json.loads(base64.b64decode(token))["skip"])
            except (ValueError, KeyError, TypeError):
                return 400, _err("BadRequest", "The $skipToken is invalid."), headers
        if not 1 <= top <= 1000:
            return 400, _err("BadRequest", "$top must be between 1 and 1000."), headers
        page = projected[skip : skip + top]
        answer: dict[str, Any] = {"totalRecords": len(projected), "count": len(page), "resultTruncated": "false", "facets": []}
        more = skip + top < len(projected)
        if more and (projection is None or any(n == "id" for n, _ in projection)):
            answer["$skipToken"] = base64.b64encode(json.dumps({"skip": skip + top}).encode()).decode()
        elif more:
            answer["resultTruncated"] = "true"
        if options.get("resultFormat") == "table":
            names = list(page[0]) if page else [n for n, _ in projection or []]
            answer["data"] = {"columns": [{"name": n, "type": "string"} for n in names], "rows": [[r.get(n) for n in names] for r in page]}
        else:
            answer["data"] = page
        return 200, answer, headers


def _err(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **({"details": details} if details else {})}}


def _hms(seconds: float) -> str:
    s = max(0, int(seconds + 0.999))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())

"""Policy targets found through Azure Resource Graph: a ``select`` becomes concrete servers and databases.

One Resource Graph query per distinct scope (subscriptions or management group) lists the SQL servers
and databases; the narrowing the query can do exactly (resource groups and locations named without
globs) is done there, the rest (globs, tags on the database or its server) here, where each match keeps
the reason it matched. The port pages with ``$skipToken`` and honours the throttling headers; this
module reports what it could not see (a named subscription without any SQL server, a truncated answer).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from ..logs.kql import kusto_string
from .export import literal_glob
from .policy import FleetSelector, Policy, Target

if TYPE_CHECKING:
    from ..target import ServerAddress

SQL_TYPES = ("microsoft.sql/servers", "microsoft.sql/servers/databases")


@dataclass(frozen=True)
class GraphAnswer:
    rows: tuple[Mapping[str, object], ...]
    pages: int = 1
    throttled: int = 0  # 429s waited out, and pages delayed because the quota was spent
    truncated: bool = False  # the service cut the answer short (no $skipToken to continue)


class GraphPort(Protocol):
    def query(self, kql: str, subscriptions: Sequence[str], management_groups: Sequence[str]) -> GraphAnswer: ...


@dataclass(frozen=True)
class FleetMatch:
    server: str  # the server's FQDN: what grant connects to
    server_name: str
    database: str
    subscription: str
    resource_group: str
    why: str
    target: int  # 1-based, the policy's target

    def as_dict(self) -> dict[str, object]:
        return {
            "server": self.server, "server_name": self.server_name, "database": self.database, "subscription": self.subscription,
            "resource_group": self.resource_group, "why": self.why, "target": self.target,
        }  # fmt: skip


@dataclass
class Fleet:
    matches: list[FleetMatch] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)  # what could not be seen, in words
    empty: list[int] = field(default_factory=list)  # select targets (1-based) that found no database
    queries: int = 0
    pages: int = 0
    throttled: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"targets": [m.as_dict() for m in self.matches], "partial": self.partial, "queries": self.queries, "pages": self.pages,
                "throttled": self.throttled}  # fmt: skip


def _glob_free(values: Sequence[str]) -> bool:
    return bool(values) and not any(ch in v for v in values for ch in "*?[")


def fleet_query(selector: FleetSelector) -> str:
    """The KQL for one selector: SQL servers and databases, narrowed where exact; ``order by id`` for stable paging."""
    lines = ["resources", f"| where type in~ ({', '.join(kusto_string(t) for t in SQL_TYPES)})"]
    if _glob_free(selector.resource_groups):
        lines.append(f"| where resourceGroup in~ ({', '.join(kusto_string(g) for g in selector.resource_groups)})")
    if selector.locations:
        lines.append(f"| where location in~ ({', '.join(kusto_string(loc) for loc in selector.locations)})")
    lines.append(
        "| project id, name, type, subscriptionId, resourceGroup, location, tags, fqdn = tostring(properties.fullyQualifiedDomainName)"
    )
    lines.append("| order by id asc")
    return "\n".join(lines)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _tags(value: object) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _glob_reason(what: str, value: str, patterns: Sequence[str]) -> str | None:
    """Why ``value`` was selected (the pattern that matched, when it is not the name itself), or None: not selected."""
    hit = _any_glob(value, patterns)
    if not hit:
        return None
    return f"{what} {value}" + (f" ({hit})" if hit.lower() != value.lower() else "")


def _any_glob(value: str, patterns: Sequence[str]) -> str:
    """The first pattern ``value`` matches (case-insensitively, as Azure names compare), or ""."""
    return next((p for p in patterns if fnmatch.fnmatchcase(value.lower(), p.lower())), "")


def _server_of(database_id: str) -> str:
    head, sep, _tail = database_id.rpartition("/databases/")
    return head.lower() if sep else ""


def match_rows(selector: FleetSelector, databases: Sequence[str], rows: Sequence[Mapping[str, object]], target: int) -> list[FleetMatch]:
    """The databases (never master) that ``selector`` and the target's database globs pick, each with why."""
    servers = {_text(r.get("id")).lower(): r for r in rows if _text(r.get("type")).lower() == SQL_TYPES[0]}
    out: list[FleetMatch] = []
    for row in rows:
        if _text(row.get("type")).lower() != SQL_TYPES[1]:
            continue
        name = _text(row.get("name"))
        server = servers.get(_server_of(_text(row.get("id"))))
        if server is None or name.lower() == "master":
            continue
        why: list[str] = []
        rg, location, server_name = _text(server.get("resourceGroup")), _text(server.get("location")), _text(server.get("name"))
        sub = _text(server.get("subscriptionId"))
        if selector.subscriptions:
            why.append(f"subscription {sub}")
        if selector.management_group:
            why.append(f"management group {selector.management_group}")
        if selector.resource_groups:
            if (said := _glob_reason("resource group", rg, selector.resource_groups)) is None:
                continue
            why.append(said)
        if selector.locations:
            if location.lower() not in {loc.lower() for loc in selector.locations}:
                continue
            why.append(f"location {location}")
        if selector.servers:
            if (said := _glob_reason("server", server_name, selector.servers)) is None:
                continue
            why.append(said)
        own, inherited = _tags(row.get("tags")), _tags(server.get("tags"))
        tag_ok = True
        for key, value in selector.tags:
            if own.get(key.lower(), "").lower() == value.lower():
                why.append(f"tag {key}={value}")
            elif inherited.get(key.lower(), "").lower() == value.lower():
                why.append(f"tag {key}={value} (server)")
            else:
                tag_ok = False
                break
        if not tag_ok:
            continue
        hit = _any_glob(name, databases)
        if not hit:
            continue
        if hit != "*":
            why.append(f"database {name}" + (f" ({hit})" if hit.lower() != name.lower() else ""))
        fqdn = _text(server.get("fqdn")) or f"{server_name}.database.windows.net"
        out.append(FleetMatch(fqdn, server_name, name, sub, rg, ", ".join(why) or "every database the caller can read", target))
    return out


def resolve_fleet(policy: Policy, port: GraphPort) -> Fleet:
    """Every ``select`` target's databases, through one query per distinct scope and KQL."""
    fleet = Fleet()
    answers: dict[tuple[str, tuple[str, ...], str], GraphAnswer] = {}
    for k, target in enumerate(policy.targets, 1):
        sel = target.select
        if sel is None:
            continue
        kql = fleet_query(sel)
        groups = (sel.management_group,) if sel.management_group else ()
        key = (kql, tuple(sorted(s.lower() for s in sel.subscriptions)), sel.management_group)
        if key not in answers:
            answers[key] = port.query(kql, sel.subscriptions, groups)
            fleet.queries += 1
            fleet.pages += answers[key].pages
            fleet.throttled += answers[key].throttled
        answer = answers[key]
        if answer.truncated:
            fleet.partial.append(f"target {k}: Resource Graph truncated the answer; narrow select (resource groups, locations)")
        seen_subs = {_text(r.get("subscriptionId")).lower() for r in answer.rows}
        for sub in sel.subscriptions:
            if sub.lower() not in seen_subs:
                fleet.partial.append(
                    f"target {k}: subscription {sub} shows no SQL server (none there, or the identity cannot read it: it needs Reader)"
                )
        matched = match_rows(sel, target.databases, answer.rows, k)
        if not matched:
            fleet.empty.append(k)
            fleet.partial.append(f"target {k} (policy line {target.line}): Resource Graph found no database matching select")
        fleet.matches += matched
    return fleet


def concrete(policy: Policy, fleet: Fleet, local: Mapping[str, str] | None = None) -> Policy:
    """The policy with each ``select`` target replaced by one target per found server, databases named exactly.

    ``local`` maps a server FQDN (lower-case) to the address to connect to instead (the --server an operator
    gave for the same host: a port, a tunnel)."""
    targets: list[Target] = []
    for k, target in enumerate(policy.targets, 1):
        if target.select is None:
            targets.append(target)
            continue
        by_server: dict[str, list[str]] = {}
        for m in fleet.matches:
            if m.target == k:
                by_server.setdefault((local or {}).get(m.server.lower(), m.server), []).append(literal_glob(m.database))
        for server, names in by_server.items():
            targets.append(Target([server], names, target.grants, target.line))
    return replace(policy, targets=targets)


def resolve_select(policy: Policy, port: GraphPort, server: ServerAddress | None) -> tuple[Policy, Fleet]:
    """The policy with its ``select`` targets made concrete through Resource Graph, and what was found.

    A found server whose FQDN is the --server's host is reached at --server's address (its port, a tunnel)."""
    fleet = resolve_fleet(policy, port)
    local = {server.host.lower(): server.display} if server else {}
    fleet.matches = [replace(m, server=local.get(m.server.lower(), m.server)) for m in fleet.matches]
    return concrete(policy, fleet), fleet

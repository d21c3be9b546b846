"""`azsqlctl logs --policy FILE`: failed logins across a policy's fleet, in one Log Analytics request.

Each target server's audit destination is found as `logs` finds one server's (auditing policy, then the
diagnostic settings on master, then their workspaces); every workspace goes into one query
(``additional_workspaces``), filtered to the fleet's servers (and databases, when the policy names them
exactly). A server that does not record failed logins is reported and left out; none at all is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azsqlctl.core.logs.kql import ServerScope
    from azsqlctl.core.logs.ports import LogsTarget, MonitorConfig
    from azsqlctl.core.settings import ConnectionSettings


@dataclass
class FleetLogs:
    target: LogsTarget
    scopes: tuple[ServerScope, ...]  # each audited server with the databases the policy names on it (() when a glob leaves them open)
    skipped: list[str] = field(default_factory=list)  # servers whose failed logins are not recorded, and why


def fleet_logs_target(settings: ConnectionSettings, policy_path: Path) -> FleetLogs:
    from azsqlctl.azure import wiring
    from azsqlctl.core.errors import AzsqlctlError, NotFound, UsageError
    from azsqlctl.core.grant.fleet import resolve_select
    from azsqlctl.core.grant.operation import is_glob
    from azsqlctl.core.grant.policy import load_policy
    from azsqlctl.core.logs.kql import ServerScope
    from azsqlctl.core.logs.ports import LogsTarget
    from azsqlctl.core.logs.setup import discover
    from azsqlctl.core.target import parse_server

    policy = load_policy(policy_path, allow_elevated=True)
    # (subscription, resource group, name, host) -> the databases named on that server; None: any (a glob)
    servers: dict[tuple[str, str, str, str], dict[str, None] | None] = {}

    def add(key: tuple[str, str, str, str], databases: list[str]) -> None:
        known = servers.setdefault(key, {})
        if known is None:
            return
        if any(is_glob(d) for d in databases):
            servers[key] = None
        else:
            known.update(dict.fromkeys(databases))

    for target in policy.targets:
        if target.select is not None:
            continue
        for s in target.servers or ([settings.server.display] if settings.server else []):
            address = parse_server(s, settings.cloud.sql_dns_suffix)
            add((settings.subscription, settings.resource_group, address.logical_name, address.host), target.databases)
    if not servers and not any(t.select is not None for t in policy.targets):
        raise UsageError("the policy's targets name no server", "pass --server (targets without servers use it)", code="no_target")
    if any(t.select is not None for t in policy.targets):
        from azsqlctl.azure import wiring

        _concrete, fleet = resolve_select(policy, wiring.resource_graph(settings), settings.server)
        for m in fleet.matches:
            add((m.subscription, m.resource_group, m.server_name, ""), [m.database])
    configs: dict[str, MonitorConfig] = {}
    workspaces: dict[str, list[str]] = {}  # customer id -> the servers auditing to it
    names: list[str] = []
    scoped: dict[str, dict[str, None] | None] = {}  # the server as ARM names it -> its databases (None: any)
    skipped: list[str] = []
    for key in servers:
        sub, rg, name, host = key
        if not sub:
            raise UsageError("finding the audit destination needs ARM", "pass --subscription and --resource-group", code="no_arm_scope")
        config = configs.setdefault(sub.lower(), wiring.monitor_config(settings, sub))
        try:
            ref = config.find_server(rg, name, host)
            found = discover(config, ref)
        except AzsqlctlError as exc:
            skipped.append(f"{name or host}: {exc.message}")
            continue
        names.append(ref.name)
        mine, before = servers[key], scoped.get(ref.name, {})
        scoped[ref.name] = None if mine is None or before is None else {**before, **mine}
        workspaces.setdefault(found.workspace_id, []).append(ref.name)
    if not workspaces:
        raise NotFound(
            "no server of the policy records failed logins in Log Analytics: " + "; ".join(skipped),
            "azsqlctl logs enable --server SERVER --workspace-resource ARM_ID, for each server",
            code="auditing_off",
        )
    first, *more = workspaces
    via = f"diagnostic settings of {len(names)} server(s)"
    audited_by = tuple((w, tuple(dict.fromkeys(s))) for w, s in workspaces.items())
    logs_target = LogsTarget(workspace_id=first, via=via, additional_workspaces=tuple(more), audited_by=audited_by)
    scopes = tuple(ServerScope(name, tuple(databases or ())) for name, databases in scoped.items())
    return FleetLogs(logs_target, scopes, skipped)

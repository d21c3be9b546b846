"""The sandbox's Azure Monitor world: its Log Analytics workspace, the server's auditing policy and
the diagnostic setting on the master database that sends ``SQLSecurityAuditEvents`` to the workspace.

Plain data inside ``SandboxState.monitor`` (so it persists with the state file and old state files
load with the defaults). The default sandbox audits to its workspace, so ``azsqlctl logs`` works at
once; ``sandbox_monitor_off()`` is the starting point ``logs enable`` is shown from.

What reaches the workspace (what its query endpoint shows) follows Azure: a row is in a workspace
only when the server's auditing is Enabled with the Azure Monitor target, the row's action group is
configured (FAILED_/SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP) and a diagnostic setting on master sends
``SQLSecurityAuditEvents`` (or ``allLogs``/``audit``) to that workspace - and only rows ingested while
that was so (``enabled_since``). The audit store itself records every login regardless (C's store).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ACTION_GROUPS = ["SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP", "FAILED_DATABASE_AUTHENTICATION_GROUP", "BATCH_COMPLETED_GROUP"]
FAILED_GROUP = "FAILED_DATABASE_AUTHENTICATION_GROUP"
SUCCESSFUL_GROUP = "SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP"
AUDIT_CATEGORY = "SQLSecurityAuditEvents"
_NS = uuid.UUID("6f1d1b1e-5a8e-4c43-9a52-5d2f1f0c0a11")  # state.py's namespace: the same stable ids


def _stable(name: str) -> str:
    return str(uuid.uuid5(_NS, name))


@dataclass
class Workspace:
    name: str
    customer_id: str  # the GUID the query API takes (properties.customerId)
    retention_days: int = 30
    readers: list[str] = field(default_factory=list)  # object ids allowed to query (Log Analytics Reader); [] = anyone in the tenant


@dataclass
class AuditingPolicy:
    state: str = "Enabled"  # Enabled | Disabled
    azure_monitor: bool = True  # isAzureMonitorTargetEnabled
    action_groups: list[str] = field(default_factory=lambda: list(DEFAULT_ACTION_GROUPS))
    retention_days: int = 0
    enabled_since: float = 0.0  # epoch seconds; rows ingested before are not in the workspace


@dataclass
class DiagnosticSetting:
    """A diagnostic setting on the server's master database."""

    name: str
    workspace_id: str = ""  # the workspace's ARM id ("" = not sending to Log Analytics)
    categories: list[str] = field(default_factory=list)  # enabled log categories (or category groups)
    enabled_since: float = 0.0


@dataclass
class Monitor:
    workspaces: list[Workspace] = field(default_factory=lambda: [default_workspace()])
    auditing: AuditingPolicy = field(default_factory=AuditingPolicy)
    diagnostic_settings: list[DiagnosticSetting] = field(default_factory=list)


def default_monitor(subscription_id: str, resource_group: str) -> Monitor:
    """Auditing on, sending SQLSecurityAuditEvents from master to the sandbox workspace."""
    workspace = default_workspace()
    target = workspace_arm_id(subscription_id, resource_group, workspace.name)
    return Monitor([workspace], AuditingPolicy(), [DiagnosticSetting("audit-to-logs", target, [AUDIT_CATEGORY])])


def default_workspace() -> Workspace:
    return Workspace("sandbox-logs", _stable("workspace/sandbox-logs"))


def monitor_off() -> Monitor:
    """No auditing and no diagnostic setting: where `azsqlctl logs enable` starts from."""
    return Monitor(auditing=AuditingPolicy(state="Disabled", azure_monitor=False, action_groups=[]), diagnostic_settings=[])


def monitor_from_dict(data: Any, subscription_id: str, resource_group: str) -> Monitor:
    if data is None:  # a state file from before the monitor existed
        return default_monitor(subscription_id, resource_group)
    if not isinstance(data, dict):
        raise TypeError(f"monitor must be a table, not {type(data).__name__}")
    return Monitor(
        workspaces=[Workspace(**w) for w in data.get("workspaces", [])],
        auditing=AuditingPolicy(**data.get("auditing", {})),
        diagnostic_settings=[DiagnosticSetting(**d) for d in data.get("diagnostic_settings", [])],
    )


def workspace_arm_id(subscription_id: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.OperationalInsights/workspaces/{name}"

"""Where a server's audit rows go (workspace discovery, ``logs status``) and what ``logs enable`` changes.

Azure records failed logins in Log Analytics only when two resources agree (sql-docs ``auditing-setup.md``):
the server's auditing policy (state Enabled, ``isAzureMonitorTargetEnabled``, the authentication action
groups) and a diagnostic setting on the server's **master** database sending ``SQLSecurityAuditEvents``
(or a category group holding it: ``audit``, ``allLogs``) to a workspace.

``plan_enable`` changes only what is missing: action groups already configured are kept (the two
authentication groups are added), other diagnostic settings are left alone (a new one named
``azsqlctl-audit`` is created unless one already sends the category to the workspace), and when
everything is in place the plan is empty - ``logs enable`` then writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from ..errors import AzsqlctlError, CheckFailed
from .ports import AuditingPolicy, DiagnosticSetting, LogsTarget, MonitorConfig, ServerRef, Workspace

CATEGORY = "SQLSecurityAuditEvents"
CATEGORY_GROUPS = ("audit", "allLogs")
REQUIRED_GROUPS = ("FAILED_DATABASE_AUTHENTICATION_GROUP", "SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP")
SETTING_NAME = "azsqlctl-audit"


class AuditingOff(CheckFailed):
    code = "auditing_off"


def sends_audit(setting: DiagnosticSetting) -> bool:
    wanted = {CATEGORY.lower(), *(g.lower() for g in CATEGORY_GROUPS)}
    return bool(setting.workspace_id) and any(c.lower() in wanted for c in setting.categories)


@dataclass(frozen=True)
class AuditStatus:
    server: ServerRef
    auditing: AuditingPolicy
    settings: tuple[DiagnosticSetting, ...]
    workspaces: tuple[Workspace, ...]  # the workspaces audit rows reach

    @property
    def problems(self) -> list[str]:
        out = []
        if not self.auditing.enabled:
            out.append("server auditing is Disabled")
        elif not self.auditing.azure_monitor:
            out.append("server auditing does not send to Azure Monitor (isAzureMonitorTargetEnabled is false)")
        missing = [g for g in REQUIRED_GROUPS if g not in self.auditing.action_groups]
        if self.auditing.enabled and "FAILED_DATABASE_AUTHENTICATION_GROUP" in missing:
            out.append("the action groups do not include FAILED_DATABASE_AUTHENTICATION_GROUP")
        if not any(sends_audit(s) for s in self.settings):
            out.append(f"no diagnostic setting on the master database sends {CATEGORY} to a Log Analytics workspace")
        return out

    @property
    def ready(self) -> bool:
        return not self.problems and bool(self.workspaces)

    def as_json(self) -> dict[str, object]:
        return {
            "server": self.server.name,
            "server_id": self.server.arm_id,
            "auditing": {
                "state": self.auditing.state,
                "azure_monitor_target": self.auditing.azure_monitor,
                "action_groups": list(self.auditing.action_groups),
            },
            "diagnostic_settings": [
                {
                    "name": s.name,
                    "workspace_resource": s.workspace_id or None,
                    "categories": list(s.categories),
                    "sends_audit": sends_audit(s),
                }
                for s in self.settings
            ],
            "workspaces": [
                {"resource": w.arm_id, "customer_id": w.customer_id, "retention_days": w.retention_days} for w in self.workspaces
            ],
            "ready": self.ready,
            "problems": self.problems,
        }


def read_status(config: MonitorConfig, server: ServerRef) -> AuditStatus:
    auditing = config.auditing(server)
    settings = tuple(config.diagnostic_settings(server.master_id))
    seen: dict[str, Workspace] = {}
    for s in settings:
        if sends_audit(s) and s.workspace_id.lower() not in seen:
            seen[s.workspace_id.lower()] = config.workspace(s.workspace_id)
    return AuditStatus(server, auditing, settings, tuple(seen.values()))


def enable_hint(server: ServerRef, workspace_arm_id: str = "") -> str:
    target = workspace_arm_id or "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>"
    return f"azsqlctl logs enable --server {server.name} --workspace-resource {target}"


def discover(config: MonitorConfig, server: ServerRef) -> LogsTarget:
    """The workspace the server's audit rows go to, or ``AuditingOff`` naming what is missing and the fix."""
    status = read_status(config, server)
    if not status.ready:
        hint_ws = next((s.workspace_id for s in status.settings if s.workspace_id), "") or _nearby_workspace(config, server)
        raise AuditingOff(
            f"failed logins on {server.name} are not recorded in Log Analytics: {'; '.join(status.problems)}",
            enable_hint(server, hint_ws),
        )
    ws = status.workspaces[0]
    setting = next(s for s in status.settings if sends_audit(s) and s.workspace_id.lower() == ws.arm_id.lower())
    retention = timedelta(days=ws.retention_days) if ws.retention_days else None
    return LogsTarget(workspace_id=ws.customer_id, retention=retention, via=f"diagnostic setting '{setting.name}' on {server.name}/master")


def _nearby_workspace(config: MonitorConfig, server: ServerRef) -> str:
    """A workspace in the server's resource group, to put a real id in the hint (best effort)."""
    try:
        found = config.workspaces(server.resource_group)
    except AzsqlctlError:
        return ""
    return found[0].arm_id if len(found) == 1 else ""


@dataclass(frozen=True)
class EnablePlan:
    server: ServerRef
    workspace: Workspace
    auditing_before: AuditingPolicy
    auditing_after: AuditingPolicy | None  # None: nothing to change
    setting_before: DiagnosticSetting | None
    setting_after: DiagnosticSetting | None  # None: nothing to change

    @property
    def empty(self) -> bool:
        return self.auditing_after is None and self.setting_after is None

    @property
    def changes(self) -> list[str]:
        out = []
        b, a = self.auditing_before, self.auditing_after
        if a is not None:
            if b.state != a.state:
                out.append(f"auditing state: {b.state} -> {a.state}")
            if b.azure_monitor != a.azure_monitor:
                out.append(f"auditing to Azure Monitor (isAzureMonitorTargetEnabled): {str(b.azure_monitor).lower()} -> true")
            added = [g for g in a.action_groups if g not in b.action_groups]
            if added:
                kept = f" (keeping {', '.join(b.action_groups)})" if b.action_groups else ""
                out.append(f"action groups: add {', '.join(added)}{kept}")
        if self.setting_after is not None:
            verb = "update" if self.setting_before is not None else "create"
            out.append(
                f"diagnostic setting '{self.setting_after.name}' on {self.server.name}/master: {verb}, "
                f"sending {CATEGORY} to {self.workspace.name}"
            )
        return out

    def as_json(self) -> dict[str, object]:
        return {
            "server": self.server.name,
            "workspace_resource": self.workspace.arm_id,
            "workspace_id": self.workspace.customer_id,
            "changes": self.changes,
            "already_enabled": self.empty,
        }


def plan_enable(config: MonitorConfig, server: ServerRef, workspace_arm_id: str) -> EnablePlan:
    workspace = config.workspace(workspace_arm_id)  # NotFound here: before anything is written
    before = config.auditing(server)
    groups = list(before.action_groups)
    groups += [g for g in REQUIRED_GROUPS if g not in groups]
    after = replace(before, state="Enabled", azure_monitor=True, action_groups=tuple(groups))
    auditing_after = None if after == before else after
    settings = config.diagnostic_settings(server.master_id)
    already = any(sends_audit(s) and s.workspace_id.lower() == workspace.arm_id.lower() for s in settings)
    setting_before = next((s for s in settings if s.name.lower() == SETTING_NAME), None)
    setting_after = None
    if not already:
        categories = (
            tuple(setting_before.categories) if setting_before and setting_before.workspace_id.lower() == workspace.arm_id.lower() else ()
        )
        setting_after = DiagnosticSetting(
            SETTING_NAME, workspace.arm_id, (*categories, CATEGORY), setting_before.other if setting_before else {}
        )
    return EnablePlan(server, workspace, before, auditing_after, setting_before, setting_after)


def apply_enable(config: MonitorConfig, plan: EnablePlan) -> None:
    if plan.auditing_after is not None:
        config.set_auditing(plan.server, plan.auditing_after)
    if plan.setting_after is not None:
        config.set_diagnostic_setting(plan.server.master_id, plan.setting_after)

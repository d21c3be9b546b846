"""logs/setup.py over an in-memory MonitorConfig: what status reports as missing, which workspace discovery
finds and how it says so, and what ``logs enable`` plans to change (and leaves alone)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from azsqlctl.core.errors import CheckFailed, ExitCode, NotFound
from azsqlctl.core.logs.ports import AuditingPolicy, DiagnosticSetting, LogsTarget, ServerRef, Workspace
from azsqlctl.core.logs.setup import (
    CATEGORY,
    CATEGORY_GROUPS,
    REQUIRED_GROUPS,
    SETTING_NAME,
    AuditingOff,
    AuditStatus,
    EnablePlan,
    apply_enable,
    discover,
    enable_hint,
    plan_enable,
    read_status,
    sends_audit,
)

SERVER = ServerRef("sub", "rg", "sql-a")
WS_ID = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws1"
WS2_ID = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws2"
WS = Workspace(WS_ID, "ws1", "11111111-1111-4111-8111-111111111111", 30)
WS2 = Workspace(WS2_ID, "ws2", "22222222-2222-4222-8222-222222222222", None)
GOOD = AuditingPolicy("Enabled", True, REQUIRED_GROUPS)
GENERIC_HINT_WS = "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>"


class Config:
    """An in-memory MonitorConfig: one server's auditing and master-database settings, and the workspaces."""

    def __init__(
        self,
        auditing: AuditingPolicy = GOOD,
        settings: list[DiagnosticSetting] | None = None,
        workspaces: tuple[Workspace, ...] = (WS, WS2),
        in_group: list[Workspace] | Exception | None = None,
    ) -> None:
        self.auditing_policy, self.settings = auditing, list(settings or [])
        self.known = {w.arm_id.lower(): w for w in workspaces}
        self.in_group = in_group
        self.writes: list[tuple[str, object]] = []
        self.asked_settings_of: list[str] = []

    def find_server(self, resource_group: str, name: str, host: str) -> ServerRef:
        return SERVER

    def auditing(self, server: ServerRef) -> AuditingPolicy:
        return self.auditing_policy

    def set_auditing(self, server: ServerRef, policy: AuditingPolicy) -> AuditingPolicy:
        self.writes.append(("auditing", policy))
        return policy

    def diagnostic_settings(self, resource_id: str) -> list[DiagnosticSetting]:
        self.asked_settings_of.append(resource_id)
        return list(self.settings)

    def set_diagnostic_setting(self, resource_id: str, setting: DiagnosticSetting) -> DiagnosticSetting:
        self.writes.append((resource_id, setting))
        return setting

    def workspace(self, arm_id: str) -> Workspace:
        try:
            return self.known[arm_id.lower()]
        except KeyError:
            raise NotFound(f"no workspace {arm_id}") from None

    def workspaces(self, resource_group: str) -> list[Workspace]:
        if isinstance(self.in_group, Exception):
            raise self.in_group
        return list(self.in_group or [])


def _to(ws: str = WS_ID, name: str = "d", categories: tuple[str, ...] = (CATEGORY,)) -> DiagnosticSetting:
    return DiagnosticSetting(name, ws, categories)


def test_the_constants() -> None:
    assert CATEGORY == "SQLSecurityAuditEvents"
    assert CATEGORY_GROUPS == ("audit", "allLogs")
    assert REQUIRED_GROUPS == ("FAILED_DATABASE_AUTHENTICATION_GROUP", "SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP")
    assert SETTING_NAME == "azsqlctl-audit"
    assert issubclass(AuditingOff, CheckFailed) and AuditingOff("x").code == "auditing_off"


@pytest.mark.parametrize(
    ("setting", "sends"),
    [
        (_to(categories=("sqlsecurityauditevents",)), True),
        (_to(categories=("AUDIT",)), True),
        (_to(categories=("alllogs",)), True),
        (_to(categories=("Errors", "Timeouts")), False),
        (_to(categories=()), False),
        (_to(ws="", categories=(CATEGORY,)), False),
    ],
)
def test_sends_audit(setting: DiagnosticSetting, sends: bool) -> None:
    assert sends_audit(setting) is sends


def test_status_of_a_ready_server() -> None:
    config = Config(settings=[_to(name="other", categories=("Errors",)), _to(), _to(ws=WS_ID.upper(), name="again")])
    status = read_status(config, SERVER)
    assert config.asked_settings_of == [SERVER.master_id]
    assert status.workspaces == (WS,)  # the same workspace twice (any case) is read once
    assert status.problems == [] and status.ready
    assert status.as_json() == {
        "server": "sql-a",
        "server_id": SERVER.arm_id,
        "auditing": {"state": "Enabled", "azure_monitor_target": True, "action_groups": list(REQUIRED_GROUPS)},
        "diagnostic_settings": [
            {"name": "other", "workspace_resource": WS_ID, "categories": ["Errors"], "sends_audit": False},
            {"name": "d", "workspace_resource": WS_ID, "categories": [CATEGORY], "sends_audit": True},
            {"name": "again", "workspace_resource": WS_ID.upper(), "categories": [CATEGORY], "sends_audit": True},
        ],
        "workspaces": [{"resource": WS_ID, "customer_id": WS.customer_id, "retention_days": 30}],
        "ready": True,
        "problems": [],
    }


def test_a_setting_to_no_workspace_shows_as_null() -> None:
    status = AuditStatus(SERVER, GOOD, (DiagnosticSetting("s", "", ("audit",)),), ())
    assert status.as_json()["diagnostic_settings"] == [
        {"name": "s", "workspace_resource": None, "categories": ["audit"], "sends_audit": False}
    ]


def test_problems_each_in_words() -> None:
    def problems(auditing: AuditingPolicy, settings: tuple[DiagnosticSetting, ...] = (_to(),)) -> list[str]:
        return AuditStatus(SERVER, auditing, settings, (WS,)).problems

    assert problems(AuditingPolicy("Disabled", True, REQUIRED_GROUPS)) == ["server auditing is Disabled"]
    assert problems(AuditingPolicy("Disabled", False, ())) == ["server auditing is Disabled"]  # groups only matter when enabled
    assert problems(AuditingPolicy("Enabled", False, REQUIRED_GROUPS)) == [
        "server auditing does not send to Azure Monitor (isAzureMonitorTargetEnabled is false)"
    ]
    assert problems(AuditingPolicy("Enabled", True, ("SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP",))) == [
        "the action groups do not include FAILED_DATABASE_AUTHENTICATION_GROUP"
    ]
    assert problems(AuditingPolicy("Enabled", True, ("FAILED_DATABASE_AUTHENTICATION_GROUP",))) == []  # success logins: optional
    assert problems(GOOD, ()) == ["no diagnostic setting on the master database sends SQLSecurityAuditEvents to a Log Analytics workspace"]
    assert not AuditStatus(SERVER, GOOD, (_to(),), ()).ready  # no workspace reached


def test_enable_hint() -> None:
    assert enable_hint(SERVER) == f"azsqlctl logs enable --server sql-a --workspace-resource {GENERIC_HINT_WS}"
    assert enable_hint(SERVER, WS_ID) == f"azsqlctl logs enable --server sql-a --workspace-resource {WS_ID}"


def test_discover_names_the_workspace_retention_and_setting() -> None:
    config = Config(settings=[_to(ws=WS2_ID, name="x", categories=("Errors",)), _to(name="audit-to-ws1")])
    target = discover(config, SERVER)
    assert target == LogsTarget(
        workspace_id=WS.customer_id, retention=timedelta(days=30), via="diagnostic setting 'audit-to-ws1' on sql-a/master"
    )
    unknown_retention = discover(Config(settings=[_to(ws=WS2_ID.upper(), name="two")]), SERVER)
    assert unknown_retention.retention is None and unknown_retention.workspace_id == WS2.customer_id
    assert unknown_retention.via == "diagnostic setting 'two' on sql-a/master"


def test_discover_refuses_naming_every_problem_and_a_workspace_for_the_fix() -> None:
    config = Config(auditing=AuditingPolicy("Disabled", False), settings=[_to(ws=WS2_ID, categories=("Errors",))])
    with pytest.raises(AuditingOff) as info:
        discover(config, SERVER)
    assert info.value.message == (
        "failed logins on sql-a are not recorded in Log Analytics: server auditing is Disabled; no diagnostic setting on the "
        "master database sends SQLSecurityAuditEvents to a Log Analytics workspace"
    )
    assert info.value.hint == enable_hint(SERVER, WS2_ID)  # the workspace a setting already names
    assert info.value.exit_code == ExitCode.CHECK_FAILED


def test_discover_hint_falls_back_to_the_only_workspace_nearby() -> None:
    off = AuditingPolicy("Disabled", False)
    with pytest.raises(AuditingOff) as info:
        discover(Config(auditing=off, settings=[DiagnosticSetting("s", "", ())], in_group=[WS]), SERVER)
    assert info.value.hint == enable_hint(SERVER, WS_ID)
    for nearby in ([WS, WS2], [], NotFound("no group")):
        with pytest.raises(AuditingOff) as info:
            discover(Config(auditing=off, in_group=nearby), SERVER)
        assert info.value.hint == enable_hint(SERVER)


def test_plan_for_a_fresh_server_and_its_application() -> None:
    config = Config(auditing=AuditingPolicy("Disabled", False, ("BATCH_COMPLETED_GROUP",), 7))
    plan = plan_enable(config, SERVER, WS_ID)
    assert plan.auditing_after == AuditingPolicy("Enabled", True, ("BATCH_COMPLETED_GROUP", *REQUIRED_GROUPS), 7)
    assert plan.setting_before is None
    assert plan.setting_after == DiagnosticSetting(SETTING_NAME, WS_ID, (CATEGORY,), {})
    assert not plan.empty
    assert plan.changes == [
        "auditing state: Disabled -> Enabled",
        "auditing to Azure Monitor (isAzureMonitorTargetEnabled): false -> true",
        "action groups: add FAILED_DATABASE_AUTHENTICATION_GROUP, SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP (keeping BATCH_COMPLETED_GROUP)",
        f"diagnostic setting 'azsqlctl-audit' on sql-a/master: create, sending {CATEGORY} to ws1",
    ]
    assert plan.as_json() == {
        "server": "sql-a",
        "workspace_resource": WS_ID,
        "workspace_id": WS.customer_id,
        "changes": plan.changes,
        "already_enabled": False,
    }
    apply_enable(config, plan)
    assert config.writes == [("auditing", plan.auditing_after), (SERVER.master_id, plan.setting_after)]


def test_plan_adds_only_the_missing_group_without_a_keeping_clause_when_none_were_set() -> None:
    plan = plan_enable(Config(auditing=AuditingPolicy("Enabled", True, ()), settings=[_to()]), SERVER, WS_ID)
    assert plan.changes == ["action groups: add FAILED_DATABASE_AUTHENTICATION_GROUP, SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP"]
    assert plan.setting_after is None
    partly = plan_enable(Config(auditing=AuditingPolicy("Enabled", True, (REQUIRED_GROUPS[1],)), settings=[_to()]), SERVER, WS_ID)
    assert partly.changes == [f"action groups: add {REQUIRED_GROUPS[0]} (keeping {REQUIRED_GROUPS[1]})"]
    assert partly.auditing_after is not None and partly.auditing_after.action_groups == (REQUIRED_GROUPS[1], REQUIRED_GROUPS[0])


def test_plan_for_a_ready_server_is_empty_and_writes_nothing() -> None:
    config = Config(settings=[_to(ws=WS_ID.upper(), name="mine", categories=("allLogs",))])
    plan = plan_enable(config, SERVER, WS_ID)
    assert plan.empty and plan.changes == [] and plan.auditing_after is None and plan.setting_after is None
    assert plan.as_json()["already_enabled"] is True
    apply_enable(config, plan)
    assert config.writes == []


def test_plan_updates_its_own_setting_keeping_categories_only_for_the_same_workspace() -> None:
    mine_same = DiagnosticSetting("AZSQLCTL-AUDIT", WS_ID.upper(), ("Errors",), {"storageAccountId": "sa"})
    plan = plan_enable(Config(settings=[mine_same]), SERVER, WS_ID)
    assert plan.setting_before == mine_same
    assert plan.setting_after == DiagnosticSetting(SETTING_NAME, WS_ID, ("Errors", CATEGORY), {"storageAccountId": "sa"})
    assert plan.auditing_after is None
    assert plan.changes == [f"diagnostic setting 'azsqlctl-audit' on sql-a/master: update, sending {CATEGORY} to ws1"]
    mine_elsewhere = DiagnosticSetting(SETTING_NAME, WS2_ID, ("Errors", CATEGORY), {"eventHub": "h"})
    moved = plan_enable(Config(settings=[mine_elsewhere]), SERVER, WS_ID)
    assert moved.setting_after == DiagnosticSetting(SETTING_NAME, WS_ID, (CATEGORY,), {"eventHub": "h"})


def test_a_setting_to_another_workspace_does_not_count() -> None:
    plan = plan_enable(Config(settings=[_to(ws=WS2_ID)]), SERVER, WS_ID)
    assert plan.setting_after is not None and plan.setting_after.workspace_id == WS_ID


def test_plan_reads_the_workspace_first() -> None:
    config = Config()
    with pytest.raises(NotFound):
        plan_enable(config, SERVER, "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/none")
    assert config.asked_settings_of == []


def test_only_the_state_changed() -> None:
    plan = EnablePlan(SERVER, WS, replace(GOOD, state="Disabled"), GOOD, None, None)
    assert plan.changes == ["auditing state: Disabled -> Enabled"]


def test_discover_names_the_setting_that_sends_audit_not_another_to_the_same_workspace() -> None:
    config = Config(settings=[_to(name="metrics", categories=("Errors",)), _to(name="audit")])
    assert discover(config, SERVER).via == "diagnostic setting 'audit' on sql-a/master"


def test_a_plan_with_one_change_is_not_empty() -> None:
    only_auditing = plan_enable(Config(auditing=AuditingPolicy("Disabled", True, REQUIRED_GROUPS), settings=[_to()]), SERVER, WS_ID)
    assert only_auditing.setting_after is None and not only_auditing.empty
    only_setting = plan_enable(Config(), SERVER, WS_ID)
    assert only_setting.auditing_after is None and not only_setting.empty


def test_every_kept_group_is_named() -> None:
    kept = ("BATCH_COMPLETED_GROUP", "SCHEMA_OBJECT_CHANGE_GROUP")
    plan = plan_enable(Config(auditing=AuditingPolicy("Enabled", True, kept), settings=[_to()]), SERVER, WS_ID)
    assert plan.changes == [
        "action groups: add FAILED_DATABASE_AUTHENTICATION_GROUP, SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP "
        "(keeping BATCH_COMPLETED_GROUP, SCHEMA_OBJECT_CHANGE_GROUP)"
    ]

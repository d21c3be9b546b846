"""grant end to end: CLI -> real driver -> sandbox executing the DDL; then doctor."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import Database, DbUser, Identity

runner = CliRunner()


def cid(sandbox: Sandbox, name: str) -> str:
    return str(next(i["client_id"] for i in sandbox.identities_table() if i["name"] == name))


def grant(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["grant", "-o", "json", *args])
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def ddl_sent(sandbox: Sandbox) -> list[str]:
    return [sql for _db, sql in sandbox.sql.statements if sql.split()[0].upper() in ("CREATE", "ALTER", "GRANT", "REVOKE", "DROP")]


def appdb(sandbox: Sandbox) -> Database:
    db = sandbox.store.read(lambda s: s.server.database("appdb"))
    assert db is not None
    return db


def test_grant_apply_then_doctor_logs_in_with_the_roles(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    worker = cid(sandbox, "billing-worker")
    result = runner.invoke(app, ["grant", "billing-worker", "--client-id", worker, "--role", "writer", "--apply"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert (
        "+ create user billing-worker (app, SID 0x" in out
        and "+ add billing-worker to db_datareader" in out
        and "+ add billing-worker to db_datawriter" in out
    )
    assert "CREATE USER [billing-worker] FROM EXTERNAL PROVIDER;" in out
    assert out.strip().endswith("Applied 3 statement(s) in one transaction.")
    db = appdb(sandbox)
    assert db.user("billing-worker") == DbUser("billing-worker", worker, "E", 6)
    doctor = json.loads(runner.invoke(app, ["doctor", "-o", "json", "--client-id", worker]).stdout)
    perms = next(c for c in doctor["data"]["checks"] if c["id"] == "permissions")
    assert doctor["status"] == "ok"
    assert perms["evidence"] == {
        "roles": ["db_datareader", "db_datawriter"],
        "permissions": ["CONNECT", "DELETE", "INSERT", "SELECT", "UPDATE"],
    }


def test_second_run_changes_nothing_and_sends_no_ddl(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    args = ["billing-worker", "--client-id", cid(sandbox, "billing-worker"), "--role", "reader", "--apply"]
    assert grant(*args)[0] == 0
    before = len(ddl_sent(sandbox))
    code, env = grant(*args)
    assert code == 0
    target = env["data"]["targets"][0]
    assert target["status"] == "unchanged" and target["plan"]["steps"] == []
    assert len(ddl_sent(sandbox)) == before  # reads only: the sandbox received no DDL
    human = runner.invoke(app, ["grant", *args])
    assert human.stdout.strip().endswith("No changes.")


def test_check_exit_codes_and_dry_run_changes_nothing(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    args = ["billing-worker", "--client-id", cid(sandbox, "billing-worker"), "--role", "reader"]
    code, env = grant(*args, "--check")
    assert code == ExitCode.CHECK_FAILED and env["status"] == "failed" and env["data"]["targets"][0]["status"] == "planned"
    code, env = grant(*args, "--dry-run")
    assert code == 0 and appdb(sandbox).user("billing-worker") is None and ddl_sent(sandbox) == []
    assert grant(*args, "--apply")[0] == 0
    assert grant(*args, "--check")[0] == 0


def test_stale_sid_is_drift_never_reused(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    old = "11111111-2222-3333-4444-555555555555"
    with sandbox.store.mutate() as s:
        db = s.server.database("appdb")
        assert db is not None
        db.users.append(DbUser("billing-worker", old, "E", 40))
    worker = cid(sandbox, "billing-worker")
    code, env = grant("billing-worker", "--client-id", worker, "--role", "reader", "--apply")
    target = env["data"]["targets"][0]
    assert code == ExitCode.CHECK_FAILED and target["status"] == "drift"
    assert (
        f"exists with SID 0x{uuid.UUID(old).bytes_le.hex().upper()} but billing-worker's SID is 0x{uuid.UUID(worker).bytes_le.hex().upper()}"
        in target["error"]
    )
    assert target["plan"]["steps"] == [] and ddl_sent(sandbox) == []


def test_elevated_roles_are_refused(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["grant", "billing-worker", "--client-id", cid(sandbox, "billing-worker"), "--role", "db_owner", "--apply"])
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("Error: refusing elevated role db_owner") and "--allow-elevated" in result.stderr
    code, _env = grant("billing-worker", "--client-id", cid(sandbox, "billing-worker"), "--role", "db_owner", "--apply", "--allow-elevated")
    assert code == 0 and "billing-worker" in appdb(sandbox).members["db_owner"]


def test_connection_drop_mid_apply_leaves_the_state_unchanged(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    before = appdb(sandbox)
    sandbox.faults.inject("tds", "drop_request", after=5)  # 4 state reads, the first DDL, then the link dies
    code, env = grant("billing-worker", "--client-id", cid(sandbox, "billing-worker"), "--role", "writer", "--apply")
    assert code != 0 and env["status"] == "error"
    assert env["errors"][0]["message"].startswith("statement 2 of 3 failed (add billing-worker to db_datareader)")
    assert appdb(sandbox) == before  # the CREATE USER that did run was never committed


def test_sid_mode_and_object_id_refused_for_apps(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    worker = cid(sandbox, "billing-worker")
    code, env = grant("billing-worker", "--client-id", worker, "--sid-mode", "--role", "reader", "--apply")
    assert code == 0
    sql = [s["sql"] for s in env["data"]["targets"][0]["plan"]["steps"]]
    assert sql[0] == f"CREATE USER [billing-worker] WITH SID = 0x{uuid.UUID(worker).bytes_le.hex().upper()}, TYPE = E"
    oid = sandbox.store.read(lambda s: next(i.object_id for i in s.identities if i.name == "billing-worker"))
    result = runner.invoke(app, ["grant", "other", "--type", "app", "--object-id", oid, "--sid-mode", "--role", "reader", "--apply"])
    assert result.exit_code == ExitCode.USAGE and "matches by its client id" in result.stderr


def test_directory_unreadable_33134_then_sid_mode_works(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.server.identity = ""
    worker = cid(sandbox, "billing-worker")
    result = runner.invoke(app, ["grant", "billing-worker", "--client-id", worker, "--role", "reader", "--apply"])
    assert result.exit_code == ExitCode.PERMISSION
    assert "Principal 'billing-worker' could not be resolved. Error message: 'Server identity is not configured." in result.stderr
    assert "--sid-mode" in result.stderr
    assert appdb(sandbox).user("billing-worker") is None
    assert grant("billing-worker", "--client-id", worker, "--sid-mode", "--role", "reader", "--apply")[0] == 0


def test_duplicate_display_name_33131_then_object_id_form(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.identities.append(
            Identity("billing-worker", "service_principal", "0a0a0a0a-0000-4000-8000-000000000001", "0b0b0b0b-0000-4000-8000-000000000002")
        )
    worker = cid(sandbox, "billing-worker")
    result = runner.invoke(app, ["grant", "billing-worker", "--client-id", worker, "--role", "reader", "--apply"])
    assert "has a duplicate display name" in result.stderr and "--object-id" in result.stderr
    oid = sandbox.store.read(lambda s: next(i.object_id for i in s.identities if i.client_id == worker))
    code, env = grant("billing-worker", "--client-id", worker, "--object-id", oid, "--role", "reader", "--apply")
    assert code == 0
    assert (
        env["data"]["targets"][0]["plan"]["steps"][0]["sql"]
        == f"CREATE USER [billing-worker] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'{oid}'"
    )
    assert appdb(sandbox).user("billing-worker") == DbUser("billing-worker", worker, "E", 6)  # the client id, not the object id


def test_revoke_and_drop_user(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    app_id = cid(sandbox, "orders-api")
    code, env = grant("orders-api", "--client-id", app_id, "--role", "reader", "--revoke", "--drop-user", "--apply")
    assert code == 0
    assert [s["sql"] for s in env["data"]["targets"][0]["plan"]["steps"]] == [
        "ALTER ROLE [db_datareader] DROP MEMBER [orders-api]",
        "DROP USER [orders-api]",
    ]
    assert appdb(sandbox).user("orders-api") is None


def test_operator_without_permission_15247(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["grant", "billing-worker", "--client-id", cid(sandbox, "billing-worker"), "--role", "reader", "--apply",
                                 "--operator-client-id", cid(sandbox, "orders-api")])  # fmt: skip
    assert result.exit_code == ExitCode.PERMISSION
    assert "User does not have permission to perform this action." in result.stderr and "Entra admin" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["billing-worker", "--client-id", "not-a-guid", "--role", "reader", "--apply"],
            ExitCode.USAGE,
            "client id 'not-a-guid' is not a GUID",
        ),
        (
            ["billing-worker", "--client-id", "5a7215ce-438e-5949-bab2-964cb090e427", "--role", "readr", "--apply"],
            ExitCode.NOT_FOUND,
            "role 'readr' is neither a preset nor a role in appdb",
        ),
        (
            ["billing-worker", "--client-id", "5a7215ce-438e-5949-bab2-964cb090e427", "--role", "reader"],
            ExitCode.USAGE,
            "no terminal to confirm the plan on",
        ),
        (
            ["billing-worker", "--client-id", "5a7215ce-438e-5949-bab2-964cb090e427", "--role", "reader", "--apply", "--dry-run"],
            ExitCode.USAGE,
            "choose one of --apply, --dry-run, --check",
        ),
        (["--role", "reader", "--apply"], ExitCode.USAGE, "no identity given"),
    ],
)
def test_bad_inputs(sandbox: Sandbox, client_env: dict[str, str], args: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, ["grant", *args])
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("Error: ") and message in result.stderr and "\nHint: " in result.stderr
    assert "Traceback" not in result.stderr


POLICY = """version = 1
[roles.app_rw]
grants = [{{ permissions = ["SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE"], schema = "app" }}]

[identities.orders-api]
type = "app"
client_id = "{orders}"

[identities.billing-worker]
type = "app"
client_id = "{worker}"
sid_mode = true

[[targets]]
databases = ["tenant_*"]
grants = {{ orders-api = ["app_rw"], billing-worker = ["reader"] }}
"""


def test_policy_across_three_databases_one_failing(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    with sandbox.store.mutate() as s:
        orders = next(i for i in s.identities if i.name == "orders-api")
        for name in ("tenant_a", "tenant_b", "tenant_c"):
            users = [DbUser("orders-api", orders.client_id, "E", 5)]
            s.server.databases.append(Database(name, users=users, schemas=["dbo", "app"], available=name != "tenant_c"))
    policy = tmp_path / "access.toml"
    policy.write_text(POLICY.format(orders=cid(sandbox, "orders-api"), worker=cid(sandbox, "billing-worker")))
    code, env = grant("--policy", str(policy), "--apply", "--concurrency", "3", "--retries", "1")
    assert code == ExitCode.CONNECTION  # the worst row: tenant_c could not be reached
    results = {t["database"]: t for t in env["data"]["targets"]}
    assert sorted(results) == ["tenant_a", "tenant_b", "tenant_c"]  # globbed: appdb and master not matched
    assert (results["tenant_a"]["status"], results["tenant_b"]["status"], results["tenant_c"]["status"]) == ("changed", "changed", "failed")
    assert "Database 'tenant_c' on server 'sandbox-sql' is not currently available." in results["tenant_c"]["error"]
    assert results["tenant_c"]["error"].endswith("(40613) (after 1 retry)") and results["tenant_c"]["retries"] == ["40613"]
    state = sandbox.store.read(lambda s: {d.name: d for d in s.server.databases})
    assert state["tenant_a"].roles == ["app_rw"] and state["tenant_a"].user("billing-worker") is not None
    assert state["tenant_c"].roles == [] and state["tenant_c"].user("billing-worker") is None
    assert env["data"]["summary"] == {"changed": 2, "failed": 1}
    with sandbox.store.mutate() as s:  # back online, but without the schema the role is granted on
        db = s.server.database("tenant_c")
        assert db is not None
        db.available, db.schemas = True, ["dbo"]
    human = runner.invoke(app, ["grant", "--policy", str(policy), "--check"], env={"COLUMNS": "200"})
    assert human.exit_code == ExitCode.CHECK_FAILED
    assert "schema app does not exist in tenant_c: create it (a migration) before granting on it" in human.stdout
    assert "1 drift, 2 unchanged" in human.stdout


def test_policy_drift_and_prune(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "access.toml"
    policy.write_text(POLICY.format(orders=cid(sandbox, "orders-api"), worker=cid(sandbox, "billing-worker")).replace("tenant_*", "appdb"))
    code, env = grant("--policy", str(policy), "--apply")
    target = env["data"]["targets"][0]
    # applied, but orders-api is also in db_datareader, which the policy does not grant: drift remains, exit 1
    assert code == ExitCode.CHECK_FAILED and target["status"] == "changed"
    assert target["plan"]["drift"] == ["orders-api is also a member of db_datareader, which is not granted here (--prune removes it)"]
    code, env = grant("--policy", str(policy), "--check")
    assert code == ExitCode.CHECK_FAILED and env["data"]["targets"][0]["status"] == "drift"
    code, _env = grant("--policy", str(policy), "--apply", "--prune")
    assert code == 0 and "orders-api" not in appdb(sandbox).members.get("db_datareader", [])
    assert grant("--policy", str(policy), "--check")[0] == 0


def test_malformed_policy_lists_every_error_with_its_line(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "bad.toml"
    policy.write_text(
        'version = 1\n[identities.a]\ntype = "app"\nclient_id = "nope"\n\n[identities.b]\ntype = "app"\n'
        'client_id = "5a7215ce-438e-5949-bab2-964cb090e427"\n[identities.c]\ntype = "app"\nclient_id = "5a7215ce-438e-5949-bab2-964cb090e427"\n\n'
        '[[targets]]\ndatabases = ["appdb"]\ngrants = { a = ["readr"], d = ["reader"], b = ["db_owner"] }\n'
    )
    result = runner.invoke(app, ["grant", "--policy", str(policy), "--apply"])
    assert result.exit_code == ExitCode.USAGE
    err = result.stderr
    for expected in ("line 4: identity a: client id 'nope' is not a GUID", "line 9: identity c: duplicate of identity b",
                     "line 15: target 1: unknown role readr", "line 15: target 1: unknown identity d", "line 15: target 1: elevated role db_owner"):  # fmt: skip
        assert expected in err, err
    assert sandbox.sql.statements == []  # validated before touching any database


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=hst.text(
        alphabet=hst.one_of(
            hst.sampled_from(list("]['; -")), hst.characters(codec="utf-8", exclude_characters="".join(map(chr, range(32))))
        ),
        min_size=1,
        max_size=128,
    )
)
def test_any_name_round_trips_through_the_driver(sandbox: Sandbox, client_env: dict[str, str], name: str) -> None:
    from azsqlctl.azure.grant_ports import RealGrantPorts
    from azsqlctl.core.grant import Assignment, Request, apply_plan, build_plan
    from azsqlctl.core.grant_plan import IdentitySpec
    from azsqlctl.core.settings import resolve_settings

    ports = RealGrantPorts(resolve_settings({}, client_env, Path.cwd()))
    spec = IdentitySpec(name, "app", client_id=str(uuid.uuid4()), sid_mode=True)
    session = ports.session("", "appdb")
    try:
        plan = build_plan(session, "s", "appdb", Request([Assignment(spec, ["db_datareader"])]))
        if plan.blocked:  # the generated name collides with an existing principal: refused, as it should be
            return
        apply_plan(session, plan)
    finally:
        session.close()
    session = ports.session("", "appdb")
    try:
        names = {r["name"] for r in session.query("SELECT name FROM sys.database_principals")}
    finally:
        session.close()
    assert name in names


def test_ensure_entra_admin_never_replaces_silently(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    group = Identity("sql-admins", "group", "5d1c2f3a-0000-4000-8000-0000000000aa")
    with sandbox.store.mutate() as s:
        s.identities.append(group)
        next(i for i in s.identities if i.name == "sandbox-operator").groups = [group.object_id]  # the operator stays in via the group
    base = [
        "billing-worker",
        "--client-id",
        cid(sandbox, "billing-worker"),
        "--role",
        "reader",
        "--ensure-entra-admin",
        "sql-admins",
        "--entra-admin-id",
        group.object_id,
    ]
    result = runner.invoke(app, ["grant", *base, "--apply"])
    assert result.exit_code == ExitCode.CHECK_FAILED
    assert "Error: the server's Entra admin is sandbox-operator (Application " in result.stderr and "--replace-admin" in result.stderr
    assert appdb(sandbox).user("billing-worker") is None  # refused before touching the database

    code, env = grant(*base, "--replace-admin", "--dry-run")
    assert (
        code == 0
        and env["data"]["entra_admin"]["action"] == "replace"
        and env["data"]["entra_admin"]["message"].startswith("would replace")
    )
    assert sandbox.store.read(lambda s: s.server.entra_admin.login if s.server.entra_admin else "") == "sandbox-operator"

    code, env = grant(*base, "--replace-admin", "--apply")
    assert code == 0, env
    admin = sandbox.store.read(lambda s: s.server.entra_admin)
    assert admin is not None and (admin.login, admin.sid, admin.principal_type) == ("sql-admins", group.object_id, "Group")
    assert env["data"]["targets"][0]["status"] == "changed"  # the database step ran as a member of the new admin group
    code, env = grant(*base, "--apply")
    assert code == 0 and env["data"]["entra_admin"]["action"] == "unchanged"

"""grant end to end: CLI -> real driver -> sandbox executing the DDL; then doctor."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.errors import ExitCode, UsageError
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import Database, DbUser, Identity
from tests import cli_fork
from tests.property_budget import examples

runner = CliRunner()


def cid(sandbox: Sandbox, name: str) -> str:
    return str(next(i.client_id for i in sandbox.identities() if i.name == name))


def grant(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["grant", "-o", "json", *args])
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def ddl_sent(sandbox: Sandbox) -> list[str]:
    return [sql for _db, sql in sandbox.sql.statements if sql.split()[0].upper() in ("CREATE", "ALTER", "GRANT", "REVOKE", "DROP")]


def appdb(sandbox: Sandbox, name: str = "appdb") -> Database:
    db = sandbox.sql.storage.security(name)  # the database's committed security state (in its data file)
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
    with sandbox.sql.storage.edit_security("appdb") as db:
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
    sandbox.faults.inject("tds", "drop_request", after=6)  # the grant lock, 4 state reads, the first DDL, then the link dies
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


def test_unknown_object_id_37545_is_not_found_with_a_fix(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    unknown = "11111111-2222-4333-8444-555555555555"
    result = runner.invoke(app, ["grant", "alice@contoso.com", "--type", "user", "--object-id", unknown, "--role", "reader", "--apply"])
    assert result.exit_code == ExitCode.NOT_FOUND, result.output
    assert f"with object id '{unknown}' could not be found in the directory. (37545)" in result.stderr
    hint = result.stderr.split("Hint: ", 1)[1]
    assert hint.startswith(
        "rolled back: nothing changed in this database. The object id is not in the directory (tenant) the server reads: "
    )
    assert "az ad user show --id GUID" in hint and "az ad sp show --id GUID" in hint and "az ad group show --group GUID" in hint
    assert "--identity-resource" in hint and "--debug" not in hint
    assert appdb(sandbox).user("alice@contoso.com") is None


def test_unknown_display_name_33130_hint_is_a_sentence(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    result = runner.invoke(
        app, ["grant", "nosuch-app", "--client-id", "11111111-2222-4333-8444-555555555555", "--role", "reader", "--apply"]
    )
    assert result.exit_code == ExitCode.NOT_FOUND, result.output
    assert "(33130)" in result.stderr
    assert "Hint: rolled back: nothing changed in this database. The directory has no principal with this display name: " in result.stderr


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
    state = {name: appdb(sandbox, name) for name in ("tenant_a", "tenant_c")}
    assert state["tenant_a"].roles == ["app_rw"] and state["tenant_a"].user("billing-worker") is not None
    assert state["tenant_c"].roles == [] and state["tenant_c"].user("billing-worker") is None
    assert env["data"]["summary"] == {"changed": 2, "failed": 1}
    with sandbox.store.mutate() as s:  # back online, ...
        entry = s.server.database("tenant_c")
        assert entry is not None
        entry.available = True
    with sandbox.sql.storage.edit_security("tenant_c") as db:  # ... but without the schema the role is granted on
        db.schemas = ["dbo"]
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
                     "line 15: target 1: unknown role readr for a (did you mean reader?)", "line 15: target 1: unknown identity d", "line 15: target 1: elevated role db_owner"):  # fmt: skip
        assert expected in err, err
    assert sandbox.sql.statements == []  # validated before touching any database


def test_policy_unknown_keys_are_errors_with_a_suggestion(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "typos.toml"
    policy.write_text(
        'version = 1\ncolour = "x"\n[identities.worker]\ntype = "app"\n'
        f'client_id = "{cid(sandbox, "billing-worker")}"\nsidmode = true\n\n'
        '[[targets]]\ndatabases = ["appdb"]\nprune = true\ngrants = { worker = ["reader"] }\n\n'
        '[[targets]]\ndatabase = ["appdb"]\ngrants = { worker = ["reader"] }\n'
    )
    result = runner.invoke(app, ["grant", "--policy", str(policy), "--apply"])
    assert result.exit_code == ExitCode.USAGE, result.output
    err = result.stderr
    for expected in (
        "line 2: unknown key colour (known keys: version, roles, identities, targets)",
        "line 6: identity worker: unknown key sidmode (did you mean sid_mode?)",
        "line 10: target 1: unknown key prune (known keys: servers, databases, grants, select)",
        "line 14: target 2: unknown key database (did you mean databases?)",
        "line 13: target 2: no databases",
    ):
        assert expected in err, err
    assert "has 5 errors" in err
    assert sandbox.sql.statements == [] and appdb(sandbox).user("worker") is None  # validated before touching any database


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
    from azsqlctl.core.grant.operation import Assignment, Request, apply_plan, build_plan
    from azsqlctl.core.grant.plan import IdentitySpec
    from azsqlctl.core.settings import SettingsInput, resolve_settings

    ports = RealGrantPorts(resolve_settings(SettingsInput(), client_env, Path.cwd()))
    spec = IdentitySpec(name, "app", client_id=str(uuid.uuid4()), sid_mode=True)
    session = ports.session("", "appdb")
    try:
        try:
            plan = build_plan(session, "s", "appdb", Request([Assignment(spec, ["db_datareader"])]))
        except UsageError as exc:  # the name is a role's or a built-in principal's (sys, guest, public...): refused
            assert exc.code == "not_an_identity", exc.message
            existing = {str(r["name"]).lower(): r for r in session.query("SELECT name, type, sid FROM sys.database_principals")}
            assert name.lower() in existing and (existing[name.lower()]["type"] == "R" or existing[name.lower()]["sid"] is None)
            return
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


# --- issue 8: one code path, identities as Azure shows them, no advice that breaks a working user ------------


def ident(sandbox: Sandbox, name: str) -> Identity:
    return sandbox.store.read(lambda s: next(i for i in s.identities if i.name == name))


def everything(result: Any) -> str:
    return str(result.stdout) + str(result.stderr)


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    user=hst.sampled_from(["absent", "correct", "stale"]),
    members=hst.sets(hst.sampled_from(["db_datareader", "db_datawriter", "app_executor"])),
    executor_role=hst.booleans(),
    extra_grant=hst.booleans(),
    roles=hst.lists(hst.sampled_from(["reader", "writer", "executor"]), min_size=1, max_size=3, unique=True),
    mode=hst.sampled_from(["--check", "--dry-run", "--apply"]),
    prune=hst.booleans(),
)
def test_single_and_policy_modes_agree(
    sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path,
    user: str, members: set[str], executor_role: bool, extra_grant: bool, roles: list[str], mode: str, prune: bool,
) -> None:  # fmt: skip
    from azsqlctl.sandbox.state import Permission

    worker = ident(sandbox, "billing-worker")

    def reset() -> None:
        with sandbox.sql.storage.edit_security("appdb") as db:
            db.users = [u for u in db.users if u.name != "billing-worker"]
            db.roles = ["app_executor"] if executor_role else []
            db.permissions = [Permission("app_executor", "SELECT")] if executor_role and extra_grant else []
            db.members = {"db_datareader": ["orders-api"]}
            if user != "absent":
                sid = worker.client_id if user == "correct" else "11111111-2222-3333-4444-555555555555"
                db.users.append(DbUser("billing-worker", sid, "E", 6))
                for role in members:
                    if role != "app_executor" or executor_role:
                        db.members.setdefault(role, []).append("billing-worker")

    policy = tmp_path / "one.toml"
    policy.write_text(
        f'version = 1\n[identities.billing-worker]\ntype = "app"\nclient_id = "{worker.client_id}"\n\n'
        f'[[targets]]\ndatabases = ["appdb"]\ngrants = {{ billing-worker = {json.dumps(roles)} }}\n'
    )
    runs = []
    for args in (
        ["billing-worker", "--client-id", worker.client_id, *[a for r in roles for a in ("--role", r)]],
        ["--policy", str(policy)],
    ):
        reset()
        code, env = grant(*args, mode, *(["--prune"] if prune else []))
        t = env["data"]["targets"][0]
        plan = t["plan"] or {}
        after = copy.deepcopy(appdb(sandbox))  # a snapshot: the next reset() edits the state in place
        runs.append((code, t["status"], t["error_code"], [s["sql"] for s in plan.get("steps", [])], plan.get("drift"), after))
    assert runs[0] == runs[1]


def test_every_identity_problem_is_listed(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    worker = cid(sandbox, "billing-worker")
    result = runner.invoke(app, ["grant", "alice", "--type", "user", "--client-id", worker, "--role", "reader", "--apply"])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith(
        "Error: 2 problems: (1) a user is matched by its object id: pass it (--object-id; object_id in a policy); "
        "(2) a user has no client id; pass --object-id (a client id means an app or managed identity: --type app)\n"
    )
    assert "more)" not in result.stderr


def test_unknown_role_suggests_the_closest(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    worker = cid(sandbox, "billing-worker")
    result = runner.invoke(app, ["grant", "billing-worker", "--client-id", worker, "--role", "reder", "--apply"])
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "Error: role 'reder' is neither a preset nor a role in appdb (did you mean reader?)" in result.stderr
    with sandbox.sql.storage.edit_security("appdb") as db:  # the database's own custom roles are candidates too
        db.roles.append("report_viewer")
    result = runner.invoke(app, ["grant", "billing-worker", "--client-id", worker, "--role", "report_veiwer", "--apply"])
    assert "(did you mean report_viewer?)" in result.stderr, result.stderr
    policy = tmp_path / "typo.toml"
    policy.write_text(
        f'version = 1\n[identities.billing-worker]\nclient_id = "{worker}"\n'
        '[[targets]]\ndatabases = ["appdb"]\ngrants = { billing-worker = ["wrtier"] }\n'
    )
    result = runner.invoke(app, ["grant", "--policy", str(policy), "--apply"])
    assert result.exit_code == ExitCode.USAGE
    assert "line 6: target 1: unknown role wrtier for billing-worker (did you mean writer?) (presets: " in result.stderr
    assert appdb(sandbox).user("billing-worker") is None


def test_object_id_alone_is_refused_with_the_ids_each_kind_needs(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    oid = ident(sandbox, "billing-worker").object_id
    result = runner.invoke(app, ["grant", "billing-worker", "--object-id", oid, "--role", "reader", "--apply"])
    assert result.exit_code == ExitCode.USAGE
    assert "type is not given and an object id does not say it: never guessed" in result.stderr
    for fragment in (
        "--type app with --client-id",
        "--type user or --type group with --object-id",
        "--identity-resource",
        "az identity show",
    ):
        assert fragment in result.stderr, result.stderr
    assert sandbox.sql.statements == []  # refused before any connection


def test_app_by_object_id_only_applied_twice_says_no_changes(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    worker = ident(sandbox, "billing-worker")
    args = ["billing-worker", "--type", "app", "--object-id", worker.object_id, "--role", "reader", "--apply"]
    code, env = grant(*args)
    assert code == 0 and env["data"]["targets"][0]["status"] == "changed"
    sql = env["data"]["targets"][0]["plan"]["steps"][0]["sql"]
    assert sql == f"CREATE USER [billing-worker] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'{worker.object_id}'"
    assert appdb(sandbox).user("billing-worker") == DbUser("billing-worker", worker.client_id, "E", 6)  # as Azure stores it
    before = len(ddl_sent(sandbox))
    second = runner.invoke(app, ["grant", *args], env={"COLUMNS": "200"})
    assert second.exit_code == 0, second.output
    assert second.stdout.strip().endswith("No changes.") and "only billing-worker's object id was given" in second.stdout
    assert len(ddl_sent(sandbox)) == before and "DROP USER" not in everything(second)


def test_sid_equal_to_the_other_id_gets_the_corrected_command(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    worker = ident(sandbox, "billing-worker")
    assert grant("billing-worker", "--client-id", worker.client_id, "--role", "reader", "--apply")[0] == 0
    # The ids swapped: the client id passed as --object-id and the object id as --client-id.
    swapped = ["billing-worker", "--client-id", worker.object_id, "--object-id", worker.client_id, "--role", "reader", "--apply"]
    result = runner.invoke(app, ["grant", *swapped], env={"COLUMNS": "200"})
    assert result.exit_code == ExitCode.CHECK_FAILED
    out = everything(result)
    assert f"which is the object id {worker.client_id} given for billing-worker" in out
    corrected = (
        f"azsqlctl grant billing-worker --type app --client-id {worker.client_id} --object-id {worker.object_id} --role reader --apply"
    )
    assert f"Corrected command:\n  {corrected}" in result.stdout
    assert "DROP USER" not in out and ddl_sent(sandbox)[-1].startswith("ALTER ROLE")  # nothing new was sent
    code, env = grant(*corrected.split()[2:])
    assert code == 0 and env["data"]["targets"][0]["status"] == "unchanged"


@pytest.mark.parametrize("case", ["swapped", "object-id-as-sid", "user-type-for-an-app", "stale"])
def test_drop_user_is_never_advised(sandbox: Sandbox, client_env: dict[str, str], case: str) -> None:
    worker = ident(sandbox, "billing-worker")
    stored = {"object-id-as-sid": worker.object_id, "stale": "11111111-2222-3333-4444-555555555555"}.get(case, worker.client_id)
    with sandbox.sql.storage.edit_security("appdb") as db:
        db.users.append(DbUser("billing-worker", stored, "E", 6))
    args = {
        "swapped": ["--client-id", worker.object_id, "--object-id", worker.client_id],
        "object-id-as-sid": ["--client-id", worker.client_id, "--object-id", worker.object_id],
        "user-type-for-an-app": ["--type", "user", "--object-id", worker.object_id],
        "stale": ["--client-id", worker.client_id],
    }[case]
    result = runner.invoke(app, ["grant", "-o", "json", "billing-worker", *args, "--role", "reader", "--apply"])
    env = json.loads(result.stdout)
    target = env["data"]["targets"][0]
    assert result.exit_code == ExitCode.CHECK_FAILED and target["status"] == "drift" and target["plan"]["steps"] == []
    assert "DROP USER" not in result.stdout + result.stderr
    if case != "stale":  # the stored SID is one of billing-worker's ids: the request gets corrected
        assert target["corrected_command"].startswith(f"azsqlctl grant billing-worker --type app --client-id {stored}")
    if case == "user-type-for-an-app":
        assert f"If {worker.client_id} is billing-worker's client id" in target["error"]


def test_ensure_entra_admin_alone(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    group = Identity("sql-admins", "group", "5d1c2f3a-0000-4000-8000-0000000000bb")
    with sandbox.store.mutate() as s:
        s.identities.append(group)
    admin = ["--ensure-entra-admin", "sql-admins", "--entra-admin-id", group.object_id, "--entra-admin-type", "Group"]
    code, env = grant(*admin, "--apply")  # a different admin, no --replace-admin: refused, nothing written
    assert code == ExitCode.CHECK_FAILED and env["errors"][0]["code"] == "admin_differs"
    assert sandbox.store.read(lambda s: s.server.entra_admin.login if s.server.entra_admin else "") == "sandbox-operator"
    code, env = grant(*admin, "--replace-admin", "--check")
    assert code == ExitCode.CHECK_FAILED and env["data"]["entra_admin"]["status"] == "planned"
    code, env = grant(*admin, "--replace-admin", "--apply")
    assert code == 0 and env["status"] == "ok" and env["data"]["targets"] == []
    assert env["data"]["entra_admin"] == {
        "action": "replace", "status": "changed",
        "message": f"done: replace the Entra admin sandbox-operator ({ident(sandbox, 'sandbox-operator').client_id}) with sql-admins (Group {group.object_id})",
        "current": {"login": "sandbox-operator", "sid": ident(sandbox, "sandbox-operator").client_id, "type": "Application"},
        "wanted": {"login": "sql-admins", "sid": group.object_id, "type": "Group"},
    }  # fmt: skip
    stored = sandbox.store.read(lambda s: s.server.entra_admin)
    assert stored is not None and (stored.login, stored.sid, stored.principal_type) == ("sql-admins", group.object_id, "Group")
    again = runner.invoke(app, ["grant", *admin, "--apply"])
    assert again.exit_code == 0 and "Entra admin (unchanged): no changes: the Entra admin is already sql-admins (Group" in again.stdout


def test_ensure_entra_admin_compares_login_sid_and_type(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    # Same SID as the current admin (sandbox-operator, an Application) but another type or login: an update, not "unchanged".
    op = cid(sandbox, "sandbox-operator")
    same = ["--ensure-entra-admin", "sandbox-operator", "--entra-admin-id", op]
    for kind in ("Group", "User"):
        code, env = grant(*same, "--entra-admin-type", kind, "--check")
        admin = env["data"]["entra_admin"]
        assert code == ExitCode.CHECK_FAILED and (admin["action"], admin["status"]) == ("update", "planned")
        assert admin["message"] == f"would update the Entra admin {op}: type Application -> {kind}"
    code, env = grant(*same, "--entra-admin-type", "Group", "--dry-run")
    assert code == 0 and env["data"]["entra_admin"]["status"] == "planned"
    stored = sandbox.store.read(lambda s: s.server.entra_admin)
    assert stored is not None and (stored.login, stored.principal_type) == ("sandbox-operator", "Application")  # nothing written
    for args in (same, [*same, "--entra-admin-type", "Application"]):  # no type given: the same SID keeps its type
        code, env = grant(*args, "--check")
        assert code == 0 and env["data"]["entra_admin"]["action"] == "unchanged", env

    renamed = ["--ensure-entra-admin", "ops-pipeline", "--entra-admin-id", op, "--entra-admin-type", "Application"]
    code, env = grant(*renamed, "--check")
    assert code == ExitCode.CHECK_FAILED and env["data"]["entra_admin"]["message"] == (
        f"would update the Entra admin {op}: login sandbox-operator -> ops-pipeline"
    )
    code, env = grant(*renamed, "--apply")  # the same SID: no --replace-admin needed, no one is locked out
    assert code == 0 and (env["data"]["entra_admin"]["action"], env["data"]["entra_admin"]["status"]) == ("update", "changed")
    stored = sandbox.store.read(lambda s: s.server.entra_admin)
    assert stored is not None and (stored.login, stored.sid, stored.principal_type) == ("ops-pipeline", op, "Application")
    code, env = grant(*renamed, "--check")
    assert code == 0 and env["data"]["entra_admin"]["action"] == "unchanged"


def test_ensure_entra_admin_sends_the_type_it_is_given(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    # An id the directory does not know: only the type sent can say it is a group.
    gid = "5d1c2f3a-0000-4000-8000-0000000000cc"
    code, env = grant("--ensure-entra-admin", "ops", "--entra-admin-id", gid, "--replace-admin", "--apply")
    assert code == 0 and env["data"]["entra_admin"]["wanted"]["type"] == "Group"
    assert sandbox.store.read(lambda s: s.server.entra_admin and s.server.entra_admin.principal_type) == "Group"


def arm_id(sandbox: Sandbox, rtype: str, name: str) -> str:
    sub, rg = sandbox.store.read(lambda s: (s.server.subscription_id, s.server.resource_group))
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{rtype}/{name}"


def doctor_ok(client_id: str) -> dict[str, Any]:
    result = runner.invoke(app, ["doctor", "-o", "json", "--client-id", client_id])
    env: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == 0 and env["status"] == "ok", result.stdout
    return env


def test_identity_resource_user_assigned_then_doctor_passes(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    worker = ident(sandbox, "billing-worker")
    rid = arm_id(sandbox, "Microsoft.ManagedIdentity/userAssignedIdentities", "billing-worker")
    code, env = grant("--identity-resource", rid, "--role", "reader", "--apply")
    assert code == 0, env
    step = env["data"]["targets"][0]["plan"]["steps"][0]
    assert step["summary"] == f"create user billing-worker (app, SID 0x{uuid.UUID(worker.client_id).bytes_le.hex().upper()})"
    assert step["sql"] == f"CREATE USER [billing-worker] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'{worker.object_id}'"
    assert env["data"]["identity"] == {
        "name": "billing-worker", "type": "app", "client_id": worker.client_id, "object_id": worker.object_id,
        "sid": worker.client_id, "sid_hex": "0x" + uuid.UUID(worker.client_id).bytes_le.hex().upper(), "source": rid,
    }  # fmt: skip
    perms = next(c for c in doctor_ok(worker.client_id)["data"]["checks"] if c["id"] == "permissions")
    assert perms["evidence"]["roles"] == ["db_datareader"]
    assert grant("--identity-resource", rid, "--role", "reader", "--check")[0] == 0  # matched by SID: nothing to do


def test_identity_resource_web_app_system_assigned_then_doctor_passes(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    web = Identity("shop-web", "managed_identity", "7a7a7a7a-0000-4000-8000-000000000001", "7b7b7b7b-0000-4000-8000-000000000002",
                   resource="Microsoft.Web/sites/shop-web")  # fmt: skip
    with sandbox.store.mutate() as s:
        s.identities.append(web)
    rid = arm_id(sandbox, "Microsoft.Web/sites", "shop-web")
    code, env = grant("--identity-resource", rid, "--role", "writer", "--apply")
    assert code == 0, env
    assert env["data"]["targets"][0]["plan"]["steps"][0]["sql"] == (
        f"CREATE USER [shop-web] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'{web.object_id}'"
    )
    assert appdb(sandbox).user("shop-web") == DbUser("shop-web", web.client_id, "E", 6)  # the server stored the client id
    perms = next(c for c in doctor_ok(web.client_id)["data"]["checks"] if c["id"] == "permissions")
    assert perms["evidence"]["roles"] == ["db_datareader", "db_datawriter"]
    code, env = grant("--identity-resource", rid, "--role", "writer", "--apply")
    assert code == 0 and env["data"]["targets"][0]["status"] == "unchanged"
    missing = runner.invoke(
        app, ["grant", "--identity-resource", arm_id(sandbox, "Microsoft.Web/sites", "nope"), "--role", "reader", "--apply"]
    )
    assert missing.exit_code == ExitCode.NOT_FOUND and "(ResourceNotFound) The Resource 'Microsoft.Web/sites/nope'" in missing.stderr


@pytest.mark.parametrize(
    "name", ["dbo", "guest", "sys", "INFORMATION_SCHEMA", "public", "db_datareader", "db_owner", "   ", "bad\x01name", "x" * 129]
)
def test_names_that_are_not_identities_exit_2(sandbox: Sandbox, client_env: dict[str, str], name: str) -> None:
    result = runner.invoke(app, ["grant", name, "--client-id", cid(sandbox, "billing-worker"), "--role", "reader", "--apply"])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith("Error: ") and "\nHint: " in result.stderr and "DROP USER" not in result.stderr
    assert sandbox.sql.statements == []


def test_a_custom_role_in_the_database_is_not_an_identity(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.sql.storage.edit_security("appdb") as db:
        db.roles.append("app_rw")
    result = runner.invoke(app, ["grant", "app_rw", "--client-id", cid(sandbox, "billing-worker"), "--role", "reader", "--apply"])
    assert result.exit_code == ExitCode.USAGE
    assert "Error: [app_rw] is a database role in appdb, not a user for an Entra identity" in result.stderr and ddl_sent(sandbox) == []


def test_policy_lists_bad_names_with_their_lines(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "names.toml"
    long = "x" * 129
    policy.write_text(
        'version = 1\n[roles.app_rw]\ngrants = [{ permissions = ["SELECT"] }]\n\n'  # lines 1-4
        f'[identities.long]\ntype = "app"\nclient_id = "{uuid.uuid4()}"\nname = "{long}"\n\n'  # lines 5-9
        f'[identities.dbo]\nclient_id = "{uuid.uuid4()}"\n\n'  # lines 10-12
        f'[identities.app_rw]\ntype = "app"\nclient_id = "{uuid.uuid4()}"\n\n'  # lines 13-16
        f'[identities.mystery]\nobject_id = "{uuid.uuid4()}"\n\n'  # lines 17-19
        '[[targets]]\ndatabases = ["appdb"]\ngrants = { long = ["reader"], dbo = ["reader"], app_rw = ["reader"], mystery = ["reader"] }\n'
    )
    result = runner.invoke(app, ["grant", "--policy", str(policy), "--apply"])
    assert result.exit_code == ExitCode.USAGE, result.output
    for expected in (
        "line 8: identity long: the name is 129 characters; a database user name has at most 128",
        "line 10: identity dbo: 'dbo' is a principal every database has, not an identity",
        "line 13: identity app_rw: 'app_rw' is a database role, not an identity",
        "identity mystery: the identity's type is not given and an object id does not say it: never guessed",
    ):
        assert expected in result.stderr, result.stderr
    assert sandbox.sql.statements == []  # validated before touching any database


def test_literal_database_next_to_globs_is_reported(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    with sandbox.store.mutate() as s:
        s.server.databases.append(Database("tenant_a", schemas=["dbo", "app"]))
    policy = tmp_path / "p.toml"
    policy.write_text(
        f'version = 1\n[identities.billing-worker]\ntype = "app"\nclient_id = "{cid(sandbox, "billing-worker")}"\n\n'
        '[[targets]]\ndatabases = ["tenant_*", "missingdb", "archive_*"]\ngrants = { billing-worker = ["reader"] }\n'
    )
    code, env = grant("--policy", str(policy), "--apply")
    rows = {t["database"]: t for t in env["data"]["targets"]}
    assert sorted(rows) == ["archive_*", "missingdb", "tenant_a"]
    assert rows["tenant_a"]["status"] == "changed"
    assert (rows["missingdb"]["status"], rows["missingdb"]["error_code"]) == ("failed", "4060")
    assert (rows["archive_*"]["status"], rows["archive_*"]["error_code"]) == ("failed", "no_match")
    assert rows["archive_*"]["error"].startswith("no database on ") and "matches 'archive_*' (policy line 6)" in rows["archive_*"]["error"]
    assert code != 0 and env["data"]["summary"] == {"changed": 1, "failed": 2}


def test_fleet_of_five_one_unexpected_error_one_transient(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    names = [f"fleet_{c}" for c in "abcde"]
    with sandbox.store.mutate() as s:
        s.server.databases += [Database(n) for n in names]
    sandbox.faults.inject("tds", "login_error", 2, number=40613, database="fleet_b")  # unavailable twice, then fine
    sandbox.faults.inject("tds", "login_error", None, number=40532, database="fleet_d")  # an error grant has no answer for
    policy = tmp_path / "fleet.toml"
    policy.write_text(
        f'version = 1\n[identities.billing-worker]\ntype = "app"\nclient_id = "{cid(sandbox, "billing-worker")}"\n\n'
        f'[[targets]]\ndatabases = {json.dumps(names)}\ngrants = {{ billing-worker = ["reader"] }}\n'
    )
    code, env = grant("--policy", str(policy), "--apply", "--concurrency", "2")
    rows = {t["database"]: t for t in env["data"]["targets"]}
    assert env["data"]["summary"] == {"changed": 4, "failed": 1} and code != 0
    assert rows["fleet_d"]["status"] == "failed" and rows["fleet_d"]["error_code"] == "40532" and rows["fleet_d"]["retries"] == []
    assert rows["fleet_b"]["status"] == "changed" and rows["fleet_b"]["note"] == "retried 2x after transient error 40613"
    assert env["errors"] == [{"code": "40532", "message": rows["fleet_d"]["error"].join(["fleet_d: ", ""]), "hint": rows["fleet_d"]["hint"],
                              "details": {"server": rows["fleet_d"]["server"], "database": "fleet_d", "retries": []}}]  # fmt: skip
    state = {name: appdb(sandbox, name) for name in names}
    assert [n for n in names if state[n].user("billing-worker") is not None] == ["fleet_a", "fleet_b", "fleet_c", "fleet_e"]


def _interactive(sandbox: Sandbox, args: list[str], answer: str) -> tuple[int, str]:
    """Run the real CLI on a pseudo-terminal (a process forked by tests/cli_fork.py's server: the test uses the
    cli_fork fixture), answer its one question, return (exit code, screen)."""
    import os
    import pty
    import select
    import subprocess
    import time

    main, child = pty.openpty()
    env = {**os.environ, **sandbox.env, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.Popen([*cli_fork.COMMAND, "grant", *args], stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    screen, answered, deadline = b"", False, time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        if not answered and b"[y/N]:" in screen:
            os.write(main, answer.encode() + b"\r")
            answered = True
        if proc.poll() is not None and not ready:
            break
    code = proc.wait(timeout=30)
    os.close(main)
    return code, screen.decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.mark.usefixtures("cli_fork")  # _interactive: a process on a terminal, forked (tests/cli_fork.py)
@pytest.mark.parametrize("answer", ["y", "n"])
def test_policy_on_a_terminal_shows_every_plan_then_asks_once(
    sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path, answer: str
) -> None:
    with sandbox.store.mutate() as s:
        s.server.databases += [Database("tenant_a"), Database("tenant_b")]
    policy = tmp_path / "p.toml"
    policy.write_text(
        f'version = 1\n[identities.billing-worker]\ntype = "app"\nclient_id = "{cid(sandbox, "billing-worker")}"\n\n'
        '[[targets]]\ndatabases = ["tenant_*"]\ngrants = { billing-worker = ["reader"] }\n'
    )
    code, screen = _interactive(sandbox, ["--policy", str(policy)], answer)
    assert code == 0, screen
    question = screen.index("Apply 4 statement(s) to 2 database(s)? [y/N]:")
    assert screen.count("[y/N]") == 1
    assert screen.index("Plan for billing-worker in tenant_a") < question and screen.index("Plan for billing-worker in tenant_b") < question
    users = [appdb(sandbox, name).user("billing-worker") is not None for name in ("tenant_a", "tenant_b")]
    after = screen[question:]
    if answer == "y":
        assert users == [True, True] and "2 changed" in after and "Plan for" not in after  # the plans are not shown twice
    else:
        assert users == [False, False] and "2 planned" in after


def test_policy_names_identities_by_arm_resource(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    web = Identity("shop-web", "managed_identity", "7a7a7a7a-0000-4000-8000-000000000003", "7b7b7b7b-0000-4000-8000-000000000004",
                   resource="Microsoft.Web/sites/shop-web")  # fmt: skip
    with sandbox.store.mutate() as s:
        s.identities.append(web)
    uami = arm_id(sandbox, "Microsoft.ManagedIdentity/userAssignedIdentities", "billing-worker")
    site = arm_id(sandbox, "Microsoft.Web/sites", "shop-web")
    body = (
        f'version = 1\n[identities.billing-worker]\nresource = "{uami}"\n\n[identities.shop-web]\nresource = "{site}"\n\n'
        '[[targets]]\ndatabases = ["appdb"]\ngrants = { billing-worker = ["reader"], shop-web = ["writer"] }\n'
    )
    policy = tmp_path / "arm.toml"
    policy.write_text(body.replace("/sites/shop-web", "/sites/gone"))
    result = runner.invoke(app, ["grant", "--policy", str(policy), "--apply"])
    assert result.exit_code == ExitCode.USAGE and "line 5: identity shop-web: ARM: (ResourceNotFound)" in result.stderr
    assert sandbox.sql.statements == []
    policy.write_text(body)
    code, env = grant("--policy", str(policy), "--apply")
    assert code == 0, env
    sql = [s["sql"] for s in env["data"]["targets"][0]["plan"]["steps"]]
    worker = ident(sandbox, "billing-worker")
    assert f"CREATE USER [billing-worker] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'{worker.object_id}'" in sql
    assert f"CREATE USER [shop-web] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'{web.object_id}'" in sql
    assert appdb(sandbox).user("shop-web") == DbUser("shop-web", web.client_id, "E", 7)
    code, env = grant("--policy", str(policy), "--check")
    assert code == 0 and env["data"]["targets"][0]["status"] == "unchanged"

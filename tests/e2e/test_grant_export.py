"""grant export end to end: CLI -> real ODBC driver -> sandbox catalog; the exported policy then checked by grant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import Database, DbUser, Permission

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def envelope(*args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = invoke(*args, "-o", "json")
    assert out, err
    return code, json.loads(out)


def ids(sandbox: Sandbox) -> dict[str, str]:
    return {i.name: i.client_id for i in sandbox.identities()}


def test_export_one_database_then_check_reports_no_changes(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    known = ids(sandbox)
    with sandbox.sql.storage.edit_security("appdb") as db:
        db.users.append(DbUser("billing-worker", known["billing-worker"], "E", 6))
        db.roles.append("app_rw")
        db.members.setdefault("app_rw", []).append("billing-worker")
        db.permissions += [Permission("app_rw", "SELECT", "SCHEMA", "app"), Permission("app_rw", "EXECUTE", "DATABASE")]
    policy = tmp_path / "access.toml"
    code, out, err = invoke("grant", "export", "--out", str(policy))
    assert code == 0, (out, err)
    assert out == f"Exported 2 identities, 1 role(s) and 1 target(s) from 1 database(s): {policy}\n"
    text = policy.read_text()
    assert '[roles.app_rw]\ngrants = [{ permissions = ["EXECUTE"] }, { permissions = ["SELECT"], schema = "app" }]\n' in text
    assert f'[identities.billing-worker]\ntype = "app"\nclient_id = "{known["billing-worker"]}"\n' in text
    assert f'[identities.orders-api]\ntype = "app"\nclient_id = "{known["orders-api"]}"\n' in text
    assert '[[targets]]\ndatabases = ["appdb"]\ngrants = { billing-worker = ["app_rw"], orders-api = ["db_datareader"] }\n' in text
    # The server's Entra admin is a server setting (ARM), written as the command that keeps it.
    assert (
        f"#   azsqlctl grant --ensure-entra-admin sandbox-operator --entra-admin-id {known['sandbox-operator']} "
        "--entra-admin-type Application\n"
    ) in text
    code, out, _err = invoke("grant", "--policy", str(policy), "--check")
    assert code == 0, out
    assert out.strip().endswith("No changes.")
    # stdout when there is no --out: pipeable into a file
    code, out, err = invoke("grant", "export")
    assert code == 0 and out == text and "Exported 2 identities" in err


def test_export_a_policys_fleet_globs_alike_databases(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    known = ids(sandbox)
    with sandbox.store.mutate() as s:
        for name in ("tenant_a", "tenant_b", "tenant_c"):
            users = [DbUser("orders-api", known["orders-api"], "E", 5), DbUser("billing-worker", known["billing-worker"], "E", 6)]
            s.server.databases.append(Database(name, users=users, members={"db_datawriter": ["orders-api"]}, schemas=["dbo", "app"]))
    scope = tmp_path / "scope.toml"
    scope.write_text(
        f'version = 1\n[identities.orders-api]\nclient_id = "{known["orders-api"]}"\n'
        '[[targets]]\ndatabases = ["tenant_*", "appdb"]\ngrants = { orders-api = [] }\n'
    )
    code, env = envelope("grant", "export", "--policy", str(scope))
    assert code == 0, env
    data = env["data"]
    assert [d["database"] for d in data["databases"]] == ["tenant_a", "tenant_b", "tenant_c", "appdb"]
    assert data["counts"] == {"identities": 2, "roles": 0, "targets": 2, "unexpressed": 0}
    text = data["policy"]
    assert text.count("[identities.orders-api]") == 1  # shared by four databases, written once
    assert '[[targets]]\ndatabases = ["tenant_*"]\ngrants = { billing-worker = [], orders-api = ["db_datawriter"] }\n' in text
    assert '[[targets]]\ndatabases = ["appdb"]\ngrants = { orders-api = ["db_datareader"] }\n' in text
    policy = tmp_path / "access.toml"
    policy.write_text(text)
    code, env = envelope("grant", "--policy", str(policy), "--check")
    assert code == 0 and env["data"]["summary"] == {"unchanged": 4}


def test_what_a_policy_cannot_say_is_listed_and_exits_1(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    known = ids(sandbox)
    with sandbox.sql.storage.edit_security("appdb") as db:
        db.users.append(DbUser("legacy-etl", known["billing-worker"], "S", 6))
        db.members.setdefault("db_owner", []).append("orders-api")
        db.permissions.append(Permission("orders-api", "SELECT", "SCHEMA", "app", "D"))
    policy = tmp_path / "access.toml"
    code, _out, err = invoke("grant", "export", "--out", str(policy))
    assert code == ExitCode.CHECK_FAILED
    assert "Error: 3 thing(s) in these databases cannot be expressed in a policy" in err
    assert "Hint: review them; pass --allow-unexpressed to accept a policy that leaves them as they are" in err
    text = policy.read_text()
    assert text.endswith(
        "# appdb on " + client_env["AZSQLCTL_SERVER"] + ":\n"
        "#   SQL-authentication user legacy-etl\n"
        "#     CREATE USER [legacy-etl] FOR LOGIN <its server login>;\n"
        "#   orders-api is a member of the elevated role db_owner\n"
        "#     ALTER ROLE [db_owner] ADD MEMBER [orders-api];\n"
        "#   orders-api has DENY SELECT on schema app: granted to a principal directly (a policy grants to roles)\n"
        "#     DENY SELECT ON SCHEMA::[app] TO [orders-api];\n"
    )
    code, env = envelope("grant", "export", "--allow-unexpressed")
    assert code == 0 and env["data"]["counts"]["unexpressed"] == 3
    assert [u["tsql"] for u in env["data"]["unexpressed"]][1] == "ALTER ROLE [db_owner] ADD MEMBER [orders-api];"
    # --check sees the elevated membership the policy leaves out: drift, never silently accepted
    code, env = envelope("grant", "--policy", str(policy), "--check")
    assert code == ExitCode.CHECK_FAILED
    assert env["data"]["targets"][0]["plan"]["drift"] == [
        "orders-api is also a member of db_owner, which is not granted here (--prune removes it)"
    ]


def test_export_needs_a_database(sandbox: Sandbox, client_env: dict[str, str], monkeypatch: Any) -> None:
    monkeypatch.delenv("AZSQLCTL_DATABASE")
    code, env = envelope("grant", "export")
    assert code == ExitCode.USAGE and env["errors"][0]["code"] == "no_database"

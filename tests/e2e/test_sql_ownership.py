"""Ownership over TDS, through the real ODBC driver: CREATE SCHEMA ... AUTHORIZATION, ALTER AUTHORIZATION ON SCHEMA::
and ON [OBJECT::], what sys.schemas / sys.objects show, SQL Server's refusals, rollback, restarts, and `grant export`
listing what was changed this way.

Expected texts are written out from Microsoft Learn's "Database Engine events and errors (15000 to 15999)" templates
(15151, 15150, 15183, 15138), never imported from the sandbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.errors import ExitCode
from azsqlctl.sandbox.serve import Sandbox
from tests.conftest import raw_connect
from tests.e2e.test_sql_permissions import connect_as, error_of


def owners(cur: Any) -> dict[str, Any]:
    rows = cur.execute(
        "SELECT s.name, p.name FROM sys.schemas AS s LEFT JOIN sys.database_principals AS p ON p.principal_id = s.principal_id"
    )
    return {r[0]: r[1] for r in rows.fetchall()}


def object_owner(cur: Any, name: str) -> Any:
    return cur.execute("SELECT principal_id FROM sys.objects WHERE name = ? AND parent_object_id = 0", name).fetchval()


def user_id(cur: Any, name: str) -> int:
    return int(cur.execute("SELECT principal_id FROM sys.database_principals WHERE name = ?", name).fetchval())


def test_schema_and_object_owners_show_in_the_catalog(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    admin = connect_as(sandbox)
    cur = admin.cursor()
    cur.execute("CREATE ROLE etl_owners")
    cur.execute("CREATE SCHEMA etl AUTHORIZATION [orders-api]")
    cur.execute("CREATE SCHEMA [stage area] AUTHORIZATION etl_owners")
    assert owners(cur)["etl"] == "orders-api" and owners(cur)["stage area"] == "etl_owners" and owners(cur)["app"] == "dbo"
    assert cur.execute("SELECT SCHEMA_OWNER FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME = 'etl'").fetchval() == "orders-api"

    cur.execute("GRANT SELECT ON SCHEMA::etl TO etl_owners")
    cur.execute("GRANT SELECT ON SCHEMA::app TO etl_owners")
    cur.execute("ALTER AUTHORIZATION ON SCHEMA::etl TO dbo")
    assert owners(cur)["etl"] == "dbo"
    # A new owner: every permission on the schema is dropped (ALTER AUTHORIZATION's remarks); other schemas keep theirs.
    granted = (
        "SELECT s.name FROM sys.database_permissions AS d JOIN sys.schemas AS s ON s.schema_id = d.major_id WHERE d.class_desc = 'SCHEMA'"
    )
    assert [r[0] for r in cur.execute(granted).fetchall()] == ["app"]
    cur.execute("ALTER AUTHORIZATION ON SCHEMA::[app] TO [orders-api]")
    assert owners(cur)["app"] == "orders-api"

    cur.execute("CREATE TABLE dbo.orders (id INT)")
    cur.execute("CREATE VIEW dbo.recent AS SELECT id FROM dbo.orders")
    assert object_owner(cur, "orders") is None  # owned through its schema: NULL, as SQL Server shows it
    cur.execute("ALTER AUTHORIZATION ON dbo.orders TO [orders-api]")  # OBJECT is the default class
    assert object_owner(cur, "orders") == user_id(cur, "orders-api")
    cur.execute("ALTER AUTHORIZATION ON OBJECT::[dbo].[recent] TO etl_owners")
    assert object_owner(cur, "recent") == user_id(cur, "etl_owners")
    cur.execute("ALTER AUTHORIZATION ON OBJECT::dbo.orders TO dbo")
    assert object_owner(cur, "orders") == 1  # an explicit owner, even the schema's own
    cur.execute("ALTER AUTHORIZATION ON orders TO SCHEMA OWNER")
    assert object_owner(cur, "orders") is None
    admin.close()


def test_refusals_as_sql_server_words_them(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    admin = connect_as(sandbox)
    cur = admin.cursor()
    cur.execute("CREATE TABLE app.orders (id INT)")
    assert "Cannot find the user 'nobody', because it does not exist or you do not have permission. (15151)" in error_of(
        cur, "ALTER AUTHORIZATION ON app.orders TO nobody"
    )
    assert "Cannot find the user 'nobody', because it does not exist or you do not have permission. (15151)" in error_of(
        cur, "ALTER AUTHORIZATION ON SCHEMA::app TO nobody"
    )
    assert "Cannot find the user 'nobody', because it does not exist or you do not have permission. (15151)" in error_of(
        cur, "CREATE SCHEMA etl AUTHORIZATION nobody"
    )
    assert "Cannot find the object 'missing', because it does not exist or you do not have permission. (15151)" in error_of(
        cur, "ALTER AUTHORIZATION ON app.missing TO [orders-api]"
    )
    assert "Cannot find the schema 'nope', because it does not exist or you do not have permission. (15151)" in error_of(
        cur, "ALTER AUTHORIZATION ON SCHEMA::nope TO [orders-api]"
    )
    assert "Cannot alter the schema 'dbo'. (15150)" in error_of(cur, "ALTER AUTHORIZATION ON SCHEMA::dbo TO [orders-api]")
    assert "Cannot find the principal 'sys', because it does not exist or you do not have permission. (15151)" in error_of(
        cur, "ALTER AUTHORIZATION ON app.orders TO sys"
    )
    assert "Incorrect syntax near the keyword 'public'. (156)" in error_of(cur, "ALTER AUTHORIZATION ON app.orders TO public")
    assert "(40517)" in error_of(cur, "ALTER AUTHORIZATION ON ROLE::db_datareader TO [orders-api]")
    assert "ALTER AUTHORIZATION ON XML SCHEMA COLLECTION::" in error_of(cur, "ALTER AUTHORIZATION ON XML SCHEMA COLLECTION::x TO dbo")
    assert "CREATE ROLE ... AUTHORIZATION" in error_of(cur, "CREATE ROLE r9 AUTHORIZATION [orders-api]")  # role owners: not modelled
    assert "CREATE SCHEMA with schema elements (CREATE TABLE ...)" in error_of(cur, "CREATE SCHEMA s2 CREATE TABLE t (a INT)")
    assert "s2" not in owners(cur)  # nothing of a refused statement was done

    # Owners cannot be dropped while they own: objects first (15183), then schemas (15138).
    cur.execute("CREATE USER [billing-worker] FROM EXTERNAL PROVIDER")
    cur.execute("ALTER AUTHORIZATION ON app.orders TO [billing-worker]")
    cur.execute("CREATE SCHEMA etl AUTHORIZATION [billing-worker]")
    assert "The database principal owns objects in the database and cannot be dropped. (15183)" in error_of(
        cur, "DROP USER [billing-worker]"
    )
    cur.execute("ALTER AUTHORIZATION ON app.orders TO SCHEMA OWNER")
    assert "The database principal owns a schema in the database, and cannot be dropped. (15138)" in error_of(
        cur, "DROP USER [billing-worker]"
    )
    cur.execute("DROP SCHEMA etl")
    cur.execute("DROP USER [billing-worker]")
    admin.close()


def test_a_caller_without_permission_is_refused_and_an_owner_holds_control(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    admin = connect_as(sandbox)
    cur = admin.cursor()
    cur.execute("CREATE TABLE app.orders (id INT)")
    cur.execute("INSERT INTO app.orders VALUES (7)")
    cur.execute("CREATE USER [billing-worker] FROM EXTERNAL PROVIDER")
    reader = connect_as(sandbox, "orders-api")  # db_datareader: SELECT, no TAKE OWNERSHIP
    rcur = reader.cursor()
    assert "Cannot find the object 'orders', because it does not exist or you do not have permission. (15151)" in error_of(
        rcur, "ALTER AUTHORIZATION ON app.orders TO [orders-api]"
    )
    assert "Cannot find the schema 'app', because it does not exist or you do not have permission. (15151)" in error_of(
        rcur, "ALTER AUTHORIZATION ON SCHEMA::app TO [orders-api]"
    )
    assert "CREATE SCHEMA permission denied in database 'appdb'. (262)" in error_of(rcur, "CREATE SCHEMA mine AUTHORIZATION [orders-api]")
    assert object_owner(cur, "orders") is None and owners(cur)["app"] == "dbo"

    # TAKE OWNERSHIP lets it take the table for itself, not give it to someone it cannot impersonate.
    cur.execute("GRANT TAKE OWNERSHIP ON SCHEMA::app TO [orders-api]")
    assert "Cannot find the principal 'billing-worker', because it does not exist or you do not have permission. (15151)" in error_of(
        rcur, "ALTER AUTHORIZATION ON app.orders TO [billing-worker]"
    )
    rcur.execute("ALTER AUTHORIZATION ON app.orders TO [orders-api]")
    assert object_owner(cur, "orders") == user_id(cur, "orders-api")

    # The owner of a table holds CONTROL on it: it may write, though db_datareader alone may not.
    worker = connect_as(sandbox, "billing-worker")
    wcur = worker.cursor()
    assert "The SELECT permission was denied on the object 'orders'" in error_of(wcur, "SELECT id FROM app.orders")
    assert wcur.execute("SELECT COUNT(*) FROM sys.tables WHERE name = 'orders'").fetchval() == 0  # metadata visibility
    cur.execute("ALTER AUTHORIZATION ON app.orders TO [billing-worker]")
    assert wcur.execute("SELECT COUNT(*) FROM sys.tables WHERE name = 'orders'").fetchval() == 1  # an owner sees what it owns
    wcur.execute("INSERT INTO app.orders VALUES (8)")
    assert wcur.execute("SELECT COUNT(*) FROM app.orders").fetchval() == 2
    # The owner of a schema holds CONTROL on it: its tables are its to read and drop.
    cur.execute("CREATE SCHEMA etl AUTHORIZATION [billing-worker]")
    cur.execute("CREATE TABLE etl.runs (id INT)")
    wcur.execute("INSERT INTO etl.runs VALUES (1)")
    wcur.execute("DROP TABLE etl.runs")
    for c in (worker, reader, admin):
        c.close()


def test_a_broken_ownership_chain_checks_the_table(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    admin = connect_as(sandbox)
    cur = admin.cursor()
    cur.execute("CREATE USER [billing-worker] FROM EXTERNAL PROVIDER")
    cur.execute("CREATE TABLE dbo.ledger (id INT)")
    cur.execute("INSERT INTO dbo.ledger VALUES (1)")
    cur.execute("CREATE VIEW dbo.ledger_view AS SELECT id FROM dbo.ledger")
    cur.execute("CREATE ROLE view_readers")
    cur.execute("GRANT SELECT ON SCHEMA::app TO view_readers")
    cur.execute("CREATE SCHEMA reports")
    cur.execute("CREATE VIEW reports.totals AS SELECT id FROM dbo.ledger")
    cur.execute("GRANT SELECT ON SCHEMA::reports TO [billing-worker]")
    worker = connect_as(sandbox, "billing-worker")
    wcur = worker.cursor()
    assert wcur.execute("SELECT COUNT(*) FROM reports.totals").fetchval() == 1  # one owner (dbo): the chain holds
    cur.execute("ALTER AUTHORIZATION ON dbo.ledger TO [orders-api]")
    assert "The SELECT permission was denied on the object 'ledger', database 'appdb', schema 'dbo'. (229)" in error_of(
        wcur, "SELECT COUNT(*) FROM reports.totals"
    )
    worker.close()
    admin.close()


def test_rollback_undoes_ownership_and_a_restart_keeps_it(
    sandbox: Sandbox, client_env: dict[str, str], material_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = connect_as(sandbox)
    admin.autocommit = False
    cur = admin.cursor()
    cur.execute("CREATE TABLE app.orders (id INT)")
    admin.commit()
    cur.execute("ALTER AUTHORIZATION ON app.orders TO [orders-api]")
    cur.execute("ALTER AUTHORIZATION ON SCHEMA::app TO [orders-api]")
    cur.execute("CREATE SCHEMA etl AUTHORIZATION [orders-api]")
    assert object_owner(cur, "orders") == 5 and owners(cur)["app"] == "orders-api" and "etl" in owners(cur)
    admin.rollback()
    assert object_owner(cur, "orders") is None and owners(cur)["app"] == "dbo" and "etl" not in owners(cur)

    cur.execute("ALTER AUTHORIZATION ON app.orders TO [orders-api]")
    cur.execute("ALTER AUTHORIZATION ON SCHEMA::app TO [orders-api]")
    admin.commit()
    admin.close()
    state = sandbox.store.path
    assert state is not None
    sandbox.stop()
    with Sandbox(state, material_dir=material_dir) as again:
        monkeypatch.setenv("SSL_CERT_FILE", again.env["SSL_CERT_FILE"])
        other = raw_connect(again, again.issue_token("sandbox-operator"))
        ocur = other.cursor()
        assert object_owner(ocur, "orders") == 5 and owners(ocur)["app"] == "orders-api"
        other.close()


def test_grant_export_lists_ownership_changed_over_tds(sandbox: Sandbox, client_env: dict[str, str], tmp_path: Path) -> None:
    admin = connect_as(sandbox)
    cur = admin.cursor()
    cur.execute("CREATE TABLE app.[odd]]name] (id INT)")
    cur.execute("ALTER AUTHORIZATION ON OBJECT::app.[odd]]name] TO [orders-api]")
    cur.execute("CREATE SCHEMA etl AUTHORIZATION [orders-api]")
    admin.close()
    runner = CliRunner()
    policy = tmp_path / "access.toml"
    result = runner.invoke(app, ["grant", "export", "--out", str(policy)], env={"COLUMNS": "200"})
    assert result.exit_code == ExitCode.CHECK_FAILED, result.stderr
    text = policy.read_text()
    assert (
        "#   schema etl is owned by orders-api: a policy cannot express ownership\n#     ALTER AUTHORIZATION ON SCHEMA::[etl] TO [orders-api];\n"
        in text
    )
    assert (
        "#   object app.odd]name is owned by orders-api, not by its schema's owner: a policy cannot express ownership\n"
        "#     ALTER AUTHORIZATION ON OBJECT::[app].[odd]]name] TO [orders-api];\n"
    ) in text
    result = runner.invoke(app, ["grant", "export", "--allow-unexpressed", "--out", str(policy)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr

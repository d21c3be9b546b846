"""Permissions on user tables, granted with the DDL grant emits and proven through the real driver as each identity."""

from __future__ import annotations

from typing import Any

import pytest

from azsqlctl.sandbox.serve import Sandbox
from tests.conftest import raw_connect

SQL_SCOPE = "https://database.windows.net/.default"


def token_for(sandbox: Sandbox, name: str | None = None) -> str:
    from azure.identity import ManagedIdentityCredential

    client_id = sandbox.store.read(lambda s: next(i.client_id for i in s.identities if i.name == name)) if name else None
    return str(ManagedIdentityCredential(client_id=client_id).get_token(SQL_SCOPE).token)


def connect_as(sandbox: Sandbox, name: str | None = None) -> Any:
    cnxn = raw_connect(sandbox, token_for(sandbox, name))
    cnxn.autocommit = True
    return cnxn


def error_of(cur: Any, sql: str) -> str:
    import pyodbc

    with pytest.raises(pyodbc.Error) as info:
        cur.execute(sql)
    return str(info.value)


@pytest.fixture
def orders(sandbox: Sandbox, client_env: dict[str, str]) -> Any:
    """app.orders created by the Entra admin, and the admin's connection for granting."""
    admin = connect_as(sandbox)
    admin.cursor().execute("CREATE TABLE app.orders (id INT IDENTITY PRIMARY KEY, item NVARCHAR(40) NOT NULL)")
    admin.cursor().execute("INSERT INTO app.orders (item) VALUES ('first')")
    yield admin
    admin.close()


def test_reader_may_select_but_not_insert_or_create(sandbox: Sandbox, orders: Any) -> None:
    reader = connect_as(sandbox, "orders-api")  # db_datareader in the default state
    cur = reader.cursor()
    assert cur.execute("SELECT item FROM app.orders").fetchval() == "first"
    text = error_of(cur, "INSERT INTO app.orders (item) VALUES ('x')")
    assert "The INSERT permission was denied on the object 'orders', database 'appdb', schema 'app'. (229)" in text
    assert "The DELETE permission was denied on the object 'orders', database 'appdb', schema 'app'. (229)" in error_of(
        cur, "DELETE FROM app.orders"
    )
    assert "CREATE TABLE permission denied in database 'appdb'. (262)" in error_of(cur, "CREATE TABLE app.mine (x INT)")
    assert "CREATE SCHEMA permission denied in database 'appdb'. (262)" in error_of(cur, "CREATE SCHEMA mine")
    assert "(3701)" in error_of(cur, "DROP TABLE app.orders")
    reader.close()


def test_writer_ddladmin_schema_grants_and_deny(sandbox: Sandbox, orders: Any) -> None:
    admin = orders.cursor()
    admin.execute("CREATE USER [billing-worker] FROM EXTERNAL PROVIDER")
    admin.execute("ALTER ROLE db_datawriter ADD MEMBER [billing-worker]")
    worker = connect_as(sandbox, "billing-worker")
    cur = worker.cursor()
    cur.execute("INSERT INTO app.orders (item) VALUES ('written')")
    assert cur.rowcount == 1
    # A writer without SELECT may not read, nor filter what it deletes (SQL Server checks SELECT for a WHERE).
    assert "The SELECT permission was denied on the object 'orders', database 'appdb', schema 'app'. (229)" in error_of(
        cur, "SELECT * FROM app.orders"
    )
    assert "The SELECT permission was denied" in error_of(cur, "DELETE FROM app.orders WHERE id = 1")

    # A custom role with SELECT on one schema: reads app, not dbo.
    admin.execute("CREATE TABLE dbo.secrets (x INT)")
    admin.execute("CREATE ROLE app_reader")
    admin.execute("GRANT SELECT ON SCHEMA::app TO app_reader")
    admin.execute("ALTER ROLE app_reader ADD MEMBER [billing-worker]")
    assert cur.execute("SELECT COUNT(*) FROM app.orders").fetchval() == 2
    assert "The SELECT permission was denied on the object 'secrets', database 'appdb', schema 'dbo'. (229)" in error_of(
        cur, "SELECT * FROM dbo.secrets"
    )
    cur.execute("DELETE FROM app.orders WHERE item = 'written'")
    assert cur.rowcount == 1

    # DENY beats GRANT.
    admin.execute("DENY INSERT ON SCHEMA::app TO [billing-worker]")
    assert "The INSERT permission was denied" in error_of(cur, "INSERT INTO app.orders (item) VALUES ('denied')")
    admin.execute("REVOKE INSERT ON SCHEMA::app FROM [billing-worker]")
    cur.execute("INSERT INTO app.orders (item) VALUES ('allowed again')")

    # db_ddladmin may create and drop tables.
    assert "(262)" in error_of(cur, "CREATE TABLE app.stage (x INT)")
    admin.execute("ALTER ROLE db_ddladmin ADD MEMBER [billing-worker]")
    cur.execute("CREATE TABLE app.stage (x INT)")
    cur.execute("DROP TABLE app.stage")
    worker.close()


def test_explicit_create_table_needs_alter_on_the_schema(sandbox: Sandbox, orders: Any) -> None:
    admin = orders.cursor()
    admin.execute("CREATE USER [billing-worker] FROM EXTERNAL PROVIDER")
    admin.execute("GRANT CREATE TABLE TO [billing-worker]")
    worker = connect_as(sandbox, "billing-worker")
    cur = worker.cursor()
    text = error_of(cur, "CREATE TABLE app.mine (x INT)")
    assert 'The specified schema name "app" either does not exist or you do not have permission to use it. (2760)' in text
    admin.execute("GRANT ALTER ON SCHEMA::app TO [billing-worker]")
    cur.execute("CREATE TABLE app.mine (x INT)")
    worker.close()


def test_azsqlctl_grant_then_the_driver_proves_it(sandbox: Sandbox, orders: Any) -> None:
    """The loop the tool is about: `azsqlctl grant` a role, then that identity's own connection shows what it may do."""
    from typer.testing import CliRunner

    from azsqlctl.cli.app import app

    worker = sandbox.store.read(lambda s: next(i.client_id for i in s.identities if i.name == "billing-worker"))
    runner = CliRunner()
    result = runner.invoke(app, ["grant", "billing-worker", "--client-id", worker, "--role", "reader", "--apply"])
    assert result.exit_code == 0, result.output
    cnxn = connect_as(sandbox, "billing-worker")
    cur = cnxn.cursor()
    assert cur.execute("SELECT COUNT(*) FROM app.orders").fetchval() == 1
    assert "The INSERT permission was denied on the object 'orders', database 'appdb', schema 'app'. (229)" in error_of(
        cur, "INSERT INTO app.orders (item) VALUES ('nope')"
    )
    cnxn.close()
    result = runner.invoke(app, ["grant", "billing-worker", "--client-id", worker, "--role", "writer", "--apply"])
    assert result.exit_code == 0, result.output
    cnxn = connect_as(sandbox, "billing-worker")
    cnxn.cursor().execute("INSERT INTO app.orders (item) VALUES ('granted')")
    assert "CREATE TABLE permission denied in database 'appdb'. (262)" in error_of(cnxn.cursor(), "CREATE TABLE app.more (x INT)")
    cnxn.close()


def test_grant_migrator_creates_tables_and_a_policy_role_reaches_exactly_its_schema(sandbox: Sandbox, orders: Any, tmp_path: Any) -> None:
    """`grant --role migrator` may CREATE TABLE; a policy's custom role scoped to schema app reads app, not dbo."""
    from typer.testing import CliRunner

    from azsqlctl.cli.app import app

    orders.cursor().execute("CREATE TABLE dbo.secrets (id INT)")
    worker = sandbox.store.read(lambda s: next(i.client_id for i in s.identities if i.name == "billing-worker"))
    runner = CliRunner()
    result = runner.invoke(app, ["grant", "billing-worker", "--client-id", worker, "--role", "migrator", "--apply"])
    assert result.exit_code == 0, result.output
    cnxn = connect_as(sandbox, "billing-worker")
    cnxn.cursor().execute("CREATE TABLE app.migrated (id INT PRIMARY KEY)")
    cnxn.close()

    policy = tmp_path / "access.toml"
    policy.write_text(
        f"""version = 1
[roles.app_reader]
grants = [{{ permissions = ["SELECT"], schema = "app" }}]
[identities.billing-worker]
type = "app"
client_id = "{worker}"
[[targets]]
databases = ["appdb"]
grants = {{ billing-worker = ["app_reader"] }}
""",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["grant", "--policy", str(policy), "--prune", "--apply"])
    assert result.exit_code == 0, result.output
    cur = connect_as(sandbox, "billing-worker").cursor()
    assert cur.execute("SELECT COUNT(*) FROM app.orders").fetchval() == 1
    assert "The SELECT permission was denied on the object 'secrets', database 'appdb', schema 'dbo'. (229)" in error_of(
        cur, "SELECT * FROM dbo.secrets"
    )
    assert "CREATE TABLE permission denied in database 'appdb'. (262)" in error_of(cur, "CREATE TABLE app.again (x INT)")

"""The same parameterised text before and after what changes its meaning: the cached plan (engine/plans.py) must answer
as SQL Server's recompiled plan does -- schema changes, views, renames, and permission changes (REVOKE, DENY, role
membership, a GRANT committed by another session, changes rolled back) -- through the real driver (sp_prepexec, then
sp_execute on the prepared handle, and sp_executesql on a fresh cursor)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.sql.engine import plans
from tests.e2e.test_sql_permissions import connect_as

DENIED = "The SELECT permission was denied on the object 'orders', database 'appdb', schema 'app'. (229)"


def plans_cached(sandbox: Sandbox) -> int:
    """How many plans appdb's cache holds (the tests prove the cached path ran, not only the translating one)."""
    return len(plans.cache(sandbox.sql.storage, "appdb"))


def point(cur: Any, key: int, sql: str = "SELECT item FROM app.orders WHERE id = ?") -> Any:
    return cur.execute(sql, key).fetchall()


def denied(cur: Any, sql: str = "SELECT item FROM app.orders WHERE id = ?") -> str:
    import pyodbc

    with pytest.raises(pyodbc.Error) as info:
        cur.execute(sql, 1).fetchall()
    return str(info.value)


@pytest.fixture
def admin(sandbox: Sandbox, client_env: dict[str, str]) -> Iterator[Any]:
    """The Entra admin's connection, with app.orders (id, item) holding two rows."""
    cnxn = connect_as(sandbox)
    cur = cnxn.cursor()
    cur.execute("CREATE TABLE app.orders (id INT PRIMARY KEY, item NVARCHAR(40) NOT NULL)")
    cur.execute("INSERT INTO app.orders VALUES (1, 'first'), (2, 'second')")
    yield cnxn
    cnxn.close()


def test_repeated_text_is_served_from_one_plan_with_each_executions_values(sandbox: Sandbox, admin: Any) -> None:
    cur = admin.cursor()
    before = plans_cached(sandbox)
    assert [tuple(r) for r in point(cur, 1)] == [("first",)]
    assert plans_cached(sandbox) == before + 1
    for _ in range(3):  # sp_execute on the prepared handle, each time with its own value
        assert [tuple(r) for r in point(cur, 2)] == [("second",)]
        assert point(cur, 3) == []
    fresh = admin.cursor()  # another cursor: sp_prepexec again, the same plan
    assert [tuple(r) for r in point(fresh, 1)] == [("first",)]
    assert plans_cached(sandbox) == before + 1
    # Rows are read at each execution, never kept with the plan.
    cur.execute("UPDATE app.orders SET item = 'changed' WHERE id = 1")
    assert [tuple(r) for r in point(fresh, 1)] == [("changed",)]


def test_add_column_drop_create_and_rename_recompile(sandbox: Sandbox, admin: Any) -> None:
    import pyodbc

    cur = admin.cursor()
    star = "SELECT * FROM app.orders WHERE id = ?"
    (row,) = cur.execute(star, 1).fetchall()
    assert [d[0] for d in cur.description] == ["id", "item"] and tuple(row) == (1, "first")
    cur.execute(star, 1).fetchall()  # served from the plan

    other = connect_as(sandbox).cursor()  # the DDL's own session
    other.execute("ALTER TABLE app.orders ADD note NVARCHAR(10) NULL")
    other.execute("UPDATE app.orders SET note = 'n1' WHERE id = 1")
    (row,) = cur.execute(star, 1).fetchall()
    assert [d[0] for d in cur.description] == ["id", "item", "note"] and tuple(row) == (1, "first", "n1")

    # DROP + CREATE with other columns and types: the new table's shape and rows.
    other.execute("DROP TABLE app.orders")
    other.execute("CREATE TABLE app.orders (id INT PRIMARY KEY, amount DECIMAL(9, 2), item INT)")
    other.execute("INSERT INTO app.orders VALUES (1, 9.5, 42)")
    (row,) = cur.execute(star, 1).fetchall()
    assert [d[0] for d in cur.description] == ["id", "amount", "item"]
    assert cur.description[2][1] is int and tuple(row) == (1, pytest.approx(9.5), 42)
    assert [tuple(r) for r in point(cur, 1)] == [(42,)]

    # Renamed away: the text names a table that no longer exists (208), not the renamed one.
    other.execute("EXEC sp_rename 'app.orders', 'orders_old'")
    with pytest.raises(pyodbc.Error, match=r"Invalid object name 'app\.orders'\. \(208\)"):
        point(cur, 1)
    # A view under the old name: the text now reads the view.
    other.execute("CREATE VIEW app.orders AS SELECT id, CAST(item AS NVARCHAR(10)) + '!' AS item FROM app.orders_old")
    assert [tuple(r) for r in point(cur, 1)] == [("42!",)]
    other.execute("ALTER VIEW app.orders AS SELECT id, N'v2' AS item FROM app.orders_old")
    assert [tuple(r) for r in point(cur, 1)] == [("v2",)]


def test_column_rename_and_type_change_recompile(sandbox: Sandbox, admin: Any) -> None:
    import pyodbc

    cur = admin.cursor()
    other = connect_as(sandbox).cursor()
    assert [tuple(r) for r in point(cur, 2)] == [("second",)]
    other.execute("EXEC sp_rename 'app.orders.item', 'label', 'COLUMN'")
    with pytest.raises(pyodbc.Error, match=r"Invalid column name 'item'\. \(207\)"):
        point(cur, 2)
    other.execute("EXEC sp_rename 'app.orders.label', 'item', 'COLUMN'")
    assert [tuple(r) for r in point(cur, 2)] == [("second",)]
    other.execute("ALTER TABLE app.orders ALTER COLUMN item NVARCHAR(200) NOT NULL")
    cur.execute("SELECT item FROM app.orders WHERE id = ?", 2).fetchall()
    assert cur.description[0][3] == 200  # the column's new declared length


def test_revoke_deny_and_role_membership_apply_to_the_next_execution(sandbox: Sandbox, admin: Any) -> None:
    grants = admin.cursor()
    grants.execute("CREATE USER [billing-worker] FROM EXTERNAL PROVIDER")
    grants.execute("GRANT SELECT ON SCHEMA::app TO [billing-worker]")
    worker = connect_as(sandbox, "billing-worker").cursor()
    reader = connect_as(sandbox, "orders-api").cursor()  # db_datareader in the default state
    for _ in range(2):
        assert [tuple(r) for r in point(worker, 1)] == [("first",)]
        assert [tuple(r) for r in point(reader, 1)] == [("first",)]

    grants.execute("REVOKE SELECT ON SCHEMA::app FROM [billing-worker]")
    assert DENIED in denied(worker)
    grants.execute("GRANT SELECT ON SCHEMA::app TO [billing-worker]")
    assert [tuple(r) for r in point(worker, 1)] == [("first",)]
    grants.execute("DENY SELECT ON SCHEMA::app TO [billing-worker]")  # DENY beats the GRANT
    assert DENIED in denied(worker)

    grants.execute("DENY SELECT ON SCHEMA::app TO [orders-api]")
    assert DENIED in denied(reader)
    grants.execute("REVOKE SELECT ON SCHEMA::app FROM [orders-api]")  # removes the DENY: the role's SELECT again
    assert [tuple(r) for r in point(reader, 1)] == [("first",)]

    grants.execute("ALTER ROLE db_datareader DROP MEMBER [orders-api]")
    assert DENIED in denied(reader)
    grants.execute("ALTER ROLE db_datareader ADD MEMBER [orders-api]")
    assert [tuple(r) for r in point(reader, 1)] == [("first",)]

    # A role of one's own: granted, then dropped from it.
    grants.execute("CREATE ROLE order_readers")
    grants.execute("GRANT SELECT ON SCHEMA::app TO order_readers")
    grants.execute("ALTER ROLE db_datareader DROP MEMBER [orders-api]")
    grants.execute("ALTER ROLE order_readers ADD MEMBER [orders-api]")
    assert [tuple(r) for r in point(reader, 1)] == [("first",)]
    grants.execute("ALTER ROLE order_readers DROP MEMBER [orders-api]")
    assert DENIED in denied(reader)


def test_grant_committed_by_another_session_and_changes_rolled_back(sandbox: Sandbox, admin: Any) -> None:
    grants = admin.cursor()
    grants.execute("CREATE USER [billing-worker] FROM EXTERNAL PROVIDER")
    worker = connect_as(sandbox, "billing-worker").cursor()
    assert DENIED in denied(worker)
    assert DENIED in denied(worker)

    other = connect_as(sandbox)
    other.autocommit = False  # the GRANT stays uncommitted until commit()
    other.cursor().execute("GRANT SELECT ON SCHEMA::app TO [billing-worker]")
    assert DENIED in denied(worker)  # not committed yet
    other.commit()
    assert [tuple(r) for r in point(worker, 1)] == [("first",)]

    # A REVOKE rolled back leaves the grant; a DENY rolled back never applied.
    other.cursor().execute("REVOKE SELECT ON SCHEMA::app FROM [billing-worker]")
    other.rollback()
    assert [tuple(r) for r in point(worker, 1)] == [("first",)]
    other.cursor().execute("DENY SELECT ON SCHEMA::app TO [billing-worker]")
    other.rollback()
    assert [tuple(r) for r in point(worker, 1)] == [("first",)]

    # DDL rolled back: the session that made it sees the new column, then the old shape again; others the old.
    ddl = other.cursor()
    star = "SELECT * FROM app.orders WHERE id = ?"
    ddl.execute(star, 1).fetchall()
    ddl.execute("ALTER TABLE app.orders ADD extra INT NULL")
    ddl.execute(star, 1).fetchall()
    assert [d[0] for d in ddl.description] == ["id", "item", "extra"]
    other.rollback()
    ddl.execute(star, 1).fetchall()
    assert [d[0] for d in ddl.description] == ["id", "item"]
    other.commit()
    admin_cur = admin.cursor()
    admin_cur.execute(star, 1).fetchall()
    assert [d[0] for d in admin_cur.description] == ["id", "item"]
    other.close()


def test_session_values_are_never_taken_from_another_session(sandbox: Sandbox, admin: Any) -> None:
    """Statements that read the session (USER_NAME(), @@SPID, IS_ROLEMEMBER) are translated for each session."""
    sql = "SELECT USER_NAME(), IS_ROLEMEMBER('db_datareader'), @@SPID FROM app.orders WHERE id = ?"
    (mine,) = admin.cursor().execute(sql, 1).fetchall()
    reader = connect_as(sandbox, "orders-api").cursor()
    (theirs,) = reader.execute(sql, 1).fetchall()
    assert mine[0] == "dbo" and theirs[0] == "orders-api"
    assert theirs[1] == 1 and mine[2] != theirs[2]


def test_owner_of_the_object_and_uncommitted_rows_through_the_plan(sandbox: Sandbox, admin: Any) -> None:
    """What the plan does not keep: the object's owner (ALTER AUTHORIZATION ON OBJECT, in its own table), and rows
    another transaction has changed but not committed (the committed-row view is made for each execution)."""
    grants = admin.cursor()
    grants.execute("CREATE USER [billing-worker] FROM EXTERNAL PROVIDER")
    assert [tuple(r) for r in point(grants, 1)] == [("first",)]  # the admin's execution made the plan
    worker = connect_as(sandbox, "billing-worker").cursor()
    assert DENIED in denied(worker)
    grants.execute("ALTER AUTHORIZATION ON OBJECT::app.orders TO [billing-worker]")
    assert [tuple(r) for r in point(worker, 1)] == [("first",)]  # an owner reads its own table
    grants.execute("ALTER AUTHORIZATION ON OBJECT::app.orders TO SCHEMA OWNER")
    assert DENIED in denied(worker)

    writer = connect_as(sandbox)
    writer.autocommit = False
    writer.cursor().execute("UPDATE app.orders SET item = 'uncommitted' WHERE id = 1")
    writer.cursor().execute("INSERT INTO app.orders VALUES (3, 'new')")
    reader = connect_as(sandbox, "orders-api").cursor()
    for _ in range(2):
        assert [tuple(r) for r in point(reader, 1)] == [("first",)]
        assert point(reader, 3) == []
    writer.commit()
    assert [tuple(r) for r in point(reader, 1)] == [("uncommitted",)]
    assert [tuple(r) for r in point(reader, 3)] == [("new",)]
    writer.close()

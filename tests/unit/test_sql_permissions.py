"""SQL Server's permission rules as the sandbox applies them: roles, nesting, schema scope, DENY over GRANT."""

from __future__ import annotations

import pytest

from azsqlctl.sandbox.sql.security import permissions as perms
from azsqlctl.sandbox.state import Database, DbUser, Permission


def db(**members: list[str]) -> Database:
    d = Database("appdb", users=[DbUser("u", "00000000-0000-0000-0000-000000000001", "E", 5)], schemas=["dbo", "app", "ops"])
    d.roles = ["r_outer", "r_inner"]
    d.members = {role: list(m) for role, m in members.items()}
    return d


@pytest.mark.parametrize(
    ("roles", "permission", "schema", "allowed"),
    [
        (["db_datareader"], "SELECT", "app", True),
        (["db_datareader"], "INSERT", "app", False),
        (["db_datawriter"], "INSERT", "app", True),
        (["db_datawriter"], "SELECT", "app", False),
        (["db_datareader", "db_denydatareader"], "SELECT", "app", False),
        (["db_datawriter", "db_denydatawriter"], "DELETE", "app", False),
        (["db_owner", "db_denydatareader"], "SELECT", "app", True),  # db_owner is never checked
        (["db_ddladmin"], "CREATE TABLE", None, True),
        (["db_ddladmin"], "SELECT", "app", False),
        ([], "SELECT", "app", False),
    ],
)
def test_fixed_roles(roles: list[str], permission: str, schema: str | None, allowed: bool) -> None:
    d = db(**{r: ["u"] for r in roles})
    assert perms.has(d, "u", permission, schema) is allowed


def test_schema_scope_nested_roles_and_deny() -> None:
    d = db(r_outer=["r_inner"], r_inner=["u"])
    d.permissions = [Permission("r_outer", "SELECT", "SCHEMA", "app")]
    assert perms.principals(d, "u") == {"u", "public", "r_inner", "r_outer"}
    assert perms.has(d, "u", "SELECT", "app")  # through r_inner, a member of r_outer
    assert not perms.has(d, "u", "SELECT", "ops")  # another schema
    d.permissions.append(Permission("u", "SELECT", "SCHEMA", "app", "D"))
    assert not perms.has(d, "u", "SELECT", "app")  # DENY beats GRANT
    d.permissions = [Permission("r_inner", "CONTROL", "SCHEMA", "ops")]
    assert perms.has(d, "u", "DELETE", "ops")  # CONTROL on a schema implies its data permissions
    d.permissions.append(Permission("public", "DELETE", "DATABASE", "", "D"))
    assert not perms.has(d, "u", "DELETE", "ops")  # a DENY to public reaches everyone but owners
    assert perms.has(d, "dbo", "DELETE", "ops")


def test_alter_on_schema() -> None:
    d = db(db_ddladmin=["u"])
    assert perms.may_alter_schema(d, "u", "app")  # ALTER ANY SCHEMA
    d = db()
    d.permissions = [Permission("u", "ALTER", "SCHEMA", "app")]
    assert perms.may_alter_schema(d, "u", "app") and not perms.may_alter_schema(d, "u", "ops")
    d.permissions.append(Permission("u", "ALTER", "SCHEMA", "app", "D"))
    assert not perms.may_alter_schema(d, "u", "app")

"""core/effective_access.py: the queries whoami and doctor send, roles read transitively over an in-memory
catalog (a QuerySession written here, answering the three catalog queries), and the least-privilege warnings."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from azsqlctl.core import effective_access as ea
from azsqlctl.core.ports import Row


class Catalog:
    """sys.database_principals and sys.database_role_members, as a server would return them."""

    def __init__(self, principals: dict[int, str], members: list[tuple[int, int]]) -> None:
        self.principals, self.members = principals, members
        self.sent: list[str] = []

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        self.sent.append(sql)
        if sql == ea.PRINCIPALS_SQL:
            return [{"name": n, "principal_id": str(p), "type": "R"} for p, n in self.principals.items()]
        if sql == ea.ROLE_MEMBERS_SQL:
            return [{"role_principal_id": r, "member_principal_id": m} for r, m in self.members]
        raise AssertionError(f"unexpected query {sql}")

    def close(self) -> None:
        pass


def test_the_queries_as_sent() -> None:
    assert ea.IDENTITY_SQL == (
        "SELECT SUSER_SNAME() AS login_name, USER_NAME() AS user_name, DB_NAME() AS database_name, @@VERSION AS version"
    )
    assert ea.ROLE_MEMBERS_SQL == "SELECT role_principal_id, member_principal_id FROM sys.database_role_members"
    assert ea.PRINCIPALS_SQL == "SELECT name, principal_id, type FROM sys.database_principals"
    assert ea.MY_PERMISSIONS_SQL == "SELECT permission_name FROM fn_my_permissions(NULL, 'DATABASE')"


def test_roles_are_read_through_roles_that_are_members_of_roles() -> None:
    # app -> app_readers -> db_datareader; app_readers -> reporting -> db_datareader (a diamond); 9 is an orphan id
    catalog = Catalog(
        {5: "App", 6: "app_readers", 7: "reporting", 16384: "db_datareader", 16385: "db_owner", 8: "other"},
        [(6, 5), (16384, 6), (7, 6), (16384, 7), (16385, 8), (9, 5)],
    )
    assert ea.effective_roles(catalog, "app") == ["app_readers", "db_datareader", "reporting"]
    assert catalog.sent == [ea.PRINCIPALS_SQL, ea.ROLE_MEMBERS_SQL]
    assert ea.effective_roles(catalog, "other") == ["db_owner"]
    assert ea.effective_roles(catalog, "nobody") == []
    assert ea.effective_roles(Catalog({5: "app"}, []), "app") == []


def test_a_cycle_of_roles_ends() -> None:
    catalog = Catalog({1: "u", 2: "a", 3: "b"}, [(2, 1), (3, 2), (2, 3)])
    assert ea.effective_roles(catalog, "U") == ["a", "b"]


@pytest.mark.parametrize(
    ("roles", "permissions", "warnings"),
    [
        (["db_datareader"], ["SELECT", "CONNECT"], []),
        (
            ["db_owner", "db_datareader"],
            ["CONTROL"],
            ["member of db_owner: more than an application needs (see azsqlctl grant)"],
        ),
        (
            ["db_ddladmin"],
            ["ALTER ANY USER", "SELECT", "IMPERSONATE"],
            [
                "member of db_ddladmin: more than an application needs (see azsqlctl grant)",
                "holds ALTER ANY USER on the database (see azsqlctl grant)",
                "holds IMPERSONATE on the database (see azsqlctl grant)",
            ],
        ),
        ([], ["CONTROL"], ["holds CONTROL on the database (see azsqlctl grant)"]),
    ],
)
def test_least_privilege_warnings(roles: list[str], permissions: list[str], warnings: list[str]) -> None:
    assert ea.least_privilege_warnings(roles, permissions) == warnings

"""core/roles.py: Azure SQL's fixed database roles, their ids and the permissions they imply."""

from __future__ import annotations

from azsqlctl.core.roles import (
    CI_ONLY_ROLES,
    ELEVATED_PERMISSIONS,
    ELEVATED_ROLES,
    FIXED_ROLE_IDS,
    FIXED_ROLES,
    ROLE_PERMISSIONS,
    effective_permissions,
)


def test_fixed_role_principal_ids_as_sys_database_principals_shows_them() -> None:
    assert FIXED_ROLE_IDS == {
        "public": 0,
        "db_owner": 16384,
        "db_accessadmin": 16385,
        "db_securityadmin": 16386,
        "db_ddladmin": 16387,
        "db_backupoperator": 16389,
        "db_datareader": 16390,
        "db_datawriter": 16391,
        "db_denydatareader": 16392,
        "db_denydatawriter": 16393,
    }
    assert FIXED_ROLES[:4] == ("db_datareader", "db_datawriter", "db_ddladmin", "db_owner")
    assert "public" not in FIXED_ROLES and len(FIXED_ROLES) == 9


def test_role_permissions() -> None:
    assert ROLE_PERMISSIONS["db_datareader"] == ("SELECT",)
    assert ROLE_PERMISSIONS["db_datawriter"] == ("INSERT", "UPDATE", "DELETE")
    assert ROLE_PERMISSIONS["db_ddladmin"] == (
        "ALTER ANY SCHEMA", "CREATE TABLE", "CREATE VIEW", "CREATE PROCEDURE", "CREATE FUNCTION",
        "CREATE TYPE", "CREATE SYNONYM", "CREATE DEFAULT", "ALTER ANY DATABASE DDL TRIGGER", "REFERENCES",
    )  # fmt: skip
    assert ROLE_PERMISSIONS["db_securityadmin"] == ("ALTER ANY ROLE", "ALTER ANY APPLICATION ROLE", "CREATE SCHEMA", "VIEW DEFINITION")
    assert ROLE_PERMISSIONS["db_accessadmin"] == ("ALTER ANY USER", "CONNECT", "CREATE SCHEMA")
    assert ROLE_PERMISSIONS["db_backupoperator"] == ("BACKUP DATABASE", "BACKUP LOG", "CHECKPOINT")
    assert ROLE_PERMISSIONS["public"] == ROLE_PERMISSIONS["db_denydatareader"] == ROLE_PERMISSIONS["db_denydatawriter"] == ()
    # CONTROL first, then every permission the other roles imply plus ALTER, EXECUTE and SELECT, sorted
    assert ROLE_PERMISSIONS["db_owner"] == (
        "CONTROL", "ALTER", "ALTER ANY APPLICATION ROLE", "ALTER ANY DATABASE DDL TRIGGER", "ALTER ANY ROLE",
        "ALTER ANY SCHEMA", "ALTER ANY USER", "BACKUP DATABASE", "BACKUP LOG", "CHECKPOINT", "CONNECT", "CREATE DEFAULT",
        "CREATE FUNCTION", "CREATE PROCEDURE", "CREATE SCHEMA", "CREATE SYNONYM", "CREATE TABLE", "CREATE TYPE",
        "CREATE VIEW", "DELETE", "EXECUTE", "INSERT", "REFERENCES", "SELECT", "UPDATE", "VIEW DEFINITION",
    )  # fmt: skip


def test_elevated_and_ci_only_sets() -> None:
    assert {"db_owner", "db_securityadmin", "db_accessadmin"} == ELEVATED_ROLES
    assert {"db_ddladmin"} == CI_ONLY_ROLES
    assert {"CONTROL", "ALTER ANY USER", "ALTER ANY ROLE", "TAKE OWNERSHIP", "IMPERSONATE"} == ELEVATED_PERMISSIONS


def test_effective_permissions_always_connect_sorted_with_control_first() -> None:
    assert effective_permissions([], []) == ["CONNECT"]
    assert effective_permissions(["db_datareader", "db_datawriter"], ["execute"]) == [
        "CONNECT", "DELETE", "EXECUTE", "INSERT", "SELECT", "UPDATE",
    ]  # fmt: skip
    assert effective_permissions(["no_such_role"], []) == ["CONNECT"]
    owner = effective_permissions(["db_owner"], [])
    assert owner[0] == "CONTROL" and owner[1:] == sorted(owner[1:]) and "CONNECT" in owner
    assert effective_permissions([], ["control", "alter"]) == ["CONTROL", "ALTER", "CONNECT"]

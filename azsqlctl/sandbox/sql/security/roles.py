"""Azure SQL Database's fixed database roles, their principal ids and the database permissions each implies.

Source: "Database-level roles" (https://learn.microsoft.com/en-us/sql/relational-databases/security/authentication-access/database-level-roles),
its "Fixed-database role permissions" chart, and sys.database_principals as Azure SQL Database returns it
(fixed roles are principal ids 16384-16393; 16388 is unused). Only the permissions the sandbox answers
(fn_my_permissions, permission checks) are listed; db_owner holds CONTROL, which implies every one.
"""

from __future__ import annotations

from types import MappingProxyType

FIXED_ROLE_IDS = MappingProxyType(
    {
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
)

# The chart's rows, role by role (database-scope permissions; db_denydata* hold none, they DENY).
_CHART: dict[str, frozenset[str]] = {
    "public": frozenset(),
    "db_accessadmin": frozenset({"ALTER ANY USER", "CREATE SCHEMA", "CONNECT"}),
    "db_backupoperator": frozenset({"BACKUP DATABASE", "BACKUP LOG", "CHECKPOINT"}),
    "db_datareader": frozenset({"SELECT"}),
    "db_datawriter": frozenset({"DELETE", "INSERT", "UPDATE"}),
    "db_ddladmin": frozenset(
        {
            "ALTER ANY DATABASE DDL TRIGGER",
            "ALTER ANY SCHEMA",
            "CREATE DEFAULT",
            "CREATE FUNCTION",
            "CREATE PROCEDURE",
            "CREATE SYNONYM",
            "CREATE TABLE",
            "CREATE TYPE",
            "CREATE VIEW",
            "REFERENCES",
        }
    ),
    "db_securityadmin": frozenset({"ALTER ANY APPLICATION ROLE", "ALTER ANY ROLE", "CREATE SCHEMA", "VIEW DEFINITION"}),
    "db_denydatareader": frozenset(),
    "db_denydatawriter": frozenset(),
}
# db_owner: CONTROL on the database, which the chart shows as every permission above plus ALTER, EXECUTE, SELECT.
_CHART["db_owner"] = frozenset({"CONTROL", "ALTER", "EXECUTE", "SELECT"}.union(*_CHART.values()))
ROLE_PERMISSIONS = MappingProxyType(_CHART)

# "db_denydatareader: cannot read any data"; "db_denydatawriter: cannot add, modify, or delete any data" (same page).
ROLE_DENIES = MappingProxyType({"db_denydatareader": ("SELECT",), "db_denydatawriter": ("INSERT", "UPDATE", "DELETE")})


def database_permissions(roles: list[str], explicit: list[str]) -> list[str]:
    """What fn_my_permissions(NULL, 'DATABASE') lists for a member of ``roles`` with ``explicit`` grants.

    Every user holds CONNECT (CREATE USER grants it); CONTROL is listed first, the rest alphabetically.
    """
    held = {"CONNECT", *(p.upper() for p in explicit)}
    for role in roles:
        held |= ROLE_PERMISSIONS.get(role, frozenset())
    return sorted(held, key=lambda p: (p != "CONTROL", p))

"""Azure SQL's fixed database roles and what each implies, as data.

Used by the sandbox to answer fn_my_permissions and by the client to judge
least privilege (db_owner / CONTROL / db_ddladmin are flagged).
"""

from __future__ import annotations

FIXED_ROLE_IDS: dict[str, int] = {
    "public": 0,
    "db_datareader": 16390,
    "db_datawriter": 16391,
    "db_ddladmin": 16387,
    "db_owner": 16384,
    "db_securityadmin": 16386,
    "db_accessadmin": 16385,
    "db_backupoperator": 16389,
    "db_denydatareader": 16392,
    "db_denydatawriter": 16393,
}
# The one list of fixed roles a member can be added to (every role but public), in the order grant suggests them.
FIXED_ROLES: tuple[str, ...] = tuple(role for role in FIXED_ROLE_IDS if role != "public")

_DDL = (
    "ALTER ANY SCHEMA", "CREATE TABLE", "CREATE VIEW", "CREATE PROCEDURE", "CREATE FUNCTION",
    "CREATE TYPE", "CREATE SYNONYM", "CREATE DEFAULT", "ALTER ANY DATABASE DDL TRIGGER", "REFERENCES",
)  # fmt: skip

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "public": (),
    "db_datareader": ("SELECT",),
    "db_datawriter": ("INSERT", "UPDATE", "DELETE"),
    "db_ddladmin": _DDL,
    "db_securityadmin": ("ALTER ANY ROLE", "ALTER ANY APPLICATION ROLE", "CREATE SCHEMA", "VIEW DEFINITION"),
    "db_accessadmin": ("ALTER ANY USER", "CONNECT", "CREATE SCHEMA"),
    "db_backupoperator": ("BACKUP DATABASE", "BACKUP LOG", "CHECKPOINT"),
    "db_denydatareader": (),
    "db_denydatawriter": (),
}
ROLE_PERMISSIONS["db_owner"] = (
    "CONTROL",
    *tuple(sorted({p for perms in ROLE_PERMISSIONS.values() for p in perms} | {"ALTER", "EXECUTE", "SELECT"})),
)

# The one elevated list. Roles no application identity should hold: grant refuses them without
# --allow-elevated, whoami and doctor flag them.
ELEVATED_ROLES = frozenset({"db_owner", "db_securityadmin", "db_accessadmin"})
# Schema changes belong to the CI identity that runs migrations (grant's `migrator` preset): grant warns,
# whoami and doctor flag it on an application.
CI_ONLY_ROLES = frozenset({"db_ddladmin"})
ELEVATED_PERMISSIONS = frozenset({"CONTROL", "ALTER ANY USER", "ALTER ANY ROLE", "TAKE OWNERSHIP", "IMPERSONATE"})


def effective_permissions(roles: list[str], explicit: list[str]) -> list[str]:
    """Database-scope permissions a member of ``roles`` with ``explicit`` grants holds."""
    perms = {"CONNECT"} | {p.upper() for p in explicit}
    for role in roles:
        perms.update(ROLE_PERMISSIONS.get(role, ()))
    ordered = sorted(perms)
    if "CONTROL" in perms:
        ordered.remove("CONTROL")
        ordered.insert(0, "CONTROL")
    return ordered

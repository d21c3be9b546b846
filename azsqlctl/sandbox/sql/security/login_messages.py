"""What Azure SQL's gateway and engine say when they refuse a login, as the sandbox renders it.

Texts, numbers and severities from "Troubleshooting connectivity issues and other errors with Azure SQL
Database" and "Database engine errors" (https://learn.microsoft.com/en-us/azure/azure-sql/database/troubleshoot-common-errors-issues,
https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/database-engine-events-and-errors),
with the live 47073 text as clients report it (azuredatastudio#18198). Written out here, not imported from
azsqlctl.core.azure_errors: tests/unit/test_sandbox_rules.py compares the two tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ServerMessage:
    number: int
    severity: int
    template: str

    def render(self, **fields: str) -> str:
        return self.template.format(**fields)


TOKEN_PRINCIPAL = "<token-identified principal>"  # noqa: S105 - how Azure names a token login in 18456, not a secret
NOT_CONFIGURED_SUFFIX = " The server is not currently configured to accept this token."
CLIENT_STATE = 1  # Azure shows clients state 1; the detailed state goes to the audit log only

_FIREWALL = (
    "Cannot open server '{server}' requested by the login. Client with IP address '{ip}' is not allowed to access the server.  "
    "To enable access, use the SQL Database Portal or run sp_set_firewall_rule on the master database to create a firewall "
    "rule for this IP address or address range.  It may take up to five minutes for this change to take effect."
)
_DENY_PUBLIC = (
    "Reason: An instance-specific error occurred while establishing a connection to SQL Server. Connection was denied since "
    "Deny Public Network Access is set to Yes (https://docs.microsoft.com/azure/azure-sql/database/connectivity-settings"
    "#deny-public-network-access). To connect to this server, use the Private Endpoint from inside your virtual network "
    "(https://docs.microsoft.com/azure/sql-database/sql-database-private-endpoint-overview#how-to-set-up-private-link-for-azure-sql-database)."
)
_UNAVAILABLE = (
    "Database '{database}' on server '{server}' is not currently available.  Please retry the connection later.  If the "
    "problem persists, contact customer support, and provide them the session tracing ID of '{trace}'."
)

LOGIN_FAILED = ServerMessage(18456, 14, "Login failed for user '{user}'.{suffix}")
CANNOT_OPEN_DATABASE = ServerMessage(4060, 11, 'Cannot open database "{database}" requested by the login. The login failed.')
FIREWALL_DENIED = ServerMessage(40615, 16, _FIREWALL)
PUBLIC_ACCESS_DENIED = ServerMessage(47073, 14, _DENY_PUBLIC)
CANNOT_OPEN_SERVER = ServerMessage(40532, 11, 'Cannot open server "{server}" requested by the login. The login failed.')
DATABASE_UNAVAILABLE = ServerMessage(40613, 17, _UNAVAILABLE)
INVALID_TLS_VERSION = ServerMessage(47072, 16, "Login failed with invalid TLS version")
SERVICE_ERROR = ServerMessage(
    40197, 17, "The service has encountered an error processing your request. Please try again. Error code {code}."
)
SERVICE_BUSY = ServerMessage(
    40501, 20, "The service is currently busy. Retry the request after 10 seconds. Incident ID: {incident}. Code: {code}."
)
PRINCIPAL_NOT_RESOLVED = ServerMessage(33134, 16, "Principal '{principal}' could not be resolved. Error message: '{reason}'")
SERVER_IDENTITY_MISSING = (
    'Server identity is not configured. Please follow the steps in "Assign an Azure AD identity to your server and add '
    'Directory Reader permission to your identity" (https://aka.ms/sqlaadsetup)'
)

BY_NUMBER = MappingProxyType(
    {
        m.number: m
        for m in (LOGIN_FAILED, CANNOT_OPEN_DATABASE, FIREWALL_DENIED, PUBLIC_ACCESS_DENIED, CANNOT_OPEN_SERVER,
                  DATABASE_UNAVAILABLE, INVALID_TLS_VERSION, SERVICE_ERROR, SERVICE_BUSY, PRINCIPAL_NOT_RESOLVED)
    }
)  # fmt: skip

# Why a token login was refused -> (error number, audit state, whether the "not configured" suffix follows).
# Microsoft publishes no finer map than "states 102-111 and 132-133 are Entra failures" (sql-docs, MSSQLSERVER_18456):
# the states are the sandbox's choice inside that range, except 38 (database not found), which sql-docs documents.
LOGIN_REJECTIONS = MappingProxyType(
    {
        "malformed": (18456, 133, False),
        "bad_signature": (18456, 102, False),
        "wrong_audience": (18456, 103, False),
        "expired": (18456, 104, False),
        "not_yet_valid": (18456, 104, False),
        "wrong_tenant": (18456, 105, True),
        "no_user": (18456, 132, False),
        "no_entra_admin": (18456, 106, True),
        "database_missing": (4060, 38, False),
        "no_token": (18456, 107, False),
    }
)

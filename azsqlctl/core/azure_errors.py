"""Azure SQL's server messages for token logins, as data.

One table serves both sides: the sandbox renders these texts when it refuses a
login, and the client side (doctor, logs) matches and explains them. Texts are
Microsoft's templates (sql-docs / azure-docs error tables) with ``{}`` fields.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerMessage:
    number: int
    severity: int
    template: str

    def render(self, **fields: str) -> str:
        return self.template.format(**fields)


TOKEN_PRINCIPAL = "<token-identified principal>"  # noqa: S105 - a display name, not a secret
NOT_CONFIGURED_SUFFIX = " The server is not currently configured to accept this token."

LOGIN_FAILED = ServerMessage(18456, 14, "Login failed for user '{user}'.{suffix}")
CANNOT_OPEN_DATABASE = ServerMessage(4060, 11, 'Cannot open database "{database}" requested by the login. The login failed.')
FIREWALL_DENIED = ServerMessage(
    40615,
    16,  # azure-docs sql-database-develop-error-messages: severity 16
    "Cannot open server '{server}' requested by the login. Client with IP address '{ip}' is not allowed to access "
    "the server.  To enable access, use the SQL Database Portal or run sp_set_firewall_rule on the master database "
    "to create a firewall rule for this IP address or address range.  It may take up to five minutes for this "
    "change to take effect.",
)
PUBLIC_ACCESS_DENIED = ServerMessage(
    47073,
    14,
    # The live text (azuredatastudio#18198, EntityFramework6PowerTools#146) starts with "Reason: ".
    "Reason: An instance-specific error occurred while establishing a connection to SQL Server. Connection was denied since "
    "Deny Public Network Access is set to Yes "
    "(https://docs.microsoft.com/azure/azure-sql/database/connectivity-settings#deny-public-network-access). "
    "To connect to this server, use the Private Endpoint from inside your virtual network "
    "(https://docs.microsoft.com/azure/sql-database/sql-database-private-endpoint-overview"
    "#how-to-set-up-private-link-for-azure-sql-database).",
)
CANNOT_OPEN_SERVER = ServerMessage(40532, 11, 'Cannot open server "{server}" requested by the login. The login failed.')
DATABASE_UNAVAILABLE = ServerMessage(
    40613,
    17,
    "Database '{database}' on server '{server}' is not currently available.  Please retry the connection later.  "
    "If the problem persists, contact customer support, and provide them the session tracing ID of '{trace}'.",
)
INVALID_TLS_VERSION = ServerMessage(47072, 16, "Login failed with invalid TLS version")
SERVICE_ERROR = ServerMessage(
    40197, 17, "The service has encountered an error processing your request. Please try again. Error code {code}."
)
SERVICE_BUSY = ServerMessage(
    40501, 20, "The service is currently busy. Retry the request after 10 seconds. Incident ID: {incident}. Code: {code}."
)
PRINCIPAL_NOT_RESOLVED = ServerMessage(33134, 16, "Principal '{principal}' could not be resolved. Error message: '{reason}'")
SERVER_IDENTITY_MISSING = (
    'Server identity is not configured. Please follow the steps in "Assign an Azure AD identity to your server and '
    'add Directory Reader permission to your identity" (https://aka.ms/sqlaadsetup)'
)

BY_NUMBER: dict[int, ServerMessage] = {
    m.number: m
    for m in (
        LOGIN_FAILED,
        CANNOT_OPEN_DATABASE,
        FIREWALL_DENIED,
        PUBLIC_ACCESS_DENIED,
        CANNOT_OPEN_SERVER,
        DATABASE_UNAVAILABLE,
        INVALID_TLS_VERSION,
        SERVICE_ERROR,
        SERVICE_BUSY,
        PRINCIPAL_NOT_RESOLVED,
    )
}

# Why a token login was refused -> (error number, audit state, message suffix).
# Azure shows clients state 1 and records the detailed state in its audit log;
# Microsoft publishes no finer map than "102-111 and 132-133 are Entra failures",
# so the states below are the sandbox's own choice inside that range, except the
# SQL-auth states that sql-docs does document (38/40: database not found).
LOGIN_REJECTIONS: dict[str, tuple[int, int, bool]] = {
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
CLIENT_STATE = 1

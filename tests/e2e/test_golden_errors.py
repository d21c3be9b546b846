"""Golden error texts: what the sandbox sends to a real client, pinned to Microsoft's words.

The expected strings below are copied by hand from Microsoft's documentation and from
real clients' output quoted in public issues (sources beside each one; the project keeps
them in shared/reference/azure/error_messages.json, which tests must not read). They are
deliberately NOT imported from ``azsqlctl.core.azure_errors``: the sandbox renders its
refusals from that table and doctor matches against it, so a wrong text there would stay
green if the tests shared it. Here a wrong text fails.

ODBC Driver 17 samples are compared with the driver name changed to 18 (the sandbox is
exercised with Driver 18); that is the only transformation applied to a golden text.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from azsqlctl.core import azure_errors as ae
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import Identity
from tests.conftest import raw_connect, token_struct

# ('28000', ...) as pyodbc raised it: azure-sdk-for-python#29336 (Driver 17, Azure Functions -> Azure SQL).
GOLDEN_NO_USER = (
    "28000",
    "[28000] [Microsoft][ODBC Driver 17 for SQL Server][SQL Server]Login failed for user '<token-identified principal>'. (18456) (SQLDriverConnect)",
)
# pyodbc#228 / azure-sdk-for-python#29336: a token the server cannot parse.
GOLDEN_EMPTY_USER = (
    "28000",
    "[28000] [Microsoft][ODBC Driver 17 for SQL Server][SQL Server]Login failed for user ''. (18456) (SQLDriverConnect)",
)
# pyodbc-mssql-lambda-layer#4: SQL authentication refused, pyodbc + ODBC Driver 18 (the driver text is the same for Azure).
GOLDEN_SQL_AUTH = (
    "28000",
    "[28000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login failed for user 'admin'. (18456) (SQLDriverConnect)",
)
# azuredatastudio#21422 (same server text with Driver 18 in azure-sdk-for-python#45216).
GOLDEN_NOT_CONFIGURED = "Login failed for user '<token-identified principal>'. The server is not currently configured to accept this token."
# azure-docs sql-database-develop-error-messages.md, 40615, severity 16 ({0} server, {1} IP; double spaces verbatim).
GOLDEN_40615 = (
    "Cannot open server '{0}' requested by the login. Client with IP address '{1}' is not allowed to access the server.  "
    "To enable access, use the SQL Database Portal or run sp_set_firewall_rule on the master database to create a firewall "
    "rule for this IP address or address range.  It may take up to five minutes for this change to take effect."
)
# azuredatastudio#18198 (Microsoft.Data.SqlClient's rendering of the server's 47073 text).
GOLDEN_47073 = (
    "Reason: An instance-specific error occurred while establishing a connection to SQL Server. Connection was denied since "
    "Deny Public Network Access is set to Yes (https://docs.microsoft.com/azure/azure-sql/database/connectivity-settings"
    "#deny-public-network-access). To connect to this server, use the Private Endpoint from inside your virtual network "
    "(https://docs.microsoft.com/azure/sql-database/sql-database-private-endpoint-overview#how-to-set-up-private-link-for-azure-sql-database)."
)
# azure-docs error table, 40532, severity 11 ("%.*ls" = the server name).
GOLDEN_40532 = 'Cannot open server "%.*ls" requested by the login. The login failed.'
# sql-docs (PowerShell sample): 33134 when the server has no identity to read Entra with.
GOLDEN_33134 = (
    "Principal 'myapp' could not be resolved. Error message: 'Server identity is not configured. Please follow the steps in "
    '"Assign an Azure AD identity to your server and add Directory Reader permission to your identity" (https://aka.ms/sqlaadsetup)\''
)
# sql-docs error tables: 33131 and 15023, severity 16 (%ls / %s = the principal name).
GOLDEN_33131 = (
    "Principal '%ls' has a duplicate display name. Make the display name unique in Azure Active Directory and execute this statement again."
)
GOLDEN_15023 = "User, group, or role '%s' already exists in the current database."
# Entra via azure-identity (the token endpoint): an unknown resource. IDs redacted in the source ('***').
GOLDEN_AADSTS500011 = (
    "AADSTS500011: The resource principal named 'https://database.windows.net/' was not found in the tenant named ***. "
    "This can happen if the application has not been installed by the administrator of the tenant or consented to by any "
    "user in the tenant. You might have sent your authentication request to the wrong tenant."
)


def driver18(text: str) -> str:
    return text.replace("ODBC Driver 17 for SQL Server", "ODBC Driver 18 for SQL Server")


def login_error(sandbox: Sandbox, token: str | None, **kwargs: Any) -> tuple[str, str]:
    import pyodbc

    with pytest.raises(pyodbc.Error) as info:
        raw_connect(sandbox, token, **kwargs)
    return str(info.value.args[0]), str(info.value.args[1])


def statement_error(sandbox: Sandbox, sql: str) -> str:
    import pyodbc

    conn = raw_connect(sandbox, sandbox.issue_token("sandbox-operator"))
    try:
        with pytest.raises(pyodbc.Error) as info:
            conn.cursor().execute(sql)
    finally:
        conn.close()
    return str(info.value.args[1])


def server_text(odbc_message: str, number: int, call: str) -> str:
    """The server's own text out of a driver diagnostic: after [SQL Server], before ' (number) (call)'."""
    prefix = "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]"
    assert prefix in odbc_message, odbc_message
    body = odbc_message.split(prefix, 1)[1]
    suffix = f" ({number}) ({call})"
    assert body.endswith(suffix), odbc_message
    return body[: -len(suffix)]


def test_no_matching_user_is_the_observed_pyodbc_error(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    assert login_error(sandbox, sandbox.issue_token("billing-worker")) == tuple(map(driver18, GOLDEN_NO_USER))


def test_a_garbage_token_is_the_observed_empty_user_error(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    assert login_error(sandbox, None, struct_bytes=token_struct("garbage, not a JWT")) == tuple(map(driver18, GOLDEN_EMPTY_USER))


def test_sql_authentication_refused_is_the_observed_driver_18_error(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.server.entra_only = False  # SQL logins allowed, but the sandbox has no SQL logins
    assert login_error(sandbox, None, extra="UID=admin;PWD=not-the-password;") == GOLDEN_SQL_AUTH


def test_a_token_from_another_tenant_is_not_configured(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    token = sandbox.issue_token("orders-api", tid=str(uuid.uuid4()))
    state, message = login_error(sandbox, token)
    assert state == "28000"
    assert server_text(message, 18456, "SQLDriverConnect") == GOLDEN_NOT_CONFIGURED


def test_firewall_text(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.server.firewall_rules = []
    _state, message = login_error(sandbox, sandbox.issue_token("orders-api"))
    expected = GOLDEN_40615.replace("{0}", "sandbox-sql").replace("{1}", "127.0.0.1")
    assert server_text(message.split("; ")[0], 40615, "SQLDriverConnect") == expected


def test_public_network_access_denied_text(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.server.public_network_access = "Disabled"
    _state, message = login_error(sandbox, sandbox.issue_token("orders-api"))
    # ODBC Driver 18 keeps 512 characters of a diagnostic, its "[Microsoft]...[SQL Server]" prefix
    # included, so a real client sees this text cut after "private-l" too; the full text is pinned below.
    first = message.split("; ")[0]
    prefix = "[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]"
    assert first.startswith(prefix) and first.endswith(" (47073) (SQLDriverConnect)"), first
    assert (
        first[len(prefix) : -len(" (47073) (SQLDriverConnect)")]
        == GOLDEN_47073[: 512 - len("[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]")]
    )


def test_vnet_rule_missing_text(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.server.vnet_rule_missing = True
    _state, message = login_error(sandbox, sandbox.issue_token("orders-api"))
    assert server_text(message.split("; ")[0], 40532, "SQLDriverConnect") == GOLDEN_40532.replace("%.*ls", "sandbox-sql")


def test_server_identity_missing_text(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        s.server.identity = ""
        s.identities.append(Identity("myapp", "service_principal", str(uuid.uuid4()), str(uuid.uuid4())))
    message = statement_error(sandbox, "CREATE USER [myapp] FROM EXTERNAL PROVIDER")
    assert server_text(message, 33134, "SQLExecDirectW") == GOLDEN_33134


def test_duplicate_display_name_text(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    with sandbox.store.mutate() as s:
        for _ in range(2):
            s.identities.append(Identity("twin-app", "service_principal", str(uuid.uuid4()), str(uuid.uuid4())))
    message = statement_error(sandbox, "CREATE USER [twin-app] FROM EXTERNAL PROVIDER")
    assert server_text(message, 33131, "SQLExecDirectW") == GOLDEN_33131.replace("%ls", "twin-app")


def test_user_already_exists_text(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    sid = "0x" + uuid.uuid4().bytes_le.hex().upper()
    message = statement_error(sandbox, f"CREATE USER [orders-api] WITH SID = {sid}, TYPE = E")
    assert server_text(message, 15023, "SQLExecDirectW") == GOLDEN_15023.replace("%s", "orders-api")


def test_unknown_resource_through_azure_identity(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    """The token endpoint refuses a resource the tenant does not know with Entra's text."""
    import json
    import urllib.error
    import urllib.request

    url = f"{client_env['IDENTITY_ENDPOINT']}?api-version=2019-08-01&resource=https://database.windows.net/x/"
    request = urllib.request.Request(url, headers={"X-IDENTITY-HEADER": client_env["IDENTITY_HEADER"]})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    body = json.loads(info.value.read())
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    expected = GOLDEN_AADSTS500011.replace("https://database.windows.net/", "https://database.windows.net/x/").replace("***", tenant)
    assert (info.value.code, body["error"], body["error_description"]) == (400, "invalid_resource", expected)


def test_the_message_table_matches_microsofts_numbers_and_severities() -> None:
    """What azure_errors renders (for doctor and the sandbox), number and severity included."""
    assert (ae.LOGIN_FAILED.number, ae.LOGIN_FAILED.severity) == (18456, 14)
    assert (
        ae.LOGIN_FAILED.render(user="<token-identified principal>", suffix="")
        == driver18(GOLDEN_NO_USER[1]).split("[SQL Server]")[1].split(" (18456)")[0]
    )
    assert ae.LOGIN_FAILED.render(user="<token-identified principal>", suffix=ae.NOT_CONFIGURED_SUFFIX) == GOLDEN_NOT_CONFIGURED
    assert (ae.FIREWALL_DENIED.number, ae.FIREWALL_DENIED.severity) == (40615, 16)
    assert ae.FIREWALL_DENIED.render(server="{0}", ip="{1}") == GOLDEN_40615
    assert (ae.CANNOT_OPEN_SERVER.number, ae.CANNOT_OPEN_SERVER.severity) == (40532, 11)
    assert ae.CANNOT_OPEN_SERVER.render(server="%.*ls") == GOLDEN_40532
    assert ae.PUBLIC_ACCESS_DENIED.render() == GOLDEN_47073
    assert (ae.PRINCIPAL_NOT_RESOLVED.number, ae.PRINCIPAL_NOT_RESOLVED.severity) == (33134, 16)
    assert ae.PRINCIPAL_NOT_RESOLVED.render(principal="myapp", reason=ae.SERVER_IDENTITY_MISSING) == GOLDEN_33134
    assert ae.INVALID_TLS_VERSION.render() == "Login failed with invalid TLS version"  # sql-docs connectivity-settings.md, Error 47072

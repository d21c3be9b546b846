"""core/azure_errors.py: Azure SQL's login messages as users see them (the sandbox renders, doctor and logs match)."""

from __future__ import annotations

from azsqlctl.core import azure_errors as ae


def test_each_message_renders_microsofts_text_with_its_number_and_severity() -> None:
    assert (ae.LOGIN_FAILED.number, ae.LOGIN_FAILED.severity) == (18456, 14)
    assert ae.LOGIN_FAILED.render(user=ae.TOKEN_PRINCIPAL, suffix=ae.NOT_CONFIGURED_SUFFIX) == (
        "Login failed for user '<token-identified principal>'. The server is not currently configured to accept this token."
    )
    assert ae.CANNOT_OPEN_DATABASE.render(database="appdb") == 'Cannot open database "appdb" requested by the login. The login failed.'
    assert ae.FIREWALL_DENIED.render(server="srv", ip="203.0.113.9") == (
        "Cannot open server 'srv' requested by the login. Client with IP address '203.0.113.9' is not allowed to access "
        "the server.  To enable access, use the SQL Database Portal or run sp_set_firewall_rule on the master database "
        "to create a firewall rule for this IP address or address range.  It may take up to five minutes for this "
        "change to take effect."
    )
    assert ae.PUBLIC_ACCESS_DENIED.render().startswith(
        "Reason: An instance-specific error occurred while establishing a connection to SQL Server. Connection was denied "
        "since Deny Public Network Access is set to Yes (https://docs.microsoft.com/azure/azure-sql/database/"
        "connectivity-settings#deny-public-network-access). To connect to this server, use the Private Endpoint"
    )
    assert ae.CANNOT_OPEN_SERVER.render(server="srv") == 'Cannot open server "srv" requested by the login. The login failed.'
    assert ae.DATABASE_UNAVAILABLE.render(database="d", server="s", trace="T") == (
        "Database 'd' on server 's' is not currently available.  Please retry the connection later.  "
        "If the problem persists, contact customer support, and provide them the session tracing ID of 'T'."
    )
    assert ae.INVALID_TLS_VERSION.render() == "Login failed with invalid TLS version"
    assert ae.SERVICE_ERROR.render(code="1") == (
        "The service has encountered an error processing your request. Please try again. Error code 1."
    )
    assert ae.SERVICE_BUSY.render(incident="I", code="C") == (
        "The service is currently busy. Retry the request after 10 seconds. Incident ID: I. Code: C."
    )
    assert ae.PRINCIPAL_NOT_RESOLVED.render(principal="p", reason="r") == "Principal 'p' could not be resolved. Error message: 'r'"
    assert ae.SERVER_IDENTITY_MISSING.startswith('Server identity is not configured. Please follow the steps in "Assign')
    assert ae.SERVER_IDENTITY_MISSING.endswith("(https://aka.ms/sqlaadsetup)")


def test_numbers_and_severities_index_every_message() -> None:
    assert {n: m.severity for n, m in ae.BY_NUMBER.items()} == {
        18456: 14, 4060: 11, 40615: 16, 47073: 14, 40532: 11, 40613: 17, 47072: 16, 40197: 17, 40501: 20, 33134: 16,
    }  # fmt: skip
    assert all(ae.BY_NUMBER[m.number] is m for m in ae.BY_NUMBER.values())


def test_login_rejections_by_reason() -> None:
    assert ae.LOGIN_REJECTIONS == {
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
    assert ae.CLIENT_STATE == 1

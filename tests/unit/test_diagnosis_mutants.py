"""core/diagnosis.py: every row of the login/connection tables as users read it, and how the context picks the
explanation of a failed token login (pure logic, texts written out as shipped)."""

from __future__ import annotations

import pytest

from azsqlctl.core import diagnosis as dg
from azsqlctl.core.diagnosis import EntraFailure, LoginContext
from azsqlctl.core.errors import AuthenticationError, AzsqlctlError, ConnectionFailed, NotFound, PermissionDenied, UsageError
from azsqlctl.core.identity import TokenIdentity, sid_bytes

APP = "3df2c823-e175-47f3-b35a-63b70bc7f673"
OID = "8f0b4f1e-2a3c-4d5e-9f10-abcdef012345"
APP_SID_HEX = "0x23C8F23D75E1F347B35A63B70BC7F673"
AN_APP = TokenIdentity("t1", OID, APP, "app", "", "https://database.windows.net/", 0)
A_USER = TokenIdentity("t1", OID, "", "user", "ann@contoso.com", "https://database.windows.net/", 0)

# fmt: off
TABLE_AS_TYPED = {
    '18456': (AuthenticationError, 'the token was refused, or no database user matches this identity', 'create the user with the right SID in the target database (azsqlctl grant), and connect to that database, not master'),
    'FA005': (AuthenticationError, 'an access token was combined with UID/PWD/Authentication/Trusted_Connection', 'remove those keywords from the connection string; the token alone authenticates'),
    '40615': (ConnectionFailed, 'the server firewall does not allow this client address', 'az sql server firewall-rule create --server {server} --name allow-{ip_dashed} --start-ip-address {ip} --end-ip-address {ip} (with --resource-group)'),
    '47073': (ConnectionFailed, 'public network access is disabled on the server', "connect through the server's private endpoint, or enable public network access"),
    '40532': (ConnectionFailed, "the gateway refused the login before authentication: the client subnet has a Microsoft.Sql service endpoint but the server has no VNet rule for it (or the login name holds '@')", 'az sql server vnet-rule create --server {server} --name allow-subnet --subnet <subnet-id> (with --resource-group)'),
    '4060': (NotFound, 'the database does not exist or this login cannot open it', 'check --database; contained users exist only in their own database'),
    '40613': (ConnectionFailed, 'the database is temporarily unavailable (transient)', 'retry with exponential backoff, 5 s up to 60 s'),
    '40197': (ConnectionFailed, 'the service hit an error processing the request (transient)', 'retry with exponential backoff, 5 s up to 60 s'),
    '40501': (ConnectionFailed, 'the service is busy (transient)', 'retry after 10 s or more'),
    '33134': (PermissionDenied, "the server's identity cannot read the directory", 'create the user WITH SID (azsqlctl grant --sid-mode), or grant the server identity Directory Readers'),
    '37353': (PermissionDenied, "the server's identity cannot read the directory", 'create the user WITH SID (azsqlctl grant --sid-mode), or grant the server identity Directory Readers'),
    '33131': (UsageError, 'two directory objects share this display name', 'name the exact object: --object-id GUID (CREATE USER ... WITH OBJECT_ID), or --sid-mode'),
    '33130': (NotFound, 'the directory has no principal with this display name', "check the name (a managed identity's name is its resource name), or use --sid-mode with the client id"),
    '37545': (NotFound, 'the object id is not in the directory (tenant) the server reads', "check it: az ad sp show --id GUID (an app or managed identity), az ad user show --id GUID (a user), az ad group show --group GUID (a group), in the server's tenant; or name a managed identity with --identity-resource ARM_ID"),
    '15247': (PermissionDenied, 'the signed-in identity may not create users or change roles', "run grant as the server's Entra admin, or as a member of db_accessadmin and db_securityadmin"),
    '15151': (NotFound, 'a principal, role or schema named in the statement does not exist (or is not visible)', 'create the schema/role first, or fix the name'),
    '15023': (UsageError, 'a user, group or role with this name already exists', 'pick another name, or drop the old principal'),
    '15063': (UsageError, 'another user already has this SID', 'the identity is already a user under another name: grant that user'),
    'DNS': (ConnectionFailed, 'the server name does not resolve', "check the server name (myserver.database.windows.net) and this machine's DNS (private endpoints need the privatelink zone)"),
    'TCP': (ConnectionFailed, "nothing answers on the server's port", 'check the port (1433), outbound firewalls/NSGs, and the server name'),
    'HYT00': (ConnectionFailed, 'the login timed out', "check the network path and the redirect ports 11000-11999 outbound, then raise --timeout; with Authentication=ActiveDirectoryServicePrincipal the driver also times out when Entra refuses the secret: run azsqlctl doctor --auth environment with AZURE_CLIENT_ID=<UID>, AZURE_CLIENT_SECRET=<PWD>, AZURE_TENANT_ID=<tenant> to see Entra's answer (AADSTS code) for the same credentials"),
    '08001': (ConnectionFailed, 'the driver could not establish a session (DNS, TCP or TLS)', 'check the server name and port, the network path, and the TLS trust (--ca-bundle for private CAs)'),
    '08S01': (ConnectionFailed, 'the connection broke during the exchange', 'retry; if it persists, check proxies/firewalls that inspect TLS'),
}
STATES_AS_TYPED = {
    (18456, 1, 1): ('18456/1', AuthenticationError, 'the server hid the reason (state 1 is what clients always see)', 'read the real state from the audit log: azsqlctl logs --principal <name>'),
    (18456, 2, 2): ('18456/2', AuthenticationError, 'the login name does not exist (user ID is not valid); many of these from one address is password guessing', 'check the user name; for Entra identities connect with a token, not a SQL login; contained users must name their database (Initial Catalog)'),
    (18456, 5, 5): ('18456/5', AuthenticationError, 'the login name does not exist (user ID is not valid); many of these from one address is password guessing', 'check the user name; for Entra identities connect with a token, not a SQL login; contained users must name their database (Initial Catalog)'),
    (18456, 6, 6): ('18456/6', AuthenticationError, 'a Windows login name was used with SQL authentication', 'use Entra authentication (a token) for this identity'),
    (18456, 7, 7): ('18456/7', AuthenticationError, 'the login is disabled (and the password was wrong)', 'ALTER LOGIN [<name>] ENABLE in master, and check the password'),
    (18456, 8, 8): ('18456/8', AuthenticationError, 'the password is incorrect; many of these from one address is password guessing', 'check the password (rotated secret, stale connection string), or move the app to Entra authentication (azsqlctl grant)'),
    (18456, 9, 9): ('18456/9', AuthenticationError, 'the password is not valid', 'check the password, or move the app to Entra authentication (azsqlctl grant)'),
    (18456, 11, 12): ('18456/11-12', PermissionDenied, 'the login is valid but server access failed', "check the login's CONNECT SQL permission and that it is not denied"),
    (18456, 18, 18): ('18456/18', AuthenticationError, 'the password must be changed', 'ALTER LOGIN [<name>] WITH PASSWORD = ... (or use Entra authentication)'),
    (18456, 38, 38): ('18456/38', NotFound, 'the database requested by the login does not exist or cannot be opened by it', 'check --database / Initial Catalog; contained users exist only in their own database'),
    (18456, 46, 46): ('18456/46', NotFound, 'the database requested by the login does not exist or cannot be opened by it', 'check --database / Initial Catalog; contained users exist only in their own database'),
    (18456, 102, 111): ('18456/entra', AuthenticationError, "Entra ID (token) authentication failed: the token was refused (wrong audience or tenant, expired, bad signature) or no database user matches the identity; Microsoft documents these states only as 'AAD failure'", "check the identity with azsqlctl doctor --client-id <client-id> (token aud https://database.windows.net/, tid = the server's Entra admin tenant, not expired), then create its user with azsqlctl grant"),
    (18456, 122, 124): ('18456/122-124', AuthenticationError, 'the user name or the password was empty', 'set both UID and PWD, or authenticate with a token and neither (attrs_before 1256)'),
    (18456, 126, 126): ('18456/126', NotFound, 'the database requested by the user does not exist', 'check --database / Initial Catalog'),
    (18456, 132, 133): ('18456/entra', AuthenticationError, "Entra ID (token) authentication failed: the token was refused (wrong audience or tenant, expired, bad signature) or no database user matches the identity; Microsoft documents these states only as 'AAD failure'", "check the identity with azsqlctl doctor --client-id <client-id> (token aud https://database.windows.net/, tid = the server's Entra admin tenant, not expired), then create its user with azsqlctl grant"),
}
# fmt: on


def test_every_error_row_is_found_by_its_number_or_sqlstate_and_reads_as_typed() -> None:
    assert len(dg.TABLE) == len(TABLE_AS_TYPED)
    for key, (kind, cause, fix) in TABLE_AS_TYPED.items():
        number = key.isdigit() and not key.startswith("0")  # "08001" is a SQLSTATE
        found = dg.lookup("", int(key)) if number else dg.lookup(key.lower(), None)
        assert found is not None, key
        assert (found.key, found.kind, found.cause, found.fix) == (key, kind, cause, fix)


def test_the_number_wins_over_the_sqlstate_and_unknown_numbers_fall_back_to_it() -> None:
    assert dg.lookup("HYT00", 4060) is dg.TABLE["4060"]
    assert dg.lookup("hyt00", 99999) is dg.TABLE["HYT00"]
    assert dg.lookup("08s01", None) is dg.TABLE["08S01"]
    assert dg.lookup("42000", 99999) is None
    assert dg.lookup("42000", None) is None


def test_fill_completes_the_firewall_and_vnet_commands() -> None:
    fw = dg.TABLE["40615"].fix
    message = "Client with IP address '203.0.113.7' is not allowed to access the server."
    assert dg.fill(fw, message, "srv", "rg1") == (
        "az sql server firewall-rule create --server srv --name allow-203-0-113-7 "
        "--start-ip-address 203.0.113.7 --end-ip-address 203.0.113.7 --resource-group rg1"
    )
    # no address in the message and no context: placeholders a reader recognises, the resource-group note kept
    assert dg.fill(fw, "denied") == (
        "az sql server firewall-rule create --server <server> --name allow-<client-ip> "
        "--start-ip-address <client-ip> --end-ip-address <client-ip> (with --resource-group)"
    )
    # an audit row knows the address (IPv6 too): it wins over the message's
    assert dg.fill(fw, message, ip="2001:db8::1") == (
        "az sql server firewall-rule create --server <server> --name allow-2001-db8--1 "
        "--start-ip-address 2001:db8::1 --end-ip-address 2001:db8::1 (with --resource-group)"
    )
    assert dg.fill(dg.TABLE["40532"].fix, "", "srv", "rg") == (
        "az sql server vnet-rule create --server srv --name allow-subnet --subnet <subnet-id> --resource-group rg"
    )


def test_classify_gives_the_kind_and_cause_then_fix() -> None:
    assert dg.classify("28000", 40613, "") == (
        ConnectionFailed,
        "the database is temporarily unavailable (transient): retry with exponential backoff, 5 s up to 60 s",
    )
    assert dg.classify("XX000", 99999, "m") == (AzsqlctlError, "rerun with --debug for the driver's full messages")


def test_login_states_by_range_with_their_bounds() -> None:
    assert len(dg.LOGIN_STATES) == len(STATES_AS_TYPED)
    for (number, first, last), (key, kind, cause, fix) in STATES_AS_TYPED.items():
        for state in {first, last}:
            found = dg.lookup_login_state(number, state)
            assert found is not None and (found.key, found.kind, found.cause, found.fix) == (key, kind, cause, fix), (first, last)
        # just outside the range is another row, or the number's own row: never this one
        for state in (first - 1, last + 1):
            assert dg.lookup_login_state(number, state) is not dg.LOGIN_STATES[(number, first, last)], state


def test_a_state_without_a_row_or_no_state_falls_back_to_the_number() -> None:
    assert dg.lookup_login_state(18456, None) is dg.TABLE["18456"]
    assert dg.lookup_login_state(18456, 3) is dg.TABLE["18456"]
    assert dg.lookup_login_state(18456, 134) is dg.TABLE["18456"]
    assert dg.lookup_login_state(4060, 1) is dg.TABLE["4060"]  # only 18456 has states of its own
    assert dg.lookup_login_state(99999, 1) is None
    assert dg.lookup_login_state(None, None) is None


def ctx(**changes: object) -> LoginContext:
    base: dict[str, object] = {
        "server": "srv.database.windows.net", "server_name": "srv", "resource_group": "rg", "database": "appdb",
        "identity": AN_APP, "identity_name": "", "token_problem": "", "admin_tenant": "", "has_admin": None, "principals": None,
    }  # fmt: skip
    base.update(changes)
    return LoginContext(**base)  # type: ignore[arg-type]


def test_grant_command_names_the_sid_and_the_target() -> None:
    assert dg.grant_command(ctx()) == (
        f"azsqlctl grant app-3df2c823 --client-id {APP} --sid-mode --role reader --server srv.database.windows.net --database appdb"
    )
    user = ctx(identity=A_USER, identity_name="ann@contoso.com", server_from_environment=True)
    assert dg.grant_command(user) == f"azsqlctl grant ann@contoso.com --object-id {OID} --type user --role reader --database appdb"


def test_create_user_sql_is_the_grant_commands_twin() -> None:
    assert dg.create_user_sql(ctx()) == (
        f"CREATE USER [app-3df2c823] WITH SID = {APP_SID_HEX}, TYPE = E; ALTER ROLE [db_datareader] ADD MEMBER [app-3df2c823];"
    )
    assert dg.create_user_sql(ctx(identity=A_USER, identity_name="ann@contoso.com")) == (
        f"CREATE USER [ann@contoso.com] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'{OID}'; "
        "ALTER ROLE [db_datareader] ADD MEMBER [ann@contoso.com];"
    )


NOT_CONFIGURED = "Login failed for user '<token-identified principal>'. The server is not currently configured to accept this token."
TOKEN_LOGIN = "Login failed for user '<token-identified principal>'."


def test_an_unreadable_token_is_told_apart_by_the_empty_user() -> None:
    cause, fix = dg.explain_login_failure(18456, "28000", "Login failed for user ''.", ctx())
    assert cause.startswith("the server could not read the token: it is not a JWT")
    assert fix == 'attrs_before={1256: struct.pack("<I", len(b)) + b} with b = token.encode("utf-16-le")'
    # the same text under another number is that number's row
    assert dg.explain_login_failure(4060, "", "Login failed for user ''.", ctx())[0] == dg.TABLE["4060"].cause


def test_not_configured_for_tokens_no_admin_other_tenant_or_unknown() -> None:
    assert dg.explain_login_failure(18456, "28000", NOT_CONFIGURED, ctx(has_admin=False)) == (
        "the server has no Entra admin, so it accepts no token",
        "az sql server ad-admin create ... (see the server check)",
    )
    assert dg.explain_login_failure(18456, "28000", NOT_CONFIGURED, ctx(has_admin=True, admin_tenant="T2")) == (
        "the token is from tenant t1, the server's Entra admin from tenant T2",
        "authenticate in tenant T2 (--tenant-id T2)",
    )
    generic = (
        "the server does not accept tokens from this tenant or has no Entra admin",
        "compare the token's tid with the server's Entra admin tenant (pass --subscription/--resource-group for the ARM check)",
    )
    assert dg.explain_login_failure(18456, "28000", NOT_CONFIGURED, ctx(has_admin=True, admin_tenant="T1")) == generic  # same, any case
    assert dg.explain_login_failure(18456, "28000", NOT_CONFIGURED, ctx(has_admin=True)) == generic  # tenant unknown
    assert dg.explain_login_failure(18456, "28000", NOT_CONFIGURED, ctx(identity=None, admin_tenant="T2")) == generic
    assert dg.explain_login_failure(18456, "28000", NOT_CONFIGURED, ctx(has_admin=None)) == generic


def test_token_problem_then_master_then_no_identity() -> None:
    assert dg.explain_login_failure(18456, "28000", TOKEN_LOGIN, ctx(token_problem="the token expired")) == (
        "the token was refused: the token expired",
        "fix the token problem above",
    )
    assert dg.explain_login_failure(18456, "28000", TOKEN_LOGIN, ctx(database="Master")) == (
        "contained database users exist only in their own database; only the Entra admin can log in to master",
        "pass --database <your database>",
    )
    assert dg.explain_login_failure(18456, "28000", TOKEN_LOGIN, ctx(identity=None)) == (
        "no database user matches this identity",
        "create the user (azsqlctl grant)",
    )


def test_an_app_user_created_with_its_object_id_is_named() -> None:
    principals = [{"name": "other", "sid": b"\x01"}, {"name": "orders-api", "sid": sid_bytes(OID)}]
    cause, fix = dg.explain_login_failure(18456, "28000", TOKEN_LOGIN, ctx(principals=principals, identity_name="orders-api"))
    assert cause == (
        f"user [orders-api] exists but was created with the object id {OID}; apps and managed identities match by client id {APP}"
    )
    assert (
        fix
        == f"DROP USER [orders-api]; then azsqlctl grant orders-api --client-id {APP} --role reader --server srv.database.windows.net --database appdb"
    )
    # a user's SID is its object id: the same row is its own user, not a wrong one
    user = ctx(identity=A_USER, identity_name="", principals=principals)
    assert "exists but was created with the object id" not in dg.explain_login_failure(18456, "28000", TOKEN_LOGIN, user)[0]


def test_a_stale_sid_under_the_same_name_is_named() -> None:
    principals = [{"name": "Orders-API", "sid": b"\xab\xcd"}]
    cause, fix = dg.explain_login_failure(18456, "28000", TOKEN_LOGIN, ctx(principals=principals, identity_name="orders-api"))
    assert cause == (f"user [orders-api] exists with SID 0xABCD but this identity's SID is {APP_SID_HEX} (identity recreated: stale SID)")
    assert fix.startswith("DROP USER [orders-api]; then azsqlctl grant orders-api --client-id")
    # a row without a binary SID, or another name, is no match
    for rows in ([{"name": "orders-api", "sid": None}], [{"name": "billing", "sid": b"\x01"}]):
        assert (
            "no user in database appdb"
            in dg.explain_login_failure(18456, "", TOKEN_LOGIN, ctx(principals=rows, identity_name="orders-api"))[0]
        )


def test_no_user_says_whether_the_principals_were_read() -> None:
    sql = f"CREATE USER [app-3df2c823] WITH SID = {APP_SID_HEX}, TYPE = E; ALTER ROLE [db_datareader] ADD MEMBER [app-3df2c823];"
    command = f"azsqlctl grant app-3df2c823 --client-id {APP} --sid-mode --role reader --server srv.database.windows.net --database appdb"
    assert dg.explain_login_failure(18456, "28000", TOKEN_LOGIN, ctx()) == (
        f"no user in database appdb has SID {APP_SID_HEX} (client id {APP}) (pass --admin-auth to tell 'no user' from 'user with the wrong SID')",
        f"{command}   # or in T-SQL: {sql}",
    )
    assert dg.explain_login_failure(18456, "28000", TOKEN_LOGIN, ctx(principals=[]))[0] == (
        f"no user in database appdb has SID {APP_SID_HEX} (client id {APP}) (checked sys.database_principals)"
    )


def test_other_failures_read_the_table_with_the_servers_context() -> None:
    message = "Client with IP address '198.51.100.4' is not allowed to access the server."
    assert dg.explain_login_failure(40615, "42000", message, ctx()) == (
        "the server firewall does not allow this client address",
        "az sql server firewall-rule create --server srv --name allow-198-51-100-4 --start-ip-address 198.51.100.4 "
        "--end-ip-address 198.51.100.4 --resource-group rg",
    )
    assert dg.explain_login_failure(None, "HYT00", "Login timeout expired", ctx())[0] == "the login timed out"
    assert dg.explain_login_failure(99999, "42000", "x", ctx()) == ("the login failed", "rerun with --debug for the driver's messages")


def test_principal_helpers_need_rows_and_a_key() -> None:
    rows = [{"name": "a", "sid": sid_bytes(OID)}]
    assert dg._principal_with_sid(rows, OID) == "a"
    assert dg._principal_with_sid(rows, "") is None
    assert dg._principal_with_sid([], OID) is None
    assert dg._principal_with_sid(None, OID) is None
    assert dg._principal_with_sid(rows, APP) is None
    assert dg._principal_named(rows, "A") == "0x" + sid_bytes(OID).hex().upper()
    assert dg._principal_named(rows, "") is None
    assert dg._principal_named([], "a") is None
    assert dg._principal_named(None, "a") is None


def test_entra_failure_as_dict_keeps_what_was_parsed() -> None:
    assert EntraFailure("AADSTS1", subject="s", thumbprint="AB").as_dict() == {"code": "AADSTS1", "subject": "s", "thumbprint": "AB"}
    assert dg.TOKEN_EXCHANGE_AUDIENCE == "api://AzureADTokenExchange"


def test_parse_reads_each_quoted_value_in_both_spellings() -> None:
    lower = dg.parse_entra_failure(
        "AADSTS70021: no match. assertion issuer 'https://i/' assertion subject 's1' assertion audience 'a1' "
        f"for identifier '{APP.upper()}'"
    )
    assert lower == EntraFailure("AADSTS70021", "https://i/", "s1", "a1", APP.upper())
    assert dg.parse_entra_failure("AADSTS90002 Tenant 'x' not found") == EntraFailure("AADSTS90002")


@pytest.mark.parametrize(
    ("subject", "issuer"),
    [
        ("repo:o/r:ref:refs/heads/main", "https://token.actions.githubusercontent.com"),
        ("system:serviceaccount:ns:sa", "<the cluster's OIDC issuer: az aks show --query oidcIssuerProfile.issuerUrl>"),
        ("sc://org/project/conn", "<the Azure DevOps issuer shown on the service connection>"),
        ("something-else", "?"),
    ],
)
def test_the_subject_implies_the_issuer(subject: str, issuer: str) -> None:
    explained = dg.explain_entra_failure(EntraFailure("AADSTS700213", subject=subject), APP)
    assert explained is not None
    assert explained[0] == f"no federated credential of app {APP} trusts the token presented: issuer '{issuer}', subject '{subject}'"


def test_federated_credential_fix_with_and_without_a_usable_audience() -> None:
    explained = dg.explain_entra_failure(EntraFailure("AADSTS70021", issuer="https://i", subject="a b//c", audience="aud1"), "")
    assert explained is not None
    cause, fix = explained
    assert (
        cause
        == "no federated credential of app <client-id> trusts the token presented: issuer 'https://i', subject 'a b//c', audience 'aud1'"
    )
    assert fix == (
        "compare the subjects configured (not in Entra's error: az ad app federated-credential list --id <client-id> --query "
        '"[].{name:name, issuer:issuer, subject:subject, audiences:audiences}"; for a user-assigned managed identity: '
        "az identity federated-credential list -g <resource-group> --identity-name <name>) with the one presented; to trust it: "
        "az ad app federated-credential create --id <client-id> --parameters "
        '\'{"name":"a-b-c","issuer":"https://i","subject":"a b//c","audiences":["aud1"]}\''
    )
    several = dg.explain_entra_failure(EntraFailure("AADSTS70021", subject="x", audience="a1,a2"), APP)
    assert several is not None and '"audiences":["api://AzureADTokenExchange"]' in several[1]
    assert '"issuer":"<issuer>","subject":"x"' in several[1]
    nothing = dg.explain_entra_failure(EntraFailure("AADSTS7002138"), APP)
    assert nothing is not None
    assert nothing[0] == (
        f"no federated credential of app {APP} trusts the token presented: issuer '?', subject '?'"
        " - a credential matches this subject only in upper/lower case (matching is case-sensitive)"
    )
    assert '"name":"subject","issuer":"<issuer>","subject":"<subject>"' in nothing[1]
    unnamed = dg.explain_entra_failure(EntraFailure("AADSTS70021", subject="::"), APP)
    assert unnamed is not None and '"name":"federated","issuer":"<issuer>","subject":"::"' in unnamed[1]
    long = dg.explain_entra_failure(EntraFailure("AADSTS70021", subject="s" * 200), APP)
    assert long is not None and f'"name":"{"s" * 120}"' in long[1]


def test_issuer_and_audience_refusals() -> None:
    assert dg.explain_entra_failure(EntraFailure("AADSTS700211", issuer="https://i"), "", "") == (
        "no federated credential of app <client-id> names the issuer 'https://i' (it must equal the token's iss exactly - a trailing '/' counts)",
        "check the issuers configured (az ad app federated-credential list --id <client-id> --query "
        '"[].{name:name, issuer:issuer, subject:subject, audiences:audiences}"); for AKS: az aks show --query oidcIssuerProfile.issuerUrl',
    )
    assert dg.explain_entra_failure(EntraFailure("AADSTS700212", audience="https://x"), APP) == (
        "the token's audience 'https://x' is not the one the federated credential expects (api://AzureADTokenExchange)",
        "request the token for the audience api://AzureADTokenExchange (azure/login's default; GitHub's own default is the owner URL)",
    )


ENTRA_AS_TYPED = {
    "AADSTS500011": (
        "the resource (token scope) does not exist in the tenant",
        "check --cloud and the SQL resource (AZSQLCTL_SQL_RESOURCE)",
    ),
    "AADSTS700016": (
        f"the application {APP} is not registered in this tenant",
        "check --client-id / AZURE_CLIENT_ID and --tenant-id / AZURE_TENANT_ID: the app must exist in the tenant you authenticate against",
    ),
    "AADSTS7000215": (
        f"the client secret sent for app {APP} is not one of its secrets (it starts 'abc')",
        "use the secret's value (not its id) in AZURE_CLIENT_SECRET, or better: workload identity federation or a managed identity",
    ),
    "AADSTS700027": (
        f"the certificate (thumbprint AB12) is not registered on app {APP}, or the assertion's signature is not its key's",
        f"register it: az ad app credential reset --id {APP} --cert @cert.pem --append; compare: az ad app credential list --id {APP} --cert",
    ),
    "AADSTS700024": (
        "the client assertion (certificate-signed or federated token) is outside its validity period",
        "check this machine's clock; a federated token file must be refreshed (projected tokens are, by the kubelet)",
    ),
    "AADSTS7000218": (
        "the request carried neither a secret nor a certificate/assertion",
        "set AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH (environment auth)",
    ),
    "AADSTS90002": ("the tenant does not exist in this cloud", "check --tenant-id / AZURE_TENANT_ID and --cloud"),
    "AADSTS90061": (
        "Entra could not fetch the token issuer's OpenID configuration or keys",
        "for self-managed Kubernetes, publish the issuer's discovery document and JWKS where the issuer URL says",
    ),
}


def test_other_entra_refusals_read_as_typed() -> None:
    for code, expected in ENTRA_AS_TYPED.items():
        assert dg.explain_entra_failure(EntraFailure(code, thumbprint="AB12"), APP, "abc") == expected, code
    no_hint = dg.explain_entra_failure(EntraFailure("AADSTS7000215"), APP)
    assert no_hint is not None and no_hint[0] == f"the client secret sent for app {APP} is not one of its secrets"
    no_print = dg.explain_entra_failure(EntraFailure("AADSTS700027"), "")
    assert no_print is not None and no_print[0].startswith("the certificate (thumbprint ?) is not registered on app <client-id>")
    # the app Entra names wins over the one azsqlctl asked for
    named = dg.explain_entra_failure(EntraFailure("AADSTS700016", client_id="other"), APP)
    assert named is not None and named[0] == "the application other is not registered in this tenant"


def test_kinds_of_the_table_rows_are_the_error_classes() -> None:
    kinds = {d.kind for d in dg.TABLE.values()}
    assert kinds == {AuthenticationError, ConnectionFailed, NotFound, PermissionDenied, UsageError}


def test_defaults_and_the_fallbacks_a_reader_sees() -> None:
    # no client id anywhere: the placeholder, never an empty name
    assert dg.explain_entra_failure(EntraFailure("AADSTS700016")) == (
        "the application <client-id> is not registered in this tenant",
        "check --client-id / AZURE_CLIENT_ID and --tenant-id / AZURE_TENANT_ID: the app must exist in the tenant you authenticate against",
    )
    expired = dg.explain_entra_failure(EntraFailure("AADSTS7000222", client_id=APP))
    assert expired is not None and expired[0] == f"the client secret of app {APP} has expired (Entra's error does not say when)"
    # an issuer refusal that printed no issuer, for a subject of no known form: the empty issuer, quoted
    unknown = dg.explain_entra_failure(EntraFailure("AADSTS700211", subject="custom"), APP)
    assert unknown is not None and unknown[0].startswith(f"no federated credential of app {APP} names the issuer '' (it must")
    # the credential's name keeps letters at its ends: only separators are trimmed
    named = dg.explain_entra_failure(EntraFailure("AADSTS70021", subject="X:deploy:X"), APP)
    assert named is not None and '"name":"X-deploy-X"' in named[1]

"""Login and connection failures: error number / SQLSTATE -> kind, cause and fix.

Data, not code paths: doctor and logs read the same table. Fix texts may hold
``{ip}``, ``{server}``, ``{database}`` placeholders that callers fill in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import AuthenticationError, AzsqlctlError, ConnectionFailed, NotFound, PermissionDenied, UsageError
from .identity import TokenIdentity, hex_sid, sid_bytes, sid_label
from .ports import row_bytes


@dataclass(frozen=True)
class Diagnosis:
    key: str  # error number or SQLSTATE
    kind: type[AzsqlctlError]
    cause: str
    fix: str


TABLE: dict[str, Diagnosis] = {
    d.key: d
    for d in (
        Diagnosis("18456", AuthenticationError,
                  "the token was refused, or no database user matches this identity",
                  "create the user with the right SID in the target database (azsqlctl grant), and connect to that database, not master"),
        Diagnosis("FA005", AuthenticationError,
                  "an access token was combined with UID/PWD/Authentication/Trusted_Connection",
                  "remove those keywords from the connection string; the token alone authenticates"),
        Diagnosis("40615", ConnectionFailed, "the server firewall does not allow this client address",
                  "az sql server firewall-rule create --server {server} --name allow-{ip_dashed} "
                  "--start-ip-address {ip} --end-ip-address {ip} (with --resource-group)"),
        Diagnosis("47073", ConnectionFailed, "public network access is disabled on the server",
                  "connect through the server's private endpoint, or enable public network access"),
        Diagnosis("40532", ConnectionFailed,
                  "the gateway refused the login before authentication: the client subnet has a Microsoft.Sql service endpoint but the server has no VNet rule for it (or the login name holds '@')",
                  "az sql server vnet-rule create --server {server} --name allow-subnet --subnet <subnet-id> (with --resource-group)"),
        Diagnosis("4060", NotFound, "the database does not exist or this login cannot open it",
                  "check --database; contained users exist only in their own database"),
        Diagnosis("40613", ConnectionFailed, "the database is temporarily unavailable (transient)",
                  "retry with exponential backoff, 5 s up to 60 s"),
        Diagnosis("40197", ConnectionFailed, "the service hit an error processing the request (transient)",
                  "retry with exponential backoff, 5 s up to 60 s"),
        Diagnosis("40501", ConnectionFailed, "the service is busy (transient)",
                  "retry after 10 s or more"),
        Diagnosis("33134", PermissionDenied, "the server's identity cannot read the directory",
                  "create the user WITH SID (azsqlctl grant --sid-mode), or grant the server identity Directory Readers"),
        Diagnosis("37353", PermissionDenied, "the server's identity cannot read the directory",
                  "create the user WITH SID (azsqlctl grant --sid-mode), or grant the server identity Directory Readers"),
        Diagnosis("33131", UsageError, "two directory objects share this display name",
                  "name the exact object: --object-id GUID (CREATE USER ... WITH OBJECT_ID), or --sid-mode"),
        Diagnosis("33130", NotFound, "the directory has no principal with this display name",
                  "check the name (a managed identity's name is its resource name), or use --sid-mode with the client id"),
        Diagnosis("37545", NotFound, "the object id is not in the directory (tenant) the server reads",
                  "check it: az ad sp show --id GUID (an app or managed identity), az ad user show --id GUID (a user), "
                  "az ad group show --group GUID (a group), in the server's tenant; or name a managed identity with --identity-resource ARM_ID"),
        Diagnosis("15247", PermissionDenied, "the signed-in identity may not create users or change roles",
                  "run grant as the server's Entra admin, or as a member of db_accessadmin and db_securityadmin"),
        Diagnosis("15151", NotFound, "a principal, role or schema named in the statement does not exist (or is not visible)",
                  "create the schema/role first, or fix the name"),
        Diagnosis("15023", UsageError, "a user, group or role with this name already exists", "pick another name, or drop the old principal"),
        Diagnosis("15063", UsageError, "another user already has this SID", "the identity is already a user under another name: grant that user"),
        Diagnosis("DNS", ConnectionFailed, "the server name does not resolve",
                  "check the server name (myserver.database.windows.net) and this machine's DNS (private endpoints need the privatelink zone)"),
        Diagnosis("TCP", ConnectionFailed, "nothing answers on the server's port",
                  "check the port (1433), outbound firewalls/NSGs, and the server name"),
        # ODBC Driver 18 (measured, 18.6): with Authentication=ActiveDirectoryServicePrincipal an Entra refusal
        # (wrong/expired secret, unknown app) is not reported: the driver waits out its login timeout (HYT00).
        Diagnosis("HYT00", ConnectionFailed, "the login timed out",
                  "check the network path and the redirect ports 11000-11999 outbound, then raise --timeout; "
                  "with Authentication=ActiveDirectoryServicePrincipal the driver also times out when Entra refuses the "
                  "secret: run azsqlctl doctor --auth environment with AZURE_CLIENT_ID=<UID>, AZURE_CLIENT_SECRET=<PWD>, "
                  "AZURE_TENANT_ID=<tenant> to see Entra's answer (AADSTS code) for the same credentials"),
        Diagnosis("08001", ConnectionFailed, "the driver could not establish a session (DNS, TCP or TLS)",
                  "check the server name and port, the network path, and the TLS trust (--ca-bundle for private CAs)"),
        Diagnosis("08S01", ConnectionFailed, "the connection broke during the exchange",
                  "retry; if it persists, check proxies/firewalls that inspect TLS"),
    )
}  # fmt: skip

_IP = re.compile(r"IP address '([^']+)'")


def lookup(sqlstate: str, number: int | None) -> Diagnosis | None:
    if number is not None and str(number) in TABLE:
        return TABLE[str(number)]
    return TABLE.get(sqlstate.upper())


def fill(fix: str, message: str, server: str = "", resource_group: str = "", ip: str = "") -> str:
    """Complete a fix template with what the error message and the context know (an audit row knows the ``ip``)."""
    found = _IP.search(message)
    ip = ip or (found[1] if found else "<client-ip>")
    fix = fix.replace("{ip_dashed}", ip.replace(".", "-").replace(":", "-")).replace("{ip}", ip)
    fix = fix.replace("{server}", server or "<server>")
    if resource_group:
        fix = fix.replace("(with --resource-group)", f"--resource-group {resource_group}")
    return fix


def classify(sqlstate: str, number: int | None, message: str) -> tuple[type[AzsqlctlError], str]:
    diag = lookup(sqlstate, number)
    if diag is None:
        return AzsqlctlError, "rerun with --debug for the driver's full messages"
    return diag.kind, f"{diag.cause}: {fill(diag.fix, message)}"


# --- explaining a failed token login, with what the other checks learned -------------------------


@dataclass
class LoginContext:
    """What doctor knows when the login fails."""

    server: str  # as given (for commands)
    server_name: str  # the logical server name, when known
    resource_group: str
    database: str
    identity: TokenIdentity | None
    identity_name: str  # display name when known (MI name, UPN), else ""
    token_problem: str  # the token check's finding when it failed, else ""
    admin_tenant: str  # from ARM, when known
    has_admin: bool | None  # from ARM, when known
    principals: Sequence[Mapping[str, object]] | None  # sys.database_principals read by an inspecting identity, when available
    server_from_environment: bool = False  # AZSQLCTL_SERVER (e.g. a sandbox's ephemeral port): commands must not pin it


def grant_command(ctx: LoginContext) -> str:
    ident = ctx.identity
    assert ident is not None
    flag = "--" + sid_label(ident.kind).replace(" ", "-")  # the id that is the SID: --client-id for apps, else --object-id
    name = ctx.identity_name or f"app-{ident.sid[:8]}"
    sid_mode = "" if ctx.identity_name else " --sid-mode"
    kind = "" if ident.kind == "app" else " --type user"
    # A server from the environment is left to the environment: a sandbox's port changes with every run.
    server = "" if ctx.server_from_environment else f" --server {ctx.server}"
    return f"azsqlctl grant {name} {flag} {ident.sid}{kind}{sid_mode} --role reader{server} --database {ctx.database}"


def create_user_sql(ctx: LoginContext) -> str:
    """The T-SQL twin of ``grant_command``: by name when the name is known, else WITH SID (tsql.create_user renders both)."""
    from .tsql import create_user, quote_name

    ident = ctx.identity
    assert ident is not None
    spec = ident.spec(ctx.identity_name or f"app-{ident.sid[:8]}", sid_mode=not ctx.identity_name)
    return f"{create_user(spec)}; ALTER ROLE [db_datareader] ADD MEMBER {quote_name(spec.name)};"


def explain_login_failure(number: int | None, sqlstate: str, message: str, ctx: LoginContext) -> tuple[str, str]:
    """(cause, fix) for a failed token login; the fix is a command or setting where one exists."""
    ident = ctx.identity
    if number == 18456 and "user ''" in message:
        return (
            "the server could not read the token: it is not a JWT, or the token struct is not <UInt32 LE byte length><UTF-16-LE token>",
            'attrs_before={1256: struct.pack("<I", len(b)) + b} with b = token.encode("utf-16-le")',
        )
    if number == 18456 and "not currently configured to accept this token" in message:
        if ctx.has_admin is False:
            return "the server has no Entra admin, so it accepts no token", "az sql server ad-admin create ... (see the server check)"
        if ident is not None and ctx.admin_tenant and ident.tenant_id.lower() != ctx.admin_tenant.lower():
            return (f"the token is from tenant {ident.tenant_id}, the server's Entra admin from tenant {ctx.admin_tenant}",
                    f"authenticate in tenant {ctx.admin_tenant} (--tenant-id {ctx.admin_tenant})")  # fmt: skip
        return (
            "the server does not accept tokens from this tenant or has no Entra admin",
            "compare the token's tid with the server's Entra admin tenant (pass --subscription/--resource-group for the ARM check)",
        )
    if number == 18456:
        if ctx.token_problem:
            return f"the token was refused: {ctx.token_problem}", "fix the token problem above"
        if ctx.database.lower() == "master":
            return (
                "contained database users exist only in their own database; only the Entra admin can log in to master",
                "pass --database <your database>",
            )
        if ident is None:
            return "no database user matches this identity", "create the user (azsqlctl grant)"
        wrong = _principal_with_sid(ctx.principals, ident.object_id) if ident.kind == "app" else None
        if wrong is not None:
            return (
                f"user [{wrong}] exists but was created with the object id {ident.object_id}; apps and managed identities match by client id {ident.client_id}",
                f"DROP USER [{wrong}]; then {grant_command(ctx)}",
            )
        same_name = _principal_named(ctx.principals, ctx.identity_name)
        if same_name is not None:
            return (
                f"user [{ctx.identity_name}] exists with SID {same_name} but this identity's SID is {ident.sid_hex} (identity recreated: stale SID)",
                f"DROP USER [{ctx.identity_name}]; then {grant_command(ctx)}",
            )
        inspected = (
            " (checked sys.database_principals)"
            if ctx.principals is not None
            else " (pass --admin-auth to tell 'no user' from 'user with the wrong SID')"
        )
        return (
            f"no user in database {ctx.database} has SID {ident.sid_hex} ({sid_label(ident.kind)} {ident.sid}){inspected}",
            f"{grant_command(ctx)}   # or in T-SQL: {create_user_sql(ctx)}",
        )
    diag = lookup(sqlstate, number)
    if diag is None:
        return "the login failed", "rerun with --debug for the driver's messages"
    return diag.cause, fill(diag.fix, message, ctx.server_name, ctx.resource_group)


def _principal_with_sid(principals: Sequence[Mapping[str, object]] | None, guid: str) -> str | None:
    if not principals or not guid:
        return None
    wanted = sid_bytes(guid)
    return next((str(p["name"]) for p in principals if row_bytes(p.get("sid")) == wanted), None)


def _principal_named(principals: Sequence[Mapping[str, object]] | None, name: str) -> str | None:
    if not principals or not name:
        return None
    for p in principals:
        sid = row_bytes(p.get("sid"))
        if str(p["name"]).lower() == name.lower() and sid is not None:
            return hex_sid(sid)
    return None


# --- the real state of a failed login, as the audit log records it -------------------------------
# Clients always see state 1; the audit row (additional_information_s) and the server's error log
# hold the real state. Meanings: sql-docs docs/relational-databases/errors-events/
# mssqlserver-18456-database-engine-error.md ("Additional Error Information" table):
# 1 not available; 2, 5 user ID not valid; 6 Windows login name with SQL authentication;
# 7 login disabled and password incorrect; 8 password incorrect; 9 password not valid;
# 11, 12 login valid but server access failed; 18 password must be changed; 38, 46 could not find
# the database requested; 102-111 and 132-133 "AAD failure" (Microsoft publishes no finer map);
# 122-124 empty user name or password; 126 database requested does not exist. Other states are
# "an unexpected internal processing error": those fall back to the error number's row above.

# Source: https://learn.microsoft.com/sql/relational-databases/errors-events/mssqlserver-18456-database-engine-error
_ENTRA = Diagnosis(
    "18456/entra",
    AuthenticationError,
    "Entra ID (token) authentication failed: the token was refused (wrong audience or tenant, expired, bad signature) "
    "or no database user matches the identity; Microsoft documents these states only as 'AAD failure'",
    "check the identity with azsqlctl doctor --client-id <client-id> (token aud https://database.windows.net/, tid = the "
    "server's Entra admin tenant, not expired), then create its user with azsqlctl grant",
)
_BAD_USER = (
    "the login name does not exist (user ID is not valid); many of these from one address is password guessing",
    "check the user name; for Entra identities connect with a token, not a SQL login; contained users must name their database (Initial Catalog)",
)
_NO_DATABASE = (
    "the database requested by the login does not exist or cannot be opened by it",
    "check --database / Initial Catalog; contained users exist only in their own database",
)

# (error number, first state, last state) -> diagnosis
LOGIN_STATES: dict[tuple[int, int, int], Diagnosis] = {
    (18456, 1, 1): Diagnosis("18456/1", AuthenticationError, "the server hid the reason (state 1 is what clients always see)",
                             "read the real state from the audit log: azsqlctl logs --principal <name>"),
    (18456, 2, 2): Diagnosis("18456/2", AuthenticationError, *_BAD_USER),
    (18456, 5, 5): Diagnosis("18456/5", AuthenticationError, *_BAD_USER),
    (18456, 6, 6): Diagnosis("18456/6", AuthenticationError, "a Windows login name was used with SQL authentication",
                             "use Entra authentication (a token) for this identity"),
    (18456, 7, 7): Diagnosis("18456/7", AuthenticationError, "the login is disabled (and the password was wrong)",
                             "ALTER LOGIN [<name>] ENABLE in master, and check the password"),
    (18456, 8, 8): Diagnosis("18456/8", AuthenticationError,
                             "the password is incorrect; many of these from one address is password guessing",
                             "check the password (rotated secret, stale connection string), or move the app to Entra authentication (azsqlctl grant)"),
    (18456, 9, 9): Diagnosis("18456/9", AuthenticationError, "the password is not valid",
                             "check the password, or move the app to Entra authentication (azsqlctl grant)"),
    (18456, 11, 12): Diagnosis("18456/11-12", PermissionDenied, "the login is valid but server access failed",
                               "check the login's CONNECT SQL permission and that it is not denied"),
    (18456, 18, 18): Diagnosis("18456/18", AuthenticationError, "the password must be changed",
                               "ALTER LOGIN [<name>] WITH PASSWORD = ... (or use Entra authentication)"),
    (18456, 38, 38): Diagnosis("18456/38", NotFound, *_NO_DATABASE),
    (18456, 46, 46): Diagnosis("18456/46", NotFound, *_NO_DATABASE),
    (18456, 102, 111): _ENTRA,
    (18456, 122, 124): Diagnosis("18456/122-124", AuthenticationError, "the user name or the password was empty",
                                 "set both UID and PWD, or authenticate with a token and neither (attrs_before 1256)"),
    (18456, 126, 126): Diagnosis("18456/126", NotFound, "the database requested by the user does not exist",
                                 "check --database / Initial Catalog"),
    (18456, 132, 133): _ENTRA,
}  # fmt: skip


def lookup_login_state(number: int | None, state: int | None) -> Diagnosis | None:
    """The diagnosis for an audited failure: the (number, state) row when there is one, else the number's row."""
    if number is None:
        return None
    if state is not None:
        for (n, first, last), diag in LOGIN_STATES.items():
            if n == number and first <= state <= last:
                return diag
    return TABLE.get(str(number))


# --- Entra (AADSTS) refusals: what the identity provider said, why, and the fix ----------------------------
# Kept apart from the SQL/transport tables above. Texts are matched on the code number and the quoted
# values Entra prints (issuer, subject, audience, app id, thumbprint); the surrounding wording changes over
# time (reference: entra-docs reference-error-codes.md and captures of real output).

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105 - the federated-credential audience, not a password
_QUOTED = {
    "issuer": re.compile(r"[Aa]ssertion [Ii]ssuer:? '([^']*)'|assertion issuer '([^']*)'"),
    "subject": re.compile(r"[Aa]ssertion [Ss]ubject:? '([^']*)'|assertion subject '([^']*)'"),
    "audience": re.compile(r"[Aa]ssertion [Aa]udience:? '([^']*)'|assertion audience '([^']*)'"),
    "client_id": re.compile(r"(?:identifier|app|app Id) '([0-9a-fA-F-]{36})'"),
    "thumbprint": re.compile(r"Thumbprint of key used by client: '([0-9A-Fa-f]+)'"),
}
_AADSTS_CODE = re.compile(r"AADSTS(\d+)")


@dataclass(frozen=True)
class EntraFailure:
    """One AADSTS refusal, as parsed from the exception azure-identity raised."""

    code: str  # "AADSTS700213"
    issuer: str = ""
    subject: str = ""
    audience: str = ""
    client_id: str = ""
    thumbprint: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


def parse_entra_failure(message: str) -> EntraFailure | None:
    found = _AADSTS_CODE.search(message)
    if found is None:
        return None
    fields: dict[str, str] = {}
    for name, pattern in _QUOTED.items():
        if m := pattern.search(message):
            fields[name] = next(g for g in m.groups() if g is not None)
    return EntraFailure(f"AADSTS{found[1]}", **fields)


def _fic_create(client_id: str, issuer: str, subject: str, audience: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", subject).strip("-")[:120] or "federated"
    params = f'{{"name":"{name}","issuer":"{issuer}","subject":"{subject}","audiences":["{audience or TOKEN_EXCHANGE_AUDIENCE}"]}}'
    return f"az ad app federated-credential create --id {client_id or '<client-id>'} --parameters '{params}'"


def _fic_list(client_id: str) -> str:
    return f'az ad app federated-credential list --id {client_id or "<client-id>"} --query "[].{{name:name, issuer:issuer, subject:subject, audiences:audiences}}"'


def _issuer_for(subject: str) -> str:
    """The issuer a subject's form implies (700213 and 7002138 print only the subject)."""
    if subject.startswith("repo:"):
        return "https://token.actions.githubusercontent.com"
    if subject.startswith("system:serviceaccount:"):
        return "<the cluster's OIDC issuer: az aks show --query oidcIssuerProfile.issuerUrl>"
    if subject.startswith("sc://"):
        return "<the Azure DevOps issuer shown on the service connection>"
    return ""


def explain_entra_failure(failure: EntraFailure, client_id: str = "", secret_hint: str = "") -> tuple[str, str] | None:
    """(cause, fix) for an AADSTS refusal; ``client_id`` is the app azsqlctl asked for, ``secret_hint`` the
    first three characters of the secret it sent (what Entra itself shows of a secret)."""
    cid = failure.client_id or client_id or "<client-id>"
    code, iss, sub, aud = failure.code, failure.issuer or _issuer_for(failure.subject), failure.subject, failure.audience
    if code in ("AADSTS70021", "AADSTS700213", "AADSTS7002138"):
        cause = (
            f"no federated credential of app {cid} trusts the token presented: issuer '{iss or '?'}', subject '{sub or '?'}'"
            + (f", audience '{aud}'" if aud else "")
            + (
                " - a credential matches this subject only in upper/lower case (matching is case-sensitive)"
                if code == "AADSTS7002138"
                else ""
            )
        )
        if sub.endswith(":pull_request"):
            cause += "; GitHub presents ':pull_request' for pull-request workflows, not the branch ref"
        # Entra's error names what was presented, never what is configured: doctor cannot read Graph, so it
        # says where to look (an app registration, or a user-assigned identity as AKS uses).
        fix = (f"compare the subjects configured (not in Entra's error: {_fic_list(cid)}; for a user-assigned managed "
               "identity: az identity federated-credential list -g <resource-group> --identity-name <name>) "
               "with the one presented; to trust it: "
               + _fic_create(cid, iss or "<issuer>", sub or "<subject>", aud if aud and "," not in aud else TOKEN_EXCHANGE_AUDIENCE))  # fmt: skip
        return cause, fix
    if code == "AADSTS700211":
        return (
            f"no federated credential of app {cid} names the issuer '{iss}' (it must equal the token's iss exactly - a trailing '/' counts)",
            f"check the issuers configured ({_fic_list(cid)}); for AKS: az aks show --query oidcIssuerProfile.issuerUrl",
        )
    if code == "AADSTS700212":
        return (
            f"the token's audience '{aud}' is not the one the federated credential expects ({TOKEN_EXCHANGE_AUDIENCE})",
            f"request the token for the audience {TOKEN_EXCHANGE_AUDIENCE} (azure/login's default; GitHub's own default is the owner URL)",
        )
    table: dict[str, tuple[str, str]] = {
        "AADSTS500011": ("the resource (token scope) does not exist in the tenant",
                         "check --cloud and the SQL resource (AZSQLCTL_SQL_RESOURCE)"),
        "AADSTS700016": (f"the application {cid} is not registered in this tenant",
                         "check --client-id / AZURE_CLIENT_ID and --tenant-id / AZURE_TENANT_ID: the app must exist in the tenant you authenticate against"),
        "AADSTS7000215": (f"the client secret sent for app {cid} is not one of its secrets"
                          + (f" (it starts '{secret_hint}')" if secret_hint else ""),
                          "use the secret's value (not its id) in AZURE_CLIENT_SECRET, or better: workload identity federation or a managed identity"),
        # Entra's 7000222 names the app only; the secret sent identifies it by its hint (Graph's passwordCredential
        # hint = its first three characters); when it ended is in Graph, which doctor does not read.
        "AADSTS7000222": (f"the client secret of app {cid}" + (f" starting '{secret_hint}'" if secret_hint else "")
                          + " has expired (Entra's error does not say when)",
                          f"see when it ended: az ad app credential list --id {cid} --query "
                          + (f"\"[?hint=='{secret_hint}'].{{hint:hint, keyId:keyId, end:endDateTime}}\"; " if secret_hint
                             else '"[].{hint:hint, keyId:keyId, end:endDateTime}"; ')
                          + f"add a new one (az ad app credential reset --id {cid} --append) and update AZURE_CLIENT_SECRET - "
                          "or drop secrets for workload identity federation"),
        "AADSTS700027": (f"the certificate (thumbprint {failure.thumbprint or '?'}) is not registered on app {cid}, or the assertion's signature is not its key's",
                         f"register it: az ad app credential reset --id {cid} --cert @cert.pem --append; "
                         f"compare: az ad app credential list --id {cid} --cert"),
        "AADSTS700024": ("the client assertion (certificate-signed or federated token) is outside its validity period",
                         "check this machine's clock; a federated token file must be refreshed (projected tokens are, by the kubelet)"),
        "AADSTS7000218": ("the request carried neither a secret nor a certificate/assertion",
                          "set AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH (environment auth)"),
        "AADSTS90002": ("the tenant does not exist in this cloud",
                        "check --tenant-id / AZURE_TENANT_ID and --cloud"),
        "AADSTS90061": ("Entra could not fetch the token issuer's OpenID configuration or keys",
                        "for self-managed Kubernetes, publish the issuer's discovery document and JWKS where the issuer URL says"),
    }  # fmt: skip
    return table.get(code)

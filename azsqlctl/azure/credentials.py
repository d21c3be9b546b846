"""Credential choice and token acquisition (azure-identity, imported lazily).

One credential object per process and per configuration: azure-identity caches
tokens inside the credential instance, so building a new one per call would
defeat the cache. The token string never leaves this module except inside an
``AccessToken`` whose repr hides it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from typing import TYPE_CHECKING, Required, TypedDict
from urllib.parse import quote, urlsplit

from azsqlctl.core.clouds import Cloud
from azsqlctl.core.diagnosis import TOKEN_EXCHANGE_AUDIENCE, EntraFailure, explain_entra_failure, parse_entra_failure
from azsqlctl.core.errors import AuthenticationError, UsageError
from azsqlctl.core.ports import AccessToken
from azsqlctl.core.settings import AUTH_KINDS

if TYPE_CHECKING:
    import requests
    from azure.core.credentials import AccessToken as SdkAccessToken
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import RequestsTransport

_lock = threading.Lock()
_credentials: dict[tuple[str, str, str, str, str], TokenCredential] = {}
_IDENTITY_ENV = ("IDENTITY_", "MSI_", "IMDS_", "AZURE_", "ACTIONS_ID_TOKEN_", "SYSTEM_OIDC")


def get_credential(auth: str, client_id: str, cloud: Cloud, tenant_id: str = "") -> TokenCredential:
    if auth not in AUTH_KINDS:
        raise UsageError(f"unknown --auth '{auth}'", f"use one of: {', '.join(AUTH_KINDS)}", code="bad_auth")
    # The environment that selects a managed-identity flavour is part of the key: a
    # process normally never changes it, but a test harness pointing at a new sandbox does.
    env = "|".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith(_IDENTITY_ENV))
    key = (auth, client_id, cloud.authority_host, tenant_id, hashlib.sha256(env.encode()).hexdigest())
    with _lock:
        if key not in _credentials:
            _credentials[key] = _build(auth, client_id, cloud, tenant_id)
        return _credentials[key]


# MSAL's WELL_KNOWN_AUTHORITY_HOSTS (msal/authority.py): for any other host MSAL first asks
# login.microsoftonline.com to validate the authority ("instance discovery"), which a private authority
# (the sandbox, a sovereign test stand) never passes. azure-identity has no environment variable for
# this, so azsqlctl passes disable_instance_discovery=True for such hosts - and only for them.
MICROSOFT_AUTHORITY_HOSTS = frozenset({
    "login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net", "login.microsoftonline.us",
    "login.usgovcloudapi.net", "login.chinacloudapi.cn", "login.partner.microsoftonline.cn", "login.microsoftonline.de",
    "login-us.microsoftonline.com", "login.sovcloud-identity.fr", "login.sovcloud-identity.de", "login.sovcloud-identity.sg",
})  # fmt: skip
log = logging.getLogger("azsqlctl.azure.credentials")

# GitHub sets these in a job only when the workflow grants `permissions: id-token: write`.
GITHUB_REQUEST_URL, GITHUB_REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"


class AuthorityKwargs(TypedDict, total=False):
    authority: Required[str]
    disable_instance_discovery: bool


def authority_kwargs(authority_host: str) -> AuthorityKwargs:
    """``authority`` (a full https URL: azure-identity refuses anything else) and, for an authority that is
    not Microsoft's, ``disable_instance_discovery=True``."""
    authority = authority_host.strip().rstrip("/")
    if "://" not in authority:
        authority = "https://" + authority
    host = (urlsplit(authority).hostname or "").lower()
    if host in MICROSOFT_AUTHORITY_HOSTS:
        return {"authority": authority}
    log.debug(
        "authority %s is not one of Microsoft's: passing disable_instance_discovery=True "
        "(MSAL would otherwise ask login.microsoftonline.com to validate it)",
        authority,
    )
    return {"authority": authority, "disable_instance_discovery": True}


def _federation_session(cloud: Cloud) -> requests.Session:
    """One requests.Session, verifying with one SSLContext, for a federated login's two HTTPS calls (the CI
    system's OIDC endpoint, then the authority): requests would otherwise load the CA bundle into a new
    context for each connection (~50 ms for a system-sized bundle)."""
    from .shared_tls import shared_context_session

    return shared_context_session(cloud.ca_bundle, cloud.authority_host)


def _transport(session: requests.Session) -> RequestsTransport:
    from azure.core.pipeline.transport import RequestsTransport

    return RequestsTransport(session=session, session_owner=False)


# A managed-identity endpoint that refuses the connection is retried once, at once. azure-core's default
# (3 connection retries, 0.8 s backoff doubling) spent 4.8 s before doctor, grant or whoami could say that
# nothing listens there; a refused connection to a local endpoint is not a blip that seconds cure. Errors the
# endpoint answers (429, 5xx) keep azure-core's retries.
REFUSED_RETRIES, REFUSED_BACKOFF = 1, 0.1


def _build(auth: str, client_id: str, cloud: Cloud, tenant_id: str) -> TokenCredential:
    import azure.identity as ai

    kwargs = authority_kwargs(cloud.authority_host)
    authority = kwargs["authority"]
    cid = client_id or None
    if auth == "default":
        return ai.DefaultAzureCredential(
            managed_identity_client_id=cid, exclude_interactive_browser_credential=True, retry_connect=REFUSED_RETRIES,
            retry_backoff_factor=REFUSED_BACKOFF, **kwargs,
        )  # fmt: skip
    if auth == "cli":
        return ai.AzureCliCredential(tenant_id=tenant_id)
    if auth == "managed-identity":
        return ai.ManagedIdentityCredential(client_id=cid, retry_connect=REFUSED_RETRIES, retry_backoff_factor=REFUSED_BACKOFF)
    if auth == "workload-identity":
        try:
            # An assertion credential: no instance discovery, so no flag.
            return ai.WorkloadIdentityCredential(client_id=cid, tenant_id=tenant_id or None, authority=authority)
        except ValueError as exc:
            raise AuthenticationError(
                f"workload identity is not configured: {exc}",
                "set AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID (the AKS webhook does)",
            ) from exc
    if auth == "github-actions":
        return _github_actions(client_id, tenant_id, authority, _federation_session(cloud))
    if auth == "azure-pipelines":
        return _azure_pipelines(client_id, tenant_id, authority, _federation_session(cloud))
    if auth == "environment":
        return ai.EnvironmentCredential(**kwargs)
    return ai.DeviceCodeCredential(client_id=cid or "04b07795-8ddb-461a-bbee-02f9e1bf7b46", **kwargs)


def _github_actions(client_id: str, tenant_id: str, authority: str, session: requests.Session) -> TokenCredential:
    """ClientAssertionCredential fed by the runner's OIDC endpoint: a workflow needs no `az` CLI and no secret."""
    url, request_token = os.environ.get(GITHUB_REQUEST_URL, ""), os.environ.get(GITHUB_REQUEST_TOKEN, "")
    if not url or not request_token:
        missing = " and ".join(n for n, v in ((GITHUB_REQUEST_URL, url), (GITHUB_REQUEST_TOKEN, request_token)) if not v)
        raise AuthenticationError(
            f"{missing} not set: GitHub hands a job an OIDC token only when the workflow allows it",
            "add `permissions: id-token: write` (and `contents: read`) to the workflow or job; outside GitHub Actions use another --auth",
            code="github_oidc_missing",
            details={"missing": missing},
        )
    cid = client_id or os.environ.get("AZURE_CLIENT_ID", "")
    tid = tenant_id or os.environ.get("AZURE_TENANT_ID", "")
    if not cid or not tid:
        raise AuthenticationError(
            "github-actions auth needs the app's client id and tenant id",
            "pass --client-id and --tenant-id, or set AZURE_CLIENT_ID and AZURE_TENANT_ID (e.g. from repository variables)",
            code="github_oidc_missing",
        )

    def github_token() -> str:
        # requests (azure-core's transport) honours REQUESTS_CA_BUNDLE and proxies as the SDK does; the session
        # is the one the authority request uses (one SSL context).
        separator = "&" if "?" in url else "?"
        reply = session.get(
            f"{url}{separator}audience={quote(TOKEN_EXCHANGE_AUDIENCE, safe='')}",
            headers={"Authorization": f"Bearer {request_token}", "Accept": "application/json"},
            timeout=30,
        )
        if reply.status_code != 200:
            raise AuthenticationError(
                f"the GitHub OIDC endpoint answered HTTP {reply.status_code}",
                "the request token is valid only inside its job; rerun the job",
                code="github_oidc_failed",
            )
        value = reply.json().get("value", "")
        if not isinstance(value, str) or not value:
            raise AuthenticationError("the GitHub OIDC endpoint answered without a token", "rerun the job", code="github_oidc_failed")
        return value

    from azure.identity import ClientAssertionCredential

    return ClientAssertionCredential(tid, cid, github_token, authority=authority, transport=_transport(session))


# Azure Pipelines: SYSTEM_OIDCREQUESTURI is a predefined variable every step sees; System.AccessToken reaches
# a script only when mapped (`env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`). The AZURESUBSCRIPTION_* names
# are the ones AzureCLI@2 exports for AzurePipelinesCredential (and azd reads); a plain script step maps them.
PIPELINES_REQUEST_URI, PIPELINES_ACCESS_TOKEN = "SYSTEM_OIDCREQUESTURI", "SYSTEM_ACCESSTOKEN"
PIPELINES_CONNECTION_ID = "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"


def _azure_pipelines(client_id: str, tenant_id: str, authority: str, session: requests.Session) -> TokenCredential:
    """AzurePipelinesCredential: the job's OIDC endpoint signs a token for the service connection, traded
    for an Entra token (an assertion credential: no instance discovery). No secret, no `az` CLI."""
    if not os.environ.get(PIPELINES_REQUEST_URI):
        raise AuthenticationError(
            f"{PIPELINES_REQUEST_URI} is not set: this is not an Azure Pipelines job",
            "outside Azure Pipelines use another --auth (github-actions, workload-identity, managed-identity, ...)",
            code="pipelines_oidc_missing",
            details={"missing": PIPELINES_REQUEST_URI},
        )
    values = {
        PIPELINES_ACCESS_TOKEN: os.environ.get(PIPELINES_ACCESS_TOKEN, ""),
        PIPELINES_CONNECTION_ID: os.environ.get(PIPELINES_CONNECTION_ID, ""),
        "client id": client_id or os.environ.get("AZURE_CLIENT_ID", "") or os.environ.get("AZURESUBSCRIPTION_CLIENT_ID", ""),
        "tenant id": tenant_id or os.environ.get("AZURE_TENANT_ID", "") or os.environ.get("AZURESUBSCRIPTION_TENANT_ID", ""),
    }
    if missing := [name for name, value in values.items() if not value]:
        raise AuthenticationError(
            f"azure-pipelines auth is missing {', '.join(missing)}",
            "map them in the step's env: SYSTEM_ACCESSTOKEN: $(System.AccessToken) (scripts do not get it otherwise), "
            "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID: the service connection's id (its page's resourceId), "
            "AZURE_CLIENT_ID / AZURE_TENANT_ID: the app or managed identity behind it",
            code="pipelines_oidc_missing",
            details={"missing": ", ".join(missing)},
        )
    from azure.identity import AzurePipelinesCredential

    return AzurePipelinesCredential(
        tenant_id=values["tenant id"],
        client_id=values["client id"],
        service_connection_id=values[PIPELINES_CONNECTION_ID],
        system_access_token=values[PIPELINES_ACCESS_TOKEN],
        authority=authority,
        transport=_transport(session),  # one SSL context for the OIDC endpoint and the authority
    )


class _Attempts(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.failures: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        m = re.match(r"^(\w+Credential)\.get_token\w*(?:\.\w+)* failed: (.*)", record.getMessage(), re.S)
        if m and not any(name == m[1] for name, _ in self.failures):
            links = condense(f"{m[1]}: {m[2]}")
            self.failures.append((m[1], links[0][1] if links else m[2].splitlines()[0]))


class _Silence(logging.Filter):
    """azure-identity logs the whole chain failure as a WARNING; we condense it instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


_AADSTS = re.compile(r"AADSTS\d+")
_URL_SENTENCE = re.compile(r"\s*(?:Visit|See|For more information[^.]*?)\s+https?://\S+[^.]*\.?", re.I)
_NOT_CONFIGURED = re.compile(
    r"unavailable|not found on path|not installed|requires the|could not be found|not configured|not found in environment\.?$", re.I
)


# Credentials that wait for someone to sign in (a device code, a browser): --timeout bounds network steps, not people.
_WAITS_FOR_A_PERSON = frozenset({"DeviceCodeCredential", "InteractiveBrowserCredential"})
_TOKEN_REQUEST_ERROR = re.compile(r"^.*?Token request error:\s*", re.S)
_NO_SUCH_IDENTITY = re.compile(r"No managed identity matches|identity (?:was )?not found|Identity not found", re.I)


def credential_hint(raw: str) -> str:
    """What to do about a refused token request, from what the endpoint said and where we run."""
    # the managed-identity endpoint answered (not "unavailable"): we run where one is set up (Azure, a sandbox)
    inside = bool(os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT")) and "ManagedIdentityCredential: " in raw
    if _NO_SUCH_IDENTITY.search(raw):
        return (
            "--client-id takes the identity's client id (appId), not its object (principal) id: "
            "az identity show -g RG -n NAME --query clientId"
            + ("; the sandbox prints its identities' client ids when it starts" if inside else "")
        )
    if inside:
        return "the managed-identity endpoint (IDENTITY_ENDPOINT) refused: check --client-id and that the identity is assigned here"
    return "on Azure, enable a managed identity; locally run `az login`, or use `azsqlctl sandbox run -- ...`"


def condense(message: str) -> list[tuple[str, str, bool]]:
    """(credential, reason, configured) per chain link, without URLs or repetition."""
    links = []
    for raw in message.splitlines():
        m = re.match(r"^\s*(\w+Credential):\s*(.*)$", raw)
        if not m:
            continue
        # azure-identity prefixes an endpoint's own answer with a misleading "configuration not found" sentence
        reason = _TOKEN_REQUEST_ERROR.sub("", _URL_SENTENCE.sub("", m[2]).strip())
        reason = reason.replace(f"{m[1]} ", "", 1) if reason.startswith(m[1]) else reason
        reason = reason[:237] + "..." if len(reason) > 240 else reason
        links.append((m[1], reason, not _NOT_CONFIGURED.search(reason)))
    return links


def summarize(message: str) -> tuple[str, list[dict[str, str]]]:
    """One line for people (configured links first), and the whole chain for JSON."""
    links = condense(message)
    if not links:
        first = message.strip().splitlines()[0] if message.strip() else "no detail"
        return first, []
    tried = [f"{name}: {reason}" for name, reason, configured in links if configured]
    skipped = sum(1 for *_, configured in links if not configured)
    text = "; ".join(tried) if tried else "no credential is configured here"
    if skipped and tried:
        text += f" ({skipped} other credential{'s' if skipped != 1 else ''} not configured)"
    elif skipped:
        text += f" ({', '.join(name for name, *_ in links)})"
    return text, [{"credential": n, "reason": r} for n, r, _ in links]


def get_token(
    credential: TokenCredential,
    scope: str,
    timeout: float | None = None,
    *,
    authority: str = "",
    claims: str | None = None,
    tenant_id: str | None = None,
    enable_cae: bool = False,
) -> AccessToken:
    """A token, within ``timeout`` seconds; an endpoint that cannot be talked to is a connection failure naming it."""
    from azure.core.exceptions import ClientAuthenticationError

    from azsqlctl.core.transport import Cause, Endpoint, transport_failure

    from .transport import DeadlineExceeded, call_with_deadline, classify, connect_cause, token_endpoint

    silence = _Silence()
    names = ("azure.identity", "azure.identity._credentials.chained", "azure.identity._internal.decorators",
             "azure.identity._internal.get_token_mixin")  # fmt: skip
    loggers = [logging.getLogger(n) for n in names]
    for lg in loggers:
        lg.addFilter(silence)
    # Each chain link logs "<Credential>.get_token... failed: <why>" at DEBUG: collect them
    # so that a success can still say why the earlier links were passed over.
    attempts = _Attempts()
    decorators = loggers[2]
    previous_level = decorators.level
    decorators.addHandler(attempts)
    if decorators.getEffectiveLevel() > logging.DEBUG:
        decorators.setLevel(logging.DEBUG)
    start = time.perf_counter()
    managed = type(credential).__name__ == "ManagedIdentityCredential"
    try:

        def request() -> SdkAccessToken:
            if timeout:
                return credential.get_token(scope, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, timeout=timeout)
            return credential.get_token(scope, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae)

        bounded = bool(timeout) and type(credential).__name__ not in _WAITS_FOR_A_PERSON
        result = call_with_deadline(request, timeout) if timeout and bounded else request()
    except DeadlineExceeded:
        url = token_endpoint(authority, managed or auth_is_managed(credential))
        cause = connect_cause(url) or Cause.TIMEOUT  # retries of a refused endpoint can outlast a short --timeout
        raise transport_failure(Endpoint.TOKEN, url, cause, timeout=timeout) from None
    except ClientAuthenticationError as exc:
        raw = str(getattr(exc, "message", "") or exc)
        code = next(iter(_AADSTS.findall(raw)), "")
        failed = None if code else classify(exc)
        if failed is not None:  # the endpoint was not reachable: no credential said no
            url = token_endpoint(authority, managed or "ManagedIdentityCredential: " in raw)
            raise transport_failure(Endpoint.TOKEN, url, failed[0], failed[1]) from None
        text, chain = summarize(raw if "Credential" in raw else f"{type(credential).__name__}: {raw}")
        details: dict[str, object] = {"chain": chain, "aadsts": code} if chain or code else {}
        if failure := parse_entra_failure(raw):
            details["entra"] = failure.as_dict()  # the quoted issuer/subject/audience/app id doctor explains
            secret = os.environ.get("AZURE_CLIENT_SECRET", "")
            if secret and failure.code in ("AADSTS7000215", "AADSTS7000222"):
                details["secret_hint"] = secret[:3]  # as much as Entra itself shows of a secret
        raise AuthenticationError(
            "no credential could get a token" + (f" ({code})" if code else "") + ": " + text,
            credential_hint(raw),
            code="no_credential",
            details=details or None,
        ) from exc
    finally:
        for lg in loggers:
            lg.removeFilter(silence)
        decorators.removeHandler(attempts)
        decorators.setLevel(previous_level)
    elapsed = (time.perf_counter() - start) * 1000
    chosen = getattr(credential, "_successful_credential", None)
    name = type(chosen or credential).__name__
    return AccessToken(result.token, int(result.expires_on), name, elapsed, tuple(attempts.failures))


def auth_is_managed(credential: TokenCredential) -> bool:
    """A chain (DefaultAzureCredential) reaches the managed-identity endpoint when the environment names one."""
    return type(credential).__name__ == "DefaultAzureCredential" and bool(
        os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT")
    )


class GuardedCredential:
    """What SDK clients (ARM, Log Analytics) are given: the token request bounded by the command's timeout,
    and a token endpoint that cannot be reached reported as such (not as ARM or Log Analytics failing)."""

    def __init__(self, inner: TokenCredential, timeout: float | None, authority: str) -> None:
        self.inner, self.timeout, self.authority = inner, timeout, authority

    def get_token(
        self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, enable_cae: bool = False, **kwargs: object
    ) -> SdkAccessToken:
        """azure-core's TokenCredential; its other keywords (none that the SDKs send today) are not passed on."""
        from azure.core.credentials import AccessToken as SdkAccessToken

        token = get_token(
            self.inner, scopes[0], self.timeout, authority=self.authority, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae
        )
        return SdkAccessToken(token.token, token.expires_on)


def guarded(credential: TokenCredential, timeout: float | None, cloud: Cloud) -> GuardedCredential:
    return GuardedCredential(credential, timeout, cloud.authority_host)


class CredentialTokens:
    """TokenSource over one azure-identity credential (cached per process).

    The credential (and azure-identity, ~100 ms to import) is built on the first token request,
    so a caller such as doctor starts its network checks while the import runs.
    """

    def __init__(self, auth: str, client_id: str, cloud: Cloud, tenant_id: str = "", timeout: float | None = None) -> None:
        self._spec = (auth, client_id, cloud, tenant_id)
        self._credential: TokenCredential | None = None
        self._lock = threading.Lock()
        self.timeout = timeout

    @property
    def raw_credential(self) -> TokenCredential:
        with self._lock:
            if self._credential is None:
                self._credential = get_credential(*self._spec)
            return self._credential

    @property
    def credential(self) -> GuardedCredential:
        """For SDK clients: bounded by the timeout, transport failures named."""
        return guarded(self.raw_credential, self.timeout, self._spec[2])

    def token(self, scope: str) -> AccessToken:
        try:
            return get_token(self.raw_credential, scope, self.timeout, authority=self._spec[2].authority_host)
        except AuthenticationError as exc:
            # Which app was asked for (doctor's fixes name it): --client-id, else what azure-identity read.
            exc.details.setdefault("client_id", self._spec[1] or os.environ.get("AZURE_CLIENT_ID", ""))
            entra = exc.details.get("entra")
            if isinstance(entra, dict):
                failure = EntraFailure(**{k: str(v) for k, v in entra.items()})
                explained = explain_entra_failure(failure, str(exc.details["client_id"]), str(exc.details.get("secret_hint", "")))
                if explained is not None:
                    exc.hint = explained[1]
            raise

"""The sandbox's Entra authority: OpenID configuration, JWKS and the token endpoint for apps.

Routes (what azure-identity 1.27 / MSAL 1.39 call, per the reference notes):

- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (MSAL needs ``token_endpoint`` and
  ``authorization_endpoint``; the tenant it records is the 2nd path segment of ``token_endpoint``)
- ``GET /{tenant}/discovery/v2.0/keys`` - the key the sandbox signs access tokens with
- ``POST /{tenant}/oauth2/v2.0/token`` - ``client_credentials`` with ``client_secret``, a certificate
  ``client_assertion`` or a federated ``client_assertion``; unknown form fields (``client_info``) ignored
- ``POST /{tenant}/oauth2/token`` - the v1 form (``resource=``), for clients such as the ODBC driver
- the federation issuers' request endpoints (``/_github/idtoken``, ``/_pipelines/oidctoken``), see
  :mod:`.federation`

Tokens are v1 in form, as Azure issues for first-party resources such as Azure SQL (inferred from
captures; no Microsoft document states it for SQL: not confirmed): ``iss`` https://sts.windows.net/{tid}/,
``ver`` 1.0, ``appid``, ``appidacr`` (1 secret, 2 certificate or federated assertion), ``idtyp`` app,
``oid`` = the service principal's object id, ``tid``.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives.asymmetric import rsa

from ..faults import Faults
from ..http import HttpEndpoint, JsonHandler
from ..state import SandboxState
from ..store import StateStore
from . import assertions as asr
from .apps_state import AppRegistration
from .errors import EntraRefusal
from .federation import Federation
from .identity_endpoint import KNOWN_RESOURCES
from .registry import secret_matches
from .tokens import Issuer

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FAULT_KINDS = frozenset({"throttle429", "error500", "delay"})
Answer = tuple[int, dict[str, Any], dict[str, str]]


def _n(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode("ascii")


def jwk(issuer: Issuer) -> dict[str, Any]:
    numbers = issuer.key.public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "kid": issuer.kid, "x5t": issuer.kid, "n": _n(numbers.n), "e": _n(numbers.e)}


class AuthorityService:
    def __init__(self, store: StateStore, issuer: Issuer, faults: Faults, federation: Federation, lifetime: int | None = None) -> None:
        self.store = store
        self.issuer = issuer
        self.faults = faults
        self.federation = federation
        self.lifetime = lifetime
        self.base_url = ""  # https://localhost:PORT once started
        self.requests: Counter[str] = Counter()  # client id -> token requests (served or refused)
        self._lock = threading.Lock()

    # --- discovery ------------------------------------------------------------------------------

    def _tenant(self, tenant: str) -> str | None:
        tid = self.store.read(lambda s: s.tenant_id)
        return tid if tenant.lower() == tid.lower() else None

    def openid_configuration(self, tenant: str, v2: bool = True) -> Answer:
        tid = self._tenant(tenant)
        if tid is None:
            # The discovery document answers an unknown tenant with error "invalid_tenant" (Azure/azure-cli#22145).
            return 400, EntraRefusal(90002, tenant=tenant).body("invalid_tenant"), {}
        base = f"{self.base_url}/{tid}"
        oauth = "oauth2/v2.0" if v2 else "oauth2"
        return 200, {
            "token_endpoint": f"{base}/{oauth}/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{self.base_url}/{tid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"https://login.microsoftonline.com/{tid}/v2.0" if v2 else f"https://sts.windows.net/{tid}/",
            "authorization_endpoint": f"{base}/{oauth}/authorize",
            "device_authorization_endpoint": f"{base}/{oauth}/devicecode",
            "tenant_region_scope": "EU",
        }, {}  # fmt: skip

    def keys(self) -> Answer:
        return 200, {"keys": [jwk(self.issuer)]}, {}

    # --- the token endpoint ---------------------------------------------------------------------

    def token(self, tenant: str, form: dict[str, str], v1: bool = False) -> Answer:
        try:
            return self._token(tenant, form, v1)
        except EntraRefusal as refusal:
            return refusal.status, refusal.body(), refusal.headers

    def _token(self, tenant: str, form: dict[str, str], v1: bool) -> Answer:
        tid = self._tenant(tenant)
        if tid is None:
            raise EntraRefusal(90002, tenant=tenant)
        client_id = form.get("client_id", "")
        with self._lock:
            self.requests[client_id] += 1
        if fault := self.faults.take("entra", set(FAULT_KINDS)):
            if fault.kind == "delay":
                self.faults.sleep(fault.delay)
            elif fault.kind == "throttle429":
                raise EntraRefusal(90055, {"Retry-After": str(fault.retry_after)}, retry_after=str(fault.retry_after))
            else:
                return (
                    500,
                    {"error": "server_error", "error_description": "AADSTS90033: A transient error has occurred. Please try again."},
                    {},
                )
        if form.get("grant_type") != "client_credentials":
            raise EntraRefusal(70003, grant_type=form.get("grant_type", ""))
        if not client_id:
            raise EntraRefusal(900144, parameter="client_id")
        resource = self._resource(form, v1, tid)
        app = self.store.read(lambda s: s.apps.by_client_id(client_id) or _user_assigned(s, client_id))
        if app is None:
            raise EntraRefusal(700016, client_id=client_id, tenant=tid)
        acr = self._authenticate(app, tid, form)
        return self._issue(app, tid, resource, acr, v1)

    def _resource(self, form: dict[str, str], v1: bool, tenant: str) -> str:
        """The token audience: v2 ``scope`` RESOURCE/.default gives RESOURCE without a slash; v1 ``resource`` as sent."""
        if v1:
            resource = form.get("resource", "")
            if not resource:
                raise EntraRefusal(900144, parameter="resource")
        else:
            scope = form.get("scope", "")
            if not scope:
                raise EntraRefusal(900144, parameter="scope")
            if " " in scope.strip() or not scope.endswith("/.default"):
                # client_credentials takes exactly one RESOURCE/.default (entra-docs v2-oauth2-client-creds-grant-flow).
                raise EntraRefusal(70011, scope=scope)
            resource = scope.removesuffix("/.default")
        if resource.rstrip("/").lower() not in KNOWN_RESOURCES:
            raise EntraRefusal(500011, resource=resource, tenant=tenant)
        return resource

    def _authenticate(self, app: AppRegistration, tenant: str, form: dict[str, str]) -> str:
        """Check the client's proof; returns ``appidacr`` (1 secret, 2 assertion)."""
        if secret := form.get("client_secret"):
            if app.managed_identity:
                raise EntraRefusal(7000215, client_id=app.client_id)
            match = next((x for x in app.secrets if secret_matches(x, secret)), None)
            if match is None:
                raise EntraRefusal(7000215, client_id=app.client_id)
            if match.end < time.time():
                raise EntraRefusal(7000222, client_id=app.client_id)
            return "1"
        assertion = form.get("client_assertion", "")
        if not assertion:
            raise EntraRefusal(7000218)
        if form.get("client_assertion_type") != JWT_BEARER:
            raise EntraRefusal(900144, parameter="client_assertion_type")
        parsed = asr.parse(assertion)
        if str(parsed.claims.get("iss", "")).lower() == app.client_id.lower():
            endpoints = {f"{self.base_url}/{tenant}/oauth2/v2.0/token".lower(), f"{self.base_url}/{tenant}/oauth2/token".lower()}
            asr.check_certificate_assertion(app, parsed, endpoints)
        else:
            self._check_federated(app, parsed)
        return "2"

    def _check_federated(self, app: AppRegistration, parsed: asr.Parsed) -> None:
        claims = parsed.claims
        iss, sub = str(claims.get("iss", "")), str(claims.get("sub", ""))
        auds = asr.audiences_of(claims)
        if not app.federated or app.managed_identity:
            # The generic form prints all three. Current Entra answers app registrations with the specific
            # codes below; 70021 is what captures show for user-assigned identities (AKS) and for apps with
            # no federated credential at all - which code Entra picks when is not confirmed.
            self._verify_federated_token(parsed)
            if not any(f.issuer == iss and f.subject == sub and set(f.audiences) & set(auds) for f in app.federated):
                raise EntraRefusal(70021, issuer=iss, subject=sub, audience=",".join(auds))
            return
        by_issuer = [f for f in app.federated if f.issuer == iss]  # exact: a trailing slash matters
        if not by_issuer:
            raise EntraRefusal(700211, issuer=iss)
        self._verify_federated_token(parsed)
        by_audience = [f for f in by_issuer if set(f.audiences) & set(auds)]
        if not by_audience:
            raise EntraRefusal(700212, audience=",".join(auds))
        if any(f.subject == sub for f in by_audience):
            return
        if any(f.subject.lower() == sub.lower() for f in by_audience):
            raise EntraRefusal(7002138, subject=sub)  # matching became case-sensitive (Aug 2024)
        raise EntraRefusal(700213, subject=sub)

    def _verify_federated_token(self, parsed: asr.Parsed) -> None:
        signer = self.federation.signer_for(str(parsed.claims.get("iss", "")))
        if signer is None:
            raise EntraRefusal(90061)
        key = signer.key.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        if not asr.verify_signature(key, parsed, (asr.RS256,)):
            # An external token whose signature fails: Entra's text for this case is not captured (not confirmed).
            raise EntraRefusal(50027)
        asr.check_lifetime(parsed.claims)

    def _issue(self, app: AppRegistration, tenant: str, resource: str, acr: str, v1: bool) -> Answer:
        def pick(s: SandboxState) -> tuple[Any, int]:
            return s.identity_by_client_id(app.client_id), s.token_lifetime

        identity, lifetime = self.store.read(pick)
        if identity is None:  # the service principal was removed from the state by hand
            raise EntraRefusal(700016, client_id=app.client_id, tenant=tenant)
        lifetime = self.lifetime or lifetime
        token = self.issuer.issue(identity, resource, tenant, lifetime, appidacr=acr)
        body: dict[str, Any] = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
        if v1:
            now = int(time.time())
            body.update(expires_on=str(now + lifetime), not_before=str(now), resource=resource, expires_in=str(lifetime))
        return 200, body, {}

    # --- federation issuers' request endpoints --------------------------------------------------

    def github_id_token(self, query: dict[str, str], authorization: str) -> Answer:
        job = self.federation.github_jobs.get(authorization.removeprefix("Bearer ").strip())
        if job is None:
            return 401, {"message": "Bad credentials"}, {}
        return 200, {"value": self.federation.github_token(job, query.get("audience", ""))}, {}

    def pipelines_oidc_token(self, query: dict[str, str], authorization: str) -> Answer:
        job = self.federation.pipelines_jobs.get(authorization.removeprefix("Bearer ").strip())
        if job is None:
            return 401, {"message": "TF400813: The user is not authorized to access this resource."}, {}
        if query.get("serviceConnectionId", "").lower() != job.connection_id.lower():
            return 404, {"message": f"Service connection '{query.get('serviceConnectionId', '')}' was not found."}, {}
        return 200, {"oidcToken": self.federation.pipelines_token(job)}, {}


def _user_assigned(s: SandboxState, client_id: str) -> AppRegistration | None:
    """A user-assigned identity that has no federated credential yet: known to Entra, trusting nothing."""
    ident = s.identity_by_client_id(client_id)
    if ident is None or ident.kind != "managed_identity" or ident.system_assigned:
        return None
    return AppRegistration(ident.client_id, ident.object_id, ident.name, managed_identity=True)


def start_authority_endpoint(service: AuthorityService, tls: Any, port: int = 0) -> HttpEndpoint:
    class Handler(JsonHandler):
        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            parts = [p for p in self.route.split("/") if p]
            if parts == ["_github", "idtoken"]:
                answer = service.github_id_token(self.query, self.headers.get("Authorization", ""))
            elif len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                answer = service.openid_configuration(parts[0])
            elif len(parts) == 3 and parts[1:] == [".well-known", "openid-configuration"]:
                answer = service.openid_configuration(parts[0], v2=False)
            elif len(parts) >= 3 and parts[1] == "discovery" and parts[-1] == "keys":
                answer = service.keys()
            else:
                answer = 404, {"error": "not_found", "error_description": f"no route {self.route}"}, {}
            self.send_json(*answer)

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            parts = [p for p in self.route.split("/") if p]
            form = self._form()
            if parts == ["_pipelines", "oidctoken"]:
                answer = service.pipelines_oidc_token(self.query, self.headers.get("Authorization", ""))
            elif len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
                answer = service.token(parts[0], form)
            elif len(parts) == 3 and parts[1:] == ["oauth2", "token"]:
                answer = service.token(parts[0], form, v1=True)
            else:
                answer = 404, {"error": "not_found", "error_description": f"no route {self.route}"}, {}
            self.send_json(*answer)

    return HttpEndpoint(Handler, port=port, tls=tls).start()

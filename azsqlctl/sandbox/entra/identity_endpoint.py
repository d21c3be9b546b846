"""The App Service managed-identity endpoint (IDENTITY_ENDPOINT + X-IDENTITY-HEADER).

azure-identity (through MSAL) sends ``GET ?api-version=2019-08-01&resource=...``
with optional ``client_id`` / ``object_id`` / ``principal_id`` / ``mi_res_id``,
and expects ``access_token`` plus ``expires_on`` in epoch seconds.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from typing import Any

from ..faults import Faults
from ..http import HttpEndpoint, JsonHandler
from ..state import Identity, SandboxState
from ..store import StateStore
from .tokens import Issuer

API_VERSION = "2019-08-01"
# Resources the sandbox tenant knows (Entra refuses others with AADSTS500011).
KNOWN_RESOURCES = {
    "https://database.windows.net", "https://database.usgovcloudapi.net", "https://database.chinacloudapi.cn",
    "https://management.azure.com", "https://management.core.windows.net", "https://graph.microsoft.com",
    "https://vault.azure.net", "https://storage.azure.com", "https://api.loganalytics.io",
}  # fmt: skip


class IdentityService:
    def __init__(self, store: StateStore, issuer: Issuer, faults: Faults, lifetime: int | None = None) -> None:
        self.store = store
        self.issuer = issuer
        self.faults = faults
        self.lifetime = lifetime
        self.header_secret = secrets.token_urlsafe(24)
        self.requests: Counter[str] = Counter()  # identity name -> token requests served or refused
        self._lock = threading.Lock()

    def handle(self, query: dict[str, str], header: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        if header != self.header_secret:
            return 401, {"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong."}, {}
        if query.get("api-version") != API_VERSION:
            return 400, {"statusCode": 400, "message": f"api-version must be {API_VERSION}."}, {}
        resource = query.get("resource", "")
        if not resource:
            return 400, {"statusCode": 400, "message": "Required query parameter 'resource' is missing."}, {}
        if resource.removesuffix(".default").rstrip("/").lower() not in KNOWN_RESOURCES:
            tenant_id = self.store.read(lambda s: s.tenant_id)
            message = (
                f"AADSTS500011: The resource principal named '{resource}' was not found in the tenant named {tenant_id}. "
                "This can happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            )
            return 400, {"statusCode": 400, "message": message, "error": "invalid_resource", "error_description": message}, {}
        identity, tenant, lifetime = self.store.read(lambda s: (self._pick(s, query), s.tenant_id, s.token_lifetime))
        lifetime = self.lifetime or lifetime
        if identity is None:
            return 400, {"statusCode": 400, "message": "No managed identity matches the requested client_id/object_id/mi_res_id."}, {}
        with self._lock:
            self.requests[identity.name] += 1
        fault = self.faults.take("token", {"error500", "throttle429", "delay", "opaque", "expired"})
        overrides: dict[str, Any] = {}
        if fault is not None:
            if fault.kind == "opaque":
                # A token broker or proxy handing out something that is not a JWS access token.
                opaque = secrets.token_urlsafe(600)
                return (
                    200,
                    {"access_token": opaque, "expires_on": str(int(time.time()) + lifetime), "resource": resource, "token_type": "Bearer"},
                    {},
                )
            if fault.kind == "expired":
                # The issuer's clock is 2 hours behind ours: exp is in the past, expires_on is not.
                now = int(time.time()) - 7200
                overrides = {"iat": now, "nbf": now, "exp": now + 3600}
            elif fault.kind == "delay":
                self.faults.sleep(fault.delay)
            elif fault.kind == "throttle429":
                return 429, {"statusCode": 429, "message": "Too many requests."}, {"Retry-After": str(fault.retry_after)}
            else:
                return 500, {"statusCode": 500, "message": "An unexpected error occurred while fetching the AAD token."}, {}
        token = self.issuer.issue(identity, resource.removesuffix(".default"), tenant, lifetime, **overrides)
        expires_on = int(time.time()) + lifetime
        body = {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": identity.client_id,
        }
        return 200, body, {}

    @staticmethod
    def _pick(state: SandboxState, query: dict[str, str]) -> Identity | None:
        if cid := query.get("client_id"):
            return state.identity_by_client_id(cid)
        if oid := query.get("object_id") or query.get("principal_id"):
            return state.identity_by_object_id(oid)
        if rid := query.get("mi_res_id"):
            name = rid.rstrip("/").rsplit("/", 1)[-1]
            return next((i for i in state.identities if i.kind == "managed_identity" and i.name == name), None)
        return state.system_identity()


def start_identity_endpoint(service: IdentityService, port: int = 0) -> HttpEndpoint:
    class Handler(JsonHandler):
        surface = "identity"

        def error_body(self, status: int, code: str, message: str) -> Any:
            del code
            return {"statusCode": status, "message": message}  # the App Service identity endpoint's shape

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self.discard_body()  # a GET with a body: read within the limits, so keep-alive stays in step
            status, body, headers = service.handle(self.query, self.headers.get("X-IDENTITY-HEADER"))
            self.send_json(status, body, headers)

    return HttpEndpoint(Handler, port=port).start()

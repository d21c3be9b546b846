"""Entra's refusals: the AADSTS codes the sandbox authority answers with, and their JSON body.

Body shape (entra-docs ``reference-error-codes.md``): ``error``, ``error_description``
(``AADSTS<n>: <text>`` + ``Trace ID`` / ``Correlation ID`` / ``Timestamp`` lines), ``error_codes``,
``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``. Message texts are the latest observed
in captures of real Entra output; codes 70021, 700211, 700212, 700213, 700024 and 7002138 are not in
Microsoft's official code table, so their texts are "latest observed", not confirmed. Microsoft does
not document the HTTP status per code either: ``invalid_client`` answers 401 and the others 400, as
field captures show (not confirmed by a document). Clients must branch on ``error``/the code number,
never on the text.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Code:
    number: int
    error: str  # the OAuth error field
    status: int
    template: str  # str.format fields


_FIC_HINT = (
    "Check your federated identity credential Subject, Audience and Issuer against the presented assertion. "
    "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
)

CODES: dict[int, Code] = {
    c.number: c
    for c in (
        Code(90002, "invalid_request", 400,
             "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. "
             "Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
        Code(700016, "unauthorized_client", 400,
             "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application "
             "has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent "
             "your authentication request to the wrong tenant."),
        Code(7000215, "invalid_client", 401,
             "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client "
             "secret ID, for a secret added to app '{client_id}'."),
        Code(7000222, "invalid_client", 401,
             "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: "
             "https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."),
        Code(7000218, "invalid_request", 400,
             "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
        Code(700027, "invalid_client", 401,
             "Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of key used by client: '{thumbprint}', "
             "Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. "
             "Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .]"),
        Code(700024, "invalid_client", 401,
             "Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of "
             "assertion {exp}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."),
        Code(70021, "invalid_request", 400,
             "No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. "
             "Assertion Subject: '{subject}'. Assertion Audience: '{audience}'."),
        Code(700211, "invalid_client", 401,
             "No matching federated identity record found for presented assertion issuer '{issuer}'. " + _FIC_HINT),
        Code(700212, "invalid_client", 401,
             "No matching federated identity record found for presented assertion audience '{audience}'. " + _FIC_HINT),
        Code(700213, "invalid_client", 401,
             "No matching federated identity record found for presented assertion subject '{subject}'. " + _FIC_HINT),
        Code(7002138, "invalid_client", 401,
             "No matching federated identity record found for presented assertion subject '{subject}'. The subject matches with "
             "case-insensitive comparison, but not with case-sensitive comparison. " + _FIC_HINT),
        Code(500011, "invalid_resource", 400,
             "The resource principal named '{resource}' was not found in the tenant named {tenant}. This can happen if the application "
             "has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent "
             "your authentication request to the wrong tenant."),
        Code(70011, "invalid_scope", 400,
             "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not "
             "valid. The scope {scope} is not valid."),
        Code(900144, "invalid_request", 400, "The request body must contain the following parameter: '{parameter}'."),
        Code(70003, "unsupported_grant_type", 400, "The app requested an unsupported grant type '{grant_type}'."),
        Code(50027, "invalid_request", 400, "JWT token is invalid or malformed."),
        # Entra fetches a federated token's issuer's discovery document and keys; the sandbox trusts only its own issuers.
        Code(90061, "invalid_request", 400, "Request to External OIDC endpoint failed."),
        # Throttling (fault switch). Texts for 50196/90055 are not captured; this is a paraphrase.
        Code(90055, "temporarily_unavailable", 429, "The request is throttled temporarily. Retry after {retry_after} seconds."),
    )
}  # fmt: skip


class EntraRefusal(Exception):
    """A refusal the authority answers with; ``body()`` is Entra's JSON error body."""

    def __init__(self, number: int, headers: dict[str, str] | None = None, **fields: str) -> None:
        self.code = CODES[number]
        self.fields = fields
        self.text = f"AADSTS{number}: " + self.code.template.format(**fields)
        self.headers = headers or {}
        super().__init__(self.text)

    @property
    def status(self) -> int:
        return self.code.status

    def body(self, error_override: str = "") -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        description = f"{self.text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {stamp}"
        return {
            "error": error_override or self.code.error,
            "error_description": description,
            "error_codes": [self.code.number],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code.number}",
        }


def entra_time(epoch: float) -> str:
    """Entra's timestamp form in 700024: 2024-10-02T22:05:03.6755165Z (seven fractional digits)."""
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"

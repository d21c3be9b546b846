"""App registrations in the sandbox state: the additive ``apps`` section.

An app registration (``application`` object) owns the credentials; its service principal is an
:class:`~azsqlctl.sandbox.state.Identity` of kind ``service_principal`` in ``state.identities``
(display name, SP object id, client id), so TDS logins, grant and doctor see it as they see a managed
identity. A user-assigned managed identity can carry federated credentials too (AKS workload
identity); those live here under the identity's client id with ``managed_identity=True``.

Secrets are stored as a SHA-256 of their value plus Entra's three-character hint: the value is shown
once, when the secret is added, as the Azure portal does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_FEDERATED_CREDENTIALS = 20  # per app or user-assigned identity (entra-docs, FIC considerations)
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105 - an audience, not a password


@dataclass
class AppSecret:
    key_id: str
    display_name: str
    hint: str  # the first three characters, as Entra shows them
    sha256: str  # of the value; the value itself is never stored
    end: float  # epoch seconds: after this Entra answers AADSTS7000222


@dataclass
class AppCertificate:
    key_id: str
    display_name: str
    der_b64: str  # the certificate (public part), base64 DER, as keyCredentials[].key
    sha1_hex: str  # what Entra calls the thumbprint (upper-case hex)
    sha256_hex: str
    end: float


@dataclass
class FederatedCredential:
    name: str
    issuer: str
    subject: str
    audiences: list[str] = field(default_factory=lambda: [TOKEN_EXCHANGE_AUDIENCE])
    description: str = ""


@dataclass
class AppRegistration:
    client_id: str  # appId
    object_id: str  # the application object's id (not the service principal's)
    display_name: str
    secrets: list[AppSecret] = field(default_factory=list)
    certificates: list[AppCertificate] = field(default_factory=list)
    federated: list[FederatedCredential] = field(default_factory=list)
    managed_identity: bool = False  # a user-assigned identity's federated credentials, not an app


@dataclass
class Apps:
    registrations: list[AppRegistration] = field(default_factory=list)

    def by_client_id(self, client_id: str) -> AppRegistration | None:
        return next((a for a in self.registrations if a.client_id.lower() == client_id.lower()), None)


def apps_from_dict(data: Any) -> Apps:
    if not data:
        return Apps()
    regs = []
    for raw in data.get("registrations", []):
        r = dict(raw)
        regs.append(
            AppRegistration(
                **{k: v for k, v in r.items() if k not in ("secrets", "certificates", "federated")},
                secrets=[AppSecret(**x) for x in r.get("secrets", [])],
                certificates=[AppCertificate(**x) for x in r.get("certificates", [])],
                federated=[FederatedCredential(**x) for x in r.get("federated", [])],
            )
        )
    return Apps(regs)

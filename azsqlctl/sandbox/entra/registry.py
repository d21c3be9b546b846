"""Managing app registrations: create, add a secret, a certificate or a federated credential.

Pure operations on :class:`~azsqlctl.sandbox.state.SandboxState` (callers hold the store's
``mutate()``); bad input is a :class:`UsageError` worded as Entra/Graph words it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from azsqlctl.core.errors import NotFound, UsageError

from ..state import Identity, SandboxState
from .apps_state import (
    MAX_FEDERATED_CREDENTIALS,
    TOKEN_EXCHANGE_AUDIENCE,
    AppCertificate,
    AppRegistration,
    AppSecret,
    FederatedCredential,
)

DEFAULT_SECRET_DAYS = 180  # the Azure portal's recommended default (6 months)
_FIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$")  # 3-120 chars, first alphanumeric (entra-docs)
_FIC_MAX = 600


@dataclass(frozen=True)
class NewSecret:
    """The one time a secret's value is visible."""

    client_id: str
    key_id: str
    value: str
    end: float


def _secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def secret_matches(secret: AppSecret, value: str) -> bool:
    return secrets.compare_digest(secret.sha256, _secret_hash(value))


def find_app(s: SandboxState, ref: str) -> AppRegistration:
    """An app (or identity with federated credentials) by client id, display name or app object id."""
    app = s.apps.by_client_id(ref) or next((a for a in s.apps.registrations if ref in (a.display_name, a.object_id)), None)
    if app is not None:
        return app
    ident = next((i for i in s.identities if ref in (i.name, i.client_id) and i.kind == "managed_identity" and not i.system_assigned), None)
    if ident is not None:
        # A user-assigned identity gets a registration entry on its first federated credential.
        app = AppRegistration(ident.client_id, ident.object_id, ident.name, managed_identity=True)
        s.apps.registrations.append(app)
        return app
    known = ", ".join(a.display_name for a in s.apps.registrations if not a.managed_identity) or "none yet"
    raise NotFound(f"no app registration '{ref}' in the sandbox tenant (apps: {known})", "create it: azsqlctl sandbox app create NAME")


def create_app(s: SandboxState, display_name: str) -> AppRegistration:
    if not display_name.strip() or len(display_name) > 120:
        raise UsageError("an app's display name must be 1-120 characters", "pass a name such as orders-ci", code="bad_app_name")
    if any(i.name.lower() == display_name.lower() for i in s.identities):
        # Entra allows duplicate display names; the sandbox names principals uniquely (CREATE USER [name] FROM EXTERNAL PROVIDER).
        raise UsageError(f"the sandbox tenant already has a principal named '{display_name}'", "pick another name", code="app_exists")
    client_id, app_oid, sp_oid = (str(uuid.uuid4()) for _ in range(3))
    app = AppRegistration(client_id, app_oid, display_name)
    s.apps.registrations.append(app)
    s.identities.append(Identity(display_name, "service_principal", sp_oid, client_id))
    return app


def add_secret(s: SandboxState, ref: str, display_name: str = "", days: float = DEFAULT_SECRET_DAYS) -> NewSecret:
    app = find_app(s, ref)
    if app.managed_identity:
        raise UsageError(f"'{app.display_name}' is a managed identity: it has no secrets", "use an app registration", code="bad_credential")
    # Entra's secret values: 40 characters, the 4th-5th are "Q~" style; what matters is they are random.
    value = secrets.token_urlsafe(27)[:3] + "8Q~" + secrets.token_urlsafe(30)[:34]
    end = time.time() + days * 86400
    key_id = str(uuid.uuid4())
    app.secrets.append(AppSecret(key_id, display_name or f"secret-{len(app.secrets) + 1}", value[:3], _secret_hash(value), end))
    return NewSecret(app.client_id, key_id, value, end)


def thumbprints(cert: x509.Certificate) -> tuple[str, str]:
    """(SHA-1, SHA-256) of the DER certificate, upper-case hex, as the portal shows them."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()  # noqa: S324 - x5t is SHA-1 by definition


def add_certificate(s: SandboxState, ref: str, pem: bytes, display_name: str = "") -> AppCertificate:
    app = find_app(s, ref)
    if app.managed_identity:
        raise UsageError(
            f"'{app.display_name}' is a managed identity: it has no certificates", "use an app registration", code="bad_credential"
        )
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise UsageError(
            "the file holds no PEM certificate", "pass the certificate (public part) in PEM form", code="bad_certificate"
        ) from None
    sha1, sha256 = thumbprints(cert)
    if any(c.sha1_hex == sha1 for c in app.certificates):
        raise UsageError(f"certificate {sha1} is already registered on '{app.display_name}'", "", code="bad_certificate")
    der_b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
    name = display_name or cert.subject.rfc4514_string() or sha1
    entry = AppCertificate(str(uuid.uuid4()), name, der_b64, sha1, sha256, cert.not_valid_after_utc.timestamp())
    app.certificates.append(entry)
    return entry


def add_federated_credential(
    s: SandboxState, ref: str, name: str, issuer: str, subject: str, audiences: list[str] | None = None, description: str = ""
) -> FederatedCredential:
    app = find_app(s, ref)
    audiences = audiences if audiences is not None else [TOKEN_EXCHANGE_AUDIENCE]
    if not _FIC_NAME.match(name):
        raise UsageError(
            f"federated credential name '{name}' is not valid",
            "3-120 characters: letters, digits, '-' and '_', starting with a letter or digit",
            code="bad_federated_credential",
        )
    if len(audiences) != 1:
        raise UsageError(
            "Federated identity credentials must have exactly one audience.",
            f"pass one: {TOKEN_EXCHANGE_AUDIENCE}",
            code="bad_federated_credential",
        )
    for label, value in (("issuer", issuer), ("subject", subject), ("audience", audiences[0]), ("description", description)):
        if len(value) > _FIC_MAX or (label != "description" and not value):
            raise UsageError(f"the {label} must be 1-{_FIC_MAX} characters", "", code="bad_federated_credential")
    if any(f.name == name for f in app.federated):
        raise UsageError(
            f"'{app.display_name}' already has a federated credential named '{name}'", "pick another name", code="bad_federated_credential"
        )
    if any(f.issuer == issuer and f.subject == subject for f in app.federated):
        raise UsageError(
            "Issuer and subject combination already exists for this " + ("Managed Identity." if app.managed_identity else "application."),
            "", code="bad_federated_credential",
        )  # fmt: skip
    if len(app.federated) >= MAX_FEDERATED_CREDENTIALS:
        raise UsageError(
            f"'{app.display_name}' already has {MAX_FEDERATED_CREDENTIALS} federated credentials, the most Entra allows",
            "remove one, or use another app/identity", code="bad_federated_credential",
        )  # fmt: skip
    fic = FederatedCredential(name, issuer, subject, list(audiences), description)
    app.federated.append(fic)
    return fic


def new_certificate(subject: str, days: int = 365) -> tuple[bytes, bytes]:
    """A self-signed RSA certificate and its key, PEM (what ``az ad sp create-for-rbac --create-cert`` hands out)."""
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem

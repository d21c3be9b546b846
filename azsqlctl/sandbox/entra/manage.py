"""`azsqlctl sandbox app ...` against a state file: each call loads the store, changes it, saves.

A running sandbox over the same file sees the change on its next request (the store reloads when
the file changes). Results are plain data for the CLI's envelope; a secret's value appears in the
result of ``add_secret`` only - it is never stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from azsqlctl.atomic_file import write_atomic

from ..state import SandboxState
from ..store import StateStore
from . import registry
from .apps_state import AppRegistration

T = TypeVar("T")


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _with_state(path: Path, fn: Callable[[SandboxState], T]) -> T:
    store = StateStore(path)
    try:
        with store.mutate() as s:
            return fn(s)
    finally:
        store.audit.close()


def describe(app: AppRegistration, s: SandboxState) -> dict[str, Any]:
    sp = s.identity_by_client_id(app.client_id)
    return {
        "display_name": app.display_name,
        "kind": "managed_identity" if app.managed_identity else "application",
        "client_id": app.client_id,
        "app_object_id": app.object_id,
        "sp_object_id": sp.object_id if sp else "",
        "tenant_id": s.tenant_id,
        "secrets": [{"key_id": x.key_id, "display_name": x.display_name, "hint": x.hint, "end": _iso(x.end)} for x in app.secrets],
        "certificates": [{"thumbprint": c.sha1_hex, "display_name": c.display_name, "end": _iso(c.end)} for c in app.certificates],
        "federated_credentials": [
            {"name": f.name, "issuer": f.issuer, "subject": f.subject, "audiences": list(f.audiences), "description": f.description}
            for f in app.federated
        ],
    }


def create(path: Path, name: str) -> dict[str, Any]:
    return _with_state(path, lambda s: describe(registry.create_app(s, name), s))


def list_apps(path: Path) -> list[dict[str, Any]]:
    return _with_state(path, lambda s: [describe(a, s) for a in s.apps.registrations])


def add_secret(path: Path, app: str, name: str, days: float) -> dict[str, Any]:
    def change(s: SandboxState) -> dict[str, Any]:
        new = registry.add_secret(s, app, name, days)
        return {"client_id": new.client_id, "tenant_id": s.tenant_id, "key_id": new.key_id, "value": new.value, "end": _iso(new.end)}

    return _with_state(path, change)


def add_certificate(path: Path, app: str, cert: Path | None, create: Path | None, name: str) -> dict[str, Any]:
    if create is not None:
        cert_pem, key_pem = registry.new_certificate(app)
        # Key and certificate in one PEM file: what CertificateCredential / AZURE_CLIENT_CERTIFICATE_PATH take.
        write_atomic(create, (key_pem + cert_pem).decode("ascii"), 0o600)
        pem = cert_pem
    else:
        assert cert is not None
        pem = cert.read_bytes()

    def change(s: SandboxState) -> dict[str, Any]:
        entry = registry.add_certificate(s, app, pem, name)
        found = registry.find_app(s, app)
        return {"client_id": found.client_id, "tenant_id": s.tenant_id, "thumbprint": entry.sha1_hex,
                "end": _iso(entry.end), "file": str(create) if create else None}  # fmt: skip

    return _with_state(path, change)


def add_federated_credential(path: Path, app: str, name: str, issuer: str, subject: str, audience: str, description: str) -> dict[str, Any]:
    def change(s: SandboxState) -> dict[str, Any]:
        fic = registry.add_federated_credential(s, app, name, issuer, subject, [audience], description)
        found = registry.find_app(s, app)
        return {"client_id": found.client_id, "name": fic.name, "issuer": fic.issuer, "subject": fic.subject, "audiences": fic.audiences}

    return _with_state(path, change)

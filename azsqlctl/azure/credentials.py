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
from typing import Any

from azsqlctl.core.clouds import Cloud
from azsqlctl.core.errors import AuthenticationError, UsageError
from azsqlctl.core.ports import AccessToken
from azsqlctl.core.settings import AUTH_KINDS

_lock = threading.Lock()
_credentials: dict[tuple[str, str, str, str, str], Any] = {}
_IDENTITY_ENV = ("IDENTITY_", "MSI_", "IMDS_", "AZURE_")


def get_credential(auth: str, client_id: str, cloud: Cloud, tenant_id: str = "") -> Any:
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


def _build(auth: str, client_id: str, cloud: Cloud, tenant_id: str) -> Any:
    import azure.identity as ai

    authority = cloud.authority_host.removeprefix("https://")
    cid = client_id or None
    if auth == "default":
        return ai.DefaultAzureCredential(authority=authority, managed_identity_client_id=cid, exclude_interactive_browser_credential=True)
    if auth == "cli":
        return ai.AzureCliCredential(tenant_id=tenant_id)
    if auth == "managed-identity":
        return ai.ManagedIdentityCredential(client_id=cid)
    if auth == "workload-identity":
        try:
            return ai.WorkloadIdentityCredential(client_id=cid, tenant_id=tenant_id or None, authority=authority)
        except ValueError as exc:
            raise AuthenticationError(
                f"workload identity is not configured: {exc}",
                "set AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID (the AKS webhook does)",
            ) from exc
    if auth == "environment":
        return ai.EnvironmentCredential(authority=authority)
    return ai.DeviceCodeCredential(client_id=cid or "04b07795-8ddb-461a-bbee-02f9e1bf7b46", authority=authority)


class _Silence(logging.Filter):
    """azure-identity logs the whole chain failure as a WARNING; we condense it instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


_AADSTS = re.compile(r"AADSTS\d+")


def condense(message: str) -> tuple[str, ...]:
    """One line per chain link: 'EnvironmentCredential: not configured' and so on."""
    lines = []
    for raw in message.splitlines():
        line = raw.strip()
        m = re.match(r"^(\w+Credential):\s*(.*)$", line)
        if m:
            reason = m[2].split(". ")[0].rstrip(".")
            codes = _AADSTS.findall(m[2])
            lines.append(f"{m[1]}: {reason}" + (f" ({codes[0]})" if codes and codes[0] not in reason else ""))
    return tuple(lines) or (message.strip().splitlines()[0] if message.strip() else "no detail",)


def get_token(credential: Any, scope: str, timeout: float | None = None) -> AccessToken:
    from azure.core.exceptions import ClientAuthenticationError

    silence = _Silence()
    loggers = [
        logging.getLogger(n) for n in ("azure.identity", "azure.identity._credentials.chained", "azure.identity._internal.decorators")
    ]
    for lg in loggers:
        lg.addFilter(silence)
    start = time.perf_counter()
    try:
        kwargs: dict[str, Any] = {"timeout": timeout} if timeout else {}
        result = credential.get_token(scope, **kwargs)
    except ClientAuthenticationError as exc:
        failures = condense(str(exc.message if hasattr(exc, "message") else exc))
        code = next((c for f in failures for c in _AADSTS.findall(f)), "")
        raise AuthenticationError(
            "no credential could get a token" + (f" ({code})" if code else "") + ": " + "; ".join(failures),
            "on Azure, enable a managed identity; locally run `az login`, or use `azsqlctl sandbox run -- ...`",
            code="no_credential",
        ) from exc
    finally:
        for lg in loggers:
            lg.removeFilter(silence)
    elapsed = (time.perf_counter() - start) * 1000
    chosen = getattr(credential, "_successful_credential", None)
    name = type(chosen or credential).__name__
    return AccessToken(result.token, int(result.expires_on), name, elapsed)


class CredentialTokens:
    """TokenSource over one azure-identity credential (cached per process)."""

    def __init__(self, auth: str, client_id: str, cloud: Cloud, tenant_id: str = "", timeout: float | None = None) -> None:
        self.credential = get_credential(auth, client_id, cloud, tenant_id)
        self.timeout = timeout

    def token(self, scope: str) -> AccessToken:
        return get_token(self.credential, scope, self.timeout)

"""doctor's ARM read: the server, its firewall rules and the database, over plain REST.

azure-mgmt-sql costs ~190 ms to import (one 3 MB operations module) for three GETs; doctor
reads them with ``requests`` (already loaded by azure-identity through msal), the same
credential (token cache) and the cloud's CA, all three at once. Every connection shares one
``SSLContext``: requests would re-read the CA bundle for each new connection (~25 ms of CPU for
a system-sized bundle). Writes (grant's Entra admin) stay with the SDK in ``azure.arm``.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from azsqlctl.core.clouds import Cloud
from azsqlctl.core.errors import NotFound
from azsqlctl.core.ports import FirewallRuleFacts, ServerFacts, TokenSource

from .arm_errors import arm_refusal, body_message, wire_text

API_VERSION = "2023-08-01"
T = TypeVar("T")
Json = Mapping[str, object]


class ArmRest:
    def __init__(self, tokens: TokenSource, cloud: Cloud, subscription: str, timeout: float) -> None:
        import requests

        self.cloud = cloud
        self.base = f"{cloud.arm_endpoint.rstrip('/')}/subscriptions/{quote(subscription)}"
        self.timeout = timeout
        self._tokens = tokens
        self._lock = threading.Lock()
        self._bearer: str | None = None
        self._session = requests.Session()
        if cloud.ca_bundle:
            self._session.verify = cloud.ca_bundle
        # The cloud's CA bundle, as the SDK clients pass it (it wins over REQUESTS_CA_BUNDLE); else what requests
        # would use for this URL (REQUESTS_CA_BUNDLE or certifi's). Read once, not per connection.
        verify = cloud.ca_bundle or self._session.merge_environment_settings(self.base, {}, None, None, None)["verify"]
        if verify is not False:
            self._session.mount("https://", _shared_context_adapter(_context(verify)))

    def _token(self) -> str:
        with self._lock:  # one token request, however many GETs start at once
            if self._bearer is None:
                self._bearer = self._tokens.token(self.cloud.arm_scope).token
            return self._bearer

    def get(self, path: str) -> Json | None:
        """The JSON body, or None for 404."""
        import requests

        token = self._token()
        url = f"{self.base}{path}{'&' if '?' in path else '?'}api-version={API_VERSION}"
        try:
            response = self._session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=self.timeout)
        except requests.RequestException as exc:
            from azsqlctl.core.transport import Endpoint

            from .transport import endpoint_failure

            raise endpoint_failure(Endpoint.ARM, self.cloud.arm_endpoint, exc, self.timeout) from None
        if response.status_code == 404:
            return None
        body = _json(response)
        if response.status_code >= 400:
            raise arm_refusal(response.status_code, body_message(body))
        return body


def _context(verify: object) -> ssl.SSLContext:
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    where = verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH
    if os.path.isdir(where):
        return ssl.create_default_context(capath=where)
    return ssl.create_default_context(cafile=where)


def _shared_context_adapter(context: ssl.SSLContext) -> Any:
    """An HTTPAdapter whose HTTPS connections all verify with ``context`` (not a CA file each)."""
    from requests.adapters import HTTPAdapter

    class SharedContext(HTTPAdapter):
        def build_connection_pool_key_attributes(
            self, request: Any, verify: Any, cert: Any = None
        ) -> tuple[dict[str, Any], dict[str, Any]]:
            host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
            if verify is not False:
                pool.pop("ca_certs", None)
                pool.pop("ca_cert_dir", None)
                pool["ssl_context"] = context
            return host, pool

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, verify, cert)
            if verify is not False:
                conn.ca_certs = conn.ca_cert_dir = None

    return SharedContext()


def _json(response: object) -> Json:
    try:
        body = response.json()  # type: ignore[attr-defined]
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _props(body: Json) -> Json:
    props = body.get("properties")
    return props if isinstance(props, dict) else {}


def _in_parallel(*calls: Callable[[], T]) -> list[T]:
    results: dict[int, T] = {}
    errors: dict[int, BaseException] = {}

    def run(i: int, call: Callable[[], T]) -> None:
        try:
            results[i] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[min(errors)]
    return [results[i] for i in range(len(calls))]


def read_server(arm: ArmRest, resource_group: str, server_name: str, host: str, database: str) -> ServerFacts:
    group = f"/resourceGroups/{quote(resource_group)}/providers/Microsoft.Sql/servers"
    if not server_name:
        listed = arm.get(group) or {}
        values = listed.get("value")
        servers = [s for s in values if isinstance(s, dict)] if isinstance(values, list) else []
        matches = [s for s in servers if wire_text(_props(s).get("fullyQualifiedDomainName")).lower() == host.lower()]
        if len(matches) != 1:
            raise NotFound(
                f"no server in resource group '{resource_group}' has the name {host}",
                "pass --server with the server's full name (myserver.database.windows.net)",
            )
        server_name = wire_text(matches[0].get("name"))
    base = f"{group}/{quote(server_name)}"
    check_db = bool(database) and database.lower() != "master"
    server, rules, db = _in_parallel(
        lambda: arm.get(base),
        lambda: arm.get(f"{base}/firewallRules"),
        lambda: arm.get(f"{base}/databases/{quote(database)}") if check_db else None,
    )
    if server is None:
        raise NotFound(
            f"ARM: (ResourceNotFound) server '{server_name}' not found in resource group '{resource_group}'",
            "check --subscription, --resource-group and --server",
        )
    props = _props(server)
    admin = props.get("administrators")
    admin = admin if isinstance(admin, dict) else {}
    identity = server.get("identity")
    rule_values = (rules or {}).get("value")
    firewall = [
        FirewallRuleFacts(wire_text(r.get("name")), wire_text(_props(r).get("startIpAddress")), wire_text(_props(r).get("endIpAddress")))
        for r in (rule_values if isinstance(rule_values, list) else [])
        if isinstance(r, dict)
    ]
    entra_only = admin.get("azureADOnlyAuthentication")
    return ServerFacts(
        name=wire_text(server.get("name")),
        fqdn=wire_text(props.get("fullyQualifiedDomainName")),
        public_network_access=wire_text(props.get("publicNetworkAccess")),
        minimal_tls_version=wire_text(props.get("minimalTlsVersion")),
        admin_login=wire_text(admin.get("login")),
        admin_sid=wire_text(admin.get("sid")),
        admin_type=wire_text(admin.get("principalType")),
        admin_tenant=wire_text(admin.get("tenantId")),
        entra_only=entra_only if isinstance(entra_only, bool) else None,
        identity_type=wire_text(identity.get("type")) if isinstance(identity, dict) else "",
        firewall_rules=firewall,
        database_exists=(db is not None) if check_db else None,
    )

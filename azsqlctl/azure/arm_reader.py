"""doctor's ARM read: the server, its firewall rules and the database, through azure-core's pipeline.

azure-mgmt-sql costs ~190 ms to import (one 3 MB operations module) for three GETs; doctor reads them
as raw GETs over ``arm_pipeline`` (azure-core's PipelineClient, already loaded by azure-identity), with the
same credential (token cache) and the cloud's CA, all three at once over one shared SSLContext. Writes
(grant's Entra admin) stay with the SDK in ``azure.arm``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote

from azsqlctl.core.clouds import Cloud
from azsqlctl.core.errors import NotFound
from azsqlctl.core.ports import FirewallRuleFacts, ServerFacts, TokenSource

from .arm_errors import wire_text
from .arm_pipeline import ArmPipeline, Json, TokenSourceCredential

API_VERSION = "2023-08-01"
T = TypeVar("T")


class ArmRest:
    """GETs under one subscription (Microsoft.Sql's api-version)."""

    def __init__(self, tokens: TokenSource, cloud: Cloud, subscription: str, timeout: float) -> None:
        self.base = f"/subscriptions/{quote(subscription)}"
        self._pipeline = ArmPipeline(TokenSourceCredential(tokens), cloud, timeout)

    def get(self, path: str) -> Json | None:
        """The JSON body, or None for 404."""
        return self._pipeline.get(f"{self.base}{path}", API_VERSION)


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

"""The sandbox's surfaces, composed through one small interface.

A surface is one endpoint a client talks to (the managed-identity token endpoint,
TDS, ARM, DNS; next Log Analytics). Each declares its name, the fault kinds it
accepts, and how to start, stop and describe itself in the client environment.
``Sandbox`` builds every class in :data:`SURFACES` in order, starts them in order,
stops them all in parallel, and merges their environments. Adding a surface is one
class and one entry in :data:`SURFACES`.

A surface's domain object (``service``) exists from construction, so tests can
inspect or tweak it before ``start()``; its listener exists only while started.
"""

from __future__ import annotations

import errno
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from azsqlctl.core.errors import UsageError

from .arm.endpoint import ArmService, start_arm_endpoint
from .arm.resourcegraph import Inventory
from .certs import CertPaths, server_context
from .dns.endpoint import DnsEndpoint, DnsService, start_dns_endpoint
from .entra.authority import FAULT_KINDS as ENTRA_FAULT_KINDS
from .entra.authority import AuthorityService, start_authority_endpoint
from .entra.federation import Federation
from .entra.identity_endpoint import IdentityService, start_identity_endpoint
from .entra.tokens import Issuer
from .faults import Faults
from .http import HttpEndpoint
from .monitor.loganalytics import LOGS_RESOURCE, LogAnalyticsService, start_logs_endpoint
from .sql.endpoint import SqlEndpoint
from .sql.tds.server import TdsServer
from .sql.tds.session import Tls
from .store import StateStore

SQL_RESOURCE = "https://database.windows.net/"
ARM_RESOURCE = "https://management.azure.com/"
SQL_AUDIENCES = (SQL_RESOURCE, "https://database.windows.net")
HOST = "localhost"  # the name in the certificate; the listeners bind 127.0.0.1


@dataclass
class Parts:
    """What every surface is built from (shared by all of them)."""

    store: StateStore
    faults: Faults
    issuer: Issuer
    certs: CertPaths
    ports: dict[str, int]  # surface name -> requested port (0 = any free port)
    token_lifetime: int | None = None
    material: Path | None = None  # the sandbox's key directory (federation issuers' keys live there)
    started: dict[str, Surface] = field(default_factory=dict)  # surfaces started so far, by name
    # The other logical servers (a fleet): Resource Graph and ARM list them, TDS attributes their logins, Log Analytics
    # scopes their audit rows by their diagnostic settings. In memory, as the tests and benchmarks that build fleets want.
    fleet: Inventory = field(default_factory=Inventory)


class Surface(ABC):
    name: ClassVar[str]  # also the fault surface name: sandbox.faults.inject(name, kind)
    fault_kinds: ClassVar[frozenset[str]] = frozenset()
    port_option: ClassVar[str] = ""  # the CLI option that sets this surface's port, for error hints

    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    @abstractmethod
    def _listen(self, port: int) -> None:
        """Bind and start serving on ``port`` (0 = any free port)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving and release the port; fast (no polling) and safe to call twice."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """The variables this surface contributes to a client's environment (while started)."""

    def start(self) -> None:
        port = self.parts.ports.get(self.name, 0)
        try:
            self._listen(port)
        except OSError as exc:
            raise bind_error(self, port, exc) from None
        self.parts.started[self.name] = self


def bind_error(surface: Surface, port: int, exc: OSError) -> UsageError:
    """A port that cannot be bound is bad input (exit 2), not a crash."""
    option = f" ({surface.port_option})" if surface.port_option else ""
    if exc.errno == errno.EADDRINUSE:
        message = f"port {port} for the sandbox's {surface.name} endpoint{option} is already in use"
    else:
        message = f"cannot listen on port {port} for the sandbox's {surface.name} endpoint{option}: {exc.strerror or exc}"
    hint = f"pick another port with {surface.port_option}, or 0 for a free one" if surface.port_option else "stop what holds the port"
    return UsageError(message, hint, code="port_unavailable")


class TokenSurface(Surface):
    """App Service managed-identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER)."""

    name = "token"
    fault_kinds = frozenset({"error500", "throttle429", "delay", "opaque", "expired"})
    port_option = "--identity-port"

    def __init__(self, parts: Parts) -> None:
        super().__init__(parts)
        self.service = IdentityService(parts.store, parts.issuer, parts.faults, parts.token_lifetime)
        self.http: HttpEndpoint | None = None

    def _listen(self, port: int) -> None:
        self.http = start_identity_endpoint(self.service, port)

    def stop(self) -> None:
        if self.http is not None:
            self.http.stop()

    def env(self) -> dict[str, str]:
        assert self.http is not None, "token endpoint not started"
        return {"IDENTITY_ENDPOINT": f"{self.http.url}/msi/token", "IDENTITY_HEADER": self.service.header_secret}


class EntraSurface(Surface):
    """The Entra authority for apps (secrets, certificates, federated credentials), over HTTPS."""

    name = "entra"
    fault_kinds = ENTRA_FAULT_KINDS
    port_option = "--entra-port"

    def __init__(self, parts: Parts) -> None:
        super().__init__(parts)
        self.federation = Federation.load_or_create(parts.material)
        self.service = AuthorityService(parts.store, parts.issuer, parts.faults, self.federation, parts.token_lifetime)
        self.http: HttpEndpoint | None = None

    def _listen(self, port: int) -> None:
        self.http = start_authority_endpoint(self.service, server_context(self.parts.certs, tds=False), port)
        # The certificate names localhost (and 127.0.0.1); MSAL keeps the port in the authority.
        self.service.base_url = f"https://{HOST}:{self.http.port}"

    def stop(self) -> None:
        if self.http is not None:
            self.http.stop()

    def env(self) -> dict[str, str]:
        assert self.http is not None, "Entra authority not started"
        # Only azsqlctl's own setting: AZURE_AUTHORITY_HOST is what a job or pod sets (sandbox run --as).
        return {"AZSQLCTL_AUTHORITY_HOST": self.service.base_url}


class TdsSurface(Surface):
    """The logical server's TDS listener (what ODBC and every other driver connects to)."""

    name = "tds"
    fault_kinds = frozenset({"drop_handshake", "stall", "unavailable", "delay", "drop_request", "login_error", "accept_delay"})
    port_option = "--tds-port"

    def __init__(self, parts: Parts) -> None:
        super().__init__(parts)
        self.service = SqlEndpoint(parts.store, parts.issuer, parts.faults, SQL_AUDIENCES, parts.fleet)
        self.server: TdsServer | None = None

    def _listen(self, port: int) -> None:
        certs = self.parts.certs
        tls = Tls(server_context(certs, tds=True), server_context(certs, tds=True, alpn="tds/8.0"))
        token = self.parts.started.get(TokenSurface.name)
        entra = self.parts.started.get(EntraSurface.name)
        tenant = self.parts.store.read(lambda s: s.tenant_id)
        if isinstance(entra, EntraSurface) and entra.http is not None:
            # FEDAUTHINFO (server-driven token workflow): the STS clients are sent to - the sandbox's
            # authority, as Azure sends https://login.windows.net/<tenant>.
            self.service.fedauth_sts_url = f"{entra.service.base_url}/{tenant}"
        elif isinstance(token, TokenSurface) and token.http is not None:
            self.service.fedauth_sts_url = f"{token.http.url}/{tenant}"
        self.server = TdsServer(self.service, tls, port=port, fault=self.service.session_fault).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def env(self) -> dict[str, str]:
        assert self.server is not None, "TDS listener not started"
        database = self.parts.store.read(lambda s: s.server.databases[0].name if s.server.databases else "master")
        return {"AZSQLCTL_SERVER": f"{HOST},{int(self.server.port)}", "AZSQLCTL_DATABASE": database}


class ArmSurface(Surface):
    """Azure Resource Manager for Microsoft.Sql, over HTTPS."""

    name = "arm"
    fault_kinds = frozenset({"delay", "error500", "graph_throttle"})  # graph_throttle: Resource Graph answers 429 RateLimiting
    port_option = "--arm-port"

    def __init__(self, parts: Parts) -> None:
        super().__init__(parts)
        self.service = ArmService(parts.store, parts.issuer, parts.faults, HOST, parts.fleet)
        self.http: HttpEndpoint | None = None

    def _listen(self, port: int) -> None:
        self.http = start_arm_endpoint(self.service, server_context(self.parts.certs, tds=False), port)

    def stop(self) -> None:
        if self.http is not None:
            self.http.stop()

    def env(self) -> dict[str, str]:
        assert self.http is not None, "ARM endpoint not started"
        sub, rg = self.parts.store.read(lambda s: (s.server.subscription_id, s.server.resource_group))
        return {
            "AZSQLCTL_SUBSCRIPTION": sub,
            "AZSQLCTL_RESOURCE_GROUP": rg,
            "AZSQLCTL_ARM_ENDPOINT": self.http.url,
            "AZSQLCTL_ARM_RESOURCE": ARM_RESOURCE,
        }


class DnsSurface(Surface):
    """A DNS server for the sandbox's names (private-link shapes included)."""

    name = "dns"
    fault_kinds = frozenset({"delay", "nxdomain", "servfail"})

    def __init__(self, parts: Parts) -> None:
        super().__init__(parts)
        self.service = DnsService(parts.store, parts.faults, HOST)
        self.udp: DnsEndpoint | None = None

    def _listen(self, port: int) -> None:
        self.udp = start_dns_endpoint(self.service, port)

    def stop(self) -> None:
        if self.udp is not None:
            self.udp.stop()

    def env(self) -> dict[str, str]:
        assert self.udp is not None, "DNS endpoint not started"
        return {"AZSQLCTL_DNS_SERVER": f"{self.udp.host}:{self.udp.port}", "AZSQLCTL_SQL_DNS_SUFFIX": HOST}


class LogsSurface(Surface):
    """``POST /v1/workspaces/{id}/query`` and ``/v1{resourceId}/query`` over HTTPS (sandbox CA)."""

    name = "logs"
    fault_kinds = frozenset({"delay", "error500", "throttle429", "duplicate", "partial"})
    port_option = "--logs-port"

    def __init__(self, parts: Parts) -> None:
        super().__init__(parts)
        self.service = LogAnalyticsService(parts.store, parts.store.audit, parts.issuer, parts.faults, parts.fleet)
        self.http: HttpEndpoint | None = None

    def _listen(self, port: int) -> None:
        self.http = start_logs_endpoint(self.service, server_context(self.parts.certs, tds=False), port)

    def stop(self) -> None:
        if self.http is not None:
            self.http.stop()

    def env(self) -> dict[str, str]:
        assert self.http is not None, "Log Analytics endpoint not started"
        workspace = self.parts.store.read(lambda s: s.monitor.workspaces[0].customer_id if s.monitor.workspaces else "")
        return {
            "AZSQLCTL_LOGS_ENDPOINT": self.http.url,
            "AZSQLCTL_LOGS_RESOURCE": LOGS_RESOURCE,
            # The sandbox workspace's customer id (what `azsqlctl logs --workspace` takes).
            "AZSQLCTL_LOGS_WORKSPACE": workspace,
        }


# Start order: the token endpoint and the authority first (TDS needs the authority's URL for FEDAUTHINFO).
SURFACES: tuple[type[Surface], ...] = (TokenSurface, EntraSurface, TdsSurface, ArmSurface, DnsSurface, LogsSurface)


def fault_kinds(surfaces: tuple[type[Surface], ...] = SURFACES) -> dict[str, frozenset[str]]:
    return {cls.name: cls.fault_kinds for cls in surfaces}


def stop_all(surfaces: list[Surface]) -> None:
    """Stop every surface at once: shutdown costs the slowest surface, not the sum."""
    threads = [threading.Thread(target=s.stop, name=f"stop-{s.name}", daemon=True) for s in surfaces]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

"""DoctorProbes over the real driver, azure-identity, azure-mgmt-sql and sockets."""

from __future__ import annotations

import threading
from typing import Any

from azsqlctl.core.errors import AzsqlctlError
from azsqlctl.core.ports import AccessToken, CertificateFacts, DnsFacts, DriverInfo, PreloginFacts, QuerySession, ServerFacts
from azsqlctl.core.settings import ConnectionSettings

from . import network
from .credentials import CredentialTokens
from .driver import driver_info
from .sql import DriverConnector

PRINCIPALS_WITH_SID = "SELECT name, type, sid FROM sys.database_principals"


class RealProbes:
    def __init__(self, settings: ConnectionSettings, *, extra: str = "", admin_auth: str = "", admin_client_id: str = "") -> None:
        self.settings = settings
        self.extra = extra
        self.admin_auth = admin_auth
        self.admin_client_id = admin_client_id
        self._connector: DriverConnector | None = None
        self._lock = threading.Lock()
        self._tokens = CredentialTokens(settings.auth, settings.client_id, settings.cloud, settings.tenant_id, settings.timeout)

    def _connector_once(self) -> DriverConnector:
        with self._lock:
            if self._connector is None:
                # precheck off: an application's UID/PWD must reach the driver, which says FA005 itself.
                self._connector = DriverConnector(self.settings, extra=self.extra, precheck=False)
            return self._connector

    def driver(self) -> DriverInfo:
        return driver_info(self._connector_once().driver)

    def token(self, scope: str) -> AccessToken:
        return self._tokens.token(scope)

    def resolve(self, host: str) -> DnsFacts:
        return network.resolve(host, self.settings.timeout, self.settings.cloud.dns_server)

    def tcp(self, address: str, port: int) -> float:
        sock, ms = network.tcp_connect(address, port, self.settings.timeout)
        sock.close()
        return ms

    def tls(self, address: str, port: int, host: str) -> tuple[PreloginFacts, CertificateFacts, float]:
        return network.prelogin_and_tls(
            address, port, host, self.settings.timeout, strict=self.settings.strict, ca_file=self.settings.cloud.ca_bundle
        )

    def connect(self, database: str, token: AccessToken) -> QuerySession:
        return self._connector_once().connect(database, token)

    def server_facts(self, resource_group: str, server_name: str, host: str, database: str) -> ServerFacts:
        from .arm import ArmServerReader, sql_management_client

        client = sql_management_client(self._tokens.credential, self.settings.cloud, self.settings.subscription)
        return ArmServerReader(client).read(resource_group, server_name, host, database)

    def inspect_principals(self, database: str) -> list[dict[str, Any]] | None:
        """Read the database's principals as the inspecting identity (e.g. the Entra admin)."""
        if not self.admin_auth:
            return None
        s = self.settings
        admin = CredentialTokens(self.admin_auth, self.admin_client_id, s.cloud, s.tenant_id, s.timeout)
        try:
            session = DriverConnector(s).connect(database, admin.token(s.cloud.sql_scope))
        except AzsqlctlError:
            return None  # the inspection is a bonus; its failure must not mask the real one
        try:
            return session.query(PRINCIPALS_WITH_SID)
        finally:
            session.close()

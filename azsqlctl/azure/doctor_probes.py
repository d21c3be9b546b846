"""DoctorProbes over the real driver, azure-identity, azure-mgmt-sql and sockets."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from azsqlctl.core.diagnosis import lookup
from azsqlctl.core.errors import AzsqlctlError, ConnectionFailed, ProbeFailed
from azsqlctl.core.ports import (
    AccessToken,
    CertificateFacts,
    Connector,
    DnsFacts,
    DriverInfo,
    PreloginFacts,
    QuerySession,
    Row,
    ServerFacts,
    TokenSource,
)
from azsqlctl.core.settings import ConnectionSettings
from azsqlctl.core.target import ServerAddress

from . import network
from .driver import driver_info
from .sql import DriverConnector

if TYPE_CHECKING:
    from azsqlctl.core.logs.recent import AuditLookup

PRINCIPALS_WITH_SID = "SELECT name, type, sid FROM sys.database_principals"
QUICK_PROBE_SECONDS = 2.0  # DNS and TCP answer within milliseconds when they answer at all
T = TypeVar("T")


class RealProbes:
    """Built by the composition root (``wiring.doctor_probes``): the credentials and the audit log come from there."""

    def __init__(
        self,
        settings: ConnectionSettings,
        tokens: TokenSource,
        *,
        extra: str = "",
        admin_tokens: TokenSource | None = None,
        audit: Callable[[], AuditLookup | None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.extra = extra
        self._admin_tokens = admin_tokens
        self._audit = audit
        self._connector: DriverConnector | None = None
        self._lock = threading.Lock()
        self._tokens = tokens

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
        from .arm_reader import ArmRest, read_server

        arm = ArmRest(self._tokens, self.settings.cloud, self.settings.subscription, self.settings.timeout)
        return read_server(arm, resource_group, server_name, host, database)

    def inspect_principals(self, database: str) -> list[Row] | None:
        """Read the database's principals as the inspecting identity (e.g. the Entra admin)."""
        if self._admin_tokens is None:
            return None
        s = self.settings
        try:
            session = DriverConnector(s).connect(database, self._admin_tokens.token(s.cloud.sql_scope))
        except AzsqlctlError:
            return None  # the inspection is a bonus; its failure must not mask the real one
        try:
            return session.query(PRINCIPALS_WITH_SID)
        finally:
            session.close()

    def audit_lookup(self) -> AuditLookup | None:
        return self._audit()


def quick_probe(settings: ConnectionSettings, server: ServerAddress | None = None) -> ConnectionFailed | None:
    """doctor's DNS and TCP steps, short: the diagnosis a failed connect deserves (None when both pass).

    ``server`` defaults to the settings' server (grant also connects to the servers a policy names).
    """
    server = server or settings.require_server()
    timeout = min(float(settings.timeout), QUICK_PROBE_SECONDS)
    try:
        facts = network.resolve(server.host, timeout, settings.cloud.dns_server)
        sock, _ = network.tcp_connect(facts.addresses[0], server.port, timeout)
        sock.close()
    except ProbeFailed as exc:
        diag = lookup(exc.step.upper(), None)
        hint = f"{diag.cause}: {diag.fix}" if diag else "run azsqlctl doctor for every check"
        return ConnectionFailed(
            exc.message,
            hint,
            code=exc.step.upper(),
            details={"step": exc.step, **({"timed_out": True} if exc.details.get("timed_out") else {})},
        )
    return None


def diagnosed(
    settings: ConnectionSettings,
    connect: Callable[[], T],
    close: Callable[[T], None] | None = None,
    server: ServerAddress | None = None,
) -> T:
    """Run ``connect`` (the driver's login) while doctor's quick probe runs; a failed probe wins at once.

    The driver reports a refused port or an unknown name as HYT00 only after the whole login
    timeout; the probe knows within milliseconds. The abandoned attempt finishes in a daemon
    thread and its session, if it ever opens, is closed. A probe that only timed out proves
    nothing (64 connections at once made a loaded DNS server drop questions while every login
    succeeded): the driver's own attempt decides, and the probe's words explain its failure.
    """
    done = threading.Event()
    outcome: dict[str, T | BaseException] = {}
    abandoned = threading.Event()

    def attempt() -> None:
        try:
            outcome["value"] = connect()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
            outcome["error"] = exc
        finally:
            done.set()
            if abandoned.is_set() and "value" in outcome and close is not None:
                close(cast(T, outcome["value"]))

    threading.Thread(target=attempt, name="azsqlctl connect", daemon=True).start()
    problem = quick_probe(settings, server)
    if problem is not None and not problem.details.get("timed_out") and not done.is_set():
        abandoned.set()
        if done.is_set() and "value" in outcome and close is not None:  # finished in between: close it here
            close(cast(T, outcome["value"]))
        raise problem
    done.wait()
    error = outcome.get("error")
    if isinstance(error, BaseException):
        if problem is not None and isinstance(error, ConnectionFailed):
            raise problem from None
        raise error
    return cast(T, outcome["value"])


class DiagnosingConnector:
    """A Connector whose connection failures say what doctor would (refused port, NXDOMAIN), at once."""

    def __init__(self, inner: Connector, settings: ConnectionSettings) -> None:
        self.inner = inner
        self.settings = settings

    def connect(self, database: str, token: AccessToken) -> QuerySession:
        session: QuerySession = diagnosed(self.settings, lambda: self.inner.connect(database, token), lambda opened: opened.close())
        return session
